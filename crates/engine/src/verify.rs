//! `verify`: an independent check that every source message is on the
//! destination, in the mapped folder, with the same flags and INTERNALDATE,
//! once — and what else the destination folder holds.
//!
//! Independent of the ledger and of the copy's own bookkeeping: both sides are
//! read afresh, and nothing is changed (a `maildir:` destination that does
//! not exist is an error, not created). Full mode compares SHA-256 of every
//! message's bytes (both sides are read whole, streamed); `quick` compares
//! identities (Message-ID, Date, size) instead. Messages the copy options
//! leave out (filters) are reported as skipped.
//!
//! Pairing goes from exact to loose: the same bytes (or identity); then in
//! full mode the same bytes up to line endings (a server's rewrite: present,
//! the change named); then the same Message-ID and Date (changed by the
//! destination: its header or content differs, named). Destination messages
//! left over are duplicates of a source message (the same key as one) or
//! extra (no source counterpart). Duplicates fail the check — "nothing
//! twice" is the promise; extra messages do not — mail arriving on the
//! destination during a migration is normal — but are listed.
//!
//! After a copy, source messages that arrived after the copy read their
//! folder (a UID at or past the UIDNEXT it saw) and are not on the
//! destination yet are *arrived*, not missing: the next pass copies them.
//! Mail keeps arriving at a live mailbox; that is not a failed copy.

use std::collections::{HashMap, HashSet};

use mailport_mail::{date::parse_internal_date, MessageMeta};
use serde::Serialize;

use crate::copy::{open_listings, skip_reason};
use crate::destination::Destination;
use crate::error::EngineError;
use crate::error::MailboxError;
use crate::fingerprint::{self, Change, Fingerprint};
use crate::identity::{IdentityRule, HEADER_FIELDS};
use crate::ledger::clean_flags;
use crate::plan::FolderPlan;
use crate::source::{Source, SourceSession};
use crate::CopyOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// On the destination with the same bytes (or identity, or bytes up to
    /// line endings: see the line's `change`), flags and date.
    Present,
    FlagsDiffer,
    DateDiffers,
    /// On the destination by Message-ID and Date, but its header or content
    /// (or, in quick mode, its size) differs.
    Changed,
    Missing,
    /// Not on the destination, but it arrived on the source after the copy
    /// read the folder: the next pass copies it.
    Arrived,
    /// Left out by the copy options (filters).
    Skipped,
    /// A second (third, ...) destination copy of one source message.
    Duplicate,
    /// A destination message with no source counterpart.
    Extra,
}

/// One line of the manifest: a source message, or a destination message
/// left over (duplicate or extra; then `uid` is null).
#[derive(Debug, Clone, Serialize)]
pub struct ManifestLine {
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: Option<u32>,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub identity: String,
    pub destination_folder: String,
    pub destination_uid: Option<u32>,
    #[serde(rename = "outcome")]
    pub verdict: Verdict,
    /// How the destination changed the message, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderCheck {
    pub source: String,
    pub destination: String,
    pub source_messages: u64,
    pub present: u64,
    pub missing: u64,
    /// Not copied yet: arrived on the source after the copy read the folder.
    pub arrived: u64,
    pub flags_differ: u64,
    pub date_differs: u64,
    /// Present with only line endings changed by the destination (counted
    /// in `present`, `flags_differ` or `date_differs` too).
    pub line_endings_changed: u64,
    /// Found by Message-ID and Date with another header or content.
    pub changed: u64,
    pub skipped: u64,
    pub duplicates: u64,
    pub extra: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub quick: bool,
    pub folders: Vec<FolderCheck>,
    #[serde(skip)]
    pub manifest: Vec<ManifestLine>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.folders.iter().all(|f| {
            f.error.is_none()
                && f.missing == 0
                && f.flags_differ == 0
                && f.date_differs == 0
                && f.changed == 0
                && f.duplicates == 0
        })
    }
}

struct Seen {
    meta: MessageMeta,
    /// Identity under the copy's rule.
    identity: String,
    /// Message-ID and Date only: the loosest pairing.
    loose: String,
    fingerprint: Option<Fingerprint>,
}

