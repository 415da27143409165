//! Canary, MetricTemplate and AlertProvider objects from the rendered repository, read into
//! typed specs. Both forms seen in the wild are accepted: `flagger.app/v1beta1` (`analysis`,
//! `thresholdRange`) and the legacy `v1alpha3` (`canaryAnalysis`, numeric metric `threshold`:
//! a minimum for `request-success-rate`, a maximum otherwise), up-converted on read as
//! flagger-spec §1.7 advises. Defaults are Flagger's (§1.1–§1.6). Every error names the object
//! and the field path (`spec.analysis.stepWeights[2]`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

/// A Canary that cannot be used, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {path}: {message}")]
pub struct SpecError {
    /// `Canary test/podinfo`.
    pub object: String,
    /// `spec.analysis.stepWeights[2]`.
    pub path: String,
    pub message: String,
}

/// The traffic provider of a Canary (`spec.provider`, default `--mesh-provider`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    Kubernetes,
    Nginx,
    Istio,
    Linkerd,
    /// `gatewayapi:v1` or `gatewayapi:v1beta1`: the HTTPRoute API version.
    GatewayApi(String),
    /// `smi:<version>[:<mesh>]`: an SMI TrafficSplit of that version (`v1alpha1`–`v1alpha3`).
    Smi {
        version: String,
        mesh: Option<String>,
    },
    /// Open Service Mesh: an SMI `v1alpha2` TrafficSplit, OSM's metrics.
    Osm,
    /// Traefik: a weighted TraefikService.
    Traefik,
    /// Skipper: a canary Ingress weighted by annotations.
    Skipper,
    /// Contour: a weighted HTTPProxy.
    Contour,
    /// Kuma: a weighted TrafficRoute in `mesh` (the Canary's `kuma.io/mesh` annotation, else
    /// `default`).
    Kuma {
        mesh: String,
    },
    /// Gloo Edge: a weighted RouteTable over two generated Upstreams.
    Gloo,
    /// Apache APISIX: a weighted canary copy of the user's ApisixRoute.
    Apisix,
    /// AWS App Mesh: VirtualNodes, VirtualRouters and VirtualServices of App Mesh's v1beta2
    /// API (`appmesh:v1beta2`), or, with `v1beta1` (plain `appmesh`), VirtualNodes and
    /// VirtualServices of its v1beta1 API; `access_log` when the Canary's
    /// `appmesh.flagger.app/accesslog` annotation is `enabled`.
    AppMesh {
        v1beta1: bool,
        access_log: bool,
    },
    /// Knative Serving: the target is a Knative Service (`serving.knative.dev/v1`), whose
    /// `spec.traffic` splits requests between its latest revision and the primary revision.
    Knative,
    /// A provider Flagger knows that fledge has no router for (none at present: every value of
    /// Flagger's CRD has one): plans show it, rollouts refuse it.
    Other(String),
}

/// Every value Flagger's CRD enum allows (the router factory also takes `smi:<ver>:<mesh>`).
pub(crate) const KNOWN_PROVIDERS: &[&str] = &[
    "apisix",
    "appmesh",
    "appmesh:v1beta2",
    "contour",
    "gatewayapi",
    "gatewayapi:v1",
    "gatewayapi:v1beta1",
    "gloo",
    "istio",
    "knative",
    "kubernetes",
    "kuma",
    "linkerd",
    "nginx",
    "osm",
    "skipper",
    "smi:v1alpha1",
    "smi:v1alpha2",
    "smi:v1alpha3",
    "traefik",
];

