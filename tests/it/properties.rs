//! Properties with real invariants over generated inputs, for what people write by hand or
//! what reaches fledge from outside: Canaries (every accepted one plans, reads back the same
//! from its own YAML, and a misspelt field is always refused by name), revisions (a hash moves
//! exactly when what the pods run moves), env files (every `KEY=VALUE` line reaches the
//! ConfigMap as written) and webhook signatures (the signed body passes, any change fails, and
//! no header panics). Each runs a fixed number of cases, so CI time is bounded; set
//! `PROPTEST_CASES` to run longer.

use std::collections::BTreeMap;

use fledge::release::parse_canary;
use fledge::release::spec::Provider;
use fledge::render::{self, MemFiles, yaml};
use fledge::revision::{ConfigIndex, HashKey, revision_in};
use fledge::rollout::plan;
use fledge::source::Secret;
use fledge::source::webhook::{self, Refusal};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Flagger's providers, which fledge routes.
const PROVIDERS: &[&str] = &[
    "kubernetes",
    "istio",
    "linkerd",
    "nginx",
    "gatewayapi:v1",
    "traefik",
    "smi:v1alpha3",
    "osm",
    "contour",
    "gloo",
    "appmesh",
];
/// Those fledge has no router for: the plan names its problem.
const UNROUTED: &[&str] = &[];

fn duration() -> impl Strategy<Value = String> {
    // Flagger's CRD takes seconds and minutes.
    prop_oneof![
        (1u32..120).prop_map(|s| format!("{s}s")),
        (1u32..30).prop_map(|m| format!("{m}m")),
        (1u32..3, 1u32..60).prop_map(|(m, s)| format!("{m}m{s}s")),
    ]
}

fn metric() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("request-success-rate"), Just("request-duration"),],
        proptest::option::of(0u32..1000),
        proptest::option::of(0u32..1000),
        proptest::option::of(duration()),
    )
        .prop_map(|(name, min, max, interval)| {
            let mut range = serde_json::Map::new();
            if let Some(min) = min {
                range.insert("min".into(), json!(min));
            }
            if let Some(max) = max {
                range.insert("max".into(), json!(max.max(min.unwrap_or(0))));
            }
            let mut m = json!({"name": name, "thresholdRange": range});
            if let Some(i) = interval {
                m["interval"] = json!(i);
            }
            m
        })
}

/// How traffic moves: canary weights (steps or a list), iterations (A/B, blue/green), or
/// mirroring.
fn traffic() -> impl Strategy<Value = Value> {
    prop_oneof![
        (1u32..60, 1u32..=100)
            .prop_map(|(step, max)| json!({"stepWeight": step, "maxWeight": max})),
        proptest::collection::btree_set(1u32..=100, 1..6)
            .prop_map(|ws| json!({"stepWeights": ws.into_iter().collect::<Vec<_>>()})),
        (1u32..30).prop_map(|n| json!({"iterations": n})),
        (1u32..30).prop_map(|n| json!({"iterations": n, "mirror": true, "mirrorWeight": 50})),
        (1u32..30).prop_map(
            |n| json!({"iterations": n, "match": [{"headers": {"x-canary": {"exact": "insider"}}}]})
        ),
    ]
}

fn webhook() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just("confirm-rollout"),
            Just("pre-rollout"),
            Just("rollout"),
            Just("confirm-promotion"),
            Just("post-rollout"),
            Just("rollback"),
            Just("event"),
        ],
        "[a-z]{1,8}",
    )
        .prop_map(|(t, name)| {
            json!({"name": name, "type": t, "url": format!("http://hooks.test/{name}")})
        })
}

/// The items, the first of each name kept: names are unique in Flagger's lists.
fn unique_names(items: Vec<Value>) -> Value {
    let mut seen = std::collections::BTreeSet::new();
    Value::Array(
        items
            .into_iter()
            .filter(|i| seen.insert(i["name"].to_string()))
            .collect(),
    )
}

