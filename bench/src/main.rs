//! Benchmarks mailport against its peers on the same mailbox, the same two
//! private Dovecot servers, in the same run.
//!
//! For each preset: start a source Dovecot, load a generated corpus, then for
//! each tool start a fresh destination Dovecot, run the tool under
//! `/usr/bin/time -v` (wall, CPU, peak RSS), and check fidelity by comparing
//! both accounts (SHA-256 of every message, flags, INTERNALDATE, folders,
//! subscriptions). Prints a Markdown table and, with `--out FILE`, appends it.
//!
//! Usage: mailport-bench [--preset NAME]... [--tools mailport,mbsync,offlineimap,mailport@PATH]
//!                       [--fsync-never] [--mailport PATH] [--out FILE]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use mailport_testbed::corpus::BulkOptions;
use mailport_testbed::session::{self, Snapshot};
use mailport_testbed::{peers, Corpus, Dovecot, DovecotOptions};

struct Preset {
    name: &'static str,
    corpus: BulkOptions,
}

fn presets() -> Vec<Preset> {
    vec![
        Preset {
            name: "small",
            corpus: BulkOptions {
                messages: 1000,
                folders: 12,
                min_size: 1_000,
                max_size: 120_000,
                seed: 1,
            },
        },
        Preset {
            name: "medium",
            corpus: BulkOptions {
                messages: 10_000,
                folders: 30,
                min_size: 1_000,
                max_size: 110_000,
                seed: 2,
            },
        },
        Preset {
            name: "large-messages",
            corpus: BulkOptions {
                messages: 200,
                folders: 4,
                min_size: 5 << 20,
                max_size: 30 << 20,
                seed: 3,
            },
        },
    ]
}

#[derive(Debug, Default, Clone)]
struct Measure {
    wall: f64,
    cpu: f64,
    peak_rss_kb: u64,
    exit: i32,
}

struct Row {
    preset: String,
    tool: String,
    messages: usize,
    bytes: u64,
    m: Measure,
    fidelity: String,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut wanted: Vec<String> = Vec::new();
    let mut tools = vec![
        "mailport".to_string(),
        "mbsync".to_string(),
        "offlineimap".to_string(),
    ];
    let mut fsync_never = false;
    let mut mailport = std::env::current_exe()
        .expect("own path")
        .with_file_name("mailport");
    let mut out: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--preset" => wanted.push(args.next().expect("--preset NAME")),
            "--tools" => {
                tools = args
                    .next()
                    .expect("--tools LIST")
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            "--fsync-never" => fsync_never = true,
            "--mailport" => mailport = PathBuf::from(args.next().expect("--mailport PATH")),
            "--out" => out = Some(PathBuf::from(args.next().expect("--out FILE"))),
            other => {
                eprintln!("unknown argument {other:?}; see the header of bench/src/main.rs");
                std::process::exit(2);
            }
        }
    }
    if wanted.is_empty() {
        wanted.push("small".into());
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let mut rows = Vec::new();
    for p in presets()
        .into_iter()
        .filter(|p| wanted.iter().any(|w| w == p.name))
    {
        rows.extend(rt.block_on(run_preset(&p, &tools, fsync_never, &mailport)));
    }
    let table = render(&rows, fsync_never);
    println!("{table}");
    if let Some(path) = out {
        let mut doc = std::fs::read_to_string(&path).unwrap_or_default();
        doc.push_str(&table);
        std::fs::write(&path, doc).expect("write --out file");
    }
}

async fn run_preset(p: &Preset, tools: &[String], fsync_never: bool, mailport: &Path) -> Vec<Row> {
    let corpus = Corpus::bulk(&p.corpus);
    let (messages, bytes) = (corpus.message_count(), corpus.total_bytes());
    eprintln!(
        "[{}] {} messages, {:.1} MB",
        p.name,
        messages,
        bytes as f64 / 1e6
    );
    let opts = |fsync_never| DovecotOptions {
        fsync_never,
        special_use: Vec::new(),
        ..Default::default()
    };
    let src = Dovecot::start(opts(false)).expect("source Dovecot");
    let t = Instant::now();
    let mut c = session::login(src.imap_port, "alice", src.password("alice"))
        .await
        .expect("login");
    session::load(&mut c, &corpus).await.expect("load corpus");
    eprintln!("[{}] loaded in {:.1} s", p.name, t.elapsed().as_secs_f64());
    drop(corpus);
    let before = session::snapshot(&mut c).await.expect("snapshot source");

    let mut rows = Vec::new();
    for tool in tools {
        let dst = Dovecot::start(opts(fsync_never)).expect("destination Dovecot");
        let work = tempfile::tempdir().expect("tempdir");
        let cmd = match tool.as_str() {
            "mailport" => mailport_cmd(mailport, &src, &dst),
            // `mailport@PATH`: another build, for A/B comparisons in one run.
            t if t.starts_with("mailport@") => {
                mailport_cmd(Path::new(&t["mailport@".len()..]), &src, &dst)
            }
            "mbsync" => peers::mbsync(&src, &dst, work.path()),
            "offlineimap" => peers::offlineimap(&src, &dst, work.path()),
            other => {
                eprintln!("unknown tool {other}");
                continue;
            }
        };
        eprintln!("[{}] {tool} ...", p.name);
        let m = timed(cmd, work.path());
        let mut d = session::login(dst.imap_port, "alice", dst.password("alice"))
            .await
            .expect("login");
        let after = session::snapshot(&mut d)
            .await
            .expect("snapshot destination");
        let fidelity = fidelity(&before, &after);
        eprintln!(
            "[{}] {tool}: {:.1} s, exit {}, {fidelity}",
            p.name, m.wall, m.exit
        );
        rows.push(Row {
            preset: p.name.into(),
            tool: tool.clone(),
            messages,
            bytes,
            m,
            fidelity,
        });
    }
    rows
}

