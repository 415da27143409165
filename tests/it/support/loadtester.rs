//! Flagger's load tester (flagger-loadtester v1.36.1 from Flagger's Go module, built by
//! `scripts/loadtester.sh` or given as `FLEDGE_LOADTESTER`) and `fledge loadtester`, each run
//! as a process on a loopback port, for the differential tests that send both the same
//! requests.
//!
//! Every test of the peer starts with [`or_skip`]: where it cannot be built (no Go) it returns
//! `None`, the test returns and passes, and the test binary says so in one line on stderr,
//! once; under `CI=true` that is a failure instead, so CI never skips them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::daemon::free_port;
use super::eventually;
use super::peer::Peer;

static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();

const PEER: Peer = Peer {
    env: "FLEDGE_LOADTESTER",
    name: "loadtester",
    tests: "load tester differential tests",
};

/// The peer, built on first use; `None` where it cannot be built and `CI` is not `true`.
pub(crate) fn or_skip() -> Option<&'static Path> {
    super::peer::or_skip(&PEER, &BINARY)
}

/// A running load tester; stopped when dropped.
pub(crate) struct LoadTester {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub(crate) base: String,
    log: PathBuf,
}

impl LoadTester {
    /// Flagger's, with its own flags (`-port 1234 -timeout 2s`).
    pub(crate) async fn flagger(binary: &Path, flags: &[&str], log: &Path) -> Self {
        let port = free_port();
        let mut c = Command::new(binary);
        c.args(["-port", &port.to_string(), "-log-level", "info"])
            .args(flags);
        Self::start(c, port, log).await
    }

    /// fledge's, with its own flags (`--timeout 2s`).
    pub(crate) async fn fledge(flags: &[&str], log: &Path) -> Self {
        let port = free_port();
        let mut c = Command::new(env!("CARGO_BIN_EXE_fledge"));
        c.args([
            "loadtester",
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .args(flags);
        Self::start(c, port, log).await
    }

    async fn start(mut c: Command, port: u16, log: &Path) -> Self {
        let child = c
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new().append(true).open(log).unwrap(),
            ))
            .spawn()
            .expect("the load tester starts");
        let me = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log: log.to_path_buf(),
        };
        let url = format!("{}/healthz", me.base);
        eventually(
            format!("{url} answers (log: {})", me.log.display()),
            Duration::from_secs(30),
            || async {
                client()
                    .get(&url)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .ok()
            },
            |s| *s == Some(200),
        )
        .await;
        me
    }

    /// Sends SIGTERM and waits for the process to end (at most `within`); its exit status.
    pub(crate) async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        super::ok(&Command::new("kill").args(["-TERM", &pid]).output().unwrap());
        let child = &mut self.child;
        eventually(
            "the load tester exits after SIGTERM",
            within,
            || std::future::ready(child.try_wait().unwrap()),
            Option::is_some,
        )
        .await
        .expect("it exited")
    }

    /// What it logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `body` with `method` to `path`: the status and body, or the transport's error
    /// (a connection closed without an answer).
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<(u16, String), String> {
        self.send_typed(method, path, body.as_bytes())
            .await
            .map(|(status, _, body)| (status, body))
    }

    /// [`send`](Self::send), with the answer's Content-Type (empty without one).
    pub(crate) async fn send_typed(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, String, String), String> {
        let resp = client()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", self.base),
            )
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        Ok((status, content_type, text))
    }
}

/// fledge's HTTP client (rustls with its provider installed), with a minute for an answer.
fn client() -> reqwest::Client {
    fledge::net::http_client(Duration::from_secs(60), false)
}

impl Drop for LoadTester {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
