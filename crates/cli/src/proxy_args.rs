//! Flags of `mailport proxy` and `mailport accounts`.

use std::net::SocketAddr;

use clap::{Args, Subcommand, ValueEnum};
use mailport_net::tls_server::CertSpec;

#[derive(Args, Debug)]
#[command(args_override_self = true)]
pub struct ProxyArgs {
    /// The project whose servers the proxy stands between (mailport project create).
    pub project: String,
    /// Read flags from a TOML file: each key a long flag (listen_imaps = ["0.0.0.0:993"],
    /// tls_cert = ["NAME=CERT,KEY"], metrics = "127.0.0.1:9187", proxy_protocol = true);
    /// flags given here override a value and add to a list.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Listen for IMAP with STARTTLS here, e.g. 0.0.0.0:143 (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub listen_imap: Vec<SocketAddr>,
    /// Listen for IMAP in TLS (implicit) here, e.g. 0.0.0.0:993 (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub listen_imaps: Vec<SocketAddr>,
    /// Listen for POP3 with STLS here, e.g. 0.0.0.0:110 (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub listen_pop3: Vec<SocketAddr>,
    /// Listen for POP3 in TLS (implicit) here, e.g. 0.0.0.0:995 (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub listen_pop3s: Vec<SocketAddr>,
    /// Listen for incoming mail (SMTP, STARTTLS offered) here, e.g. 0.0.0.0:25 (repeatable):
    /// each recipient's mail goes to the server that serves its mailbox that minute.
    #[arg(long, value_name = "ADDR")]
    pub listen_smtp: Vec<SocketAddr>,
    /// Listen for users' clients sending mail (submission, STARTTLS, AUTH required) here,
    /// e.g. 0.0.0.0:587 (repeatable): a login is checked like an IMAP login and the session
    /// relayed to the submission service of the server that serves the account.
    #[arg(long, value_name = "ADDR")]
    pub listen_submission: Vec<SocketAddr>,
    /// Listen for submission in TLS (implicit) here, e.g. 0.0.0.0:465 (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub listen_submissions: Vec<SocketAddr>,
    /// The old server's submission service: smtp://HOST[:PORT] (587, STARTTLS) or
    /// smtps://HOST[:PORT] (465) (default: smtp:// on 587 of the project's source host).
    #[arg(long, value_name = "URL")]
    pub source_submission: Option<String>,
    /// The new server's submission service (default: smtp:// on 587 of the project's
    /// destination host).
    #[arg(long, value_name = "URL")]
    pub destination_submission: Option<String>,
    /// The old server's MTA, for mail of accounts not moved and of addresses without a
    /// mailbox: smtp://HOST[:PORT] or lmtp://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub relay_to: Option<String>,
    /// The new server's MTA, for mail of moved accounts: smtp://HOST[:PORT] or
    /// lmtp://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub deliver_to: Option<String>,
    /// Addresses of the organisation's domains without a mailbox in the project: relay
    /// (to the old server, which knows its aliases and lists) or reject.
    #[arg(long, value_enum, default_value_t = UnknownRecipientsArg::Relay)]
    pub unknown_recipients: UnknownRecipientsArg,
    /// The name the SMTP and submission fronts greet with (default: this machine's name).
    #[arg(long, value_name = "NAME")]
    pub smtp_hostname: Option<String>,
    /// The largest message the SMTP front takes (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "50M")]
    pub max_message_size: String,
    /// The old server's POP3 service, for POP3 logins (default: the project's source host,
    /// pop3s:// on 995 if its IMAP is imaps://, else pop3:// on 110).
    #[arg(long, value_name = "URL")]
    pub source_pop3: Option<String>,
    /// The new server's POP3 service (default: beside the project's destination, as above).
    #[arg(long, value_name = "URL")]
    pub destination_pop3: Option<String>,
    /// A certificate for every hostname clients use: HOSTNAME=CERT.pem,KEY.pem (repeatable;
    /// the first is the default; *.example.org covers one label). SIGHUP reloads them.
    #[arg(long, value_name = "NAME=CERT,KEY")]
    pub tls_cert: Vec<CertSpec>,
    /// Take passwords without TLS (LOGIN on a plain connection). Only for tests or a
    /// trusted network.
    #[arg(long)]
    pub allow_plaintext: bool,
    /// Logins the project does not know (no mailbox, not seen before): adopt (check against
    /// the source and add the mailbox), pass (relay to the source untouched: nothing
    /// captured or moved) or refuse.
    #[arg(long, value_enum, default_value_t = UnknownUsersArg::Adopt)]
    pub unknown_users: UnknownUsersArg,
    /// Mailboxes this process moves at once in the background.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,
    /// Connections open at once from one client address.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections_per_address: u32,
    /// After its full pass, a delta pass this often for each account still on the old
    /// server, so its final pass has little left (e.g. 15m, 1h; "off" for none).
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = every)]
    pub delta_every: Every,
    /// Moved accounts: a short delta pass this often for mail still reaching the old
    /// server, until `mailport accounts stop-following` ("off" for none).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = every)]
    pub follow_every: Every,
    /// manual: accounts move when `mailport accounts cutover` says so; auto: each one
    /// moves by itself once a delta pass finds at most --cutover-below new messages.
    #[arg(long, value_enum, default_value_t = CutoverArg::Manual)]
    pub cutover: CutoverArg,
    /// With --cutover auto: how few new messages a delta pass may find for the account
    /// to move.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub cutover_below: u64,
    /// Keep captured passwords after the last pass that needs them (default: erased once
    /// a moved account is no longer followed; the hash that checks logins stays).
    #[arg(long)]
    pub keep_credentials: bool,
    /// A command (run by sh) that creates the account on the new server, run after each
    /// newly captured password; it reads the login and the password on standard input, one
    /// per line (never in its arguments or environment). Its failures are events.
    #[arg(long, value_name = "COMMAND")]
    pub provision_command: Option<String>,
    /// Answer Prometheus scrapes here (GET /metrics), e.g. 127.0.0.1:9187.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Every connection starts with a PROXY protocol header (v1 or v2) from a load
    /// balancer: the client's address is the one it names (connections without one are
    /// dropped).
    #[arg(long)]
    pub proxy_protocol: bool,
    /// background: a first login is served by the old server while its mailbox moves;
    /// migrate-now: it waits while the mailbox is copied and cut over (small mailboxes),
    /// at most --migrate-now-within, then goes to the new server.
    #[arg(long, value_enum, default_value_t = FirstLoginArg::Background)]
    pub on_first_login: FirstLoginArg,
    /// With --on-first-login migrate-now: the longest a first login waits (the move goes
    /// on in the background after that). Mail clients give up after about a minute.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = every)]
    pub migrate_now_within: Every,
    /// At SIGTERM: how long open sessions may go on after being told to log in again.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = every)]
    pub drain: Every,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    DovecotPasswd,
    Csv,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportScheme {
    Argon2id,
    Sha512Crypt,
    Bcrypt,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownRecipientsArg {
    Relay,
    Reject,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstLoginArg {
    Background,
    MigrateNow,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutoverArg {
    Manual,
    Auto,
}

/// A period, or none ("off").
#[derive(Clone, Copy, Debug)]
pub struct Every(pub Option<std::time::Duration>);

/// `90s`, `15m`, `2h`, `1d`, `2w` in seconds.
fn seconds(s: &str) -> Option<u64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().ok()?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// A duration, or `off`.
fn every(s: &str) -> Result<Every, String> {
    match (s, seconds(s)) {
        ("off", _) => Ok(Every(None)),
        (_, Some(0)) => Err(format!("{s:?}: say off for none")),
        (_, Some(n)) => Ok(Every(Some(std::time::Duration::from_secs(n)))),
        (_, None) => Err(format!(
            "{s:?}: give a number and a unit (s, m, h, d), e.g. 30s, 15m, 2h, 1d, or off"
        )),
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum UnknownUsersArg {
    Adopt,
    Pass,
    Refuse,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AccountsArgs {
    #[command(subcommand)]
    pub action: Option<AccountsAction>,
    /// The project (to list its accounts).
    #[arg(required = true)]
    pub project: Option<String>,
    /// One JSON array on standard output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum AccountsAction {
    /// Move accounts to the new server now: logins wait ("try again later") while a last
    /// delta pass and a verify run; then the new server serves them. A failure rolls back.
    Cutover {
        project: String,
        /// The accounts to move.
        #[arg(required_unless_present = "all_ready", conflicts_with = "all_ready")]
        logins: Vec<String>,
        /// Every account still on the old server whose mailbox has completed a pass.
        #[arg(long)]
        all_ready: bool,
    },
    /// Write the captured passwords hashed for the new server (e.g. a Dovecot passwd-file),
    /// so that users keep their passwords once the proxy is retired.
    ExportPasswords {
        project: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::DovecotPasswd)]
        format: ExportFormat,
        /// argon2id works for every account that logged in (the proxy's own hash);
        /// sha512-crypt and bcrypt need the captured password still kept.
        #[arg(long, value_enum, default_value_t = ExportScheme::Argon2id)]
        scheme: ExportScheme,
        /// Write here (created readable by its owner only) instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// End the short delta passes of moved accounts (once the MX or the SMTP front
    /// delivers their mail to the new server); their captured passwords are then erased
    /// by the proxy unless it runs with --keep-credentials.
    StopFollowing {
        project: String,
        /// The accounts.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        logins: Vec<String>,
        /// Every moved account.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Args, Debug)]
pub struct RetireArgs {
    /// The project (mailport project create) the proxy serves.
    pub project: String,
    /// The window: mail and passes of the last 30d, 12h, ... (s, m, h, d, w), or since a
    /// date (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DURATION|DATE", default_value = "30d", value_parser = since)]
    pub since: Since,
    #[arg(long, value_enum, default_value_t = RetireFormat::Table)]
    pub format: RetireFormat,
    /// Write to this file (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

/// The start of a window: this long before now, or a fixed time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    Ago(u64),
    At(i64),
}

impl Since {
    /// Unix seconds, given the time now.
    pub fn at(self, now: i64) -> i64 {
        match self {
            Since::Ago(s) => now - s as i64,
            Since::At(t) => t,
        }
    }
}

fn since(s: &str) -> Result<Since, String> {
    if let Some(day) = mailport_mail::date::parse_ymd(s) {
        return Ok(Since::At(day));
    }
    match seconds(s) {
        Some(n) => Ok(Since::Ago(n)),
        None => Err(format!(
            "{s:?}: give a duration such as 30d, 12h or 2w, or a date such as 2026-11-01"
        )),
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetireFormat {
    /// For people, on a terminal.
    Table,
    /// For spreadsheets: one line per item, the verdict last.
    Csv,
    /// For scripts.
    Json,
    /// One self-contained page.
    Html,
}
