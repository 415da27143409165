use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::release::parse_canary;

fn spec(provider: &str, analysis: Value, service: Value) -> ReleaseSpec {
    let mut c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"provider": provider,
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"}}});
    c["spec"]["service"] = service;
    c["spec"]["analysis"] = analysis;
    parse_canary(&c, &Provider::Istio).unwrap()
}

fn ingress() -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": "web", "namespace": "prod", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
           "spec": {"rules": [{"host": "web.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
               "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}})
}

fn objects(s: &ReleaseSpec, canary: u8, mirror: bool) -> Vec<Value> {
    let ing = ingress();
    route(&RouteInput {
        spec: s,
        weights: Weights { canary, mirror },
        ingress: Some(&ing),
        canary_revision: "rev",
    })
    .unwrap()
}

/// (primary, canary) weights as each provider's object carries them.
fn read_weights(provider: &str, objs: &[Value]) -> (i64, i64) {
    let o = &objs[0];
    match provider {
        "istio" => (
            o["spec"]["http"][0]["route"][0]["weight"].as_i64().unwrap(),
            o["spec"]["http"][0]["route"][1]["weight"].as_i64().unwrap(),
        ),
        "gatewayapi:v1" => (
            o["spec"]["rules"][0]["backendRefs"][0]["weight"]
                .as_i64()
                .unwrap(),
            o["spec"]["rules"][0]["backendRefs"][1]["weight"]
                .as_i64()
                .unwrap(),
        ),
        // Flagger's SMI routers list the canary first; v1alpha1 (Linkerd's) writes quantities.
        "linkerd" => {
            let w = |i: usize| {
                o["spec"]["backends"][i]["weight"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            (w(1), w(0))
        }
        "osm" | "smi:v1alpha3" => (
            o["spec"]["backends"][1]["weight"].as_i64().unwrap(),
            o["spec"]["backends"][0]["weight"].as_i64().unwrap(),
        ),
        "traefik" => {
            let of = |name: &str| {
                o["spec"]["weighted"]["services"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|b| b["name"] == name)
                    .map_or(0, |b| b["weight"].as_i64().unwrap())
            };
            (of("web-primary"), of("web-canary"))
        }
        "nginx" => {
            let c: i64 = o["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            (100 - c, c)
        }
        _ => unreachable!(),
    }
}

proptest! {
    #[test]
    fn the_two_routes_always_sum_to_100(canary in 0u8..=100, p in 0usize..7) {
        let provider =
            ["istio", "gatewayapi:v1", "linkerd", "nginx", "osm", "smi:v1alpha3", "traefik"][p];
        let s = spec(provider, json!({"stepWeight": 10}),
                     json!({"port": 80, "gatewayRefs": [{"name": "gw", "namespace": "gw"}]}));
        let (pw, cw) = read_weights(provider, &objects(&s, canary, false));
        prop_assert_eq!(pw + cw, 100);
        prop_assert_eq!(cw, i64::from(canary));
    }
}

#[test]
fn services_select_primary_and_canary() {
    let s = spec(
        "istio",
        json!({"stepWeight": 10}),
        json!({"port": 80, "targetPort": "http",
        "apex": {"labels": {"team": "a"}}}),
    );
    let svcs = services(&s, &json!({}), "app", "web");
    let names: Vec<_> = svcs
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "web-primary", "web-canary"]);
    assert_eq!(svcs[0]["spec"]["selector"], json!({"app": "web-primary"}));
    assert_eq!(svcs[2]["spec"]["selector"], json!({"app": "web"}));
    assert_eq!(svcs[0]["metadata"]["labels"]["team"], "a");
    assert_eq!(svcs[0]["metadata"]["labels"]["app"], "web");
    assert_eq!(svcs[0]["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(
        svcs[1]["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"],
        "disabled"
    );
}

#[test]
fn port_discovery_adds_the_other_container_ports() {
    let s = spec(
        "istio",
        json!({"stepWeight": 10}),
        json!({"port": 80, "targetPort": 8080, "portDiscovery": true}),
    );
    let target = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "ports": [{"containerPort": 8080, "name": "http"},
                                  {"containerPort": 9090}, {"containerPort": 9797, "name": "metrics"}]},
        {"name": "istio-proxy", "ports": [{"containerPort": 15090}]}]}}}});
    let ports = |s: &ReleaseSpec| services(s, &target, "app", "web")[1]["spec"]["ports"].clone();
    assert_eq!(
        ports(&s),
        json!([{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
               {"name": "metrics", "protocol": "TCP", "port": 9797, "targetPort": 9797},
               {"name": "tcp-app-1", "protocol": "TCP", "port": 9090, "targetPort": 9090}])
    );
    let off = spec(
        "istio",
        json!({"stepWeight": 10}),
        json!({"port": 80, "targetPort": 8080}),
    );
    assert_eq!(ports(&off).as_array().unwrap().len(), 1);
}

