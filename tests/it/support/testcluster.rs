//! A real Kubernetes control plane for the tests: one per test binary, started on first use from
//! the binary `scripts/testcluster.sh` builds (or `FLEDGE_TESTCLUSTER`), waited for until it
//! prints `READY` (at most two minutes, then its component logs are shown), and stopped when the
//! test binary exits (the control plane stops when the process that started it is gone). Each
//! test works in namespaces of its own.
//!
//! Every test of it starts with [`or_skip`]: where the control plane cannot be built (no Go) it
//! returns `None`, the test returns and passes, and the test binary says so in one line on
//! stderr, once; under `CI=true` that is a failure instead, so CI never skips them.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fledge::cluster::kube::KubeCluster;
use serde_json::Value;

/// A running control plane.
pub(crate) struct TestCluster {
    /// Its directory: `kubeconfig` and the component logs.
    pub(crate) dir: PathBuf,
    child: Child,
}

static CLUSTER: OnceLock<Option<TestCluster>> = OnceLock::new();
static NAMESPACES: AtomicUsize = AtomicUsize::new(0);

/// The binary: `FLEDGE_TESTCLUSTER`, else built (or reused) by `scripts/testcluster.sh`; what
/// the script said when it could not build it.
fn binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FLEDGE_TESTCLUSTER") {
        return Ok(PathBuf::from(p));
    }
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testcluster.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("scripts/testcluster.sh runs");
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("scripts/testcluster.sh: {}\n{said}", out.status));
    }
    // A build's progress, shown once it is done.
    let _ = std::io::stderr().write_all(said.as_bytes());
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for name in [
        "etcd.log",
        "kube-apiserver.log",
        "kube-controller-manager.log",
        "kubelet.log",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        let _ = writeln!(out, "--- {name} (last lines)");
        for l in tail.into_iter().rev() {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn start(binary: &Path, name: &str) -> TestCluster {
    let dir = std::env::temp_dir().join(format!("fledge-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let started = std::time::SystemTime::now();
    let mut child = Command::new(binary)
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the test control plane starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(line) if line.starts_with("READY ") => {
            eprintln!(
                "test control plane ready in {:.1}s: {line}",
                started.elapsed().unwrap_or_default().as_secs_f64()
            );
        }
        other => panic!(
            "the test control plane did not become ready ({other:?}):\n{}",
            logs(&dir)
        ),
    }
    TestCluster { dir, child }
}

/// The one line a test binary says when it skips the real-cluster tests.
const SKIPPED: &str = "real-cluster tests SKIPPED: the test control plane could not be built \
    (it needs Go 1.26 and the Go module proxy; see docs/testing.md); set CI=true to make this an \
    error";

/// The control plane of this test binary, started on first use; `None` where it cannot be built
/// and `CI` is not `true` (said once, on stderr, past the test harness's capture).
pub(crate) fn or_skip() -> Option<&'static TestCluster> {
    CLUSTER
        .get_or_init(|| match binary() {
            Ok(binary) => Some(start(&binary, "testcluster")),
            Err(said) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "the real-cluster tests need the test control plane, built from Go modules with \
                 Go 1.26 (see docs/testing.md), and under CI=true they are never skipped:\n{said}"
            ),
            Err(_) => {
                let _ = writeln!(std::io::stderr(), "{SKIPPED}");
                None
            }
        })
        .as_ref()
}

/// A control plane of its own, for a test whose objects would meet another's (fixed
/// namespaces, cluster-wide objects), named `name`; stopped when dropped. `None` where the
/// real-cluster tests are skipped (see [`or_skip`]).
pub(crate) fn another(name: &str) -> Option<TestCluster> {
    or_skip()?;
    let binary = binary().expect("built for the first control plane");
    Some(start(&binary, name))
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestCluster {
    pub(crate) fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// fledge's client of the cluster, as `fledge run --kubeconfig` makes it.
    pub(crate) async fn kube(&self) -> KubeCluster {
        KubeCluster::connect(Some(&self.kubeconfig()), None)
            .await
            .expect("the test control plane's kubeconfig works")
    }

    /// Runs kubectl against the cluster; returns stdout (asserting success).
    pub(crate) fn kubectl(&self, args: &[&str]) -> String {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl get <object> -n <ns> -o jsonpath=<path>`, say
    /// `c.jsonpath("release/web", ns, "{.status.phase}")`.
    pub(crate) fn jsonpath(&self, object: &str, ns: &str, path: &str) -> String {
        self.kubectl(&["get", object, "-n", ns, "-o", &format!("jsonpath={path}")])
    }

    /// `kubectl get <args> -o json`: the object, or `None` when kubectl fails (it does not
    /// exist).
    pub(crate) fn get(&self, args: &[&str]) -> Option<Value> {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(["get", "-o", "json"])
            .args(args)
            .output()
            .expect("kubectl runs");
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// A new namespace for one test (`<prefix>-<n>`).
    pub(crate) fn namespace(&self, prefix: &str) -> String {
        let ns = format!("{prefix}-{}", NAMESPACES.fetch_add(1, Ordering::SeqCst));
        self.kubectl(&["create", "namespace", &ns]);
        ns
    }
}
