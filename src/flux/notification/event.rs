//! Events and the Alerts they reach, as notification-controller's event server decides it
//! (`internal/server/event_handlers.go`, v1.7.5): an unsuspended Alert matches when one of its
//! sources has the event's kind and namespace (the Alert's when unset), its name or `*`, and
//! its `matchLabels` on the object's labels; when the severity passes (`info` passes all); when
//! the message matches an inclusion expression (if any) and no exclusion expression. What the
//! Provider receives is the event with its metadata combined as RFC 0008 orders it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Alert, EventSource, Provider};
use crate::flux::FluxError;

/// An event's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Error,
}

/// The object an event is about (a Kubernetes `ObjectReference`, as Flux sends it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InvolvedObject {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `kustomize.toolkit.fluxcd.io/v1`: its group prefixes the object's own metadata keys.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The object's labels, for `matchLabels` (Flux reads them from the cluster); `None` when
    /// unknown, which matches no source that has `matchLabels`. Not sent.
    #[serde(skip)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// A Flux event (`event.toolkit.fluxcd.io/v1beta1` `Event`): the JSON a `generic` Provider
/// receives, fields in Flux's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub involved_object: InvolvedObject,
    pub severity: Severity,
    /// RFC 3339, seconds, UTC (`2026-01-02T15:04:05Z`), from the caller's clock.
    pub timestamp: String,
    pub message: String,
    /// `ReconciliationSucceeded`, `Progressing`, …
    pub reason: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// `kustomize-controller`, `fledge`, …
    pub reporting_controller: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_instance: Option<String>,
}

/// The prefix of metadata keys set by annotations on the involved object.
const EVENT_GROUP_PREFIX: &str = "event.toolkit.fluxcd.io/";

impl Event {
    /// The group of the involved object's API (`kustomize.toolkit.fluxcd.io`; empty for core).
    fn object_group(&self) -> &str {
        self.involved_object
            .api_version
            .rsplit_once('/')
            .map_or("", |(g, _)| g)
    }

    /// The revision a commit status is for: metadata `commit`, `originRevision` or `revision`
    /// (the keys `GetRevision` reads in Flux's event API).
    #[must_use]
    pub fn revision(&self) -> Option<&str> {
        ["commit", "originRevision", "revision"]
            .iter()
            .find_map(|k| self.metadata.get(*k))
            .map(String::as_str)
    }

    /// The event as Flux's event server keeps it (`cleanupMetadata`, then
    /// `excludeInternalMetadata`): only the metadata keys prefixed with
    /// `event.toolkit.fluxcd.io/` or the object's API group, without the object's `checksum`,
    /// `digest` (compared without case) and `token` keys.
    fn cleaned(&self) -> Self {
        let mut e = self.clone();
        let object = format!("{}/", self.object_group());
        let dropped = ["checksum", "digest"].map(|k| format!("{object}{k}"));
        let token = format!("{object}token");
        e.metadata.retain(|k, _| {
            (k.starts_with(EVENT_GROUP_PREFIX) || k.starts_with(&object))
                && !dropped.iter().any(|d| d.eq_ignore_ascii_case(k))
                && *k != token
        });
        e
    }

    /// The key Flux's event server rate-limits by (`eventKeyFunc`): sha256 of the object, the
    /// message, and the object's `originRevision`, `revision` and `token` metadata. Flux drops
    /// an event whose key it accepted within `--rate-limit-interval` (5 minutes by default).
    #[must_use]
    pub fn rate_limit_key(&self) -> String {
        use sha2::Digest as _;
        let o = &self.involved_object;
        let mut comps = vec![
            "event".to_owned(),
            format!("name={}", o.name),
            format!("namespace={}", o.namespace),
            format!("kind={}", o.kind),
            format!("message={}", self.message),
        ];
        for k in ["originRevision", "revision", "token"] {
            if let Some(v) = self.metadata.get(&format!("{}/{k}", self.object_group())) {
                comps.push(format!("{k}={v}"));
            }
        }
        hex::encode(sha2::Sha256::digest(comps.join("/").as_bytes()))
    }
}

