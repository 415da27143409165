//! Simulated traffic: every Service that receives traffic gets a steady request rate, split
//! between its primary and canary Deployments by the routing objects that exist — NGINX and
//! Skipper canary Ingress annotations, Istio VirtualService weights, Gateway API HTTPRoute
//! backendRef weights, SMI TrafficSplit backends, TraefikService, Contour HTTPProxy, Kuma
//! TrafficRoute, Gloo RouteTable, APISIX route and App Mesh VirtualRouter (v1beta2) or
//! VirtualService (v1beta1) weights, or
//! (blue/green) the Service's own selector. Each version's error ratio and latency come from its pod template annotations
//! `sim.fledge.dev/error-rate` (0–1) and `sim.fledge.dev/latency-ms`. The counters are served
//! as Prometheus text in the shapes the real data planes use (ingress-nginx, Istio, Linkerd,
//! OSM, Traefik, Skipper, Envoy as Contour, Kuma and Gloo name its clusters, App Mesh's Envoy
//! sidecars per pod, APISIX's per-route metrics, Knative's Envoy ingress per revision (split by
//! the Knative Service's `status.traffic`), and app-level `http_request_duration_seconds` for the kubernetes and Gateway API
//! providers), so Flagger's built-in queries run unchanged.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use crate::keys;
use crate::object::ObjectKey;

/// The kinds the traffic model reads (group, kind): Services, Deployments and routing objects.
pub const KINDS: &[(&str, &str)] = &[
    ("", "Service"),
    ("apps", "Deployment"),
    ("networking.k8s.io", "Ingress"),
    ("networking.istio.io", "VirtualService"),
    ("gateway.networking.k8s.io", "HTTPRoute"),
    ("split.smi-spec.io", "TrafficSplit"),
    ("traefik.io", "TraefikService"),
    ("projectcontour.io", "HTTPProxy"),
    ("kuma.io", "TrafficRoute"),
    ("gateway.solo.io", "RouteTable"),
    ("gloo.solo.io", "Upstream"),
    ("apisix.apache.org", "ApisixRoute"),
    ("appmesh.k8s.aws", "VirtualRouter"),
    ("appmesh.k8s.aws", "VirtualNode"),
    ("serving.knative.dev", "Service"),
    ("serving.knative.dev", "Revision"),
    ("appmesh.k8s.aws", "VirtualService"),
];

const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const MS_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

type Labels = Vec<(&'static str, String)>;

/// Accumulated counters, by metric name and label set.
#[derive(Debug, Default, Clone)]
pub struct Traffic {
    counters: BTreeMap<&'static str, BTreeMap<Labels, f64>>,
    histograms: BTreeMap<&'static str, (&'static [f64], BTreeMap<Labels, Histogram>)>,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: Vec<f64>,
    sum: f64,
    count: f64,
}

/// One version behind a Service: its Deployment and share of the traffic (0–100).
#[derive(Debug)]
struct Backend<'a> {
    service: String,
    deployment: Option<&'a Value>,
    weight: f64,
}

#[derive(Debug)]
enum Entry {
    Nginx {
        ingress: String,
        port: String,
    },
    Istio,
    Linkerd,
    /// A Gateway API HTTPRoute or a Contour HTTPProxy, served by an Envoy-based gateway.
    Envoy,
    /// A Kuma TrafficRoute: Envoy sidecars naming clusters by Kuma's service tags.
    Kuma,
    /// A Gloo RouteTable: Gloo's Envoy naming clusters after upstreams.
    Gloo,
    /// An APISIX canary route, metered per route (`<ns>_<ApisixRoute>_<http route>`).
    Apisix {
        route: String,
    },
    /// An App Mesh VirtualRouter: each pod's Envoy sidecar counts the requests it serves.
    AppMesh,
    /// A Skipper canary Ingress: routes named after the Ingress, host, path and backend.
    Skipper {
        ingress: String,
        host: String,
        path: String,
    },
    /// An SMI `v1alpha2` TrafficSplit, served by Open Service Mesh.
    Osm,
    /// A weighted TraefikService.
    Traefik,
    Direct,
}

fn weight(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0.0)
}

