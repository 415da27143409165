//! `fledge run`: settings from flags, and from a YAML file (`--config`) for the rest; flags
//! win. Credentials come only from files (or environment variables), never from flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Error;
use crate::daemon::any::{AnyCluster, AnyMetrics};
use crate::daemon::outcomes::OutcomeConfig;
use crate::daemon::{self, Config, Shared};
use crate::rollout::spec::{Provider, parse_duration};
use crate::source::poller::Timing;
use crate::source::{Auth, Reference, Secret, SourceConfig, SshAuth, webhook};
use crate::writeback::WriterConfig;

/// Settings of the daemon. Every field can be given as a flag or in the `--config` file
/// (camelCase keys).
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
    /// `kube` (kubeconfig or in-cluster) or `sim[:DIR]` (the simulated cluster, persisted in DIR)
    #[arg(long)]
    pub cluster: Option<String>,
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
    /// HTTP address (default 127.0.0.1:9797 with the simulated cluster, 0.0.0.0:9797 otherwise)
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Directory for Git caches and simulated-cluster keys (default ~/.cache/fledge)
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Namespace of fledge's inventory and revision key
    #[arg(long)]
    pub namespace: Option<String>,
    /// Write outcomes back to the repository (status branch, notes, promotion records, reverts)
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
    /// The cluster's name in status contexts (fledge/<cluster>/<namespace>/<name>) and alerts
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
    /// Simulated seconds per real second (sim only; `fledge demo` uses it)
    #[arg(long, hide = true)]
    pub time_scale: Option<f64>,
}

