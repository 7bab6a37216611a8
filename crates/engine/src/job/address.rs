//! What the user names as a source or destination, parsed from the same
//! strings on every front door: a server URL (`imaps://user@host`,
//! `pop3s://...`), `maildir:PATH` or `mbox:PATH`. Local paths are checked
//! before anything runs, so that a wrong path is one error naming it and
//! what is wrong, not an OS error halfway through a copy; and the kinds
//! that can only be read (POP3, mbox) are refused as destinations.

use std::path::{Path, PathBuf};

use mailport_net::Endpoint;

/// A source or destination as written by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// An IMAP or POP3 server.
    Server(Endpoint),
    /// A Maildir directory (`maildir:PATH`, `~/` expanded).
    Maildir(PathBuf),
    /// An mbox file or a directory tree of them (`mbox:PATH`); read only.
    Mbox(PathBuf),
}

/// What an address is used for: checked accordingly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Read from: must exist.
    Source,
    /// Written to: a Maildir is created when missing.
    Destination,
    /// A destination only read (verify): must exist.
    DestinationRead,
}

impl Address {
    /// Parses `maildir:PATH`, `mbox:PATH` or a server URL. The error is one
    /// sentence with the fix, for the caller to prefix with where it came
    /// from (a flag, a CSV line).
    pub fn parse(text: &str) -> Result<Address, String> {
        let local = match text.split_once(':') {
            Some((kind @ ("maildir" | "mbox"), path)) => Some((kind, path)),
            _ => None,
        };
        match local {
            Some((kind, "")) => Err(format!("{kind}: needs a path, e.g. {kind}:~/Maildir")),
            Some(("maildir", path)) => Ok(Address::Maildir(expand(path))),
            Some((_, path)) => Ok(Address::Mbox(expand(path))),
            None => text
                .parse::<Endpoint>()
                .map(Address::Server)
                .map_err(|e| e.to_string()),
        }
    }

    /// Whether the address can serve `role`: kinds that are read only are
    /// refused as destinations, local paths are checked on disk (nothing is
    /// created).
    pub fn check(&self, role: Use) -> Result<(), String> {
        let destination = role != Use::Source;
        match self {
            Address::Server(ep) if destination && ep.scheme.is_pop3() => {
                Err("POP3 can only be a source; give the destination as imaps:// or imap://".into())
            }
            Address::Mbox(_) if destination => {
                Err("mbox can only be a source; write to maildir:PATH or an IMAP server".into())
            }
            Address::Server(_) => Ok(()),
            Address::Maildir(path) => {
                let problem = match role {
                    Use::Destination => destination_problem(path),
                    _ => source_problem("maildir", path),
                };
                problem.map_or(Ok(()), |why| Err(format!("maildir:{why}")))
            }
            Address::Mbox(path) => {
                source_problem("mbox", path).map_or(Ok(()), |why| Err(format!("mbox:{why}")))
            }
        }
    }
}

/// `~/...` is the user's home (the shell does not expand it after `maildir:`).
fn expand(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Why `path` cannot be read as a `kind` source.
fn source_problem(kind: &str, path: &Path) -> Option<String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Some(os_problem(path, &e)),
    };
    if kind == "maildir" {
        if !meta.is_dir() {
            return Some(format!(
                "{} is a file, not a Maildir directory",
                path.display()
            ));
        }
        if !["cur", "new", "tmp"].iter().all(|d| path.join(d).is_dir()) {
            return Some(format!(
                "{} is not a Maildir: it has no cur/, new/ and tmp/ directories (give the directory that holds them, e.g. ~/Maildir)",
                path.display()
            ));
        }
    }
    None
}

/// Why a Maildir cannot be written at `path` (created when missing).
fn destination_problem(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_dir() => Some(format!(
            "{} is a file, not a Maildir directory",
            path.display()
        )),
        Ok(_) => unwritable(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Created on the first copy: the nearest existing parent must
            // be a directory mailport can write.
            let parent = path
                .ancestors()
                .skip(1)
                .find(|p| p.as_os_str().is_empty() || p.exists())
                .map(|p| {
                    if p.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        p
                    }
                })?;
            if !parent.is_dir() {
                return Some(format!(
                    "cannot create {}: {} is a file",
                    path.display(),
                    parent.display()
                ));
            }
            unwritable(parent).map(|why| format!("cannot create {}: {why}", path.display()))
        }
        Err(e) => Some(os_problem(path, &e)),
    }
}

/// Whether this process can create files in `dir`: tried, with a probe
/// file removed at once (permission bits alone mislead: root, ACLs,
/// read-only mounts).
fn unwritable(dir: &Path) -> Option<String> {
    let probe = dir.join(format!(".mailport-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(format!(
            "{} is not writable ({})",
            dir.display(),
            os_words(&e)
        )),
    }
}

fn os_problem(path: &Path, e: &std::io::Error) -> String {
    format!("{}: {}", path.display(), os_words(e))
}

/// An OS error without its "(os error 13)" tail.
fn os_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "does not exist".into(),
        K::PermissionDenied => "permission denied".into(),
        K::ReadOnlyFilesystem => "the file system is read-only".into(),
        K::NotADirectory => "a part of the path is a file, not a directory".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wrong_path_is_named_with_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        let missing = dir.path().join("missing");

        let p = source_problem("maildir", &file).unwrap();
        assert!(p.contains("is a file, not a Maildir directory"), "{p}");
        let p = source_problem("maildir", &plain).unwrap();
        assert!(p.contains("no cur/, new/ and tmp/"), "{p}");
        let p = source_problem("maildir", &missing).unwrap();
        assert!(p.ends_with("does not exist"), "{p}");
        assert_eq!(source_problem("mbox", &file), None);

        assert_eq!(destination_problem(&plain), None);
        assert_eq!(destination_problem(&missing.join("deeper")), None);
        assert!(!missing.exists(), "the check created something");
        let p = destination_problem(&file).unwrap();
        assert!(p.contains("is a file"), "{p}");
        let p = destination_problem(&file.join("below")).unwrap();
        assert!(p.contains("is a file, not a directory"), "{p}");
        assert_eq!(
            Address::parse("maildir:~/Maildir"),
            Ok(Address::Maildir(
                PathBuf::from(std::env::var("HOME").unwrap()).join("Maildir")
            ))
        );
        assert!(Address::parse("mbox:")
            .unwrap_err()
            .contains("needs a path"));
        let pop = Address::parse("pop3s://alice@pop.example").unwrap();
        assert_eq!(pop.check(Use::Source), Ok(()));
        assert!(pop
            .check(Use::Destination)
            .unwrap_err()
            .contains("POP3 can only be a source"));
        let mbox = Address::Mbox(file.clone());
        assert_eq!(mbox.check(Use::Source), Ok(()));
        assert!(mbox
            .check(Use::DestinationRead)
            .unwrap_err()
            .contains("only be a source"));
        assert_eq!(
            expand("~/Maildir"),
            PathBuf::from(std::env::var("HOME").unwrap()).join("Maildir")
        );
        assert_eq!(expand("/x"), PathBuf::from("/x"));
    }
}
