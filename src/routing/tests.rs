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
        route: None,
        canary_revision: "rev",
        upstream: None,
        canary_ran: false,
        selector: None,
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
        "kuma" => (
            o["spec"]["conf"]["split"][0]["weight"].as_i64().unwrap(),
            o["spec"]["conf"]["split"][1]["weight"].as_i64().unwrap(),
        ),
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
    fn the_two_routes_always_sum_to_100(canary in 0u8..=100, p in 0usize..8) {
        let provider =
            ["istio", "gatewayapi:v1", "linkerd", "nginx", "osm", "smi:v1alpha3", "traefik", "kuma"][p];
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
        route: None,
        canary_revision: "r",
        upstream: None,
        canary_ran: false,
        selector: None,
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
            route: None,
            canary_revision: "rev",
            upstream: None,
            canary_ran: false,
            selector: None,
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
    let value = cookie_value("rev");
    // The sticky rule: requests with the cookie go to the canary only.
    assert_eq!(
        rules[0]["matches"][0]["headers"],
        json!([{"name": "Cookie", "type": "RegularExpression", "value": format!(".*flagger-cookie.*{value}.*")}])
    );
    assert_eq!(
        rules[0]["backendRefs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["name"].clone(), b["weight"].clone()))
            .collect::<Vec<_>>(),
        [
            (json!("web-primary"), json!(0)),
            (json!("web-canary"), json!(100))
        ]
    );
    // The split sets the same cookie on the canary's responses.
    assert_eq!(
        rules[1]["backendRefs"][1]["filters"][0]["responseHeaderModifier"]["add"][0]["value"],
        format!("flagger-cookie={value}; Max-Age=60")
    );
    // At weight 0, before any run: the split alone, as Flagger's route after initialisation.
    let idle = objects(&s, 0, false)[0]["spec"]["rules"].clone();
    assert_eq!(idle.as_array().unwrap().len(), 1, "{idle}");
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

/// `primaryCookieName` and the cookie attributes (Flagger 1.44): the primary's responses set
/// its cookie for one interval, requests with it stay on the primary; once the canary's
/// traffic is back to zero after a run, requests with its cookie have it expired.
#[test]
fn istio_and_gateway_api_pin_sessions_to_both_sides_and_expire_the_runs_cookie() {
    let affinity = json!({"cookieName": "c", "primaryCookieName": "p", "maxAge": 60,
        "domain": "a.example.com", "path": "/", "sameSite": "Strict", "httpOnly": true,
        "partitioned": true, "secure": true});
    let analysis = json!({"interval": "30s", "stepWeight": 10, "sessionAffinity": affinity});
    let canary = cookie_value("rev");
    let primary = cookie_value("rev/primary");
    let attributes = "Domain=a.example.com; HttpOnly; Partitioned; Path=/; SameSite=Strict; Secure";
    let run = |s: &ReleaseSpec, weight, ran| {
        route(&RouteInput {
            spec: s,
            weights: Weights {
                canary: weight,
                mirror: false,
            },
            ingress: None,
            route: None,
            canary_revision: "rev",
            upstream: None,
            canary_ran: ran,
            selector: None,
        })
        .unwrap()
    };
    let istio = spec("istio", analysis.clone(), json!({"port": 80}));
    let http = run(&istio, 10, false)[0]["spec"]["http"].clone();
    let cookie_match = |name: &str, value: &str| json!([{"headers": {"Cookie": {"regex": format!(".*{name}.*{value}.*")}}}]);
    assert_eq!(http[0]["match"], cookie_match("c", &canary));
    assert_eq!(http[0]["route"][1]["weight"], 100);
    assert_eq!(http[1]["match"], cookie_match("p", &primary));
    assert_eq!(http[1]["route"][0]["weight"], 100);
    assert_eq!(
        http[2]["route"][1]["headers"]["response"]["add"]["Set-Cookie"],
        format!("c={canary}; Max-Age=60; {attributes}")
    );
    assert_eq!(
        http[2]["route"][0]["headers"]["response"]["add"]["Set-Cookie"],
        format!("p={primary}; Max-Age=30; {attributes}")
    );
    let idle = run(&istio, 0, true)[0]["spec"]["http"].clone();
    assert_eq!(idle[0]["match"], cookie_match("c", &canary));
    assert_eq!(
        idle[0]["headers"]["response"]["add"]["Set-Cookie"],
        format!("c={canary}; Max-Age=-1")
    );
    assert_eq!(idle[1]["route"][1]["weight"], 0);

    let gateway = spec(
        "gatewayapi:v1",
        analysis,
        json!({"port": 80, "gatewayRefs": [{"name": "gw"}]}),
    );
    let rules = run(&gateway, 10, false)[0]["spec"]["rules"].clone();
    assert_eq!(rules.as_array().unwrap().len(), 3, "{rules}");
    assert_eq!(
        rules[1]["matches"][0]["headers"][0]["value"],
        format!(".*p.*{primary}.*")
    );
    let set = |b: &Value| b["filters"][0]["responseHeaderModifier"]["add"][0]["value"].clone();
    assert_eq!(
        set(&rules[2]["backendRefs"][0]),
        format!("p={primary}; Max-Age=30; {attributes}")
    );
    let idle = run(&gateway, 0, true)[0]["spec"]["rules"].clone();
    assert_eq!(
        idle[0]["filters"][0]["responseHeaderModifier"]["add"][0]["value"],
        format!("c={canary}; Max-Age=-1")
    );
}

/// Gateway API filters Flagger 1.44 writes from `spec.service`: CORS from Istio's
/// `corsPolicy`, and a rewrite of the authority.
#[test]
fn gateway_api_cors_and_authority_rewrite() {
    let s = spec(
        "gatewayapi:v1",
        json!({"stepWeight": 10}),
        json!({"port": 80, "gatewayRefs": [{"name": "gw"}], "rewrite": {"authority": "b.example.com"},
               "corsPolicy": {"allowOrigin": ["https://a.example.com"], "allowOrigins": [{"exact": "https://c"}],
                              "allowMethods": ["GET"], "allowHeaders": ["x-a"], "exposeHeaders": ["x-b"],
                              "allowCredentials": true, "maxAge": "1h30m"}}),
    );
    let filters = objects(&s, 10, false)[0]["spec"]["rules"][0]["filters"].clone();
    assert_eq!(
        filters,
        json!([
            {"type": "URLRewrite", "urlRewrite": {"hostname": "b.example.com"}},
            {"type": "CORS", "cors": {"allowOrigins": ["https://a.example.com"], "allowMethods": ["GET"],
                                      "allowHeaders": ["x-a"], "exposeHeaders": ["x-b"],
                                      "allowCredentials": true, "maxAge": 5400}}
        ])
    );
    assert!(
        s.unhonoured
            .iter()
            .any(|w| w.starts_with("spec.service.corsPolicy.allowOrigins")),
        "{:?}",
        s.unhonoured
    );
}

#[test]
fn providers_without_a_router_say_so() {
    // Every provider Flagger's CRD lists has a router: one it may add later stands in.
    let mut s = spec("kubernetes", json!({"stepWeight": 10}), json!({"port": 80}));
    s.provider = Provider::Other("later".into());
    let e = route(&RouteInput {
        spec: &s,
        weights: Weights {
            canary: 0,
            mirror: false,
        },
        ingress: None,
        route: None,
        canary_revision: "r",
        upstream: None,
        canary_ran: false,
        selector: None,
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("provider later has no router"),
        "{e}"
    );
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

#[test]
fn kuma_routes_in_the_canarys_mesh_without_a_namespace() {
    let mut c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod", "annotations": {"kuma.io/mesh": "payments"}},
        "spec": {"provider": "kuma",
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "service": {"port": 8080}, "analysis": {"stepWeight": 10}}});
    let objs = objects(&parse_canary(&c, &Provider::Istio).unwrap(), 20, false);
    let route = &objs[0];
    assert_eq!(route["kind"], "TrafficRoute");
    assert_eq!(route["mesh"], "payments");
    assert!(route["metadata"].get("namespace").is_none(), "{route}");
    assert_eq!(
        route["spec"]["destinations"][0]["match"]["kuma.io/service"],
        "web_prod_svc_8080"
    );
    assert_eq!(
        route["spec"]["conf"]["split"][1]["destination"]["kuma.io/service"],
        "web-canary_prod_svc_8080"
    );
    c["metadata"]["annotations"] = json!({});
    let objs = objects(&parse_canary(&c, &Provider::Istio).unwrap(), 20, false);
    assert_eq!(objs[0]["mesh"], "default");
}

#[test]
fn gloo_upstreams_repeat_the_services_selectors_and_a_prefix_match_is_refused() {
    let s = spec(
        "gloo",
        json!({"iterations": 2, "match": [{"headers": {"x-canary": {"exact": "insider"}}}]}),
        json!({"port": 9898}),
    );
    let input = |s| RouteInput {
        spec: s,
        weights: Weights {
            canary: 100,
            mirror: false,
        },
        ingress: None,
        route: None,
        canary_revision: "r",
        upstream: None,
        canary_ran: false,
        selector: Some(("app.kubernetes.io/name", "web")),
    };
    let objs = route(&input(&s)).unwrap();
    let (primary, canary, table) = (&objs[0], &objs[1], &objs[2]);
    assert_eq!(primary["metadata"]["name"], "prod-web-primaryupstream-9898");
    assert_eq!(
        primary["spec"]["kube"]["selector"],
        json!({"app.kubernetes.io/name": "web-primary"})
    );
    assert_eq!(canary["spec"]["kube"]["serviceName"], "web-canary");
    let route0 = &table["spec"]["routes"][0];
    assert_eq!(
        route0["matchers"],
        json!([{"headers": [{"name": "x-canary", "value": "insider"}]}])
    );
    // A weight of 0 is left out, as Flagger's omitempty does.
    let dests = &route0["routeAction"]["multi"]["destinations"];
    assert!(dests[0].get("weight").is_none() && dests[1]["weight"] == 100);
    let prefix = spec(
        "gloo",
        json!({"iterations": 2, "match": [{"headers": {"x-canary": {"prefix": "ins"}}}]}),
        json!({"port": 9898}),
    );
    let e = route(&input(&prefix)).unwrap_err().to_string();
    assert!(e.contains("spec.analysis.match[0].headers.x-canary"), "{e}");
}

#[test]
fn gloo_upstreams_copy_the_settings_of_the_upstream_ref() {
    let mut s = spec("gloo", json!({"stepWeight": 10}), json!({"port": 9898}));
    s.upstream = Some(crate::release::spec::ObjectRef {
        api_version: "gloo.solo.io/v1".into(),
        kind: "Upstream".into(),
        name: "config-upstream".into(),
        namespace: Some("gloo-system".into()),
    });
    let config = json!({"apiVersion": "gloo.solo.io/v1", "kind": "Upstream",
        "metadata": {"name": "config-upstream", "namespace": "gloo-system", "labels": {"team": "a"}},
        "spec": {"kube": {"serviceName": "other", "servicePort": 1},
                 "labels": {"tier": "web"},
                 "sslConfig": {"sni": "web.example.com", "secretRef": {"name": "tls", "namespace": "gloo-system"}},
                 "circuitBreakers": {"maxConnections": 10},
                 "connectionConfig": {},
                 "loadBalancerConfig": {"roundRobin": {}},
                 "useHttp2": true,
                 "initialStreamWindowSize": 0,
                 "httpProxyHostname": "proxy.example.com",
                 "discoveryMetadata": {"labels": {"x": "y"}}}});
    let input = |upstream| RouteInput {
        spec: &s,
        weights: Weights {
            canary: 10,
            mirror: false,
        },
        ingress: None,
        route: None,
        canary_revision: "r",
        upstream,
        canary_ran: false,
        selector: Some(("app", "web")),
    };
    let e = route(&input(None)).unwrap_err().to_string();
    assert!(
        e.contains("spec.upstreamRef") && e.contains("gloo-system/config-upstream"),
        "{e}"
    );
    let objs = route(&input(Some(&config))).unwrap();
    for (u, service) in [(&objs[0], "web-primary"), (&objs[1], "web-canary")] {
        assert_eq!(
            u["spec"],
            json!({"kube": {"serviceName": service, "serviceNamespace": "prod", "servicePort": 9898,
                            "selector": {"app": if service == "web-primary" { "web-primary" } else { "web" }}},
                   "labels": {"tier": "web"},
                   "sslConfig": {"sni": "web.example.com", "secretRef": {"name": "tls", "namespace": "gloo-system"}},
                   "circuitBreakers": {"maxConnections": 10},
                   "connectionConfig": {},
                   "loadBalancerConfig": {"roundRobin": {}},
                   "useHttp2": true,
                   "httpProxyHostname": "proxy.example.com"}),
            "{u}"
        );
        assert!(u["metadata"]["labels"].get("team").is_none());
    }
}

#[test]
fn apisix_copies_the_users_route_at_the_top_priority_with_both_backends() {
    let mut c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"provider": "apisix",
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "routeRef": {"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute", "name": "shop"},
                 "service": {"port": 80}, "analysis": {"stepWeight": 10}}});
    let s = parse_canary(&c, &Provider::Istio).unwrap();
    let user = json!({"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute",
        "metadata": {"name": "shop", "namespace": "prod", "labels": {"team": "a"}},
        "spec": {"http": [
            {"name": "other", "match": {"paths": ["/x"]}, "backends": [{"serviceName": "other", "servicePort": 80}]},
            {"name": "main", "match": {"paths": ["/*"]}, "timeout": {"read": "5s"},
             "backends": [{"serviceName": "web", "servicePort": 80, "subset": "v1"}]}]}});
    let input = |s, route| RouteInput {
        spec: s,
        weights: Weights {
            canary: 30,
            mirror: false,
        },
        ingress: None,
        route,
        canary_revision: "r",
        upstream: None,
        canary_ran: false,
        selector: None,
    };
    let objs = route(&input(&s, Some(&user))).unwrap();
    let copy = &objs[0];
    assert_eq!(copy["metadata"]["name"], "shop-web-canary");
    assert_eq!(copy["metadata"]["labels"]["team"], "a");
    let http = copy["spec"]["http"].as_array().unwrap();
    assert_eq!(http.len(), 1);
    assert_eq!(http[0]["name"], "main");
    assert_eq!(http[0]["priority"], 10_000);
    assert_eq!(http[0]["timeout"]["connect"], "0s");
    assert_eq!(
        http[0]["backends"],
        json!([{"serviceName": "web-primary", "servicePort": 80, "subset": "v1", "weight": 70},
               {"serviceName": "web-canary", "servicePort": 80, "subset": "v1", "weight": 30}])
    );
    let e = route(&input(&s, None)).unwrap_err().to_string();
    assert!(
        e.contains("ApisixRoute prod/shop (spec.routeRef) is not in the repository"),
        "{e}"
    );
    c["spec"].as_object_mut().unwrap().remove("routeRef");
    let s = parse_canary(&c, &Provider::Istio).unwrap();
    let e = route(&input(&s, Some(&user))).unwrap_err().to_string();
    assert!(e.contains("spec.routeRef is required"), "{e}");
}

