//! `mailport`: the command-line front door. `copy` parses flags, builds one
//! `mailport_engine::Job` and renders its events and report (decision 007);
//! `verify` and `check` reach the servers the same way and only read.
//!
//! - [`args`]: clap flags and their validation;
//! - [`credentials`], [`password`]: who logs in, and the password channels
//!   (file, environment, prompt);
//! - [`progress`]: bars on a terminal, log lines otherwise, events as
//!   `mailport: warning: ...` (stderr);
//! - [`summary`]: the per-folder table or JSON (stdout); [`check`]: what
//!   `mailport check` shows.
//!
//! `anyhow` lives only here; the libraries return typed errors whose
//! `ErrorKind` gives the exit code (docs/errors.md).

mod args;
mod check;
mod credentials;
mod password;
mod progress;
mod project_args;
mod projects;
mod proxy;
mod proxy_args;
mod proxy_config;
mod retire;
mod summary;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Parser;
use mailport_engine::error::in_words;
use mailport_engine::job::{self, Address, State, StateKey, Use};
use mailport_engine::{
    Cancel, Connector, CopyOptions, CopySettings, Destination, EndpointConfig, EngineError,
    ErrorKind, Job, JobError, Phase, Progress, SessionError, Side, Source, Store,
};
use mailport_mailstore::Layout;
use mailport_net::{
    CertDiagnosis, CertProblem, ConnectError, Endpoint, Route, Security, TlsOptions,
};

use args::{CheckArgs, Cli, Command, CopyArgs, Selection, Sides, VerifyArgs};

/// Errors that end the run, with the exit code they mean.
enum Failure {
    Usage(anyhow::Error),
    /// A job, a check or the state file failed; the kind gives the exit code
    /// (docs/errors.md).
    Failed(ErrorKind, anyhow::Error),
    /// Stopped by Ctrl-C (already said so).
    Interrupted,
}

/// The first Ctrl-C stops the copy after the batches in flight (they are
/// confirmed and recorded); a second one, or one after the copy (during
/// verify, before deleting anything), ends the process at once.
fn stop_on_ctrl_c(cancel: Cancel, copying: Arc<AtomicBool>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        if copying.load(Ordering::SeqCst) {
            cancel.cancel();
            eprintln!("\nmailport: stopping after the messages being copied now (Ctrl-C again to stop at once)");
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
        }
        eprintln!("\nmailport: stopped; run the same command again to continue");
        std::process::exit(130);
    });
}

