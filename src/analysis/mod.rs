//! `analysis`: the checks of a canary. Built-in checks, inline PromQL and Prometheus
//! MetricTemplates get their values from a [`MetricSource`] (the Prometheus HTTP API, or the
//! simulated cluster's counters for the demo); a MetricTemplate of another provider is answered
//! by that provider ([`providers`]), whatever the source. Queries are Flagger's built-ins per
//! provider, MetricTemplates or inline PromQL, rendered with Flagger's variables; [`judge`]
//! compares a value with its inclusive threshold range. Webhooks are in [`webhooks`].
//!
//! The outcomes are kept apart all the way to events and logs: a value out of range and no data
//! are failed checks (as in Flagger); a provider that cannot be reached or refuses access says
//! nothing about the canary, so the rollout halts on it (neither promoting nor counting it).

pub mod builtin;
pub mod mirror;
pub mod prometheus;
pub mod providers;
pub mod sim;
pub mod template;
pub mod webhooks;

use crate::object::ObjectRef;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::object::secret_field;
use crate::release::spec::{
    Builtin, METRIC_PROVIDERS_QUERIED, MetricSourceRef, MetricSpec, MetricTemplate, ReleaseSpec,
    go_duration,
};
use crate::release::state::{FailedCheck, FailureKind, Outcome};
pub use providers::SecretData;

/// Credentials for a Prometheus, from a MetricTemplate's Secret or the daemon's files.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    Bearer(String),
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bearer(_) => "Auth::Bearer(<redacted>)",
            Self::Basic { .. } => "Auth::Basic(<redacted>)",
        })
    }
}

/// One query to run.
#[derive(Debug, Clone)]
pub struct MetricRequest<'a> {
    pub spec: &'a ReleaseSpec,
    pub metric: &'a MetricSpec,
    /// The rendered query.
    pub query: String,
    /// Which built-in check this is, if any (the simulated source answers only these).
    pub builtin: Option<Builtin>,
    /// A MetricTemplate's provider address; `None`: the release's or daemon's default.
    pub address: Option<String>,
    pub headers: BTreeMap<String, Vec<String>>,
    pub auth: Option<Auth>,
    /// The MetricTemplate's `insecureSkipVerify`.
    pub insecure: bool,
    /// A MetricTemplate's provider other than Prometheus: it answers this request, whatever the
    /// daemon's default metric source.
    pub provider: Option<providers::ProviderQuery>,
}

/// Why a query gave no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    /// The query ran and returned nothing (or NaN).
    #[error("no values found: {0}")]
    NoData(String),
    /// The provider could not be reached or did not answer in time.
    #[error("metrics provider {address} is unreachable: {message}")]
    Unreachable { address: String, message: String },
    /// The provider (or the API server it reads) refused fledge's credentials or permissions.
    #[error("metrics provider {address} refused access: {message}")]
    Denied { address: String, message: String },
    /// The provider answered with an error, or the query could not be built.
    #[error("{0}")]
    Failed(String),
}

/// Where metric values come from.
pub trait MetricSource: Send + Sync {
    /// Runs one query and returns its single value.
    fn query(
        &self,
        request: &MetricRequest<'_>,
    ) -> impl std::future::Future<Output = Result<f64, MetricError>> + Send;
}