fn appmesh_objects(c: &Value, canary: u8) -> Vec<Value> {
    let s = parse_canary(c, &Provider::Istio).unwrap();
    route(&RouteInput {
        spec: &s,
        weights: Weights {
            canary,
            mirror: false,
        },
        ingress: None,
        route: None,
        canary_revision: "r",
        upstream: None,
        canary_ran: false,
        selector: Some(("app.kubernetes.io/name", "web")),
    })
    .unwrap()
}

#[test]
fn appmesh_writes_virtual_nodes_routers_and_services_as_flaggers_v1beta2_router() {
    let c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod", "annotations": {"appmesh.flagger.app/accesslog": "enabled"}},
        "spec": {"provider": "appmesh:v1beta2",
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "service": {"port": 80, "targetPort": 9898, "portName": "grpc-api", "timeout": "15s",
                     "retries": {"attempts": 3, "perTryTimeout": "5s", "retryOn": "gateway-error,client-error"},
                     "hosts": ["web.example.com", "shop.example.com"],
                     "backends": ["backend1", "arn:aws:appmesh:eu-west-1:000000000000:mesh/global/virtualService/backend2"],
                     "match": [{"uri": {"prefix": "/api"}}],
                     "apex": {"labels": {"team": "a"}}},
                 "analysis": {"stepWeight": 10}}});
    let objs = appmesh_objects(&c, 30);
    let kinds: Vec<String> = objs
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "VirtualNode/web-primary",
            "VirtualNode/web-canary",
            "VirtualRouter/web",
            "VirtualService/web",
            "VirtualRouter/web-canary",
            "VirtualService/web-canary"
        ]
    );
    let primary = &objs[0];
    assert_eq!(primary["metadata"]["labels"]["team"], "a");
    assert_eq!(
        primary["spec"],
        json!({
            "listeners": [{"portMapping": {"port": 9898, "protocol": "grpc"},
                           "timeout": {"http": {"perRequest": {"unit": "ms", "value": 15000}}}}],
            "serviceDiscovery": {"dns": {"hostname": "web-primary.prod.svc.cluster.local."}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "web-primary"}},
            "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}},
            "backends": [
                {"virtualService": {"virtualServiceRef": {"name": "backend1"}}},
                {"virtualService": {"virtualServiceARN": "arn:aws:appmesh:eu-west-1:000000000000:mesh/global/virtualService/backend2"}}
            ]
        })
    );
    assert_eq!(
        objs[1]["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        "web"
    );
    let route0 = &objs[2]["spec"]["routes"][0];
    assert_eq!(route0["name"], "web");
    assert_eq!(
        route0["httpRoute"],
        json!({
            "match": {"prefix": "/api"},
            "timeout": {"perRequest": {"unit": "ms", "value": 15000}},
            "retryPolicy": {"perRetryTimeout": {"unit": "ms", "value": 5000}, "maxRetries": 3,
                            "httpRetryEvents": ["gateway-error", "client-error"]},
            "action": {"weightedTargets": [
                {"virtualNodeRef": {"name": "web-canary"}, "weight": 30},
                {"virtualNodeRef": {"name": "web-primary"}, "weight": 70}]}
        })
    );
    let annotations = &objs[3]["metadata"]["annotations"];
    assert_eq!(annotations["gateway.appmesh.k8s.aws/expose"], "true");
    assert_eq!(
        annotations["gateway.appmesh.k8s.aws/domain"],
        "web.example.com,shop.example.com,"
    );
    assert_eq!(annotations["gateway.appmesh.k8s.aws/timeout"], "15s");
    assert_eq!(annotations["gateway.appmesh.k8s.aws/retries"], "3");
    assert_eq!(
        objs[3]["spec"]["provider"]["virtualRouter"]["virtualRouterRef"]["name"],
        "web"
    );
    // The canary's router sends everything to the canary; its service has no gateway.
    let canary_route = &objs[4]["spec"]["routes"][0];
    assert_eq!(canary_route["name"], "web-canary");
    assert_eq!(
        canary_route["httpRoute"]["action"]["weightedTargets"][0]["weight"],
        100
    );
    assert!(
        objs[5]["metadata"]["annotations"]
            .get("gateway.appmesh.k8s.aws/expose")
            .is_none()
    );
}