fn mailport_cmd(bin: &Path, src: &Dovecot, dst: &Dovecot) -> Command {
    src.copy_command(bin, dst)
}

/// Runs `cmd` under `/usr/bin/time -v` and reads wall, CPU and peak RSS.
fn timed(cmd: Command, dir: &Path) -> Measure {
    let report = dir.join("time.txt");
    let mut t = Command::new("/usr/bin/time");
    t.arg("-v")
        .arg("-o")
        .arg(&report)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => t.env(k, v),
            None => t.env_remove(k),
        };
    }
    t.stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("tool.log")).expect("log file"));
    let status = t
        .status()
        .expect("run /usr/bin/time (apt-get install time)");
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let secs = |v: Option<String>| v.and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):")
        .map(|v| {
            v.split(':').fold(0.0, |acc, part| {
                acc * 60.0 + part.parse::<f64>().unwrap_or(0.0)
            })
        })
        .unwrap_or(0.0);
    if !status.success() {
        let log = std::fs::read_to_string(dir.join("tool.log")).unwrap_or_default();
        eprintln!(
            "   tool exited {status}; last lines:\n{}",
            log.lines().rev().take(8).collect::<Vec<_>>().join("\n")
        );
    }
    Measure {
        wall,
        cpu: secs(field("User time (seconds):")) + secs(field("System time (seconds):")),
        peak_rss_kb: field("Maximum resident set size (kbytes):")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        exit: status.code().unwrap_or(-1),
    }
}

/// "100%" or what was lost: messages missing or different, flags, dates, folders, subscriptions.
fn fidelity(src: &Snapshot, dst: &Snapshot) -> String {
    let (mut total, mut exact, mut bytes_ok, mut flags_ok, mut dates_ok) = (0, 0, 0, 0, 0);
    let (mut missing_folders, mut altered) = (0, 0);
    for (name, msgs) in &src.folders {
        let Some(got) = dst.folders.get(name) else {
            missing_folders += 1;
            total += msgs.len();
            continue;
        };
        let mut pool: Vec<_> = got.iter().collect();
        let mut unmatched = 0;
        for m in msgs {
            total += 1;
            if let Some(i) = pool.iter().position(|g| *g == m) {
                exact += 1;
                bytes_ok += 1;
                flags_ok += 1;
                dates_ok += 1;
                pool.swap_remove(i);
            } else if let Some(i) = pool.iter().position(|g| g.sha256 == m.sha256) {
                bytes_ok += 1;
                flags_ok += usize::from(pool[i].flags == m.flags);
                dates_ok += usize::from(pool[i].internal_date == m.internal_date);
                pool.swap_remove(i);
            } else {
                unmatched += 1;
            }
        }
        // A message whose bytes changed (a tool added a header) is there, but not intact.
        altered += unmatched.min(pool.len());
    }
    let subs_missing = src
        .subscribed
        .iter()
        .filter(|s| !dst.subscribed.contains(s))
        .count();
    if exact == total && missing_folders == 0 && subs_missing == 0 {
        return "100%".into();
    }
    let mut s = format!("{exact}/{total} exact");
    if altered > 0 {
        let _ = write!(s, ", {altered} with altered bytes");
    }
    if bytes_ok + altered != total {
        let _ = write!(s, ", {} missing", total - bytes_ok - altered);
    }
    if flags_ok != bytes_ok {
        let _ = write!(s, ", {} flags differ", bytes_ok - flags_ok);
    }
    if dates_ok != bytes_ok {
        let _ = write!(s, ", {} dates differ", bytes_ok - dates_ok);
    }
    if missing_folders > 0 {
        let _ = write!(s, ", {missing_folders} folders missing");
    }
    if subs_missing > 0 {
        let _ = write!(s, ", {subs_missing} subscriptions missing");
    }
    s
}

fn version(cmd: &str, arg: &str) -> String {
    Command::new(cmd)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            let t = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&t)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| "not installed".into())
}

fn render(rows: &[Row], fsync_never: bool) -> String {
    let mut s = String::new();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let _ = writeln!(
        s,
        "\n### Run of {} ({} cores; destination mail_fsync = {})\n",
        Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d %H:%M UTC")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        cpus,
        if fsync_never {
            "never"
        } else {
            "optimized (default)"
        }
    );
    let _ = writeln!(
        s,
        "Versions: Dovecot {}; {}; OfflineIMAP {}.\n",
        version("dovecot", "--version"),
        version("mbsync", "--version"),
        version("offlineimap", "--version")
    );
    let _ = writeln!(s, "| preset | tool | messages | MB | wall s | msgs/s | MB/s | CPU s | peak RSS MB | exit | fidelity | wall vs mailport |");
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
    );
    for r in rows {
        let mp = rows
            .iter()
            .find(|x| x.preset == r.preset && x.tool == "mailport")
            .map(|x| x.m.wall)
            .unwrap_or(0.0);
        let ratio = if mp > 0.0 {
            format!("{:.2}x", r.m.wall / mp)
        } else {
            "-".into()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} | {} |",
            r.preset,
            r.tool,
            r.messages,
            r.bytes as f64 / 1e6,
            r.m.wall,
            r.messages as f64 / r.m.wall.max(0.001),
            r.bytes as f64 / 1e6 / r.m.wall.max(0.001),
            r.m.cpu,
            r.m.peak_rss_kb as f64 / 1024.0,
            r.m.exit,
            r.fidelity,
            ratio
        );
    }
    s
}