fn deployment_for<'a>(
    objects: &'a BTreeMap<ObjectKey, Value>,
    ns: &str,
    service: &str,
) -> Option<&'a Value> {
    let svc = objects.get(&ObjectKey {
        group: String::new(),
        kind: "Service".into(),
        namespace: ns.into(),
        name: service.into(),
    })?;
    let selector = svc["spec"]["selector"]
        .as_object()
        .filter(|s| !s.is_empty())?;
    objects
        .iter()
        .filter(|(k, _)| k.group == "apps" && k.kind == "Deployment" && k.namespace == ns)
        .map(|(_, d)| d)
        .find(|d| {
            let labels = &d["spec"]["template"]["metadata"]["labels"];
            selector.iter().all(|(k, v)| &labels[k] == v)
        })
}

/// Requests of one status to one backend, to be metered.
struct Requests<'a> {
    entry: &'a Entry,
    objects: &'a BTreeMap<ObjectKey, Value>,
    ns: &'a str,
    service: &'a str,
    deployment: &'a str,
    status: &'a str,
    n: f64,
    latency_ms: f64,
}

/// How traffic to Service `svc` is split right now: by the first routing object that routes it
/// (NGINX canary Ingress, Istio VirtualService, Gateway API HTTPRoute, SMI TrafficSplit,
/// TraefikService), else by the Service's own selector.
fn routes<'a>(
    objects: &'a BTreeMap<ObjectKey, Value>,
    ns: &str,
    svc: &str,
) -> (Entry, Vec<Backend<'a>>) {
    let r = Routing {
        objects,
        ns,
        svc,
        primary: keys::primary(svc),
        canary: keys::canary(svc),
    };
    let (entry, weights) = r
        .skipper()
        .or_else(|| r.apisix())
        .or_else(|| r.appmesh())
        .or_else(|| r.nginx())
        .or_else(|| r.istio())
        .or_else(|| r.gateway_api())
        .or_else(|| r.smi())
        .or_else(|| r.traefik())
        .or_else(|| r.contour())
        .or_else(|| r.kuma())
        .or_else(|| r.gloo())
        .unwrap_or_else(|| (Entry::Direct, vec![(svc.to_owned(), 100.0)]));
    let backends = weights
        .into_iter()
        .map(|(service, weight)| Backend {
            deployment: deployment_for(objects, ns, &service),
            service,
            weight,
        })
        .collect();
    (entry, backends)
}

/// Relative weights → shares of 100.
fn scaled(b: Vec<(String, f64)>) -> Vec<(String, f64)> {
    let total: f64 = b.iter().map(|(_, w)| w).sum();
    let scale = if total > 0.0 { 100.0 / total } else { 0.0 };
    b.into_iter().map(|(n, w)| (n, w * scale)).collect()
}

/// The first backend (Service name and port) of an Ingress's rules.
fn ingress_backend(ing: &Value) -> Option<(String, String)> {
    let rules = ing["spec"]["rules"].as_array()?;
    rules
        .iter()
        .flat_map(|r| r["http"]["paths"].as_array().into_iter().flatten())
        .find_map(|p| {
            let s = &p["backend"]["service"];
            Some((
                s["name"].as_str()?.to_owned(),
                s["port"]["number"].as_i64().map_or_else(
                    || s["port"]["name"].as_str().unwrap_or("").to_owned(),
                    |n| n.to_string(),
                ),
            ))
        })
}

fn is_nginx_canary(i: &Value) -> bool {
    i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"] == "true"
}

/// The routing objects of one Service's namespace, read per provider.
struct Routing<'a> {
    objects: &'a BTreeMap<ObjectKey, Value>,
    ns: &'a str,
    svc: &'a str,
    primary: String,
    canary: String,
}

type Split = Option<(Entry, Vec<(String, f64)>)>;

impl<'a> Routing<'a> {
    fn in_ns(&self, group: &'a str, kind: &'a str) -> impl Iterator<Item = &'a Value> + use<'a> {
        let ns = self.ns.to_owned();
        self.objects
            .iter()
            .filter(move |(k, _)| k.group == group && k.kind == kind && k.namespace == ns)
            .map(|(_, v)| v)
    }

    fn routes_here(&self, names: &[(String, f64)]) -> bool {
        names
            .iter()
            .any(|(n, _)| *n == self.primary || *n == self.canary)
    }