#[test]
fn nginx_clones_the_ingress_and_uses_header_annotations_for_a_b() {
    let s = spec(
        "nginx",
        json!({"iterations": 3, "match": [{"headers": {"x-canary": {"exact": "insider"}}},
                                                           {"headers": {"cookie": {"exact": "canary"}}}]}),
        json!({"port": 80}),
    );
    let o = &objects(&s, 100, false)[0];
    assert_eq!(o["metadata"]["name"], "web-canary");
    assert_eq!(
        o["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "web-canary"
    );
    let a = &o["metadata"]["annotations"];
    assert_eq!(a["nginx.ingress.kubernetes.io/canary"], "true");
    assert_eq!(
        a["nginx.ingress.kubernetes.io/canary-by-header"],
        "x-canary"
    );
    assert_eq!(
        a["nginx.ingress.kubernetes.io/canary-by-header-value"],
        "insider"
    );
    assert_eq!(a["nginx.ingress.kubernetes.io/canary-by-cookie"], "canary");
    assert_eq!(a["kubernetes.io/ingress.class"], "nginx");
    // An Ingress without a backend for the service is refused with the reason.
    let bad = json!({"metadata": {"name": "web"}, "spec": {"rules": []}});
    let e = route(&RouteInput {
        spec: &s,
        weights: Weights {
            canary: 0,
            mirror: false,
        },
        ingress: Some(&bad),
        canary_revision: "r",
    })
    .unwrap_err();
    assert!(e.to_string().contains("no backend for service web"), "{e}");
}

#[test]
fn istio_hosts_gateways_ab_and_mirror() {
    let s = spec(
        "istio",
        json!({"stepWeight": 10, "mirror": true, "mirrorWeight": 50}),
        json!({"port": 9898, "hosts": ["web.example.com"], "gateways": ["public/gw"],
                        "trafficPolicy": {"tls": {"mode": "DISABLE"}}, "retries": {"attempts": 3}}),
    );
    let objs = objects(&s, 0, true);
    let vs = &objs[0]["spec"];
    assert_eq!(vs["hosts"], json!(["web.example.com", "web"]));
    assert_eq!(vs["gateways"], json!(["public/gw"]));
    assert_eq!(vs["http"][0]["mirror"]["host"], "web-canary");
    assert_eq!(vs["http"][0]["mirrorPercentage"]["value"], 50);
    assert_eq!(vs["http"][0]["retries"]["attempts"], 3);
    assert_eq!(
        objs[1]["spec"],
        json!({"host": "web-primary", "trafficPolicy": {"tls": {"mode": "DISABLE"}}})
    );
    let ab = spec(
        "istio",
        json!({"iterations": 2, "match": [{"headers": {"x": {"regex": "^a$"}}}]}),
        json!({"port": 80}),
    );
    let vs = &objects(&ab, 100, false)[0]["spec"];
    assert_eq!(vs["http"][0]["match"][0]["headers"]["x"]["regex"], "^a$");
    assert_eq!(vs["http"][0]["route"][1]["weight"], 100);
    assert_eq!(
        vs["http"][1]["route"],
        json!([{"destination": {"host": "web-primary"}, "weight": 0}])
    );
    assert_eq!(vs["gateways"], json!(["mesh"]));
}

#[test]
fn gateway_api_refuses_matches_it_cannot_express_naming_the_field() {
    let refused = |analysis: Value, service: Value| {
        let mut svc = json!({"port": 80, "gatewayRefs": [{"name": "gw"}]});
        svc.as_object_mut()
            .unwrap()
            .extend(service.as_object().unwrap().clone());
        let s = spec("gatewayapi:v1", analysis, svc);
        route(&RouteInput {
            spec: &s,
            weights: Weights {
                canary: 0,
                mirror: false,
            },
            ingress: None,
            canary_revision: "rev",
        })
        .unwrap_err()
        .to_string()
    };
    let e = refused(
        json!({"iterations": 2, "match": [{"headers": {"x-user": {"prefix": "beta-"}}}]}),
        json!({}),
    );
    assert!(
        e.contains("spec.analysis.match[0].headers.x-user: the Gateway API matches by exact or regex only, not prefix"),
        "{e}"
    );
    let e = refused(
        json!({"stepWeight": 10}),
        json!({"match": [{"uri": {"exact": "/"}}, {"method": {"regex": "GET|HEAD"}}]}),
    );
    assert!(
        e.contains("spec.service.match[1].method: the Gateway API matches a method by exact only"),
        "{e}"
    );
}

#[test]
fn gateway_api_session_affinity_and_a_b() {
    let s = spec(
        "gatewayapi:v1",
        json!({"stepWeight": 10, "sessionAffinity": {"cookieName": "flagger-cookie", "maxAge": 60}}),
        json!({"port": 80, "hosts": ["web.example.com"], "gatewayRefs": [{"name": "gw", "namespace": "gw"}]}),
    );
    let rules = objects(&s, 10, false)[0]["spec"]["rules"].clone();
    assert_eq!(rules.as_array().unwrap().len(), 2, "{rules}");
    let sticky = &rules[0]["matches"][0]["headers"][0];
    assert_eq!(sticky["name"], "Cookie");
    let cookie = format!("flagger-cookie={}; Max-Age=60", cookie_value("rev"));
    assert_eq!(
        rules[1]["backendRefs"][1]["filters"][0]["responseHeaderModifier"]["add"][0]["value"],
        cookie
    );
    // At weight 0 there is no cookie and no sticky rule.
    assert_eq!(
        objects(&s, 0, false)[0]["spec"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let ab = spec(
        "gatewayapi:v1",
        json!({"iterations": 2, "match": [{"headers": {"x-canary": {"exact": "insider"}}}]}),
        json!({"port": 80, "gatewayRefs": [{"name": "gw"}]}),
    );
    let rules = objects(&ab, 100, false)[0]["spec"]["rules"].clone();
    assert_eq!(
        rules[0]["matches"][0]["headers"],
        json!([{"name": "x-canary", "type": "Exact", "value": "insider"}])
    );
    assert_eq!(
        rules[0]["matches"][0]["path"],
        json!({"type": "PathPrefix", "value": "/"})
    );
    assert_eq!(rules[1]["backendRefs"][0]["name"], "web-primary");
}

#[test]
fn providers_without_a_router_say_so() {
    let s = spec("kuma", json!({"stepWeight": 10}), json!({"port": 80}));
    let e = route(&RouteInput {
        spec: &s,
        weights: Weights {
            canary: 0,
            mirror: false,
        },
        ingress: None,
        canary_revision: "r",
    })
    .unwrap_err();
    assert!(e.to_string().contains("provider kuma has no router"), "{e}");
}

#[test]
fn smi_traffic_splits_by_version_with_istio_gateways() {
    let s = spec(
        "smi:v1alpha1:istio",
        json!({"stepWeight": 10}),
        json!({"port": 80, "hosts": ["web.example.com"], "gateways": ["public/gw"]}),
    );
    let o = &objects(&s, 30, false)[0];
    assert_eq!(o["apiVersion"], "split.smi-spec.io/v1alpha1");
    assert_eq!(o["metadata"]["name"], "web");
    assert_eq!(o["spec"]["service"], "web.example.com");
    assert_eq!(
        o["spec"]["backends"],
        json!([{"service": "web-canary", "weight": "30"}, {"service": "web-primary", "weight": "70"}])
    );
    assert_eq!(
        o["metadata"]["annotations"]["VirtualService.v1alpha3.networking.istio.io/spec.gateways"],
        r#"["public/gw"]"#
    );
    // Without the istio mesh there is no gateway annotation; osm is v1alpha2.
    let s = spec(
        "smi:v1alpha2:linkerd",
        json!({"stepWeight": 10}),
        json!({"port": 80, "gateways": ["public/gw"]}),
    );
    let o = &objects(&s, 0, false)[0];
    assert_eq!(o["apiVersion"], "split.smi-spec.io/v1alpha2");
    assert_eq!(o["spec"]["service"], "web");
    assert!(
        o["metadata"]["annotations"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("VirtualService"))
    );
    let s = spec("osm", json!({"stepWeight": 10}), json!({"port": 80}));
    assert_eq!(
        objects(&s, 0, false)[0]["apiVersion"],
        "split.smi-spec.io/v1alpha2"
    );
}

#[test]
fn traefik_weights_a_traefik_service_leaving_an_idle_canary_out() {
    let s = spec(
        "traefik",
        json!({"stepWeight": 10}),
        json!({"port": 9898, "apex": {"annotations": {"team": "a"}}}),
    );
    let o = &objects(&s, 0, false)[0];
    assert_eq!(
        (
            o["apiVersion"].as_str(),
            o["kind"].as_str(),
            o["metadata"]["name"].as_str()
        ),
        (
            Some("traefik.io/v1alpha1"),
            Some("TraefikService"),
            Some("web")
        )
    );
    assert_eq!(o["metadata"]["annotations"]["team"], "a");
    assert_eq!(
        o["spec"]["weighted"]["services"],
        json!([{"name": "web-primary", "namespace": "prod", "port": 9898, "weight": 100}])
    );
    let o = &objects(&s, 40, false)[0];
    assert_eq!(
        o["spec"]["weighted"]["services"][1],
        json!({"name": "web-canary", "namespace": "prod", "port": 9898, "weight": 40})
    );
}
