//! Flux's kustomize-controller and source-controller beside the test control plane: the oracle
//! of the sync differential tests. One of each per test binary, started on first use (from the
//! binaries `scripts/fluxpeers.sh` builds, or `FLEDGE_FLUX_KUSTOMIZE_CONTROLLER` and
//! `FLEDGE_FLUX_SOURCE_CONTROLLER`) on the control plane [`super::testcluster::or_skip`]
//! returns, after Flux's CRDs (`tests/data/flux-crds`); they watch every namespace, run without
//! leader election, and stop when the test binary exits.
//!
//! A test's GitRepository ([`Flux::git_repository`]) points source-controller at the test's bare
//! repository through `git http-backend` behind the tests' smart-HTTP server (the CRD takes
//! http(s) and ssh URLs only), with basic auth from a Secret; source-controller stores each
//! commit as an artifact and serves it to kustomize-controller, as in a Flux installation.
//! [`Flux::fetch`] asks for a reconciliation at once (`reconcile.fluxcd.io/requestedAt`, as
//! `flux reconcile source git` does) rather than waiting for the interval.
//!
//! Flux's image-reflector-controller and image-automation-controller ([`ImageControllers`]) are
//! started apart, on first use of [`image_or_skip`] (from `scripts/fluxpeers.sh`, or
//! `FLEDGE_FLUX_IMAGE_REFLECTOR_CONTROLLER` and `FLEDGE_FLUX_IMAGE_AUTOMATION_CONTROLLER`), so
//! that tests which do not need them do not wait for them: the reflector scans the tests' loopback
//! OCI registry ([`super::registry`]; plain HTTP, `spec.insecure`) into a Badger database of its
//! own, and the automation controller clones and pushes over the tests' smart-HTTP Git server
//! ([`ImageControllers::git_repository`]; go-git sends basic auth over plain HTTP for it).
//!
//! Without Go (where the controllers cannot be built) [`or_skip`] and [`image_or_skip`] return
//! `None` and say so once on stderr; under `CI=true` that is a failure instead.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::daemon::free_port;
use super::eventually::{never, within};
use super::git::Remote;
use super::testcluster::TestCluster;

/// The version of Flux's controllers the harness runs (`scripts/fluxpeers.sh` pins it).
pub(crate) const VERSION: &str = "v1.9.6";

/// The version of Flux's image controllers the harness runs (`scripts/fluxpeers.sh` pins it).
pub(crate) const IMAGE_VERSION: &str = "v1.2.0";

/// A controller process: `sh` holding it stops it when its stdin, this process's pipe, closes
/// (when the test binary exits).
struct Controller {
    name: &'static str,
    /// The controller's process id (its wrapper's child).
    pid: u32,
    /// Its health port (`/readyz`).
    health: u16,
    _wrapper: Child,
}

/// Flux's controllers running against the test control plane.
pub(crate) struct Flux {
    cluster: &'static TestCluster,
    /// The controllers' logs, temporary directories and artifact storage.
    dir: PathBuf,
    kustomize: Controller,
    source: Controller,
}

static FLUX: OnceCell<Option<Flux>> = OnceCell::const_new();

/// Flux's image-reflector-controller and image-automation-controller running against the test
/// control plane.
pub(crate) struct ImageControllers {
    cluster: &'static TestCluster,
    /// The controllers' logs, temporary directories and the reflector's database.
    dir: PathBuf,
    reflector: Controller,
    automation: Controller,
}

static IMAGE: OnceCell<Option<ImageControllers>> = OnceCell::const_new();

/// The one line a test binary says when it skips the Flux differential tests.
const SKIPPED: &str = "Flux differential tests SKIPPED: Flux's controllers could not be built by \
    scripts/fluxpeers.sh (they need Go and the Go module proxy; see docs/flux-parity.md); set \
    CI=true to make this an error";

/// The one line a test binary says when it skips the tests of Flux's image controllers.
const IMAGE_SKIPPED: &str = "Flux image automation tests SKIPPED: Flux's \
    image-reflector-controller and image-automation-controller could not be built by \
    scripts/fluxpeers.sh (they need Go and the Go module proxy; see docs/flux-parity.md); set \
    CI=true to make this an error";

