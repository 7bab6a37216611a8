//! The project commands: flags in, the project crate does the work, tables
//! (or JSON) out. Secrets never reach the output: `project show` masks
//! them and status shows none.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use comfy_table::Table;
use mailport_engine::{Cancel, CopySettings, ErrorKind, Event};
use mailport_project::csv_import::{self, Format};
use mailport_project::{
    Admin, Pass, Project, ProjectError, ProjectKey, RunOptions, RunProgress, Settings,
};
use mailport_store::{MailboxRow, MailboxState, PassRow, Store};

use crate::args::AdminStyleArg;
use crate::password;
use crate::progress::said;
use crate::project_args::{
    CreateArgs, MailboxCommand, PassArg, ProjectCommand, ReportFormat, RunArgs, StatusArgs, Where,
    WorkerArgs,
};
use crate::summary::{count, human_bytes};
use crate::Failure;

/// The store a project command works on, and where its key file is by default.
async fn open_store(w: &Where) -> Result<(Store, PathBuf), Failure> {
    let state_failure = |e: String| Failure::Failed(ErrorKind::State, anyhow!(e));
    match w.state.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = Store::open(url)
                .await
                .map_err(|e| state_failure(format!("{e} (the --state URL)")))?;
            let keys = mailport_engine::job::default_state_path()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or_default();
            Ok((store, keys))
        }
        other => {
            let path = match other {
                Some(p) => PathBuf::from(p),
                None => mailport_engine::job::default_state_path().ok_or_else(|| {
                    Failure::Usage(anyhow!(
                        "cannot find a home for the state file; give --state PATH"
                    ))
                })?,
            };
            let store = Store::open_sqlite(&path)
                .await
                .map_err(|e| state_failure(format!("{e} (file {})", path.display())))?;
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            Ok((store, dir))
        }
    }
}

fn project_failure(e: ProjectError) -> Failure {
    match e {
        ProjectError::Store(e) => Failure::Failed(ErrorKind::State, anyhow!(e)),
        ProjectError::Key(e) => Failure::Usage(anyhow!(e)),
        other => Failure::Usage(anyhow!(other)),
    }
}

pub(crate) async fn open_project(w: &Where, name: &str) -> Result<Project, Failure> {
    let (store, dir) = open_store(w).await?;
    let default_key = mailport_project::key::default_key_path(&dir, name);
    Project::open(store, name, w.key_file.as_deref(), &default_key)
        .await
        .map_err(project_failure)
}

fn style(s: AdminStyleArg) -> &'static str {
    match s {
        AdminStyleArg::Authzid => "authzid",
        AdminStyleArg::DovecotMaster => "dovecot-master",
        AdminStyleArg::Exchange => "exchange",
        AdminStyleArg::Mirapoint => "mirapoint",
    }
}

pub async fn project(w: &Where, command: ProjectCommand) -> Result<bool, Failure> {
    match command {
        ProjectCommand::Create(a) => create(w, *a).await,
        ProjectCommand::Update {
            name,
            from_admin,
            from_admin_style,
            to_admin,
            to_admin_style,
            domains,
        } => {
            let p = open_project(w, &name).await?;
            let mut settings = p.settings.clone();
            if !domains.is_empty() {
                let more = mailport_project::settings::domains(&domains)
                    .map_err(|e| Failure::Usage(anyhow!(e)))?;
                for d in more {
                    if !settings.domains.contains(&d) {
                        settings.domains.push(d);
                    }
                }
            }
            if let Some(a) = admin(
                &p.key,
                &name,
                from_admin.as_ref(),
                from_admin_style,
                "source",
            )? {
                settings.from_admin = Some(a);
            }
            if let Some(a) = admin(
                &p.key,
                &name,
                to_admin.as_ref(),
                to_admin_style,
                "destination",
            )? {
                settings.to_admin = Some(a);
            }
            let json = serde_json::to_string(&settings).map_err(|e| Failure::Usage(anyhow!(e)))?;
            p.store
                .update_project_settings(&name, &json)
                .await
                .map_err(|e| project_failure(e.into()))?;
            println!("updated project {name}");
            Ok(true)
        }
        ProjectCommand::List => {
            let (store, _) = open_store(w).await?;
            let projects = store
                .projects()
                .await
                .map_err(|e| project_failure(e.into()))?;
            if projects.is_empty() {
                println!("no projects yet: mailport project create NAME --from URL --to URL");
            }
            for (name, counts) in projects {
                let total: i64 = counts.iter().map(|(_, n)| n).sum();
                let states: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
                println!(
                    "{name}: {} ({})",
                    count(total as u64, "mailbox"),
                    states.join(", ")
                );
            }
            Ok(true)
        }
        ProjectCommand::Show { name } => {
            let p = open_project(w, &name).await?;
            let mut shown = p.settings.clone();
            for admin in [&mut shown.from_admin, &mut shown.to_admin]
                .into_iter()
                .flatten()
            {
                admin.secret = "********".into();
            }
            let json =
                serde_json::to_string_pretty(&shown).map_err(|e| Failure::Usage(anyhow!(e)))?;
            println!("project {name}\n{json}");
            Ok(true)
        }
        ProjectCommand::Delete { name, yes } => {
            if !yes {
                return Err(Failure::Usage(anyhow!(
                    "deleting {name:?} forgets what was copied (its ledger); add --yes to delete it"
                )));
            }
            let p = open_project(w, &name).await?;
            p.store
                .delete_project(&name, &p.ledger_prefix())
                .await
                .map_err(|e| project_failure(e.into()))?;
            println!("deleted project {name} (the mail on both servers is untouched)");
            Ok(true)
        }
    }
}

