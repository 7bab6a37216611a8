//! `verify`: an independent check that every source message is on the
//! destination, in the mapped folder, with the same flags and INTERNALDATE.
//!
//! Independent of the ledger and of the copy's own bookkeeping: both sides are
//! read afresh. Full mode compares SHA-256 of every message's bytes (both
//! sides are read whole, streamed); `quick` compares identities (Message-ID,
//! Date, size) instead. Messages the copy options leave out (filters, the
//! destination's APPENDLIMIT is not known here) are reported as skipped.

use std::collections::HashMap;

use mailport_imap::{date::parse_internal_date, MessageMeta};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::copy::{open_listings, skip_reason, EngineError};
use crate::identity::{IdentityRule, HEADER_FIELDS};
use crate::ledger::clean_flags;
use crate::origin::{Origin, Source};
use crate::plan::FolderPlan;
use crate::target::Destination;
use crate::CopyOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// On the destination with the same bytes (or identity), flags and date.
    Present,
    FlagsDiffer,
    DateDiffers,
    Missing,
    /// Left out by the copy options (filters).
    Skipped,
}

/// One line of the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestLine {
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: u32,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub identity: String,
    pub destination_folder: String,
    pub destination_uid: Option<u32>,
    #[serde(rename = "outcome")]
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderCheck {
    pub source: String,
    pub destination: String,
    pub source_messages: u64,
    pub present: u64,
    pub missing: u64,
    pub flags_differ: u64,
    pub date_differs: u64,
    pub skipped: u64,
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
            f.error.is_none() && f.missing == 0 && f.flags_differ == 0 && f.date_differs == 0
        })
    }
}

struct Seen {
    meta: MessageMeta,
    key: String,
    sha: Option<String>,
}

/// Reads one folder: metadata, and per message its comparison key (SHA-256
/// of the bytes, or the identity in quick mode).
async fn read_folder(
    s: &mut Source,
    wire: &[u8],
    quick: bool,
    rule: IdentityRule,
) -> Result<(u32, Vec<Seen>), mailport_imap::Error> {
    let st = s.select(wire, true).await?;
    if st.exists == 0 {
        return Ok((st.uidvalidity, Vec::new()));
    }
    let metas = s.fetch_meta("1:*", HEADER_FIELDS).await?;
    let mut hashes: HashMap<u32, String> = HashMap::new();
    if !quick {
        let by_seq: HashMap<u32, u32> = metas.iter().map(|m| (m.seq, m.uid)).collect();
        s.body_fetch_start("1:*").await?;
        let mut buf = vec![0u8; 64 << 10];
        while let Some(b) = s.body_next().await? {
            let mut h = Sha256::new();
            loop {
                let n = s.body_read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            if let Some(uid) = b.uid.or_else(|| by_seq.get(&b.seq).copied()) {
                hashes.insert(
                    uid,
                    h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
                );
            }
        }
    }
    let seen = metas
        .into_iter()
        .map(|m| {
            let id = rule.key(m.headers.as_deref().unwrap_or_default(), m.size);
            let sha = hashes.remove(&m.uid);
            let key = if quick {
                id
            } else {
                sha.clone().unwrap_or_default()
            };
            Seen { meta: m, key, sha }
        })
        .collect();
    Ok((st.uidvalidity, seen))
}

async fn check_folder(
    src: &mut Source,
    dst: &mut Source,
    f: &FolderPlan,
    opts: &CopyOptions,
    quick: bool,
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
    // Destination messages by key; each can vouch for one source message.
    let mut pool: HashMap<&str, Vec<&Seen>> = HashMap::new();
    for d in &dest {
        pool.entry(d.key.as_str()).or_default().push(d);
    }
    c.source_messages = source.len() as u64;
    for s in &source {
        let flags = clean_flags(&s.meta.flags);
        let date = parse_internal_date(&s.meta.internal_date);
        let candidates = pool.get_mut(s.key.as_str());
        let (verdict, dest_uid) = match candidates {
            Some(list) if !list.is_empty() && !s.key.is_empty() => {
                // Prefer an exact match, so duplicates pair up correctly.
                let exact = list.iter().position(|d| {
                    clean_flags(&d.meta.flags) == flags
                        && parse_internal_date(&d.meta.internal_date) == date
                });
                let i = exact.unwrap_or(0);
                let d = list.swap_remove(i);
                let v = if exact.is_some() {
                    Verdict::Present
                } else if clean_flags(&d.meta.flags) != flags {
                    Verdict::FlagsDiffer
                } else {
                    Verdict::DateDiffers
                };
                (v, Some(d.meta.uid))
            }
            _ if skip_reason(&s.meta, opts).is_some() => (Verdict::Skipped, None),
            _ => (Verdict::Missing, None),
        };
        match verdict {
            Verdict::Present => c.present += 1,
            Verdict::FlagsDiffer => c.flags_differ += 1,
            Verdict::DateDiffers => c.date_differs += 1,
            Verdict::Missing => c.missing += 1,
            Verdict::Skipped => c.skipped += 1,
        }
        manifest.push(ManifestLine {
            folder: f.source.clone(),
            uidvalidity,
            uid: s.meta.uid,
            size: s.meta.size,
            sha256: s.sha.clone(),
            identity: opts
                .identity
                .key(s.meta.headers.as_deref().unwrap_or_default(), s.meta.size),
            destination_folder: f.destination.clone(),
            destination_uid: dest_uid,
            verdict,
        });
    }
    c
}

/// Verifies every planned folder on one connection pair.
pub async fn verify(
    source: impl Into<Origin>,
    destination: impl Into<Destination>,
    opts: &CopyOptions,
    quick: bool,
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
        let check = check_folder(&mut src, &mut dst, f, opts, quick, &mut report.manifest).await;
        report.folders.push(check);
    }
    let _ = tokio::join!(src.logout(), dst.logout());
    Ok(report)
}
