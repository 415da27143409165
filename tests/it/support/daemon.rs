//! `fledge run` for the tests, one harness for every test that runs the daemon. A [`Builder`]
//! gathers its flags and its directory (cache, simulated cluster, log) and starts it either as a
//! process ([`Daemon`]: its API and `/metrics` read over HTTP, its log captured, stopped with
//! SIGINT or SIGKILL, killed when dropped) or inside the test's own runtime ([`InProcess`]: the
//! same wiring, whose simulated cluster and shared state the test reads and changes directly).
//! Either listens on a free loopback port.

use std::ffi::{OsStr, OsString};
use std::fmt::Debug;
use std::future::{Future, ready};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use fledge::cluster::SimHandle;
use fledge::daemon::Shared;
use fledge::daemon::edges::AnyCluster;
use fledge::object::ObjectKey;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::eventually::{never, within};

/// A free port on loopback (bound, then let go for the daemon or a peer to bind). It is taken
/// below the kernel's ephemeral range (`ip_local_port_range`), from which `bind(0)` and
/// outgoing connections draw theirs: a port found there can be handed to another socket before
/// it is bound again (a peer then failed to bind its metrics port). Ports are drawn in turn, from
/// a start that differs between test processes, so that two calls never return the same port.
pub(crate) fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|low| *low > 12_000)
        .unwrap_or(32_768);
    // Ports from 10 000 up to the ephemeral range.
    let span = low - 10_000;
    let start = std::process::id().wrapping_mul(7_919);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let port = u16::try_from(10_000 + start.wrapping_add(n) % span).expect("below 65536");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on loopback between 10000 and {low}");
}

/// The flags of a `fledge run` and where it keeps its state; see the module.
pub(crate) struct Builder {
    args: Vec<OsString>,
    dir: PathBuf,
    port: u16,
    health: Option<u16>,
    shell: Option<String>,
    stderr_piped: bool,
}

impl Builder {
    /// `fledge run --repo <repo>`, its cache in `dir/cache`, listening on a free loopback port.
    pub(crate) fn new(repo: &str, dir: &Path) -> Self {
        Self {
            args: vec!["--repo".into(), repo.into()],
            dir: dir.to_path_buf(),
            port: free_port(),
            health: None,
            shell: None,
            stderr_piped: false,
        }
    }

    /// The port it will listen on (`--listen`).
    pub(crate) fn listen_port(&self) -> u16 {
        self.port
    }

    pub(crate) fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// On the simulated cluster persisted in `dir/cluster` (kept across restarts), its analysis
    /// reading the simulated traffic (`--metrics-provider sim`).
    pub(crate) fn sim_cluster(self) -> Self {
        let cluster = format!("--cluster=sim:{}", self.dir.join("cluster").display());
        self.args([cluster.as_str(), "--metrics-provider", "sim"])
    }

    /// Listening on `port` rather than a free port of its own (the same one across restarts).
    pub(crate) fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// With a health listener (`--health-listen`) on a free port.
    pub(crate) fn health_listener(mut self) -> Self {
        self.health = Some(free_port());
        self
    }

    /// Reporting to a forge (GitHub's API: repository `org/config`) and an alert webhook, both at
    /// `base` (a [`super::recorder`]), as the cluster `prod`; the token and URL files are
    /// written into the daemon's directory.
    pub(crate) fn reporting_to(self, base: &str) -> Self {
        let token = self.dir.join("forge-token");
        std::fs::write(&token, "forge-t0ken\n").unwrap();
        let hook = self.dir.join("alert-url");
        std::fs::write(&hook, format!("{base}/alerts")).unwrap();
        self.args(["--forge", "github", "--forge-api", base])
            .args(["--forge-repo", "org/config", "--cluster-name", "prod"])
            .args([OsStr::new("--forge-token-file"), token.as_os_str()])
            .args([OsStr::new("--alert-webhook-url-file"), hook.as_os_str()])
    }

    /// Started as `sh -c '<setup> && exec fledge run …'` (say, `ulimit -n 128`).
    pub(crate) fn after_shell(mut self, setup: &str) -> Self {
        self.shell = Some(setup.to_owned());
        self
    }

    /// Its stderr (the log) piped to the test ([`Daemon::take_stderr`]) rather than to a file.
    pub(crate) fn stderr_piped(mut self) -> Self {
        self.stderr_piped = true;
        self
    }

    /// Every flag: those given, then where it listens and keeps its cache.
    fn all_args(&self) -> Vec<OsString> {
        let mut all = self.args.clone();
        all.push(format!("--listen=127.0.0.1:{}", self.port).into());
        if let Some(h) = self.health {
            all.push(format!("--health-listen=127.0.0.1:{h}").into());
        }
        all.push(format!("--cache-dir={}", self.dir.join("cache").display()).into());
        all
    }