impl RunArgs {
    /// The flags over the file's settings: every setting the flags leave unset is taken from
    /// the file (field by field through serde, so no setting can be forgotten).
    pub fn merged(self) -> Result<Self, Error> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let bad = |e: &dyn std::fmt::Display| Error::Usage(format!("{}: {e}", path.display()));
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

fn duration(field: &str, v: Option<&str>, default: Duration) -> Result<Duration, Error> {
    match v {
        None => Ok(default),
        Some(s) => parse_duration(s).ok_or_else(|| {
            Error::Usage(format!("--{field} {s:?} is not a duration like 30s or 1m"))
        }),
    }
}

fn secret(path: Option<&Path>, what: &str) -> Result<Option<Secret>, Error> {
    path.map(|p| {
        Secret::from_file(p).map_err(|e| Error::Usage(format!("{what} {}: {e}", p.display())))
    })
    .transpose()
}

/// What `fledge run` will run: the daemon's configuration and its edges.
pub struct Prepared {
    pub config: Config,
    pub cluster: AnyCluster,
    pub metrics: AnyMetrics,
}

/// Validates the settings into a configuration; every problem names its flag.
pub async fn prepare(args: RunArgs) -> Result<Prepared, Error> {
    let a = args.merged()?;
    let url = a
        .repo
        .clone()
        .ok_or_else(|| Error::Usage("--repo is required (or `repo:` in --config)".into()))?;
    let reference = if let Some(t) = &a.tag {
        Reference::Tag(t.clone())
    } else if let Some(r) = &a.semver {
        Reference::Semver(
            semver::VersionReq::parse(r)
                .map_err(|e| Error::Usage(format!("--semver {r:?}: {e}")))?,
        )
    } else if let Some(c) = &a.commit {
        Reference::Commit(
            git2::Oid::from_str(c).map_err(|e| Error::Usage(format!("--commit {c:?}: {e}")))?,
        )
    } else {
        Reference::Branch(a.branch.clone().unwrap_or_else(|| "main".into()))
    };
    let auth = if let Some(key) = &a.ssh_key_file {
        Auth::Ssh(SshAuth {
            private_key: key.clone(),
            passphrase: None,
            known_hosts: a.known_hosts_file.clone().unwrap_or_else(|| {
                std::env::var_os("HOME")
                    .map_or_else(|| PathBuf::from("/root"), PathBuf::from)
                    .join(".ssh/known_hosts")
            }),
            accept_unknown_hosts: false,
        })
    } else if let Some(pw) = secret(a.password_file.as_deref(), "--password-file")? {
        Auth::Basic {
            username: a.username.clone().unwrap_or_else(|| "git".into()),
            password: pw,
        }
    } else {
        Auth::None
    };
    let cache_dir = a.cache_dir.clone().unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map_or_else(|| PathBuf::from("/var/cache"), PathBuf::from)
            .join(".cache/fledge")
    });
    let cluster_arg = a.cluster.clone().unwrap_or_else(|| "kube".into());
    let (cluster, sim_dir) = if cluster_arg == "kube" {
        let c = crate::cluster::kube::KubeCluster::connect(a.context.as_deref())
            .await
            .map_err(|e| Error::Usage(format!("--cluster kube: {e}")))?;
        (AnyCluster::Kube(c), None)
    } else if let Some(rest) = cluster_arg.strip_prefix("sim") {
        let dir = rest.strip_prefix(':').map(PathBuf::from);
        let sim = match &dir {
            Some(d) => crate::cluster::sim::SimCluster::open(d, Duration::from_secs(1))
                .map_err(|e| Error::Usage(format!("--cluster {cluster_arg}: {e}")))?,
            None => crate::cluster::sim::SimCluster::new(Duration::from_secs(1)),
        };
        (AnyCluster::Sim(crate::cluster::SimHandle::new(sim)), dir)
    } else {
        return Err(Error::Usage(format!(
            "--cluster {cluster_arg:?} must be kube, sim or sim:DIR"
        )));
    };
    let metrics = match a.metrics_provider.as_deref().unwrap_or("prometheus") {
        "prometheus" => {
            let auth = crate::analysis::prometheus::auth_from_files(
                a.metrics_token_file.as_deref(),
                a.metrics_basic_auth_file.as_deref(),
            )
            .map_err(|e| Error::Usage(format!("metrics credentials: {e}")))?;
            AnyMetrics::Prometheus(crate::analysis::prometheus::Prometheus::new(
                a.metrics_server
                    .as_deref()
                    .unwrap_or("http://prometheus:9090"),
                auth,
                crate::analysis::prometheus::Prometheus::TIMEOUT,
            ))
        }
        "sim" => match &cluster {
            AnyCluster::Sim(s) => {
                AnyMetrics::Sim(crate::analysis::sim::SimMetrics::new(s.sim.clone()))
            }
            AnyCluster::Kube(_) => {
                return Err(Error::Usage(
                    "--metrics-provider sim needs --cluster sim".into(),
                ));
            }
        },
        other => {
            return Err(Error::Usage(format!(
                "--metrics-provider {other:?} must be prometheus or sim"
            )));
        }
    };
    let mesh = a.mesh_provider.clone().unwrap_or_else(|| "istio".into());
    let mesh_provider = Provider::parse(&mesh).ok_or_else(|| {
        Error::Usage(format!(
            "--mesh-provider {mesh:?} is not a provider Flagger knows"
        ))
    })?;
    let is_sim = matches!(cluster, AnyCluster::Sim(_));
    let listen = a.listen.unwrap_or_else(|| {
        if is_sim {
            SocketAddr::from(([127, 0, 0, 1], 9797))
        } else {
            SocketAddr::from(([0, 0, 0, 0], 9797))
        }
    });
    let timeout = Duration::from_secs(30);
    let source = SourceConfig {
        url: url.clone(),
        reference: reference.clone(),
        cache_dir: cache_dir.join("source"),
        auth: auth.clone(),
        timeout,
        verify: None,
    };
    let outcomes = if a.write_back.unwrap_or(false) {
        let Reference::Branch(branch) = &reference else {
            return Err(Error::Usage(
                "--write-back needs a tracked branch (not a tag, semver range or commit)".into(),
            ));
        };
        let mut writer = WriterConfig::new(&url, cache_dir.join("write"));
        writer.auth = auth;
        if let Some(n) = &a.author_name {
            writer.author_name.clone_from(n);
        }
        if let Some(e) = &a.author_email {
            writer.author_email.clone_from(e);
        }
        let status = a
            .status_branch
            .clone()
            .unwrap_or_else(|| "fledge/status".into());
        Some(OutcomeConfig {
            writer,
            branch: branch.clone(),
            status_branch: (!status.is_empty()).then_some(status),
            notes: a.notes.unwrap_or(true),
            promotions: a.promotion_records.unwrap_or(true),
            reverts: a.reverts.unwrap_or(true),
            coalesce: duration("coalesce", a.coalesce.as_deref(), Duration::from_secs(5))?,
        })
    } else {
        None
    };
    let hook_secrets = webhook::HookSecrets {
        github: secret(
            a.github_webhook_secret_file.as_deref(),
            "--github-webhook-secret-file",
        )?,
        gitea: secret(
            a.gitea_webhook_secret_file.as_deref(),
            "--gitea-webhook-secret-file",
        )?,
        gitlab: secret(
            a.gitlab_webhook_secret_file.as_deref(),
            "--gitlab-webhook-secret-file",
        )?,
        generic: secret(
            a.generic_webhook_secret_file.as_deref(),
            "--generic-webhook-secret-file",
        )?,
    };
    let time_scale = a.time_scale.unwrap_or(1.0);
    if (time_scale - 1.0).abs() > f64::EPSILON && !is_sim {
        return Err(Error::Usage("--time-scale needs --cluster sim".into()));
    }
    let forge = match a.forge.as_deref() {
        None => None,
        Some(name) => {
            let kind = crate::report::forge::ForgeKind::parse(name).ok_or_else(|| {
                Error::Usage(format!(
                    "--forge {name:?} must be github, gitlab, gitea or bitbucket"
                ))
            })?;
            let api = a.forge_api.clone().unwrap_or_else(|| {
                match kind {
                    crate::report::forge::ForgeKind::GitHub => "https://api.github.com",
                    crate::report::forge::ForgeKind::GitLab => "https://gitlab.com",
                    crate::report::forge::ForgeKind::Gitea => "https://codeberg.org",
                    crate::report::forge::ForgeKind::Bitbucket => "https://api.bitbucket.org",
                }
                .to_owned()
            });
            Some(crate::report::forge::ForgeConfig {
                kind,
                api,
                repo: a
                    .forge_repo
                    .clone()
                    .ok_or_else(|| Error::Usage("--forge needs --forge-repo".into()))?,
                token: secret(a.forge_token_file.as_deref(), "--forge-token-file")?
                    .ok_or_else(|| Error::Usage("--forge needs --forge-token-file".into()))?,
                cluster: a.cluster_name.clone().unwrap_or_else(|| "default".into()),
                target_url: a.status_url.clone(),
            })
        }
    };
    let from_file_or_env =
        |file: Option<&Path>, env: &str, flag: &str| -> Result<Option<String>, Error> {
            Ok(match secret(file, flag)? {
                Some(s) => Some(s.expose().to_owned()),
                None => std::env::var(env).ok().filter(|v| !v.is_empty()),
            })
        };
    let mut global_alerts = Vec::new();
    let target =
        |kind: &str, address: String, proxy: Option<&String>| crate::report::alerts::Target {
            kind: kind.into(),
            address,
            token: None,
            channel: a.slack_channel.clone().unwrap_or_else(|| "general".into()),
            username: a.slack_user.clone().unwrap_or_else(|| "flagger".into()),
            proxy: proxy.cloned(),
        };
    if let Some(u) = from_file_or_env(
        a.msteams_url_file.as_deref(),
        "MSTEAMS_URL",
        "--msteams-url-file",
    )? {
        global_alerts.push(target("msteams", u, a.msteams_proxy_url.as_ref()));
    } else if let Some(u) =
        from_file_or_env(a.slack_url_file.as_deref(), "SLACK_URL", "--slack-url-file")?
    {
        global_alerts.push(target("slack", u, a.slack_proxy_url.as_ref()));
    }
    if let Some(u) = from_file_or_env(
        a.alert_webhook_url_file.as_deref(),
        "FLEDGE_ALERT_WEBHOOK_URL",
        "--alert-webhook-url-file",
    )? {
        global_alerts.push(target("generic", u, None));
    }
    let config = Config {
        source,
        timing: Timing {
            interval: duration("interval", a.interval.as_deref(), Duration::from_mins(1))?,
            ..Timing::default()
        },
        path: a
            .path
            .clone()
            .unwrap_or_default()
            .trim_matches('/')
            .to_owned(),
        mesh_provider,
        listen,
        inventory_namespace: a
            .namespace
            .clone()
            .unwrap_or_else(|| "fledge-system".into()),
        min_interval: Duration::from_secs(10),
        time_scale,
        promoted_window: a
            .fast_rollback_window
            .unwrap_or(crate::rollout::state::DEFAULT_PROMOTED_WINDOW),
        hook_secrets,
        outcomes,
        state_dir: sim_dir.unwrap_or_else(|| cache_dir.join("sim")),
        forge,
        global_alerts,
        cluster_name: a.cluster_name.clone().unwrap_or_else(|| "default".into()),
    };
    Ok(Prepared {
        config,
        cluster,
        metrics,
    })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Runs the daemon until a signal.