impl Provider {
    /// Parses a provider name; `None` for names Flagger does not know.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let known = KNOWN_PROVIDERS.contains(&s)
            || (s.starts_with("smi:")
                && s.split(':').count() == 3
                && s.rsplit_once(':')
                    .is_some_and(|(v, _)| KNOWN_PROVIDERS.contains(&v)));
        if !known {
            return None;
        }
        Some(match s {
            "kubernetes" => Self::Kubernetes,
            "nginx" => Self::Nginx,
            "istio" => Self::Istio,
            "linkerd" => Self::Linkerd,
            "gatewayapi" | "gatewayapi:v1" => Self::GatewayApi("v1".into()),
            "gatewayapi:v1beta1" => Self::GatewayApi("v1beta1".into()),
            "osm" => Self::Osm,
            "traefik" => Self::Traefik,
            "skipper" => Self::Skipper,
            "contour" => Self::Contour,
            "gloo" => Self::Gloo,
            "apisix" => Self::Apisix,
            "appmesh" => Self::AppMesh {
                v1beta1: true,
                access_log: false,
            },
            "appmesh:v1beta2" => Self::AppMesh {
                v1beta1: false,
                access_log: false,
            },
            "knative" => Self::Knative,
            "kuma" => Self::Kuma {
                mesh: "default".into(),
            },
            smi if smi.starts_with("smi:") => {
                let mut parts = smi.split(':').skip(1);
                Self::Smi {
                    version: parts.next().unwrap_or_default().into(),
                    mesh: parts.next().map(Into::into),
                }
            }
            other => Self::Other(other.into()),
        })
    }
}

impl Provider {
    /// Whether the provider's routing can send only matching requests (headers, cookies) to
    /// the canary, which A/B testing needs. Those without (SMI, OSM, Traefik, Skipper, Kuma, APISIX) split by weight
    /// only; for providers fledge has no router for yet, rollouts are refused anyway.
    #[must_use]
    pub fn matches_requests(&self) -> bool {
        !matches!(
            self,
            Self::Linkerd
                | Self::Smi { .. }
                | Self::Osm
                | Self::Traefik
                | Self::Skipper
                | Self::Kuma { .. }
                | Self::Apisix
                | Self::Knative
        )
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kubernetes => f.write_str("kubernetes"),
            Self::Nginx => f.write_str("nginx"),
            Self::Istio => f.write_str("istio"),
            Self::Linkerd => f.write_str("linkerd"),
            Self::GatewayApi(v) => write!(f, "gatewayapi:{v}"),
            Self::Smi {
                version,
                mesh: None,
            } => write!(f, "smi:{version}"),
            Self::Smi {
                version,
                mesh: Some(m),
            } => write!(f, "smi:{version}:{m}"),
            Self::Osm => f.write_str("osm"),
            Self::Traefik => f.write_str("traefik"),
            Self::Skipper => f.write_str("skipper"),
            Self::Contour => f.write_str("contour"),
            Self::Kuma { .. } => f.write_str("kuma"),
            Self::Gloo => f.write_str("gloo"),
            Self::Apisix => f.write_str("apisix"),
            Self::AppMesh { v1beta1: true, .. } => f.write_str("appmesh"),
            Self::AppMesh { .. } => f.write_str("appmesh:v1beta2"),
            Self::Knative => f.write_str("knative"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// How traffic moves to the new revision (flagger-spec §1.3, "derived strategy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Progressive weights.
    Canary,
    /// A/B testing: matching requests go to the canary for `iterations` checks.
    Ab,
    /// Blue/green: `iterations` checks, then all traffic switches.
    Bluegreen,
    /// Blue/green whose iterations shadow traffic to the canary before the switch.
    Mirror,
}

impl Strategy {
    /// The name `plan` and the API use (the serialized form).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Canary => "canary",
            Self::Ab => "ab",
            Self::Bluegreen => "bluegreen",
            Self::Mirror => "mirror",
        }
    }

    /// The label Flagger's metrics use (`deployment_strategy`).
    #[must_use]
    pub fn flagger_label(self) -> &'static str {
        match self {
            Self::Canary => "canary",
            Self::Ab => "ab-testing",
            Self::Bluegreen | Self::Mirror => "blue-green",
        }
    }
}

/// An object reference (`targetRef`, `ingressRef`, `autoscalerRef`, `upstreamRef`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// The namespace, where the reference may name one (`upstreamRef`); else the Canary's.
    pub namespace: Option<String>,
}

