//! `fledge run`'s settings: flags, and a YAML file (`--config`) for the rest — flags win —
//! validated into a [`Config`] whose fields are domain types. Validation connects to nothing:
//! it reads the settings, the environment captured at start-up ([`Environment`]) and the
//! credential files the settings name, and reports every problem at once, each with its flag
//! (the `--config` key is the flag's name in camelCase). Credentials come only from files or
//! environment variables, never from flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::analysis::Auth as MetricsAuth;
use crate::analysis::prometheus::auth_from_files;
use crate::cluster::inventory::PruneGuard;
use crate::keys;
use crate::net::Secret;
use crate::release::spec::{Provider, parse_duration};
use crate::release::state::DEFAULT_PROMOTED_WINDOW;
use crate::report::alerts::Target;
use crate::report::forge::{ForgeConfig, ForgeKind};
use crate::source::poller::Timing;
use crate::source::{
    Auth, Reference, SourceConfig, SshAuth, Verification, Verifier, VerifyMode, webhook,
};
use crate::writeback::WriterConfig;

/// Settings of the daemon. Every field can be given as a flag or in the `--config` file
/// (camelCase keys). Every `--*-file` flag names a credential file, which must exist and hold
/// more than whitespace.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RunArgs {
    /// YAML file with any of these settings (flags override it)
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Config repository URL (file://, a path, https://, ssh://, user@host:path)
    #[arg(long)]
    pub repo: Option<String>,
    /// Branch to track (default main)
    #[arg(long, conflicts_with_all = ["tag", "semver", "commit"])]
    pub branch: Option<String>,
    /// Tag to track
    #[arg(long)]
    pub tag: Option<String>,
    /// Semver range: track the newest matching tag
    #[arg(long)]
    pub semver: Option<String>,
    /// Commit to pin
    #[arg(long)]
    pub commit: Option<String>,
    /// Directory of the repository to render (default: its root)
    #[arg(long)]
    pub path: Option<String>,
    /// Poll interval (default 1m)
    #[arg(long)]
    pub interval: Option<String>,
    /// https: username (the token or password comes from --password-file)
    #[arg(long)]
    pub username: Option<String>,
    /// https: file holding the password or token
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// ssh: private key file
    #[arg(long)]
    pub ssh_key_file: Option<PathBuf>,
    /// ssh: known_hosts file (default ~/.ssh/known_hosts)
    #[arg(long)]
    pub known_hosts_file: Option<PathBuf>,
    /// Refuse commits not signed by these keys: a file or a directory holding them as a Flux
    /// verification Secret does (the Secret mounted as a volume): `*.sshpub` SSH public keys
    /// (authorized_keys lines), any other file (`*.asc`) an armored OpenPGP key ring. A refused
    /// commit is never rendered or applied
    #[arg(long)]
    pub verify_keys: Option<PathBuf>,
    /// What --verify-keys checks, as Flux's spec.verify.mode: `head` (the commit, the default),
    /// `tag` (the annotated tag --tag or --semver tracks) or `tagandhead` (both)
    #[arg(long)]
    pub verify_mode: Option<String>,
    /// `kube` (kubeconfig or in-cluster) or `sim[:DIR]` (the simulated cluster, persisted in DIR)
    #[arg(long)]
    pub cluster: Option<String>,
    /// kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the in-cluster account)
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context
    #[arg(long)]
    pub context: Option<String>,
    /// `prometheus` or `sim`
    #[arg(long)]
    pub metrics_provider: Option<String>,
    /// Prometheus URL (default http://prometheus:9090)
    #[arg(long)]
    pub metrics_server: Option<String>,
    /// File holding a bearer token for Prometheus
    #[arg(long)]
    pub metrics_token_file: Option<PathBuf>,
    /// File holding `username:password` for Prometheus
    #[arg(long)]
    pub metrics_basic_auth_file: Option<PathBuf>,
    /// Provider of Canaries without spec.provider (default istio)
    #[arg(long)]
    pub mesh_provider: Option<String>,
    /// Ingress class of the HTTPProxies the contour provider writes (spec.ingressClassName),
    /// as Flagger's -ingress-class
    #[arg(long)]
    pub ingress_class: Option<String>,
    /// HTTP address (default 127.0.0.1:9797 with the simulated cluster, 0.0.0.0:9797 otherwise)
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// A second HTTP address that serves only /healthz and /readyz, so that clients holding
    /// --listen's connections cannot fail the probes (deploy/ uses :9440, as Flux does)
    #[arg(long)]
    pub health_listen: Option<SocketAddr>,
    /// Directory for Git caches, the record of accepted webhooks and simulated-cluster keys
    /// (default ~/.cache/fledge)
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Namespace of fledge's inventory and revision key
    #[arg(long)]
    pub namespace: Option<String>,
    /// Write outcomes back to the repository (status branch, notes, promotion and failure
    /// records, reverts) and image automation's commits
    #[arg(long)]
    pub write_back: Option<bool>,
    /// Status branch (default fledge/status; "" turns it off)
    #[arg(long)]
    pub status_branch: Option<String>,
    /// Write notes on the commits that start releases (default true)
    #[arg(long)]
    pub notes: Option<bool>,
    /// Write promotion records (default true)
    #[arg(long)]
    pub promotion_records: Option<bool>,
    /// Commit reverts of failed revisions (default true)
    #[arg(long)]
    pub reverts: Option<bool>,
    /// At most one write per branch per this long (default 5s)
    #[arg(long)]
    pub coalesce: Option<String>,
    /// Author name and email of fledge's commits
    #[arg(long)]
    pub author_name: Option<String>,
    #[arg(long)]
    pub author_email: Option<String>,
    /// Files holding webhook secrets per forge (GitHub, Gitea, GitLab, generic)
    #[arg(long)]
    pub github_webhook_secret_file: Option<PathBuf>,
    #[arg(long)]
    pub gitea_webhook_secret_file: Option<PathBuf>,
    #[arg(long)]
    pub gitlab_webhook_secret_file: Option<PathBuf>,
    #[arg(long)]
    pub generic_webhook_secret_file: Option<PathBuf>,
    /// How many promoted revisions a release remembers for fast rollbacks (default 10)
    #[arg(long)]
    pub fast_rollback_window: Option<usize>,
    /// File holding a bearer token for `/api/*`; without one the API answers loopback peers
    /// only (`kubectl port-forward`, or `fledge status` on the same host)
    #[arg(long)]
    pub api_token_file: Option<PathBuf>,
    /// The largest share (0 to 1) of the objects fledge applied that one sync may prune; a
    /// commit that would prune more is refused, and one that declares nothing prunes nothing,
    /// unless this is 1 (default 0.5)
    #[arg(long)]
    pub max_prune_share: Option<f64>,
    /// Prune a Namespace (and everything in it) or a CustomResourceDefinition (and every object
    /// of its kind) that the repository drops, as Flux does; by default each needs a
    /// `Fledge-Allow-Prune: Kind/name` trailer in a commit message (default false)
    #[arg(long)]
    pub allow_destructive_prune: Option<bool>,
    /// File of age identities (as `SOPS_AGE_KEY_FILE` holds them) that decrypt SOPS-encrypted
    /// manifests of the root path, and of a Flux Kustomization whose `spec.decryption` names no
    /// Secret (one that names a Secret uses that Secret's keys, as Flux does)
    #[arg(long)]
    pub sops_age_key_file: Option<PathBuf>,
    /// Helm's engine, fledge-helm, that renders HelmReleases' charts (default:
    /// $FLEDGE_HELM_ENGINE, else fledge-helm beside fledge, else on PATH)
    #[arg(long)]
    pub helm_engine: Option<PathBuf>,
    /// Commit statuses: github, gitlab, gitea (forgejo) or bitbucket
    #[arg(long)]
    pub forge: Option<String>,
    /// The forge's API base URL (default: the public service of --forge)
    #[arg(long)]
    pub forge_api: Option<String>,
    /// The repository on the forge: owner/repo, a GitLab project path, or workspace/slug
    #[arg(long)]
    pub forge_repo: Option<String>,
    /// File holding the forge token
    #[arg(long)]
    pub forge_token_file: Option<PathBuf>,
    /// Link shown with each commit status
    #[arg(long)]
    pub status_url: Option<String>,
    /// The cluster's name in status contexts (`fledge/<cluster>/<namespace>/<name>`) and alerts
    #[arg(long)]
    pub cluster_name: Option<String>,
    /// File holding the Slack webhook URL for Canaries without analysis.alerts (or SLACK_URL)
    #[arg(long)]
    pub slack_url_file: Option<PathBuf>,
    /// Slack channel and user name of those alerts
    #[arg(long)]
    pub slack_channel: Option<String>,
    #[arg(long)]
    pub slack_user: Option<String>,
    /// HTTP proxy for those Slack alerts
    #[arg(long)]
    pub slack_proxy_url: Option<String>,
    /// File holding the Microsoft Teams webhook URL (or MSTEAMS_URL)
    #[arg(long)]
    pub msteams_url_file: Option<PathBuf>,
    /// HTTP proxy for those Teams alerts
    #[arg(long)]
    pub msteams_proxy_url: Option<String>,
    /// File holding a generic alert webhook URL (JSON posts)
    #[arg(long)]
    pub alert_webhook_url_file: Option<PathBuf>,
    /// Elect one active replica on a Lease (`fledge-leader` in --namespace); the others wait
    /// (cluster kube only)
    #[arg(long)]
    pub leader_election: Option<bool>,
    /// How long a leader's Lease lasts without renewal: the longest a failover takes
    /// (default 15s)
    #[arg(long)]
    pub lease_duration: Option<String>,
    /// Sync only the Flux Kustomizations and HelmReleases, and tick only the releases, whose
    /// labels in Git match this Kubernetes label selector, as Flux's controllers'
    /// `--watch-label-selector` (`sharding.fluxcd.io/key=shard1`; the default shard is
    /// `!sharding.fluxcd.io/key` and also syncs the root path). See docs/daemon.md, Shards
    #[arg(long)]
    pub watch_label_selector: Option<String>,
    /// The shard's name, which its Lease (`fledge-leader-NAME`), root inventory
    /// (`fledge-inventory-NAME`) and Kustomization record carry (default: the value the
    /// selector requires of `sharding.fluxcd.io/key`; none for the default shard)
    #[arg(long)]
    pub shard_name: Option<String>,
    /// Simulated seconds per real second (sim only; `fledge demo` uses it)
    #[arg(long, hide = true)]
    pub time_scale: Option<f64>,
}

