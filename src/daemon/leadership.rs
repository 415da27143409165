//! One active replica: leader election on a `coordination.k8s.io` Lease (kube-lease-manager,
//! which renews the Lease by server-side apply). A replica waits until it holds the Lease before
//! it syncs, ticks or writes to Git; one that loses it stops at once (and its Deployment restarts
//! it as a follower), as controller-runtime's managers do.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use super::config::{Config, LeaderElection};
use super::edges::AnyCluster;
use crate::chain::Chain;

/// The Lease this replica holds.
pub(super) struct Lease {
    leading: watch::Receiver<bool>,
    manager: JoinHandle<kube_lease_manager::Result<LeaseManager>>,
}

/// Waits until this replica holds the Lease; `None` when shutdown came first.
pub(super) async fn acquire(
    le: &LeaderElection,
    config: &Config,
    cluster: &AnyCluster,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Lease>> {
    let AnyCluster::Kube(kube) = cluster else {
        anyhow::bail!("leader election needs --cluster kube");
    };
    let seconds = le.duration.as_secs().max(2);
    let manager = LeaseManagerBuilder::new(kube.client(), &le.lease)
        .with_namespace(&config.inventory_namespace)
        .with_identity(&le.identity)
        .with_duration(seconds)
        // Renew well before the Lease ends.
        .with_grace((seconds / 3).max(1))
        .with_field_manager(crate::keys::FIELD_MANAGER)
        .build()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "Lease {}/{}: {}",
                config.inventory_namespace,
                le.lease,
                Chain(&e)
            )
        })?;
    let (mut leading, manager) = manager.watch().await;
    info!(lease = %le.lease, identity = %le.identity, "waiting to lead");
    while !*leading.borrow_and_update() {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                drop(leading);
                let _ = manager.await;
                return Ok(None);
            }
            changed = leading.changed() => if changed.is_err() {
                anyhow::bail!("the lease manager stopped");
            },
        }
    }
    info!(lease = %le.lease, identity = %le.identity, "leading");
    Ok(Some(Lease { leading, manager }))
}

impl Lease {
    /// Cancels `shutdown` if the Lease is lost; the flag says whether it was.
    pub(super) fn watch_loss(
        &self,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Arc<AtomicBool> {
        let lost = Arc::new(AtomicBool::new(false));
        let (flag, stop, mut leading) = (lost.clone(), shutdown.clone(), self.leading.clone());
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    changed = leading.changed() => {
                        if changed.is_err() || !*leading.borrow_and_update() {
                            error!("lost the leader lease; stopping");
                            flag.store(true, Ordering::SeqCst);
                            stop.cancel();
                            return;
                        }
                    }
                }
            }
        });
        lost
    }

    /// Gives the Lease up, so that another replica leads at once.
    pub(super) async fn release(self) {
        drop(self.leading);
        match self.manager.await {
            Ok(Ok(_)) => info!("leader lease released"),
            Ok(Err(e)) => warn!(error = %Chain(&e), "leader lease not released"),
            Err(e) => warn!(error = %e, "lease manager"),
        }
    }
}