    /// Starts it as a process; its log (stderr) goes to `dir/fledge-<port>.log`, appended to
    /// across restarts on the same port.
    pub(crate) fn spawn(self) -> Daemon {
        let fledge = env!("CARGO_BIN_EXE_fledge");
        let mut cmd = match &self.shell {
            None => Command::new(fledge),
            Some(setup) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("{setup} && exec \"$0\" \"$@\""))
                    .arg(fledge);
                sh
            }
        };
        cmd.arg("run")
            .args(self.all_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let log = self.dir.join(format!("fledge-{}.log", self.port));
        if self.stderr_piped {
            cmd.stderr(Stdio::piped());
        } else {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap();
            cmd.stderr(file);
        }
        Daemon {
            child: cmd.spawn().expect("fledge run starts"),
            port: self.port,
            health: self.health,
            log,
            client: fledge::net::http_client(Duration::from_secs(5), false),
        }
    }

    /// Starts it inside the test's runtime, on the simulated cluster (which it must be given).
    pub(crate) async fn in_process(self) -> InProcess {
        assert!(
            self.shell.is_none() && !self.stderr_piped,
            "process-only settings"
        );
        let argv = ["fledge".into(), "run".into()]
            .into_iter()
            .chain(self.all_args());
        let cli = fledge::cli::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
        let fledge::cli::Command::Run(args) = cli.command else {
            unreachable!("the command is `run`")
        };
        let p = fledge::cli::run::prepare(*args).await.unwrap();
        let AnyCluster::Sim(sim) = &p.edges.cluster else {
            panic!("an in-process daemon runs on the simulated cluster")
        };
        let sim = sim.clone();
        let shared = Arc::new(Shared::default());
        let token = CancellationToken::new();
        let task = tokio::spawn(fledge::daemon::run(
            p.config,
            p.edges,
            shared.clone(),
            token.clone(),
        ));
        InProcess {
            sim,
            shared,
            token,
            task,
        }
    }
}

/// `fledge run` as a process; killed (SIGKILL) when dropped.
pub(crate) struct Daemon {
    child: Child,
    /// The port of `--listen`.
    pub(crate) port: u16,
    /// The port of `--health-listen`, when it has one.
    pub(crate) health: Option<u16>,
    log: PathBuf,
    client: reqwest::Client,
}

