//! What the simulated cluster refuses, as a real API server does, so that the paths that
//! handle a refused apply are tested without one: names that are not valid for their kind,
//! Secret `data` that is not base64, and kinds the cluster does not serve (built-in kinds, the
//! kinds of every mesh and router fledge supports, as if they were installed, and the kinds of
//! the CustomResourceDefinitions applied to it).

use serde_json::Value;

use crate::object::{BUILTIN_GROUPS, ObjectKey, split_api_version};

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
    if let Some(problem) = name_problem(&key) {
        return Some(format!(
            "{key}: metadata.name: Invalid value: \"{}\": {problem}",
            key.name
        ));
    }
    if key.group.is_empty() && key.kind == "Secret" {
        return secret_problem(obj).map(|p| format!("{key}: {p}"));
    }
    None
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
    use base64::Engine as _;
    let data = obj["data"].as_object()?;
    data.iter().find_map(|(k, v)| {
        let bad = v
            .as_str()
            .is_none_or(|s| base64::engine::general_purpose::STANDARD.decode(s).is_err());
        bad.then(|| format!("data[{k}]: illegal base64 data"))
    })
}

#[cfg(test)]
mod tests;
