//! The raw limits of the two servers on this machine, measured in-process
//! with mailport's IMAP client on loopback, over plain TCP and over TLS (as
//! the tools connect): fetching every
//! message from the source on one connection, and appending every message to
//! a fresh destination on 1 and 4 connections, one message per APPEND and in
//! MULTIAPPEND batches of 100. The best a tool can do is about the larger of
//! the fetch and the best append figure.

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

async fn append<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Client<S>,
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
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (i, conn) in sessions.into_iter().enumerate() {
        // Folders dealt round-robin; one folder stays on one connection.
        let work: Vec<(String, Vec<Message>)> = corpus
            .folders
            .iter()
            .enumerate()
            .filter(|(k, _)| k % connections == i)
            .map(|(_, f)| (f.name.clone(), f.messages.clone()))
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut conn = conn;
            for (name, msgs) in &work {
                let refs: Vec<&Message> = msgs.iter().collect();
                match &mut conn {
                    Conn::Plain(c) => append(c, name, &refs, batch).await?,
                    Conn::Tls(c) => append(c, name, &refs, batch).await?,
                }
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
