//! `fledge run`: the settings ([`RunArgs`]: flags, and `--config` for the rest) validated into
//! the daemon's configuration, its edges connected, and the daemon run until a signal.

use std::sync::Arc;

use super::Error;
use crate::daemon::config::{self, Environment, RunArgs};
use crate::daemon::{self, Config, Edges, Shared};

/// What `fledge run` will run: the daemon's configuration and its edges.
pub struct Prepared {
    pub config: Config,
    pub edges: Edges,
}

/// Merges `--config`, validates every setting (all problems at once, each naming its flag) and
/// connects to what they name.
pub async fn prepare(args: RunArgs) -> Result<Prepared, Error> {
    let usage = |e: config::Invalid| Error::Usage(e.to_string());
    let args = args.merged().map_err(usage)?;
    let config = config::validate(&args, &Environment::of_process()).map_err(usage)?;
    let edges = daemon::edges::connect(&config)
        .await
        .map_err(Error::Usage)?;
    Ok(Prepared { config, edges })
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