/// Whether `source` (namespace already defaulted) matches the event.
fn source_matches(alert: &Alert, source: &EventSource, namespace: &str, event: &Event) -> bool {
    let o = &event.involved_object;
    if o.namespace != namespace || o.kind != source.kind {
        return false;
    }
    if event.severity != alert.event_severity && alert.event_severity != Severity::Info {
        return false;
    }
    if source.name != "*" && source.name != o.name {
        return false;
    }
    let Some(want) = &source.match_labels else {
        return true;
    };
    let Some(labels) = &o.labels else {
        return false;
    };
    want.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Whether the Alert takes the event: not suspended, a source matches, the message is included
/// and not excluded.
fn alert_takes(alert: &Alert, event: &Event) -> bool {
    if alert.suspend {
        return false;
    }
    let sourced = alert.event_sources.iter().any(|s| {
        let ns = s.namespace.as_deref().unwrap_or(&alert.id.namespace);
        source_matches(alert, s, ns, event)
    });
    let included = alert.inclusion_list.is_empty()
        || alert
            .inclusion_list
            .iter()
            .any(|r| r.is_match(&event.message));
    let excluded = alert
        .exclusion_list
        .iter()
        .any(|r| r.is_match(&event.message));
    sourced && included && !excluded
}

/// The Alerts the event reaches, in the order given.
#[must_use]
pub fn matching_alerts<'a>(alerts: &'a [Alert], event: &Event) -> Vec<&'a Alert> {
    let event = event.cleaned();
    alerts.iter().filter(|a| alert_takes(a, &event)).collect()
}

/// The event a Provider of `alert` receives: metadata combined from, lowest precedence first,
/// the `event.toolkit.fluxcd.io/` keys (prefix stripped), the Alert's `eventMetadata`, its
/// `summary` (key `summary`), and the keys prefixed with the object's API group (prefix
/// stripped); keys without either prefix are dropped when the event is received, as Flux's event
/// server does. The second value lists the keys set by more than one source (Flux warns about
/// them).
#[must_use]
pub fn notification(alert: &Alert, event: &Event) -> (Event, Vec<String>) {
    let event = event.cleaned();
    let mut metadata = BTreeMap::new();
    let mut sources: BTreeMap<String, usize> = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        metadata.insert(k.to_owned(), v.to_owned());
        *sources.entry(k.to_owned()).or_default() += 1;
    };
    for (k, v) in &event.metadata {
        if let Some(key) = k.strip_prefix(EVENT_GROUP_PREFIX) {
            put(key, v);
        }
    }
    for (k, v) in &alert.event_metadata {
        put(k, v);
    }
    if let Some(s) = &alert.summary {
        put("summary", s);
    }
    let object_prefix = format!("{}/", event.object_group());
    for (k, v) in &event.metadata {
        if let Some(key) = k.strip_prefix(&object_prefix) {
            put(key, v);
        }
    }
    let conflicts = sources
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect();
    let mut out = event;
    out.metadata = metadata;
    (out, conflicts)
}

/// One notification to send: the Alert, its Provider and the event the Provider receives.
#[derive(Debug, Clone)]
pub struct Dispatch<'a> {
    pub alert: &'a Alert,
    pub provider: &'a Provider,
    pub event: Event,
    /// Metadata keys set by more than one source (worth a warning, as Flux logs one).
    pub conflicts: Vec<String>,
}

/// What the event leads to: one [`Dispatch`] per matching Alert whose Provider (in the Alert's
/// namespace) is not suspended; an error for an Alert whose Provider is missing.
#[must_use]
pub fn dispatch<'a>(
    alerts: &'a [Alert],
    providers: &'a [Provider],
    event: &Event,
) -> Vec<Result<Dispatch<'a>, FluxError>> {
    matching_alerts(alerts, event)
        .into_iter()
        .filter_map(|alert| {
            let provider = providers
                .iter()
                .find(|p| p.id.namespace == alert.id.namespace && p.id.name == alert.provider_ref);
            let Some(provider) = provider else {
                return Some(Err(alert.id.error(
                    "spec.providerRef.name",
                    format!(
                        "Provider `{}` is not in namespace `{}`",
                        alert.provider_ref, alert.id.namespace
                    ),
                )));
            };
            if provider.suspend {
                return None;
            }
            let (event, conflicts) = notification(alert, event);
            Some(Ok(Dispatch {
                alert,
                provider,
                event,
                conflicts,
            }))
        })
        .collect()
}

/// Flux's default commit status id: `<kind>/<name>/<first segment of the Provider's uid>`,
/// lower-cased (`generateDefaultCommitStatus`).
#[must_use]
pub fn commit_status_id(provider_uid: &str, event: &Event) -> String {
    let first = provider_uid.split('-').next().unwrap_or("");
    let o = &event.involved_object;
    format!("{}/{}/{first}", o.kind, o.name).to_lowercase()
}
