//! A tiny OAuth 2.0 token-info endpoint for Dovecot's `oauth2` passdb: it
//! knows a fixed set of (token, user) pairs, answers `GET
//! /tokeninfo?access_token=T` with `{"username": ...}` for a known token and
//! 401 otherwise. Enough to test XOAUTH2/OAUTHBEARER logins end to end
//! without a real identity provider.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

pub struct TokenEndpoint {
    pub port: u16,
    /// Token lookups answered so far.
    pub lookups: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl TokenEndpoint {
    pub fn start(tokens: Vec<(String, String)>) -> std::io::Result<TokenEndpoint> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let lookups = Arc::new(AtomicUsize::new(0));
        let (s, l) = (stop.clone(), lookups.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(c) = conn {
                    l.fetch_add(1, Ordering::Relaxed);
                    let _ = answer(c, &tokens);
                }
            }
        });
        Ok(TokenEndpoint {
            port,
            lookups,
            stop,
        })
    }

    /// Dovecot settings for an `oauth2` passdb checking tokens here; the
    /// passdb's own file is written into `dir`.
    pub fn dovecot_conf(&self, dir: &Path) -> std::io::Result<String> {
        let ext = dir.join("dovecot-oauth2.conf.ext");
        std::fs::write(
            &ext,
            format!(
                "tokeninfo_url = http://127.0.0.1:{}/tokeninfo?access_token=\nusername_attribute = username\n",
                self.port
            ),
        )?;
        Ok(format!(
            "auth_mechanisms = plain login xoauth2 oauthbearer\npassdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {}\n}}\n",
            ext.display()
        ))
    }
}

impl Drop for TokenEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer(c: TcpStream, tokens: &[(String, String)]) -> std::io::Result<()> {
    let mut reader = BufReader::new(c.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Headers up to the blank line; GET has no body.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let token = request
        .split_whitespace()
        .nth(1)
        .and_then(|path| path.split_once("access_token="))
        .map(|(_, t)| t.split('&').next().unwrap_or(""))
        .unwrap_or("");
    let (status, body) = match tokens.iter().find(|(t, _)| t == token) {
        Some((_, user)) => ("200 OK", format!("{{\"username\":\"{user}\"}}")),
        None => (
            "401 Unauthorized",
            "{\"error\":\"invalid_token\"}".to_string(),
        ),
    };
    let mut out = c;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}
