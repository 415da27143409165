//! The command line. Each command is a thin shell over the library: it parses arguments, calls
//! one pure entry point and prints the result.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

pub mod demo;
pub mod loadtester;
pub mod run;
pub mod status;

use crate::render::{self, DiskFiles};
use crate::revision::{self, HashKey};

/// `GitOps` reconciler with progressive delivery: Flux-style sync and Flagger-compatible canaries
/// in one daemon, with outcomes written back to Git.
#[derive(Debug, Parser)]
#[command(name = "fledge", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a kustomization or a plain manifest folder to a YAML stream on stdout, like
    /// `kubectl kustomize DIR`
    Build {
        /// Directory holding kustomization.yaml, or a folder of *.yaml manifests
        dir: PathBuf,
        /// Root below which files may be read, as the daemon reads only its repository
        /// (default: no limit beyond kustomize's own: a kustomization reads files in its
        /// directory only, and bases anywhere)
        #[arg(long)]
        root: Option<PathBuf>,
        /// Render each Flux HelmRelease into the objects it installs, in its place: its chart
        /// fetched from the HelmRepository it names or read from this repository, its values
        /// composed as Flux composes them, and the chart rendered by Helm's engine
        /// (fledge-helm, found beside fledge, on PATH or in $FLEDGE_HELM_ENGINE)
        #[arg(long)]
        charts: bool,
    },
    /// Print each Deployment's and DaemonSet's revision: a hash of its pod template and the
    /// ConfigMaps and Secrets it references (never their values); and each Knative Service's,
    /// a hash of its template alone
    Hash {
        /// Directory to render, as for `build`
        dir: PathBuf,
        /// Root below which files may be read, as for `build`
        #[arg(long)]
        root: Option<PathBuf>,
        /// Output format
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
        /// File holding the key Secret data is hashed with (the daemon's per-installation key);
        /// without it, a fixed offline key is used
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Run the daemon: poll the config repository, sync it to the cluster, run a progressive
    /// rollout for every new revision and write the outcomes back to Git
    Run(Box<crate::daemon::config::RunArgs>),
    /// Play the whole loop on this machine (no cluster, no network): a temporary Git
    /// repository, the simulated cluster, a promotion, a rollback with fledge's revert commit,
    /// and a fast rollback after `git revert`; `--cluster kube` plays it on a real cluster
    Demo {
        /// Directory for the demo's repositories (default: a new temporary directory, kept)
        #[arg(long)]
        dir: Option<PathBuf>,
        /// `sim` (the simulated cluster) or `kube`: a real cluster (a kind cluster, say),
        /// played in a Namespace of its own, `fledge-demo`, with modelled traffic
        #[arg(long, default_value = "sim", value_parser = ["sim", "kube"])]
        cluster: String,
        /// With `--cluster kube`: the kubeconfig (default: $KUBECONFIG, ~/.kube/config, or
        /// the in-cluster account)
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// With `--cluster kube`: the kubeconfig context (default: its current context)
        #[arg(long)]
        context: Option<String>,
    },
    /// Show the releases of a running daemon: phase, progress, failed checks, revision, commit
    Status {
        /// The daemon's HTTP address
        #[arg(long, default_value = "http://127.0.0.1:9797")]
        server: String,
        /// File holding the daemon's `--api-token-file` token (needed unless on loopback)
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Refresh every two seconds
        #[arg(long)]
        watch: bool,
        /// Output format: the table, or the sync's status and the releases (with their reasons)
        /// as JSON
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// What each Canary in a directory will do when it is pushed: weights, checks, gates,
    /// timeline, minimum time to promote and to roll back, and the objects it creates.
    Plan {
        /// Directory to render, as for `build`
        dir: PathBuf,
        /// Root below which files may be read, as for `build`
        #[arg(long)]
        root: Option<PathBuf>,
        /// Provider for Canaries without spec.provider (Flagger's -mesh-provider)
        #[arg(long, default_value = "istio")]
        mesh_provider: String,
        /// Ingress class of the contour provider's HTTPProxies, as `fledge run --ingress-class`
        #[arg(long)]
        ingress_class: Option<String>,
        /// Render each Flux HelmRelease first, as `build --charts` does, so that a Canary
        /// targeting a chart's workload is planned
        #[arg(long)]
        charts: bool,
        /// Output format
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Serve Flagger's load tester webhook API (flagger-loadtester: gates, rollback gates,
    /// `bash` and `cmd` tasks) so that Canaries pointing at it run unchanged; `hey` commands
    /// are carried out by a built-in load generator
    Loadtester(loadtester::LoadtesterArgs),
}

impl Cli {
    /// The log filter when `RUST_LOG` is not set: the load tester's `--log-level`, else `info`
    /// (kube-runtime's watcher at `error`: the watch caches say themselves, once, what a refused
    /// watch means, where kube-runtime would warn at every retry).
    #[must_use]
    pub fn log_filter(&self) -> &'static str {
        match &self.command {
            Command::Loadtester(args) => args.log_filter(),
            _ => "info,kube_runtime::watcher=error",
        }
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// A failure the CLI reports, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Render(#[from] render::Error),
    #[error(transparent)]
    Spec(#[from] crate::release::spec::SpecError),
    #[error("{0}")]
    Daemon(String),
    /// What the repository declares is invalid (exit status 1, as a render error).
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write output")]
    Output(#[source] std::io::Error),
}

impl Error {
    /// Exit status: 64 for bad usage, 1 for everything else.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 64,
            _ => 1,
        }
    }
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Build { dir, root, charts } => build(&dir, root.as_deref(), charts),
        Command::Hash {
            dir,
            root,
            output,
            key_file,
        } => hash(&dir, root.as_deref(), output, key_file.as_deref()),
        Command::Run(args) => run::run(*args),
        Command::Demo {
            dir,
            cluster,
            kubeconfig,
            context,
        } => demo::demo(
            dir.as_deref(),
            &cluster,
            kubeconfig.as_deref(),
            context.as_deref(),
        ),
        Command::Status {
            server,
            token_file,
            watch,
            output,
        } => status::status(&server, token_file.as_deref(), watch, output),
        Command::Plan {
            dir,
            root,
            mesh_provider,
            ingress_class,
            charts,
            output,
        } => plan(
            &dir,
            (root.as_deref(), charts),
            &mesh_provider,
            ingress_class.as_deref(),
            output,
        ),
        Command::Loadtester(args) => loadtester::run(&args),
    }
}

/// Renders `dir` as `kubectl kustomize` would. With `--root`, nothing outside that root is read
/// (as the daemon reads nothing outside its repository). Without it, the root starts at the
/// closest Git work tree around `dir` (or `dir` itself) and widens a directory at a time while
/// a base lies outside it: kustomize's default restriction confines the files a kustomization
/// names to its directory, not the bases it builds. The narrowest root keeps paths in
/// messages short.
fn render_at(dir: &Path, root: Option<&Path>) -> Result<Vec<serde_json::Value>, Error> {
    render_in(dir, root).map(|(objects, _)| objects)
}

/// [`render_at`], with the files it read from.
fn render_in(
    dir: &Path,
    root: Option<&Path>,
) -> Result<(Vec<serde_json::Value>, DiskFiles), Error> {
    if root.is_none()
        && let Some(done) = render_once(dir)?
    {
        return Ok(done);
    }
    let (mut files, mut rel) = locate(dir, root)?;
    loop {
        match render::render(&files, &rel) {
            Err(e) if root.is_none() && e.leaves_build_root() => {
                let Some(wider) = files.root().parent() else {
                    return Err(e.into());
                };
                (files, rel) = locate(dir, Some(wider))?;
            }
            other => return Ok((other?, files)),
        }
    }
}

/// Renders `dir` once, from the filesystem root, and gives what the widening loop of
/// [`render_in`] would give with the files of the root it would end at; `None` when that render
/// failed (the loop then says why, naming paths from its root) or when the loop might have
/// rendered something else (see [`render::Widening`]).
fn render_once(dir: &Path) -> Result<Option<(Vec<serde_json::Value>, DiskFiles)>, Error> {
    let (narrow, _) = locate(dir, None)?;
    let everything = DiskFiles::widening_from(narrow.root())
        .map_err(|e| Error::Usage(format!("{}: {e}", narrow.root().display())))?;
    let (_, rel) = locate_in(dir, everything.root())?;
    let Ok(objects) = render::render(&everything, &rel) else {
        return Ok(None);
    };
    let Some(levels) = render::Files::widening(&everything).and_then(render::Widening::levels)
    else {
        return Ok(None);
    };
    let Some(root) = narrow.root().ancestors().nth(levels) else {
        return Ok(None);
    };
    let (files, _) = locate(dir, Some(root))?;
    Ok(Some((objects, files)))
}

/// Renders `dir`, each HelmRelease replaced by what it installs when `charts` is set.
fn render_charts(
    dir: &Path,
    root: Option<&Path>,
    charts: bool,
) -> Result<Vec<serde_json::Value>, Error> {
    let (objects, files) = render_in(dir, root)?;
    if !charts {
        return Ok(objects);
    }
    let helm = crate::helm::Local::new(None, None);
    let mut notices = Vec::new();
    let expanded = crate::rollout::targets::helm::expand(&objects, &files, &helm, &mut notices)
        .map_err(Error::Invalid)?;
    for n in notices {
        eprintln!("note: {n}");
    }
    Ok(expanded)
}

/// Splits `dir` into a file root and the directory's path below it. Without an explicit root,
/// the root is the closest ancestor that is a Git work tree (so `../base` works in a repository
/// as it does with kustomize), or `dir` itself.
fn locate(dir: &Path, root: Option<&Path>) -> Result<(DiskFiles, String), Error> {
    let dir_abs = canonical_dir(dir)?;
    let root_abs = match root {
        Some(r) => r
            .canonicalize()
            .map_err(|e| Error::Usage(format!("{}: {e}", r.display())))?,
        None => dir_abs
            .ancestors()
            .find(|a| a.join(".git").exists())
            .unwrap_or(&dir_abs)
            .to_path_buf(),
    };
    let rel = relative(dir, &dir_abs, &root_abs)?;
    let files = DiskFiles::for_render(&root_abs)
        .map_err(|e| Error::Usage(format!("{}: {e}", root_abs.display())))?;
    Ok((files, rel))
}

/// `dir`'s path below the canonical `root`, and `dir` made canonical.
fn locate_in(dir: &Path, root: &Path) -> Result<(PathBuf, String), Error> {
    let dir_abs = canonical_dir(dir)?;
    let rel = relative(dir, &dir_abs, root)?;
    Ok((dir_abs, rel))
}

fn canonical_dir(dir: &Path) -> Result<PathBuf, Error> {
    let dir_abs = dir
        .canonicalize()
        .map_err(|e| Error::Usage(format!("{}: {e}", dir.display())))?;
    if !dir_abs.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    Ok(dir_abs)
}

/// The `/`-separated path of `dir_abs` below `root_abs`.
fn relative(dir: &Path, dir_abs: &Path, root_abs: &Path) -> Result<String, Error> {
    let rel = dir_abs.strip_prefix(root_abs).map_err(|_| {
        Error::Usage(format!(
            "{} is not below the root {}",
            dir.display(),
            root_abs.display()
        ))
    })?;
    Ok(rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/"))
}

fn build(dir: &Path, root: Option<&Path>, charts: bool) -> Result<(), Error> {
    let objects = render_charts(dir, root, charts)?;
    let text = render::yaml::emit_stream(&objects);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(Error::Output)?;
    out.flush().map_err(Error::Output)
}

fn is_knative_service(o: &serde_json::Value) -> bool {
    o["kind"] == "Service"
        && o["apiVersion"]
            .as_str()
            .is_some_and(|a| a.starts_with("serving.knative.dev/"))
}

/// One row of `fledge hash`: a workload's revision and the configs it tracks.
fn hash_row(
    o: &serde_json::Value,
    index: &revision::ConfigIndex<'_>,
    key: &HashKey,
) -> Result<serde_json::Value, Error> {
    let r = if is_knative_service(o) {
        revision::template_revision(o)
    } else {
        revision::revision_in(o, index, None, key)
    }
    .map_err(|e| match e {
        revision::Error::MissingConfig { .. } => Error::Usage(format!(
            "{e} (`fledge hash` reads Git only: objects that live only in the cluster cannot be hashed offline)"
        )),
        e => Error::Invalid(e.to_string()),
    })?;
    let ns = o["metadata"]["namespace"].as_str().unwrap_or("default");
    Ok(serde_json::json!({
        "namespace": ns,
        "kind": o["kind"],
        "name": o["metadata"]["name"],
        "revision": r.id.to_string(),
        "configs": r.configs.iter().map(|c| serde_json::json!({
            "kind": c.kind.to_string(), "name": c.name, "origin": c.origin,
        })).collect::<Vec<_>>(),
    }))
}

fn hash(
    dir: &Path,
    root: Option<&Path>,
    output: Format,
    key_file: Option<&Path>,
) -> Result<(), Error> {
    let key = match key_file {
        Some(f) => HashKey::new(
            std::fs::read(f).map_err(|e| Error::Usage(format!("{}: {e}", f.display())))?,
        ),
        None => HashKey::offline(),
    };
    let objects = render_at(dir, root)?;
    // A Secret the API server would refuse is refused here too, whoever references it.
    for o in objects
        .iter()
        .filter(|o| o["kind"] == "Secret" && o["apiVersion"] == "v1")
    {
        let problems = crate::object::secret_problems(o);
        if !problems.is_empty() {
            return Err(Error::Invalid(format!(
                "Secret {}/{}: {}",
                crate::object::namespace_or_default(o),
                o["metadata"]["name"].as_str().unwrap_or(""),
                problems.join("; ")
            )));
        }
    }
    let index = revision::ConfigIndex::new(&objects);
    let rows = objects
        .iter()
        .filter(|o| {
            (o["apiVersion"] == "apps/v1"
                && matches!(o["kind"].as_str(), Some("Deployment" | "DaemonSet")))
                || is_knative_service(o)
        })
        .map(|o| hash_row(o, &index, &key))
        .collect::<Result<Vec<_>, Error>>()?;
    let text = match output {
        Format::Json => {
            let mut t =
                serde_json::to_string_pretty(&rows).map_err(|e| Error::Usage(e.to_string()))?;
            t.push('\n');
            t
        }
        Format::Table => {
            let mut table =
                vec![["NAMESPACE", "KIND", "NAME", "REVISION", "CONFIGS"].map(str::to_owned)];
            for r in &rows {
                let configs: Vec<String> = r["configs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        format!(
                            "{}/{}",
                            c["kind"].as_str().unwrap_or(""),
                            c["name"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                let rev = r["revision"].as_str().unwrap_or("");
                let cell = |k: &str| r[k].as_str().unwrap_or("").to_owned();
                table.push([
                    cell("namespace"),
                    cell("kind"),
                    cell("name"),
                    rev[..rev.len().min(12)].to_owned(),
                    if configs.is_empty() {
                        "-".to_owned()
                    } else {
                        configs.join(",")
                    },
                ]);
            }
            let widths: Vec<usize> = (0..5)
                .map(|i| table.iter().map(|row| row[i].len()).max().unwrap_or(0))
                .collect();
            let mut t = String::new();
            for row in &table {
                let line: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                t.push_str(line.join("  ").trim_end());
                t.push('\n');
            }
            t
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(Error::Output)?;
    out.flush().map_err(Error::Output)
}

fn plan(
    dir: &Path,
    (root, charts): (Option<&Path>, bool),
    mesh_provider: &str,
    ingress_class: Option<&str>,
    output: Format,
) -> Result<(), Error> {
    use crate::release::spec::Provider;
    use crate::rollout::plan;
    let provider = Provider::parse(mesh_provider).ok_or_else(|| {
        Error::Usage(format!(
            "--mesh-provider {mesh_provider:?} is not a provider Flagger knows"
        ))
    })?;
    let objects = render_charts(dir, root, charts)?;
    let plans = plan::plan(&objects, &provider, ingress_class)?;
    let text = match output {
        Format::Json => {
            let mut t =
                serde_json::to_string_pretty(&plans).map_err(|e| Error::Usage(e.to_string()))?;
            t.push('\n');
            t
        }
        Format::Table => plan::render_text(&plans),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(Error::Output)?;
    out.flush().map_err(Error::Output)?;
    // A Canary that cannot run fails the command, after the plan shows why.
    let broken: Vec<String> = plans
        .iter()
        .filter(|p| p.problem.is_some())
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .collect();
    if broken.is_empty() {
        return Ok(());
    }
    Err(Error::Daemon(format!(
        "{} Canar{} cannot run: {}",
        broken.len(),
        if broken.len() == 1 { "y" } else { "ies" },
        broken.join(", ")
    )))
}
