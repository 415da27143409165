//! Flux's kustomize-controller beside the test control plane: the oracle of the sync
//! differential tests. One controller per test binary, started on first use (from the binary
//! `scripts/fluxpeers.sh` builds, or `FLEDGE_FLUX_KUSTOMIZE_CONTROLLER`) on the control plane
//! [`super::testcluster::or_skip`] returns, after Flux's CRDs (`tests/data/flux-crds`); it
//! watches every namespace, runs without leader election, and stops when the test binary exits.
//!
//! No source-controller runs (its module does not build from what the module proxy serves; see
//! docs/flux-parity.md). The harness stands in for it, as kustomize-controller reads it: each
//! commit's tree is served by this process over HTTP as the tar.gz artifact, and the
//! GitRepository's `status.artifact` (URL, `main@sha1:<commit>` revision, `sha256:` digest of
//! those bytes, size, time) and Ready condition are written through the status subresource as
//! source-controller's field manager. kustomize-controller downloads the artifact, checks its
//! digest, extracts it and builds the Kustomization's path, as it does in a Flux installation.
//!
//! Without Go (where the controller cannot be built) [`or_skip`] returns `None` and says so
//! once on stderr; under `CI=true` that is a failure instead.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::sync::OnceCell;

use super::daemon::free_port;
use super::eventually::{never, within};
use super::git::Remote;
use super::testcluster::TestCluster;

/// The kustomize-controller version the harness runs (`scripts/fluxpeers.sh` pins it).
pub(crate) const VERSION: &str = "v1.9.6";

/// Field manager of the GitRepository status the harness writes, as source-controller's own.
const SOURCE_MANAGER: &str = "source-controller";

/// Artifacts served, by URL path.
type Artifacts = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// kustomize-controller running against the test control plane, and the artifacts it fetches.
pub(crate) struct Flux {
    cluster: &'static TestCluster,
    /// The controller's log and temporary directory.
    dir: PathBuf,
    /// The controller's process id (its wrapper's child).
    pid: u32,
    /// `sh` holding the controller: it stops the controller when its stdin, this process's
    /// pipe, closes (when the test binary exits).
    _wrapper: Child,
    artifacts: Artifacts,
    /// The artifact server's URL.
    base: String,
}

static FLUX: OnceCell<Option<Flux>> = OnceCell::const_new();

/// The one line a test binary says when it skips the Flux differential tests.
const SKIPPED: &str = "Flux differential tests SKIPPED: Flux's kustomize-controller could not be \
    built by scripts/fluxpeers.sh (it needs Go and the Go module proxy; see docs/flux-parity.md); \
    set CI=true to make this an error";

/// The controller of this test binary on `cluster`, started on first use; `None` where it cannot
/// be built and `CI` is not `true` (said once, on stderr).
pub(crate) async fn or_skip(cluster: &'static TestCluster) -> Option<&'static Flux> {
    FLUX.get_or_init(|| async move {
        match binary().await {
            Ok(binary) => Some(Flux::start(cluster, &binary).await),
            Err(said) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "the Flux differential tests need kustomize-controller, built from Go modules by \
                 scripts/fluxpeers.sh, and under CI=true they are never skipped:\n{said}"
            ),
            Err(_) => {
                let _ = writeln!(std::io::stderr(), "{SKIPPED}");
                None
            }
        }
    })
    .await
    .as_ref()
}

/// The binary: `FLEDGE_FLUX_KUSTOMIZE_CONTROLLER`, else built (or reused) by
/// `scripts/fluxpeers.sh`; what the script said when it could not build it.
async fn binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FLEDGE_FLUX_KUSTOMIZE_CONTROLLER") {
        return Ok(PathBuf::from(p));
    }
    let out = tokio::process::Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fluxpeers.sh"),
    )
    .arg("kustomize-controller")
    .stdin(Stdio::null())
    .output()
    .await
    .expect("scripts/fluxpeers.sh runs");
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("scripts/fluxpeers.sh: {}\n{said}", out.status));
    }
    let _ = std::io::stderr().write_all(said.as_bytes());
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The CRDs kustomize-controller needs: Kustomization and the three source kinds it watches.
const CRDS: &[&str] = &[
    "kustomizations.kustomize.toolkit.fluxcd.io",
    "gitrepositories.source.toolkit.fluxcd.io",
    "ocirepositories.source.toolkit.fluxcd.io",
    "buckets.source.toolkit.fluxcd.io",
];

