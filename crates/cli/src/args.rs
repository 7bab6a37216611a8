//! Command-line flags (layer 1) and their validation into engine options (layer 2).

use std::path::PathBuf;

use crate::project_args::{
    MailboxCommand, ProjectCommand, ReportFormat, RunArgs, StatusArgs, Where, WorkerArgs,
};
use clap::{Args, Parser, Subcommand};
use mailport_net::Fingerprint;

fn fingerprint(s: &str) -> Result<Fingerprint, String> {
    s.parse()
}

pub const EXIT_HELP: &str = "\
Exit codes:
  0  everything copied (or already present, or skipped as asked)
  1  some messages or folders failed (the summary says which and why)
  2  usage error (bad flag, URL, regex, date or size)
  3  connection, login or server failure
  4  a Maildir or mbox cannot be read
  5  the state file cannot be opened
  130  stopped by Ctrl-C (run the same command again to continue)
Each is explained in docs/errors.md.";

#[derive(Parser, Debug)]
#[command(name = "mailport", version, about = "Move mailboxes between mail servers: nothing lost, nothing twice.", after_help = EXIT_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Copy one mailbox: from IMAP, POP3, Maildir or mbox to IMAP or Maildir.
    #[command(after_long_help = COPY_HELP)]
    Copy(CopyArgs),
    /// Check, independently of any state, that every source message is on the destination.
    #[command(after_long_help = VERIFY_HELP)]
    Verify(VerifyArgs),
    /// Connect and log in to one or both servers and show what they are and hold; changes nothing.
    #[command(after_long_help = CHECK_HELP, mut_arg("to", |a| a.required(false)))]
    Check(CheckArgs),
    /// Projects: many mailboxes moved with one set of settings (docs/projects.md).
    Project {
        #[command(flatten)]
        place: Where,
        #[command(subcommand)]
        command: ProjectCommand,
    },
    /// A project's mailboxes: import a CSV, add, remove, check their credentials.
    Mailbox {
        #[command(flatten)]
        place: Where,
        #[command(subcommand)]
        command: MailboxCommand,
    },
    /// AutoPort: stand at the old server's address; each user's mailbox moves to the new
    /// server after their login, with the same password (docs/proxy.md).
    Proxy {
        #[command(flatten)]
        place: Where,
        #[command(flatten)]
        args: crate::proxy_args::ProxyArgs,
    },
    /// Every account the proxy has seen: where it is served, logins, moves, last error.
    Accounts {
        #[command(flatten)]
        place: Where,
        #[command(flatten)]
        args: crate::proxy_args::AccountsArgs,
    },
    /// What still depends on the old server: mailboxes not moved, addresses without a
    /// mailbox still receiving mail, moved accounts whose mail still reaches it; and
    /// whether it is safe to switch off (exit status 0 only then).
    RetireReport {
        #[command(flatten)]
        place: Where,
        #[command(flatten)]
        args: crate::proxy_args::RetireArgs,
    },
    /// Move a project's mailboxes: a pool of workers in this process until none is left.
    Run {
        #[command(flatten)]
        place: Where,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Join a project's run from another machine (state on PostgreSQL, key in MAILPORT_KEY).
    Worker {
        #[command(flatten)]
        place: Where,
        #[command(flatten)]
        args: WorkerArgs,
    },
    /// Where every mailbox of a project is, or one mailbox's history.
    Status {
        #[command(flatten)]
        place: Where,
        #[command(flatten)]
        args: StatusArgs,
    },
    /// A project's report: per mailbox and total, as CSV, JSON or one HTML page.
    Report {
        #[command(flatten)]
        place: Where,
        project: String,
        #[arg(long, value_enum, default_value_t = ReportFormat::Csv)]
        format: ReportFormat,
        /// Write to this file (default: standard output).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Stop a project's running mailboxes after the batch in flight (all, or these logins).
    Stop {
        #[command(flatten)]
        place: Where,
        project: String,
        logins: Vec<String>,
    },
    /// Queue failed or stopped mailboxes again for the next `run` (after fixing the cause).
    Retry {
        #[command(flatten)]
        place: Where,
        project: String,
        /// The failed mailboxes.
        #[arg(long, required_unless_present = "stopped")]
        failed: bool,
        /// The stopped mailboxes.
        #[arg(long)]
        stopped: bool,
    },
}

const CHECK_HELP: &str = "\
Shows for each server: the URL that connected (trying the usual ports and security when the
given one does not), the greeting, TLS version and cipher, the certificate (subject, issuer,
names, validity, SHA-256 fingerprint for --*-tls-fingerprint), capabilities, namespaces, and
every folder with its message count and size. Folders are opened read-only (EXAMINE).