/// The API version of Knative Services (Flagger's `IsKnativeService`).
pub const KNATIVE_SERVICE_API: &str = "serving.knative.dev/v1";

impl ObjectRef {
    /// Whether this names a Knative Service, as Flagger tells one: kind `Service` in
    /// [`KNATIVE_SERVICE_API`].
    #[must_use]
    pub fn is_knative_service(&self) -> bool {
        self.kind == "Service" && self.api_version == KNATIVE_SERVICE_API
    }
}

/// `spec.service`: the essentials typed, the rest kept for the routers.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// The apex Service name (`service.name`, default the target's name).
    pub name: String,
    pub port: i64,
    pub port_name: String,
    /// `targetPort`: a number or a container port name (default `port`).
    pub target_port: Value,
    pub app_protocol: Option<String>,
    /// The whole `spec.service` object.
    pub raw: Value,
}

/// Where a metric's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricSourceRef {
    /// `request-success-rate` or `request-duration`: the provider's built-in query.
    Builtin(Builtin),
    /// A MetricTemplate (`templateRef`; namespace defaults to the Canary's).
    Template { namespace: String, name: String },
    /// A deprecated inline PromQL `query`.
    Inline(String),
    /// Neither: Flagger fails this check every time ("no usable metrics template and query").
    Unusable,
}

/// The two built-in checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// Percent of non-5xx responses.
    SuccessRate,
    /// Milliseconds (p99, or the average for NGINX).
    Duration,
}

/// One entry of `analysis.metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSpec {
    pub name: String,
    pub interval: Duration,
    /// Inclusive bounds; the legacy `threshold` is converted to one of them.
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub source: MetricSourceRef,
    pub variables: BTreeMap<String, String>,
}

/// The eight webhook types (flagger-spec §5.1).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum HookType {
    ConfirmRollout,
    PreRollout,
    Rollout,
    ConfirmTrafficIncrease,
    ConfirmPromotion,
    PostRollout,
    Rollback,
    Event,
}

impl HookType {
    pub(crate) const ALL: [(&'static str, Self); 8] = [
        ("confirm-rollout", Self::ConfirmRollout),
        ("pre-rollout", Self::PreRollout),
        ("rollout", Self::Rollout),
        ("confirm-traffic-increase", Self::ConfirmTrafficIncrease),
        ("confirm-promotion", Self::ConfirmPromotion),
        ("post-rollout", Self::PostRollout),
        ("rollback", Self::Rollback),
        ("event", Self::Event),
    ];

    /// The name used in Canary specs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("rollout", |(s, _)| s)
    }
}

impl fmt::Display for HookType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `analysis.webhooks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    pub name: String,
    pub hook_type: HookType,
    pub url: String,
    /// Per attempt; Flagger's default is 10s.
    pub timeout: Duration,
    pub retries: u32,
    pub metadata: BTreeMap<String, String>,
    pub mute_alert: bool,
    pub disable_tls: bool,
}

/// Alert severities (flagger-spec §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warn,
    Error,
}

/// One entry of `analysis.alerts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRef {
    pub name: String,
    /// `None` when omitted: Flagger then sends nothing to it (flagger-spec §7.1 ⚠); fledge
    /// keeps that behaviour and `plan` points it out.
    pub severity: Option<Severity>,
    pub provider_namespace: String,
    pub provider_name: String,
}

/// `spec.analysis` (or the legacy `spec.canaryAnalysis`).
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub interval: Duration,
    pub threshold: u32,
    pub max_weight: u8,
    pub step_weight: u8,
    pub step_weights: Vec<u8>,
    pub step_weight_promotion: u8,
    pub iterations: u32,
    pub mirror: bool,
    pub mirror_weight: u8,
    /// A/B match conditions (Istio `HTTPMatchRequest`s).
    pub matches: Vec<Value>,
    pub metrics: Vec<MetricSpec>,
    pub webhooks: Vec<WebhookSpec>,
    pub alerts: Vec<AlertRef>,
    pub session_affinity: Option<Value>,
    pub primary_ready_threshold: u8,
    pub canary_ready_threshold: u8,
}