impl Flux {
    async fn start(cluster: &'static TestCluster, binary: &Path) -> Self {
        let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/flux-crds");
        cluster.kubectl(&["apply", "--server-side", "-f", crds.to_str().unwrap()]);
        let names: Vec<String> = CRDS.iter().map(|n| format!("crd/{n}")).collect();
        let mut wait = vec!["wait", "--for=condition=Established", "--timeout=60s"];
        wait.extend(names.iter().map(String::as_str));
        cluster.kubectl(&wait);

        let dir = std::env::temp_dir().join(format!("fledge-flux-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Its own TMPDIR: at start it purges the stale temporary directories it finds there.
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let log = std::fs::File::create(dir.join("kustomize-controller.log")).unwrap();
        let health = free_port();
        let started = tokio::time::Instant::now();
        // The controller has no --kubeconfig flag (its flags are pflag's, without Go's flag set
        // where controller-runtime defines it): it reads KUBECONFIG.
        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$@" </dev/null >&2 & c=$!; echo "$c"; cat >/dev/null; kill "$c" 2>/dev/null; wait "$c""#)
            .arg(binary)
            .arg("--watch-all-namespaces=true")
            .arg("--enable-leader-election=false")
            .arg(format!("--metrics-addr=127.0.0.1:{}", free_port()))
            .arg(format!("--health-addr=127.0.0.1:{health}"))
            // A Kustomization whose source has no artifact yet is looked at again this soon.
            .arg("--requeue-dependency=2s")
            .arg("--log-encoding=console")
            .env("KUBECONFIG", cluster.kubeconfig())
            .env("TMPDIR", dir.join("tmp"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("sh starts kustomize-controller");
        let mut line = String::new();
        BufReader::new(wrapper.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let pid: u32 = line.trim().parse().expect("the wrapper prints the pid");
        let artifacts = Artifacts::default();
        let base = serve(artifacts.clone());
        let flux = Self {
            cluster,
            dir,
            pid,
            _wrapper: wrapper,
            artifacts,
            base,
        };
        flux.until_ready(health).await;
        eprintln!(
            "kustomize-controller {VERSION} ready in {:.1}s (pid {pid}, log {})",
            started.elapsed().as_secs_f64(),
            flux.dir.join("kustomize-controller.log").display()
        );
        flux
    }

    /// Waits until the controller answers `/readyz` (at most 60 s).
    async fn until_ready(&self, health: u16) {
        let client = fledge::net::http_client(Duration::from_secs(2), false);
        let url = format!("http://127.0.0.1:{health}/readyz");
        let seen = within(
            Duration::from_secs(60),
            || async { client.get(&url).send().await.map(|r| r.status().as_u16()) },
            |s| matches!(s, Ok(200)),
        )
        .await;
        if let Err(last) = seen {
            panic!(
                "kustomize-controller never became ready ({last:?}):\n{}",
                self.log()
            );
        }
    }

    /// The controller's log, its last 60 lines.
    pub(crate) fn log(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.join("kustomize-controller.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// The controller's resident memory, in KiB (`VmRSS` of /proc).
    pub(crate) fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// Publishes `commit` of `remote` as the artifact of the GitRepository `ns/name` (made when
    /// missing): its tree as a tar.gz served over HTTP, and the GitRepository's status pointing
    /// at it, Ready. Returns the revision, `main@sha1:<commit>`.
    pub(crate) fn publish(&self, ns: &str, name: &str, remote: &Remote, commit: &str) -> String {
        // The tree, not the commit: `git archive` of a commit adds a pax global header (the
        // commit id), which kustomize-controller's untar would write out as a file.
        let out = Command::new("git")
            .current_dir(remote.bare())
            .args(["archive", "--format=tar.gz", &format!("{commit}^{{tree}}")])
            .output()
            .expect("git archive runs");
        assert!(
            out.status.success(),
            "git archive: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tarball = out.stdout;
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&tarball)));
        let size = tarball.len();
        let path = format!("gitrepository/{ns}/{name}/{commit}.tar.gz");
        self.artifacts
            .lock()
            .unwrap()
            .insert(format!("/{path}"), tarball);
        let repository = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": ns},
            // What a person would write; no source-controller reads it here (see the module).
            "spec": {"url": format!("{}/git/{ns}/{name}.git", self.base), "interval": "10m",
                     "ref": {"branch": "main"}},
        });
        let applied = self.apply(&repository, &[]);
        let generation = applied["metadata"]["generation"].clone();
        let revision = format!("main@sha1:{commit}");
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let message = format!("stored artifact for revision '{revision}'");
        let condition = |kind: &str| {
            json!({"type": kind, "status": "True", "reason": "Succeeded", "message": message,
                   "lastTransitionTime": now, "observedGeneration": generation})
        };
        let status = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": ns},
            "status": {
                "observedGeneration": generation,
                "conditions": [condition("Ready"), condition("ArtifactInStorage")],
                "artifact": {"path": path, "url": format!("{}/{path}", self.base),
                             "revision": revision, "digest": digest,
                             "lastUpdateTime": now, "size": size},
            },
        });
        self.apply(&status, &["--subresource=status"]);
        revision
    }

    /// Applies (server-side) the Kustomization `ns/name` with `spec` (its `sourceRef` names the
    /// GitRepository of [`Flux::publish`]).
    pub(crate) fn apply_kustomization(&self, ns: &str, name: &str, spec: &Value) -> Value {
        self.apply(
            &json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": {"name": name, "namespace": ns}, "spec": spec}),
            &[],
        )
    }

    /// Waits (at most two minutes) until the Kustomization `ns/name` is Ready at `revision`;
    /// returns it. A failure shows its status and the controller's log.
    pub(crate) async fn wait_ready(&self, name: &str, ns: &str, revision: &str) -> Value {
        let timeout = Duration::from_secs(120);
        let args = ["kustomization.kustomize.toolkit.fluxcd.io", name, "-n", ns];
        let seen = within(
            timeout,
            || async { self.cluster.get(&args) },
            |k| k.as_ref().is_some_and(|k| ready_at(k, revision)),
        )
        .await;
        match seen {
            Ok(k) => k.expect("ready"),
            Err(last) => panic!(
                "{}\n--- kustomize-controller's log:\n{}",
                never(
                    &format!("Kustomization {ns}/{name} Ready at {revision}"),
                    timeout,
                    &last.map(|k| k["status"].clone())
                ),
                self.log()
            ),
        }
    }

    /// What the Kustomization `ns/name` applied: its `status.inventory` entries, as
    /// (group, kind, namespace, name).
    pub(crate) fn inventory(&self, ns: &str, name: &str) -> Vec<(String, String, String, String)> {
        let k = self
            .cluster
            .get(&["kustomization.kustomize.toolkit.fluxcd.io", name, "-n", ns])
            .expect("the Kustomization exists");
        k["status"]["inventory"]["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| inventory_entry(e["id"].as_str().expect("an inventory id")))
            .collect()
    }

    /// `kubectl apply --server-side` of `object` (on stdin), as source-controller's field
    /// manager for the status subresource and the tests' otherwise; returns what was stored.
    fn apply(&self, object: &Value, extra: &[&str]) -> Value {
        let manager = if extra.is_empty() {
            "flux-tests"
        } else {
            SOURCE_MANAGER
        };
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.cluster.kubeconfig())
            .args(["apply", "--server-side", "--force-conflicts", "-o", "json"])
            .arg(format!("--field-manager={manager}"))
            .args(extra)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(object.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl apply {extra:?} of {object}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Whether the Kustomization is Ready (for its current generation) at `revision`.
fn ready_at(k: &Value, revision: &str) -> bool {
    let status = &k["status"];
    status["lastAppliedRevision"] == revision
        && status["observedGeneration"] == k["metadata"]["generation"]
        && status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// An inventory id, `<namespace>_<name>_<group>_<kind>` (Flux's cli-utils ObjMetadata), as
/// (group, kind, namespace, name).
fn inventory_entry(id: &str) -> (String, String, String, String) {
    // Names and namespaces hold no `_`; groups neither.
    let parts: Vec<&str> = id.split('_').collect();
    assert_eq!(parts.len(), 4, "inventory id {id}");
    (
        parts[2].to_owned(),
        parts[3].to_owned(),
        parts[0].to_owned(),
        parts[1].to_owned(),
    )
}

/// Serves `artifacts` on a free loopback port from a thread of its own (the controller is shared
/// by every test of the binary, each on its own runtime); returns the URL.
fn serve(artifacts: Artifacts) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
                let found = artifacts.lock().unwrap().get(uri.path()).cloned();
                async move {
                    match found {
                        Some(bytes) => (axum::http::StatusCode::OK, bytes),
                        None => (axum::http::StatusCode::NOT_FOUND, Vec::new()),
                    }
                }
            });
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    base
}