Examples:
  mailport check --from imaps://alice@old.example.net
  mailport check --from imaps://alice@old.example.net --to imaps://alice@new.example.net --json

Exit codes: 0 all logged in, 2 usage error, 3 connection, login or server failure, 4 a Maildir or mbox cannot be read.";

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub sides: Sides,
    /// Print JSON instead of text.
    #[arg(help_heading = "Output", long)]
    pub json: bool,
}

const VERIFY_HELP: &str = "\
Reads both mailboxes afresh (no state file involved) and checks that every source message is
in the mapped destination folder with the same bytes (SHA-256; --quick: Message-ID, Date and
size), flags and INTERNALDATE. Folder mapping and message filters are the same flags as for
copy, so messages copy left out on purpose are reported as skipped, not missing.

Examples:
  mailport verify --from imaps://alice@old.example.net --to imaps://alice@new.example.net
  mailport verify --from ... --to ... --quick                      # identities, not contents
  mailport verify --from ... --to ... --manifest proof.jsonl --json

Also reported: copies the destination server changed (line endings only is not an error;
header or content changes are), duplicates of a source message (an error), and messages only
on the destination (listed; not an error). Nothing is changed on either side.

Exit codes: 0 everything present once, 1 something missing, different or duplicated (listed),
2 usage error, 3 connection, login or server failure, 4 a Maildir or mbox cannot be read.";

const COPY_HELP: &str = "\
Examples:
  mailport copy --from imaps://alice@old.example.net --to imaps://alice@new.example.net
  MAILPORT_FROM_PASSWORD=... MAILPORT_TO_PASSWORD=... mailport copy --from ... --to ... --json
  mailport copy --from ... --to ... --dry-run --exclude '^Junk$' --folder-map 'Archiv=Archive'

URLs:
  imaps://USER@HOST[:PORT]  implicit TLS (default port 993)
  imap://USER@HOST[:PORT]   STARTTLS (port 143); without STARTTLS only with --allow-plaintext
  pop3s://USER@HOST[:PORT]  (source) POP3 over TLS (995): INBOX only, nothing deleted
  pop3://USER@HOST[:PORT]   (source) POP3 on 110 with STLS; plain only with --allow-plaintext
  maildir:PATH              (source or destination) a Maildir; --maildir-layout fs for nested dirs
  mbox:PATH                 (source) an mbox file, or a directory tree of them (one folder each)
  A user name containing '@' may be written as is (imaps://a@example.com@host) or as %40.

Certificates are verified against the system's CAs (or --from-tls-ca/--to-tls-ca). When one is
refused, mailport says why (expired, not yet valid, self-signed, unknown CA, or not valid for the
host name, listing the names it is valid for), prints its fingerprint (sha256:HEX) and the fix:
a name the certificate covers, the CA file, or --from-tls-fingerprint/--to-tls-fingerprint to
pin that one certificate.

If the URL's port or security does not connect (refused, timeout, no TLS where TLS was
expected), mailport tries the other security on the same port, then 993 (TLS) and 143
(STARTTLS; plain text only with --allow-plaintext), uses the first that connects and prints the
URL to give next time. A refused certificate or login is never worked around this way.

