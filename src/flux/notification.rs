//! Flux's notification objects (`notification.toolkit.fluxcd.io`, as notification-controller
//! v1.7.5 of Flux v2.7 defines them): `Provider` and `Alert` (`v1beta3`), `Receiver` (`v1`),
//! read into typed specs. Every field is either honoured or refused with an error naming it;
//! fields Flux itself accepts without effect (`Provider.spec.interval`) are kept as warnings.
//! [`event`] decides which Alerts an event reaches and what their Providers receive, as the
//! controller's event server does; [`receiver`] verifies incoming webhooks as its receiver
//! server does. Pure: no I/O, no clock.
//!
//! Not here: reading the Secrets the objects name (the daemon passes their values), sending
//! (`report::notify`), the HTTP route and reconciling the Receiver's resources (the daemon).

pub mod event;
pub mod receiver;

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::kustomization::LocalRef;
use super::{FluxError, Id, check_fields, duration};

pub use event::{Dispatch, Event, InvolvedObject, Severity, dispatch, matching_alerts};
pub use receiver::{Receiver, ReceiverType};

/// The group of Flux's notification objects.
pub const GROUP: &str = "notification.toolkit.fluxcd.io";

/// A Provider's `spec.type`: the ones fledge sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderType {
    Slack,
    Discord,
    MsTeams,
    Rocket,
    GoogleChat,
    Generic,
    GenericHmac,
    GitHub,
    GitLab,
    Gitea,
    Bitbucket,
    BitbucketServer,
    AzureDevOps,
}

/// Types notification-controller v1.7 has that fledge does not send to.
const NOT_BUILT: &[&str] = &[
    "googlepubsub",
    "webex",
    "sentry",
    "azureeventhub",
    "telegram",
    "lark",
    "matrix",
    "opsgenie",
    "alertmanager",
    "grafana",
    "githubdispatch",
    "pagerduty",
    "datadog",
    "nats",
    "zulip",
    "otel",
];

/// Types that came after notification-controller v1.7 (Flux v2.8).
const LATER: &[&str] = &[
    "githubpullrequestcomment",
    "gitlabmergerequestcomment",
    "giteapullrequestcomment",
];

impl ProviderType {
    const ALL: [(Self, &'static str); 13] = [
        (Self::Slack, "slack"),
        (Self::Discord, "discord"),
        (Self::MsTeams, "msteams"),
        (Self::Rocket, "rocket"),
        (Self::GoogleChat, "googlechat"),
        (Self::Generic, "generic"),
        (Self::GenericHmac, "generic-hmac"),
        (Self::GitHub, "github"),
        (Self::GitLab, "gitlab"),
        (Self::Gitea, "gitea"),
        (Self::Bitbucket, "bitbucket"),
        (Self::BitbucketServer, "bitbucketserver"),
        (Self::AzureDevOps, "azuredevops"),
    ];

    /// The type `s` names, or why fledge refuses it.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some((t, _)) = Self::ALL.iter().find(|(_, n)| *n == s) {
            return Ok(*t);
        }
        if NOT_BUILT.contains(&s) {
            return Err(format!(
                "type `{s}` is not supported by fledge (it sends to: {}); route these events through a `generic` Provider or remove the Provider",
                Self::names()
            ));
        }
        if LATER.contains(&s) {
            return Err(format!(
                "type `{s}` came with notification-controller v1.8 (Flux v2.8); fledge follows v1.7 and does not send it"
            ));
        }
        Err(format!(
            "`{s}` is not a Provider type (fledge sends to: {})",
            Self::names()
        ))
    }

    fn names() -> String {
        Self::ALL.map(|(_, n)| n).join(", ")
    }

    /// The name Flux gives the type.
    #[must_use]
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("", |(_, n)| n)
    }

    /// A Git forge: the Provider posts commit statuses, not messages.
    #[must_use]
    pub fn is_git(self) -> bool {
        matches!(
            self,
            Self::GitHub
                | Self::GitLab
                | Self::Gitea
                | Self::Bitbucket
                | Self::BitbucketServer
                | Self::AzureDevOps
        )
    }
}