impl RunArgs {
    /// The flags over the file's settings: every setting the flags leave unset is taken from
    /// the file (field by field through serde, so no setting can be forgotten).
    pub fn merged(self) -> Result<Self, Invalid> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let bad = |e: &dyn std::fmt::Display| Invalid(vec![format!("{}: {e}", path.display())]);
        let text = std::fs::read_to_string(&path).map_err(|e| bad(&e))?;
        let file: Self = serde_yaml::from_str(&text).map_err(|e| bad(&e))?;
        let as_map = |a: &Self| match serde_json::to_value(a) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            Ok(_) => unreachable!("settings serialise as a map"),
            Err(e) => Err(bad(&e)),
        };
        let mut merged = as_map(&self)?;
        for (k, v) in as_map(&file)? {
            let slot = merged.entry(k).or_insert(serde_json::Value::Null);
            if slot.is_null() {
                *slot = v;
            }
        }
        let mut out: Self =
            serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| bad(&e))?;
        out.config = self.config;
        Ok(out)
    }
}

/// Settings that are not valid, every one with its flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct Invalid(pub Vec<String>);

/// What validation reads of the process environment, captured once at start-up.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// The variables settings may come from (`SLACK_URL`, `MSTEAMS_URL`,
    /// `FLEDGE_ALERT_WEBHOOK_URL`, `HOSTNAME`).
    pub vars: BTreeMap<String, String>,
    /// This process's id.
    pub pid: u32,
    /// `$PATH`, where the programs fledge runs are looked up.
    pub path: Option<std::ffi::OsString>,
}