/// A side's admin, its password asked for (MAILPORT_FROM_ADMIN_PASSWORD or
/// MAILPORT_TO_ADMIN_PASSWORD, else a prompt) and sealed with the key.
fn admin(
    key: &ProjectKey,
    project: &str,
    login: Option<&String>,
    st: AdminStyleArg,
    side: &str,
) -> Result<Option<Admin>, Failure> {
    let Some(login) = login else { return Ok(None) };
    let env = match side {
        "source" => "MAILPORT_FROM_ADMIN_PASSWORD",
        _ => "MAILPORT_TO_ADMIN_PASSWORD",
    };
    let pw = password::obtain(None, env, env, side, login).map_err(Failure::Usage)?;
    Ok(Some(Admin {
        login: login.clone(),
        style: style(st).into(),
        secret: Project::seal_admin(key, project, side, pw.expose()),
    }))
}

async fn create(w: &Where, a: CreateArgs) -> Result<bool, Failure> {
    let (store, dir) = open_store(w).await?;
    let key = ProjectKey::generate();
    let from_admin = admin(
        &key,
        &a.name,
        a.from_admin.as_ref(),
        a.from_admin_style,
        "source",
    )?;
    let to_admin = admin(
        &key,
        &a.name,
        a.to_admin.as_ref(),
        a.to_admin_style,
        "destination",
    )?;
    let settings = Settings {
        from: a.from.clone(),
        to: a.to.clone(),
        from_admin,
        to_admin,
        copy: CopySettings {
            connections: a.connections,
            batch: a.batch,
            max_bytes_per_second: a.max_bytes_per_second.clone(),
            max_messages_per_second: a.max_messages_per_second,
            ..crate::selection(&a.selection)
        },
        verify: a.verify,
        max_connections_per_host: a.max_connections_per_host,
        max_running: a.max_running,
        domains: mailport_project::settings::domains(&a.domains)
            .map_err(|e| Failure::Usage(anyhow!(e)))?,
        tls: mailport_project::settings::Tls {
            from_ca: a.from_tls_ca.clone(),
            to_ca: a.to_tls_ca.clone(),
            insecure: false,
            allow_plaintext: a.allow_plaintext,
            timeout_secs: a.timeout,
        },
    };
    let key_path = w
        .key_file
        .clone()
        .unwrap_or_else(|| mailport_project::key::default_key_path(&dir, &a.name));
    if key_path.exists() {
        return Err(Failure::Usage(anyhow!(
            "{} exists already (another project's key?): give --key-file NEW-PATH",
            key_path.display()
        )));
    }
    let project = Project::create(store, &a.name, settings, key)
        .await
        .map_err(project_failure)?;
    project
        .key
        .write_new(&key_path)
        .map_err(|e| Failure::Usage(anyhow!(e)))?;
    println!(
        "created project {}: {} -> {}\nthe project key is {} (mode 0600): keep it safe, workers on other machines need it (MAILPORT_KEY)",
        a.name,
        a.from,
        a.to,
        key_path.display()
    );
    Ok(true)
}