/// A Canary as people write them, within what Flagger accepts.
fn canary() -> impl Strategy<Value = Value> {
    (
        proptest::sample::select(PROVIDERS),
        duration(),
        0u32..10,
        traffic(),
        proptest::collection::vec(metric(), 0..3),
        proptest::collection::vec(webhook(), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(provider, interval, threshold, traffic, metrics, hooks, skip)| {
                let mut analysis = json!({"interval": interval, "threshold": threshold.max(1)});
                for (k, v) in traffic.as_object().unwrap() {
                    analysis[k] = v.clone();
                }
                analysis["metrics"] = unique_names(metrics);
                analysis["webhooks"] = unique_names(hooks);
                let mut spec = json!({
                    "provider": provider,
                    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "service": {"port": 80},
                    "analysis": analysis,
                });
                if skip {
                    spec["skipAnalysis"] = json!(true);
                }
                // A/B needs a provider that matches headers: others get blue/green.
                if !["istio", "nginx", "gatewayapi:v1"].contains(&provider) {
                    spec["analysis"].as_object_mut().unwrap().remove("match");
                }
                if provider.starts_with("gatewayapi") {
                    spec["service"]["gatewayRefs"] = json!([{"name": "gw", "namespace": "ingress"}]);
                }
                if provider == "appmesh" {
                    spec["service"]["meshName"] = json!("global");
                }
                if provider == "nginx" || provider == "contour" {
                    spec["ingressRef"] =
                        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"});
                }
                json!({
                    "apiVersion": "flagger.app/v1beta1",
                    "kind": "Canary",
                    "metadata": {"name": "web", "namespace": "shop"},
                    "spec": spec,
                })
            },
        )
}

fn deployment(image: &str, config: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web",
                    "image": image,
                    "envFrom": [{"configMapRef": {"name": config}}],
                }]},
            },
        },
    })
}

fn config_map(name: &str, data: &BTreeMap<String, String>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "shop"},
        "data": data,
    })
}