fn main() -> ExitCode {
    let cli = match proxy_config::expand(std::env::args_os().collect()) {
        Ok(args) => Cli::parse_from(args),
        Err(e) => {
            eprintln!("mailport: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(match &cli.command {
        Command::Copy(a) => a.sides.debug,
        Command::Verify(a) => a.sides.debug,
        Command::Check(a) => a.sides.debug,
        _ => false,
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mailport: cannot start: {e}");
            return ExitCode::from(3);
        }
    };
    let outcome = match cli.command {
        Command::Copy(a) => runtime.block_on(run_copy(a)),
        Command::Verify(a) => runtime.block_on(run_verify(a)),
        Command::Check(a) => runtime.block_on(run_check(a)),
        Command::Project { place, command } => runtime.block_on(projects::project(&place, command)),
        Command::Mailbox { place, command } => runtime.block_on(projects::mailbox(&place, command)),
        Command::Run { place, args } => runtime.block_on(projects::run(&place, args)),
        Command::Proxy { place, args } => runtime.block_on(proxy::proxy(&place, args)),
        Command::Accounts { place, args } => runtime.block_on(proxy::accounts(&place, args)),
        Command::RetireReport { place, args } => {
            runtime.block_on(retire::retire_report(&place, args))
        }
        Command::Worker { place, args } => runtime.block_on(projects::worker(&place, args)),
        Command::Status { place, args } => runtime.block_on(projects::status(&place, args)),
        Command::Report {
            place,
            project,
            format,
            output,
        } => runtime.block_on(projects::report(
            &place,
            &project,
            format,
            output.as_deref(),
        )),
        Command::Stop {
            place,
            project,
            logins,
        } => runtime.block_on(projects::stop(&place, &project, &logins)),
        Command::Retry {
            place,
            project,
            failed,
            stopped,
        } => runtime.block_on(projects::retry(&place, &project, failed, stopped)),
    };
    match outcome {
        Ok(clean) => ExitCode::from(if clean { 0 } else { 1 }),
        Err(f) => ExitCode::from(report_failure(&f)),
    }
}

/// Prints a failure as one message; its exit code.
fn report_failure(f: &Failure) -> u8 {
    match f {
        Failure::Usage(e) => {
            eprintln!("mailport: {e:#}");
            2
        }
        Failure::Failed(kind, e) => {
            eprintln!("mailport: {}", in_words(e.as_ref()));
            kind.exit_code()
        }
        // 128 + SIGINT, as shells report a command stopped by Ctrl-C.
        Failure::Interrupted => 130,
    }
}

fn init_logging(debug: bool) {
    let filter = if debug { "warn,mailport=debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAILPORT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(Said)
        .init();
}

/// Log lines start like every other message mailport prints:
/// `mailport: warning: ...`; the protocol trace of --debug is `mailport: C: ...`.
struct Said;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Said
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut w: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error: ",
            tracing::Level::WARN => "warning: ",
            _ => "",
        };
        write!(w, "mailport: {level}")?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// The folder and message selection as engine settings (validated later,
/// with the other copy settings, by [`CopySettings::to_options`]).
fn selection(a: &Selection) -> CopySettings {
    CopySettings {
        include: a.include.clone(),
        exclude: a.exclude.clone(),
        folder_map: a.folder_map.clone(),
        to_folder: a.to_folder.clone(),
        max_size: a.max_size.clone(),
        since: a.since.clone(),
        before: a.before.clone(),
        skip_deleted: a.skip_deleted,
        identity: match a.identity {
            args::Identity::Strict => "strict",
            args::Identity::MessageId => "message-id",
            args::Identity::Headers => "headers",
        }
        .into(),
        ..Default::default()
    }
}

/// Validated engine options (no network yet).
fn options(s: &CopySettings) -> Result<CopyOptions, Failure> {
    s.to_options().map_err(|e| Failure::Usage(anyhow!(e)))
}

/// Validates both addresses, obtains the passwords and builds the sides.
/// `write`: the destination will be written (copy); verify only reads it.
fn sides(a: &Sides, write: bool) -> Result<(Source, Destination), Failure> {
    warn_insecure(a);
    let to =
        a.to.as_deref()
            .ok_or_else(|| Failure::Usage(anyhow!("--to URL is required")))?;
    let layout = match a.maildir_layout {
        args::MaildirLayout::MaildirPlusPlus => Layout::PlusPlus,
        args::MaildirLayout::Fs => Layout::Fs,
    };
    let source = match address("--from", &a.from, Use::Source)? {
        Address::Maildir(root) => Source::Maildir { root, layout },
        Address::Mbox(path) => Source::Mbox { path },
        Address::Server(ep) => {
            let c = connector(a, Side::Source, ep)?;
            if c.config.endpoint.scheme.is_pop3() {
                Source::Pop3(c)
            } else {
                Source::Imap(c)
            }
        }
    };
    let role = match write {
        true => Use::Destination,
        false => Use::DestinationRead,
    };
    let destination = match address("--to", to, role)? {
        Address::Maildir(root) => Destination::Maildir { root, layout },
        Address::Server(ep) => Destination::Imap(connector(a, Side::Destination, ep)?),
        Address::Mbox(_) => unreachable!("refused by Address::check"),
    };
    Ok((source, destination))
}

/// A source or destination as the user wrote it, checked for its use.
fn address(flag: &str, text: &str, role: Use) -> Result<Address, Failure> {
    let address = Address::parse(text).map_err(|e| Failure::Usage(anyhow!("{flag}: {e}")))?;
    address
        .check(role)
        .map_err(|e| Failure::Usage(anyhow!("{flag}: {e}")))?;
    Ok(address)
}

fn warn_insecure(a: &Sides) {
    if a.tls_insecure {
        eprintln!("mailport: WARNING: --tls-insecure: server certificates are NOT verified; anyone on the path can read the passwords and mail");
    }
}

/// One side's endpoint, credentials and TLS settings.
fn connector(a: &Sides, side: Side, endpoint: Endpoint) -> Result<Connector, Failure> {
    let no_tls = match side {
        Side::Source => a.from_no_tls,
        Side::Destination => a.to_no_tls,
    };
    if no_tls && endpoint.scheme.security() == Security::Tls {
        return Err(Failure::Usage(anyhow!(
            "--{}-no-tls keeps a connection in plain text, but {} asks for TLS; use {}",
            flag(side),
            endpoint,
            endpoint.with_route(Route {
                security: Security::StartTls,
                port: endpoint
                    .scheme
                    .with_security(Security::StartTls)
                    .default_port(),
            })
        )));
    }
    let (credentials, ca_file, fingerprint) = match side {
        Side::Source => (
            credentials::for_side(
                &a.login,
                side,
                a.from_password_file.as_deref(),
                &endpoint.user,
            ),
            a.from_tls_ca.clone(),
            a.from_tls_fingerprint,
        ),
        Side::Destination => (
            credentials::for_side(
                &a.login,
                side,
                a.to_password_file.as_deref(),
                &endpoint.user,
            ),
            a.to_tls_ca.clone(),
            a.to_tls_fingerprint,
        ),
    };
    let (credentials, auth_mech) = credentials.map_err(Failure::Usage)?;
    Connector::new(EndpointConfig {
        endpoint,
        credentials,
        auth_mech,
        tls: TlsOptions {
            ca_file,
            insecure: a.tls_insecure,
            fingerprint,
        },
        allow_plaintext: a.allow_plaintext,
        no_tls,
        timeout: Duration::from_secs(a.timeout),
    })
    .map_err(|e| Failure::Usage(anyhow!("{side} TLS settings: {e}")))
}

/// The server endpoints of a run (a local source has none), for advice on
/// certificate failures.
fn endpoints(source: &Source, destination: &Destination) -> Vec<(Side, Endpoint)> {
    let mut v = Vec::new();
    if let Some(c) = source.server() {
        v.push((Side::Source, c.config.endpoint.clone()));
    }
    if let Some(c) = destination.imap() {
        v.push((Side::Destination, c.config.endpoint.clone()));
    }
    v
}

/// The flag prefix of a side: `--from-...` or `--to-...`.
fn flag(side: Side) -> &'static str {
    match side {
        Side::Source => "from",
        Side::Destination => "to",
    }
}