/// A Flux Provider: where and how an Alert's events are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub id: Id,
    /// `metadata.uid` when the object carries one (the default commit status id uses it).
    pub uid: Option<String>,
    pub kind: ProviderType,
    pub address: Option<String>,
    pub channel: Option<String>,
    pub username: Option<String>,
    /// `spec.proxy` (deprecated in Flux for `proxySecretRef`, still honoured).
    pub proxy: Option<String>,
    /// Secret with `address` (and `username`, `password`) of a proxy.
    pub proxy_secret_ref: Option<String>,
    /// Secret with `address`, `token`, `username`, `password`, `headers`.
    pub secret_ref: Option<String>,
    /// Secret with `ca.crt` (and `tls.crt`, `tls.key`).
    pub cert_secret_ref: Option<String>,
    /// `spec.timeout`, 15s by default as in Flux.
    pub timeout: Duration,
    pub suspend: bool,
    /// Fields accepted without effect, each with why.
    pub warnings: Vec<String>,
}

/// A Provider's `spec`, as Flux's API types name it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProviderSpec {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    proxy: Option<String>,
    #[serde(default)]
    proxy_secret_ref: Option<LocalRef>,
    #[serde(default)]
    secret_ref: Option<LocalRef>,
    #[serde(default)]
    service_account_name: Option<String>,
    #[serde(default)]
    cert_secret_ref: Option<LocalRef>,
    #[serde(default)]
    suspend: bool,
    #[serde(default)]
    commit_status_expr: Option<String>,
}

/// Checks `apiVersion` and the fields of `spec` against Flux's schema, then reads `spec`.
fn read_spec<T: serde::de::DeserializeOwned>(
    object: &Value,
    kind: &str,
    version: &str,
) -> Result<(Id, T), FluxError> {
    let id = Id::of(object, kind)?;
    let found = object["apiVersion"].as_str().unwrap_or("");
    if found != format!("{GROUP}/{version}") {
        return Err(id.error(
            "apiVersion",
            format!("`{found}` is not read: fledge reads Flux's `{GROUP}/{version}` {kind} (upgrade the object with `flux migrate`)"),
        ));
    }
    check_fields(&id, kind, &object["spec"])?;
    let spec = serde_path_to_error::deserialize(&object["spec"])
        .map_err(|e| id.error(&format!("spec.{}", e.path()), e.inner().to_string()))?;
    Ok((id, spec))
}

fn set(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl Provider {
    /// Reads a `notification.toolkit.fluxcd.io/v1beta3` Provider; the error names the object
    /// and the field.
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        let (id, spec): (Id, ProviderSpec) = read_spec(object, "Provider", "v1beta3")?;
        let kind = ProviderType::parse(&spec.kind).map_err(|m| id.error("spec.type", m))?;
        if set(spec.service_account_name).is_some() {
            return Err(id.error("spec.serviceAccountName", "workload identity is not supported by fledge; put a token in the Secret named by spec.secretRef"));
        }
        if set(spec.commit_status_expr).is_some() {
            return Err(id.error("spec.commitStatusExpr", "CEL expressions are not evaluated by fledge; remove the field to use Flux's default status id `<kind>/<name>/<provider uid>`"));
        }
        let timeout = match &spec.timeout {
            Some(t) => duration(&id, "spec.timeout", t)?,
            None => Duration::from_secs(15),
        };
        let mut warnings = Vec::new();
        if let Some(i) = &spec.interval {
            duration(&id, "spec.interval", i)?;
            warnings.push(format!("{id}: spec.interval is deprecated and unused in v1beta3 (as in Flux); the Secrets are read at each event"));
        }
        if let Some(p) = set(spec.proxy.clone())
            && !(p.starts_with("http://") || p.starts_with("https://"))
        {
            return Err(id.error("spec.proxy", "must start with http:// or https://"));
        }
        Ok(Self {
            uid: object["metadata"]["uid"].as_str().map(str::to_owned),
            kind,
            address: set(spec.address),
            channel: set(spec.channel),
            username: set(spec.username),
            proxy: set(spec.proxy),
            proxy_secret_ref: spec.proxy_secret_ref.map(|r| r.name),
            secret_ref: spec.secret_ref.map(|r| r.name),
            cert_secret_ref: spec.cert_secret_ref.map(|r| r.name),
            timeout,
            suspend: spec.suspend,
            warnings,
            id,
        })
    }
}