pub async fn mailbox(w: &Where, command: MailboxCommand) -> Result<bool, Failure> {
    match command {
        MailboxCommand::Import {
            project,
            file,
            format,
            skip_bad_rows,
        } => {
            let p = open_project(w, &project).await?;
            let format = format
                .map(|f| {
                    f.parse::<Format>()
                        .map_err(|e| Failure::Usage(anyhow!("--format: {e}")))
                })
                .transpose()?;
            let bytes = std::fs::read(&file)
                .map_err(|e| Failure::Usage(anyhow!("cannot read {}: {e}", file.display())))?;
            let parsed = csv_import::parse(&bytes, format)
                .map_err(|e| Failure::Usage(anyhow!("{}: {e}", file.display())))?;
            let mut bad: Vec<(usize, String)> = parsed
                .bad
                .iter()
                .map(|b| (b.line, b.reason.clone()))
                .collect();
            let mut rows = Vec::new();
            for r in &parsed.rows {
                match p.mailbox_row(r) {
                    Ok(m) => rows.push(m),
                    Err(why) => bad.push((r.line, why)),
                }
            }
            bad.sort();
            for (line, why) in &bad {
                eprintln!("mailport: {}: line {line}: {why}", file.display());
            }
            if !bad.is_empty() && !skip_bad_rows {
                return Err(Failure::Usage(anyhow!(
                    "{} bad; nothing was imported (fix them, or import the good rows with --skip-bad-rows)",
                    count(bad.len() as u64, "row")
                )));
            }
            let existing: std::collections::HashSet<String> = p
                .store
                .mailboxes(&project)
                .await
                .map_err(|e| project_failure(e.into()))?
                .into_iter()
                .map(|m| m.login)
                .collect();
            let updated = rows.iter().filter(|r| existing.contains(&r.login)).count();
            p.store
                .put_mailboxes(&rows)
                .await
                .map_err(|e| project_failure(e.into()))?;
            let waiting = rows
                .iter()
                .filter(|r| r.state == MailboxState::WaitingForCredentials.as_str())
                .count();
            println!(
                "{}: {} imported ({} new, {} updated; {} waiting for their user's password){}",
                file.display(),
                count(rows.len() as u64, "mailbox"),
                rows.len() - updated,
                updated,
                waiting,
                if bad.is_empty() {
                    String::new()
                } else {
                    format!("; {} skipped", count(bad.len() as u64, "bad row"))
                }
            );
            Ok(bad.is_empty())
        }
        MailboxCommand::Add {
            project,
            login,
            admin,
            ask_user,
            destination_login,
            destination_password,
            folders,
            destination_prefix,
        } => {
            let p = open_project(w, &project).await?;
            let user_password = |env: &str, side: &str, user: &str| {
                password::obtain(None, env, env, side, user)
                    .map(|pw| {
                        csv_import::Credential::Password(zeroize::Zeroizing::new(
                            pw.expose().to_string(),
                        ))
                    })
                    .map_err(Failure::Usage)
            };
            let source_credential = if admin {
                csv_import::Credential::Admin
            } else if ask_user {
                csv_import::Credential::AskUser
            } else {
                user_password("MAILPORT_FROM_PASSWORD", "source", &login)?
            };
            let destination_credential = match destination_password {
                true => user_password(
                    "MAILPORT_TO_PASSWORD",
                    "destination",
                    destination_login.as_deref().unwrap_or(&login),
                )?,
                false => csv_import::Credential::Admin,
            };
            let row = csv_import::ImportRow {
                line: 0,
                source_login: login.clone(),
                source_credential,
                destination_login,
                destination_credential,
                folders,
                destination_prefix,
                source_host: None,
                destination_host: None,
            };
            let m = p
                .mailbox_row(&row)
                .map_err(|e| Failure::Usage(anyhow!("{login}: {e}")))?;
            p.store
                .put_mailboxes(&[m])
                .await
                .map_err(|e| project_failure(e.into()))?;
            println!("{project}: mailbox {login} added");
            Ok(true)
        }
        MailboxCommand::Remove { project, login } => {
            let p = open_project(w, &project).await?;
            let removed = p
                .store
                .remove_mailbox(&project, &login)
                .await
                .map_err(|e| project_failure(e.into()))?;
            if !removed {
                return Err(Failure::Usage(anyhow!(
                    "{project} has no mailbox {login:?}"
                )));
            }
            println!("{project}: mailbox {login} removed (its mail is untouched)");
            Ok(true)
        }
        MailboxCommand::VerifyCredentials { project, only } => {
            let p = Arc::new(open_project(w, &project).await?);
            let passes = mailport_project::verify_credentials(p, &only, 8)
                .await
                .map_err(project_failure)?;
            let mut failed = 0;
            for ps in &passes {
                match &ps.detail {
                    None => eprintln!("{}: logged in on both sides", ps.login),
                    Some(why) => {
                        failed += 1;
                        eprintln!("{}: {why}", ps.login)
                    }
                }
            }
            println!(
                "{project}: {} logged in on both sides, {failed} failed",
                count((passes.len() - failed) as u64, "mailbox")
            );
            Ok(failed == 0)
        }
    }
}

