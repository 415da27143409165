//! [`Context`]: what the tasks that act on releases share — how to render a commit, where
//! counters and views go, where alerts go, and the clock — built once by [`run`](super::run).

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::warn;

use super::report::Outgoing;
use super::shared::{Clock, Shared};
use crate::release::spec::Provider;
use crate::report::alerts::{Alert, Target};
use crate::revision::HashKey;
use crate::rollout::targets::BuildEnv;

/// The reconciler's and the outcome writer's common inputs.
#[derive(Clone)]
pub struct Context {
    /// The directory rendered, from the repository's root (`--path`).
    pub path: String,
    /// The mesh or ingress a Canary without `spec.provider` uses (`--mesh-provider`).
    pub provider: Provider,
    /// The ingress class of Contour's HTTPProxies (`--ingress-class`).
    pub ingress_class: Option<String>,
    /// The installation's revision key.
    pub key: HashKey,
    /// What a build reads beyond the commit (the cluster's ConfigMaps and Secrets, further
    /// repositories, SOPS keys).
    pub env: BuildEnv,
    /// The further repositories the builds read, polled by the reconciler.
    pub further: Arc<super::repositories::Further>,
    /// Counters, views and the sync's status, read by the API.
    pub shared: Arc<Shared>,
    /// The reporter's queue.
    pub alerts: mpsc::Sender<Outgoing>,
    /// Where alerts that are no one release's go (`--alert-*`).
    pub global_alerts: Vec<Target>,
    pub clock: Clock,
}

impl Context {
    /// Queues `alert` to the global targets, if there are any; a full queue drops it rather
    /// than hold anything back.
    pub fn alert_global(&self, alert: Alert) {
        if self.global_alerts.is_empty() {
            return;
        }
        let out = Outgoing {
            alert,
            targets: self.global_alerts.clone(),
        };
        if self.alerts.try_send(out).is_err() {
            warn!("alert queue full; alert dropped");
        }
    }
}