    /// NGINX: the user's Ingress routes to the apex Service; a canary Ingress to `<svc>-canary`.
    fn nginx(&self) -> Split {
        let (main, port) = self
            .in_ns("networking.k8s.io", "Ingress")
            .filter(|i| !is_nginx_canary(i))
            .find_map(|i| {
                ingress_backend(i)
                    .filter(|(s, _)| s == self.svc)
                    .map(|(_, p)| (i["metadata"]["name"].as_str().unwrap_or("").to_owned(), p))
            })?;
        let w = self
            .in_ns("networking.k8s.io", "Ingress")
            .filter(|i| {
                is_nginx_canary(i) && ingress_backend(i).is_some_and(|(s, _)| s == self.canary)
            })
            .map(|i| {
                weight(&i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"])
            })
            .next()
            .unwrap_or(0.0);
        Some((
            Entry::Nginx {
                ingress: main,
                port,
            },
            vec![(self.svc.to_owned(), 100.0 - w), (self.canary.clone(), w)],
        ))
    }

    /// Istio: the VirtualService's first HTTP route.
    fn istio(&self) -> Split {
        self.in_ns("networking.istio.io", "VirtualService")
            .map(|vs| {
                vs["spec"]["http"][0]["route"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| {
                        Some((
                            r["destination"]["host"]
                                .as_str()?
                                .split('.')
                                .next()?
                                .to_owned(),
                            r.get("weight").map_or(100.0, weight),
                        ))
                    })
                    .collect::<Vec<_>>()
            })
            .find(|dests| self.routes_here(dests))
            .map(|dests| (Entry::Istio, dests))
    }

    /// Gateway API: the HTTPRoute's first rule.
    fn gateway_api(&self) -> Split {
        self.in_ns("gateway.networking.k8s.io", "HTTPRoute")
            .map(|route| {
                route["spec"]["rules"][0]["backendRefs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|b| {
                        Some((
                            b["name"].as_str()?.to_owned(),
                            b.get("weight").map_or(1.0, weight),
                        ))
                    })
                    .collect::<Vec<_>>()
            })
            .find(|refs| self.routes_here(refs))
            .map(|refs| (Entry::Envoy, scaled(refs)))
    }

    /// SMI TrafficSplit: Linkerd (v1alpha1) or Open Service Mesh (v1alpha2 and later).
    fn smi(&self) -> Split {
        let split = self
            .in_ns("split.smi-spec.io", "TrafficSplit")
            .find(|t| t["spec"]["service"] == self.svc || t["metadata"]["name"] == self.svc)?;
        let b = split["spec"]["backends"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| Some((b["service"].as_str()?.to_owned(), weight(&b["weight"]))))
            .collect();
        let entry = if split["apiVersion"] == "split.smi-spec.io/v1alpha1" {
            Entry::Linkerd
        } else {
            Entry::Osm
        };
        Some((entry, scaled(b)))
    }