#[test]
fn appmesh_a_b_routes_matching_headers_on_one_route_and_the_rest_to_the_primary() {
    let c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"provider": "appmesh:v1beta2",
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "service": {"port": 80},
                 "analysis": {"iterations": 2, "match": [
                     {"headers": {"x-canary": {"exact": "insider"}}},
                     {"headers": {"user-agent": {"regex": ".*Firefox.*"}}}]}}});
    let objs = appmesh_objects(&c, 100);
    assert!(objs[0]["spec"].get("logging").is_none());
    assert!(objs[0]["spec"]["listeners"][0].get("timeout").is_none());
    let routes = &objs[2]["spec"]["routes"];
    assert_eq!(routes[0]["name"], "web-a");
    assert_eq!(routes[0]["priority"], 10);
    assert_eq!(
        routes[0]["httpRoute"]["match"],
        json!({"prefix": "/", "headers": [
            {"name": "x-canary", "match": {"exact": "insider"}},
            {"name": "user-agent", "match": {"regex": ".*Firefox.*"}}]})
    );
    assert_eq!(
        routes[0]["httpRoute"]["action"]["weightedTargets"][0],
        json!({"virtualNodeRef": {"name": "web-canary"}, "weight": 100})
    );
    assert_eq!(
        routes[1],
        json!({"name": "web-b", "priority": 20, "httpRoute": {"match": {"prefix": "/"},
            "action": {"weightedTargets": [{"virtualNodeRef": {"name": "web-primary"}, "weight": 100}]}}})
    );
    assert_eq!(objs[4]["spec"]["routes"].as_array().unwrap().len(), 1);
}

