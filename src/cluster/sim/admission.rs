//! What the simulated cluster refuses, as a real API server does, so that the paths that
//! handle a refused apply are tested without one: names that are not valid for their kind,
//! Secret `data` and ConfigMap `binaryData` that is not base64, objects over the server's size
//! limits (a request body over 3 MiB, a ConfigMap's or Secret's data over 1 MiB, annotations
//! over 256 KiB), and kinds the cluster does not serve (built-in kinds, the kinds of every mesh
//! and router fledge supports, as if they were installed, and the kinds of the
//! CustomResourceDefinitions applied to it).
//!
//! Refusals use the server's words after the object's name. The sizes are checked on the object
//! as applied, which is the object the server validates when fledge is its only field manager.

use base64::Engine as _;
use serde_json::Value;

use crate::object::{BUILTIN_GROUPS, ObjectKey, secret_data, split_api_version};

/// The largest request body the API server reads (k8s.io/apiserver `pkg/server/config.go`,
/// `MaxRequestBodyBytes`); a larger one is refused with 413 before it is decoded. fledge sends
/// each object as the compact JSON body of one server-side apply.
const MAX_REQUEST_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The most bytes of data a ConfigMap (`data` and `binaryData`, decoded) or a Secret (`data`,
/// decoded, with `stringData` folded in) holds: `core.MaxSecretSize` in k8s.io/kubernetes
/// `pkg/apis/core/validation` (`ValidateConfigMap`, `ValidateSecret`).
const MAX_DATA_BYTES: usize = 1024 * 1024;

/// The most bytes of annotation keys and values an object carries (k8s.io/apimachinery
/// `pkg/api/validation`, `TotalAnnotationSizeLimitB`).
const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

/// The groups of the routers' and fledge's own custom resources, served as if installed.
const INSTALLED_GROUPS: &[&str] = &[
    "fledge.dev",
    "flagger.app",
    "networking.istio.io",
    "gateway.networking.k8s.io",
    "split.smi-spec.io",
    "traefik.io",
    "projectcontour.io",
    "gloo.solo.io",
    "gateway.solo.io",
    "apisix.apache.org",
    "appmesh.k8s.aws",
    "kuma.io",
    "serving.knative.dev",
    "keda.sh",
    "policy.linkerd.io",
];

/// Kinds whose names are DNS-1123 labels (at most 63 characters, no dots).
const LABEL_NAMED: &[(&str, &str)] = &[("", "Namespace"), ("", "Service")];

/// Whether `crd` defines `kind` in `group`.
#[must_use]
pub fn defines(crd: &Value, group: &str, kind: &str) -> bool {
    crd["kind"] == "CustomResourceDefinition"
        && crd["spec"]["group"] == group
        && crd["spec"]["names"]["kind"] == kind
}

/// Why the server would refuse `obj`. `has_crd(group, kind)` says whether the cluster holds a
/// CRD for a kind outside the built-in and installed groups (asked only for those).
pub fn refusal(obj: &Value, has_crd: impl FnOnce(&str, &str) -> bool) -> Option<String> {
    let key = ObjectKey::of(obj)?;
    let (group, _) = split_api_version(obj["apiVersion"].as_str().unwrap_or(""));
    let served = BUILTIN_GROUPS.contains(&group)
        || INSTALLED_GROUPS.contains(&group)
        || has_crd(group, &key.kind);
    if !served {
        return Some(format!(
            "{key}: no matches for kind \"{}\" in version \"{}\": install its CustomResourceDefinition first",
            key.kind,
            obj["apiVersion"].as_str().unwrap_or("")
        ));
    }
    // The body is read (and refused when too large) before anything in it is validated.
    let body = serde_json::to_vec(obj).map_or(0, |b| b.len());
    if body > MAX_REQUEST_BODY_BYTES {
        return Some(format!(
            "{key}: Request entity too large: limit is {MAX_REQUEST_BODY_BYTES} (its JSON is {body} bytes)"
        ));
    }
    if let Some(problem) = name_problem(&key) {
        return Some(format!(
            "{key}: metadata.name: Invalid value: \"{}\": {problem}",
            key.name
        ));
    }
    if annotation_bytes(obj) > MAX_ANNOTATION_BYTES {
        return Some(format!(
            "{key}: metadata.annotations: Too long: may not be more than {MAX_ANNOTATION_BYTES} bytes"
        ));
    }
    match (key.group.as_str(), key.kind.as_str()) {
        ("", "Secret") => secret_problem(obj).map(|p| format!("{key}: {p}")),
        ("", "ConfigMap") => config_map_problem(obj).map(|p| format!("{key}: {p}")),
        _ => None,
    }
}

/// The fields the server never lets an update change, by group and kind (k8s.io/kubernetes
/// `pkg/apis/*/validation`, `Validate*Update`): a workload's `spec.selector`, a StatefulSet's
/// `serviceName`, `podManagementPolicy` and `volumeClaimTemplates`, a Job's `spec.template`.
const IMMUTABLE: &[(&str, &str, &[&str])] = &[
    ("apps", "Deployment", &["selector"]),
    ("apps", "ReplicaSet", &["selector"]),
    ("apps", "DaemonSet", &["selector"]),
    (
        "apps",
        "StatefulSet",
        &[
            "selector",
            "serviceName",
            "podManagementPolicy",
            "volumeClaimTemplates",
        ],
    ),
    ("batch", "Job", &["selector", "template"]),
];

/// Why the server refuses `obj` as an update of `existing`: a field it never lets change, a
/// Service's `clusterIP`, or the data of a ConfigMap or Secret marked `immutable`, in the
/// server's words after the object's name.
#[must_use]
pub fn update_refusal(existing: &Value, obj: &Value) -> Option<String> {
    let key = ObjectKey::of(obj)?;
    let immutable = |field: &str| format!("{key}: {field}: Invalid value: field is immutable");
    let spec = |o: &Value, f: &str| o["spec"].get(f).cloned();
    match (key.group.as_str(), key.kind.as_str()) {
        ("", "Service") => {
            let (old, new) = (spec(existing, "clusterIP"), spec(obj, "clusterIP"));
            let set = |v: &Option<Value>| {
                v.as_ref()
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
            };
            (set(&old) && set(&new) && old != new).then(|| {
                format!(
                    "{key}: spec.clusterIPs[0]: Invalid value: {new:?}: may not change once set"
                )
            })
        }
        ("", "ConfigMap" | "Secret") if existing["immutable"] == true => {
            let changed = ["data", "binaryData", "stringData"]
                .iter()
                .any(|f| obj.get(*f).is_some_and(|v| Some(v) != existing.get(*f)));
            changed.then(|| {
                format!("{key}: data: Forbidden: field is immutable when `immutable` is set")
            })
        }
        (group, kind) => IMMUTABLE
            .iter()
            .find(|(g, k, _)| *g == group && *k == kind)
            .and_then(|(_, _, fields)| {
                fields.iter().find(|f| {
                    spec(obj, f).is_some_and(|new| spec(existing, f).is_some_and(|old| old != new))
                })
            })
            .map(|f| immutable(&format!("spec.{f}"))),
    }
}

/// The bytes of every annotation's key and value, as the server counts them.
fn annotation_bytes(obj: &Value) -> usize {
    obj["metadata"]["annotations"]
        .as_object()
        .map_or(0, |a| a.iter().map(|(k, v)| k.len() + text_len(v)).sum())
}

/// The length of a string value; another value counts as its JSON (the server would refuse
/// its type anyway).
fn text_len(v: &Value) -> usize {
    v.as_str().map_or_else(|| v.to_string().len(), str::len)
}

fn decode(v: &Value) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str()?)
        .ok()
}

