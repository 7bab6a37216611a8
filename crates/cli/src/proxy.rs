//! `mailport proxy` (the AutoPort front: listeners until SIGTERM or Ctrl-C,
//! certificates reloaded on SIGHUP) and `mailport accounts` (every account
//! the proxy has seen). The work is the proxy crate's.

use std::sync::Arc;

use anyhow::anyhow;
use comfy_table::Table;
use mailport_engine::{Cancel, ErrorKind};
use mailport_mail::date::format_utc;
use mailport_net::tls_server::Certificates;
use mailport_net::Endpoint;
use mailport_proxy::submission_front::SubmissionConfig;
use mailport_proxy::{
    Listen, Pop3Servers, Protocol, Proxy, ProxyConfig, Schedule, Submission, SubmissionServers,
    UnknownUsers,
};

use crate::project_args::Where;
use crate::projects::open_project;
use crate::proxy_args::{
    AccountsAction, AccountsArgs, CutoverArg, ExportFormat, ExportScheme, FirstLoginArg, ProxyArgs,
    UnknownRecipientsArg, UnknownUsersArg,
};
use crate::Failure;

pub async fn proxy(w: &Where, a: ProxyArgs) -> Result<bool, Failure> {
    let listen: Vec<Listen> = a
        .listen_imap
        .iter()
        .map(|&s| Listen::Imap(s))
        .chain(a.listen_imaps.iter().map(|&s| Listen::Imaps(s)))
        .chain(a.listen_pop3.iter().map(|&s| Listen::Pop3(s)))
        .chain(a.listen_pop3s.iter().map(|&s| Listen::Pop3s(s)))
        .chain(a.listen_smtp.iter().map(|&s| Listen::Smtp(s)))
        .chain(a.listen_submission.iter().map(|&s| Listen::Submission(s)))
        .chain(a.listen_submissions.iter().map(|&s| Listen::Submissions(s)))
        .collect();
    if listen.is_empty() {
        return Err(Failure::Usage(anyhow!(
            "nothing to listen on: give --listen-imap ADDR (e.g. 0.0.0.0:143), --listen-imaps ADDR (0.0.0.0:993), --listen-pop3 ADDR (0.0.0.0:110), --listen-pop3s ADDR (0.0.0.0:995) --listen-smtp ADDR (0.0.0.0:25), --listen-submission ADDR (0.0.0.0:587) and/or --listen-submissions ADDR (0.0.0.0:465)"
        )));
    }
    if a.tls_cert.is_empty() && !a.allow_plaintext {
        return Err(Failure::Usage(anyhow!(
            "without --tls-cert HOSTNAME=CERT.pem,KEY.pem clients could only send passwords in plain text: give a certificate (or --allow-plaintext on a trusted network)"
        )));
    }
    let certificates = match a.tls_cert.is_empty() {
        true => None,
        false => Some(Certificates::load(&a.tls_cert).map_err(|e| Failure::Usage(anyhow!(e)))?),
    };
    let project = Arc::new(open_project(w, &a.project).await?);
    let pop3 = match (&a.source_pop3, &a.destination_pop3) {
        (None, None) => None,
        (source, destination) => {
            let usage = |e: String| Failure::Usage(anyhow!(e));
            let beside = Pop3Servers::beside(&project).map_err(usage)?;
            let pick = |given: &Option<String>, default: Endpoint| match given {
                Some(url) => Pop3Servers::parse(url).map_err(usage),
                None => Ok(default),
            };
            Some(Pop3Servers {
                source: pick(source, beside.source)?,
                destination: pick(destination, beside.destination)?,
            })
        }
    };
    let smtp = smtp_config(&a).map_err(|e| Failure::Usage(anyhow!(e)))?;
    let submission = submission_config(&a, &project).map_err(|e| Failure::Usage(anyhow!(e)))?;
    let config = ProxyConfig {
        pop3,
        smtp,
        submission,
        allow_plaintext: a.allow_plaintext,
        unknown_users: match a.unknown_users {
            UnknownUsersArg::Adopt => UnknownUsers::Adopt,
            UnknownUsersArg::Pass => UnknownUsers::Pass,
            UnknownUsersArg::Refuse => UnknownUsers::Refuse,
        },
        connections_per_address: a.connections_per_address as usize,
        workers: usize::from(a.workers),
        schedule: Schedule {
            delta_every: a.delta_every.0,
            follow_every: a.follow_every.0,
            cutover_below: (a.cutover == CutoverArg::Auto).then_some(a.cutover_below),
            keep_credentials: a.keep_credentials,
            ..Schedule::default()
        },
        provision_command: a.provision_command.clone(),
        metrics: a.metrics,
        proxy_protocol: a.proxy_protocol,
        drain: a.drain.0.unwrap_or_default(),
        migrate_now: match a.on_first_login {
            FirstLoginArg::Background => None,
            FirstLoginArg::MigrateNow => Some(a.migrate_now_within.0.unwrap_or_default()),
        },
        ..ProxyConfig::new(listen, certificates.clone())
    };
    let proxy = Proxy::bind(project, config)
        .await
        .map_err(|e| Failure::Failed(ErrorKind::Connection, anyhow!(e)))?;
    for l in proxy.local_addrs() {
        let how = match (l.implicit_tls(), l.protocol()) {
            (true, _) => "over TLS",
            (false, Protocol::Pop3) => "(STLS)",
            (false, _) => "(STARTTLS)",
        };
        let (protocol, addr) = (l.protocol().as_str(), l.addr());
        eprintln!("mailport: proxy listening for {protocol} {how} on {addr}");
    }
    if let Some(addr) = proxy.metrics_addr() {
        eprintln!("mailport: metrics at http://{addr}/metrics");
    }
    let cancel = Cancel::default();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!(
            "mailport: proxy stopping: no new sessions; open ones are told to log in again; moves in flight stop after their batch"
        );
        stopper.cancel();
    });
    if let Some(certs) = certificates {
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                match certs.reload() {
                    Ok(()) => eprintln!("mailport: certificates reloaded"),
                    Err(e) => {
                        eprintln!("mailport: certificates not reloaded (the old ones stay): {e}")
                    }
                }
            }
        });
    }
    proxy.run(cancel).await;
    Ok(true)
}

