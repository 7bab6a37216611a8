//! A fault-injecting TCP relay: sits between a client and a server on
//! loopback, forwards bytes both ways, and once armed cuts or stalls the
//! connection that carries the N-th byte (once per arming).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close both sides once this many bytes have passed since arming.
    Cut { after: u64 },
    /// Stop forwarding (keep the sockets open) once this many bytes have passed.
    Stall { after: u64 },
}

#[derive(Default)]
struct State {
    fault: Mutex<Option<Fault>>,
    bytes: AtomicU64,
    fired: AtomicU64,
    /// Milliseconds added before forwarding each chunk (a slow link).
    delay_ms: AtomicU64,
}

pub struct Relay {
    pub port: u16,
    state: Arc<State>,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Listens on a free loopback port and forwards to `127.0.0.1:target`.
    pub async fn start(target: u16) -> std::io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State::default());
        let st = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await {
                        pump(client, server, st).await;
                    }
                });
            }
        });
        Ok(Relay {
            port,
            state,
            accept,
        })
    }

    /// Arms a fault; it fires once, on whichever connection reaches it.
    pub fn arm(&self, fault: Fault) {
        self.state.bytes.store(0, Ordering::SeqCst);
        *self.state.fault.lock().expect("relay lock") = Some(fault);
    }

    /// Delays every forwarded chunk by `ms` milliseconds (0: none).
    pub fn set_delay(&self, ms: u64) {
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// How many faults have fired.
    pub fn fired(&self) -> u64 {
        self.state.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

enum Verdict {
    Go,
    Cut,
    Stall,
}

fn account(st: &State, n: usize) -> Verdict {
    let total = st.bytes.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
    let mut fault = st.fault.lock().expect("relay lock");
    let verdict = match *fault {
        Some(Fault::Cut { after }) if total >= after => Verdict::Cut,
        Some(Fault::Stall { after }) if total >= after => Verdict::Stall,
        _ => return Verdict::Go,
    };
    *fault = None;
    st.fired.fetch_add(1, Ordering::SeqCst);
    verdict
}

async fn pump(client: TcpStream, server: TcpStream, st: Arc<State>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let mut a = vec![0u8; 16 << 10];
    let mut b = vec![0u8; 16 << 10];
    loop {
        let (n, to_server) = tokio::select! {
            r = cr.read(&mut a) => (r.unwrap_or(0), true),
            r = sr.read(&mut b) => (r.unwrap_or(0), false),
        };
        if n == 0 {
            return;
        }
        match account(&st, n) {
            Verdict::Go => {}
            Verdict::Cut => return,
            Verdict::Stall => {
                // Hold the sockets open, forwarding nothing, until the client gives up.
                while cr.read(&mut a).await.unwrap_or(0) > 0 {}
                return;
            }
        }
        let delay = st.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let w = if to_server {
            sw.write_all(&a[..n]).await
        } else {
            cw.write_all(&b[..n]).await
        };
        if w.is_err() {
            return;
        }
    }
}