    /// Skipper: a canary Ingress whose `zalando.org/backend-weights` name the primary and the
    /// canary, on while its predicate says `Weight(100)` (`False()` turns it off).
    fn skipper(&self) -> Split {
        self.in_ns("networking.k8s.io", "Ingress").find_map(|i| {
            let annotations = &i["metadata"]["annotations"];
            let weights: BTreeMap<String, f64> =
                serde_json::from_str(annotations["zalando.org/backend-weights"].as_str()?).ok()?;
            weights.get(&self.canary)?;
            let on = !annotations["zalando.org/skipper-predicate"]
                .as_str()
                .unwrap_or_default()
                .contains("False()");
            let rule = &i["spec"]["rules"][0];
            let entry = Entry::Skipper {
                ingress: i["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                host: rule["host"].as_str().unwrap_or_default().to_owned(),
                path: rule["http"]["paths"][0]["path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            };
            let split = if on {
                weights.into_iter().collect()
            } else {
                vec![(self.primary.clone(), 100.0)]
            };
            Some((entry, scaled(split)))
        })
    }

    /// Contour: the HTTPProxy named after the apex Service, its first route.
    fn contour(&self) -> Split {
        let proxy = self
            .in_ns("projectcontour.io", "HTTPProxy")
            .find(|p| p["metadata"]["name"] == self.svc)?;
        let b = proxy["spec"]["routes"][0]["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| Some((s["name"].as_str()?.to_owned(), weight(&s["weight"]))))
            .collect();
        Some((Entry::Envoy, scaled(b)))
    }

    /// Kuma: the (cluster-scoped) TrafficRoute whose destination is the apex Service's tag
    /// `<svc>_<namespace>_svc_<port>`.
    fn kuma(&self) -> Split {
        let tag = |v: &Value| -> Option<(String, String)> {
            let mut parts = v["kuma.io/service"].as_str()?.split('_');
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        };
        let here = (self.svc.to_owned(), self.ns.to_owned());
        let route = self
            .objects
            .iter()
            .filter(|(k, _)| k.group == "kuma.io" && k.kind == "TrafficRoute")
            .map(|(_, v)| v)
            .find(|t| tag(&t["spec"]["destinations"][0]["match"]).as_ref() == Some(&here))?;
        let b = route["spec"]["conf"]["split"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| Some((tag(&s["destination"])?.0, weight(&s["weight"]))))
            .collect();
        Some((Entry::Kuma, scaled(b)))
    }

    /// APISIX: the HTTP route of priority 10000 (Flagger's canary copy) whose backends are
    /// the primary and the canary.
    fn apisix(&self) -> Split {
        self.in_ns("apisix.apache.org", "ApisixRoute")
            .find_map(|r| {
                let http = r["spec"]["http"].as_array()?.iter().find(|h| {
                    h["priority"] == 10_000
                        && h["backends"].as_array().is_some_and(|b| {
                            b.iter().any(|b| b["serviceName"] == self.canary.as_str())
                        })
                })?;
                let b = http["backends"]
                    .as_array()?
                    .iter()
                    .filter_map(|b| {
                        Some((b["serviceName"].as_str()?.to_owned(), weight(&b["weight"])))
                    })
                    .collect();
                let route = format!(
                    "{}_{}_{}",
                    self.ns,
                    r["metadata"]["name"].as_str()?,
                    http["name"].as_str()?
                );
                Some((Entry::Apisix { route }, scaled(b)))
            })
    }

    /// App Mesh: v1beta2's VirtualRouter named after the apex Service, else v1beta1's
    /// VirtualService `<svc>.<ns>` (which embeds its router), its first route's weighted
    /// targets, each a VirtualNode found at its Service's DNS name.
    fn appmesh(&self) -> Split {
        let v1beta2 = self
            .in_ns("appmesh.k8s.aws", "VirtualRouter")
            .find(|r| r["metadata"]["name"] == self.svc)
            .map(|r| (&r["spec"]["routes"][0]["httpRoute"], "virtualNodeRef"));
        let v1beta1 = || {
            let name = format!("{}.{}", self.svc, self.ns);
            self.in_ns("appmesh.k8s.aws", "VirtualService")
                .find(|s| s["metadata"]["name"] == name.as_str() && s["spec"]["routes"].is_array())
                .map(|s| (&s["spec"]["routes"][0]["http"], "virtualNodeName"))
        };
        let (route, field) = v1beta2.or_else(v1beta1)?;
        let service_of = |node: &str| -> String {
            self.in_ns("appmesh.k8s.aws", "VirtualNode")
                .find(|n| n["metadata"]["name"] == node)
                .and_then(|n| {
                    let dns = &n["spec"]["serviceDiscovery"]["dns"];
                    dns["hostname"]
                        .as_str()
                        .or_else(|| dns["hostName"].as_str())
                })
                .and_then(|h| h.split('.').next())
                .unwrap_or(node)
                .to_owned()
        };
        let b = route["action"]["weightedTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let node = t[field]["name"].as_str().or_else(|| t[field].as_str())?;
                Some((service_of(node), weight(&t["weight"])))
            })
            .collect();
        Some((Entry::AppMesh, scaled(b)))
    }

    /// Gloo: the RouteTable named after the apex Service, its first route's destinations,
    /// each an Upstream of a Kubernetes Service (a missing weight is 0).
    fn gloo(&self) -> Split {
        let table = self
            .in_ns("gateway.solo.io", "RouteTable")
            .find(|t| t["metadata"]["name"] == self.svc)?;
        let service_of = |upstream: &Value| {
            self.in_ns("gloo.solo.io", "Upstream")
                .find(|u| u["metadata"]["name"] == upstream["name"])
                .and_then(|u| u["spec"]["kube"]["serviceName"].as_str())
                .map(str::to_owned)
        };
        let b = table["spec"]["routes"][0]["routeAction"]["multi"]["destinations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                Some((
                    service_of(&d["destination"]["upstream"])?,
                    weight(&d["weight"]),
                ))
            })
            .collect();
        Some((Entry::Gloo, scaled(b)))
    }