/// Lines on stderr as mailboxes start and end; counts for the summary.
struct Lines {
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl RunProgress for Lines {
    fn started(&self, login: &str, pass: &str) {
        eprintln!("{login}: {pass} pass started");
    }
    fn finished(&self, login: &str, state: MailboxState, pass: &PassRow) {
        let detail = pass
            .detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        eprintln!(
            "{login}: {state} — {} copied, {} already there, {} failed, {} in {:.1} s{detail}",
            pass.copied,
            pass.already_present,
            pass.failed,
            human_bytes(pass.bytes as u64),
            pass.duration_ms as f64 / 1000.0
        );
    }
    fn event(&self, event: &Event) {
        eprintln!("{} ({})", said(event), event.job);
    }
    fn copied(&self, _login: &str, messages: u64, bytes: u64) {
        self.messages.fetch_add(messages, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// On a terminal: an overall bar (mailboxes done of queued, messages,
/// bytes, rate, ETA) and a line per running mailbox.
struct Bars {
    multi: indicatif::MultiProgress,
    overall: indicatif::ProgressBar,
    running:
        std::sync::Mutex<std::collections::HashMap<String, (indicatif::ProgressBar, u64, u64)>>,
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl Bars {
    fn new(total: u64) -> Bars {
        use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let overall = multi.add(ProgressBar::new(total));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} mailboxes {msg} ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        overall.set_prefix("total");
        overall.enable_steady_tick(Duration::from_millis(250));
        Bars {
            multi,
            overall,
            running: Default::default(),
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    fn totals(&self) {
        let secs = self.overall.elapsed().as_secs_f64().max(0.001);
        let bytes = self.bytes.load(Ordering::Relaxed);
        self.overall.set_message(format!(
            "· {} messages, {} ({}/s)",
            self.messages.load(Ordering::Relaxed),
            human_bytes(bytes),
            human_bytes((bytes as f64 / secs) as u64)
        ));
    }

    fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }
}

impl RunProgress for Bars {
    fn started(&self, login: &str, pass: &str) {
        let bar = self.multi.add(indicatif::ProgressBar::new_spinner());
        bar.set_message(format!("{login}: {pass} pass"));
        bar.enable_steady_tick(Duration::from_millis(250));
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(login.into(), (bar, 0, 0));
    }
    fn finished(&self, login: &str, state: MailboxState, pass: &PassRow) {
        if let Some((bar, _, _)) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(login)
        {
            bar.finish_and_clear();
        }
        let detail = pass
            .detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        let _ = self.multi.println(format!(
            "{login}: {state} — {} copied, {} already there, {} failed{detail}",
            pass.copied, pass.already_present, pass.failed
        ));
        self.overall.inc(1);
        self.totals();
    }
    fn event(&self, event: &Event) {
        let _ = self
            .multi
            .println(format!("{} ({})", said(event), event.job));
    }
    fn copied(&self, login: &str, messages: u64, bytes: u64) {
        self.messages.fetch_add(messages, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some((bar, m, b)) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(login)
        {
            *m += messages;
            *b += bytes;
            bar.set_message(format!("{login}: {m} messages, {}", human_bytes(*b)));
        }
        if messages > 0 {
            self.totals();
        }
    }
}

async fn run_workers(
    p: Arc<Project>,
    workers: u16,
    lease: u64,
    queued: u64,
) -> Result<Vec<(String, MailboxState, PassRow)>, Failure> {
    let cancel = Cancel::default();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stopper.cancel();
            eprintln!("\nmailport: stopping after the batches in flight (their mailboxes are left stopped; `mailport run` continues them)");
        }
    });
    let owner = mailport_project::holder::here("run");
    // Mailboxes left running by a killed run or worker of this machine
    // are taken again now, not when their lease runs out.
    if let Ok(rows) = p.store.mailboxes(&p.name).await {
        if let Err(e) = mailport_project::runner::free_dead_leases(&p, &rows).await {
            eprintln!("mailport: warning: freeing the mailboxes of dead workers: {e}");
        }
    }
    let bars = std::io::stderr()
        .is_terminal()
        .then(|| Arc::new(Bars::new(queued)));
    let progress: Arc<dyn RunProgress> = match &bars {
        Some(b) => b.clone(),
        None => Arc::new(Lines {
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }),
    };
    let summary = mailport_project::run(
        p,
        RunOptions {
            workers: usize::from(workers),
            owner,
            lease: Duration::from_secs(lease),
            cancel,
        },
        progress,
    )
    .await
    .map_err(project_failure);
    if let Some(b) = &bars {
        b.finish();
    }
    Ok(summary?.passes)
}

/// `--workers`, or two per CPU core (copies wait on servers more than on
/// this machine), never more than the per-host cap lets run at once.
fn workers(given: Option<u16>, p: &Project) -> u16 {
    given.unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let cap = p.running_limit().map_or(usize::MAX, |n| n.max(1) as usize);
        (2 * cores).min(cap).clamp(1, 256) as u16
    })
}

pub async fn run(w: &Where, a: RunArgs) -> Result<bool, Failure> {
    let pass = match (a.pass, &a.before) {
        (PassArg::Full, None) => Pass::Full,
        (PassArg::Delta, None) => Pass::Delta,
        (PassArg::Verify, None) => Pass::Verify,
        (PassArg::Prestage, Some(d)) => {
            mailport_mail::date::parse_ymd(d).ok_or_else(|| {
                Failure::Usage(anyhow!("--before {d:?} is not a date; write YYYY-MM-DD"))
            })?;
            Pass::Prestage { before: d.clone() }
        }
        (PassArg::Prestage, None) => {
            return Err(Failure::Usage(anyhow!(
                "--pass prestage needs --before YYYY-MM-DD"
            )))
        }
        (_, Some(_)) => {
            return Err(Failure::Usage(anyhow!(
                "--before goes with --pass prestage"
            )))
        }
    };
    let p = Arc::new(open_project(w, &a.project).await?);
    let from = [
        MailboxState::NotStarted,
        MailboxState::Completed,
        MailboxState::Stopped,
    ];
    let queued = p
        .store
        .queue(&a.project, &from, &a.only, &pass.stored())
        .await
        .map_err(|e| project_failure(e.into()))?;
    eprintln!(
        "{}: {} queued for a {} pass",
        a.project,
        count(queued, "mailbox"),
        pass.name()
    );
    let workers = workers(a.workers, &p);
    let summary = run_workers(p.clone(), workers, a.lease, queued).await?;
    print_run(&summary);
    Ok(summary
        .iter()
        .all(|(_, s, pass)| *s == MailboxState::Completed && pass.outcome == "ok"))
}

pub async fn worker(w: &Where, a: WorkerArgs) -> Result<bool, Failure> {
    let p = Arc::new(open_project(w, &a.project).await?);
    let queued = p
        .store
        .mailboxes(&a.project)
        .await
        .map_err(|e| project_failure(e.into()))?
        .iter()
        .filter(|m| m.state == MailboxState::Queued.as_str())
        .count() as u64;
    let workers = workers(a.workers, &p);
    let summary = run_workers(p, workers, a.lease, queued).await?;
    print_run(&summary);
    Ok(summary
        .iter()
        .all(|(_, s, _)| *s == MailboxState::Completed))
}

fn print_run(passes: &[(String, MailboxState, PassRow)]) {
    let mut t = Table::new();
    t.set_header(vec![
        "mailbox", "state", "pass", "copied", "present", "failed", "size", "time",
    ]);
    for (login, state, p) in passes {
        t.add_row(vec![
            login.clone(),
            state.to_string(),
            p.kind.clone(),
            p.copied.to_string(),
            p.already_present.to_string(),
            p.failed.to_string(),
            human_bytes(p.bytes as u64),
            format!("{:.1} s", p.duration_ms as f64 / 1000.0),
        ]);
    }
    println!("{t}");
}

pub async fn status(w: &Where, a: StatusArgs) -> Result<bool, Failure> {
    let p = open_project(w, &a.project).await?;
    let failed = |e: mailport_store::StoreError| project_failure(e.into());
    if let Some(login) = &a.login {
        let m = p
            .store
            .mailbox(&a.project, login)
            .await
            .map_err(failed)?
            .ok_or_else(|| Failure::Usage(anyhow!("{} has no mailbox {login:?}", a.project)))?;
        let passes = p
            .store
            .passes(&a.project, Some(login))
            .await
            .map_err(failed)?;
        if a.json {
            let j = serde_json::json!({ "mailbox": mailbox_json(&m), "passes": passes });
            println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
            return Ok(true);
        }
        println!(
            "{login}: {}{}",
            m.state,
            m.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
        let mut t = Table::new();
        t.set_header(vec![
            "pass", "outcome", "messages", "copied", "present", "skipped", "failed", "size", "time",
        ]);
        for ps in &passes {
            t.add_row(vec![
                ps.kind.clone(),
                ps.outcome.clone(),
                ps.source_messages.to_string(),
                ps.copied.to_string(),
                ps.already_present.to_string(),
                ps.skipped.to_string(),
                ps.failed.to_string(),
                human_bytes(ps.bytes as u64),
                format!("{:.1} s", ps.duration_ms as f64 / 1000.0),
            ]);
        }
        println!("{t}");
        return Ok(true);
    }
    let rows = p.store.mailboxes(&a.project).await.map_err(failed)?;
    if a.json {
        let j: Vec<_> = rows.iter().map(mailbox_json).collect();
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
        return Ok(true);
    }
    let mut t = Table::new();
    t.set_header(vec!["mailbox", "state", "pass", "last good", "error"]);
    for m in &rows {
        t.add_row(vec![
            m.login.clone(),
            m.state.clone(),
            m.pass.clone().unwrap_or_default(),
            m.last_good_at.map(|t| t.to_string()).unwrap_or_default(),
            m.error.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
    Ok(true)
}

/// What status shows of a mailbox: never its secrets.
fn mailbox_json(m: &MailboxRow) -> serde_json::Value {
    serde_json::json!({
        "login": m.login,
        "destination_login": m.destination_login,
        "source_auth": m.source_auth,
        "destination_auth": m.destination_auth,
        "state": m.state,
        "pass": m.pass,
        "error": m.error,
        "retryable": m.retryable,
        "attempts": m.attempts,
        "last_good_at": m.last_good_at,
        "worker": m.lease_owner,
    })
}

pub async fn stop(w: &Where, project: &str, logins: &[String]) -> Result<bool, Failure> {
    let p = open_project(w, project).await?;
    let n = p
        .store
        .request_stop(project, logins)
        .await
        .map_err(|e| project_failure(e.into()))?;
    println!(
        "{project}: {} asked to stop after the batch in flight",
        count(n, "mailbox")
    );
    Ok(true)
}

pub async fn retry(w: &Where, project: &str, failed: bool, stopped: bool) -> Result<bool, Failure> {
    let p = open_project(w, project).await?;
    let mut from = Vec::new();
    if failed {
        from.push(MailboxState::Failed);
    }
    if stopped {
        from.push(MailboxState::Stopped);
    }
    let n = p
        .store
        .queue(project, &from, &[], &Pass::Full.stored())
        .await
        .map_err(|e| project_failure(e.into()))?;
    println!(
        "{project}: {} queued again; `mailport run {project}` copies them",
        count(n, "mailbox")
    );
    Ok(true)
}

pub async fn report(
    w: &Where,
    project: &str,
    format: ReportFormat,
    output: Option<&Path>,
) -> Result<bool, Failure> {
    use mailport_project::report;
    let p = open_project(w, project).await?;
    let failed = |e: mailport_store::StoreError| project_failure(e.into());
    let rows = p.store.mailboxes(project).await.map_err(failed)?;
    let passes = p.store.passes(project, None).await.map_err(failed)?;
    let r = report::build(project, &rows, &passes);
    let text = match format {
        ReportFormat::Csv => report::to_csv(&r),
        ReportFormat::Json => report::to_json(&r),
        ReportFormat::Html => report::to_html(&r),
    };
    write_report(project, &text, output)?;
    Ok(true)
}

/// A report to standard output, or to a file (said on standard error).
pub(crate) fn write_report(
    project: &str,
    text: &str,
    output: Option<&Path>,
) -> Result<(), Failure> {
    match output {
        None => print!("{text}"),
        Some(path) => {
            std::fs::write(path, text)
                .map_err(|e| Failure::Usage(anyhow!("cannot write {}: {e}", path.display())))?;
            eprintln!("{project}: report written to {}", path.display());
        }
    }
    Ok(())
}