impl Environment {
    /// The variables fledge reads.
    pub const VARS: &[&str] = &[
        "SLACK_URL",
        "MSTEAMS_URL",
        "FLEDGE_ALERT_WEBHOOK_URL",
        "HOSTNAME",
    ];

    /// This process's environment.
    #[must_use]
    pub fn of_process() -> Self {
        Self {
            home: std::env::var_os("HOME").map(PathBuf::from),
            vars: Self::VARS
                .iter()
                .filter_map(|v| Some(((*v).to_owned(), std::env::var(v).ok()?)))
                .collect(),
            pid: std::process::id(),
            path: std::env::var_os("PATH"),
        }
    }

    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

/// Which cluster: `--cluster kube` (kubeconfig or in-cluster) or `sim[:DIR]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterChoice {
    Kube {
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
    },
    /// The simulated cluster, persisted in `dir` when given.
    Sim { dir: Option<PathBuf> },
}

/// Where metrics come from: `--metrics-provider prometheus` or `sim`.
#[derive(Clone)]
pub enum MetricsChoice {
    Prometheus {
        url: String,
        auth: Option<MetricsAuth>,
    },
    /// Modelled traffic: the simulated cluster's, or on a real cluster a model of requests
    /// over its real routing ([`crate::analysis::mirror`]).
    Sim,
}