    /// Traefik: the weighted TraefikService named after the apex Service.
    fn traefik(&self) -> Split {
        let ts = self
            .in_ns("traefik.io", "TraefikService")
            .find(|t| t["metadata"]["name"] == self.svc)?;
        let b = ts["spec"]["weighted"]["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| Some((b["name"].as_str()?.to_owned(), weight(&b["weight"]))))
            .collect();
        Some((Entry::Traefik, scaled(b)))
    }
}

/// The first port of a Service (80 when there is none).
fn service_port(objects: &BTreeMap<ObjectKey, Value>, ns: &str, service: &str) -> i64 {
    objects
        .get(&ObjectKey {
            group: String::new(),
            kind: "Service".into(),
            namespace: ns.into(),
            name: service.into(),
        })
        .and_then(|s| s["spec"]["ports"][0]["port"].as_i64())
        .unwrap_or(80)
}

fn annotation(d: Option<&Value>, key: &str, default: f64) -> f64 {
    annotated(d.map(|d| &d["spec"]["template"]["metadata"]), key, default)
}

/// Whether one of `d`'s containers runs an image its pod template's annotation
/// `sim.fledge.dev/failing-images` (image references, comma-separated) names: a bad build, whose
/// every request fails.
fn runs_failing_image(d: &Value) -> bool {
    let t = &d["spec"]["template"];
    let Some(listed) = t["metadata"]["annotations"][keys::SIM_FAILING_IMAGES].as_str() else {
        return false;
    };
    let failing: Vec<&str> = listed.split(',').map(str::trim).collect();
    t["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["image"].as_str())
        .any(|i| failing.contains(&i))
}

/// A number in the annotations of `meta` (a pod template's or a Knative Revision's metadata).
fn annotated(meta: Option<&Value>, key: &str, default: f64) -> f64 {
    meta.and_then(|m| {
        let v = &m["annotations"][key];
        v.as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| v.as_f64())
    })
    .unwrap_or(default)
}

/// The pod name app-level metrics carry (`<deployment>-<replicaset hash>-<pod id>`).
#[must_use]
pub fn pod_name(deployment: &str) -> String {
    format!("{deployment}-6d4cf56db6-x7k2p")
}

impl Traffic {
    fn add(&mut self, metric: &'static str, labels: Labels, v: f64) {
        *self
            .counters
            .entry(metric)
            .or_default()
            .entry(labels)
            .or_default() += v;
    }

    /// A request counter and its latency histogram in milliseconds, over the same labels.
    fn requests_ms(
        &mut self,
        counter: &'static str,
        histogram: &'static str,
        labels: Labels,
        latency_ms: f64,
        n: f64,
    ) {
        self.add(counter, labels.clone(), n);
        self.observe(histogram, MS_BUCKETS, labels, latency_ms, n);
    }

    fn observe(
        &mut self,
        metric: &'static str,
        buckets: &'static [f64],
        labels: Labels,
        value: f64,
        n: f64,
    ) {
        let h = self
            .histograms
            .entry(metric)
            .or_insert_with(|| (buckets, BTreeMap::new()))
            .1
            .entry(labels)
            .or_insert_with(|| Histogram {
                buckets: vec![0.0; buckets.len()],
                ..Histogram::default()
            });
        for (i, le) in buckets.iter().enumerate() {
            if value <= *le {
                h.buckets[i] += n;
            }
        }
        h.sum += value * n;
        h.count += n;
    }

