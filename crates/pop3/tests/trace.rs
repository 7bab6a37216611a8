//! The wire trace never shows a secret. In its own test binary: tracing
//! caches per callsite whether anyone listens, so a test that installs a
//! subscriber for its thread misses lines other tests' threads reached first.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailport_mail::base64::base64;
use mailport_pop3::auth::apop_digest;
use mailport_pop3::{Client, ClientConfig};
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

/// A client talking to a server that sends `script` and swallows the rest.
async fn scripted(script: &'static [u8]) -> (Client<DuplexStream>, Arc<Mutex<Vec<u8>>>) {
    let (a, mut b) = duplex(1 << 16);
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    tokio::spawn(async move {
        b.write_all(script).await.unwrap();
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = b.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let config = ClientConfig {
        timeout: Duration::from_millis(500),
        ..Default::default()
    };
    (Client::connect(a, config).await.unwrap(), got)
}

/// Collects what `tracing` writes, for the redaction test.
#[derive(Clone, Default)]
struct Trace(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Trace {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_the_wire_trace() {
    let trace = Trace::default();
    let writer = trace.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (mut c, _) = scripted(b"+OK hi <1.2@h>\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+ \r\n+OK\r\n").await;
    c.user_pass("alice", b"hunter2-pass").await.unwrap();
    c.apop("alice", b"hunter2-apop").await.unwrap();
    c.auth_plain("", "alice", b"hunter2-plain").await.unwrap();
    c.auth("XOAUTH2", Some(&[b'h'; 300])).await.unwrap();
    let log = String::from_utf8(trace.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("C: USER alice"), "{log}");
    assert!(log.contains("C: PASS <redacted>"), "{log}");
    assert!(log.contains("C: APOP alice <redacted>"), "{log}");
    assert!(log.contains("C: AUTH PLAIN <redacted>"), "{log}");
    assert!(!log.contains("hunter2"), "{log}");
    assert!(
        !log.contains(&apop_digest("<1.2@h>", b"hunter2-apop")),
        "{log}"
    );
    assert!(!log.contains(&base64(b"\0alice\0hunter2-plain")), "{log}");
    assert!(!log.contains("aGhoaG"), "{log}");
}