impl std::fmt::Debug for MetricsChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Prometheus { url, .. } => write!(f, "Prometheus({url})"),
            Self::Sim => f.write_str("Sim"),
        }
    }
}

/// What to write to Git, and where.
#[derive(Debug, Clone)]
pub struct OutcomeConfig {
    pub writer: WriterConfig,
    /// The tracked branch (promotion records, reverts).
    pub branch: String,
    /// `None`: no status branch.
    pub status_branch: Option<String>,
    pub notes: bool,
    pub promotions: bool,
    pub reverts: bool,
    /// At most one flush per this long.
    pub coalesce: Duration,
}

/// Everything the daemon needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: SourceConfig,
    /// `--sops-age-key-file`.
    pub sops_keys: Option<std::sync::Arc<crate::sops::Keys>>,
    /// `--helm-engine`.
    pub helm_engine: Option<PathBuf>,
    pub timing: Timing,
    /// Directory of the repository to render.
    pub path: String,
    pub cluster: ClusterChoice,
    pub metrics: MetricsChoice,
    pub mesh_provider: Provider,
    /// `--ingress-class`.
    pub ingress_class: Option<String>,
    pub listen: SocketAddr,
    /// Where `/healthz` and `/readyz` are served alone, when set (they are on `listen` too).
    pub health_listen: Option<SocketAddr>,
    /// Namespace of the inventory ConfigMap and the revision key.
    pub inventory_namespace: String,
    /// How much one sync may prune.
    pub prune_guard: PruneGuard,
    /// The bearer token `/api/*` asks of peers that are not on loopback.
    pub api_token: Option<Secret>,
    /// Analysis intervals below this are raised to it (Flagger: 10 s).
    pub min_interval: Duration,
    /// Simulated seconds per real second (1 in production; `fledge demo` speeds time up).
    pub time_scale: f64,
    pub promoted_window: usize,
    pub hook_secrets: webhook::HookSecrets,
    /// The record of accepted webhook deliveries, which refuses their replays across restarts.
    pub webhook_record: PathBuf,
    pub outcomes: Option<OutcomeConfig>,
    /// Directory for the revision key when the cluster is simulated.
    pub state_dir: PathBuf,
    /// Commit statuses go here, when set.
    pub forge: Option<ForgeConfig>,
    /// Alerts of Canaries without `analysis.alerts`.
    pub global_alerts: Vec<Target>,
    /// The cluster's name in status contexts and alerts.
    pub cluster_name: String,
    /// One active replica at a time, when set.
    pub leader_election: Option<LeaderElection>,
    /// This daemon's shard, when it has a label selector.
    pub shard: Option<super::shard::Shard>,
}

impl Config {
    /// The name of what this daemon keeps for itself in its namespace (a Lease, an inventory),
    /// with its shard's name appended.
    #[must_use]
    pub fn own(&self, name: &str) -> String {
        match &self.shard {
            Some(s) => s.suffixed(name),
            None => name.to_owned(),
        }
    }

    /// The owner label of the Releases this daemon runs: its namespace, then its shard's name.
    #[must_use]
    pub fn owner(&self) -> String {
        match self.shard.as_ref().and_then(|s| s.name.as_ref()) {
            Some(n) => format!("{}.{n}", self.inventory_namespace),
            None => self.inventory_namespace.clone(),
        }
    }
}

/// Leader election on a `coordination.k8s.io` Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElection {
    /// The Lease's name (in the inventory namespace).
    pub lease: String,
    /// How long the Lease lasts without renewal.
    pub duration: Duration,
    /// This replica's name in the Lease.
    pub identity: String,
}

