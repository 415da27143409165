//! Flagger's built-in `request-success-rate` and `request-duration` queries per provider
//! (flagger-spec §6.2), as templates rendered with the metric's model.

use crate::release::spec::{Builtin, Provider};

struct Queries {
    /// The series selector; `{ok}` marks where the success filter goes.
    total: &'static str,
    ok_filter: &'static str,
    duration: &'static str,
}

const ISTIO: Queries = Queries {
    total: r#"istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"{ok}}"#,
    ok_filter: r#",response_code!~"5.*""#,
    duration: r#"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))"#,
};

const LINKERD: Queries = Queries {
    total: r#"response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"{ok}}"#,
    ok_filter: r#",classification!="failure""#,
    duration: r#"histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) by (le))"#,
};

const NGINX: Queries = Queries {
    total: r#"nginx_ingress_controller_requests{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""{ok}}"#,
    ok_filter: r#",status!~"5.*""#,
    duration: r#"sum(rate(nginx_ingress_controller_response_duration_seconds_sum{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""}[{{ interval }}])) / sum(rate(nginx_ingress_controller_response_duration_seconds_count{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""}[{{ interval }}])) * 1000"#,
};

const OSM: Queries = Queries {
    total: r#"osm_request_total{destination_namespace="{{ namespace }}",destination_kind="Deployment",destination_name="{{ target }}"{ok}}"#,
    ok_filter: r#",response_code!~"5.*""#,
    duration: r#"histogram_quantile(0.99, sum(rate(osm_request_duration_ms_bucket{destination_namespace="{{ namespace }}",destination_kind="Deployment",destination_name="{{ target }}"}[{{ interval }}])) by (le))"#,
};

/// Traefik's success rate counts the `+Inf` bucket of its duration histogram; the duration is
/// in seconds, hence `* 1000`.
const TRAEFIK: Queries = Queries {
    total: r#"traefik_service_request_duration_seconds_bucket{service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"{ok},le="+Inf"}"#,
    ok_filter: r#",code!~"5..""#,
    duration: r#"histogram_quantile(0.99, sum(rate(traefik_service_request_duration_seconds_bucket{service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"}[{{ interval }}])) by (le)) * 1000"#,
};

/// Skipper names a canary Ingress's routes `kube[ew]_<ns>__<ingress>_canary__…__<svc>_canary…`
/// (Flagger renders `$route` with Go's printf; the names' non-word characters are `_`, which
/// [`skipper_model`] does to the model). Its success rate counts the `+Inf` bucket.
const SKIPPER: Queries = Queries {
    total: r#"skipper_response_duration_seconds_bucket{route=~"kube(ew)?_{{ namespace }}__{{ ingress }}_canary__.*__{{ service }}_canary(_[0-9]+)?"{ok},le="+Inf"}"#,
    ok_filter: r#",code!~"5..""#,
    duration: r#"sum(rate(skipper_serve_route_duration_seconds_sum{route=~"kube(ew)?_{{ namespace }}__{{ ingress }}_canary__.*__{{ service }}_canary(_[0-9]+)?"}[{{ interval }}])) / sum(rate(skipper_serve_route_duration_seconds_count{route=~"kube(ew)?_{{ namespace }}__{{ ingress }}_canary__.*__{{ service }}_canary(_[0-9]+)?"}[{{ interval }}])) * 1000"#,
};

/// The model of a Skipper built-in check: non-word characters of the names as `_`, as
/// Skipper writes them in route names (Flagger's `encodeModelForSkipper`).
pub fn skipper_model(model: &mut super::template::Model) {
    for key in ["name", "namespace", "ingress", "service", "target"] {
        if let Some(v) = model.functions.get_mut(key) {
            *v = v
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
        }
    }
}

/// Contour's Envoy names the canary's cluster `<ns>_<svc>-canary_<port>`.
const CONTOUR: Queries = Queries {
    total: r#"envoy_cluster_upstream_rq{envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+"{ok}}"#,
    ok_filter: r#",envoy_response_code!~"5.*""#,
    duration: r#"histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+"}[{{ interval }}])) by (le))"#,
};

/// Kuma's Envoy names the canary's cluster `<target>-canary_<ns>_svc_<port>`.
const KUMA: Queries = Queries {
    total: r#"envoy_cluster_upstream_rq{envoy_cluster_name=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+"{ok}}"#,
    ok_filter: r#",envoy_response_code!~"5.*""#,
    duration: r#"histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+"}[{{ interval }}])) by (le))"#,
};