/// The controllers of this test binary on `cluster`, started on first use; `None` where they
/// cannot be built and `CI` is not `true` (said once, on stderr).
pub(crate) async fn or_skip(cluster: &'static TestCluster) -> Option<&'static Flux> {
    FLUX.get_or_init(|| async move {
        let peers = [
            ("kustomize-controller", "FLEDGE_FLUX_KUSTOMIZE_CONTROLLER"),
            ("source-controller", "FLEDGE_FLUX_SOURCE_CONTROLLER"),
        ];
        match binaries(peers).await {
            Ok([kustomize, source]) => Some(Flux::start(cluster, &kustomize, &source).await),
            Err(said) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "the Flux differential tests need kustomize-controller and source-controller, \
                 built from Go modules by scripts/fluxpeers.sh, and under CI=true they are never \
                 skipped:\n{said}"
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

/// The binaries of two of Flux's controllers, each given as (name, variable): the variables'
/// (`FLEDGE_FLUX_KUSTOMIZE_CONTROLLER`), else built (or reused) by `scripts/fluxpeers.sh`; what
/// the script said when it could not build them.
async fn binaries(peers: [(&str, &str); 2]) -> Result<[PathBuf; 2], String> {
    if let (Some(a), Some(b)) = (std::env::var_os(peers[0].1), std::env::var_os(peers[1].1)) {
        return Ok([PathBuf::from(a), PathBuf::from(b)]);
    }
    let out = tokio::process::Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fluxpeers.sh"),
    )
    .args(peers.map(|(name, _)| name))
    .stdin(Stdio::null())
    .output()
    .await
    .expect("scripts/fluxpeers.sh runs");
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("scripts/fluxpeers.sh: {}\n{said}", out.status));
    }
    let _ = std::io::stderr().write_all(said.as_bytes());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut paths = stdout.lines().map(PathBuf::from);
    match (paths.next(), paths.next()) {
        (Some(a), Some(b)) => Ok([a, b]),
        _ => Err(format!("scripts/fluxpeers.sh printed {stdout:?}\n{said}")),
    }
}

/// The CRDs of the kinds the controllers watch: Kustomization and every source kind.
const CRDS: &[&str] = &[
    "kustomizations.kustomize.toolkit.fluxcd.io",
    "gitrepositories.source.toolkit.fluxcd.io",
    "ocirepositories.source.toolkit.fluxcd.io",
    "buckets.source.toolkit.fluxcd.io",
    "helmrepositories.source.toolkit.fluxcd.io",
    "helmcharts.source.toolkit.fluxcd.io",
    "externalartifacts.source.toolkit.fluxcd.io",
];

/// The CRDs of the image controllers' own kinds (they watch GitRepositories too).
const IMAGE_CRDS: &[&str] = &[
    "imagerepositories.image.toolkit.fluxcd.io",
    "imagepolicies.image.toolkit.fluxcd.io",
    "imageupdateautomations.image.toolkit.fluxcd.io",
];

/// Applies every CRD of `tests/data/flux-crds` (server-side, so that two harnesses starting at
/// once agree) and waits until each is established.
fn install_crds(cluster: &TestCluster) {
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/flux-crds");
    cluster.kubectl(&["apply", "--server-side", "-f", crds.to_str().unwrap()]);
    let names: Vec<String> = CRDS
        .iter()
        .chain(IMAGE_CRDS)
        .map(|n| format!("crd/{n}"))
        .collect();
    let mut wait = vec!["wait", "--for=condition=Established", "--timeout=60s"];
    wait.extend(names.iter().map(String::as_str));
    cluster.kubectl(&wait);
}

/// A fresh directory for the controllers' logs, temporary directories and storage:
/// `<tmp>/<prefix>-<pid>`.
fn fresh_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Controllers started by `spawn` (given the try, counted from 1) that answer `/readyz` and stay
/// up. A port found free can be taken before a controller binds it (its metrics server then
/// fails a second after /readyz first answered, and the controller exits): such a start is
/// tried again on other ports, at most three times.
async fn start_up<T>(
    what: &str,
    dir: &Path,
    spawn: impl Fn(u32) -> T,
    controllers: impl Fn(&T) -> [&Controller; 2],
) -> T {
    let started = tokio::time::Instant::now();
    for attempt in 1..=3 {
        // Dropping a try's controllers stops them.
        let up = spawn(attempt);
        match until_ready(dir, &controllers(&up)).await {
            Ok(()) => {
                eprintln!(
                    "{what} ready in {:.1}s (logs in {})",
                    started.elapsed().as_secs_f64(),
                    dir.display()
                );
                return up;
            }
            Err(why) if attempt < 3 => {
                eprintln!(
                    "{what} did not stay up (try {attempt}), started again on other ports: {why}"
                );
            }
            Err(why) => panic!("{why}"),
        }
    }
    unreachable!("the last try returns or panics")
}

/// Waits until `controllers` answer `/readyz` (at most 60 s) and still do two seconds later,
/// once their managers started everything else.
async fn until_ready(dir: &Path, controllers: &[&Controller]) -> Result<(), String> {
    for c in controllers {
        answers(dir, c, Duration::from_secs(60)).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for c in controllers {
        answers(dir, c, Duration::ZERO).await?;
    }
    Ok(())
}

/// Whether `c` answers `/readyz` within `timeout`; its log when it does not.
async fn answers(dir: &Path, c: &Controller, timeout: Duration) -> Result<(), String> {
    let client = fledge::net::http_client(Duration::from_secs(2), false);
    let url = format!("http://127.0.0.1:{}/readyz", c.health);
    let seen = within(
        timeout,
        || async { client.get(&url).send().await.map(|r| r.status().as_u16()) },
        |s| matches!(s, Ok(200)),
    )
    .await;
    seen.map(|_| ())
        .map_err(|last| format!("{} is not ready ({last:?}):\n{}", c.name, log(dir, c)))
}

/// A controller's log, its last 60 lines.
fn log(dir: &Path, c: &Controller) -> String {
    let text = std::fs::read_to_string(dir.join(format!("{}.log", c.name))).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Controllers' logs, their last lines each.
fn logs(dir: &Path, controllers: &[&Controller]) -> String {
    controllers
        .iter()
        .map(|c| format!("--- {}'s log:\n{}", c.name, log(dir, c)))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Flux {
    async fn start(cluster: &'static TestCluster, kustomize: &Path, source: &Path) -> Self {
        install_crds(cluster);
        let dir = fresh_dir("fledge-flux");
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        start_up(
            &format!("Flux {VERSION} (source-controller, kustomize-controller)"),
            &dir,
            |_| Self::spawn_both(cluster, &dir, kustomize, source),
            |f| [&f.source, &f.kustomize],
        )
        .await
    }

    /// Both controllers, on free ports, writing into `dir`.
    fn spawn_both(
        cluster: &'static TestCluster,
        dir: &Path,
        kustomize: &Path,
        source: &Path,
    ) -> Self {
        let storage = free_port();
        let source = spawn(
            cluster,
            dir,
            "source-controller",
            source,
            &[
                format!("--storage-path={}", dir.join("storage").display()),
                format!("--storage-addr=127.0.0.1:{storage}"),
                format!("--storage-adv-addr=127.0.0.1:{storage}"),
            ],
        );
        let kustomize = spawn(
            cluster,
            dir,
            "kustomize-controller",
            kustomize,
            // A Kustomization whose source has no artifact yet is looked at again this soon.
            &["--requeue-dependency=2s".to_owned()],
        );
        Self {
            cluster,
            dir: dir.to_owned(),
            kustomize,
            source,
        }
    }

    /// Both controllers' logs, their last lines.
    pub(crate) fn logs(&self) -> String {
        logs(&self.dir, &[&self.source, &self.kustomize])
    }

    /// The resident memory of kustomize-controller and of source-controller, in KiB (`VmRSS`).
    pub(crate) fn rss_kib(&self) -> (u64, u64) {
        (rss_kib(self.kustomize.pid), rss_kib(self.source.pid))
    }

    /// The GitRepository `ns/name` of `remote`'s `main`: the repository served over HTTP with a
    /// token (the Secret `<name>-auth` holds it), fetched by source-controller. The server runs
    /// as long as the returned handle lives.
    pub(crate) fn git_repository(&self, ns: &str, name: &str, remote: &Remote) -> GitServer {
        git_repository(self.cluster, ns, name, remote)
    }

    /// Asks source-controller to fetch the GitRepository `ns/name` now, and waits (at most two
    /// minutes) until its artifact is `commit` and it is Ready; returns the revision,
    /// `main@sha1:<commit>`.
    pub(crate) async fn fetch(&self, ns: &str, name: &str, commit: &str) -> String {
        request_reconcile(
            self.cluster,
            "gitrepository.source.toolkit.fluxcd.io",
            ns,
            name,
        );
        let revision = format!("main@sha1:{commit}");
        let args = ["gitrepository.source.toolkit.fluxcd.io", name, "-n", ns];
        self.until(
            &format!("GitRepository {ns}/{name} Ready at {revision}"),
            &args,
            |g| g["status"]["artifact"]["revision"] == revision.as_str(),
        )
        .await;
        revision
    }

    /// Applies (server-side) the Kustomization `ns/name` with `spec` (its `sourceRef` names a
    /// GitRepository of [`Flux::git_repository`]).
    pub(crate) fn apply_kustomization(&self, ns: &str, name: &str, spec: &Value) -> Value {
        apply(
            self.cluster,
            &json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": {"name": name, "namespace": ns}, "spec": spec}),
        )
    }

    /// `kubectl apply --server-side` of `object` (an OCIRepository, say); returns what was
    /// stored.
    pub(crate) fn apply(&self, object: &Value) -> Value {
        apply(self.cluster, object)
    }

    /// Waits (at most two minutes) until the Kustomization `ns/name` is Ready at `revision`;
    /// returns it. A failure shows its status and the controllers' logs.
    pub(crate) async fn wait_ready(&self, name: &str, ns: &str, revision: &str) -> Value {
        let args = ["kustomization.kustomize.toolkit.fluxcd.io", name, "-n", ns];
        self.until(
            &format!("Kustomization {ns}/{name} Ready at {revision}"),
            &args,
            |k| k["status"]["lastAppliedRevision"] == revision,
        )
        .await
    }

    /// Waits (at most two minutes) until `kubectl get <args>` is Ready for its generation and
    /// `done` holds of it; returns it.
    async fn until(&self, what: &str, args: &[&str], done: impl Fn(&Value) -> bool) -> Value {
        until(self.cluster, || self.logs(), what, args, done).await
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
}

/// The image controllers of this test binary on `cluster`, started on first use (apart from
/// [`or_skip`]'s); `None` where they cannot be built and `CI` is not `true` (said once, on
/// stderr).
pub(crate) async fn image_or_skip(
    cluster: &'static TestCluster,
) -> Option<&'static ImageControllers> {
    IMAGE
        .get_or_init(|| async move {
            let peers = [
                (
                    "image-reflector-controller",
                    "FLEDGE_FLUX_IMAGE_REFLECTOR_CONTROLLER",
                ),
                (
                    "image-automation-controller",
                    "FLEDGE_FLUX_IMAGE_AUTOMATION_CONTROLLER",
                ),
            ];
            match binaries(peers).await {
                Ok([reflector, automation]) => {
                    Some(ImageControllers::start(cluster, &reflector, &automation).await)
                }
                Err(said) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                    "the Flux image automation tests need image-reflector-controller and \
                 image-automation-controller, built from Go modules by scripts/fluxpeers.sh, and \
                 under CI=true they are never skipped:\n{said}"
                ),
                Err(_) => {
                    let _ = writeln!(std::io::stderr(), "{IMAGE_SKIPPED}");
                    None
                }
            }
        })
        .await
        .as_ref()
}

impl ImageControllers {
    async fn start(cluster: &'static TestCluster, reflector: &Path, automation: &Path) -> Self {
        install_crds(cluster);
        let dir = fresh_dir("fledge-flux-image");
        start_up(
            &format!(
                "Flux {IMAGE_VERSION} (image-reflector-controller, image-automation-controller)"
            ),
            &dir,
            |attempt| Self::spawn_both(cluster, &dir, reflector, automation, attempt),
            |i| [&i.reflector, &i.automation],
        )
        .await
    }

    /// Both controllers, on free ports, writing into `dir`; the reflector's database a new one
    /// for each `attempt` (a stopped try's process may still hold the last one's lock).
    fn spawn_both(
        cluster: &'static TestCluster,
        dir: &Path,
        reflector: &Path,
        automation: &Path,
        attempt: u32,
    ) -> Self {
        let db = dir.join(format!("reflector-db-{attempt}"));
        let reflector = spawn(
            cluster,
            dir,
            "image-reflector-controller",
            reflector,
            &[
                format!("--storage-path={}", db.display()),
                // Badger maps its value log files: 16 MiB rather than 256.
                "--storage-value-log-file-size=16777216".to_owned(),
                // An ImagePolicy whose ImageRepository was not scanned yet is looked at again
                // this soon.
                "--requeue-dependency=2s".to_owned(),
            ],
        );
        let automation = spawn(cluster, dir, "image-automation-controller", automation, &[]);
        Self {
            cluster,
            dir: dir.to_owned(),
            reflector,
            automation,
        }
    }

    /// Both controllers' logs, their last lines.
    pub(crate) fn logs(&self) -> String {
        logs(&self.dir, &[&self.reflector, &self.automation])
    }

    /// Applies (server-side) the ImageRepository `ns/name` of `image` (`127.0.0.1:<port>/<repo>`,
    /// a [`super::registry::Registry`]'s, no scheme, no tag), scanned over plain HTTP
    /// (`spec.insecure`) every ten minutes, or at once on [`ImageControllers::scan`].
    pub(crate) fn image_repository(&self, ns: &str, name: &str, image: &str) -> Value {
        self.apply(&json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageRepository",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"image": image, "interval": "10m", "insecure": true},
        }))
    }

    /// Applies (server-side) the ImagePolicy `ns/name` choosing the highest tag of the
    /// ImageRepository `ns/repository` in the semver range `range` (`>=1.0.0`).
    pub(crate) fn image_policy(
        &self,
        ns: &str,
        name: &str,
        repository: &str,
        range: &str,
    ) -> Value {
        self.apply(&json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImagePolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"imageRepositoryRef": {"name": repository},
                     "policy": {"semver": {"range": range}}},
        }))
    }

    /// Asks image-reflector-controller to scan the ImageRepository `ns/name` now (after a push),
    /// as `flux reconcile image repository` does.
    pub(crate) fn scan(&self, ns: &str, name: &str) {
        request_reconcile(
            self.cluster,
            "imagerepository.image.toolkit.fluxcd.io",
            ns,
            name,
        );
    }

    /// Waits (at most two minutes) until the ImagePolicy `ns/name` is Ready with the tag `tag`
    /// as its latest (`status.latestRef.tag`); returns it. A failure shows its status and the
    /// controllers' logs.
    pub(crate) async fn wait_latest(&self, ns: &str, name: &str, tag: &str) -> Value {
        let args = ["imagepolicy.image.toolkit.fluxcd.io", name, "-n", ns];
        self.until(
            &format!("ImagePolicy {ns}/{name} Ready at tag {tag}"),
            &args,
            |p| p["status"]["latestRef"]["tag"] == tag,
        )
        .await
    }

    /// The GitRepository `ns/name` of `remote`'s `main` served over HTTP with a token (the
    /// Secret `<name>-auth` holds it), which an ImageUpdateAutomation's `sourceRef` names:
    /// image-automation-controller clones it and pushes to it itself. The server runs as long as
    /// the returned handle lives.
    pub(crate) fn git_repository(&self, ns: &str, name: &str, remote: &Remote) -> GitServer {
        git_repository(self.cluster, ns, name, remote)
    }

    /// `kubectl apply --server-side` of `object` (an ImageUpdateAutomation, say); returns what
    /// was stored.
    pub(crate) fn apply(&self, object: &Value) -> Value {
        apply(self.cluster, object)
    }

    /// Waits (at most two minutes) until `kubectl get <args>` is Ready for its generation and
    /// `done` holds of it; returns it. A failure shows its status and the controllers' logs.
    pub(crate) async fn until(
        &self,
        what: &str,
        args: &[&str],
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        until(self.cluster, || self.logs(), what, args, done).await
    }
}