/// A job that failed, in words, with certificate advice when a refused
/// certificate is the cause (a server may change certificates mid-run).
fn job_failure(e: JobError, endpoints: &[(Side, Endpoint)]) -> Failure {
    let advice = |side: Side, d: Option<&CertDiagnosis>| {
        d.and_then(|d| {
            let (_, ep) = endpoints.iter().find(|(s, _)| *s == side)?;
            Some(certificate_advice(side, ep, d))
        })
        .unwrap_or_default()
    };
    match e {
        JobError::Invalid(why) => Failure::Usage(anyhow!(why)),
        e @ JobError::Unreachable(_) => {
            let kind = e.kind();
            let JobError::Unreachable(sides) = e else {
                unreachable!("matched above")
            };
            let text: Vec<String> = sides
                .into_iter()
                .map(|(side, e)| {
                    let d = match &e.error {
                        SessionError::Connect(c) => c.certificate(),
                        _ => None,
                    }
                    .cloned();
                    let words = in_words(&e);
                    format!("{side}: {words}{}", advice(side, d.as_ref()))
                })
                .collect();
            Failure::Failed(kind, anyhow!(text.join("\nmailport: ")))
        }
        e => {
            let kind = e.kind();
            let side = e.engine_error().map(EngineError::side);
            let e = anyhow::Error::new(e);
            let diagnosis = e.chain().find_map(|c| {
                c.downcast_ref::<SessionError>()
                    .and_then(|s| match s {
                        SessionError::Connect(c) => c.certificate(),
                        _ => None,
                    })
                    .or_else(|| c.downcast_ref::<ConnectError>()?.certificate())
            });
            let advice = side.map(|s| advice(s, diagnosis)).unwrap_or_default();
            Failure::Failed(kind, anyhow!("{}{advice}", in_words(e.as_ref())))
        }
    }
}

