//! A TCP proxy in front of the test API server, for faults that must hit one daemon and not the
//! other tests sharing the control plane: it passes bytes through, stalls them (connections
//! stay open and nothing moves, as a hung API server), or goes down (every connection closed
//! and new ones dropped, as a stopped one). TLS passes through untouched: the server's
//! certificate names 127.0.0.1, where the proxy listens too.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Pass,
    Stall,
    Down,
}

/// A running proxy; it stops when dropped.
pub(crate) struct Proxy {
    mode: watch::Sender<Mode>,
    kubeconfig: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// A proxy to the server of `kubeconfig`, and a copy of that kubeconfig in `dir` that
    /// points at the proxy.
    pub(crate) async fn new(kubeconfig: &Path, dir: &Path) -> Self {
        let text = std::fs::read_to_string(kubeconfig).unwrap();
        let server = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: https://"))
            .expect("the kubeconfig names an https server")
            .trim()
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let path = dir.join("kubeconfig-proxied");
        std::fs::write(
            &path,
            text.replace(
                &format!("server: https://{server}"),
                &format!("server: https://127.0.0.1:{port}"),
            ),
        )
        .unwrap();
        let (mode, rx) = watch::channel(Mode::Pass);
        let task = tokio::spawn(accept(listener, server, rx));
        Self {
            mode,
            kubeconfig: path,
            task,
        }
    }

    /// The kubeconfig that reaches the server through the proxy.
    pub(crate) fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub(crate) fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

async fn accept(listener: TcpListener, server: String, mode: watch::Receiver<Mode>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if *mode.borrow() == Mode::Down {
            drop(client);
            continue;
        }
        let (server, mode) = (server.clone(), mode.clone());
        tokio::spawn(async move {
            let Ok(upstream) = TcpStream::connect(&server).await else {
                return;
            };
            let (cr, cw) = client.into_split();
            let (ur, uw) = upstream.into_split();
            // Either direction ending (or the proxy going down) closes both.
            tokio::select! {
                () = pump(cr, uw, mode.clone()) => {}
                () = pump(ur, cw, mode) => {}
            }
        });
    }
}

/// Waits until traffic may pass; `false` when the proxy went down.
async fn passing(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        match *mode.borrow_and_update() {
            Mode::Pass => return true,
            Mode::Down => return false,
            Mode::Stall => {}
        }
        if mode.changed().await.is_err() {
            return false;
        }
    }
}

/// Copies one direction, holding bytes while stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0; 1 << 16];
    loop {
        if !passing(&mut mode).await {
            return;
        }
        let n = tokio::select! {
            n = from.read(&mut buf) => n,
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        let n = match n {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Read as the stall began: the bytes wait with the rest.
        if !passing(&mut mode).await || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
