//! Telling people: commit statuses for every release state, and the alerts the reconciler and
//! the outcome writer queue. A failing endpoint is logged; it never holds back a rollout.

use std::collections::BTreeMap;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::any::AnyCluster;
use super::{ReleaseView, World};
use crate::rollout::executor::ReleaseTarget;

/// An alert on its way out.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub alert: crate::report::alerts::Alert,
    pub targets: Vec<crate::report::alerts::Target>,
}

/// Sends commit statuses for every release state and the alerts it is given. Failures are
/// logged and counted; nothing here can hold back a rollout.
pub(super) async fn report(
    forge: Option<crate::report::forge::Forge>,
    cluster_name: String,
    mut world: watch::Receiver<World>,
    mut alerts: tokio::sync::mpsc::Receiver<Outgoing>,
    shutdown: CancellationToken,
) {
    let notifier = crate::report::alerts::Notifier::default();
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
                    for (t, s) in w.releases.values() {
                        let view = ReleaseView::of(t, s);
                        if let Some(st) = crate::report::forge::status_of(&view, &cluster_name)
                            && let Err(e) = f.post(&st).await
                        {
                            warn!(error = %e, "commit status not posted");
                        }
                    }
                }
            }
        }
    }
}

/// The targets of an alert for a release: its `analysis.alerts` entries that take this
/// severity, or the global notifier when it has none.
pub(super) async fn alert_targets(
    cluster: &AnyCluster,
    t: &ReleaseTarget,
    providers: &BTreeMap<(String, String), crate::rollout::spec::AlertProvider>,
    global: &[crate::report::alerts::Target],
    severity: crate::rollout::spec::Severity,
) -> Vec<crate::report::alerts::Target> {
    use crate::cluster::Cluster as _;
    use crate::report::alerts::{Target, receives};
    if t.spec.analysis.alerts.is_empty() {
        return global.to_vec();
    }
    let mut out = Vec::new();
    for a in &t.spec.analysis.alerts {
        if !receives(a.severity, severity) {
            continue;
        }
        let Some(p) = providers.get(&(a.provider_namespace.clone(), a.provider_name.clone()))
        else {
            warn!(release = %t.spec.name, provider = %a.provider_name, "alert provider not in the repository");
            continue;
        };
        let (mut address, mut token) = (p.address.clone(), None);
        if let Some(secret) = &p.secret_ref
            && let Ok(Some(s)) = cluster.get("v1", "Secret", &p.namespace, secret).await
        {
            let field = |k: &str| crate::cluster::secret_field(&s, k);
            if let Some(a) = field("address") {
                address = Some(a);
            }
            token = field("token");
        }
        if let Some(addr) = address {
            out.push(Target::of(p, addr, token));
        } else {
            warn!(provider = %p.name, "alert provider has no address");
        }
    }
    out
}