/// What the user can do about a refused certificate, with the exact flags.
fn certificate_advice(side: Side, ep: &Endpoint, d: &CertDiagnosis) -> String {
    let flag = flag(side);
    let pin = format!("--{flag}-tls-fingerprint {}", d.fingerprint);
    let lines: Vec<String> = match &d.problem {
        CertProblem::Expired => vec![
            "the server's administrator must renew the certificate".into(),
            format!("if you trust this certificate anyway, pin it: {pin}"),
        ],
        CertProblem::NotYetValid => vec![
            "check this computer's clock (date and time zone)".into(),
            format!("if you trust this certificate anyway, pin it: {pin}"),
        ],
        CertProblem::SelfSigned => vec![format!(
            "if this is your server's own certificate (compare the fingerprint with `openssl x509 -noout -fingerprint -sha256 -in CERT` on the server), pin it: {pin}"
        )],
        CertProblem::UnknownIssuer | CertProblem::BadSignature => vec![
            format!("trust the issuing CA: --{flag}-tls-ca CA.pem (its certificate in PEM)"),
            format!("or pin this one certificate: {pin}"),
        ],
        CertProblem::WrongName => {
            let covered = d.cert.as_ref().and_then(|c| {
                c.names.iter().find_map(|n| match n {
                    mailport_net::cert::CertName::Dns(name) if !name.starts_with('*') => {
                        Some(name.clone())
                    }
                    mailport_net::cert::CertName::Ip(ip) => Some(ip.to_string()),
                    _ => None,
                })
            });
            let mut v = Vec::new();
            match covered {
                Some(host) => {
                    let better = Endpoint {
                        host,
                        ..ep.clone()
                    };
                    v.push(format!(
                        "connect with a name the certificate covers: --{flag} {better}"
                    ));
                }
                None => v.push("connect with a name the certificate covers".into()),
            }
            v.push(format!("or pin this certificate: {pin}"));
            v
        }
        CertProblem::PinMismatch { .. } => vec![
            format!(
                "if the server's certificate was replaced on purpose, pin the new one: --{flag}-tls-fingerprint {}",
                d.fingerprint
            ),
            "if not, stop: someone may be intercepting the connection".into(),
        ],
        CertProblem::Other(_) => vec![format!("if you trust this certificate, pin it: {pin}")],
    };
    lines.iter().map(|l| format!("\n  fix: {l}")).collect()
}