#[test]
fn appmesh_retries_default_as_flaggers_and_unused_fields_are_reported() {
    let c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"provider": "appmesh:v1beta2",
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "service": {"port": 8080, "targetPort": "http", "meshName": "global", "retries": {},
                     "match": [{"uri": {"prefix": "/api"}, "method": {"exact": "GET"}}]},
                 "analysis": {"iterations": 2, "match": [{"headers": {"x": {"prefix": "a"}}, "queryParams": {"q": {"exact": "1"}}}]}}});
    let objs = appmesh_objects(&c, 0);
    assert_eq!(
        objs[0]["spec"]["listeners"][0]["portMapping"],
        json!({"port": 8080, "protocol": "http"})
    );
    assert_eq!(
        objs[2]["spec"]["routes"][0]["httpRoute"]["retryPolicy"],
        json!({"perRetryTimeout": {"unit": "ms", "value": 250}, "maxRetries": 1,
               "httpRetryEvents": ["gateway-error"]})
    );
    assert_eq!(
        objs[2]["spec"]["routes"][0]["httpRoute"]["match"]["headers"],
        json!([{"name": "x", "match": {"prefix": "a"}}])
    );
    let s = parse_canary(&c, &Provider::Istio).unwrap();
    let reported = s.unhonoured.join("\n");
    for field in [
        "spec.service.meshName",
        "spec.service.match[0].method",
        "spec.analysis.match[0].queryParams",
    ] {
        assert!(reported.contains(field), "{field} not reported: {reported}");
    }
    assert!(
        !reported.contains("spec.service.match[0].uri"),
        "{reported}"
    );
}