Passwords, in this order: --from-password-file/--to-password-file (first line),
MAILPORT_FROM_PASSWORD/MAILPORT_TO_PASSWORD, else an interactive prompt (never echoed).
With --from-admin/--to-admin it is the admin's password.

Logins: LOGIN, or AUTHENTICATE PLAIN when the server sets LOGINDISABLED. Admin impersonation
(migrate without the users' passwords), per side:
  --from-admin admin                                     SASL PLAIN authzid (Dovecot, Cyrus, ...)
  --from-admin admin --from-admin-style dovecot-master   LOGIN alice*admin
  --from-admin 'CONTOSO/admin' --from-admin-style exchange   LOGIN CONTOSO/admin/alice
  --from-admin admin --from-admin-style mirapoint        LOGIN #alice@example.org#admin#
OAuth 2.0 (Gmail, Microsoft 365): an access token with OAUTHBEARER or XOAUTH2, from
MAILPORT_FROM_OAUTH_TOKEN / MAILPORT_TO_OAUTH_TOKEN, --from-oauth-token-file FILE, or
--from-oauth-token-command CMD (run again when the token expires).

Folder names in --include, --exclude and --folder-map are written with '/' between levels,
whatever separator and prefix the servers use (INBOX.Sent on a Courier-style server is 'Sent').
Special folders (Sent, Drafts, Trash, Junk, Archive) are mapped by role: SPECIAL-USE on
either side, else well-known names in common languages (Sent Items, Gesendete Objekte, ...).

Every source message ends in one outcome: copied, already present, deleted on the destination
(copied earlier, deleted there since), skipped (with the reason) or failed (with the server's
reason), recorded in the state file as soon as the destination confirms it. Re-running copy is
always safe: a delta pass copies only what is new, carries flag changes, and with --sync-deletes
removes what the source deleted. The state file is believed only while the destination backs
it: a folder recreated or emptied there is checked again and what is missing copied again.
Without a state file, messages are recognised by Message-ID + Date + size (a hash of
From/To/Subject/Date without Message-ID), and get the flags the source has.

Exit codes: 0 all done, 1 some messages failed, 2 usage error, 3 connection, login or server
failure, 4 a Maildir or mbox cannot be read, 5 the state file cannot be opened, 130 stopped by
Ctrl-C (the batches in flight are finished and recorded; run again to continue).";

/// The two endpoints and how to reach them (shared by copy and verify).
#[derive(Args, Debug)]
pub struct Sides {
    /// Source mailbox: imaps://alice@old.example.net, pop3s://alice@old.example.net,
    /// maildir:PATH, or mbox:PATH (a file or a directory of mbox files)
    #[arg(help_heading = "Endpoints", long, value_name = "URL")]
    pub from: String,
    /// How a maildir: source or destination lays out its folders: maildir++ (.Sub.Folder directories, as
    /// Dovecot and Courier write them) or fs (nested directories, Dovecot's LAYOUT=fs).
    #[arg(help_heading = "Endpoints", long, value_enum, value_name = "LAYOUT", default_value_t = MaildirLayout::MaildirPlusPlus)]
    pub maildir_layout: MaildirLayout,
    /// Destination mailbox: imaps://alice@new.example.net, or maildir:PATH (created when missing)
    #[arg(help_heading = "Endpoints", long, value_name = "URL", required = true)]
    pub to: Option<String>,
    /// File whose first line is the source password.
    #[arg(help_heading = "Credentials", long, value_name = "FILE")]
    pub from_password_file: Option<PathBuf>,
    /// File whose first line is the destination password.
    #[arg(help_heading = "Credentials", long, value_name = "FILE")]
    pub to_password_file: Option<PathBuf>,
    /// Trust the CA certificates in this PEM file for the source (instead of the system's).
    #[arg(help_heading = "TLS and connections", long, value_name = "FILE")]
    pub from_tls_ca: Option<PathBuf>,
    /// Trust the CA certificates in this PEM file for the destination.
    #[arg(help_heading = "TLS and connections", long, value_name = "FILE")]
    pub to_tls_ca: Option<PathBuf>,
    /// Accept exactly the source certificate with this SHA-256 fingerprint (sha256:HEX, as
    /// mailport prints it when it refuses a certificate), even if self-signed, expired or
    /// issued for another name. The server must still prove it holds the certificate's key.
    #[arg(help_heading = "TLS and connections", long, value_name = "sha256:HEX", value_parser = fingerprint, conflicts_with_all = ["from_tls_ca", "tls_insecure"])]
    pub from_tls_fingerprint: Option<Fingerprint>,
    /// Accept exactly the destination certificate with this SHA-256 fingerprint.
    #[arg(help_heading = "TLS and connections", long, value_name = "sha256:HEX", value_parser = fingerprint, conflicts_with_all = ["to_tls_ca", "tls_insecure"])]
    pub to_tls_fingerprint: Option<Fingerprint>,
    /// Do not verify certificates at all (warned about on every run). Prefer
    /// --from-tls-fingerprint/--to-tls-fingerprint: they trust one certificate, not any.
    #[arg(help_heading = "TLS and connections", long)]
    pub tls_insecure: bool,
    /// Allow imap:// without STARTTLS: the password travels unencrypted. Also lets the
    /// port search (below) fall back to plain text on port 143.
    #[arg(help_heading = "TLS and connections", long)]
    pub allow_plaintext: bool,
    /// Keep an imap:// or pop3:// source in plain text even when the server offers
    /// STARTTLS: for a server on the same trusted network or machine, where TLS only
    /// costs CPU. Needs --allow-plaintext.
    #[arg(
        help_heading = "TLS and connections",
        long,
        requires = "allow_plaintext"
    )]
    pub from_no_tls: bool,
    /// Keep an imap:// destination in plain text even when it offers STARTTLS.
    /// Needs --allow-plaintext.
    #[arg(
        help_heading = "TLS and connections",
        long,
        requires = "allow_plaintext"
    )]
    pub to_no_tls: bool,
    /// Seconds to wait for any server reply before giving up on it.
    #[arg(help_heading = "TLS and connections", long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Log the IMAP conversation (passwords redacted) to stderr.
    #[arg(help_heading = "Output", long)]
    pub debug: bool,
    #[command(flatten)]
    pub login: LoginArgs,
}

