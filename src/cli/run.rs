//! `fledge run`: the settings ([`RunArgs`]: flags, and `--config` for the rest) validated into
//! the daemon's configuration, the programs it will run found on `PATH`, its edges connected,
//! and the daemon run until a signal.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Error;
use crate::daemon::config::{self, Environment, RunArgs};
use crate::daemon::{self, Config, Edges, Shared};

/// What `fledge run` will run: the daemon's configuration and its edges.
pub struct Prepared {
    pub config: Config,
    pub edges: Edges,
}

/// Merges `--config`, validates every setting (all problems at once, each naming its flag),
/// checks that the programs the settings need are installed, and connects to what they name.
pub async fn prepare(args: RunArgs) -> Result<Prepared, Error> {
    let usage = |e: config::Invalid| Error::Usage(e.to_string());
    let args = args.merged().map_err(usage)?;
    let env = Environment::of_process();
    let config = config::validate(&args, &env).map_err(usage)?;
    let missing: Vec<String> = programs_needed(&config)
        .into_iter()
        .filter(|(program, _)| find_program(program, env.path.as_deref()).is_none())
        .map(|(program, why)| format!("`{program}` is not on PATH, and {why}"))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Usage(missing.join("\n")));
    }
    let edges = daemon::edges::connect(&config)
        .await
        .map_err(Error::Usage)?;
    Ok(Prepared { config, edges })
}

/// The programs the daemon will run with `config`, each with why. Fetches need none (libgit2
/// runs in the process, ssh included); write-back pushes with the git CLI, so that the
/// remote's hooks run and each ref's fate is reported, and git runs `ssh` for an ssh remote.
#[must_use]
pub fn programs_needed(config: &Config) -> Vec<(&'static str, String)> {
    let mut needed = Vec::new();
    if let Some(v) = &config.source.verify {
        for program in v.keys.programs() {
            needed.push((
                program,
                format!("--verify-keys checks signatures with {program}: install it (Debian: gpgv, openssh-client; deploy/Dockerfile's image has both)"),
            ));
        }
    }
    if config.outcomes.is_some() {
        needed.push((
            "git",
            "--write-back pushes outcomes with the git CLI: install git (deploy/Dockerfile's image has it) or turn write-back off".to_owned(),
        ));
        let url = &config.source.url;
        if is_ssh_remote(url) {
            needed.push((
                "ssh",
                format!(
                    "--write-back pushes to the ssh remote {} with git, which runs ssh: install an ssh client (Debian: openssh-client)",
                    crate::source::redact(url)
                ),
            ));
        }
    }
    needed
}

/// Whether git reaches `url` over ssh: `ssh://` (or git's aliases `git+ssh://`, `ssh+git://`),
/// or the scp-like `[user@]host:path`, which git tells from a path by a colon before any slash.
fn is_ssh_remote(url: &str) -> bool {
    if let Some((scheme, _)) = url.split_once("://") {
        return matches!(scheme, "ssh" | "git+ssh" | "ssh+git");
    }
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon < slash,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Where `program` is on `path` (`$PATH`): the first directory holding an executable file of
/// that name. (By hand: the lookup is a loop over `split_paths`, which the `which` crate would
/// do with more dependencies.)
#[must_use]
pub fn find_program(program: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
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

/// How long the runtime may take to stop its last tasks (a Git fetch, a render) after the
/// daemon returns.
const STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the daemon until a signal; a second signal exits at once.
pub fn run(args: RunArgs) -> Result<(), Error> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::Usage(format!("runtime: {e}")))?;
    let result = rt.block_on(async move {
        let p = prepare(args).await?;
        let shared = Arc::new(Shared::default());
        let token = tokio_util::sync::CancellationToken::new();
        let stop = token.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            // Cancel first: nothing after this line may keep the daemon running.
            stop.cancel();
            tracing::info!("shutting down (a second Ctrl-C exits at once)");
            shutdown_signal().await;
            std::process::exit(130);
        });
        daemon::run(p.config, p.edges, shared, token)
            .await
            .map_err(|e| Error::Daemon(format!("{e:#}")))
    });
    // Blocking tasks still running (a fetch from a slow remote) do not hold the exit up.
    rt.shutdown_timeout(STOP_WITHIN);
    result
}
