//! Flux's notifications, as the commit declares them: an event for each change of a
//! Kustomization's readiness, delivered to the Providers its Alerts name (as
//! notification-controller delivers kustomize-controller's events), and the Receivers' webhook
//! paths, served under `/hook/`.

use std::collections::BTreeMap;
use std::sync::Arc;

use tracing::{info, warn};

use super::edges::AnyCluster;
use crate::chain::Chain;
use crate::flux::notification::{Event, InvolvedObject, Receiver, Severity};
use crate::net::Secret;
use crate::report::notify::deliver::{deliver, receiver_token};
use crate::report::sync::{SyncReason, UnitStatus};
use crate::rollout::targets::Notifications;

/// The group of the events' objects, and the prefix of their metadata keys.
const GROUP: &str = "kustomize.toolkit.fluxcd.io";
/// The same, for HelmReleases' events.
const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";
/// The same, for GitRepositories' events.
const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";

/// The event kustomize-controller would send when a Kustomization's status turned from
/// `before` to `after` at `revision` (`main@sha1:<commit>`); none when its readiness, reason and
/// message did not change, or for the root path no Kustomization names.
#[must_use]
pub(super) fn unit_event(
    before: &UnitStatus,
    after: &UnitStatus,
    revision: &str,
    now: &str,
) -> Option<Event> {
    let same = before.ready == after.ready
        && before.reason == after.reason
        && before.message == after.message;
    // A HelmRelease's unit speaks as helm-controller does.
    let (kind, group, version, controller, unit) = match after
        .name
        .strip_prefix(crate::rollout::targets::helm::UNIT_PREFIX)
    {
        Some(rest) => ("HelmRelease", HELM_GROUP, "v2", "helm-controller", rest),
        None => (
            "Kustomization",
            GROUP,
            "v1",
            "kustomize-controller",
            after.name.as_str(),
        ),
    };
    let (namespace, name) = unit.split_once('/')?;
    if same || after.reason == SyncReason::DependencyNotReady {
        return None;
    }
    let (severity, reason, message) = if after.ready {
        let message = format!("Reconciliation finished, revision {revision}");
        (
            Severity::Info,
            "ReconciliationSucceeded".to_owned(),
            message,
        )
    } else if after.reason == SyncReason::Progressing {
        (
            Severity::Info,
            "Progressing".to_owned(),
            after.message.clone(),
        )
    } else {
        (
            Severity::Error,
            after.reason.as_str().to_owned(),
            after.message.clone(),
        )
    };
    Some(Event {
        involved_object: InvolvedObject {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            api_version: format!("{group}/{version}"),
            uid: None,
            labels: None,
        },
        severity,
        timestamp: now.to_owned(),
        message,
        reason,
        metadata: [(format!("{group}/revision"), revision.to_owned())].into(),
        reporting_controller: controller.to_owned(),
        reporting_instance: None,
    })
}

/// What source-controller says of a GitRepository, as an event: a new commit fetched
/// (`Ok(message)`: `NewArtifact`, "stored artifact for commit '<subject>'", the subject cut at
/// 50 characters as fluxcd/pkg's `ShortMessage` cuts it) or a fetch that failed (`Err(why)`:
/// `GitOperationFailed`), at `revision` (`main@sha1:<commit>`).
#[must_use]
pub(super) fn source_event(
    repository: &crate::flux::Id,
    outcome: Result<&str, &str>,
    revision: &str,
    now: &str,
) -> Event {
    let (severity, reason, message) = match outcome {
        Ok(commit_message) => {
            let subject = commit_message.lines().next().unwrap_or("");
            let short = if subject.chars().count() > 50 {
                format!("{}...", subject.chars().take(50).collect::<String>())
            } else {
                subject.to_owned()
            };
            (
                Severity::Info,
                "NewArtifact",
                format!("stored artifact for commit '{short}'"),
            )
        }
        Err(why) => (Severity::Error, "GitOperationFailed", why.to_owned()),
    };
    Event {
        involved_object: InvolvedObject {
            kind: "GitRepository".to_owned(),
            namespace: repository.namespace.clone(),
            name: repository.name.clone(),
            api_version: format!("{SOURCE_GROUP}/v1"),
            uid: None,
            labels: None,
        },
        severity,
        timestamp: now.to_owned(),
        message,
        reason: reason.to_owned(),
        metadata: [(format!("{SOURCE_GROUP}/revision"), revision.to_owned())].into(),
        reporting_controller: "source-controller".to_owned(),
        reporting_instance: None,
    }
}

/// Delivers `event` to the Providers of the Alerts that match it, in the background; a
/// delivery that fails is logged, naming the Alert and Provider (never an address or token).
pub(super) fn send(
    cluster: &AnyCluster,
    notifications: &Arc<Notifications>,
    event: Event,
    cluster_name: &str,
) {
    if notifications.alerts.is_empty() {
        return;
    }
    let (cluster, n, name) = (
        cluster.clone(),
        notifications.clone(),
        cluster_name.to_owned(),
    );
    tokio::spawn(async move {
        for d in deliver(&cluster, &n.alerts, &n.providers, &event, &name).await {
            if let Err(e) = d.result {
                warn!(alert = %d.alert, error = %Chain(&e), "Flux Alert not delivered");
            }
        }
    });
}

/// Each Receiver's webhook path (`/hook/<sha256 of token, name and namespace>`, as Flux gives
/// it), with the Receiver and its token read from its Secret; one whose token cannot be read is
/// left out and said.
pub(super) async fn receivers(
    cluster: &AnyCluster,
    receivers: &[Receiver],
) -> BTreeMap<String, (Receiver, Secret)> {
    let mut out = BTreeMap::new();
    for r in receivers {
        match receiver_token(cluster, r).await {
            Ok(token) => {
                let path = r.webhook_path(&token);
                info!(receiver = %r.id, %path, "Flux Receiver served");
                out.insert(path, (r.clone(), token));
            }
            Err(e) => {
                warn!(receiver = %r.id, error = %Chain(&e), "Flux Receiver not served: its token cannot be read");
            }
        }
    }
    out
}