    /// Advances the traffic by `dt` at `rate` requests per second per Service, for the Services
    /// among `objects` (which holds, per namespace or for all, at least the [`KINDS`]).
    pub fn step(&mut self, objects: &BTreeMap<ObjectKey, Value>, rate: f64, dt: Duration) {
        self.step_knative(objects, rate, dt);
        let services: Vec<(&ObjectKey, &Value)> = objects
            .iter()
            .filter(|(k, _)| k.group.is_empty() && k.kind == "Service")
            .filter(|(k, _)| !k.name.ends_with("-primary") && !k.name.ends_with("-canary"))
            .collect();
        for (key, _) in services {
            let (entry, backends) = routes(objects, &key.namespace, &key.name);
            for b in backends {
                let Some(d) = b.deployment else { continue };
                let requests = rate * dt.as_secs_f64() * b.weight.clamp(0.0, 100.0) / 100.0;
                if requests <= 0.0 {
                    continue;
                }
                let error_rate = if runs_failing_image(d) {
                    1.0
                } else {
                    annotation(Some(d), keys::SIM_ERROR_RATE, 0.0).clamp(0.0, 1.0)
                };
                let deployment = d["metadata"]["name"].as_str().unwrap_or("");
                for (status, n) in [
                    ("200", requests * (1.0 - error_rate)),
                    ("500", requests * error_rate),
                ] {
                    self.meter(&Requests {
                        entry: &entry,
                        objects,
                        ns: &key.namespace,
                        service: &b.service,
                        deployment,
                        status,
                        n,
                        latency_ms: annotation(Some(d), keys::SIM_LATENCY_MS, 50.0).max(0.0),
                    });
                }
            }
        }
    }

    /// Knative Services: each revision's share of `status.traffic` (what Knative's route
    /// serves), counted by Knative's Envoy ingress in the cluster `<namespace>/<revision>`, with
    /// the error ratio and latency of the Revision's annotations.
    fn step_knative(&mut self, objects: &BTreeMap<ObjectKey, Value>, rate: f64, dt: Duration) {
        let knative = |kind: &'static str| {
            objects
                .iter()
                .filter(move |(k, _)| k.group == "serving.knative.dev" && k.kind == kind)
        };
        for (key, svc) in knative("Service") {
            for t in svc["status"]["traffic"].as_array().into_iter().flatten() {
                let Some(name) = t["revisionName"].as_str() else {
                    continue;
                };
                let requests =
                    rate * dt.as_secs_f64() * weight(&t["percent"]).clamp(0.0, 100.0) / 100.0;
                let revision = knative("Revision")
                    .find(|(k, _)| k.namespace == key.namespace && k.name == name)
                    .map(|(_, r)| r);
                if requests <= 0.0 || revision.is_none() {
                    continue;
                }
                let meta = revision.map(|r| &r["metadata"]);
                let error_rate = annotated(meta, keys::SIM_ERROR_RATE, 0.0).clamp(0.0, 1.0);
                let latency_ms = annotated(meta, keys::SIM_LATENCY_MS, 50.0).max(0.0);
                for (status, n) in [
                    ("200", requests * (1.0 - error_rate)),
                    ("500", requests * error_rate),
                ] {
                    let labels = vec![
                        ("envoy_cluster_name", format!("{}/{name}", key.namespace)),
                        ("envoy_response_code", status.to_owned()),
                    ];
                    self.add("envoy_cluster_upstream_rq", labels.clone(), n);
                    self.observe(
                        "envoy_cluster_upstream_rq_time",
                        MS_BUCKETS,
                        labels,
                        latency_ms,
                        n,
                    );
                }
            }
        }
    }