/// How each side logs in, when not with the user's own password.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Log in to the source as this administrator, acting for the user in --from; the
    /// password asked for (file, MAILPORT_FROM_PASSWORD or prompt) is then the admin's.
    #[arg(help_heading = "Credentials", long, value_name = "LOGIN")]
    pub from_admin: Option<String>,
    /// How the source lets an admin act for a user (examples in --help).
    #[arg(help_heading = "Credentials", long, value_enum, value_name = "STYLE", default_value_t = AdminStyleArg::Authzid)]
    pub from_admin_style: AdminStyleArg,
    /// Log in to the destination as this administrator, acting for the user in --to.
    #[arg(help_heading = "Credentials", long, value_name = "LOGIN")]
    pub to_admin: Option<String>,
    /// How the destination lets an admin act for a user.
    #[arg(help_heading = "Credentials", long, value_enum, value_name = "STYLE", default_value_t = AdminStyleArg::Authzid)]
    pub to_admin_style: AdminStyleArg,
    /// Source OAuth 2.0 access token: first line of this file, read at every login.
    #[arg(help_heading = "Credentials", long, value_name = "FILE", conflicts_with_all = ["from_oauth_token_command", "from_admin"])]
    pub from_oauth_token_file: Option<PathBuf>,
    /// Source OAuth 2.0 access token: printed by this shell command, run again when the
    /// server refuses the token (expired).
    #[arg(
        help_heading = "Credentials",
        long,
        value_name = "CMD",
        conflicts_with = "from_admin"
    )]
    pub from_oauth_token_command: Option<String>,
    /// Destination OAuth 2.0 access token from a file.
    #[arg(help_heading = "Credentials", long, value_name = "FILE", conflicts_with_all = ["to_oauth_token_command", "to_admin"])]
    pub to_oauth_token_file: Option<PathBuf>,
    /// Destination OAuth 2.0 access token from a command.
    #[arg(
        help_heading = "Credentials",
        long,
        value_name = "CMD",
        conflicts_with = "to_admin"
    )]
    pub to_oauth_token_command: Option<String>,
    /// Source SASL mechanism instead of the automatic choice.
    #[arg(help_heading = "Credentials", long, value_enum, value_name = "MECH")]
    pub from_auth_mech: Option<AuthMechArg>,
    /// Destination SASL mechanism instead of the automatic choice.
    #[arg(help_heading = "Credentials", long, value_enum, value_name = "MECH")]
    pub to_auth_mech: Option<AuthMechArg>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaildirLayout {
    #[value(name = "maildir++")]
    MaildirPlusPlus,
    Fs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminStyleArg {
    /// SASL PLAIN: authorization identity = user, authentication identity = admin (RFC 4616).
    Authzid,
    /// Dovecot master user: LOGIN user*admin.
    DovecotMaster,
    /// Exchange: LOGIN DOMAIN/admin/user (give the admin as DOMAIN/admin).
    Exchange,
    /// Mirapoint: LOGIN #user#admin#.
    Mirapoint,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMechArg {
    Login,
    Plain,
    Xoauth2,
    Oauthbearer,
    /// POP3 sources only.
    Apop,
}

/// Which folders and messages (shared by copy and verify).
#[derive(Args, Debug)]
pub struct Selection {
    /// Only folders whose name matches this regex.
    #[arg(help_heading = "Selection", long, value_name = "REGEX")]
    pub include: Option<String>,
    /// Leave out folders whose name matches this regex.
    #[arg(help_heading = "Selection", long, value_name = "REGEX")]
    pub exclude: Option<String>,
    /// Put source folder SRC (and its subfolders) into DST; repeatable.
    #[arg(help_heading = "Selection", long, value_name = "SRC=DST")]
    pub folder_map: Vec<String>,
    /// Put the source's INBOX (all a POP3 source has) into this destination folder
    /// (the same as --folder-map INBOX=FOLDER).
    #[arg(help_heading = "Selection", long, value_name = "FOLDER")]
    pub to_folder: Option<String>,
    /// Skip messages larger than this (bytes, or with K, M, G suffix).
    #[arg(help_heading = "Selection", long, value_name = "SIZE")]
    pub max_size: Option<String>,
    /// Only messages received on or after this date (YYYY-MM-DD, by INTERNALDATE, UTC).
    #[arg(help_heading = "Selection", long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only messages received before this date (YYYY-MM-DD, by INTERNALDATE, UTC).
    #[arg(help_heading = "Selection", long, value_name = "DATE")]
    pub before: Option<String>,
    /// Leave out messages flagged \Deleted (by default they are copied with the flag).
    #[arg(help_heading = "Selection", long)]
    pub skip_deleted: bool,
    /// How a message already on the destination is recognised when the state file does not
    /// know it: strict = Message-ID + Date + size; message-id = Message-ID + Date (for a
    /// destination filled by a tool that adds headers, like mbsync); headers = a hash of
    /// From, To, Subject, Date, Message-ID + size. Without Message-ID: a header hash.
    #[arg(help_heading = "Behaviour", long, value_enum, default_value_t = Identity::Strict)]
    pub identity: Identity,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    Strict,
    MessageId,
    Headers,
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    #[command(flatten)]
    pub sides: Sides,
    #[command(flatten)]
    pub selection: Selection,
    /// State file (the ledger of what was copied). Default: $XDG_DATA_HOME/mailport/state.db
    /// (~/.local/share/mailport/state.db). Also MAILPORT_STATE.
    #[arg(
        help_heading = "Behaviour",
        long,
        value_name = "PATH",
        env = "MAILPORT_STATE"
    )]
    pub state: Option<PathBuf>,
    /// The name this mailbox pair has in the state file. Default: the two URLs
    /// (`imaps://alice@old:993 -> imaps://alice@new:993`), so the same mailbox reached
    /// through another host name or port starts a new history; give the same key to keep it.
    #[arg(help_heading = "Behaviour", long, value_name = "KEY", value_parser = state_key, conflicts_with = "no_state")]
    pub state_key: Option<String>,
    /// Keep no state: every run decides by identity alone (slower re-runs). Wins over
    /// --state and MAILPORT_STATE.
    #[arg(help_heading = "Behaviour", long)]
    pub no_state: bool,
    /// Delete on the destination the messages mailport copied that were deleted on the
    /// source since (never anything it did not copy).
    #[arg(help_heading = "Behaviour", long)]
    pub sync_deletes: bool,
    /// Copy again the messages mailport copied that were deleted on the destination since
    /// (by its user, or a cleanup there). By default they are reported as deleted on the
    /// destination and left deleted.
    #[arg(help_heading = "Behaviour", long)]
    pub recopy_deleted: bool,
    /// Run `verify` (full, by content hash) right after the copy.
    #[arg(help_heading = "Behaviour", long)]
    pub verify: bool,
    /// POP3 sources only: after the copy, verify, then delete from the POP3 server exactly
    /// the messages verify proved present on the destination (byte for byte).
    #[arg(help_heading = "Behaviour", long)]
    pub delete_source_after_verify: bool,
    /// Print the folder plan with message counts and sizes; change nothing.
    #[arg(help_heading = "Behaviour", long)]
    pub dry_run: bool,
    /// Connections per side; folders are copied in parallel.
    #[arg(help_heading = "TLS and connections", long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub connections: u16,
    /// Messages per APPEND batch when the destination offers MULTIAPPEND.
    #[arg(help_heading = "Behaviour", long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch: u16,
    /// Print a machine-readable JSON summary on stdout instead of the table.
    #[arg(help_heading = "Output", long)]
    pub json: bool,
    /// Copy at most this many bytes per second, all connections together (K, M, G suffixes).
    #[arg(help_heading = "Behaviour", long, value_name = "SIZE")]
    pub max_bytes_per_second: Option<String>,
    /// Copy at most this many messages per second, all connections together.
    #[arg(help_heading = "Behaviour", long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_messages_per_second: Option<u64>,
    /// Open at most this many connections to one host (source and destination on the same
    /// host share it). Servers that allow fewer are detected and obeyed anyway.
    #[arg(help_heading = "TLS and connections", long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_connections_per_host: Option<u16>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub sides: Sides,
    #[command(flatten)]
    pub selection: Selection,
    /// Compare identities (Message-ID, Date, size), flags and dates instead of reading
    /// every message in full to compare SHA-256 hashes. It cannot tell a server's
    /// line-ending rewrite from a real change: such copies are reported as changed (size
    /// differs); verify without --quick names the change.
    #[arg(help_heading = "Behaviour", long)]
    pub quick: bool,
    /// Write a JSON-lines proof of migration: one line per source message with folder,
    /// UID, size, SHA-256, identity, destination folder and UID, and the outcome.
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Print a machine-readable JSON result on stdout instead of the table.
    #[arg(help_heading = "Output", long)]
    pub json: bool,
}

/// A state key: any text but blank, at most 1000 characters.
fn state_key(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        Err("a state key cannot be blank".into())
    } else if t.chars().count() > 1000 {
        Err("a state key is at most 1000 characters".into())
    } else {
        Ok(t.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