/// Validates settings (already merged with `--config`) into a configuration; every problem is
/// reported, each naming its flag.
pub fn validate(a: &RunArgs, env: &Environment) -> Result<Config, Invalid> {
    let mut c = Check::default();
    let home = |rest: &str, fallback: &str| {
        env.home
            .clone()
            .unwrap_or_else(|| PathBuf::from(fallback))
            .join(rest)
    };
    let cache_dir = a
        .cache_dir
        .clone()
        .unwrap_or_else(|| home(".cache/fledge", "/var/cache"));
    let source = c.source(a, &cache_dir, &home(".ssh/known_hosts", "/root"));
    let cluster = c.cluster(a);
    let metrics = c.metrics(a);
    let mesh = a.mesh_provider.clone().unwrap_or_else(|| "istio".into());
    let mesh_provider = c.check(
        Provider::parse(&mesh)
            .ok_or_else(|| format!("--mesh-provider {mesh:?} is not a provider Flagger knows")),
    );
    let is_sim = matches!(cluster, Some(ClusterChoice::Sim { .. }));
    let time_scale = a.time_scale.unwrap_or(1.0);
    if (time_scale - 1.0).abs() > f64::EPSILON && !is_sim {
        c.problem("--time-scale needs --cluster sim".into());
    }
    let outcomes = source.as_ref().and_then(|s| c.outcomes(a, s, &cache_dir));
    let interval = c.duration("interval", a.interval.as_deref(), Duration::from_mins(1));
    let api_token = c.secret(a.api_token_file.as_deref(), "--api-token-file");
    let prune_guard = c.prune_guard(a);
    let hook_secrets = c.hook_secrets(a);
    let sops_keys = c.sops_keys(a);
    let forge = c.forge(a);
    let listen = a.listen.unwrap_or_else(|| {
        if is_sim {
            SocketAddr::from(([127, 0, 0, 1], 9797))
        } else {
            SocketAddr::from(([0, 0, 0, 0], 9797))
        }
    });
    if a.health_listen == Some(listen) {
        c.problem(format!(
            "--health-listen {listen} is --listen's address; give it an address of its own (deploy/ uses 0.0.0.0:9440)"
        ));
    }
    let global_alerts = c.global_alerts(a, env);
    let shard = c.shard(a);
    let mut leader_election = c.leader_election(a, cluster.as_ref(), env);
    if let (Some(le), Some(s)) = (leader_election.as_mut(), shard.as_ref()) {
        le.lease = s.suffixed(&le.lease);
    }
    let (Some(source), Some(cluster), Some(metrics), Some(mesh_provider)) =
        (source, cluster, metrics, mesh_provider)
    else {
        return Err(Invalid(c.problems));
    };
    if !c.problems.is_empty() {
        return Err(Invalid(c.problems));
    }
    Ok(Config {
        source,
        sops_keys,
        helm_engine: a.helm_engine.clone(),
        timing: Timing {
            interval,
            ..Timing::default()
        },
        path: a
            .path
            .clone()
            .unwrap_or_default()
            .trim_matches('/')
            .to_owned(),
        listen,
        health_listen: a.health_listen,
        inventory_namespace: a
            .namespace
            .clone()
            .unwrap_or_else(|| "fledge-system".into()),
        prune_guard,
        api_token,
        min_interval: Duration::from_secs(10),
        time_scale,
        promoted_window: a.fast_rollback_window.unwrap_or(DEFAULT_PROMOTED_WINDOW),
        hook_secrets,
        webhook_record: cache_dir.join("webhooks").join("accepted"),
        outcomes,
        state_dir: match &cluster {
            ClusterChoice::Sim { dir: Some(d) } => d.clone(),
            _ => cache_dir.join("sim"),
        },
        cluster,
        metrics,
        mesh_provider,
        ingress_class: a.ingress_class.clone().filter(|c| !c.is_empty()),
        forge,
        global_alerts,
        cluster_name: a.cluster_name.clone().unwrap_or_else(|| "default".into()),
        leader_election,
        shard,
    })
}

/// A local repository (a path, or a `file://` URL) must exist: otherwise Git reports an
/// unsupported URL protocol, and polling would retry it forever.
fn local_repository_exists(url: &str) -> Result<(), String> {
    let path = if let Some(p) = url.strip_prefix("file://") {
        p
    } else if url.contains("://") || url.split('/').next().is_some_and(|head| head.contains(':')) {
        // A remote URL, or scp-like `user@host:path`.
        return Ok(());
    } else {
        url
    };
    if Path::new(path).exists() {
        Ok(())
    } else {
        Err(format!(
            "--repo {url}: no such directory; a local repository must exist (a remote one is given by its URL: https://, ssh:// or user@host:path)"
        ))
    }
}

/// The problems found so far.
#[derive(Default)]
struct Check {
    problems: Vec<String>,
}

impl Check {
    fn problem(&mut self, p: String) {
        self.problems.push(p);
    }

    fn check<T>(&mut self, r: Result<T, String>) -> Option<T> {
        r.map_err(|p| self.problem(p)).ok()
    }

