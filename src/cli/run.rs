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
        daemon::run(p.config, p.edges, shared, token)
            .await
            .map_err(|e| Error::Daemon(format!("{e:#}")))
    })
}
