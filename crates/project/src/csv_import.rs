//! Mailbox lists for a project, in the formats admins already have.
//!
//! [`parse`] reads three formats. Without a format given, it recognises the
//! format from the first line that is neither blank nor a `#` comment. A
//! UTF-8 byte order mark is ignored and lines may end in LF, CRLF or CR (old
//! Mac exports). The file must be UTF-8 (in Excel: save as "CSV UTF-8").
//!
//! # mailport's format
//!
//! Comma-separated, with a header row naming the columns in any order (case
//! and spaces around the names do not matter). Only `source_login` is
//! required:
//!
//! | column                 | meaning                                                  |
//! |------------------------|----------------------------------------------------------|
//! | `source_login`         | the login on the source server                           |
//! | `source_password`      | its credential; without the column, every user is asked  |
//! | `destination_login`    | the login on the destination; empty: the source login    |
//! | `destination_password` | its credential; without the column, the project's admin login is used |
//! | `folders`              | a regular expression: only the folders it matches move   |
//! | `destination_prefix`   | put before every folder name on the destination          |
//!
//! Leaving out `destination_password` means admin impersonation because that
//! is the common case: the admin runs the destination server and holds an
//! admin login for it, while the users' destination passwords are unknown.
//!
//! ```text
//! source_login,source_password,destination_login
//! alice@old.example,"se,cret",alice@new.example
//! bob,-,
//! ```
//!
//! # Microsoft 365's IMAP migration file
//!
//! The CSV file of Microsoft 365's IMAP migration batches, with the header
//! `EmailAddress,UserName,Password` (any order and case). `EmailAddress` is
//! the Microsoft 365 mailbox, the destination, reached with the project's
//! admin login; `UserName` and `Password` log in to the source server.
//!
//! # imapsync's mass-migration file
//!
//! No header; one mailbox a line, six fields separated by `;` (a trailing `;`
//! is allowed): `host1;user1;password1;host2;user2;password2`. Blank lines and
//! lines starting with `#` are skipped. An empty host is left to the
//! project's settings.
//!
//! # Credentials
//!
//! Every password cell means:
//!
//! - `-`: admin impersonation; the project's admin login is used for the
//!   mailbox on that side;
//! - empty (or only spaces): the end user is asked for the password;
//! - anything else: the password, exactly as written (spaces are kept).
//!
//! Logins and hosts have their surrounding spaces removed.
//!
//! # Problems
//!
//! A problem with the whole file (not UTF-8, no mailboxes, a header mailport
//! does not know) is an [`ImportError`]. A bad row does not stop the import:
//! every bad row is reported in [`Parsed::bad`] with its line number, so that
//! one round of corrections is enough.

use std::collections::hash_map::{Entry, HashMap};
use std::fmt;
use std::str::FromStr;

use zeroize::Zeroizing;

/// Which kind of file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Mailport,
    Microsoft365,
    Imapsync,
}

impl Format {
    /// For error messages, which are sentences.
    fn prose(self) -> &'static str {
        match self {
            Format::Mailport => "mailport's format",
            Format::Microsoft365 => "Microsoft 365's format",
            Format::Imapsync => "imapsync's format",
        }
    }
}

/// The names a user types (`--format`), so `Display` round-trips through
/// `FromStr`.
impl FromStr for Format {
    type Err = UnknownFormatName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mailport" => Ok(Format::Mailport),
            "m365" | "microsoft365" => Ok(Format::Microsoft365),
            "imapsync" => Ok(Format::Imapsync),
            _ => Err(UnknownFormatName(s.to_owned())),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Mailport => "mailport",
            Format::Microsoft365 => "m365",
            Format::Imapsync => "imapsync",
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown file format `{0}`; use mailport, m365 (or microsoft365) or imapsync")]
pub struct UnknownFormatName(pub String);

/// A credential in a file; see the module documentation for the cell syntax.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Wiped on drop, and never shown by `Debug`, so that rows can be logged.
    Password(Zeroizing<String>),
    /// Admin impersonation: the project's admin login is used.
    Admin,
    /// The end user is asked.
    AskUser,
}

impl Credential {
    fn from_cell(cell: &str) -> Self {
        match cell.trim() {
            "" => Credential::AskUser,
            "-" => Credential::Admin,
            _ => Credential::Password(Zeroizing::new(cell.to_owned())),
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credential::Password(_) => "Password(<redacted>)",
            Credential::Admin => "Admin",
            Credential::AskUser => "AskUser",
        })
    }
}