async fn run_copy(a: CopyArgs) -> Result<bool, Failure> {
    let settings = CopySettings {
        connections: a.connections,
        batch: a.batch,
        max_bytes_per_second: a.max_bytes_per_second.clone(),
        max_messages_per_second: a.max_messages_per_second,
        sync_deletes: a.sync_deletes,
        recopy_deleted: a.recopy_deleted,
        ..selection(&a.selection)
    };
    let mut opts = options(&settings)?;
    opts.dry_run = a.dry_run;
    if a.sync_deletes && a.no_state {
        return Err(Failure::Usage(anyhow!(
            "--sync-deletes needs the state file; drop --no-state"
        )));
    }
    let (source, destination) = sides(&a.sides, true)?;
    let mut job = Job::new(source, destination);
    job.options = opts;
    job.verify = a.verify;
    job.delete_source_after_verify = a.delete_source_after_verify;
    job.max_connections_per_host = a.max_connections_per_host.map(usize::from);
    let endpoints = endpoints(&job.source, &job.destination);
    // A state file this run creates is removed again if the run cannot even
    // start (a refused login): it would hold nothing but confusion.
    let mut new_state_file = None;
    if !a.no_state && !a.dry_run {
        let path = match &a.state {
            Some(p) => p.clone(),
            None => job::default_state_path().ok_or_else(|| {
                Failure::Usage(anyhow!(
                    "cannot find a home for the state file; give --state PATH"
                ))
            })?,
        };
        if !path.exists() {
            new_state_file = Some(path.clone());
        }
        job.state = Some(State {
            store: open_state(&path).await?,
            // By default the two addresses; --state-key keeps the history
            // when the same mailbox is reached through another address.
            key: match &a.state_key {
                Some(key) => StateKey::Named(key.clone()),
                None => StateKey::Addresses,
            },
        });
    }

    let shown = Arc::new(Shown::new(a.json, job.options.dry_run));
    let cancel = Cancel::default();
    stop_on_ctrl_c(cancel.clone(), shown.copying.clone());
    let result = job.run(shown.clone(), cancel).await;
    shown.finish();
    if let (Err(_), Some(path)) = (&result, &new_state_file) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
    let report = result.map_err(|e| job_failure(e, &endpoints))?;
    if report.copy.interrupted {
        eprintln!("mailport: interrupted; run the same command again to continue (nothing is copied twice)");
        return Err(Failure::Interrupted);
    }
    if let Some(deleted) = report.deleted_from_source {
        eprintln!(
            "deleted {deleted} messages from the POP3 server (each verified on the destination)"
        );
    }
    Ok(report.is_clean())
}

/// The state file, opened (created when missing); repairs of what an
/// earlier mailport wrote are said.
async fn open_state(path: &std::path::Path) -> Result<Store, Failure> {
    let store = Store::open_sqlite(path)
        .await
        .map_err(|e| Failure::Failed(ErrorKind::State, anyhow!("{e} (file {})", path.display())))?;
    for r in store.repairs() {
        let side = if r.on_destination() {
            "destination"
        } else {
            "source"
        };
        eprintln!(
            "mailport: the state file {} gave {} messages of {} folder {:?} UIDs that other messages had too \
             (written by an earlier mailport); they were renumbered and are found again by their identity",
            path.display(),
            r.messages,
            side,
            r.folder
        );
    }
    Ok(store)
}

/// How `copy` shows a job: progress (bars on a terminal, lines otherwise)
/// and events on stderr, each step's result on stdout as it comes.
struct Shown {
    progress: Arc<dyn Progress>,
    bars: Option<Arc<progress::Bars>>,
    json: bool,
    /// Until the copy ends, Ctrl-C stops it cleanly; after, at once.
    copying: Arc<AtomicBool>,
}

impl Shown {
    fn new(json: bool, dry_run: bool) -> Shown {
        let (progress, bars): (Arc<dyn Progress>, _) = if std::io::stderr().is_terminal() {
            let b = Arc::new(progress::Bars::new(dry_run));
            (b.clone(), Some(b))
        } else {
            (Arc::new(progress::Lines::new(dry_run)), None)
        };
        Shown {
            progress,
            bars,
            json,
            copying: Arc::new(AtomicBool::new(true)),
        }
    }

    fn finish(&self) {
        self.copying.store(false, Ordering::SeqCst);
        if let Some(b) = &self.bars {
            b.finish();
        }
    }
}