#[test]
fn an_http_route_not_accepted_by_a_parent_at_its_generation_holds_the_traffic() {
    let route = |status: &str, observed: i64| {
        json!({"metadata": {"name": "web", "namespace": "prod", "generation": 3},
               "spec": {"parentRefs": [{"name": "gw", "namespace": "gateways"}, {"name": "other"}]},
               "status": {"parents": [
                   {"parentRef": {"name": "other"}, "conditions": [{"type": "Accepted", "status": "True", "observedGeneration": 3}]},
                   {"parentRef": {"name": "gw", "namespace": "gateways"},
                    "conditions": [{"type": "ResolvedRefs", "status": "False", "observedGeneration": 1},
                                   {"type": "Accepted", "status": status, "observedGeneration": observed}]}]}})
    };
    assert_eq!(crate::routing::not_accepted(&route("True", 3)), None);
    let refused = crate::routing::not_accepted(&route("False", 3)).unwrap();
    assert!(
        refused.contains("parent gw") && refused.contains("Accepted False"),
        "{refused}"
    );
    let stale = crate::routing::not_accepted(&route("True", 2)).unwrap();
    assert!(
        stale.contains("observed generation 2, generation 3"),
        "{stale}"
    );
    // No status yet (no Gateway controller reported): nothing to wait for.
    let mut fresh = route("False", 3);
    fresh["status"] = json!({});
    assert_eq!(crate::routing::not_accepted(&fresh), None);
}