/// A PromQL range like `1m` or `30s` for a duration.
#[must_use]
pub fn prom_duration(d: Duration) -> String {
    let s = d.as_secs().max(1);
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The template model of a metric (flagger-spec §6.3).
#[must_use]
pub fn model(spec: &ReleaseSpec, metric: &MetricSpec) -> template::Model {
    let mut m = template::Model::default();
    let ingress = spec
        .ingress
        .as_ref()
        .map_or_else(|| spec.target.name.clone(), |i| i.name.clone());
    m.functions.insert("name", spec.name.clone());
    m.functions.insert("namespace", spec.namespace.clone());
    m.functions.insert("target", spec.target.name.clone());
    m.functions.insert("service", spec.service.name.clone());
    m.functions.insert("ingress", ingress);
    // Flagger's `{{ route }}`: `spec.routeRef`'s name, else the target's.
    let route = spec
        .route
        .as_ref()
        .map_or_else(|| spec.target.name.clone(), |r| r.name.clone());
    m.functions.insert("route", route);
    m.functions
        .insert("interval", prom_duration(metric.interval));
    m.variables.clone_from(&metric.variables);
    m
}

/// Builds the request for a metric; `Err` is the failed check's message.
pub fn request<'a>(
    spec: &'a ReleaseSpec,
    metric: &'a MetricSpec,
    templates: &BTreeMap<(String, String), MetricTemplate>,
    secrets: &BTreeMap<(String, String), SecretData>,
) -> Result<MetricRequest<'a>, String> {
    request_at(spec, metric, templates, secrets, None)
}

/// [`request`] with `{{ route }}` given: a Knative Service's latest created revision, as
/// Flagger renders every metric of a Knative Canary.
pub fn request_at<'a>(
    spec: &'a ReleaseSpec,
    metric: &'a MetricSpec,
    templates: &BTreeMap<(String, String), MetricTemplate>,
    secrets: &BTreeMap<(String, String), SecretData>,
    route: Option<&str>,
) -> Result<MetricRequest<'a>, String> {
    let mut model = model(spec, metric);
    if let Some(r) = route {
        model.functions.insert("route", r.to_owned());
    }
    if spec.provider == crate::release::spec::Provider::Skipper
        && matches!(metric.source, MetricSourceRef::Builtin(_))
    {
        builtin::skipper_model(&mut model);
    }
    let mut req = MetricRequest {
        spec,
        metric,
        query: String::new(),
        builtin: None,
        address: None,
        headers: BTreeMap::new(),
        auth: None,
        insecure: false,
        provider: None,
    };
    let text = match &metric.source {
        MetricSourceRef::Builtin(b) => {
            req.builtin = Some(*b);
            builtin::query_for(spec, *b)
        }
        MetricSourceRef::Inline(q) => q.clone(),
        MetricSourceRef::Template { namespace, name } => {
            let t = templates
                .get(&(namespace.clone(), name.clone()))
                .ok_or_else(|| {
                    format!(
                        "Metric template {name}.{namespace} error: MetricTemplate {namespace}/{name} is not in the repository"
                    )
                })?;
            if !METRIC_PROVIDERS_QUERIED.contains(&t.provider_type.as_str()) {
                return Err(format!(
                    "Metric template {name}.{namespace} provider error: provider type {} is not supported by fledge yet (it queries {})",
                    t.provider_type,
                    METRIC_PROVIDERS_QUERIED.join(", ")
                ));
            }
            req.address.clone_from(&t.address);
            req.headers.clone_from(&t.headers);
            req.insecure = t.insecure_skip_verify;
            let secret = match &t.secret_ref {
                Some(s) => Some(secrets.get(&(t.namespace.clone(), s.clone())).ok_or_else(|| {
                    format!(
                        "Metric template {name}.{namespace} secret error: Secret {}/{s} (spec.provider.secretRef) is not in the cluster",
                        t.namespace
                    )
                })?),
                None => None,
            };
            if t.provider_type == "prometheus" {
                if let Some(secret) = secret {
                    req.auth = Some(secret.prometheus_auth().ok_or_else(|| {
                        format!(
                            "Metric template {name}.{namespace} secret error: Secret {} has no token or username and password",
                            secret.name
                        )
                    })?);
                }
            } else {
                req.provider = Some(
                    providers::prepare(
                        &t.provider_type,
                        t.address.as_deref(),
                        t.region.as_deref(),
                        secret,
                    )
                    .map_err(|e| {
                        format!("Metric template {name}.{namespace} provider error: {e}")
                    })?,
                );
            }
            t.query.clone()
        }
        MetricSourceRef::Unusable => {
            return Err(format!(
                "Metric query failed for {}: no usable metrics template and query were configured",
                metric.name
            ));
        }
    };
    let rendered = template::render(&text, &model)
        .map_err(|e| format!("Metric template {} query render error: {e}", metric.name))?;
    // Prometheus gets whitespace runs collapsed to one space, as Flagger sends it; the other
    // providers get the query as rendered (Graphite collapses them itself).
    req.query = if req.provider.is_some() {
        rendered
    } else {
        rendered.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    Ok(req)
}