impl Progress for Shown {
    fn planned(&self, plan: &mailport_engine::plan::Plan) {
        self.progress.planned(plan)
    }
    fn folder_started(&self, index: usize, messages: u64, bytes: u64) {
        self.progress.folder_started(index, messages, bytes)
    }
    fn bytes(&self, index: usize, n: u64) {
        self.progress.bytes(index, n)
    }
    fn messages(&self, index: usize, n: u64) {
        self.progress.messages(index, n)
    }
    fn folder_finished(&self, index: usize, report: &mailport_engine::FolderReport) {
        self.progress.folder_finished(index, report)
    }
    fn event(&self, event: &mailport_engine::Event) {
        self.progress.event(event)
    }
    fn phase(&self, phase: Phase<'_>) {
        match phase {
            Phase::Copied(report) => {
                self.finish();
                if self.json {
                    match serde_json::to_string_pretty(report) {
                        Ok(json) => println!("{json}"),
                        Err(e) => eprintln!("mailport: cannot encode the summary: {e}"),
                    }
                } else {
                    print!("{}", summary::table(report));
                }
            }
            Phase::Verifying => {
                eprintln!("mailport: verifying (reading both sides in full)...")
            }
            Phase::Verified(v) => {
                if !self.json {
                    print!("{}", summary::verify_table(v));
                }
            }
        }
    }
}

async fn run_verify(a: VerifyArgs) -> Result<bool, Failure> {
    let opts = options(&selection(&a.selection))?;
    let (source, destination) = sides(&a.sides, false)?;
    let endpoints = endpoints(&source, &destination);
    let mut job = Job::new(source, destination);
    job.options = opts;
    // The report is printed once at the end (table or JSON), not per phase.
    let report = job
        .verify_only(Arc::new(progress::Lines::new(false)), a.quick)
        .await
        .map_err(|e| job_failure(e, &endpoints))?;
    if let Some(path) = &a.manifest {
        let mut text = String::new();
        for line in &report.manifest {
            text.push_str(
                &serde_json::to_string(line)
                    .context("cannot encode the manifest")
                    .map_err(Failure::Usage)?,
            );
            text.push('\n');
        }
        std::fs::write(path, text)
            .with_context(|| format!("cannot write the manifest {}", path.display()))
            .map_err(Failure::Usage)?;
    }
    if a.json {
        let json = serde_json::to_string_pretty(&report)
            .context("cannot encode the result")
            .map_err(Failure::Usage)?;
        println!("{json}");
    } else {
        print!("{}", summary::verify_table(&report));
    }
    Ok(report.is_ok())
}

async fn run_check(a: CheckArgs) -> Result<bool, Failure> {
    for (flag, url) in [
        ("--from", Some(&a.sides.from)),
        ("--to", a.sides.to.as_ref()),
    ] {
        if url.is_some_and(|u| u.starts_with("maildir:") || u.starts_with("mbox:")) {
            return Err(Failure::Usage(anyhow!(
                "{flag}: check is for mail servers; a maildir: or mbox: store needs no login (copy --dry-run shows what it holds)"
            )));
        }
    }
    warn_insecure(&a.sides);
    let server = |side: Side, flag: &str, url: &str| {
        let ep = url
            .parse::<Endpoint>()
            .map_err(|e| Failure::Usage(anyhow!("{flag}: {e}")))?;
        connector(&a.sides, side, ep)
    };
    let mut sides = vec![(Side::Source, server(Side::Source, "--from", &a.sides.from)?)];
    if let Some(to) = &a.sides.to {
        sides.push((Side::Destination, server(Side::Destination, "--to", to)?));
    }
    // Each side is checked whatever happened to the other: what works is
    // shown in full, then what does not.
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for (side, mut c) in sides {
        let found = async {
            let progress = Arc::new(progress::Lines::new(false));
            let endpoints = [(side, c.config.endpoint.clone())];
            let reached = match side {
                Side::Source => job::discover(Some(&mut c), None, progress).await,
                Side::Destination => job::discover(None, Some(&mut c), progress).await,
            };
            reached.map_err(|e| job_failure(e, &endpoints))?;
            mailport_engine::inspect::inspect(&c)
                .await
                .map_err(|e| Failure::Failed(e.kind(), anyhow!("{side}: {}", in_words(&e))))
        }
        .await;
        match found {
            Ok(found) => results.push((side, found)),
            Err(f) => failures.push(f),
        }
    }
    check::print(&results, a.json);
    let last = failures.pop();
    for f in &failures {
        report_failure(f);
    }
    match last {
        Some(f) => Err(f),
        None => Ok(true),
    }
}
