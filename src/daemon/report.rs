//! Telling people: commit statuses for every release state, and the alerts the reconciler and
//! the outcome writer queue. A failing endpoint is logged; it never holds back a rollout.

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::shared::World;
use crate::chain::Chain;
use crate::release::ReleaseView;
use crate::report::alerts::{Alert, Notifier, Target};
use crate::report::forge::{self, Forge};

/// An alert on its way out.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub alert: Alert,
    pub targets: Vec<Target>,
}

/// Sends commit statuses for every release state and the alerts it is given. Failures are
/// logged; nothing here can hold back a rollout.
pub(super) async fn report(
    forge: Option<Forge>,
    notifier: Notifier,
    cluster_name: String,
    mut world: watch::Receiver<World>,
    mut alerts: mpsc::Receiver<Outgoing>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            Some(out) = alerts.recv() => {
                for t in &out.targets {
                    if let Err(e) = notifier.send(t, &out.alert).await {
                        warn!(error = %e, "alert not delivered");
                    }
                }
            }
            r = world.changed(), if forge.is_some() => {
                if r.is_err() {
                    return;
                }
                let w = world.borrow_and_update().clone();
                if let Some(f) = &forge {
                    post_statuses(f, &w, &cluster_name).await;
                }
            }
        }
    }
}

/// The commit status of the sync (and of a commit verification refused), of each of its Flux
/// Kustomizations and of every release in the world.
async fn post_statuses(f: &Forge, w: &World, cluster_name: &str) {
    let sync = forge::sync_status_of(&w.sync, cluster_name);
    for st in sync
        .into_iter()
        .chain(forge::refused_status_of(&w.sync, cluster_name))
        .chain(forge::unit_statuses_of(&w.sync, cluster_name))
    {
        if let Err(e) = f.post(&st).await {
            warn!(error = %Chain(&e), "commit status not posted");
        }
    }
    for (t, s) in w.releases.values() {
        let view = ReleaseView::of(t, s);
        if let Some(st) = forge::status_of(&view, cluster_name)
            && let Err(e) = f.post(&st).await
        {
            warn!(error = %Chain(&e), "commit status not posted");
        }
    }
}
