//! Flags of the project commands: `project`, `mailbox`, `run`, `worker`,
//! `status`, `stop`, `retry`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::args::{AdminStyleArg, Selection};

/// Where the project lives (shared by every project command).
#[derive(Args, Debug, Clone)]
pub struct Where {
    /// The state store: a SQLite file (default $XDG_DATA_HOME/mailport/state.db), or
    /// postgres://user:pass@host/db for workers on several machines. Also MAILPORT_STATE.
    #[arg(long, value_name = "PATH|URL", env = "MAILPORT_STATE", global = true)]
    pub state: Option<String>,
    /// The project key file. Default: keys/PROJECT.key beside a SQLite state file; or
    /// the key itself in MAILPORT_KEY (workers on other machines).
    #[arg(long, value_name = "FILE", global = true)]
    pub key_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// Create a project: the servers, how to log in for users, and the copy options every
    /// mailbox gets. Writes the project key (printed path; keep it safe).
    Create(Box<CreateArgs>),
    /// Change who logs in for users: add or replace a side's admin (its password:
    /// MAILPORT_FROM_ADMIN_PASSWORD / MAILPORT_TO_ADMIN_PASSWORD or a prompt).
    Update {
        name: String,
        #[arg(long, value_name = "LOGIN")]
        from_admin: Option<String>,
        #[arg(long, value_enum, value_name = "STYLE", default_value_t = AdminStyleArg::Authzid)]
        from_admin_style: AdminStyleArg,
        #[arg(long, value_name = "LOGIN")]
        to_admin: Option<String>,
        #[arg(long, value_enum, value_name = "STYLE", default_value_t = AdminStyleArg::Authzid)]
        to_admin_style: AdminStyleArg,
        /// Add a mail domain of the organisation (repeatable).
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
    },
    /// List the projects in the state store, with their mailboxes by state.
    List,
    /// Every setting of a project (secrets masked).
    Show { name: String },
    /// Delete a project, its mailboxes, their history and ledger (not the mail).
    Delete {
        name: String,
        /// Needed: deleting forgets what was copied.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The project's name (letters, digits, '-', '_', '.').
    pub name: String,
    /// The source server: imaps://mail.old.example[:port] (each mailbox's login is the user).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The destination server: imaps://mail.new.example[:port].
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Log in to the source as this administrator for mailboxes whose password is '-'
    /// (its password: MAILPORT_FROM_ADMIN_PASSWORD or a prompt).
    #[arg(long, value_name = "LOGIN")]
    pub from_admin: Option<String>,
    #[arg(long, value_enum, value_name = "STYLE", default_value_t = AdminStyleArg::Authzid)]
    pub from_admin_style: AdminStyleArg,
    /// Log in to the destination as this administrator (for mailboxes without a
    /// destination password: the usual case). Password: MAILPORT_TO_ADMIN_PASSWORD or a prompt.
    #[arg(long, value_name = "LOGIN")]
    pub to_admin: Option<String>,
    #[arg(long, value_enum, value_name = "STYLE", default_value_t = AdminStyleArg::Authzid)]
    pub to_admin_style: AdminStyleArg,
    #[command(flatten)]
    pub selection: Selection,
    /// Connections per side per mailbox.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub connections: u16,
    /// Messages per APPEND batch when the destination offers MULTIAPPEND.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch: u16,
    /// Verify every mailbox after its full pass.
    #[arg(long)]
    pub verify: bool,
    /// Open at most this many connections to one host, all workers of all machines
    /// together (fewer mailboxes run at once).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_connections_per_host: Option<u16>,
    /// Run at most this many mailboxes at once, all workers of all machines together.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_running: Option<u32>,
    /// Copy at most this many bytes per second for the whole project (K, M, G suffixes),
    /// shared by the mailboxes that may run at once (needs --max-running or
    /// --max-connections-per-host).
    #[arg(long, value_name = "SIZE")]
    pub max_bytes_per_second: Option<String>,
    /// Copy at most this many messages per second for the whole project, shared like
    /// --max-bytes-per-second.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_messages_per_second: Option<u64>,
    /// Trust the CA certificates in this PEM file for the source.
    #[arg(long, value_name = "FILE")]
    pub from_tls_ca: Option<PathBuf>,
    /// Trust the CA certificates in this PEM file for the destination.
    #[arg(long, value_name = "FILE")]
    pub to_tls_ca: Option<PathBuf>,
    /// Allow imap:// without STARTTLS (passwords travel unencrypted).
    #[arg(long)]
    pub allow_plaintext: bool,
    /// Seconds to wait for any server reply.
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// A mail domain of the organisation (repeatable): mail for it is routed by the proxy's
    /// SMTP front; the domains of the mailboxes' logins count too.
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum MailboxCommand {
    /// Add or update mailboxes from a CSV file (mailport's, Microsoft 365's or imapsync's
    /// format; see docs/projects.md). Nothing is imported unless every row is good.
    Import {
        project: String,
        file: PathBuf,
        /// mailport, m365 or imapsync (default: detected from the file).
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
        /// Import the good rows and list the bad ones.
        #[arg(long)]
        skip_bad_rows: bool,
    },
    /// Add or update one mailbox. Its source password: MAILPORT_FROM_PASSWORD or a prompt;
    /// --admin for the project's admin, --ask-user to wait for the user's.
    Add {
        project: String,
        login: String,
        /// Log in to the source with the project's --from-admin.
        #[arg(long, conflicts_with = "ask_user")]
        admin: bool,
        /// No password yet: the mailbox waits for its user's.
        #[arg(long)]
        ask_user: bool,
        /// The destination login (default: the same).
        #[arg(long, value_name = "LOGIN")]
        destination_login: Option<String>,
        /// Log in to the destination with the user's own password (MAILPORT_TO_PASSWORD or a
        /// prompt) instead of the project's --to-admin.
        #[arg(long)]
        destination_password: bool,
        /// Only folders matching this regex.
        #[arg(long, value_name = "REGEX")]
        folders: Option<String>,
        /// Put every folder under this destination folder.
        #[arg(long, value_name = "FOLDER")]
        destination_prefix: Option<String>,
    },
    /// Remove a mailbox and its history from the project (not its mail).
    Remove { project: String, login: String },
    /// Log in to both sides for every mailbox (or the --only ones); copy nothing.
    VerifyCredentials {
        project: String,
        #[arg(long, value_name = "LOGIN", num_args = 1..)]
        only: Vec<String>,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassArg {
    /// Everything not yet copied (the first pass, or a resumed one).
    Full,
    /// What arrived since the last pass.
    Delta,
    /// Only mail received before --before: the bulk, days before the cut-over.
    Prestage,
    /// Read both sides in full and compare; change nothing.
    Verify,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    pub project: String,
    /// Mailboxes at once. Default: two per CPU core, and no more than the project's
    /// --max-connections-per-host lets run.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,
    #[arg(long, value_enum, default_value_t = PassArg::Full)]
    pub pass: PassArg,
    /// With --pass prestage: only messages received before this date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub before: Option<String>,
    /// Only these mailboxes.
    #[arg(long, value_name = "LOGIN", num_args = 1..)]
    pub only: Vec<String>,
    /// Seconds a mailbox stays claimed without a sign of life from its worker.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(3..))]
    pub lease: u64,
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    pub project: String,
    /// Mailboxes at once on this machine (default as for `run`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(3..))]
    pub lease: u64,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    pub project: String,
    /// One mailbox, with the history of its passes.
    pub login: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// For spreadsheets (the last line is the total).
    Csv,
    /// For scripts.
    Json,
    /// One self-contained page: the table, totals, failures by reason.
    Html,
}
