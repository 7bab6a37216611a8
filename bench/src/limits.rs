//! The raw limits of the two servers on this machine, measured in-process
//! with mailport's IMAP client over plain TCP on loopback: fetching every
//! message from the source on one connection, and appending every message to
//! a fresh destination on 1 and 4 connections, one message per APPEND and in
//! MULTIAPPEND batches of 100. The best a tool can do is about the larger of
//! the fetch and the best append figure.

use std::time::Instant;

use mailport_testbed::corpus::Message;
use mailport_testbed::session::{self, Session};
use mailport_testbed::{Corpus, Dovecot, DovecotOptions};

async fn fetch_all(src: &Dovecot) -> Result<f64, mailport_imap::Error> {
    let mut c = session::login(src.imap_port, "alice", src.password("alice")).await?;
    let t = Instant::now();
    let mut buf = vec![0u8; 64 << 10];
    for folder in c.list_all().await? {
        if folder.has_attribute("\\Noselect") || c.select(&folder.name, true).await?.exists == 0 {
            continue;
        }
        c.body_fetch_start("1:*").await?;
        while c.body_next().await?.is_some() {
            while c.body_read(&mut buf).await? > 0 {}
        }
    }
    Ok(t.elapsed().as_secs_f64())
}

async fn append(
    c: &mut Session,
    folder: &str,
    msgs: &[&Message],
    batch: usize,
) -> Result<(), mailport_imap::Error> {
    if folder != "INBOX" {
        let _ = c.create(folder.as_bytes()).await;
    }
    for chunk in msgs.chunks(batch) {
        c.append_start(folder.as_bytes()).await?;
        for m in chunk {
            c.append_message(&m.flags, Some(&m.internal_date), m.raw.len() as u64)
                .await?;
            c.append_write(&m.raw).await?;
        }
        c.append_finish().await?;
    }
    Ok(())
}

async fn append_all(
    corpus: &Corpus,
    fsync_never: bool,
    connections: usize,
    batch: usize,
) -> Result<f64, mailport_imap::Error> {
    let dst = Dovecot::start(DovecotOptions {
        fsync_never,
        special_use: Vec::new(),
        ..Default::default()
    })
    .map_err(|e| mailport_imap::Error::Usage(e.to_string()))?;
    let mut sessions = Vec::new();
    for _ in 0..connections {
        sessions.push(session::login(dst.imap_port, "alice", dst.password("alice")).await?);
    }
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (i, mut c) in sessions.into_iter().enumerate() {
        // Folders dealt round-robin; one folder stays on one connection.
        let work: Vec<(String, Vec<Message>)> = corpus
            .folders
            .iter()
            .enumerate()
            .filter(|(k, _)| k % connections == i)
            .map(|(_, f)| (f.name.clone(), f.messages.clone()))
            .collect();
        tasks.push(tokio::spawn(async move {
            for (name, msgs) in &work {
                let refs: Vec<&Message> = msgs.iter().collect();
                append(&mut c, name, &refs, batch).await?;
            }
            Ok::<_, mailport_imap::Error>(())
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| mailport_imap::Error::Usage(e.to_string()))??;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// (name, wall seconds) for each limit.
pub async fn measure(src: &Dovecot, corpus: &Corpus, fsync_never: bool) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    match fetch_all(src).await {
        Ok(w) => out.push(("limit: FETCH, 1 connection".to_string(), w)),
        Err(e) => eprintln!("fetch limit failed: {e}"),
    }
    for (conns, batch) in [(1, 1), (4, 1), (1, 100), (4, 100)] {
        let name = format!(
            "limit: APPEND{}, {conns} connection{}",
            if batch > 1 {
                " ×100 (MULTIAPPEND)"
            } else {
                ""
            },
            if conns > 1 { "s" } else { "" }
        );
        match append_all(corpus, fsync_never, conns, batch).await {
            Ok(w) => out.push((name, w)),
            Err(e) => eprintln!("{name} failed: {e}"),
        }
    }
    out
}