#[test]
fn services_leave_the_unmanaged_metadata_keys_to_others() {
    let s = spec(
        "kubernetes",
        json!({"iterations": 2}),
        json!({"port": 80,
               "apex": {"annotations": {"lb.example.com/pool": "a", "team": "shop"}, "labels": {"tier": "web"}},
               "unmanagedMetadata": {"annotations": ["lb.example.com/pool", "kustomize.toolkit.fluxcd.io/reconcile"],
                                     "labels": ["fledge.dev/release", "tier"]}}),
    );
    let target = json!({"spec": {"template": {"spec": {"containers": []}}}});
    let svcs = crate::routing::services(&s, &target, "app", "web");
    let apex = &svcs[0]["metadata"];
    assert!(
        apex["annotations"].get("lb.example.com/pool").is_none(),
        "{apex}"
    );
    assert!(
        apex["annotations"]
            .get("kustomize.toolkit.fluxcd.io/reconcile")
            .is_none(),
        "{apex}"
    );
    assert_eq!(apex["annotations"]["team"], "shop");
    assert!(apex["labels"].get("tier").is_none(), "{apex}");
    // fledge's own label stays: it finds what it generated by it.
    assert_eq!(apex["labels"]["fledge.dev/release"], "web");
}

#[test]
fn contour_proxies_carry_the_ingress_class_of_the_daemon() {
    let mut s = spec("contour", json!({"stepWeight": 10}), json!({"port": 80}));
    let proxy = |s: &ReleaseSpec| objects(s, 10, false)[0]["spec"].clone();
    assert!(proxy(&s).get("ingressClassName").is_none());
    s.ingress_class = Some("contour-internal".into());
    assert_eq!(proxy(&s)["ingressClassName"], "contour-internal");
}