fn config_map_problem(obj: &Value) -> Option<String> {
    let mut total: usize = obj["data"]
        .as_object()
        .map_or(0, |d| d.values().map(text_len).sum());
    if let Some(binary) = obj["binaryData"].as_object() {
        for (k, v) in binary {
            match decode(v) {
                Some(bytes) => total += bytes.len(),
                None => return Some(format!("binaryData[{k}]: illegal base64 data")),
            }
        }
    }
    // The server names the whole object with an empty field path, printed `[]`.
    (total > MAX_DATA_BYTES).then(|| {
        format!(
            "[]: Too long: may not be more than {MAX_DATA_BYTES} bytes (data and binaryData hold {total})"
        )
    })
}

fn name_problem(key: &ObjectKey) -> Option<&'static str> {
    let name = key.name.as_str();
    if key.group == "rbac.authorization.k8s.io" {
        // RBAC names are path segments (`system:controller:x` is valid).
        return (name == "." || name == ".." || name.contains(['/', '%']))
            .then_some("may not be '.' or '..' and may not contain '/' or '%'");
    }
    let label = LABEL_NAMED
        .iter()
        .any(|(g, k)| key.group == *g && key.kind == *k);
    let (max, parts): (usize, Vec<&str>) = if label {
        (63, vec![name])
    } else {
        (253, name.split('.').collect())
    };
    if name.len() > max {
        return Some(if label {
            "must be no more than 63 characters"
        } else {
            "must be no more than 253 characters"
        });
    }
    let ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !p.starts_with('-')
            && !p.ends_with('-')
    };
    (!parts.iter().all(|p| ok(p))).then_some(if label {
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
    } else {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
    })
}

fn secret_problem(obj: &Value) -> Option<String> {
    if let Some(data) = obj["data"].as_object()
        && let Some(k) = data
            .iter()
            .find_map(|(k, v)| decode(v).is_none().then_some(k))
    {
        return Some(format!("data[{k}]: illegal base64 data"));
    }
    // `stringData` is folded into `data` before validation, each key replacing the same key.
    let data = secret_data(obj)?;
    let total: usize = data
        .as_object()?
        .values()
        .map(|v| decode(v).map_or(0, |b| b.len()))
        .sum();
    (total > MAX_DATA_BYTES).then(|| {
        format!(
            "data: Too long: may not be more than {MAX_DATA_BYTES} bytes (with stringData it holds {total})"
        )
    })
}

#[cfg(test)]
mod tests;
