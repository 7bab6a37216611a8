//! The raw limits of the two servers on this machine, measured in-process
//! with mailport's IMAP client on loopback, over plain TCP and over TLS (as
//! the tools connect): fetching every
//! message from the source on one connection, and appending every message to
//! a fresh destination on 1 and 4 connections, one message per APPEND and in
//! MULTIAPPEND batches of 100, the connections taking turns at every folder's
//! batches. The best a tool can do is about the larger of the fetch and the
//! best append figure.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mailport_imap::Client;
use mailport_testbed::corpus::Message;
use mailport_testbed::session;
use mailport_testbed::{Corpus, Dovecot, DovecotOptions};
use tokio::io::{AsyncRead, AsyncWrite};

/// A logged-in session, plain or TLS.
enum Conn {
    Plain(session::Session),
    Tls(Client<mailport_net::MaybeTls>),
}

async fn connect(d: &Dovecot, tls: bool) -> Result<Conn, mailport_imap::Error> {
    Ok(if tls {
        Conn::Tls(session::login_tls(d, "alice").await?)
    } else {
        Conn::Plain(session::login(d.imap_port, "alice", d.password("alice")).await?)
    })
}

async fn fetch_all(src: &Dovecot, tls: bool) -> Result<f64, mailport_imap::Error> {
    match connect(src, tls).await? {
        Conn::Plain(mut c) => fetch_with(&mut c).await,
        Conn::Tls(mut c) => fetch_with(&mut c).await,
    }
}

async fn fetch_with<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Client<S>,
) -> Result<f64, mailport_imap::Error> {
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

/// One APPEND command's worth: a folder and the messages for it.
type Batch = (String, Vec<Message>);

/// Appends batches from `queue` until it is empty.
async fn append_batches<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Client<S>,
    queue: &Mutex<VecDeque<Batch>>,
) -> Result<(), mailport_imap::Error> {
    loop {
        let Some((folder, msgs)) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
        else {
            return Ok(());
        };
        c.append_start(folder.as_bytes()).await?;
        for m in &msgs {
            c.append_message(&m.flags, Some(&m.internal_date), m.raw.len() as u64)
                .await?;
            c.append_write(&m.raw).await?;
        }
        c.append_finish().await?;
    }
}

async fn append_all(
    corpus: &Corpus,
    fsync_never: bool,
    connections: usize,
    batch: usize,
    tls: bool,
) -> Result<f64, mailport_imap::Error> {
    let dst = Dovecot::start(DovecotOptions {
        fsync_never,
        special_use: Vec::new(),
        ..Default::default()
    })
    .map_err(|e| mailport_imap::Error::Usage(e.to_string()))?;
    let mut sessions = Vec::new();
    for _ in 0..connections {
        sessions.push(connect(&dst, tls).await?);
    }
    for f in corpus.folders.iter().filter(|f| f.name != "INBOX") {
        let _ = match &mut sessions[0] {
            Conn::Plain(c) => c.create(f.name.as_bytes()).await,
            Conn::Tls(c) => c.create(f.name.as_bytes()).await,
        };
    }
    // Folder by folder, every connection taking the next batch: a big
    // folder keeps all connections busy, as it does in a mailport copy.
    let queue: VecDeque<Batch> = corpus
        .folders
        .iter()
        .flat_map(|f| {
            f.messages
                .chunks(batch)
                .map(|chunk| (f.name.clone(), chunk.to_vec()))
        })
        .collect();
    let queue = Arc::new(Mutex::new(queue));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for conn in sessions {
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = conn;
            match &mut conn {
                Conn::Plain(c) => append_batches(c, &queue).await,
                Conn::Tls(c) => append_batches(c, &queue).await,
            }
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| mailport_imap::Error::Usage(e.to_string()))??;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// (name, wall seconds) for each limit, over plain TCP and over TLS.
pub async fn measure(src: &Dovecot, corpus: &Corpus, fsync_never: bool) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for tls in [false, true] {
        let via = if tls { "TLS" } else { "plain" };
        match fetch_all(src, tls).await {
            Ok(w) => out.push((format!("limit ({via}): FETCH, 1 connection"), w)),
            Err(e) => eprintln!("fetch limit ({via}) failed: {e}"),
        }
        for (conns, batch) in [(1, 1), (4, 1), (1, 100), (4, 100)] {
            let multi = if batch > 1 {
                " ×100 (MULTIAPPEND)"
            } else {
                ""
            };
            let plural = if conns > 1 { "s" } else { "" };
            let name = format!("limit ({via}): APPEND{multi}, {conns} connection{plural}");
            match append_all(corpus, fsync_never, conns, batch, tls).await {
                Ok(w) => out.push((name, w)),
                Err(e) => eprintln!("{name} failed: {e}"),
            }
        }
    }
    out
}