pub async fn accounts(w: &Where, a: AccountsArgs) -> Result<bool, Failure> {
    match a.action {
        Some(AccountsAction::Cutover {
            project,
            logins,
            all_ready,
        }) => return cutover(w, &project, logins, all_ready).await,
        Some(AccountsAction::StopFollowing {
            project,
            logins,
            all,
        }) => return stop_following(w, &project, logins, all).await,
        Some(AccountsAction::ExportPasswords {
            project,
            format,
            scheme,
            output,
        }) => return export_passwords(w, &project, format, scheme, output).await,
        None => {}
    }
    let project = a.project.unwrap_or_default();
    let p = open_project(w, &project).await?;
    let failed = |e: mailport_store::StoreError| Failure::Failed(ErrorKind::State, anyhow!(e));
    let accounts = p.store.accounts(&p.name).await.map_err(failed)?;
    let mailboxes: std::collections::HashMap<String, mailport_store::MailboxRow> = p
        .store
        .mailboxes(&p.name)
        .await
        .map_err(failed)?
        .into_iter()
        .map(|m| (m.login.clone(), m))
        .collect();
    let mut passes: std::collections::HashMap<String, usize> = Default::default();
    for pass in p.store.passes(&p.name, None).await.map_err(failed)? {
        *passes.entry(pass.login).or_default() += 1;
    }
    let passes_of = |login: &str| passes.get(login).copied().unwrap_or(0);
    if a.json {
        let rows: Vec<_> = accounts
            .iter()
            .map(|acc| {
                let m = mailboxes.get(&acc.login);
                serde_json::json!({
                    "login": acc.login,
                    "served_by": acc.served_by.as_str(),
                    "first_login_at": acc.first_login_at,
                    "last_login_at": acc.last_login_at,
                    "moved_at": acc.moved_at,
                    "following": acc.following,
                    "mailbox_state": m.map(|m| m.state.clone()),
                    "passes": passes_of(&acc.login),
                    "error": acc.detail.clone().or_else(|| m.and_then(|m| m.error.clone())),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(true);
    }
    if accounts.is_empty() {
        println!("{}: no account has logged in through the proxy yet", p.name);
        return Ok(true);
    }
    let mut t = Table::new();
    t.set_header(vec![
        "account",
        "served by",
        "first login",
        "last login",
        "moved",
        "following",
        "mailbox",
        "passes",
        "last error",
    ]);
    for acc in &accounts {
        let m = mailboxes.get(&acc.login);
        t.add_row(vec![
            acc.login.clone(),
            acc.served_by.as_str().to_string(),
            format_utc(acc.first_login_at),
            format_utc(acc.last_login_at),
            acc.moved_at.map(format_utc).unwrap_or_default(),
            match (acc.served_by, acc.following) {
                (mailport_store::ServedBy::Destination, true) => "yes",
                (mailport_store::ServedBy::Destination, false) => "no",
                _ => "",
            }
            .to_string(),
            m.map(|m| m.state.clone()).unwrap_or_default(),
            passes_of(&acc.login).to_string(),
            acc.detail
                .clone()
                .or_else(|| m.and_then(|m| m.error.clone()))
                .unwrap_or_default(),
        ]);
    }
    println!("{t}");
    Ok(true)
}

/// `accounts cutover`: each account's final pass, one after the other; true
/// when every one moved.
async fn cutover(
    w: &Where,
    project: &str,
    logins: Vec<String>,
    all_ready: bool,
) -> Result<bool, Failure> {
    let p = Arc::new(open_project(w, project).await?);
    let failed = |e: mailport_store::StoreError| Failure::Failed(ErrorKind::State, anyhow!(e));
    let logins = match all_ready {
        false => logins,
        true => {
            let ready: std::collections::HashSet<String> = p
                .store
                .mailboxes(&p.name)
                .await
                .map_err(failed)?
                .into_iter()
                .filter(|m| m.last_good_at.is_some() && m.state == "completed")
                .map(|m| m.login)
                .collect();
            p.store
                .accounts(&p.name)
                .await
                .map_err(failed)?
                .into_iter()
                .filter(|a| {
                    a.served_by == mailport_store::ServedBy::Source && ready.contains(&a.login)
                })
                .map(|a| a.login)
                .collect()
        }
    };
    if logins.is_empty() {
        println!("{project}: no account is ready to move");
        return Ok(true);
    }
    let mut all = true;
    for login in logins {
        match mailport_proxy::cutover::cut_over(&p, &login).await {
            Ok(window) => println!(
                "{login}: moved to the new server (logins waited {:.1} s)",
                window.as_secs_f64()
            ),
            Err(e) => {
                all = false;
                println!("{e}");
            }
        }
    }
    Ok(all)
}

/// `accounts stop-following`: true when every account named was followed.
async fn stop_following(
    w: &Where,
    project: &str,
    logins: Vec<String>,
    all: bool,
) -> Result<bool, Failure> {
    let p = open_project(w, project).await?;
    let failed = |e: mailport_store::StoreError| Failure::Failed(ErrorKind::State, anyhow!(e));
    if all {
        let n = p
            .store
            .set_following(&p.name, None, false)
            .await
            .map_err(failed)?;
        println!("{}: {n} moved account(s) no longer followed", p.name);
        return Ok(true);
    }
    let mut every = true;
    for login in &logins {
        match p
            .store
            .set_following(&p.name, Some(login), false)
            .await
            .map_err(failed)?
        {
            0 => {
                eprintln!(
                    "mailport: {login}: not a moved account of {} (see mailport accounts {})",
                    p.name, p.name
                );
                every = false;
            }
            _ => println!("{login}: no longer followed"),
        }
    }
    Ok(every)
}

/// `accounts export-passwords`: true when every account was exported.
async fn export_passwords(
    w: &Where,
    project: &str,
    format: ExportFormat,
    scheme: ExportScheme,
    output: Option<std::path::PathBuf>,
) -> Result<bool, Failure> {
    use mailport_proxy::export::{export, Format, Scheme};
    let p = open_project(w, project).await?;
    let format = match format {
        ExportFormat::DovecotPasswd => Format::DovecotPasswd,
        ExportFormat::Csv => Format::Csv,
    };
    let scheme = match scheme {
        ExportScheme::Argon2id => Scheme::Argon2id,
        ExportScheme::Sha512Crypt => Scheme::Sha512Crypt,
        ExportScheme::Bcrypt => Scheme::Bcrypt,
    };
    let exported = export(&p, scheme, format)
        .await
        .map_err(|e| Failure::Failed(ErrorKind::State, anyhow!(e)))?;
    for (login, why) in &exported.missing {
        eprintln!("mailport: {login}: not exported: {why}");
    }
    match &output {
        None => print!("{}", exported.text),
        Some(path) => {
            write_private(path, exported.text.as_bytes()).map_err(|e| {
                Failure::Failed(
                    ErrorKind::LocalStore,
                    anyhow!("cannot write {}: {e}", path.display()),
                )
            })?;
            eprintln!(
                "mailport: {} password(s) written to {} ({})",
                exported.lines,
                path.display(),
                scheme.dovecot()
            );
        }
    }
    Ok(exported.missing.is_empty())
}

/// Creates (or truncates) a file readable by its owner only: hashes are
/// secrets too (offline guessing).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// The SMTP front's settings from the flags; none without an SMTP listener.
/// The name the SMTP fronts greet with.
fn smtp_hostname(a: &ProxyArgs) -> String {
    a.smtp_hostname
        .clone()
        .unwrap_or_else(mailport_project::holder::hostname)
}

fn submission_config(
    a: &ProxyArgs,
    project: &mailport_project::Project,
) -> Result<Option<SubmissionConfig>, String> {
    if a.listen_submission.is_empty() && a.listen_submissions.is_empty() {
        return Ok(None);
    }
    let beside = SubmissionServers::beside(project)?;
    let pick = |given: &Option<String>, default: Submission| match given {
        Some(url) => Submission::parse(url),
        None => Ok(default),
    };
    Ok(Some(SubmissionConfig {
        hostname: smtp_hostname(a),
        servers: SubmissionServers {
            source: pick(&a.source_submission, beside.source)?,
            destination: pick(&a.destination_submission, beside.destination)?,
        },
    }))
}

fn smtp_config(a: &ProxyArgs) -> Result<Option<mailport_proxy::smtp_front::SmtpConfig>, String> {
    use mailport_proxy::smtp_front::{Mta, SmtpConfig};
    if a.listen_smtp.is_empty() {
        return Ok(None);
    }
    let (Some(relay_to), Some(deliver_to)) = (&a.relay_to, &a.deliver_to) else {
        return Err("--listen-smtp needs --relay-to smtp://OLD-MTA[:PORT] (the old server's mail system) and --deliver-to smtp://NEW-MTA[:PORT] (the new one's)".into());
    };
    let hostname = smtp_hostname(a);
    let max_size = mailport_engine::copy::settings::parse_size(&a.max_message_size)
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            format!(
                "--max-message-size {:?} is not a size like 25M",
                a.max_message_size
            )
        })?;
    let mut config = SmtpConfig::new(hostname, Mta::parse(relay_to)?, Mta::parse(deliver_to)?);
    config.reject_unknown = a.unknown_recipients == UnknownRecipientsArg::Reject;
    config.max_size = max_size;
    Ok(Some(config))
}
