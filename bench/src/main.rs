//! Benchmarks mailport against its peers on the same mailbox, the same two
//! private Dovecot servers, in the same run.
//!
//! For each preset: start a source Dovecot, load a generated corpus, then for
//! each tool start a fresh destination Dovecot, run the tool under
//! `/usr/bin/time -v` (wall, CPU, peak RSS), and check fidelity by comparing
//! both accounts (SHA-256 of every message, flags, INTERNALDATE, folders,
//! subscriptions). Prints a Markdown table and, with `--out FILE`, appends it.
//!
//! imapsync joins when `IMAPSYNC` names an imapsync script (not packaged in Debian).
//!
//! Usage: mailport-bench [--preset NAME]... [--tools mailport,mbsync,offlineimap,imapsync,mailport@PATH]
//!                       [--fsync-never | --both-fsync] [--transport tls|plain|both]
//!                       [--mailport PATH] [--out FILE]
//!                       [--no-limits]   (skip the server limits: quicker A/B runs)

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod delta;
mod limits;

use mailport_testbed::corpus::BulkOptions;
use mailport_testbed::peers::{self, Transport};
use mailport_testbed::server::mailport_command_over;
use mailport_testbed::session::{self, Snapshot};
use mailport_testbed::{Corpus, Dovecot, DovecotOptions};

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
    /// CPU seconds both Dovecot servers spent while the tool ran.
    servers_cpu: f64,
}

struct Row {
    preset: String,
    tool: String,
    /// `full` copy, `delta` (1% new, 5% flags changed), `idle` (nothing new), or a server `limit`.
    pass: &'static str,
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
    if std::env::var_os("IMAPSYNC").is_some() {
        tools.push("imapsync".into());
    }
    let mut fsync_modes = vec![false];
    let mut mailport = std::env::current_exe()
        .expect("own path")
        .with_file_name("mailport");
    let mut out: Option<PathBuf> = None;
    let mut limits = true;
    let mut transports = vec![Transport::Tls];
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
            "--fsync-never" => fsync_modes = vec![true],
            // Each preset with the destination's default fsync, then with none.
            "--both-fsync" => fsync_modes = vec![false, true],
            "--mailport" => mailport = PathBuf::from(args.next().expect("--mailport PATH")),
            "--out" => out = Some(PathBuf::from(args.next().expect("--out FILE"))),
            "--no-limits" => limits = false,
            // TLS on both sides (what users run; the servers' TLS work shares
            // these cores), plain IMAP on loopback (the tools' own overhead), or both.
            "--transport" => {
                transports = match args.next().as_deref() {
                    Some("tls") => vec![Transport::Tls],
                    Some("plain") => vec![Transport::Plain],
                    Some("both") => vec![Transport::Tls, Transport::Plain],
                    _ => {
                        eprintln!("--transport takes tls, plain or both");
                        std::process::exit(2);
                    }
                }
            }
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
    let mut table = String::new();
    for (i, &transport) in transports.iter().enumerate() {
        // The limits cover both transports: measured with the first only.
        let limits = limits && i == 0;
        for &fsync_never in &fsync_modes {
            let mut rows = Vec::new();
            for p in presets()
                .into_iter()
                .filter(|p| wanted.iter().any(|w| w == p.name))
            {
                let setup = Setup {
                    fsync_never,
                    transport,
                    limits,
                };
                rows.extend(rt.block_on(run_preset(&p, &tools, &setup, &mailport)));
            }
            table.push_str(&render(&rows, fsync_never, transport));
        }
    }
    println!("{table}");
    if let Some(path) = out {
        let mut doc = std::fs::read_to_string(&path).unwrap_or_default();
        doc.push_str(&table);
        std::fs::write(&path, doc).expect("write --out file");
    }
}

/// How one table is measured.
struct Setup {
    /// The destination runs with `mail_fsync = never`.
    fsync_never: bool,
    transport: Transport,
    /// Also measure the servers' raw limits.
    limits: bool,
}