/// One mailbox to move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRow {
    /// The record's first line in the file, for messages about it later.
    pub line: usize,
    pub source_login: String,
    pub source_credential: Credential,
    /// `None`: the same login as on the source.
    pub destination_login: Option<String>,
    /// In mailport's format, `Admin` when the `destination_password` column
    /// is absent; always `Admin` in Microsoft 365's.
    pub destination_credential: Credential,
    /// mailport's format only: a regular expression of the folders to move,
    /// checked where it is compiled.
    pub folders: Option<String>,
    /// mailport's format only.
    pub destination_prefix: Option<String>,
    /// imapsync's format only (host1).
    pub source_host: Option<String>,
    /// imapsync's format only (host2).
    pub destination_host: Option<String>,
}

/// A row left out, and why, so the admin can fix the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRow {
    pub line: usize,
    pub reason: String,
}

/// A problem with the whole file: nothing can be imported until it is fixed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line {line} is not UTF-8 (invalid byte at offset {offset} of the file); save the file as UTF-8 (in Excel: \"CSV UTF-8\") and import it again")]
    NotUtf8 { line: usize, offset: usize },
    #[error("no mailboxes in the file; add one line per mailbox")]
    NoMailboxes,
    #[error("cannot recognise the format from line {line}: expected a header with a source_login column (mailport), the header EmailAddress,UserName,Password (Microsoft 365) or lines host1;user1;password1;host2;user2;password2 (imapsync); fix the line or give the format explicitly")]
    UnknownFormat { line: usize },
    #[error("the file is separated by ';', mailport's and Microsoft 365's formats use ','; save it with ',' as the separator (line {line})")]
    SemicolonSeparated { line: usize },
    #[error("line {line} has imapsync's 6 fields separated by ',', but imapsync's format uses ';'; separate the fields with ';'")]
    CommaSeparated { line: usize },
    #[error("line {line} is not a header of {}; start the file with a header naming the columns, for example {}", .format.prose(), header_example(*.format))]
    NoHeader { line: usize, format: Format },
    #[error(
        "unknown column `{column}` in the header on line {line}; rename or remove it (the known columns are {known})"
    )]
    UnknownColumn {
        line: usize,
        column: String,
        known: String,
    },
    #[error("column `{column}` appears twice in the header on line {line}; remove one of them")]
    DuplicateColumn { line: usize, column: String },
    #[error("the header on line {line} has no `{column}` column, which {} requires; add it", .format.prose())]
    MissingColumn {
        line: usize,
        column: &'static str,
        format: Format,
    },
}

/// The outcome of an import: the good rows and every bad one.
#[derive(Debug)]
pub struct Parsed {
    pub format: Format,
    pub rows: Vec<ImportRow>,
    pub bad: Vec<BadRow>,
}

/// `format` is `None` unless the admin said which: the first line tells.
/// Only whole-file problems are errors; bad rows are collected instead, so
/// that one run shows everything to fix.
pub fn parse(bytes: &[u8], format: Option<Format>) -> Result<Parsed, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let line = bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        ImportError::NotUtf8 { line, offset }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // A lone CR ends a line for the csv reader but not for `lines()`:
    // one meaning everywhere, so that line numbers stay the file's.
    let lf_only;
    let text = match lone_cr(text) {
        true => {
            lf_only = text.replace("\r\n", "\n").replace('\r', "\n");
            lf_only.as_str()
        }
        false => text,
    };
    let (first_line, start) = first_line(text).ok_or(ImportError::NoMailboxes)?;
    let format = match format {
        Some(format) => format,
        None => detect(text[start..].lines().next().unwrap_or(""), first_line)?,
    };
    let mut parsed = Parsed {
        format,
        rows: Vec::new(),
        bad: Vec::new(),
    };
    match format {
        Format::Imapsync => parse_imapsync(text, &mut parsed),
        _ => parse_csv(&text[start..], first_line, &mut parsed)?,
    }
    if parsed.rows.is_empty() && parsed.bad.is_empty() {
        return Err(ImportError::NoMailboxes);
    }
    Ok(parsed)
}

fn lone_cr(text: &str) -> bool {
    let b = text.as_bytes();
    b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'\r' && b.get(i + 1) != Some(&b'\n'))
}

/// The line number and byte offset of the first line that is neither blank
/// nor a comment: files often start with a note, or an empty line left by an
/// export.
fn first_line(text: &str) -> Option<(usize, usize)> {
    let mut start = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            return Some((i + 1, start));
        }
        start += line.len();
    }
    None
}