/// Annotates `kind` `ns/name` with `reconcile.fluxcd.io/requestedAt` (now), as `flux
/// reconcile` does: its controller reconciles it at once rather than at its interval.
fn request_reconcile(cluster: &TestCluster, kind: &str, ns: &str, name: &str) {
    let now = jiff::Timestamp::now().to_string();
    cluster.kubectl(&[
        "annotate",
        "--overwrite",
        kind,
        name,
        "-n",
        ns,
        &format!("reconcile.fluxcd.io/requestedAt={now}"),
    ]);
}

/// The GitRepository `ns/name` of `remote`'s `main`, served over HTTP with a token in the Secret
/// `<name>-auth`; the server runs as long as the returned handle lives.
fn git_repository(cluster: &TestCluster, ns: &str, name: &str, remote: &Remote) -> GitServer {
    let server = GitServer::start(remote);
    cluster.kubectl(&[
        "create",
        "secret",
        "generic",
        &format!("{name}-auth"),
        "-n",
        ns,
        "--from-literal=username=flux",
        &format!("--from-literal=password={}", server.token),
    ]);
    apply(
        cluster,
        &json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"url": server.url(),
                     "interval": "10m", "ref": {"branch": "main"},
                     "secretRef": {"name": format!("{name}-auth")}},
        }),
    );
    server
}