    fn duration(&mut self, field: &str, v: Option<&str>, default: Duration) -> Duration {
        let Some(s) = v else { return default };
        self.check(
            parse_duration(s)
                .ok_or_else(|| format!("--{field} {s:?} is not a duration like 30s or 1m")),
        )
        .unwrap_or(default)
    }

    /// The credential in the file `path` names; a problem naming `flag` and the file when it
    /// cannot be read or holds nothing but whitespace.
    fn secret(&mut self, path: Option<&Path>, flag: &str) -> Option<Secret> {
        let p = path?;
        self.check(Secret::from_file(p).map_err(|e| format!("{flag} {}: {e}", p.display())))
    }

    /// `--max-prune-share` and `--allow-destructive-prune`.
    fn prune_guard(&mut self, a: &RunArgs) -> PruneGuard {
        let max_share = a.max_prune_share.unwrap_or(PruneGuard::default().max_share);
        if !(0.0..=1.0).contains(&max_share) {
            self.problem(format!(
                "--max-prune-share {max_share} must be a share between 0 and 1 (0.5 is half)"
            ));
        }
        PruneGuard {
            max_share,
            destructive: a.allow_destructive_prune.unwrap_or(false),
            ..PruneGuard::default()
        }
    }

    /// The age keys of `--sops-age-key-file`, if given; a file that holds none is a problem.
    fn sops_keys(&mut self, a: &RunArgs) -> Option<std::sync::Arc<crate::sops::Keys>> {
        let path = a.sops_age_key_file.as_deref()?;
        let flag = "--sops-age-key-file";
        let secret = self.secret(Some(path), flag)?;
        let keys = crate::sops::Keys::from_key_file(&path.display().to_string(), secret.expose())
            .map_err(|e| format!("{flag} {}: {e}", path.display()));
        self.check(keys).map(std::sync::Arc::new)
    }

    /// Whether the credential file `path` names, if any, can be read and is not empty.
    fn present(&mut self, path: Option<&Path>, flag: &str) -> bool {
        path.is_none() || self.secret(path, flag).is_some()
    }

    fn source(
        &mut self,
        a: &RunArgs,
        cache_dir: &Path,
        known_hosts: &Path,
    ) -> Option<SourceConfig> {
        let url = self.check(
            a.repo
                .clone()
                .ok_or_else(|| "--repo is required (or `repo:` in --config)".to_owned())
                .and_then(|url| local_repository_exists(&url).map(|()| url)),
        );
        let reference = if let Some(t) = &a.tag {
            Some(Reference::Tag(t.clone()))
        } else if let Some(r) = &a.semver {
            self.check(
                semver::VersionReq::parse(r)
                    .map(Reference::Semver)
                    .map_err(|e| format!("--semver {r:?}: {e}")),
            )
        } else if let Some(c) = &a.commit {
            self.check(
                crate::source::full_commit(c)
                    .map(Reference::Commit)
                    .ok_or_else(|| {
                        format!("--commit {c:?} is not a full commit id (40 hexadecimal digits)")
                    }),
            )
        } else {
            Some(Reference::Branch(
                a.branch.clone().unwrap_or_else(|| "main".into()),
            ))
        };
        let auth = if let Some(key) = &a.ssh_key_file {
            let known_hosts = a
                .known_hosts_file
                .clone()
                .unwrap_or_else(|| known_hosts.to_path_buf());
            // libgit2 and ssh read these files by path; read them once here, so that an
            // empty or unreadable one stops the start, not every poll.
            self.secret(Some(key), "--ssh-key-file");
            let flag = if a.known_hosts_file.is_some() {
                "--known-hosts-file"
            } else {
                "--known-hosts-file (not given, so its default)"
            };
            self.secret(Some(&known_hosts), flag);
            Auth::Ssh(SshAuth {
                private_key: key.clone(),
                passphrase: None,
                known_hosts,
                accept_unknown_hosts: false,
            })
        } else if let Some(pw) = self.secret(a.password_file.as_deref(), "--password-file") {
            Auth::Basic {
                username: a.username.clone().unwrap_or_else(|| "git".into()),
                password: pw,
            }
        } else {
            Auth::None
        };
        Some(SourceConfig {
            url: url?,
            reference: reference?,
            cache_dir: cache_dir.join("source"),
            auth,
            timeout: Duration::from_secs(30),
            verify: self.verification(a),
        })
    }