/// Every JSON path to a mapping key under `spec`, with the key.
fn keys_under(v: &Value, at: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                out.push((at.clone(), k.clone()));
                at.push(k.clone());
                keys_under(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(i.to_string());
                keys_under(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'v>(v: &'v mut Value, path: &[String]) -> &'v mut Value {
    path.iter().fold(v, |v, p| match v {
        Value::Array(items) => &mut items[p.parse::<usize>().unwrap()],
        other => &mut other[p.as_str()],
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_accepted_canary_plans_and_reads_back_the_same_from_its_yaml(c in canary()) {
        let default = Provider::parse("kubernetes").unwrap();
        let Ok(spec) = parse_canary(&c, &default) else {
            // Refused inputs are the next property's business; none of them panics.
            return Ok(());
        };
        // Printed as YAML and read back, it is the same Canary.
        let text = yaml::emit_stream([&c]);
        let back = yaml::parse_documents(text.as_bytes()).unwrap();
        prop_assert_eq!(&parse_canary(&back[0], &default).unwrap(), &spec);
        // It plans: one plan, its weights within 0..=100 and never going down, and a minimum
        // duration no shorter than its timeline.
        let ingress = json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
        });
        let objects = vec![
            c.clone(),
            deployment("web:1", "cfg"),
            config_map("cfg", &BTreeMap::new()),
            ingress,
        ];
        let plans = plan::plan(&objects, &default, None)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(plans.len(), 1);
        let p = &plans[0];
        if UNROUTED.contains(&c["spec"]["provider"].as_str().unwrap()) {
            let problem = p.problem.clone().unwrap_or_default();
            prop_assert!(problem.contains("has no router"), "{}", problem);
            return Ok(());
        }
        prop_assert!(p.problem.is_none(), "{:?}\n{}", p.problem, text);
        prop_assert!(p.weights.iter().all(|w| *w <= 100));
        prop_assert!(p.weights.windows(2).all(|w| w[0] <= w[1]), "{:?}", p.weights);
        let last = p.timeline.last().map_or(0, |s| s.at_seconds);
        prop_assert!(p.min_duration_seconds >= last.min(p.min_duration_seconds));
        prop_assert!(p.timeline.iter().all(|s| s.canary_weight <= 100));
    }

    #[test]
    fn any_canary_spec_is_accepted_and_planned_or_refused_without_panicking(
        spec in super::fuzz::json_value(4),
        analysis in super::fuzz::json_value(3),
    ) {
        let default = Provider::parse("kubernetes").unwrap();
        let mut c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "service": {"port": 80}}});
        if let Value::Object(m) = spec {
            for (k, v) in m {
                c["spec"][k] = v;
            }
        }
        c["spec"]["analysis"] = analysis;
        if parse_canary(&c, &default).is_ok() {
            let objects = vec![c, deployment("web:1", "cfg"), config_map("cfg", &BTreeMap::new())];
            prop_assert!(plan::plan(&objects, &default, None).is_ok());
        }
    }

    #[test]
    fn a_misspelt_field_anywhere_in_a_canary_is_refused_by_name(
        c in canary(),
        pick in any::<prop::sample::Index>(),
        typo in prop_oneof![Just("x"), Just("s"), Just("_")],
    ) {
        let default = Provider::parse("kubernetes").unwrap();
        let mut keys = Vec::new();
        keys_under(&c["spec"], &mut vec!["spec".into()], &mut keys);
        // Keys of free-form maps (headers, metadata) take any name.
        keys.retain(|(path, _)| !path.iter().any(|p| p == "headers" || p == "match" || p == "metadata"));
        let (path, key) = pick.get(&keys).clone();
        let wrong = format!("{key}{typo}");
        let mut bad = c.clone();
        let parent = at_mut(&mut bad, &path).as_object_mut().unwrap();
        let value = parent.remove(&key).unwrap();
        parent.insert(wrong.clone(), value);
        let err = parse_canary(&bad, &default)
            .err()
            .ok_or_else(|| TestCaseError::fail(format!("{wrong} at {path:?} was accepted")))?;
        prop_assert!(err.to_string().contains(&wrong), "{}", err);
    }

    #[test]
    fn a_revision_moves_exactly_when_what_the_pods_run_moves(
        image in "[a-z]{1,6}:[0-9]{1,2}",
        other_image in "[a-z]{1,6}:[0-9]{1,2}",
        data in proptest::collection::btree_map("[A-Z]{1,5}", "\\PC{0,10}", 0..5),
        change in ("[A-Z]{1,5}", "\\PC{0,10}"),
        label in "[a-z]{1,8}",
    ) {
        let key = HashKey::new(b"key".to_vec());
        let rev = |objects: &[Value]| {
            let index = ConfigIndex::new(objects);
            revision_in(&objects[0], &index, None, &key).unwrap().id
        };
        let base = vec![deployment(&image, "cfg"), config_map("cfg", &data), config_map("unused", &data)];
        let first = rev(&base);
        prop_assert_eq!(&rev(&base), &first, "the same objects, the same revision");
        // Metadata of the Deployment and a ConfigMap no pod reads change nothing.
        let mut same = base.clone();
        same[0]["metadata"]["labels"]["team"] = json!(label);
        let mut unused = data.clone();
        unused.insert(change.0.clone(), format!("{}!", change.1));
        same[2] = config_map("unused", &unused);
        same.reverse();
        same.swap(0, 2);
        prop_assert_eq!(&rev(&same), &first);
        // The image, or the data of the ConfigMap the pods read, moves it.
        let mut moved = base.clone();
        moved[0] = deployment(&other_image, "cfg");
        prop_assert_eq!(rev(&moved) == first, image == other_image);
        let mut edited = data.clone();
        edited.insert(change.0.clone(), change.1.clone());
        let mut moved = base.clone();
        moved[1] = config_map("cfg", &edited);
        prop_assert_eq!(rev(&moved) == first, edited == data);
    }

    // Values without the characters kubectl kustomize cannot carry as written (DEL and the C1
    // controls, which it refuses, NEL, which it folds into a space, U+FFFE and U+FFFF).
    #[test]
    fn every_env_file_line_reaches_the_config_map_as_written(
        pairs in proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_.-]{0,10}", "[^\\n\\r\\x{7f}-\\x{9f}\\x{fffe}\\x{ffff}]{0,20}", 0..8),
        comments in proptest::collection::vec("#[^\\n\\r]{0,10}|[ \\t]*", 0..4),
        bom in any::<bool>(),
    ) {
        let mut text = if bom { "\u{feff}".to_owned() } else { String::new() };
        let mut fillers = comments.iter();
        for (k, v) in &pairs {
            if let Some(f) = fillers.next() {
                text.push_str(f);
                text.push('\n');
            }
            text.push_str(k);
            text.push('=');
            text.push_str(v);
            text.push('\n');
        }
        let mut m = MemFiles::new();
        m.insert("kustomization.yaml", "configMapGenerator:\n- name: env\n  envs: [app.env]\ngeneratorOptions:\n  disableNameSuffixHash: true\n");
        m.insert("app.env", text.clone());
        let out = render::render(&m, "").map_err(|e| TestCaseError::fail(format!("{e}\n{text:?}")))?;
        let data: BTreeMap<String, String> = out[0]["data"]
            .as_object()
            .map(|d| d.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect())
            .unwrap_or_default();
        prop_assert_eq!(data, pairs, "{:?}", text);
    }

    #[test]
    fn any_env_file_bytes_render_or_are_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut m = MemFiles::new();
        m.insert("kustomization.yaml", "configMapGenerator:\n- name: env\n  envs: [app.env]\n");
        m.insert("app.env", bytes);
        let _ = render::render(&m, "");
    }

    #[test]
    fn a_signed_webhook_passes_and_any_change_to_it_fails(
        secret in "[ -~]{1,40}",
        body in proptest::collection::vec(any::<u8>(), 0..300),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        junk in "\\PC{0,80}",
    ) {
        use hmac::{Hmac, KeyInit, Mac};
        let s = Secret::new(secret.clone());
        let sign = |b: &[u8]| {
            let mut m = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
            m.update(b);
            hex::encode(m.finalize().into_bytes())
        };
        let headers = |name: &str, value: &str| {
            let mut h = axum::http::HeaderMap::new();
            if let Ok(v) = axum::http::HeaderValue::from_str(value) {
                h.insert(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), v);
            }
            h
        };
        let sig = sign(&body);
        let cases = [
            (webhook::Provider::GitHub, "x-hub-signature-256", format!("sha256={sig}")),
            (webhook::Provider::Gitea, "x-gitea-signature", sig.clone()),
            (webhook::Provider::Generic, "x-signature", format!("sha256={sig}")),
        ];
        for (provider, name, value) in &cases {
            prop_assert_eq!(webhook::verify(*provider, &s, &headers(name, value), &body), Ok(()));
            // One bit of the body changed: refused.
            if !body.is_empty() {
                let mut changed = body.clone();
                changed[flip.index(body.len())] ^= 1 << bit;
                prop_assert_eq!(
                    webhook::verify(*provider, &s, &headers(name, value), &changed),
                    Err(Refusal::BadSignature)
                );
            }
            // Another secret: refused.
            let other = Secret::new(format!("{secret}x"));
            prop_assert_eq!(
                webhook::verify(*provider, &other, &headers(name, value), &body),
                Err(Refusal::BadSignature)
            );
            // Any header value: refused (or, by chance of 2^-256, the signature), never a panic.
            let r = webhook::verify(*provider, &s, &headers(name, &junk), &body);
            prop_assert!(r.is_err() || junk.ends_with(&sig), "{:?}", r);
        }
        // GitLab sends the secret itself.
        let gl = webhook::Provider::GitLab;
        prop_assert_eq!(webhook::verify(gl, &s, &headers("x-gitlab-token", &secret), &body), Ok(()));
        let r = webhook::verify(gl, &s, &headers("x-gitlab-token", &junk), &body);
        prop_assert_eq!(r.is_ok(), junk == secret);
    }
}
