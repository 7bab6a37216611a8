//! Copy options as users write them (`--include`, `--max-size 25M`,
//! `--since 2024-01-01`, ...), kept as text so that a project can store them
//! and every front door validates them the same way into [`CopyOptions`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::identity::IdentityRule;
use crate::plan::PlanOptions;
use crate::throttle::{Limits, RateLimit};

use super::options::CopyOptions;

/// Every copy option a user can set, as written. Errors of
/// [`CopySettings::to_options`] name the flag and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CopySettings {
    pub include: Option<String>,
    pub exclude: Option<String>,
    /// `SRC=DST` rules.
    pub folder_map: Vec<String>,
    /// The destination folder of the source's INBOX.
    pub to_folder: Option<String>,
    pub max_size: Option<String>,
    pub since: Option<String>,
    pub before: Option<String>,
    pub skip_deleted: bool,
    /// `strict`, `message-id` or `headers`.
    pub identity: String,
    pub connections: u16,
    pub batch: u16,
    pub max_bytes_per_second: Option<String>,
    pub max_messages_per_second: Option<u64>,
    pub sync_deletes: bool,
    pub recopy_deleted: bool,
}

impl Default for CopySettings {
    fn default() -> Self {
        let d = CopyOptions::default();
        CopySettings {
            include: None,
            exclude: None,
            folder_map: Vec::new(),
            to_folder: None,
            max_size: None,
            since: None,
            before: None,
            skip_deleted: false,
            identity: "strict".into(),
            connections: d.connections as u16,
            batch: d.batch_messages as u16,
            max_bytes_per_second: None,
            max_messages_per_second: None,
            sync_deletes: false,
            recopy_deleted: false,
        }
    }
}

impl CopySettings {
    /// Validates every setting into engine options; the first problem as
    /// one sentence naming the flag.
    pub fn to_options(&self) -> Result<CopyOptions, String> {
        let mut folder_map = Vec::new();
        for rule in &self.folder_map {
            let (from, to) = rule
                .split_once('=')
                .filter(|(f, t)| !f.is_empty() && !t.is_empty())
                .ok_or_else(|| {
                    format!("--folder-map {rule:?} must look like SRC=DST, e.g. 'Archiv=Archive'")
                })?;
            folder_map.push((
                from.trim_matches('/').to_string(),
                to.trim_matches('/').to_string(),
            ));
        }
        if let Some(f) = &self.to_folder {
            folder_map.push(("INBOX".to_string(), f.trim_matches('/').to_string()));
        }
        let max_size = self
            .max_size
            .as_deref()
            .map(|s| {
                parse_size(s).ok_or_else(|| {
                    format!("--max-size {s:?} is not a size; write e.g. 25M, 1G or 1048576")
                })
            })
            .transpose()?;
        let (since, before) = (
            date("--since", &self.since)?,
            date("--before", &self.before)?,
        );
        if let (Some(s), Some(b)) = (since, before) {
            if s >= b {
                return Err("--since must be earlier than --before".into());
            }
        }
        let identity = match self.identity.as_str() {
            "strict" => IdentityRule::Strict,
            "message-id" => IdentityRule::MessageId,
            "headers" => IdentityRule::Headers,
            other => {
                return Err(format!(
                    "--identity {other:?} is not one of strict, message-id, headers"
                ))
            }
        };
        let bytes = match &self.max_bytes_per_second {
            None => None,
            Some(s) => Some(RateLimit::new(
                parse_size(s).filter(|&n| n > 0).ok_or_else(|| {
                    format!("--max-bytes-per-second: {s:?} is not a size like 500K or 10M")
                })?,
            )),
        };
        if self.connections == 0 || self.batch == 0 {
            return Err("--connections and --batch must be at least 1".into());
        }
        Ok(CopyOptions {
            max_size,
            since,
            before,
            skip_deleted: self.skip_deleted,
            identity,
            plan: PlanOptions {
                include: regex("--include", &self.include)?,
                exclude: regex("--exclude", &self.exclude)?,
                folder_map,
            },
            connections: usize::from(self.connections),
            batch_messages: usize::from(self.batch),
            limits: Arc::new(Limits {
                bytes,
                messages: self.max_messages_per_second.map(RateLimit::new),
            }),
            sync_deletes: self.sync_deletes,
            recopy_deleted: self.recopy_deleted,
            ..Default::default()
        })
    }
}

fn regex(flag: &str, s: &Option<String>) -> Result<Option<regex::Regex>, String> {
    s.as_deref()
        .map(|r| {
            regex::Regex::new(r).map_err(|e| format!("{flag} {r:?} is not a valid regex: {e}"))
        })
        .transpose()
}

fn date(flag: &str, s: &Option<String>) -> Result<Option<i64>, String> {
    s.as_deref()
        .map(|d| {
            mailport_mail::date::parse_ymd(d)
                .ok_or_else(|| format!("{flag} {d:?} is not a date; write YYYY-MM-DD"))
        })
        .transpose()
}

/// `1048576`, `512K`, `25M`, `1G` (powers of 1024).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("25M"), Some(25 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn settings_become_options_or_say_which_flag_is_wrong() {
        let s = CopySettings {
            include: Some("^Work".into()),
            folder_map: vec!["Archiv=Archive".into()],
            max_size: Some("25M".into()),
            since: Some("2024-01-01".into()),
            identity: "message-id".into(),
            max_bytes_per_second: Some("1M".into()),
            ..Default::default()
        };
        let o = s.to_options().unwrap();
        assert_eq!(o.max_size, Some(25 << 20));
        assert_eq!(o.identity, IdentityRule::MessageId);
        assert_eq!(o.plan.folder_map, vec![("Archiv".into(), "Archive".into())]);
        assert!(o.limits.bytes.is_some());
        // Stored as JSON and read back, the same.
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<CopySettings>(&json).unwrap(), s);
        assert_eq!(
            serde_json::from_str::<CopySettings>("{}").unwrap(),
            CopySettings::default()
        );
        for (bad, flag) in [
            (
                CopySettings {
                    include: Some("(".into()),
                    ..Default::default()
                },
                "--include",
            ),
            (
                CopySettings {
                    folder_map: vec!["x".into()],
                    ..Default::default()
                },
                "--folder-map",
            ),
            (
                CopySettings {
                    max_size: Some("big".into()),
                    ..Default::default()
                },
                "--max-size",
            ),
            (
                CopySettings {
                    since: Some("2024-13-01".into()),
                    ..Default::default()
                },
                "--since",
            ),
            (
                CopySettings {
                    identity: "fuzzy".into(),
                    ..Default::default()
                },
                "--identity",
            ),
        ] {
            let e = bad.to_options().unwrap_err();
            assert!(e.starts_with(flag), "{e}");
        }
    }
}
