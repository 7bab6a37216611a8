//! `maildir:PATH` and `mbox:PATH` checked before anything runs, so that a
//! wrong path is one usage error naming it and what is wrong (exit 2), not
//! an OS error halfway through a copy.

use std::path::{Path, PathBuf};

/// `~/...` is the user's home (the shell does not expand it after `maildir:`).
pub fn expand(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Why `path` cannot be read as a `kind` source.
pub fn source_problem(kind: &str, path: &Path) -> Option<String> {
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
pub fn destination_problem(path: &Path) -> Option<String> {
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
            expand("~/Maildir"),
            PathBuf::from(std::env::var("HOME").unwrap()).join("Maildir")
        );
        assert_eq!(expand("/x"), PathBuf::from("/x"));
    }
}