impl Daemon {
    /// The address of `--listen`.
    pub(crate) fn listen(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// What it logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stderr, when started with [`Builder::stderr_piped`].
    pub(crate) fn take_stderr(&mut self) -> ChildStderr {
        self.child.stderr.take().expect("stderr piped")
    }

    /// Kills it with SIGKILL (no shutdown path runs) and reaps it.
    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends it SIGINT, as Ctrl-C does.
    pub(crate) fn interrupt(&self) {
        let sent = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -INT {}", self.pid());
    }

    /// How it exited, if it does within `timeout`.
    pub(crate) async fn exited(&mut self, timeout: Duration) -> Option<ExitStatus> {
        within(
            timeout,
            || ready(self.child.try_wait().unwrap()),
            Option::is_some,
        )
        .await
        .ok()
        .flatten()
    }

    /// Waits until every listener answers `/healthz` (at most 30 s); fails with its log if it
    /// exits first.
    pub(crate) async fn serving(&mut self) {
        for port in [Some(self.port), self.health].into_iter().flatten() {
            let url = format!("http://127.0.0.1:{port}/healthz");
            let (child, client, log) = (&mut self.child, &self.client, &self.log);
            let answered = within(
                Duration::from_secs(30),
                || {
                    if let Some(status) = child.try_wait().unwrap() {
                        let log = std::fs::read_to_string(log).unwrap_or_default();
                        panic!("fledge run exited ({status}):\n{log}");
                    }
                    let request = client.get(&url).send();
                    async { request.await.is_ok_and(|r| r.status().is_success()) }
                },
                |ok| *ok,
            )
            .await;
            assert!(
                answered.is_ok(),
                "fledge run never answered on {url}:\n{}",
                self.log()
            );
        }
    }

    /// A GET of `path` on its API, as JSON; `Null` when it does not answer.
    pub(crate) async fn get(&self, path: &str) -> Value {
        match self
            .client
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// Its view of the releases (`/api/releases`); `Null` when it does not answer.
    pub(crate) async fn releases(&self) -> Value {
        self.get("/api/releases").await
    }

    /// Its view of the release in namespace `ns`.
    pub(crate) async fn release_in(&self, ns: &str) -> Option<Value> {
        let list = self.releases().await;
        list.as_array()?
            .iter()
            .find(|v| v["namespace"] == ns)
            .cloned()
    }

    /// Its view of the release named `name`.
    async fn release_named(&self, name: &str) -> Option<Value> {
        let list = self.releases().await;
        list.as_array()?.iter().find(|v| v["name"] == name).cloned()
    }

    /// Its `/metrics` text.
    pub(crate) async fn metrics(&self) -> String {
        self.client
            .get(format!("http://127.0.0.1:{}/metrics", self.port))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of the series `name` (with its labels, if any) on `/metrics`; 0 when absent.
    pub(crate) async fn counter(&self, name: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits (at most 60 s) until it has gone round `n` more times: each round takes a poll of
    /// the repository, syncs what is due and ticks the releases that are due (a round is done
    /// when the next poll is counted on `/metrics`).
    pub(crate) async fn rounds(&self, n: u64) {
        let polls = || self.counter("fledge_polls_total");
        let from = polls().await;
        #[expect(clippy::cast_precision_loss, reason = "a handful of rounds")]
        let until = from + (n + 1) as f64;
        self.eventually(
            &format!("{n} more rounds"),
            Duration::from_secs(60),
            polls,
            |p| *p >= until,
        )
        .await;
    }

    /// [`super::eventually`], with this daemon's log in the failure.
    pub(crate) async fn eventually<T: Debug, F: Future<Output = T>>(
        &self,
        what: &str,
        timeout: Duration,
        observe: impl FnMut() -> F,
        done: impl FnMut(&T) -> bool,
    ) -> T {
        match within(timeout, observe, done).await {
            Ok(seen) => seen,
            Err(last) => panic!(
                "{}\n--- fledge run's log:\n{}",
                never(&what, timeout, &last),
                self.log()
            ),
        }
    }

    /// Waits (at most 60 s) until `done` holds of the release named `name`; returns its view.
    pub(crate) async fn until(
        &self,
        name: &str,
        what: &str,
        mut done: impl FnMut(&Value) -> bool,
    ) -> Value {
        let seen = self
            .eventually(
                what,
                Duration::from_secs(60),
                || self.release_named(name),
                |v| v.as_ref().is_some_and(&mut done),
            )
            .await;
        seen.expect("done holds of a release")
    }

    /// Waits (at most `secs` seconds) until `done` holds of the release in namespace `ns`;
    /// returns its view.
    pub(crate) async fn until_in(
        &self,
        ns: &str,
        what: &str,
        secs: u64,
        mut done: impl FnMut(&Value) -> bool,
    ) -> Value {
        let seen = self
            .eventually(
                what,
                Duration::from_secs(secs),
                || self.release_in(ns),
                |v| v.as_ref().is_some_and(&mut done),
            )
            .await;
        seen.expect("done holds of a release")
    }

    /// Waits (at most 60 s) until `done` holds of `/api/sync`; returns it.
    pub(crate) async fn until_sync(&self, what: &str, done: impl FnMut(&Value) -> bool) -> Value {
        self.eventually(
            what,
            Duration::from_secs(60),
            || self.get("/api/sync"),
            done,
        )
        .await
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `fledge run` inside the test's runtime: its simulated cluster and its shared state (what its
/// API serves), read and changed directly.
pub(crate) struct InProcess {
    pub(crate) sim: SimHandle,
    pub(crate) shared: Arc<Shared>,
    token: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    /// Stops it as SIGTERM would, and waits for it.
    pub(crate) async fn stop(self) {
        self.token.cancel();
        self.task.await.unwrap().unwrap();
    }

    /// An object of its simulated cluster.
    pub(crate) fn get(
        &self,
        group: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        self.sim.sim.lock().unwrap().get(&ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        })
    }

    /// Waits (at most 20 s) until it has gone round `n` more times: each round takes a poll of
    /// the repository, syncs what is due and ticks the releases that are due (a round is done
    /// when the next poll is counted).
    pub(crate) async fn rounds(&self, n: u64) {
        let from = self.shared.counters().polls;
        self.until(&format!("{n} more rounds"), |d| {
            d.shared.counters().polls > from + n
        })
        .await;
    }

    /// Waits (at most 20 s) until the release `key` (`namespace/name`) is in `phase`.
    pub(crate) async fn until_phase(&self, key: &str, phase: &str) {
        self.until(&format!("{key} {phase}"), |d| {
            d.shared
                .releases()
                .get(key)
                .is_some_and(|v| v.phase == phase)
        })
        .await;
    }

    /// Waits (at most 20 s) until `done` holds; fails with the sync status and the releases.
    pub(crate) async fn until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let held = within(Duration::from_secs(20), || ready(done(self)), |d| *d).await;
        assert!(
            held.is_ok(),
            "never within 20s: {what}\nsync: {:?}\nreleases: {:?}",
            self.shared.sync(),
            self.shared.releases()
        );
    }
}