/// Compares a value with the metric's range (inclusive); `Err` is the failed check, with
/// Flagger's halt message.
pub fn judge(spec: &ReleaseSpec, metric: &MetricSpec, value: f64) -> Result<(), FailedCheck> {
    let who = spec.dotted();
    let below = metric.min.filter(|min| value < *min);
    let above = metric.max.filter(|max| value > *max);
    // What Flagger calls the metric in its message, how it prints a bound, and how the value.
    let ms = |v: f64| go_duration(Duration::from_secs_f64(v.max(0.0).trunc() / 1000.0));
    let (label, show, seen): (String, &dyn Fn(f64) -> String, String) = match metric.source {
        MetricSourceRef::Builtin(Builtin::SuccessRate) => (
            "success rate".into(),
            &|v: f64| format!("{v}%"),
            format!("{value:.2}%"),
        ),
        MetricSourceRef::Builtin(Builtin::Duration) => ("request duration".into(), &ms, ms(value)),
        _ => (
            metric.name.clone(),
            &|v: f64| format!("{v}"),
            format!("{value:.2}"),
        ),
    };
    let (sign, bound) = match (above, below) {
        (Some(max), _) => (">", max),
        (None, Some(min)) => ("<", min),
        (None, None) => return Ok(()),
    };
    // Without a minimum, the bound crossed is the maximum.
    let range = match (metric.min, metric.max) {
        (Some(min), Some(max)) => format!("between {} and {}", show(min), show(max)),
        (Some(min), None) => format!(">= {}", show(min)),
        (None, _) => format!("<= {}", show(bound)),
    };
    let message = format!(
        "Halt {who} advancement {label} {seen} {sign} {}",
        show(bound)
    );
    Err(FailedCheck::new(FailureKind::OutOfRange, check(metric), message).saw(seen, range))
}

/// One metric's result, for logs and `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricValue {
    pub name: String,
    pub value: f64,
}

/// The Secrets the `secretRef`s of the MetricTemplates a spec uses name, decoded, by
/// (namespace, Secret name). A Secret that cannot be read is left out: the check that needs it
/// then fails, naming it.
pub async fn template_secrets(
    cluster: &impl Cluster,
    spec: &ReleaseSpec,
    templates: &BTreeMap<(String, String), MetricTemplate>,
) -> BTreeMap<(String, String), SecretData> {
    let mut out = BTreeMap::new();
    for m in &spec.analysis.metrics {
        let MetricSourceRef::Template { namespace, name } = &m.source else {
            continue;
        };
        let Some(t) = templates.get(&(namespace.clone(), name.clone())) else {
            continue;
        };
        let Some(secret) = &t.secret_ref else {
            continue;
        };
        let Ok(Some(s)) = cluster
            .get(&ObjectRef::new("v1", "Secret", &t.namespace, secret))
            .await
        else {
            continue;
        };
        let data = s["data"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| secret_field(&s, k).map(|v| (k.clone(), v)))
            .chain(
                s["stringData"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned()))),
            )
            .collect();
        out.insert(
            (t.namespace.clone(), secret.clone()),
            SecretData::new(format!("{}/{secret}", t.namespace), data),
        );
    }
    out
}

/// How a failed check names a metric.
fn check(metric: &MetricSpec) -> String {
    format!("metric {}", metric.name)
}