/// A release's identity: the namespace and name of its Canary, written `namespace/name` (how
/// logs, alerts and the API name it). Every map of releases is keyed by it; as it borrows as
/// that text, a map can be read with `"namespace/name"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ReleaseKey(String);

impl ReleaseKey {
    #[must_use]
    pub fn new(namespace: &str, name: &str) -> Self {
        Self(format!("{namespace}/{name}"))
    }

    /// The Canary's namespace.
    #[must_use]
    pub fn namespace(&self) -> &str {
        self.0.split_once('/').map_or("", |(ns, _)| ns)
    }

    /// The Canary's name.
    #[must_use]
    pub fn name(&self) -> &str {
        self.0.split_once('/').map_or(self.0.as_str(), |(_, n)| n)
    }

    /// `namespace/name`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReleaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for ReleaseKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// What `spec.autoscalerRef` changes in the primary's copy of the autoscaler.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrimaryScaler {
    /// `primaryScalerQueries`: a KEDA trigger's name and the query the primary's trigger runs
    /// instead (without it, the target's name in each query becomes the primary's).
    pub queries: Option<BTreeMap<String, String>>,
    /// `primaryScalerReplicas.minReplicas`.
    pub min_replicas: Option<i64>,
    /// `primaryScalerReplicas.maxReplicas`.
    pub max_replicas: Option<i64>,
}

/// A Canary, validated, with Flagger's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseSpec {
    pub namespace: String,
    pub name: String,
    /// `v1beta1` or `v1alpha3`.
    pub api_version: String,
    pub target: ObjectRef,
    pub provider: Provider,
    pub metrics_server: Option<String>,
    pub autoscaler: Option<ObjectRef>,
    /// `spec.autoscalerRef`'s overrides for the primary's autoscaler.
    pub primary_scaler: PrimaryScaler,
    pub ingress: Option<ObjectRef>,
    /// `spec.routeRef` (APISIX's route; the `{{ route }}` of metric queries).
    pub route: Option<ObjectRef>,
    /// `spec.upstreamRef`: the Gloo Upstream whose settings the generated ones copy.
    pub upstream: Option<ObjectRef>,
    pub service: ServiceSpec,
    pub analysis: Analysis,
    pub progress_deadline: Duration,
    pub skip_analysis: bool,
    pub suspend: bool,
    /// The ingress class of Contour's HTTPProxy (`spec.ingressClassName`): not a Canary field
    /// but the daemon's `--ingress-class` (and `fledge plan`'s), as Flagger's `-ingress-class`.
    pub ingress_class: Option<String>,
    /// Fields the Canary sets that fledge reads but does not act on (yet), each as `field:
    /// what happens instead`: `fledge plan` and the daemon's status show them, so none is
    /// dropped silently.
    pub unhonoured: Vec<String>,
}

impl ReleaseSpec {
    /// The derived strategy.
    #[must_use]
    pub fn strategy(&self) -> Strategy {
        let a = &self.analysis;
        if a.iterations == 0 {
            Strategy::Canary
        } else if !a.matches.is_empty() {
            Strategy::Ab
        } else if a.mirror {
            Strategy::Mirror
        } else {
            Strategy::Bluegreen
        }
    }

    /// The highest canary weight before promotion (flagger-spec §1.3).
    #[must_use]
    pub fn max_weight(&self) -> u8 {
        match self.analysis.step_weights.last() {
            Some(last) => (*last).min(100),
            None => self.analysis.max_weight,
        }
    }

    /// How much the canary weight grows after `w` (flagger-spec §4.3, `next(w)`).
    #[must_use]
    pub fn next_step(&self, w: u8) -> u8 {
        let a = &self.analysis;
        if a.step_weight > 0 || a.step_weights.is_empty() {
            return a.step_weight;
        }
        let remaining = 100 - w.min(100);
        if remaining == 0 {
            return 1;
        }
        if w == 0 {
            return remaining.min(a.step_weights[0]);
        }
        match a.step_weights.iter().position(|s| *s == w) {
            Some(i) if i + 1 < a.step_weights.len() => {
                remaining.min(a.step_weights[i + 1].saturating_sub(w))
            }
            // The last step, or a weight not in the list (edited mid-run): all the rest.
            _ => remaining,
        }
    }

