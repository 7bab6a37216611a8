//! Folder names: from wire form to a logical path and back.
//!
//! A logical path is the list of hierarchy levels, decoded to Unicode, with the
//! personal-namespace prefix removed: `INBOX.Sent` on a Courier-style server
//! (prefix `INBOX.`, separator `.`) and `Sent` on a server with `/` and no
//! prefix are the same path `["Sent"]`. Users see paths joined with `/`.

use mailport_mail::utf7;

/// How one server spells names: personal namespace prefix, separator, and
/// whether UTF8=ACCEPT (RFC 6855) is enabled (names then travel as UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub prefix: String,
    pub delimiter: Option<char>,
    pub utf8: bool,
    /// Prefixes of the other users' and shared namespaces (decoded). With an
    /// empty personal prefix (Cyrus's altnamespace) `LIST "" "*"` returns
    /// their folders beside the user's own; these tell them apart.
    pub foreign: Vec<String>,
}

/// A path that `decode` cannot place in the personal namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideNamespace(pub String);

impl Hierarchy {
    /// Decodes a wire name into a logical path.
    pub fn decode(&self, wire: &[u8]) -> Result<Vec<String>, OutsideNamespace> {
        let text = if self.utf8 {
            String::from_utf8(wire.to_vec())
                .map_err(|_| OutsideNamespace(String::from_utf8_lossy(wire).into_owned()))?
        } else {
            // A server that sends raw 8-bit names (against RFC 3501) still
            // gets its folders moved: take them as UTF-8 if they are.
            utf7::decode(wire)
                .or_else(|_| String::from_utf8(wire.to_vec()))
                .map_err(|_| OutsideNamespace(String::from_utf8_lossy(wire).into_owned()))?
        };
        if text.eq_ignore_ascii_case("INBOX") {
            return Ok(vec!["INBOX".into()]);
        }
        let foreign = self.foreign.iter().filter(|p| !p.is_empty()).any(|p| {
            // Also the namespace's own root, listed as a \Noselect parent.
            text.starts_with(p.as_str())
                || self
                    .delimiter
                    .is_some_and(|d| p.strip_suffix(d) == Some(text.as_str()))
        });
        if foreign {
            return Err(OutsideNamespace(text));
        }
        let rest = match text.strip_prefix(&self.prefix) {
            Some(r) if !r.is_empty() => r,
            _ if self.prefix.is_empty() => &text,
            _ => return Err(OutsideNamespace(text.clone())),
        };
        Ok(match self.delimiter {
            Some(d) => rest.split(d).map(str::to_string).collect(),
            None => vec![rest.to_string()],
        })
    }

    /// Encodes a logical path for the wire. Levels must not contain the
    /// delimiter (see [`Hierarchy::sanitize`]).
    pub fn encode(&self, path: &[String]) -> Vec<u8> {
        if path.len() == 1 && path[0].eq_ignore_ascii_case("INBOX") {
            return b"INBOX".to_vec();
        }
        let sep = self.delimiter.map(String::from).unwrap_or_default();
        let joined = format!("{}{}", self.prefix, path.join(&sep));
        if self.utf8 {
            joined.into_bytes()
        } else {
            utf7::encode(&joined).into_bytes()
        }
    }

    /// Makes a path holdable here: a level containing the delimiter has it
    /// replaced by `_`; a flat server (no delimiter) gets the levels joined
    /// with `_`. Returns the path and whether it changed.
    pub fn sanitize(&self, path: &[String]) -> (Vec<String>, bool) {
        let Some(d) = self.delimiter else {
            if path.len() > 1 {
                return (vec![path.join("_")], true);
            }
            return (path.to_vec(), false);
        };
        let mut changed = false;
        let out = path
            .iter()
            .map(|level| {
                if level.contains(d) {
                    changed = true;
                    level.replace(d, "_")
                } else {
                    level.clone()
                }
            })
            .collect();
        (out, changed)
    }
}

/// A logical path as users see it: levels joined by `/`.
pub fn display(path: &[String]) -> String {
    path.join("/")
}

/// Parses a user-given `/`-separated name.
pub fn parse_display(s: &str) -> Vec<String> {
    if s.eq_ignore_ascii_case("INBOX") {
        return vec!["INBOX".into()];
    }
    s.split('/').map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(prefix: &str, d: Option<char>) -> Hierarchy {
        Hierarchy {
            prefix: prefix.into(),
            delimiter: d,
            utf8: false,
            foreign: Vec::new(),
        }
    }

    #[test]
    fn other_users_and_shared_folders_are_outside() {
        // Cyrus with altnamespace: personal prefix "", the others beside it.
        let cyrus = Hierarchy {
            foreign: vec!["Other Users/".into(), "Shared Folders/".into()],
            ..h("", Some('/'))
        };
        assert_eq!(
            cyrus.decode(b"Work/Projects").unwrap(),
            vec!["Work", "Projects"]
        );
        assert_eq!(cyrus.decode(b"INBOX").unwrap(), vec!["INBOX"]);
        for name in [
            &b"Other Users/bob/Projects"[..],
            b"Shared Folders/shared",
            b"Other Users",
            b"Shared Folders",
        ] {
            assert!(
                cyrus.decode(name).is_err(),
                "{}",
                String::from_utf8_lossy(name)
            );
        }
        // A personal folder that merely starts with the same word stays.
        assert!(cyrus.decode(b"Other Users Notes").is_ok());
    }

    #[test]
    fn courier_to_slash() {
        let courier = h("INBOX.", Some('.'));
        let slash = h("", Some('/'));
        let p = courier.decode(b"INBOX.Sent").unwrap();
        assert_eq!(p, vec!["Sent"]);
        assert_eq!(slash.encode(&p), b"Sent");
        let p = courier.decode(b"INBOX.Work.Projects").unwrap();
        assert_eq!(slash.encode(&p), b"Work/Projects");
        assert_eq!(courier.decode(b"INBOX").unwrap(), vec!["INBOX"]);
        assert_eq!(courier.decode(b"inbox").unwrap(), vec!["INBOX"]);
        assert_eq!(courier.encode(&["a".into(), "b".into()]), b"INBOX.a.b");
        assert!(courier.decode(b"Public.x").is_err());
    }

    #[test]
    fn utf7_and_utf8_names() {
        let slash = h("", Some('/'));
        let p = slash.decode(b"Entw&APw-rfe/a&MAA-b").unwrap();
        assert_eq!(p, vec!["Entwürfe", "a\u{3000}b"]);
        assert_eq!(slash.encode(&p), b"Entw&APw-rfe/a&MAA-b");
        let utf8 = Hierarchy {
            utf8: true,
            ..slash
        };
        assert_eq!(utf8.encode(&p), "Entwürfe/a\u{3000}b".as_bytes());
        assert_eq!(utf8.decode("日本語".as_bytes()).unwrap(), vec!["日本語"]);
    }

    #[test]
    fn sanitize_delimiters() {
        let dot = h("INBOX.", Some('.'));
        assert_eq!(
            dot.sanitize(&["v1.2 Notes".into()]),
            (vec!["v1_2 Notes".to_string()], true)
        );
        assert_eq!(
            dot.sanitize(&["Work".into()]),
            (vec!["Work".to_string()], false)
        );
        let flat = h("", None);
        assert_eq!(
            flat.sanitize(&["a".into(), "b".into()]),
            (vec!["a_b".to_string()], true)
        );
    }
}