fn knative_target() -> Value {
    json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "prod", "annotations": {"team": "a"}},
           "spec": {"template": {"spec": {"containers": [{"image": "web:2"}]}},
                    "traffic": [{"tag": "blue", "revisionName": "web-00007", "percent": 100}]}})
}

/// Flagger's knative router: the latest revision first at the canary's weight, the primary
/// revision (named by the annotation) at the rest; Git's own traffic replaced.
#[test]
fn knative_splits_between_the_latest_and_the_primary_revision() {
    let w = |canary| Weights {
        canary,
        mirror: false,
    };
    for canary in [0_u8, 10, 50, 100] {
        let s = knative::service(&knative_target(), Some("web-00001"), w(canary));
        assert_eq!(
            s["spec"]["traffic"],
            json!([{"latestRevision": true, "percent": canary},
                   {"revisionName": "web-00001", "percent": 100 - canary}])
        );
        assert_eq!(
            s["metadata"]["annotations"],
            json!({"team": "a", keys::KNATIVE_PRIMARY_REVISION: "web-00001"})
        );
        assert_eq!(s["spec"]["template"], knative_target()["spec"]["template"]);
    }
    // No revision yet: Knative's default route (everything to the latest revision).
    let s = knative::service(&knative_target(), None, w(0));
    assert!(s["spec"].get("traffic").is_none(), "{s}");
    assert!(s["metadata"]["annotations"][keys::KNATIVE_PRIMARY_REVISION].is_null());
}

/// What Knative reports it routes, read back as Flagger's `GetRoutes` reads it.
#[test]
fn knative_reads_the_routed_shares_from_the_status() {
    let mut s = knative::service(
        &knative_target(),
        Some("web-00001"),
        Weights {
            canary: 30,
            mirror: false,
        },
    );
    assert_eq!(knative::routed(&s), None, "no status yet");
    s["status"]["traffic"] = json!([
        {"revisionName": "web-00002", "latestRevision": true, "percent": 30},
        {"revisionName": "web-00001", "latestRevision": false, "percent": 70}]);
    assert_eq!(knative::routed(&s), Some((70, 30)));
    s["metadata"]["annotations"][keys::KNATIVE_PRIMARY_REVISION] = json!("web-00009");
    assert_eq!(
        knative::routed(&s),
        None,
        "the primary revision is not routed"
    );
}

