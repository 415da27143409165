//! The order `kubectl kustomize` prints objects in.

use super::object::Resource;

/// kustomize's default ("legacy") order: kinds in a fixed order, then by kind string,
/// namespace and name.
pub(super) fn legacy_sort(rs: &mut [Resource], first: Option<&[String]>, last: Option<&[String]>) {
    const FIRST: &[&str] = &[
        "Namespace",
        "ResourceQuota",
        "StorageClass",
        "CustomResourceDefinition",
        "ServiceAccount",
        "PodSecurityPolicy",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "ConfigMap",
        "Secret",
        "Endpoints",
        "Service",
        "LimitRange",
        "PriorityClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "Deployment",
        "StatefulSet",
        "CronJob",
        "PodDisruptionBudget",
    ];
    const LAST: &[&str] = &[
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ];
    let first: Vec<&str> = first.map_or_else(
        || FIRST.to_vec(),
        |f| f.iter().map(String::as_str).collect(),
    );
    let last: Vec<&str> =
        last.map_or_else(|| LAST.to_vec(), |l| l.iter().map(String::as_str).collect());
    let order = |kind: &str| -> i64 {
        #[allow(clippy::cast_possible_wrap)]
        if let Some(i) = first.iter().position(|k| *k == kind) {
            i as i64 - first.len() as i64
        } else if let Some(i) = last.iter().position(|k| *k == kind) {
            1 + i as i64
        } else {
            0
        }
    };
    rs.sort_by_cached_key(|r| {
        let gvk = r.gvk();
        let ns = if r.namespace().is_empty() {
            "~X"
        } else {
            r.namespace()
        };
        let name = if r.name().is_empty() { "~N" } else { r.name() };
        (
            order(&gvk.kind),
            gvk.legacy_sort_string(),
            format!("{ns}|{name}"),
        )
    });
}