impl Seen {
    /// The keys it pairs by, from exact to loose.
    fn keys(&self, quick: bool) -> [Option<String>; 3] {
        match (&self.fingerprint, quick) {
            (Some(f), false) => [
                Some(f.exact.clone()),
                Some(hex(&f.lines)),
                Some(self.loose.clone()),
            ],
            _ => [Some(self.identity.clone()), None, Some(self.loose.clone())],
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads one folder: metadata, identities, and in full mode fingerprints.
async fn read_folder(
    s: &mut SourceSession,
    wire: &[u8],
    quick: bool,
    rule: IdentityRule,
) -> Result<(u32, Vec<Seen>), MailboxError> {
    let st = s.select(wire, true).await?;
    if st.exists == 0 {
        return Ok((st.uidvalidity, Vec::new()));
    }
    let metas = s.fetch_meta("1:*", HEADER_FIELDS).await?;
    let mut prints: HashMap<u32, Fingerprint> = HashMap::new();
    if !quick {
        let by_seq: HashMap<u32, u32> = metas.iter().map(|m| (m.seq, m.uid)).collect();
        prints = fingerprint::read(s, "1:*", &by_seq).await?;
    }
    let seen = metas
        .into_iter()
        .map(|m| {
            let headers = m.headers.as_deref().unwrap_or_default();
            Seen {
                identity: rule.key(headers, m.size),
                loose: IdentityRule::MessageId.key(headers, m.size),
                fingerprint: prints.remove(&m.uid),
                meta: m,
            }
        })
        .collect();
    Ok((st.uidvalidity, seen))
}

/// How a source message and its destination copy compare.
fn compare(s: &Seen, d: &Seen, level: usize) -> (Verdict, Option<Change>) {
    let change = match (&s.fingerprint, &d.fingerprint) {
        (Some(a), Some(b)) => a.change_to(b),
        _ => None,
    };
    if level == 2 {
        return (Verdict::Changed, change);
    }
    let verdict = if clean_flags(&s.meta.flags) != clean_flags(&d.meta.flags) {
        Verdict::FlagsDiffer
    } else if parse_internal_date(&s.meta.internal_date)
        != parse_internal_date(&d.meta.internal_date)
    {
        Verdict::DateDiffers
    } else {
        Verdict::Present
    };
    (verdict, change)
}

/// `arrived_from`: (UIDVALIDITY, UIDNEXT) when the copy read the folder.
async fn check_folder(
    src: &mut SourceSession,
    dst: &mut SourceSession,
    f: &FolderPlan,
    (opts, quick): (&CopyOptions, bool),
    arrived_from: Option<(u32, u32)>,
    manifest: &mut Vec<ManifestLine>,
) -> FolderCheck {
    let mut c = FolderCheck {
        source: f.source.clone(),
        destination: f.destination.clone(),
        ..Default::default()
    };
    let (uidvalidity, source) = match read_folder(src, &f.source_wire, quick, opts.identity).await {
        Ok(r) => r,
        Err(e) => {
            c.error = Some(format!("reading the source folder: {e}"));
            return c;
        }
    };
    let dest = if f.exists_on_destination {
        match read_folder(dst, &f.destination_wire, quick, opts.identity).await {
            Ok((_, d)) => d,
            Err(e) => {
                c.error = Some(format!("reading the destination folder: {e}"));
                return c;
            }
        }
    } else {
        Vec::new()
    };
    c.source_messages = source.len() as u64;
    let pairs = pair_up(&source, &dest, quick);
    let line = |m: &Seen, folder: &str, uid: Option<u32>, dest_uid: Option<u32>| ManifestLine {
        folder: folder.to_string(),
        uidvalidity,
        uid,
        size: m.meta.size,
        sha256: m.fingerprint.as_ref().map(|f| f.exact.clone()),
        identity: m.identity.clone(),
        destination_folder: f.destination.clone(),
        destination_uid: dest_uid,
        verdict: Verdict::Missing,
        change: None,
    };
    for (i, s) in source.iter().enumerate() {
        let (verdict, change, dest_uid) = match pairs.of_source[i] {
            Some((d, level)) => {
                let (v, change) = compare(s, &dest[d], level);
                (v, change, Some(dest[d].meta.uid))
            }
            None if skip_reason(&s.meta, opts).is_some() => (Verdict::Skipped, None, None),
            None if arrived_from
                .is_some_and(|(uv, next)| uv == uidvalidity && s.meta.uid >= next) =>
            {
                (Verdict::Arrived, None, None)
            }
            None => (Verdict::Missing, None, None),
        };
        match verdict {
            Verdict::Present => c.present += 1,
            Verdict::FlagsDiffer => c.flags_differ += 1,
            Verdict::DateDiffers => c.date_differs += 1,
            Verdict::Changed => c.changed += 1,
            Verdict::Missing => c.missing += 1,
            Verdict::Arrived => c.arrived += 1,
            Verdict::Skipped => c.skipped += 1,
            Verdict::Duplicate | Verdict::Extra => {}
        }
        if change == Some(Change::LineEndings) && verdict != Verdict::Changed {
            c.line_endings_changed += 1;
        }
        manifest.push(ManifestLine {
            verdict,
            change,
            ..line(s, &f.source, Some(s.meta.uid), dest_uid)
        });
    }
    for (d, verdict) in pairs.left_over {
        match verdict {
            Verdict::Duplicate => c.duplicates += 1,
            _ => c.extra += 1,
        }
        manifest.push(ManifestLine {
            verdict,
            ..line(&dest[d], &f.source, None, Some(dest[d].meta.uid))
        });
    }
    c
}

/// Source messages paired with destination copies.
struct Pairs {
    /// Per source message: its destination copy and the pairing level
    /// (0 exact, 1 up to line endings, 2 Message-ID and Date).
    of_source: Vec<Option<(usize, usize)>>,
    /// Destination messages no source message took: duplicate or extra.
    left_over: Vec<(usize, Verdict)>,
}

fn pair_up(source: &[Seen], dest: &[Seen], quick: bool) -> Pairs {
    let mut of_source: Vec<Option<(usize, usize)>> = vec![None; source.len()];
    let mut taken = vec![false; dest.len()];
    let src_keys: Vec<_> = source.iter().map(|s| s.keys(quick)).collect();
    let dst_keys: Vec<_> = dest.iter().map(|d| d.keys(quick)).collect();
    for level in 0..3 {
        let mut pool: HashMap<&str, Vec<usize>> = HashMap::new();
        for (d, keys) in dst_keys.iter().enumerate().rev() {
            if let (false, Some(k)) = (taken[d], &keys[level]) {
                pool.entry(k.as_str()).or_default().push(d);
            }
        }
        for (i, keys) in src_keys.iter().enumerate() {
            let Some(k) = keys[level].as_deref().filter(|k| !k.is_empty()) else {
                continue;
            };
            if of_source[i].is_some() {
                continue;
            }
            let Some(list) = pool.get_mut(k).filter(|l| !l.is_empty()) else {
                continue;
            };
            // Prefer a copy with the same flags and date, so that duplicates
            // pair up with the right source message.
            let s = &source[i];
            let exact = list.iter().rposition(|&d| {
                clean_flags(&dest[d].meta.flags) == clean_flags(&s.meta.flags)
                    && parse_internal_date(&dest[d].meta.internal_date)
                        == parse_internal_date(&s.meta.internal_date)
            });
            let d = list.remove(exact.unwrap_or(list.len() - 1));
            taken[d] = true;
            of_source[i] = Some((d, level));
        }
    }
    let source_keys: HashSet<&str> = src_keys
        .iter()
        .flat_map(|k| k.iter().flatten().map(String::as_str))
        .filter(|k| !k.is_empty())
        .collect();
    let left_over = (0..dest.len())
        .filter(|&d| !taken[d])
        .map(|d| {
            let twin = dst_keys[d]
                .iter()
                .flatten()
                .any(|k| source_keys.contains(k.as_str()));
            (
                d,
                if twin {
                    Verdict::Duplicate
                } else {
                    Verdict::Extra
                },
            )
        })
        .collect();
    Pairs {
        of_source,
        left_over,
    }
}

/// Verifies every planned folder on one connection pair.
/// Source folder -> (UIDVALIDITY, UIDNEXT) when a copy read it (see
/// [`crate::report::FolderReport::arrivals_from`]).
pub type Arrivals = HashMap<String, (u32, u32)>;

pub async fn verify(
    source: impl Into<Source>,
    destination: impl Into<Destination>,
    opts: &CopyOptions,
    quick: bool,
    arrivals: &Arrivals,
) -> Result<VerifyReport, EngineError> {
    let (pair, plan) = open_listings(&source.into(), &destination.into(), &opts.plan).await?;
    // Both sides are read the same way.
    let (mut src, mut dst) = (pair.src, pair.dst.into_source());
    let mut report = VerifyReport {
        quick,
        ..Default::default()
    };
    for f in &plan.folders {
        // A folder that cannot be read is reported, and the others checked.
        let arrived_from = arrivals.get(&f.source).copied();
        let check = check_folder(
            &mut src,
            &mut dst,
            f,
            (opts, quick),
            arrived_from,
            &mut report.manifest,
        )
        .await;
        report.folders.push(check);
    }
    let _ = tokio::join!(src.logout(), dst.logout());
    Ok(report)
}