    /// Counts requests in the data plane's metrics and in the app's own.
    fn meter(&mut self, r: &Requests<'_>) {
        match r.entry {
            Entry::Nginx { ingress, port } => self.meter_nginx(r, ingress, port),
            Entry::Istio => self.requests_ms(
                "istio_requests_total",
                "istio_request_duration_milliseconds",
                vec![
                    ("destination_service_name", r.service.to_owned()),
                    ("destination_workload", r.deployment.to_owned()),
                    ("destination_workload_namespace", r.ns.to_owned()),
                    ("reporter", "destination".to_owned()),
                    ("response_code", r.status.to_owned()),
                ],
                r.latency_ms,
                r.n,
            ),
            Entry::Linkerd => {
                let classification = if r.status == "500" {
                    "failure"
                } else {
                    "success"
                };
                self.requests_ms(
                    "response_total",
                    "response_latency_ms",
                    vec![
                        ("classification", classification.to_owned()),
                        ("deployment", r.deployment.to_owned()),
                        ("direction", "inbound".to_owned()),
                        ("namespace", r.ns.to_owned()),
                        ("status_code", r.status.to_owned()),
                    ],
                    r.latency_ms,
                    r.n,
                );
            }
            Entry::Osm => self.requests_ms(
                "osm_request_total",
                "osm_request_duration_ms",
                vec![
                    ("destination_kind", "Deployment".to_owned()),
                    ("destination_name", r.deployment.to_owned()),
                    ("destination_namespace", r.ns.to_owned()),
                    ("response_code", r.status.to_owned()),
                ],
                r.latency_ms,
                r.n,
            ),
            Entry::Traefik => self.meter_traefik(r),
            Entry::Envoy => {
                let port = service_port(r.objects, r.ns, r.service);
                self.meter_envoy(r, format!("{}_{}_{port}", r.ns, r.service));
            }
            Entry::Kuma => {
                let port = service_port(r.objects, r.ns, r.service);
                self.meter_envoy(r, format!("{}_{}_svc_{port}", r.service, r.ns));
            }
            Entry::Apisix { route } => {
                let labels = vec![("code", r.status.to_owned()), ("route", route.clone())];
                self.add("apisix_http_status", labels, r.n);
                self.observe(
                    "apisix_http_latency",
                    MS_BUCKETS,
                    vec![("route", route.clone()), ("type", "request".to_owned())],
                    r.latency_ms,
                    r.n,
                );
            }
            Entry::AppMesh => self.meter_appmesh(r),
            Entry::Gloo => {
                let port = service_port(r.objects, r.ns, r.service);
                let cluster = format!("{}-{}upstream-{port}_gloo-system", r.ns, r.service);
                self.meter_envoy(r, cluster);
            }
            Entry::Skipper {
                ingress,
                host,
                path,
            } => self.meter_skipper(r, &[ingress, host, path]),
            Entry::Direct => {}
        }
        // Every app exposes its own request metrics (the kubernetes and Gateway API providers'
        // built-in queries read these).
        let labels = vec![
            ("kubernetes_namespace", r.ns.to_owned()),
            ("kubernetes_pod_name", pod_name(r.deployment)),
            ("status", r.status.to_owned()),
        ];
        self.observe(
            "http_request_duration_seconds",
            SECONDS_BUCKETS,
            labels,
            r.latency_ms / 1000.0,
            r.n,
        );
    }

    fn meter_nginx(&mut self, r: &Requests<'_>, ingress: &str, port: &str) {
        let canary = if r.service.ends_with("-canary") {
            format!("{}-{}-{port}", r.ns, r.service)
        } else {
            String::new()
        };
        let labels = vec![
            ("canary", canary),
            ("controller_class", "k8s.io/ingress-nginx".to_owned()),
            ("ingress", ingress.to_owned()),
            ("namespace", r.ns.to_owned()),
            ("service", r.service.to_owned()),
            ("status", r.status.to_owned()),
        ];
        self.add("nginx_ingress_controller_requests", labels.clone(), r.n);
        for histogram in [
            "nginx_ingress_controller_request_duration_seconds",
            "nginx_ingress_controller_response_duration_seconds",
        ] {
            self.observe(
                histogram,
                SECONDS_BUCKETS,
                labels.clone(),
                r.latency_ms / 1000.0,
                r.n,
            );
        }
    }

    /// App Mesh: the Envoy sidecar of the pod serving the requests counts them, labelled with
    /// the pod as Prometheus's Kubernetes discovery labels it.
    fn meter_appmesh(&mut self, r: &Requests<'_>) {
        let labels = vec![
            ("envoy_response_code", r.status.to_owned()),
            ("kubernetes_namespace", r.ns.to_owned()),
            ("kubernetes_pod_name", pod_name(r.deployment)),
        ];
        self.add("envoy_cluster_upstream_rq", labels.clone(), r.n);
        self.observe(
            "envoy_cluster_upstream_rq_time",
            MS_BUCKETS,
            labels,
            r.latency_ms,
            r.n,
        );
    }

    /// Traefik names services `<namespace>-<service>-<port>@kubernetescrd`.
    fn meter_traefik(&mut self, r: &Requests<'_>) {
        let port = service_port(r.objects, r.ns, r.service);
        let labels = vec![
            ("code", r.status.to_owned()),
            ("method", "GET".to_owned()),
            ("protocol", "http".to_owned()),
            (
                "service",
                format!("{}-{}-{port}@kubernetescrd", r.ns, r.service),
            ),
        ];
        self.observe(
            "traefik_service_request_duration_seconds",
            SECONDS_BUCKETS,
            labels,
            r.latency_ms / 1000.0,
            r.n,
        );
    }