    /// `--verify-keys` and `--verify-mode`. The keys are public: they are read from a file or
    /// a directory only (as a mounted Secret gives them), not from the environment.
    fn verification(&mut self, a: &RunArgs) -> Option<Verification> {
        let mode = match a.verify_mode.as_deref() {
            None => VerifyMode::Head,
            Some(m) => self.check(VerifyMode::from_flag(m).ok_or_else(|| {
                format!("--verify-mode {m:?} is not a mode: give head, tag or tagandhead")
            }))?,
        };
        let Some(path) = &a.verify_keys else {
            if a.verify_mode.is_some() {
                self.problem("--verify-mode needs --verify-keys (the trusted keys)".into());
            }
            return None;
        };
        if mode.tag() && a.tag.is_none() && a.semver.is_none() {
            self.problem(format!(
                "--verify-mode {} checks the signature of the tag tracked, but no tag is tracked: give --tag or --semver, or verify the commit with --verify-mode head",
                a.verify_mode.as_deref().unwrap_or_default()
            ));
        }
        let keys =
            self.check(Verifier::from_path(path).map_err(|e| format!("--verify-keys {e}")))?;
        Some(Verification { keys, mode })
    }

    fn cluster(&mut self, a: &RunArgs) -> Option<ClusterChoice> {
        let arg = a.cluster.clone().unwrap_or_else(|| "kube".into());
        if arg == "kube" {
            return Some(ClusterChoice::Kube {
                kubeconfig: a.kubeconfig.clone(),
                context: a.context.clone(),
            });
        }
        match arg.strip_prefix("sim") {
            Some("") => Some(ClusterChoice::Sim { dir: None }),
            Some(rest) if rest.starts_with(':') => Some(ClusterChoice::Sim {
                dir: Some(PathBuf::from(&rest[1..])),
            }),
            _ => {
                self.problem(format!("--cluster {arg:?} must be kube, sim or sim:DIR"));
                None
            }
        }
    }

    fn metrics(&mut self, a: &RunArgs) -> Option<MetricsChoice> {
        match a.metrics_provider.as_deref().unwrap_or("prometheus") {
            "prometheus" => {
                // The files must hold something (the parser below reads them again).
                let token = self.present(a.metrics_token_file.as_deref(), "--metrics-token-file");
                let basic = self.present(
                    a.metrics_basic_auth_file.as_deref(),
                    "--metrics-basic-auth-file",
                );
                if !(token && basic) {
                    return None;
                }
                let auth = self.check(
                    auth_from_files(
                        a.metrics_token_file.as_deref(),
                        a.metrics_basic_auth_file.as_deref(),
                    )
                    .map_err(|e| format!("metrics credentials: {e}")),
                )?;
                Some(MetricsChoice::Prometheus {
                    url: a
                        .metrics_server
                        .clone()
                        .unwrap_or_else(|| "http://prometheus:9090".into()),
                    auth,
                })
            }
            "sim" => Some(MetricsChoice::Sim),
            other => {
                self.problem(format!(
                    "--metrics-provider {other:?} must be prometheus or sim"
                ));
                None
            }
        }
    }

    /// `None` without `--write-back` (or when its settings are invalid).
    fn outcomes(
        &mut self,
        a: &RunArgs,
        source: &SourceConfig,
        cache_dir: &Path,
    ) -> Option<OutcomeConfig> {
        if !a.write_back.unwrap_or(false) {
            return None;
        }
        let Reference::Branch(branch) = &source.reference else {
            self.problem(
                "--write-back needs a tracked branch (not a tag, semver range or commit)".into(),
            );
            return None;
        };
        let mut writer = WriterConfig::new(&source.url, cache_dir.join("write"));
        writer.auth = source.auth.clone();
        if let Some(n) = &a.author_name {
            writer.author_name.clone_from(n);
        }
        if let Some(e) = &a.author_email {
            writer.author_email.clone_from(e);
        }
        let status = a
            .status_branch
            .clone()
            .unwrap_or_else(|| keys::STATUS_BRANCH.into());
        Some(OutcomeConfig {
            writer,
            branch: branch.clone(),
            status_branch: (!status.is_empty()).then_some(status),
            notes: a.notes.unwrap_or(true),
            promotions: a.promotion_records.unwrap_or(true),
            reverts: a.reverts.unwrap_or(true),
            coalesce: self.duration("coalesce", a.coalesce.as_deref(), Duration::from_secs(5)),
        })
    }