/// Recognises the format, and the usual mistake of a file saved with the
/// other separator (Excel in many locales writes ';').
fn detect(first: &str, line: usize) -> Result<Format, ImportError> {
    let header_format = |sep: char| {
        let names: Vec<String> = first
            .split(sep)
            .map(|n| n.trim().trim_matches('"').to_ascii_lowercase())
            .collect();
        if names.iter().any(|n| n == "source_login") {
            Some(Format::Mailport)
        } else if names.iter().any(|n| n == "emailaddress") {
            Some(Format::Microsoft365)
        } else {
            None
        }
    };
    if let Some(format) = header_format(',') {
        Ok(format)
    } else if header_format(';').is_some() {
        Err(ImportError::SemicolonSeparated { line })
    } else if split_fields(first, ';').len() == 6 {
        Ok(Format::Imapsync)
    } else if split_fields(first, ',').len() == 6 {
        Err(ImportError::CommaSeparated { line })
    } else {
        Err(ImportError::UnknownFormat { line })
    }
}

/// imapsync's fields; a trailing separator is allowed, but only after six
/// fields, since `a;b;c;d;e;` is six fields with an empty last password.
fn split_fields(line: &str, sep: char) -> Vec<&str> {
    let mut fields: Vec<&str> = line.split(sep).collect();
    if fields.len() == 7 && fields[6].trim().is_empty() {
        fields.pop();
    }
    fields
}

fn parse_imapsync(text: &str, parsed: &mut Parsed) {
    let mut seen = HashMap::new();
    for (i, line_text) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = line_text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let f = split_fields(line_text, ';');
        if f.len() != 6 {
            let hint = if split_fields(line_text, ',').len() == 6 {
                "; the fields seem separated by ',', imapsync's format uses ';'"
            } else {
                ""
            };
            let reason = format!(
                "expected 6 fields host1;user1;password1;host2;user2;password2, found {}{hint}",
                f.len()
            );
            parsed.bad.push(BadRow { line, reason });
            continue;
        }
        let row = ImportRow {
            line,
            source_host: non_empty(f[0]),
            source_login: f[1].trim().to_owned(),
            source_credential: Credential::from_cell(f[2]),
            destination_host: non_empty(f[3]),
            destination_login: non_empty(f[4]),
            destination_credential: Credential::from_cell(f[5]),
            folders: None,
            destination_prefix: None,
        };
        check(row, &mut seen, parsed);
    }
}

/// The columns a CSV row can fill; both CSV formats map onto them.
#[derive(Clone, Copy)]
enum Col {
    SourceLogin,
    SourcePassword,
    DestinationLogin,
    DestinationPassword,
    Folders,
    DestinationPrefix,
}

/// (name as documented, column, required)
const MAILPORT_COLUMNS: &[(&str, Col, bool)] = &[
    ("source_login", Col::SourceLogin, true),
    ("source_password", Col::SourcePassword, false),
    ("destination_login", Col::DestinationLogin, false),
    ("destination_password", Col::DestinationPassword, false),
    ("folders", Col::Folders, false),
    ("destination_prefix", Col::DestinationPrefix, false),
];

const M365_COLUMNS: &[(&str, Col, bool)] = &[
    ("EmailAddress", Col::DestinationLogin, true),
    ("UserName", Col::SourceLogin, true),
    ("Password", Col::SourcePassword, true),
];

fn header_example(format: Format) -> &'static str {
    match format {
        Format::Microsoft365 => "EmailAddress,UserName,Password",
        _ => "source_login,source_password",
    }
}

/// For each [`Col`], the index of its field in a record, if the header has it.
fn map_header(
    header: &csv::StringRecord,
    format: Format,
    line: usize,
) -> Result<[Option<usize>; 6], ImportError> {
    let known = match format {
        Format::Microsoft365 => M365_COLUMNS,
        _ => MAILPORT_COLUMNS,
    };
    let find = |name: &str| {
        known
            .iter()
            .find(|(known, ..)| known.eq_ignore_ascii_case(name.trim()))
    };
    if header.len() == 1 && header[0].contains(';') {
        return Err(ImportError::SemicolonSeparated { line });
    }
    // Not one known name: a file without a header, whose first row would
    // otherwise be quoted back as column names (it may hold a password).
    if !header.iter().any(|name| find(name).is_some()) {
        return Err(ImportError::NoHeader { line, format });
    }
    let mut index = [None; 6];
    for (i, name) in header.iter().enumerate() {
        let Some(&(_, col, _)) = find(name) else {
            let known = known.iter().map(|(n, ..)| *n).collect::<Vec<_>>();
            return Err(ImportError::UnknownColumn {
                line,
                column: name.trim().to_owned(),
                known: known.join(", "),
            });
        };
        if index[col as usize].replace(i).is_some() {
            let column = name.trim().to_owned();
            return Err(ImportError::DuplicateColumn { line, column });
        }
    }
    if let Some(&(column, ..)) = known
        .iter()
        .find(|&&(_, col, required)| required && index[col as usize].is_none())
    {
        return Err(ImportError::MissingColumn {
            line,
            column,
            format,
        });
    }
    Ok(index)
}