#[test]
fn plain_appmesh_writes_virtual_nodes_and_services_as_flaggers_v1beta1_router() {
    let c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod", "annotations": {"appmesh.flagger.app/accesslog": "enabled"}},
        "spec": {"provider": "appmesh",
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "service": {"port": 80, "targetPort": 9898, "portName": "grpc-api", "meshName": "global",
                     "timeout": "15s",
                     "retries": {"attempts": 3, "perTryTimeout": "5s", "retryOn": "gateway-error,client-error"},
                     "hosts": ["web.example.com"], "backends": ["backend1", "backend2.shop"],
                     "match": [{"uri": {"prefix": "/api"}}],
                     "apex": {"labels": {"team": "a"}}},
                 "analysis": {"stepWeight": 10}}});
    let objs = appmesh_objects(&c, 30);
    let kinds: Vec<String> = objs
        .iter()
        .map(|o| {
            format!(
                "{} {}/{}",
                o["apiVersion"].as_str().unwrap(),
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "appmesh.k8s.aws/v1beta1 VirtualNode/web",
            "appmesh.k8s.aws/v1beta1 VirtualNode/web-primary",
            "appmesh.k8s.aws/v1beta1 VirtualNode/web-canary",
            "appmesh.k8s.aws/v1beta1 VirtualService/web.prod",
            "appmesh.k8s.aws/v1beta1 VirtualService/web-canary.prod",
        ]
    );
    // The apex's node is found where the primary's is, as Flagger writes it.
    let node = |host: &str| {
        json!({
            "meshName": "global",
            "listeners": [{"portMapping": {"port": 80, "protocol": "grpc"}}],
            "serviceDiscovery": {"dns": {"hostName": host}},
            "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}},
            "backends": [{"virtualService": {"virtualServiceName": "backend1"}},
                         {"virtualService": {"virtualServiceName": "backend2.shop"}}]
        })
    };
    assert_eq!(objs[0]["spec"], node("web-primary.prod"));
    assert_eq!(objs[1]["spec"], node("web-primary.prod"));
    assert_eq!(objs[2]["spec"], node("web-canary.prod"));
    assert_eq!(objs[1]["metadata"]["labels"]["team"], "a");
    assert_eq!(
        objs[3]["spec"],
        json!({
            "meshName": "global",
            "virtualRouter": {"name": "web", "listeners": [{"portMapping": {"port": 80, "protocol": "grpc"}}]},
            "routes": [{"name": "web", "http": {
                "match": {"prefix": "/api"},
                "retryPolicy": {"perRetryTimeoutMillis": 5000, "maxRetries": 3,
                                "httpRetryEvents": ["gateway-error", "client-error"]},
                "action": {"weightedTargets": [
                    {"virtualNodeName": "web-canary", "weight": 30},
                    {"virtualNodeName": "web-primary", "weight": 70}]}}}]
        })
    );
    let annotations = &objs[3]["metadata"]["annotations"];
    assert_eq!(
        annotations["gateway.appmesh.k8s.aws/domain"],
        "web.example.com,"
    );
    assert_eq!(annotations["gateway.appmesh.k8s.aws/timeout"], "15s");
    assert!(objs[3]["metadata"]["labels"].get("team").is_none());
    let canary = &objs[4];
    assert_eq!(canary["spec"]["virtualRouter"]["name"], "web-canary");
    assert_eq!(canary["spec"]["routes"][0]["name"], "web-canary");
    assert_eq!(
        canary["spec"]["routes"][0]["http"]["action"]["weightedTargets"],
        json!([{"virtualNodeName": "web-canary", "weight": 100},
               {"virtualNodeName": "web-primary", "weight": 0}])
    );
    assert!(
        canary["metadata"]["annotations"]
            .get("gateway.appmesh.k8s.aws/expose")
            .is_none()
    );
    let s = parse_canary(&c, &Provider::Istio).unwrap();
    assert_eq!(s.provider.to_string(), "appmesh");
    assert!(
        !s.unhonoured.join("\n").contains("spec.service.meshName"),
        "{:?}",
        s.unhonoured
    );
}

#[test]
fn plain_appmesh_a_b_routes_and_requires_a_mesh_name() {
    let mut c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"provider": "appmesh",
                 "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "service": {"port": 80, "meshName": "global", "timeout": "5s"},
                 "analysis": {"iterations": 2, "match": [
                     {"headers": {"x-canary": {"exact": "insider"}}},
                     {"headers": {"user-agent": {"regex": ".*Firefox.*"}}}]}}});
    let objs = appmesh_objects(&c, 100);
    assert!(objs[0]["spec"].get("logging").is_none());
    let routes = &objs[3]["spec"]["routes"];
    assert_eq!(
        routes[0],
        json!({"name": "web-a", "priority": 10, "http": {
            "match": {"prefix": "/", "headers": [
                {"name": "x-canary", "match": {"exact": "insider"}},
                {"name": "user-agent", "match": {"regex": ".*Firefox.*"}}]},
            "action": {"weightedTargets": [{"virtualNodeName": "web-canary", "weight": 100},
                                           {"virtualNodeName": "web-primary", "weight": 0}]}}})
    );
    assert_eq!(
        routes[1],
        json!({"name": "web-b", "priority": 20, "http": {"match": {"prefix": "/"},
            "action": {"weightedTargets": [{"virtualNodeName": "web-primary", "weight": 100}]}}})
    );
    assert_eq!(objs[4]["spec"]["routes"].as_array().unwrap().len(), 1);
    let s = parse_canary(&c, &Provider::Istio).unwrap();
    assert!(
        s.unhonoured
            .iter()
            .any(|u| u.starts_with("spec.service.timeout")),
        "{:?}",
        s.unhonoured
    );
    c["spec"]["service"]
        .as_object_mut()
        .unwrap()
        .remove("meshName");
    let e = parse_canary(&c, &Provider::Istio).unwrap_err().to_string();
    assert!(e.contains("spec.service.meshName: is required"), "{e}");
}
