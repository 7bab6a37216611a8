//! The change a delta pass has to carry: 1% new messages in INBOX and a
//! keyword set on every 20th message of every folder (5%); and its undoing,
//! so that every tool starts from the same source.

use mailport_imap::uidset;
use mailport_testbed::session::Session;
use mailport_testbed::Corpus;

/// What [`apply`] did, for [`revert`].
pub struct Change {
    new_uids: Vec<u32>,
    flagged: Vec<(Vec<u8>, Vec<u32>)>,
}

const KEYWORD: &str = "$BenchChanged";

pub async fn apply(c: &mut Session, fresh: &Corpus) -> Result<Change, mailport_imap::Error> {
    let mut new_uids = Vec::new();
    for m in fresh.folders.iter().flat_map(|f| &f.messages) {
        c.append_start(b"INBOX").await?;
        c.append_message(&m.flags, Some(&m.internal_date), m.raw.len() as u64)
            .await?;
        c.append_write(&m.raw).await?;
        if let Some(a) = c.append_finish().await? {
            new_uids.extend(a.uids);
        }
    }
    let mut flagged = Vec::new();
    for folder in c.list_all().await? {
        if folder.has_attribute("\\Noselect") {
            continue;
        }
        let st = c.select(&folder.name, false).await?;
        if st.exists == 0 {
            continue;
        }
        let uids: Vec<u32> = c
            .fetch_meta("1:*", &[])
            .await?
            .iter()
            .map(|m| m.uid)
            .step_by(20)
            .collect();
        if uids.is_empty() {
            continue;
        }
        c.command(
            format!(
                "UID STORE {} +FLAGS.SILENT ({KEYWORD})",
                uidset::compress(&uids)
            )
            .as_bytes(),
        )
        .await?;
        flagged.push((folder.name, uids));
    }
    Ok(Change { new_uids, flagged })
}

pub async fn revert(c: &mut Session, change: Change) -> Result<(), mailport_imap::Error> {
    for (folder, uids) in change.flagged {
        c.select(&folder, false).await?;
        c.command(
            format!(
                "UID STORE {} -FLAGS.SILENT ({KEYWORD})",
                uidset::compress(&uids)
            )
            .as_bytes(),
        )
        .await?;
    }
    if !change.new_uids.is_empty() {
        c.select(b"INBOX", false).await?;
        let set = uidset::compress(&change.new_uids);
        c.command(format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)").as_bytes())
            .await?;
        c.command(format!("UID EXPUNGE {set}").as_bytes()).await?;
    }
    Ok(())
}