async fn run_preset(p: &Preset, tools: &[String], setup: &Setup, mailport: &Path) -> Vec<Row> {
    let Setup {
        fsync_never,
        transport,
        limits,
    } = *setup;
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
    let before = session::snapshot(&mut c).await.expect("snapshot source");
    let row = |tool: &str, pass: &'static str, m: Measure, fidelity: String| Row {
        preset: p.name.into(),
        tool: tool.into(),
        pass,
        messages,
        bytes,
        m,
        fidelity,
    };

    let measured = if limits {
        limits::measure(&src, &corpus, fsync_never).await
    } else {
        Vec::new()
    };
    let mut rows = measured
        .into_iter()
        .map(|(name, wall)| {
            row(
                &name,
                "limit",
                Measure {
                    wall,
                    ..Default::default()
                },
                "-".into(),
            )
        })
        .collect::<Vec<_>>();
    // New messages for the delta pass: 1% of the preset, at least one.
    let fresh = Corpus::bulk(&BulkOptions {
        messages: (messages / 100).max(1),
        folders: 1,
        seed: p.corpus.seed + 1000,
        ..p.corpus.clone()
    });
    drop(corpus);

    for tool in tools {
        let dst = Dovecot::start(opts(fsync_never)).expect("destination Dovecot");
        let work = tempfile::tempdir().expect("tempdir");
        let command = || match tool.as_str() {
            "mailport" => Some(mailport_command_over(
                mailport, "copy", &src, &dst, transport,
            )),
            // `mailport@PATH`: another build, for A/B comparisons in one run.
            t if t.starts_with("mailport@") => Some(mailport_command_over(
                Path::new(&t["mailport@".len()..]),
                "copy",
                &src,
                &dst,
                transport,
            )),
            "mbsync" => Some(peers::mbsync(&src, &dst, work.path(), transport)),
            "offlineimap" => Some(peers::offlineimap(&src, &dst, work.path(), transport)),
            // Only when $IMAPSYNC names an imapsync script (it is not packaged in Debian).
            "imapsync" => peers::imapsync(&src, &dst, transport),
            _ => None,
        };
        let Some(first) = command() else {
            eprintln!("skipping {tool}: unknown tool, or imapsync without $IMAPSYNC");
            continue;
        };
        // Every tool starts from the same state: nothing left to write back
        // from the limits or the previous tool (the first tool after the
        // limits otherwise took 10-26 s instead of 6-9 s here), and the
        // source's files in the page cache.
        let _ = Command::new("sync").status();
        warm(&src.dir().join("home"));
        eprintln!("[{}] {tool} full pass ...", p.name);
        let servers = [&src, &dst];
        let m = timed(first, work.path(), &servers);
        let f = check(&dst, &before).await;
        eprintln!("[{}] {tool}: {:.1} s, exit {}, {f}", p.name, m.wall, m.exit);
        rows.push(row(tool, "full", m, f));

        // Delta: 1% new messages, a keyword set on 5% of the messages.
        let mut c = session::login(src.imap_port, "alice", src.password("alice"))
            .await
            .expect("login");
        let change = delta::apply(&mut c, &fresh)
            .await
            .expect("change the source");
        let changed = session::snapshot(&mut c).await.expect("snapshot source");
        let m = timed(command().expect("known tool"), work.path(), &servers);
        let f = check(&dst, &changed).await;
        eprintln!("[{}] {tool} delta pass: {:.1} s, {f}", p.name, m.wall);
        rows.push(row(tool, "delta", m, f));
        let m = timed(command().expect("known tool"), work.path(), &servers);
        let f = check(&dst, &changed).await;
        eprintln!("[{}] {tool} idle pass: {:.1} s, {f}", p.name, m.wall);
        rows.push(row(tool, "idle", m, f));
        delta::revert(&mut c, change)
            .await
            .expect("restore the source");
    }
    rows
}

/// Reads every file below `dir`, so that it is in the page cache.
fn warm(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => warm(&e.path()),
            Ok(t) if t.is_file() => {
                if let Ok(mut f) = std::fs::File::open(e.path()) {
                    let _ = std::io::copy(&mut f, &mut std::io::sink());
                }
            }
            _ => {}
        }
    }
}

/// Fidelity of the destination against what the source held.
async fn check(dst: &Dovecot, expected: &Snapshot) -> String {
    let mut d = session::login(dst.imap_port, "alice", dst.password("alice"))
        .await
        .expect("login");
    fidelity(
        expected,
        &session::snapshot(&mut d)
            .await
            .expect("snapshot destination"),
    )
}

/// Runs `cmd` under `/usr/bin/time -v` and reads wall, CPU and peak RSS, and
/// what the run cost the `servers` in CPU.
fn timed(cmd: Command, dir: &Path, servers: &[&Dovecot]) -> Measure {
    let servers_cpu = || servers.iter().map(|d| d.cpu_seconds()).sum::<f64>();
    let before = servers_cpu();
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
    // Let the servers finish the sessions the tool just closed.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let servers_cpu = servers_cpu() - before;
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
        servers_cpu,
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

fn render(rows: &[Row], fsync_never: bool, transport: Transport) -> String {
    let mut s = String::new();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let _ = writeln!(
        s,
        "\n### Run of {} ({} cores; {}; destination mail_fsync = {})\n",
        Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d %H:%M UTC")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        cpus,
        match transport {
            Transport::Tls => "TLS on both sides",
            Transport::Plain => "plain IMAP on loopback",
        },
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
    let _ = writeln!(s, "| preset | tool | pass | messages | MB | wall s | msgs/s | MB/s | CPU s | servers CPU s | peak RSS MB | exit | fidelity | mailport ÷ this |");
    let _ = writeln!(
        s,
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
    );
    for r in rows {
        // mailport's wall time for the same preset and pass (limits compare with its full pass).
        let pass = if r.pass == "limit" { "full" } else { r.pass };
        let mp = rows
            .iter()
            .find(|x| x.preset == r.preset && x.tool == "mailport" && x.pass == pass)
            .map(|x| x.m.wall)
            .unwrap_or(0.0);
        let ratio = if mp > 0.0 && r.m.wall > 0.0 {
            format!("{:.2}", mp / r.m.wall)
        } else {
            "-".into()
        };
        let rate = |n: f64| {
            if r.pass == "full" || r.pass == "limit" {
                format!("{:.1}", n / r.m.wall.max(0.001))
            } else {
                "-".into()
            }
        };
        let tool_only = |v: String| {
            if r.pass == "limit" {
                "-".to_string()
            } else {
                v
            }
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.0} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.preset,
            r.tool,
            r.pass,
            r.messages,
            r.bytes as f64 / 1e6,
            r.m.wall,
            rate(r.messages as f64),
            rate(r.bytes as f64 / 1e6),
            tool_only(format!("{:.1}", r.m.cpu)),
            tool_only(format!("{:.1}", r.m.servers_cpu)),
            tool_only(format!("{:.1}", r.m.peak_rss_kb as f64 / 1024.0)),
            tool_only(r.m.exit.to_string()),
            r.fidelity,
            ratio
        );
    }
    s
}