    /// Skipper names a route `kube_<ns>__<ingress>__<host>__<path>__<backend>`, every
    /// non-word character as `_`.
    fn meter_skipper(&mut self, r: &Requests<'_>, at: &[&String; 3]) {
        let [ingress, host, path] = at;
        let route = format!("kube_{}__{ingress}__{host}__{path}__{}", r.ns, r.service)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>();
        let labels = vec![("code", r.status.to_owned()), ("route", route.clone())];
        self.observe(
            "skipper_response_duration_seconds",
            SECONDS_BUCKETS,
            labels,
            r.latency_ms / 1000.0,
            r.n,
        );
        self.observe(
            "skipper_serve_route_duration_seconds",
            SECONDS_BUCKETS,
            vec![("route", route)],
            r.latency_ms / 1000.0,
            r.n,
        );
    }

    /// Envoy's request counter and latency histogram for a cluster: Contour names clusters
    /// `<namespace>_<service>_<port>`, Kuma `<service>_<namespace>_svc_<port>`, Gloo after the
    /// upstream, `<namespace>-<service>upstream-<port>_<gloo's namespace>`.
    fn meter_envoy(&mut self, r: &Requests<'_>, cluster: String) {
        let labels = vec![
            ("envoy_cluster_name", cluster),
            ("envoy_response_code", r.status.to_owned()),
        ];
        self.add("envoy_cluster_upstream_rq", labels.clone(), r.n);
        self.observe(
            "envoy_cluster_upstream_rq_time",
            MS_BUCKETS,
            labels,
            r.latency_ms,
            r.n,
        );
    }

    /// The sum of a counter (or a histogram's `_count`) over the series whose labels include
    /// all of `filter`.
    #[must_use]
    pub fn total(&self, metric: &str, filter: &[(&str, &str)]) -> f64 {
        let matches = |labels: &Labels| {
            filter
                .iter()
                .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        };
        if let Some(series) = self.counters.get(metric) {
            return series
                .iter()
                .filter(|(l, _)| matches(l))
                .map(|(_, v)| v)
                .sum();
        }
        let base = metric.strip_suffix("_count").unwrap_or(metric);
        self.histograms.get(base).map_or(0.0, |(_, series)| {
            series
                .iter()
                .filter(|(l, _)| matches(l))
                .map(|(_, h)| h.count)
                .sum()
        })
    }

    /// The sum of a histogram's observations over the series whose labels include all of
    /// `filter`.
    #[must_use]
    pub fn sum(&self, metric: &str, filter: &[(&str, &str)]) -> f64 {
        let matches = |labels: &Labels| {
            filter
                .iter()
                .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        };
        self.histograms.get(metric).map_or(0.0, |(_, series)| {
            series
                .iter()
                .filter(|(l, _)| matches(l))
                .map(|(_, h)| h.sum)
                .sum()
        })
    }

    /// Prometheus text exposition format.
    #[must_use]
    pub fn render(&self) -> String {
        fn labels_text(labels: &Labels, extra: Option<(&str, String)>) -> String {
            let mut parts: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            if let Some((k, v)) = extra {
                parts.push(format!("{k}=\"{v}\""));
            }
            format!("{{{}}}", parts.join(","))
        }
        let mut out = String::new();
        for (name, series) in &self.counters {
            let _ = writeln!(out, "# TYPE {name} counter");
            for (labels, v) in series {
                let _ = writeln!(out, "{name}{} {v}", labels_text(labels, None));
            }
        }
        for (name, (buckets, series)) in &self.histograms {
            let _ = writeln!(out, "# TYPE {name} histogram");
            for (labels, h) in series {
                for (le, n) in buckets.iter().zip(&h.buckets) {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {n}",
                        labels_text(labels, Some(("le", le.to_string())))
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    labels_text(labels, Some(("le", "+Inf".to_owned()))),
                    h.count
                );
                let _ = writeln!(out, "{name}_sum{} {}", labels_text(labels, None), h.sum);
                let _ = writeln!(out, "{name}_count{} {}", labels_text(labels, None), h.count);
            }
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