    fn hook_secrets(&mut self, a: &RunArgs) -> webhook::HookSecrets {
        webhook::HookSecrets {
            github: self.secret(
                a.github_webhook_secret_file.as_deref(),
                "--github-webhook-secret-file",
            ),
            gitea: self.secret(
                a.gitea_webhook_secret_file.as_deref(),
                "--gitea-webhook-secret-file",
            ),
            gitlab: self.secret(
                a.gitlab_webhook_secret_file.as_deref(),
                "--gitlab-webhook-secret-file",
            ),
            generic: self.secret(
                a.generic_webhook_secret_file.as_deref(),
                "--generic-webhook-secret-file",
            ),
        }
    }

    fn forge(&mut self, a: &RunArgs) -> Option<ForgeConfig> {
        let name = a.forge.as_deref()?;
        let kind =
            self.check(ForgeKind::parse(name).ok_or_else(|| {
                format!("--forge {name:?} must be github, gitlab, gitea or bitbucket")
            }));
        let repo = self.check(
            a.forge_repo
                .clone()
                .ok_or_else(|| "--forge needs --forge-repo".to_owned()),
        );
        let token = if let Some(p) = a.forge_token_file.as_deref() {
            self.secret(Some(p), "--forge-token-file")
        } else {
            self.problem("--forge needs --forge-token-file".into());
            None
        };
        let kind = kind?;
        Some(ForgeConfig {
            kind,
            api: a
                .forge_api
                .clone()
                .unwrap_or_else(|| kind.public_api().to_owned()),
            repo: repo?,
            token: token?,
            cluster: a.cluster_name.clone().unwrap_or_else(|| "default".into()),
            target_url: a.status_url.clone(),
        })
    }

    fn leader_election(
        &mut self,
        a: &RunArgs,
        cluster: Option<&ClusterChoice>,
        env: &Environment,
    ) -> Option<LeaderElection> {
        if !a.leader_election.unwrap_or(false) {
            return None;
        }
        if matches!(cluster, Some(ClusterChoice::Sim { .. })) {
            self.problem("--leader-election needs --cluster kube".into());
            return None;
        }
        let duration = self.duration(
            "lease-duration",
            a.lease_duration.as_deref(),
            Duration::from_secs(15),
        );
        if duration < Duration::from_secs(2) {
            self.problem("--lease-duration must be at least 2s".into());
        }
        // The pod's name, and the process, so two replicas on one host differ too.
        let host = env.var("HOSTNAME").unwrap_or_else(|| "fledge".into());
        Some(LeaderElection {
            lease: "fledge-leader".into(),
            duration,
            identity: format!("{host}-{}", env.pid),
        })
    }

    fn shard(&mut self, a: &RunArgs) -> Option<super::shard::Shard> {
        let Some(selector) = a.watch_label_selector.as_deref() else {
            if a.shard_name.is_some() {
                self.problem("--shard-name needs --watch-label-selector".into());
            }
            return None;
        };
        self.check(super::shard::Shard::new(selector, a.shard_name.as_deref()))
    }

    /// A URL from a file, else from an environment variable.
    fn url(
        &mut self,
        file: Option<&Path>,
        var: &str,
        flag: &str,
        env: &Environment,
    ) -> Option<String> {
        match file {
            Some(_) => self.secret(file, flag).map(|s| s.expose().to_owned()),
            None => env.var(var),
        }
    }

    fn global_alerts(&mut self, a: &RunArgs, env: &Environment) -> Vec<Target> {
        let target = |kind: &str, address: String, proxy: Option<&String>| Target {
            kind: kind.into(),
            address,
            token: None,
            channel: a.slack_channel.clone().unwrap_or_else(|| "general".into()),
            username: a.slack_user.clone().unwrap_or_else(|| "flagger".into()),
            proxy: proxy.cloned(),
        };
        let mut out = Vec::new();
        let teams = self.url(
            a.msteams_url_file.as_deref(),
            "MSTEAMS_URL",
            "--msteams-url-file",
            env,
        );
        if let Some(u) = teams {
            out.push(target("msteams", u, a.msteams_proxy_url.as_ref()));
        } else if let Some(u) = self.url(
            a.slack_url_file.as_deref(),
            "SLACK_URL",
            "--slack-url-file",
            env,
        ) {
            out.push(target("slack", u, a.slack_proxy_url.as_ref()));
        }
        if let Some(u) = self.url(
            a.alert_webhook_url_file.as_deref(),
            "FLEDGE_ALERT_WEBHOOK_URL",
            "--alert-webhook-url-file",
            env,
        ) {
            out.push(target("generic", u, None));
        }
        out
    }
}

#[cfg(test)]
mod tests;
