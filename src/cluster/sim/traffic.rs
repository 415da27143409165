//! Simulated traffic: every Service that receives traffic gets a steady request rate, split
//! between its primary and canary Deployments by the routing objects that exist — NGINX canary
//! Ingress annotations, Istio VirtualService weights, Gateway API HTTPRoute backendRef weights,
//! SMI TrafficSplit backends, or (blue/green) the Service's own selector. Each version's error
//! ratio and latency come from its pod template annotations `sim.fledge.dev/error-rate` (0–1) and
//! `sim.fledge.dev/latency-ms`. The counters are served as Prometheus text in the shapes the real
//! data planes use (ingress-nginx, Istio, Linkerd, and app-level `http_request_duration_seconds`
//! for the kubernetes and Gateway API providers), so Flagger's built-in queries run unchanged.

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
    /// A Gateway API HTTPRoute, served by an Envoy-based gateway.
    Envoy,
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

/// How traffic to Service `svc` is split right now.
fn routes<'a>(
    objects: &'a BTreeMap<ObjectKey, Value>,
    ns: &str,
    svc: &str,
) -> (Entry, Vec<Backend<'a>>) {
    let in_ns = |group: &'a str, kind: &'a str| {
        objects
            .iter()
            .filter(move |(k, _)| k.group == group && k.kind == kind && k.namespace == ns)
            .map(|(_, v)| v)
    };
    let backend = |service: &str, w: f64| Backend {
        service: service.to_owned(),
        deployment: deployment_for(objects, ns, service),
        weight: w,
    };
    // Relative weights → shares of 100.
    let scaled = |b: &[(String, f64)]| -> Vec<Backend<'a>> {
        let total: f64 = b.iter().map(|(_, w)| w).sum();
        let scale = if total > 0.0 { 100.0 / total } else { 0.0 };
        b.iter().map(|(n, w)| backend(n, w * scale)).collect()
    };
    let primary = keys::primary(svc);
    let canary = keys::canary(svc);
    let backend_of = |ing: &Value| -> Option<(String, String)> {
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
    };
    // NGINX: the user's Ingress routes to the apex Service; a canary Ingress to `<svc>-canary`.
    let is_canary =
        |i: &Value| i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"] == "true";
    if let Some((main, port)) = in_ns("networking.k8s.io", "Ingress")
        .filter(|i| !is_canary(i))
        .find_map(|i| {
            backend_of(i)
                .filter(|(s, _)| s == svc)
                .map(|(_, p)| (i["metadata"]["name"].as_str().unwrap_or("").to_owned(), p))
        })
    {
        let w = in_ns("networking.k8s.io", "Ingress")
            .filter(|i| is_canary(i) && backend_of(i).is_some_and(|(s, _)| s == canary))
            .map(|i| {
                weight(&i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"])
            })
            .next()
            .unwrap_or(0.0);
        return (
            Entry::Nginx {
                ingress: main,
                port,
            },
            vec![backend(svc, 100.0 - w), backend(&canary, w)],
        );
    }
    // Istio: the VirtualService's first HTTP route.
    for vs in in_ns("networking.istio.io", "VirtualService") {
        let dests: Vec<(String, f64)> = vs["spec"]["http"][0]["route"]
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
            .collect();
        if dests.iter().any(|(h, _)| *h == primary || *h == canary) {
            return (
                Entry::Istio,
                dests.iter().map(|(h, w)| backend(h, *w)).collect(),
            );
        }
    }
    // Gateway API: the HTTPRoute's first rule.
    for route in in_ns("gateway.networking.k8s.io", "HTTPRoute") {
        let refs: Vec<(String, f64)> = route["spec"]["rules"][0]["backendRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| {
                Some((
                    b["name"].as_str()?.to_owned(),
                    b.get("weight").map_or(1.0, weight),
                ))
            })
            .collect();
        if refs.iter().any(|(n, _)| *n == primary || *n == canary) {
            return (Entry::Envoy, scaled(&refs));
        }
    }
    // SMI TrafficSplit: Linkerd (v1alpha1) or Open Service Mesh (v1alpha2 and later).
    for split in in_ns("split.smi-spec.io", "TrafficSplit") {
        if split["spec"]["service"] == svc || split["metadata"]["name"] == svc {
            let b: Vec<(String, f64)> = split["spec"]["backends"]
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
            return (entry, scaled(&b));
        }
    }
    // Traefik: the weighted TraefikService named after the apex Service.
    for ts in in_ns("traefik.io", "TraefikService") {
        if ts["metadata"]["name"] == svc {
            let b: Vec<(String, f64)> = ts["spec"]["weighted"]["services"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| Some((b["name"].as_str()?.to_owned(), weight(&b["weight"]))))
                .collect();
            return (Entry::Traefik, scaled(&b));
        }
    }
    // The Service's own selector (blue/green switches it between primary and canary).
    (Entry::Direct, vec![backend(svc, 100.0)])
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
    d.and_then(|d| {
        let v = &d["spec"]["template"]["metadata"]["annotations"][key];
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
        let services: Vec<(&ObjectKey, &Value)> = objects
            .iter()
            .filter(|(k, _)| k.group.is_empty() && k.kind == "Service")
            .filter(|(k, _)| !k.name.ends_with("-primary") && !k.name.ends_with("-canary"))
            .collect();
        for (key, _) in services {
            let (entry, backends) = routes(objects, &key.namespace, &key.name);
            let ns = key.namespace.clone();
            for b in backends {
                let Some(d) = b.deployment else { continue };
                let requests = rate * dt.as_secs_f64() * b.weight.clamp(0.0, 100.0) / 100.0;
                if requests <= 0.0 {
                    continue;
                }
                let error_rate = annotation(Some(d), keys::SIM_ERROR_RATE, 0.0).clamp(0.0, 1.0);
                let latency_ms = annotation(Some(d), keys::SIM_LATENCY_MS, 50.0).max(0.0);
                let deployment = d["metadata"]["name"].as_str().unwrap_or("").to_owned();
                let split = [
                    ("200", requests * (1.0 - error_rate)),
                    ("500", requests * error_rate),
                ];
                for (status, n) in split {
                    match &entry {
                        Entry::Nginx { ingress, port } => {
                            let canary = if b.service.ends_with("-canary") {
                                format!("{ns}-{}-{port}", b.service)
                            } else {
                                String::new()
                            };
                            let labels = vec![
                                ("canary", canary),
                                ("controller_class", "k8s.io/ingress-nginx".to_owned()),
                                ("ingress", ingress.clone()),
                                ("namespace", ns.clone()),
                                ("service", b.service.clone()),
                                ("status", status.to_owned()),
                            ];
                            self.add("nginx_ingress_controller_requests", labels.clone(), n);
                            self.observe(
                                "nginx_ingress_controller_request_duration_seconds",
                                SECONDS_BUCKETS,
                                labels.clone(),
                                latency_ms / 1000.0,
                                n,
                            );
                            self.observe(
                                "nginx_ingress_controller_response_duration_seconds",
                                SECONDS_BUCKETS,
                                labels,
                                latency_ms / 1000.0,
                                n,
                            );
                        }
                        Entry::Istio => {
                            let labels = vec![
                                ("destination_service_name", b.service.clone()),
                                ("destination_workload", deployment.clone()),
                                ("destination_workload_namespace", ns.clone()),
                                ("reporter", "destination".to_owned()),
                                ("response_code", status.to_owned()),
                            ];
                            self.requests_ms(
                                "istio_requests_total",
                                "istio_request_duration_milliseconds",
                                labels,
                                latency_ms,
                                n,
                            );
                        }
                        Entry::Linkerd => {
                            let classification = if status == "500" {
                                "failure"
                            } else {
                                "success"
                            };
                            let labels = vec![
                                ("classification", classification.to_owned()),
                                ("deployment", deployment.clone()),
                                ("direction", "inbound".to_owned()),
                                ("namespace", ns.clone()),
                                ("status_code", status.to_owned()),
                            ];
                            self.requests_ms(
                                "response_total",
                                "response_latency_ms",
                                labels,
                                latency_ms,
                                n,
                            );
                        }
                        Entry::Osm => {
                            let labels = vec![
                                ("destination_kind", "Deployment".to_owned()),
                                ("destination_name", deployment.clone()),
                                ("destination_namespace", ns.clone()),
                                ("response_code", status.to_owned()),
                            ];
                            self.requests_ms(
                                "osm_request_total",
                                "osm_request_duration_ms",
                                labels,
                                latency_ms,
                                n,
                            );
                        }
                        Entry::Traefik => {
                            // Traefik names services `<namespace>-<service>-<port>@kubernetescrd`.
                            let port = service_port(objects, &ns, &b.service);
                            let labels = vec![
                                ("code", status.to_owned()),
                                ("method", "GET".to_owned()),
                                ("protocol", "http".to_owned()),
                                (
                                    "service",
                                    format!("{ns}-{}-{port}@kubernetescrd", b.service),
                                ),
                            ];
                            self.observe(
                                "traefik_service_request_duration_seconds",
                                SECONDS_BUCKETS,
                                labels,
                                latency_ms / 1000.0,
                                n,
                            );
                        }
                        Entry::Envoy => {
                            // Envoy names clusters `<namespace>_<service>_<port>` (Contour's
                            // scheme, which Flagger's envoy-based queries match).
                            let port = service_port(objects, &ns, &b.service);
                            let labels = vec![
                                ("envoy_cluster_name", format!("{ns}_{}_{port}", b.service)),
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
                        Entry::Direct => {}
                    }
                    // Every app exposes its own request metrics (the kubernetes and Gateway API
                    // providers' built-in queries read these).
                    let labels = vec![
                        ("kubernetes_namespace", ns.clone()),
                        ("kubernetes_pod_name", pod_name(&deployment)),
                        ("status", status.to_owned()),
                    ];
                    self.observe(
                        "http_request_duration_seconds",
                        SECONDS_BUCKETS,
                        labels,
                        latency_ms / 1000.0,
                        n,
                    );
                }
            }
        }
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
