//! `mailport`: the command-line front door.
//!
//! - [`args`]: clap flags and their validation;
//! - [`password`]: password channels (file, environment, prompt);
//! - [`progress`]: bars on a terminal, log lines otherwise (stderr);
//! - [`summary`]: the per-folder table or JSON (stdout).
//!
//! `anyhow` lives only here; the libraries return typed errors that the
//! exit code is derived from.

mod args;
mod password;
mod progress;
mod summary;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Parser;
use mailport_engine::plan::PlanOptions;
use mailport_engine::{Connector, CopyOptions, EndpointConfig, Progress};
use mailport_net::{Endpoint, TlsOptions};

use args::{Cli, Command, CopyArgs};

/// Errors that end the run, with the exit code they mean.
enum Failure {
    Usage(anyhow::Error),
    Connection(anyhow::Error),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Copy(args) = cli.command;
    init_logging(args.debug);
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
    match runtime.block_on(run_copy(args)) {
        Ok(clean) => ExitCode::from(if clean { 0 } else { 1 }),
        Err(Failure::Usage(e)) => {
            eprintln!("mailport: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Connection(e)) => {
            eprintln!("mailport: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn init_logging(debug: bool) {
    let filter = if debug { "warn,mailport=debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAILPORT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn regex(flag: &str, s: &Option<String>) -> Result<Option<regex::Regex>, Failure> {
    s.as_deref()
        .map(|r| {
            regex::Regex::new(r)
                .map_err(|e| Failure::Usage(anyhow!("{flag} {r:?} is not a valid regex: {e}")))
        })
        .transpose()
}

fn date(flag: &str, s: &Option<String>) -> Result<Option<i64>, Failure> {
    s.as_deref()
        .map(|d| {
            mailport_imap::date::parse_ymd(d).ok_or_else(|| {
                Failure::Usage(anyhow!("{flag} {d:?} is not a date; write YYYY-MM-DD"))
            })
        })
        .transpose()
}

/// Validates flags into engine options (no network yet).
fn options(a: &CopyArgs) -> Result<CopyOptions, Failure> {
    let mut folder_map = Vec::new();
    for rule in &a.folder_map {
        let (from, to) = rule
            .split_once('=')
            .filter(|(f, t)| !f.is_empty() && !t.is_empty())
            .ok_or_else(|| {
                Failure::Usage(anyhow!(
                    "--folder-map {rule:?} must look like SRC=DST, e.g. 'Archiv=Archive'"
                ))
            })?;
        folder_map.push((
            from.trim_matches('/').to_string(),
            to.trim_matches('/').to_string(),
        ));
    }
    let max_size = a
        .max_size
        .as_deref()
        .map(|s| {
            args::parse_size(s).ok_or_else(|| {
                Failure::Usage(anyhow!(
                    "--max-size {s:?} is not a size; write e.g. 25M, 1G or 1048576"
                ))
            })
        })
        .transpose()?;
    let (since, before) = (date("--since", &a.since)?, date("--before", &a.before)?);
    if let (Some(s), Some(b)) = (since, before) {
        if s >= b {
            return Err(Failure::Usage(anyhow!(
                "--since must be earlier than --before"
            )));
        }
    }
    Ok(CopyOptions {
        connections: usize::from(a.connections),
        dry_run: a.dry_run,
        max_size,
        since,
        before,
        skip_deleted: a.skip_deleted,
        batch_messages: usize::from(a.batch),
        plan: PlanOptions {
            include: regex("--include", &a.include)?,
            exclude: regex("--exclude", &a.exclude)?,
            folder_map,
        },
        ..Default::default()
    })
}

/// `$XDG_DATA_HOME/mailport/state.db`, else `~/.local/share/mailport/state.db`.
fn default_state_path() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/share"))
        })?;
    Some(base.join("mailport").join("state.db"))
}

fn endpoint(flag: &str, url: &str) -> Result<Endpoint, Failure> {
    url.parse::<Endpoint>()
        .map_err(|e| Failure::Usage(anyhow!("{flag}: {e}")))
}

async fn run_copy(a: CopyArgs) -> Result<bool, Failure> {
    let from = endpoint("--from", &a.from)?;
    let to = endpoint("--to", &a.to)?;
    let opts = options(&a)?;
    if a.tls_insecure {
        eprintln!("mailport: WARNING: --tls-insecure: server certificates are NOT verified; anyone on the path can read the passwords and mail");
    }
    let from_password = password::obtain(
        a.from_password_file.as_deref(),
        "MAILPORT_FROM_PASSWORD",
        "source",
        &from.user,
    )
    .map_err(Failure::Usage)?;
    let to_password = password::obtain(
        a.to_password_file.as_deref(),
        "MAILPORT_TO_PASSWORD",
        "destination",
        &to.user,
    )
    .map_err(Failure::Usage)?;
    let side = |which: &str, endpoint: Endpoint, password, ca_file| {
        Connector::new(EndpointConfig {
            endpoint,
            password,
            tls: TlsOptions {
                ca_file,
                insecure: a.tls_insecure,
            },
            allow_plaintext: a.allow_plaintext,
            timeout: Duration::from_secs(a.timeout),
        })
        .map_err(|e| Failure::Usage(anyhow!("{which} TLS settings: {e}")))
    };
    let source = side("source", from, from_password, a.from_tls_ca.clone())?;
    let destination = side("destination", to, to_password, a.to_tls_ca.clone())?;

    let mut opts = opts;
    opts.sync_deletes = a.sync_deletes;
    if a.sync_deletes && a.no_state {
        return Err(Failure::Usage(anyhow!(
            "--sync-deletes needs the state file; drop --no-state"
        )));
    }
    if !a.no_state && !a.dry_run {
        let path = match &a.state {
            Some(p) => p.clone(),
            None => default_state_path().ok_or_else(|| {
                Failure::Usage(anyhow!(
                    "cannot find a home for the state file; give --state PATH"
                ))
            })?,
        };
        let store = mailport_engine::Store::open_sqlite(&path)
            .await
            .map_err(|e| Failure::Usage(anyhow!("{e} (file {})", path.display())))?;
        opts.ledger = Some(mailport_engine::Ledger {
            store,
            pair: format!(
                "{} -> {}",
                source.config.endpoint, destination.config.endpoint
            ),
        });
    }

    let bars = std::io::stderr().is_terminal();
    let (progress, bar_handle): (Arc<dyn Progress>, Option<Arc<progress::Bars>>) = if bars {
        let b = Arc::new(progress::Bars::new());
        (b.clone(), Some(b))
    } else {
        (Arc::new(progress::Lines::new()), None)
    };
    let result = mailport_engine::copy(source, destination, opts, progress).await;
    if let Some(b) = bar_handle {
        b.finish();
    }
    let report = result.map_err(|e| {
        let err = anyhow!(e).context("copy failed");
        Failure::Connection(err)
    })?;
    if a.json {
        let json = serde_json::to_string_pretty(&report)
            .context("cannot encode the summary")
            .map_err(Failure::Usage)?;
        println!("{json}");
    } else {
        print!("{}", summary::table(&report));
    }
    Ok(report.is_clean())
}
