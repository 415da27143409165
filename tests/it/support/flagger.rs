//! Flagger itself, for the differential tests that hold fledge's rollouts to what Flagger
//! generates: `flagger` v1.36.1 from its Go module, built by `scripts/flagger.sh` (or given as
//! `FLEDGE_FLAGGER`), run against the test control plane and watching one namespace, so that
//! each test has a Flagger of its own.
//!
//! Every test of it starts with [`or_skip`]: where Flagger cannot be built (no Go) it returns
//! `None`, the test returns and passes, and the test binary says so in one line on stderr,
//! once; under `CI=true` that is a failure instead, so CI never skips them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use super::daemon::free_port;
use super::peer::Peer;
use super::testcluster::TestCluster;

static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();

const PEER: Peer = Peer {
    env: "FLEDGE_FLAGGER",
    name: "flagger",
    tests: "Flagger differential tests",
};

/// The peer, built on first use; `None` where it cannot be built and `CI` is not `true`.
pub(crate) fn or_skip() -> Option<&'static Path> {
    super::peer::or_skip(&PEER, &BINARY)
}

/// A running Flagger; stopped when dropped.
pub(crate) struct Flagger {
    child: Child,
    log: PathBuf,
}

impl Flagger {
    /// Flagger watching the Canaries of `namespace` on `cluster`, its Prometheus at
    /// `metrics_server`, after installing its CRDs (Flagger's own, kept in the repository
    /// for fledge's field checks).
    pub(crate) fn start(
        binary: &Path,
        cluster: &TestCluster,
        namespace: &str,
        metrics_server: &str,
        dir: &Path,
        flags: &[&str],
    ) -> Self {
        let crds =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("src/release/schema/flagger.app_crds.yaml");
        cluster.kubectl(&["apply", "--server-side", "-f", crds.to_str().unwrap()]);
        let log = dir.join(format!("flagger-{namespace}.log"));
        let child = Command::new(binary)
            .arg("-kubeconfig")
            .arg(cluster.kubeconfig())
            .args(["-namespace", namespace, "-metrics-server", metrics_server])
            .args(["-port", &free_port().to_string()])
            .args(["-log-level", "info", "-zap-encoding", "console"])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
            ))
            .spawn()
            .expect("flagger starts");
        Self { child, log }
    }

    /// What Flagger logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Flagger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
