//! `routing`: one generator per traffic provider. A [`Router`] turns a release spec and the
//! current [`Weights`] into the routing objects the provider reads (a canary Ingress, a
//! VirtualService, an HTTPRoute, a TrafficSplit); [`services`] builds the three Services every
//! Deployment target gets. Pure: no cluster access, no clock.
//!
//! Adding a provider is one file with a `Router` and one line in [`router`]. Names, labels
//! and annotations are Flagger's (flagger-spec §2.2, §8), so dashboards and queries keep working.

mod affinity;
mod apisix;
mod appmesh;
mod contour;
mod gatewayapi;
mod gloo;
mod istio;
pub mod knative;
mod kubernetes;
mod kuma;
mod nginx;
mod skipper;
mod smi;
mod traefik;

pub use gatewayapi::not_accepted;

use serde_json::{Map, Value, json};

use crate::keys::{self, FLUX_OPT_OUT, RELEASE_LABEL};
use crate::release::spec::{Provider, ReleaseKey, ReleaseSpec, Strategy};

/// How traffic is split right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    /// Percent of traffic to the canary (0–100); the primary gets the rest. With A/B testing,
    /// the route for matching requests.
    pub canary: u8,
    /// Shadow traffic to the canary.
    pub mirror: bool,
}

impl Weights {
    /// The primary's share.
    #[must_use]
    pub fn primary(self) -> u8 {
        100 - self.canary.min(100)
    }
}

/// What a router needs besides the spec.
#[derive(Debug, Clone, Copy)]
pub struct RouteInput<'a> {
    pub spec: &'a ReleaseSpec,
    pub weights: Weights,
    /// The Ingress named by `spec.ingressRef`, from the rendered repository or the cluster.
    pub ingress: Option<&'a Value>,
    /// The route named by `spec.routeRef` (APISIX's), from the rendered repository.
    pub route: Option<&'a Value>,
    /// The revision under analysis (the session-affinity cookie value derives from it).
    pub canary_revision: &'a str,
    /// Whether that revision has had traffic (so clients may hold its session-affinity
    /// cookie, which is expired once its traffic is back to zero).
    pub canary_ran: bool,
    /// The Gloo Upstream named by `spec.upstreamRef`, from the cluster, whose settings the
    /// generated upstreams copy.
    pub upstream: Option<&'a Value>,
    /// The target's selector label and value: the primary's Service selects `<value>-primary`,
    /// the canary's `<value>` (Gloo's upstreams repeat the selectors).
    pub selector: Option<(&'a str, &'a str)>,
}

/// Why routing objects cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "Canary {release}: provider {provider} has no router in this version of fledge (supported: kubernetes, nginx, istio, gatewayapi, linkerd, smi, osm, traefik, skipper, contour, kuma, gloo, apisix, appmesh, appmesh:v1beta2, knative)"
    )]
    Unsupported {
        release: ReleaseKey,
        provider: String,
    },
    #[error("Canary {release}: {message}")]
    Invalid {
        release: ReleaseKey,
        message: String,
    },
}

/// Builds a provider's routing objects.
pub trait Router: Sync {
    /// The objects that route traffic as `input.weights` says, complete (applied as a whole
    /// by server-side apply).
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, Error>;
}

/// The router of a provider, if fledge has one.
#[must_use]
pub fn router(provider: &Provider) -> Option<&'static dyn Router> {
    match provider {
        Provider::Kubernetes => Some(&kubernetes::Kubernetes),
        Provider::Nginx => Some(&nginx::Nginx),
        Provider::Istio => Some(&istio::Istio),
        Provider::GatewayApi(_) => Some(&gatewayapi::GatewayApi),
        // Flagger routes Linkerd with its SMI v1alpha1 router (linkerd-smi).
        Provider::Linkerd => smi::router("v1alpha1", false).map(|r| r as &dyn Router),
        Provider::Traefik => Some(&traefik::Traefik),
        Provider::Skipper => Some(&skipper::Skipper),
        Provider::Contour => Some(&contour::Contour),
        Provider::Kuma { .. } => Some(&kuma::Kuma),
        Provider::Gloo => Some(&gloo::Gloo),
        Provider::Apisix => Some(&apisix::Apisix),
        Provider::AppMesh { v1beta1: true, .. } => Some(&appmesh::AppMeshV1beta1),
        Provider::AppMesh { .. } => Some(&appmesh::AppMesh),
        Provider::Knative => Some(&knative::Knative),
        Provider::Osm => smi::router("v1alpha2", false).map(|r| r as &dyn Router),
        Provider::Smi { version, mesh } => {
            smi::router(version, mesh.as_deref() == Some("istio")).map(|r| r as &dyn Router)
        }
        Provider::Other(_) => None,
    }
}

/// The routing objects for a release, or why there are none.
pub fn route(input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
    let r = router(&input.spec.provider).ok_or_else(|| Error::Unsupported {
        release: input.spec.key(),
        provider: input.spec.provider.to_string(),
    })?;
    r.objects(input)
}

/// The Ingress `spec.ingressRef` names and its name, for the providers that clone it (nginx,
/// skipper).
pub(crate) fn user_ingress<'a>(input: &RouteInput<'a>) -> Result<(String, &'a Value), Error> {
    let spec = input.spec;
    let invalid = |message: String| Error::Invalid {
        release: spec.key(),
        message,
    };
    let name = spec
        .ingress
        .as_ref()
        .map(|i| i.name.clone())
        .ok_or_else(|| {
            invalid(format!(
                "spec.ingressRef is required with the {} provider",
                spec.provider
            ))
        })?;
    let ingress = input.ingress.ok_or_else(|| {
        invalid(format!(
            "Ingress {}/{name} (spec.ingressRef) is not in the repository or the cluster",
            spec.namespace
        ))
    })?;
    Ok((name, ingress))
}

