//! `nginx`: a canary Ingress `<ingressRef>-canary`, a clone of the user's Ingress whose
//! backend `<svc>` becomes `<svc>-canary`, steered by ingress-nginx's canary annotations:
//! `canary-weight` for progressive traffic, `canary-by-header`/`-value`/`-pattern` or
//! `canary-by-cookie` for A/B (flagger-spec §8). The user's Ingress is not touched.

use serde_json::{Value, json};

use super::{Error, RouteInput, Router, is_ab, kept_annotations, metadata, user_ingress};
use crate::keys;

pub(crate) struct Nginx;

const PREFIX: &str = "nginx.ingress.kubernetes.io";

fn retarget(v: &mut Value, from: &str, to: &str) -> usize {
    let mut n = 0;
    match v {
        Value::Object(m) => {
            if let Some(svc) = m.get_mut("service")
                && svc["name"] == from
            {
                svc["name"] = json!(to);
                n += 1;
            }
            for (_, child) in m.iter_mut() {
                n += retarget(child, from, to);
            }
        }
        Value::Array(a) => {
            for child in a {
                n += retarget(child, from, to);
            }
        }
        _ => {}
    }
    n
}

impl Router for Nginx {
    fn objects(&self, input: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        let spec = input.spec;
        let invalid = |message: String| Error::Invalid {
            release: spec.key(),
            message,
        };
        let (ingress_name, ingress) = user_ingress(input)?;
        let mut body = ingress["spec"].clone();
        let apex = &spec.service.name;
        if retarget(&mut body, apex, &keys::canary(apex)) == 0 {
            return Err(invalid(format!(
                "Ingress {}/{ingress_name} has no backend for service {apex}; the canary Ingress needs one to redirect",
                spec.namespace
            )));
        }
        let mut annotations =
            kept_annotations(ingress, |k| k.starts_with(&format!("{PREFIX}/canary")));
        annotations.insert(format!("{PREFIX}/canary"), json!("true"));
        let w = input.weights.canary;
        if is_ab(spec) && w > 0 {
            for m in &spec.analysis.matches {
                for (name, cond) in m["headers"].as_object().into_iter().flatten() {
                    if name == "cookie" {
                        if let Some(c) = cond["exact"].as_str() {
                            annotations.insert(format!("{PREFIX}/canary-by-cookie"), json!(c));
                        }
                    } else {
                        annotations.insert(format!("{PREFIX}/canary-by-header"), json!(name));
                        if let Some(v) = cond["exact"].as_str() {
                            annotations
                                .insert(format!("{PREFIX}/canary-by-header-value"), json!(v));
                        }
                        if let Some(v) = cond["regex"].as_str() {
                            annotations
                                .insert(format!("{PREFIX}/canary-by-header-pattern"), json!(v));
                        }
                    }
                }
            }
            annotations.insert(format!("{PREFIX}/canary-weight"), json!("0"));
        } else {
            annotations.insert(format!("{PREFIX}/canary-weight"), json!(w.to_string()));
        }
        let extra = json!({"labels": ingress["metadata"]["labels"], "annotations": annotations});
        let meta = metadata(spec, &keys::canary(&ingress_name), &extra);
        Ok(vec![json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": meta,
            "spec": body,
        })])
    }
}