/// Gloo's Envoy names the canary's cluster `<ns>-<target>-canaryupstream-<port>_<gloo ns>`.
const GLOO: Queries = Queries {
    total: r#"envoy_cluster_upstream_rq{envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+"{ok}}"#,
    ok_filter: r#",envoy_response_code!~"5.*""#,
    duration: r#"histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+"}[{{ interval }}])) by (le))"#,
};

/// APISIX names a route's metrics `<ns>_<ApisixRoute>_<http route>`; the canary's ApisixRoute
/// is `<routeRef>-<target>-canary`, carrying the primary's share too, as Flagger's queries read it.
const APISIX: Queries = Queries {
    total: r#"apisix_http_status{route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+"{ok}}"#,
    ok_filter: r#",code!~"5..""#,
    duration: r#"histogram_quantile(0.99, sum(rate(apisix_http_latency_bucket{type=~"request",route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+"}[{{ interval }}])) by (le))"#,
};

/// App Mesh's Envoy sidecars count each pod's requests, labelled with the pod by Prometheus's
/// Kubernetes discovery.
const APPMESH: Queries = Queries {
    total: r#"envoy_cluster_upstream_rq{kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"{ok}}"#,
    ok_filter: r#",envoy_response_code!~"5.*""#,
    duration: r#"histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}])) by (le))"#,
};

/// Knative's ingress (an Envoy gateway) names each revision's cluster `<ns>/<revision>`;
/// `{{ route }}` is the Knative Service's latest created revision.
const KNATIVE: Queries = Queries {
    total: r#"envoy_cluster_upstream_rq{envoy_cluster_name=~"{{ namespace }}/{{ route }}"{ok}}"#,
    ok_filter: r#",envoy_response_code!~"5.*""#,
    duration: r#"histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~"{{ namespace }}/{{ route }}"}[{{ interval }}])) by (le))"#,
};

const APP: Queries = Queries {
    total: r#"http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"{ok}}"#,
    ok_filter: r#",status!~"5.*""#,
    duration: r#"histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}])) by (le)) * 1000"#,
};

/// The query template of a built-in check for a provider. Providers without their own
/// queries here use Istio's, as Flagger does for SMI and unknown providers.
#[must_use]
pub fn query(provider: &Provider, which: Builtin) -> String {
    let q = match provider {
        Provider::Skipper => &SKIPPER,
        Provider::Nginx => &NGINX,
        Provider::Contour => &CONTOUR,
        Provider::Kuma { .. } => &KUMA,
        Provider::Gloo => &GLOO,
        Provider::Apisix => &APISIX,
        // Flagger's observer serves every `appmesh…` provider, v1beta1's too.
        Provider::AppMesh { .. } => &APPMESH,
        Provider::Linkerd => &LINKERD,
        Provider::Kubernetes | Provider::GatewayApi(_) => &APP,
        Provider::Osm => &OSM,
        Provider::Traefik => &TRAEFIK,
        Provider::Knative => &KNATIVE,
        Provider::Istio | Provider::Smi { .. } | Provider::Other(_) => &ISTIO,
    };
    match which {
        Builtin::SuccessRate => {
            let ok = q.total.replace("{ok}", q.ok_filter);
            let all = q.total.replace("{ok}", "");
            format!(
                "sum(rate({ok}[{{{{ interval }}}}])) / sum(rate({all}[{{{{ interval }}}}])) * 100"
            )
        }
        Builtin::Duration => q.duration.to_owned(),
    }
}

/// Whether a release's built-in checks use Flagger's queries for a core Service target: its
/// metrics provider gets a `:service` suffix, which only the observers matched by prefix
/// (App Mesh, Gloo, Gateway API) still recognise; the rest fall back to Istio's.
#[must_use]
pub fn service_target(spec: &crate::release::spec::ReleaseSpec) -> bool {
    spec.target.kind == "Service" && !spec.target.is_knative_service()
}

/// The query template of a built-in check for a release: [`query`] for its provider, or for
/// a core Service target the queries of the provider `<provider>:service` (see
/// [`service_target`]).
#[must_use]
pub fn query_for(spec: &crate::release::spec::ReleaseSpec, which: Builtin) -> String {
    if !service_target(spec) {
        return query(&spec.provider, which);
    }
    match &spec.provider {
        p @ (Provider::AppMesh { .. } | Provider::Gloo | Provider::GatewayApi(_)) => {
            query(p, which)
        }
        _ => query(&Provider::Istio, which),
    }
}

/// The provider name used in "no values found for `<provider>` metric" messages.
#[must_use]
pub fn provider_label(provider: &Provider) -> String {
    match provider {
        Provider::Smi { .. } | Provider::Other(_) => "istio".into(),
        p => p.to_string(),
    }
}