pub fn run(args: RunArgs) -> Result<(), Error> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::Usage(format!("runtime: {e}")))?;
    rt.block_on(async move {
        let p = prepare(args).await?;
        let shared = Arc::new(Shared::default());
        let token = tokio_util::sync::CancellationToken::new();
        let stop = token.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            stop.cancel();
        });
        daemon::run(p.config, p.cluster, p.metrics, shared, token)
            .await
            .map_err(|e| Error::Daemon(format!("{e:#}")))
    })
}

#[cfg(test)]
mod tests {
    use super::RunArgs;

    #[test]
    fn the_config_file_fills_every_setting_the_flags_leave_unset() {
        let cm: serde_yaml::Value = serde_yaml::from_str(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/config.yaml"))
                .unwrap(),
        )
        .unwrap();
        let text = cm["data"]["config.yaml"].as_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).unwrap();
        let file: RunArgs = serde_yaml::from_str(text).unwrap();
        let flags = RunArgs {
            config: Some(path.clone()),
            branch: Some("release".into()),
            ..RunArgs::default()
        };
        let merged = flags.merged().unwrap();
        // Flags win; everything else is the file's, forge and cluster name included.
        assert_eq!(merged.branch.as_deref(), Some("release"));
        assert_eq!(merged.forge.as_deref(), Some("github"));
        assert_eq!(merged.cluster_name.as_deref(), Some("production"));
        assert_eq!(
            merged,
            RunArgs {
                config: Some(path),
                branch: Some("release".into()),
                ..file
            }
        );
    }
}