/// With the knative provider, the Knative Service's latest created revision (`{{ route }}`);
/// `Err` when the Knative Service cannot be read, which fails the analysis as Flagger's does.
async fn knative_route(
    spec: &ReleaseSpec,
    cluster: &impl Cluster,
) -> Result<Option<String>, String> {
    if spec.provider != crate::release::spec::Provider::Knative || spec.analysis.metrics.is_empty()
    {
        return Ok(None);
    }
    let (ns, name) = (&spec.namespace, &spec.target.name);
    let at = crate::object::ObjectRef::new(
        crate::release::spec::KNATIVE_SERVICE_API,
        "Service",
        ns,
        name,
    );
    match cluster.get(&at).await {
        Ok(Some(svc)) => Ok(svc["status"]["latestCreatedRevisionName"]
            .as_str()
            .map(str::to_owned)),
        Ok(None) => Err(format!(
            "Error fetching Knative service {ns}/{name}: not found"
        )),
        Err(e) => Err(format!(
            "Error fetching Knative service {ns}/{name}: {}",
            crate::chain::Chain(&e)
        )),
    }
}

/// Runs every metric of a spec in order; the first failure decides.
pub async fn check_metrics(
    spec: &ReleaseSpec,
    templates: &BTreeMap<(String, String), MetricTemplate>,
    secrets: &BTreeMap<(String, String), SecretData>,
    source: &impl MetricSource,
    cluster: &impl Cluster,
    values: &mut Vec<MetricValue>,
) -> Outcome {
    let route = match knative_route(spec, cluster).await {
        Ok(r) => r,
        Err(message) => {
            let what = spec
                .analysis
                .metrics
                .first()
                .map_or_else(|| "metrics".to_owned(), check);
            return Outcome::Fail(FailedCheck::new(FailureKind::Error, what, message));
        }
    };
    for metric in &spec.analysis.metrics {
        let req = match request_at(spec, metric, templates, secrets, route.as_deref()) {
            Ok(r) => r,
            Err(message) => {
                return Outcome::Fail(FailedCheck::new(FailureKind::Error, check(metric), message));
            }
        };
        let fail = |kind, message| Outcome::Fail(FailedCheck::new(kind, check(metric), message));
        let answer = match &req.provider {
            Some(p) => providers::query(cluster, &req, p).await,
            None => source.query(&req).await,
        };
        match answer {
            Ok(v) => {
                let v = if req.builtin == Some(Builtin::Duration) {
                    v.trunc()
                } else {
                    v
                };
                values.push(MetricValue {
                    name: metric.name.clone(),
                    value: v,
                });
                if let Err(f) = judge(spec, metric, v) {
                    return Outcome::Fail(f);
                }
            }
            Err(MetricError::NoData(detail)) => {
                let message = match &metric.source {
                    MetricSourceRef::Builtin(_) => format!(
                        "Halt advancement no values found for {} metric {} probably {} is not receiving traffic: {detail}",
                        if builtin::service_target(spec) {
                            format!("{}:service", spec.provider)
                        } else {
                            builtin::provider_label(&spec.provider)
                        },
                        metric.name,
                        spec.target_dotted()
                    ),
                    MetricSourceRef::Template { .. } => format!(
                        "Halt advancement no values found for custom metric: {}: {detail}",
                        metric.name
                    ),
                    _ => format!(
                        "Halt advancement no values found for metric: {}",
                        metric.name
                    ),
                };
                return fail(FailureKind::NoData, message);
            }
            Err(e @ MetricError::Unreachable { .. }) => {
                return fail(
                    FailureKind::Unreachable,
                    format!("metric {} not checked: {e}", metric.name),
                );
            }
            Err(e @ MetricError::Denied { .. }) => {
                return fail(
                    FailureKind::Denied,
                    format!("metric {} not checked: {e}", metric.name),
                );
            }
            Err(MetricError::Failed(e)) => {
                return fail(
                    FailureKind::Error,
                    format!("Metric query failed for {}: {e}", metric.name),
                );
            }
        }
    }
    Outcome::Pass
}

#[cfg(test)]
mod tests;