/// An Alert: which events go to which Provider.
#[derive(Debug, Clone)]
pub struct Alert {
    pub id: Id,
    pub provider_ref: String,
    /// `error` passes errors only; `info` (the default) passes everything.
    pub event_severity: Severity,
    pub event_sources: Vec<EventSource>,
    pub inclusion_list: Vec<Regex>,
    pub exclusion_list: Vec<Regex>,
    pub event_metadata: BTreeMap<String, String>,
    /// `spec.summary` (deprecated in Flux for `eventMetadata.summary`, still honoured).
    pub summary: Option<String>,
    pub suspend: bool,
}

/// One of an Alert's `eventSources`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    /// Kept as written; Flux matches on kind, namespace and name only.
    #[serde(default)]
    pub api_version: Option<String>,
    pub kind: String,
    /// A name, or `*` for every object of the kind in the namespace.
    pub name: String,
    /// The Alert's namespace when unset.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub match_labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlertSpec {
    provider_ref: LocalRef,
    #[serde(default)]
    event_severity: Option<String>,
    event_sources: Vec<EventSource>,
    #[serde(default)]
    inclusion_list: Vec<String>,
    #[serde(default)]
    exclusion_list: Vec<String>,
    #[serde(default)]
    event_metadata: BTreeMap<String, String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    suspend: bool,
}

/// The kinds Flux's schema allows as event sources.
const SOURCE_KINDS: &[&str] = &[
    "Bucket",
    "GitRepository",
    "Kustomization",
    "HelmRelease",
    "HelmChart",
    "HelmRepository",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "OCIRepository",
];

/// Compiles each expression of a list (Go's RE2 syntax, which the `regex` crate shares);
/// Flux skips one that does not compile at each event, fledge refuses it up front.
fn regexes(id: &Id, field: &str, list: &[String]) -> Result<Vec<Regex>, FluxError> {
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            Regex::new(e).map_err(|err| {
                id.error(
                    &format!("{field}[{i}]"),
                    format!("`{e}` is not a regular expression: {err}"),
                )
            })
        })
        .collect()
}

impl Alert {
    /// Reads a `notification.toolkit.fluxcd.io/v1beta3` Alert; the error names the object and
    /// the field.
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        let (id, spec): (Id, AlertSpec) = read_spec(object, "Alert", "v1beta3")?;
        let event_severity = match spec.event_severity.as_deref() {
            None | Some("" | "info") => Severity::Info,
            Some("error") => Severity::Error,
            Some(s) => {
                return Err(id.error(
                    "spec.eventSeverity",
                    format!("`{s}` is neither `info` nor `error`"),
                ));
            }
        };
        for (i, s) in spec.event_sources.iter().enumerate() {
            if !SOURCE_KINDS.contains(&s.kind.as_str()) {
                return Err(id.error(
                    &format!("spec.eventSources[{i}].kind"),
                    format!(
                        "`{}` is not one of Flux's kinds: {}",
                        s.kind,
                        SOURCE_KINDS.join(", ")
                    ),
                ));
            }
            if s.name.is_empty() {
                return Err(id.error(
                    &format!("spec.eventSources[{i}].name"),
                    "is required (`*` for every object of the kind)",
                ));
            }
        }
        Ok(Self {
            provider_ref: spec.provider_ref.name,
            event_severity,
            inclusion_list: regexes(&id, "spec.inclusionList", &spec.inclusion_list)?,
            exclusion_list: regexes(&id, "spec.exclusionList", &spec.exclusion_list)?,
            event_sources: spec.event_sources,
            event_metadata: spec.event_metadata,
            summary: set(spec.summary),
            suspend: spec.suspend,
            id,
        })
    }
}

#[cfg(test)]
mod tests;