/// `text` starts at the header, which is on line `first_line` of the file.
fn parse_csv(text: &str, first_line: usize, parsed: &mut Parsed) -> Result<(), ImportError> {
    let mut records = csv::ReaderBuilder::new()
        .has_headers(false)
        // Wrong field counts are bad rows, not the end of the import.
        .flexible(true)
        .from_reader(text.as_bytes())
        .into_records();
    // csv's own line numbers are those where the previous record ended, so
    // wrong after a blank line or a CRLF: count to the record's first byte.
    let bytes = text.as_bytes();
    let (mut counted, mut line) = (0, first_line);
    let mut file_line = |p: Option<&csv::Position>| {
        let from = p
            .map_or(0, |p| p.byte() as usize)
            .clamp(counted, bytes.len());
        let start = from
            + bytes[from..]
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
        line += bytes[counted..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted = start;
        line
    };
    let Some(Ok(mut header)) = records.next() else {
        return Err(ImportError::NoHeader {
            line: first_line,
            format: parsed.format,
        });
    };
    // Spreadsheets add unnamed columns after the last one.
    while header
        .iter()
        .next_back()
        .is_some_and(|name| name.trim().is_empty())
    {
        header.truncate(header.len() - 1);
    }
    let index = map_header(&header, parsed.format, first_line)?;
    let mut seen = HashMap::new();
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = file_line(e.position());
                parsed.bad.push(BadRow {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let line = file_line(record.position());
        // Spreadsheets export rows of empty cells for rows that once held
        // something, and empty cells past the last column.
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if record
            .iter()
            .skip(header.len())
            .any(|f| !f.trim().is_empty())
        {
            let reason = format!(
                "{} fields, but the header has {}",
                record.len(),
                header.len()
            );
            parsed.bad.push(BadRow { line, reason });
            continue;
        }
        let cell = |col: Col| index[col as usize].map(|i| record.get(i).unwrap_or(""));
        let row = ImportRow {
            line,
            source_login: cell(Col::SourceLogin).unwrap_or("").trim().to_owned(),
            source_credential: cell(Col::SourcePassword)
                .map_or(Credential::AskUser, Credential::from_cell),
            destination_login: cell(Col::DestinationLogin).and_then(non_empty),
            destination_credential: cell(Col::DestinationPassword)
                .map_or(Credential::Admin, Credential::from_cell),
            folders: cell(Col::Folders).and_then(non_empty),
            destination_prefix: cell(Col::DestinationPrefix).and_then(non_empty),
            source_host: None,
            destination_host: None,
        };
        check(row, &mut seen, parsed);
    }
    Ok(())
}

fn non_empty(cell: &str) -> Option<String> {
    Some(cell.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Files are typed by hand and pasted from spreadsheets: catch what would
/// only fail at login, hours into a migration. `seen` maps a source login
/// to its line; logins compare without case, as servers mostly do, so `Bob`
/// and `bob` are one mailbox moved twice. Hosts do not tell logins apart: a
/// project moves one server.
fn check(row: ImportRow, seen: &mut HashMap<String, usize>, parsed: &mut Parsed) {
    let mut reasons = Vec::new();
    if row.source_login.is_empty() {
        reasons.push("the source login is empty".to_owned());
    } else {
        reasons.extend(implausible("source login", &row.source_login));
        match seen.entry(row.source_login.to_lowercase()) {
            Entry::Occupied(earlier) => reasons.push(format!(
                "the source login {:?} is already on line {}",
                row.source_login,
                earlier.get()
            )),
            Entry::Vacant(entry) => {
                entry.insert(row.line);
            }
        }
    }
    if let Some(login) = &row.destination_login {
        reasons.extend(implausible("destination login", login));
    }
    if reasons.is_empty() {
        parsed.rows.push(row);
    } else {
        let reason = reasons.join("; ");
        parsed.bad.push(BadRow {
            line: row.line,
            reason,
        });
    }
}

/// Plain user names are fine; with an `@` it must be `local@domain`.
fn implausible(what: &str, login: &str) -> Option<String> {
    if login.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!(
            "the {what} {login:?} contains a space or a control character"
        ));
    }
    match login.split_once('@') {
        Some((local, domain))
            if local.is_empty() || domain.contains('@') || domain.split('.').any(str::is_empty) =>
        {
            Some(format!(
                "the {what} {login:?} is not an address of the form local@domain"
            ))
        }
        _ => None,
    }
}