/// Waits (at most two minutes) until `kubectl get <args>` is Ready for its generation and
/// `done` holds of it; returns it. A failure shows its status and `logs()`.
async fn until(
    cluster: &TestCluster,
    logs: impl Fn() -> String,
    what: &str,
    args: &[&str],
    done: impl Fn(&Value) -> bool,
) -> Value {
    let timeout = Duration::from_secs(120);
    let seen = within(
        timeout,
        || async { cluster.get(args) },
        |o| o.as_ref().is_some_and(|o| ready(o) && done(o)),
    )
    .await;
    match seen {
        Ok(o) => o.expect("ready"),
        Err(last) => panic!(
            "{}\n{}",
            never(&what, timeout, &last.map(|o| o["status"].clone())),
            logs()
        ),
    }
}

/// `kubectl apply --server-side` of `object` (on stdin); returns what was stored.
fn apply(cluster: &TestCluster, object: &Value) -> Value {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .args([
            "apply",
            "--server-side",
            "--field-manager=flux-tests",
            "-o",
            "json",
        ])
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
        "kubectl apply of {object}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Starts the controller `name` from `binary` with `flags` beside the common ones (every
/// namespace, no leader election, metrics and health on free loopback ports), its log in
/// `dir/<name>.log` and its own TMPDIR (at start it purges the stale temporary directories it
/// finds there).
fn spawn(
    cluster: &TestCluster,
    dir: &Path,
    name: &'static str,
    binary: &Path,
    flags: &[String],
) -> Controller {
    let tmp = dir.join(format!("{name}-tmp"));
    std::fs::create_dir_all(&tmp).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let health = free_port();
    // The controllers have no --kubeconfig flag (their flags are pflag's, without Go's flag set
    // where controller-runtime defines it): they read KUBECONFIG.
    let mut wrapper = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" "$@" </dev/null >&2 & c=$!; echo "$c"; cat >/dev/null; kill "$c" 2>/dev/null; wait "$c""#)
        .arg(binary)
        .arg("--watch-all-namespaces=true")
        .arg("--enable-leader-election=false")
        .arg(format!("--metrics-addr=127.0.0.1:{}", free_port()))
        .arg(format!("--health-addr=127.0.0.1:{health}"))
        .arg("--log-encoding=console")
        .args(flags)
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("TMPDIR", &tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("sh starts {name}: {e}"));
    let mut line = String::new();
    BufReader::new(wrapper.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = line.trim().parse().expect("the wrapper prints the pid");
    Controller {
        name,
        pid,
        health,
        _wrapper: wrapper,
    }
}

/// A process's resident memory, in KiB (`VmRSS` of /proc).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Whether a Flux object is Ready for its current generation.
fn ready(o: &Value) -> bool {
    let status = &o["status"];
    status["observedGeneration"] == o["metadata"]["generation"]
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

/// A bare repository served over Git's smart HTTP (`git http-backend` behind the tests' server,
/// `tests/support/git_http_server.py`) with basic auth; stopped when dropped.
pub(crate) struct GitServer {
    child: Child,
    port: u16,
    token: String,
}

impl GitServer {
    /// `remote` served to anyone, as a public repository is.
    pub(crate) fn public(remote: &Remote) -> Self {
        Self::serve(remote, String::new())
    }

    /// The URL of the repository.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/remote.git", self.port)
    }

    fn start(remote: &Remote) -> Self {
        Self::serve(remote, format!("flux-{}", free_port()))
    }

    fn serve(remote: &Remote, token: String) -> Self {
        let mut child = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/git_http_server.py"))
            .arg(remote.dir.path())
            .args(["flux", &token])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the Git HTTP server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Self {
            port: line.trim().parse().expect("the server prints its port"),
            child,
            token,
        }
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