    /// The canary weight after each step, up to and including the first at or above the
    /// maximum (the last linear step may overshoot it, as in Flagger).
    #[must_use]
    pub fn weight_schedule(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = 0u8;
        let max = self.max_weight();
        while w < max {
            let step = self.next_step(w);
            if step == 0 {
                break;
            }
            w = w.saturating_add(step).min(100);
            out.push(w);
        }
        out
    }

    /// `<namespace>/<name>`: the release's key in logs, the API and Git.
    #[must_use]
    pub fn key(&self) -> ReleaseKey {
        ReleaseKey::new(&self.namespace, &self.name)
    }

    /// `<name>.<namespace>`, as Flagger names a canary in messages.
    #[must_use]
    pub fn dotted(&self) -> String {
        format!("{}.{}", self.name, self.namespace)
    }

    /// `<target>.<namespace>`.
    #[must_use]
    pub fn target_dotted(&self) -> String {
        format!("{}.{}", self.target.name, self.namespace)
    }

    /// Webhooks of one type, in spec order.
    pub fn hooks(&self, t: HookType) -> impl Iterator<Item = &WebhookSpec> {
        self.analysis
            .webhooks
            .iter()
            .filter(move |h| h.hook_type == t)
    }

    /// Whether any webhook of this type exists.
    #[must_use]
    pub fn has_hooks(&self, t: HookType) -> bool {
        self.hooks(t).next().is_some()
    }
}

/// A MetricTemplate (flagger-spec §1.5).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricTemplate {
    pub namespace: String,
    pub name: String,
    /// One of [`METRIC_PROVIDERS`].
    pub provider_type: String,
    pub address: Option<String>,
    /// `spec.provider.region` (CloudWatch's AWS region).
    pub region: Option<String>,
    pub headers: BTreeMap<String, Vec<String>>,
    pub secret_ref: Option<String>,
    /// `spec.provider.insecureSkipVerify`: the provider's TLS certificate is not checked.
    pub insecure_skip_verify: bool,
    pub query: String,
}

/// The metric provider types of Flagger's MetricTemplate (its CRD's enum).
pub const METRIC_PROVIDERS: &[&str] = &[
    "prometheus",
    "influxdb",
    "datadog",
    "externalmetrics",
    "stackdriver",
    "cloudwatch",
    "newrelic",
    "graphite",
    "dynatrace",
    "keptn",
    "splunk",
];

/// The metric provider types fledge queries.
pub const METRIC_PROVIDERS_QUERIED: &[&str] = &[
    "prometheus",
    "datadog",
    "newrelic",
    "graphite",
    "dynatrace",
    "influxdb",
    "keptn",
    "stackdriver",
    "cloudwatch",
    "externalmetrics",
    "splunk",
];

/// An AlertProvider (flagger-spec §1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertProvider {
    pub namespace: String,
    pub name: String,
    /// `slack`, `msteams`, `discord`, `rocket`, `gchat`.
    pub provider_type: String,
    pub channel: String,
    pub username: String,
    pub address: Option<String>,
    pub proxy: Option<String>,
    pub secret_ref: Option<String>,
}

/// Parses a Go duration (`10s`, `1m30s`, `500ms`, `1h`).
#[must_use]
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    Some(Duration::from_secs_f64(total))
}

/// Formats a duration as Go does (`500ms`, `1.515s`, `1m0s`).
#[must_use]
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    let h = (secs / 3600.0).floor();
    let m = ((secs - h * 3600.0) / 60.0).floor();
    let s = secs - h * 3600.0 - m * 60.0;
    let s = format!("{}", (s * 1000.0).round() / 1000.0);
    if h > 0.0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0.0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}