/// The annotations of the user's Ingress that its canary copy keeps: all but Flux's, kubectl's
/// last-applied configuration, and those `dropped` names.
pub(crate) fn kept_annotations(
    ingress: &Value,
    dropped: impl Fn(&str) -> bool,
) -> Map<String, Value> {
    ingress["metadata"]["annotations"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    !dropped(k)
                        && !k.contains("toolkit.fluxcd.io")
                        && *k != "kubectl.kubernetes.io/last-applied-configuration"
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Metadata for a generated object: Flux opt-out annotations, the release label, plus extra
/// labels and annotations.
pub(crate) fn metadata(spec: &ReleaseSpec, name: &str, extra: &Value) -> Value {
    let mut labels = Map::new();
    let mut annotations = Map::new();
    for (k, v) in FLUX_OPT_OUT {
        annotations.insert((*k).into(), json!(v));
    }
    if let Some(m) = extra["labels"].as_object() {
        labels.extend(m.clone());
    }
    if let Some(m) = extra["annotations"].as_object() {
        annotations.extend(m.clone());
    }
    labels.insert(RELEASE_LABEL.into(), json!(spec.name));
    json!({"name": name, "namespace": spec.namespace, "labels": labels, "annotations": annotations})
}

/// With `service.portDiscovery`, the ports of the target's containers besides the service's
/// own, as Flagger's `getPorts` finds them: mesh proxies (`istio-proxy`, `envoy`) skipped,
/// each named by its container port's name or `tcp-<container>-<index>`, TCP, to the same
/// port. Sorted by name (Flagger's order is a Go map's).
fn discovered_ports(spec: &ReleaseSpec, target: &Value) -> Vec<Value> {
    let svc = &spec.service;
    if svc.raw["portDiscovery"] != true {
        return Vec::new();
    }
    let mut ports = std::collections::BTreeMap::new();
    let containers = target["spec"]["template"]["spec"]["containers"].as_array();
    for c in containers.into_iter().flatten() {
        let container = c["name"].as_str().unwrap_or_default();
        if matches!(container, "istio-proxy" | "envoy") {
            continue;
        }
        for (i, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
            let number = p["containerPort"].as_i64().unwrap_or_default();
            let name = p["name"].as_str().filter(|n| !n.is_empty());
            let own = match &svc.target_port {
                Value::String(s) => name == Some(s.as_str()),
                t => t.as_i64() == Some(number),
            };
            if own {
                continue;
            }
            let name = name.map_or_else(|| format!("tcp-{container}-{i}"), str::to_owned);
            ports.insert(name, number);
        }
    }
    ports
        .into_iter()
        .map(|(name, port)| json!({"name": name, "protocol": "TCP", "port": port, "targetPort": port}))
        .collect()
}

/// The apex, `-primary` and `-canary` Services (flagger-spec §2.2). `label` and `value` are
/// the target's selector label and its value; `target` is the target as Git has it (its
/// container ports with `service.portDiscovery`).
#[must_use]
pub fn services(spec: &ReleaseSpec, target: &Value, label: &str, value: &str) -> Vec<Value> {
    let svc = &spec.service;
    let mut port = json!({"name": svc.port_name, "protocol": "TCP", "port": svc.port,
                          "targetPort": svc.target_port});
    if let Some(p) = &svc.app_protocol {
        port["appProtocol"] = json!(p);
    }
    let ports: Vec<Value> = std::iter::once(port)
        .chain(discovered_ports(spec, target))
        .collect();
    let make = |name: String, selector: String, which: &str| {
        let mut meta = metadata(spec, &name, &svc.raw[which]);
        meta["labels"][label] = json!(name);
        unmanaged(&mut meta, &svc.raw["unmanagedMetadata"]);
        let mut s =
            json!({"type": "ClusterIP", "selector": {label: selector}, "ports": ports.clone()});
        if svc.raw["headless"] == true {
            s["clusterIP"] = json!("None");
        }
        if let Some(td) = svc.raw["trafficDistribution"].as_str() {
            s["trafficDistribution"] = json!(td);
        }
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": s})
    };
    vec![
        make(svc.name.clone(), keys::primary(value), "apex"),
        make(keys::primary(&svc.name), keys::primary(value), "primary"),
        make(keys::canary(&svc.name), value.to_owned(), "canary"),
    ]
}

/// Leaves out of a Service's metadata the keys `service.unmanagedMetadata` lists, so that
/// fledge's apply never adds, changes or removes them, as Flagger promises (keys another
/// manager sets are never touched by fledge's server-side apply anyway). fledge's own keys
/// stay: it finds what it generated by them.
fn unmanaged(meta: &mut Value, keys: &Value) {
    for field in ["annotations", "labels"] {
        for key in keys[field].as_array().into_iter().flatten() {
            let Some(key) = key.as_str().filter(|k| !k.starts_with("fledge.dev/")) else {
                continue;
            };
            if let Some(m) = meta[field].as_object_mut() {
                m.remove(key);
            }
        }
    }
}

/// Whether the A/B match route is in use.
pub(crate) fn is_ab(spec: &ReleaseSpec) -> bool {
    spec.strategy() == Strategy::Ab
}

/// The session-affinity cookie value for a revision: ten letters derived from it, so the
/// value is stable across ticks and restarts without being stored.
pub(crate) fn cookie_value(revision: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(revision.as_bytes());
    digest
        .iter()
        .take(10)
        .map(|b| char::from(b'a' + b % 26))
        .collect()
}

#[cfg(test)]
mod tests;
