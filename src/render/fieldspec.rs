//! Field specs: "this path, in objects of this kind", the way kustomize's transformers find
//! the fields they change, and the default tables for every built-in transformer.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::object::Gvk;

/// A path into objects of the selected kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "RawFieldSpec")]
pub struct FieldSpec {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub path: String,
    pub create: bool,
    /// `path` split once, since every object visited walks it.
    segments: Vec<String>,
}

/// A field spec as written in YAML.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFieldSpec {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
    path: String,
    #[serde(default)]
    create: bool,
}

impl From<RawFieldSpec> for FieldSpec {
    fn from(r: RawFieldSpec) -> Self {
        let mut fs = Self::new(&r.kind, &r.group, &r.path, r.create);
        fs.version = r.version;
        fs
    }
}

impl FieldSpec {
    /// A spec for `path` in objects of `kind` (any kind when empty) in `group` (any when empty).
    #[must_use]
    pub fn new(kind: &str, group: &str, path: &str, create: bool) -> Self {
        Self {
            group: group.to_owned(),
            version: String::new(),
            kind: kind.to_owned(),
            path: path.to_owned(),
            create,
            segments: split_path(path),
        }
    }

    #[must_use]
    pub fn gvk(&self) -> Gvk {
        Gvk {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
        }
    }

    /// True when the spec applies to objects of `gvk`.
    #[must_use]
    pub fn selects(&self, gvk: &Gvk) -> bool {
        gvk.is_selected_by(&self.gvk())
    }

    /// The path split into field names (`\/` escapes a slash inside a name; `[]` is dropped).
    #[must_use]
    pub fn segments(&self) -> &[String] {
        &self.segments
    }
}

/// Splits a `/`-separated field path; `\/` is a literal slash. A name that ends in `[]`
/// keeps the mark: it names a list, which is walked but never created.
#[must_use]
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// What to create when the last field of a path is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Map,
    Scalar,
}

/// Calls `f` on every field `segments` reaches in `value`. Sequences on the way are walked
/// element by element. With `create`, missing fields are made (maps on the way, `kind` at the
/// end) except a list (`name[]`); otherwise paths that do not exist are skipped. A scalar
/// where the path goes on is an error, as in kustomize.
pub fn visit(
    value: &mut Value,
    segments: &[String],
    create: Option<Create>,
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        return f(value);
    };
    let (name, list) = first
        .strip_suffix("[]")
        .map_or((first.as_str(), false), |n| (n, true));
    match value {
        Value::Array(items) => {
            for item in items {
                visit(item, segments, create, f)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            let present = map.get(name).is_some_and(|v| !v.is_null());
            if !present {
                let Some(kind) = create.filter(|_| !list) else {
                    return Ok(());
                };
                let fresh = if rest.is_empty() && kind == Create::Scalar {
                    Value::Null
                } else {
                    Value::Object(Map::new())
                };
                map.insert(name.to_owned(), fresh);
            }
            let child = map.get_mut(name).expect("present or just inserted");
            visit(child, rest, create, f)
        }
        Value::Null => Ok(()),
        other => Err(format!(
            "expected a mapping or a list where the path goes on to `{name}`, found {other}"
        )),
    }
}

/// Puts an error of [`visit`] in context: the object and the field spec's path.
pub fn at<'a>(
    id: &'a dyn std::fmt::Display,
    spec: &'a FieldSpec,
) -> impl Fn(String) -> String + 'a {
    move |e| format!("{id}: field spec `{}`: {e}", spec.path)
}

/// A name-reference rule: fields that hold the name of an object of kind `target`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NameBackRef {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    pub kind: String,
    #[serde(default)]
    pub field_specs: Vec<FieldSpec>,
}

impl NameBackRef {
    #[must_use]
    pub fn gvk(&self) -> Gvk {
        Gvk {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
        }
    }
}

/// The field specs every built-in transformer uses; `configurations:` files add to them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformerConfig {
    #[serde(default)]
    pub name_prefix: Vec<FieldSpec>,
    #[serde(default)]
    pub name_suffix: Vec<FieldSpec>,
    #[serde(default)]
    pub namespace: Vec<FieldSpec>,
    #[serde(default)]
    pub common_labels: Vec<FieldSpec>,
    #[serde(default)]
    pub template_labels: Vec<FieldSpec>,
    /// Specs every `labels:` entry of a kustomization uses besides its own.
    #[serde(default)]
    pub labels: Vec<FieldSpec>,
    #[serde(default)]
    pub common_annotations: Vec<FieldSpec>,
    #[serde(default)]
    pub images: Vec<FieldSpec>,
    #[serde(default)]
    pub replicas: Vec<FieldSpec>,
    #[serde(default)]
    pub name_reference: Vec<NameBackRef>,
    #[serde(default)]
    pub var_reference: Vec<FieldSpec>,
}

/// Adds the specs of `from` that `into` does not already cover, as kustomize's `MergeOne`
/// does: a spec is covered by one with the same path whose group, version and kind it selects
/// (so a general spec added after a narrower one with its path is dropped).
fn add_unique(into: &mut Vec<FieldSpec>, from: &[FieldSpec]) -> Result<(), String> {
    for fs in from {
        match into
            .iter()
            .find(|e| e.path == fs.path && e.gvk().is_selected_by(&fs.gvk()))
        {
            None => into.push(fs.clone()),
            Some(e) if e.create != fs.create => {
                return Err(format!(
                    "conflicting field specs for `{}` (kind `{}` and kind `{}`): one creates the field, the other does not (kustomize refuses them); make them agree",
                    fs.path, e.kind, fs.kind
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

impl TransformerConfig {
    /// True when it adds nothing to the defaults.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.name_prefix.is_empty()
            && self.name_suffix.is_empty()
            && self.namespace.is_empty()
            && self.common_labels.is_empty()
            && self.template_labels.is_empty()
            && self.labels.is_empty()
            && self.common_annotations.is_empty()
            && self.images.is_empty()
            && self.replicas.is_empty()
            && self.name_reference.is_empty()
            && self.var_reference.is_empty()
    }

    /// Adds another config's specs (used for `configurations:` and for sub-kustomizations).
    ///
    /// # Errors
    /// Two specs for one path that disagree on creating it.
    pub fn merge(&mut self, other: &TransformerConfig) -> Result<(), String> {
        add_unique(&mut self.name_prefix, &other.name_prefix)?;
        add_unique(&mut self.name_suffix, &other.name_suffix)?;
        add_unique(&mut self.namespace, &other.namespace)?;
        add_unique(&mut self.common_labels, &other.common_labels)?;
        add_unique(&mut self.template_labels, &other.template_labels)?;
        add_unique(&mut self.labels, &other.labels)?;
        add_unique(&mut self.common_annotations, &other.common_annotations)?;
        add_unique(&mut self.images, &other.images)?;
        add_unique(&mut self.replicas, &other.replicas)?;
        add_unique(&mut self.var_reference, &other.var_reference)?;
        for rule in &other.name_reference {
            match self
                .name_reference
                .iter_mut()
                .find(|r| r.gvk() == rule.gvk())
            {
                Some(existing) => add_unique(&mut existing.field_specs, &rule.field_specs)?,
                None => self.name_reference.push(rule.clone()),
            }
        }
        Ok(())
    }

    /// kustomize's built-in tables.
    #[must_use]
    pub fn defaults() -> Self {
        let mut c = Self {
            name_prefix: vec![FieldSpec::new("", "", "metadata/name", false)],
            name_suffix: vec![FieldSpec::new("", "", "metadata/name", false)],
            ..Self::default()
        };
        c.namespace = vec![
            FieldSpec::new("Namespace", "", "metadata/name", true),
            FieldSpec::new(
                "APIService",
                "apiregistration.k8s.io",
                "spec/service/namespace",
                true,
            ),
            FieldSpec::new(
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                "spec/conversion/webhook/clientConfig/service/namespace",
                false,
            ),
        ];
        c.template_labels = template_label_specs();
        c.common_labels = common_label_specs();
        c.common_annotations = common_annotation_specs();
        for prefix in ["spec", "spec/template/spec"] {
            for what in ["containers", "initContainers"] {
                c.images.push(FieldSpec::new(
                    "",
                    "",
                    &format!("{prefix}/{what}[]/image"),
                    true,
                ));
            }
            c.images.push(FieldSpec::new(
                "",
                "",
                &format!("{prefix}/volumes[]/image/reference"),
                true,
            ));
        }
        for kind in [
            "Deployment",
            "ReplicationController",
            "ReplicaSet",
            "StatefulSet",
        ] {
            c.replicas
                .push(FieldSpec::new(kind, "", "spec/replicas", true));
        }
        c.var_reference = var_reference_specs();
        c.name_reference = name_reference_rules();
        c
    }
}

/// Where each workload kind keeps its pod spec.
const POD_SPECS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("PodTemplate", "template/spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicaSet", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
];

fn template_label_specs() -> Vec<FieldSpec> {
    let mut v = vec![FieldSpec::new("", "", "metadata/labels", true)];
    for (kind, group, path) in [
        ("ReplicationController", "", "spec/template/metadata/labels"),
        ("Deployment", "", "spec/template/metadata/labels"),
        ("ReplicaSet", "", "spec/template/metadata/labels"),
        ("DaemonSet", "", "spec/template/metadata/labels"),
        ("StatefulSet", "apps", "spec/template/metadata/labels"),
        (
            "StatefulSet",
            "apps",
            "spec/volumeClaimTemplates[]/metadata/labels",
        ),
        ("Job", "batch", "spec/template/metadata/labels"),
        ("CronJob", "batch", "spec/jobTemplate/metadata/labels"),
        (
            "CronJob",
            "batch",
            "spec/jobTemplate/spec/template/metadata/labels",
        ),
    ] {
        v.push(FieldSpec::new(kind, group, path, true));
    }
    v
}

fn common_label_specs() -> Vec<FieldSpec> {
    let mut v = Vec::new();
    for (kind, group, path, create) in [
        ("Service", "", "spec/selector", true),
        ("ReplicationController", "", "spec/selector", true),
        ("Deployment", "", "spec/selector/matchLabels", true),
        ("ReplicaSet", "", "spec/selector/matchLabels", true),
        ("DaemonSet", "", "spec/selector/matchLabels", true),
        ("StatefulSet", "apps", "spec/selector/matchLabels", true),
        ("Job", "batch", "spec/selector/matchLabels", false),
        (
            "CronJob",
            "batch",
            "spec/jobTemplate/spec/selector/matchLabels",
            false,
        ),
        (
            "PodDisruptionBudget",
            "policy",
            "spec/selector/matchLabels",
            false,
        ),
        (
            "NetworkPolicy",
            "networking.k8s.io",
            "spec/podSelector/matchLabels",
            false,
        ),
        (
            "NetworkPolicy",
            "networking.k8s.io",
            "spec/ingress/from/podSelector/matchLabels",
            false,
        ),
        (
            "NetworkPolicy",
            "networking.k8s.io",
            "spec/egress/to/podSelector/matchLabels",
            false,
        ),
    ] {
        v.push(FieldSpec::new(kind, group, path, create));
    }
    for kind in ["Deployment", "StatefulSet"] {
        for path in [
            "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
            "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
            "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
            "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
            "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        ] {
            v.push(FieldSpec::new(kind, "apps", path, false));
        }
    }
    v.extend(template_label_specs());
    v
}

fn common_annotation_specs() -> Vec<FieldSpec> {
    let mut v = vec![FieldSpec::new("", "", "metadata/annotations", true)];
    for (kind, group, path) in [
        (
            "ReplicationController",
            "",
            "spec/template/metadata/annotations",
        ),
        ("Deployment", "", "spec/template/metadata/annotations"),
        ("ReplicaSet", "", "spec/template/metadata/annotations"),
        ("DaemonSet", "", "spec/template/metadata/annotations"),
        ("StatefulSet", "", "spec/template/metadata/annotations"),
        ("Job", "batch", "spec/template/metadata/annotations"),
        ("CronJob", "batch", "spec/jobTemplate/metadata/annotations"),
        (
            "CronJob",
            "batch",
            "spec/jobTemplate/spec/template/metadata/annotations",
        ),
    ] {
        v.push(FieldSpec::new(kind, group, path, true));
    }
    v
}

/// kustomize's `varReference` table (its `varreference.go`), in its order.
fn var_reference_specs() -> Vec<FieldSpec> {
    let mut v = Vec::new();
    let pods = [
        ("CronJob", "spec/jobTemplate/spec/template/spec"),
        ("DaemonSet", "spec/template/spec"),
        ("Deployment", "spec/template/spec"),
        ("Job", "spec/template/spec"),
        ("Pod", "spec"),
        ("ReplicaSet", "spec/template/spec"),
        ("StatefulSet", "spec/template/spec"),
    ];
    for (kind, pod) in pods {
        for c in ["containers", "initContainers"] {
            for field in ["args", "command", "env/value", "volumeMounts/mountPath"] {
                v.push(FieldSpec::new(
                    kind,
                    "",
                    &format!("{pod}/{c}/{field}"),
                    false,
                ));
            }
        }
        // kustomize's CronJob entry lacks the `spec` before `volumes`; kept as it is.
        let volumes = match kind {
            "CronJob" => "spec/jobTemplate/spec/template/volumes/nfs/server".to_owned(),
            "StatefulSet" => "spec/volumeClaimTemplates/spec/nfs/server".to_owned(),
            _ => format!("{pod}/volumes/nfs/server"),
        };
        v.push(FieldSpec::new(kind, "", &volumes, false));
    }
    for (kind, path) in [
        ("Deployment", "spec/template/metadata/annotations"),
        ("Ingress", "spec/rules/host"),
        ("Ingress", "spec/tls/hosts"),
        ("Ingress", "spec/tls/secretName"),
        ("Service", "spec/ports/port"),
        ("Service", "spec/ports/targetPort"),
        ("PersistentVolume", "spec/nfs/server"),
        ("", "metadata/labels"),
        ("", "metadata/annotations"),
    ] {
        v.push(FieldSpec::new(kind, "", path, false));
    }
    v
}

fn rule(kind: &str, group: &str, specs: Vec<FieldSpec>) -> NameBackRef {
    NameBackRef {
        group: group.to_owned(),
        version: String::new(),
        kind: kind.to_owned(),
        field_specs: specs,
    }
}

fn pod_paths(suffixes: &[&str], skip: &[&str]) -> Vec<FieldSpec> {
    let mut v = Vec::new();
    for (kind, pod) in POD_SPECS {
        if skip.contains(kind) {
            continue;
        }
        for s in suffixes {
            v.push(FieldSpec::new(kind, "", &format!("{pod}/{s}"), false));
        }
    }
    v
}

/// kustomize's name-reference table (its `namereference.go`), one rule per referent in
/// kustomize's order: where each kind's name is referred to.
fn name_reference_rules() -> Vec<NameBackRef> {
    let mut rules = Vec::new();
    scale_target_rules(&mut rules);
    rules.push(rule("ConfigMap", "", config_map_referrers()));
    rules.push(rule("Secret", "", secret_referrers()));
    rules.push(rule("Service", "", service_referrers()));
    rbac_and_storage_rules(&mut rules);
    rules
}

/// The workloads an HPA scales.
fn scale_target_rules(rules: &mut Vec<NameBackRef>) {
    for target in [
        "Deployment",
        "ReplicationController",
        "ReplicaSet",
        "StatefulSet",
    ] {
        rules.push(rule(
            target,
            "",
            vec![FieldSpec::new(
                "HorizontalPodAutoscaler",
                "",
                "spec/scaleTargetRef/name",
                false,
            )],
        ));
    }
}

/// Where a ConfigMap is referred to.
fn config_map_referrers() -> Vec<FieldSpec> {
    let mut cm = pod_paths(
        &[
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ],
        &["ReplicationController"],
    );
    cm.extend([
        FieldSpec::new("Node", "", "spec/configSource/configMap", false),
        FieldSpec::new("Role", "", "rules/resourceNames", false),
        FieldSpec::new("ClusterRole", "", "rules/resourceNames", false),
        FieldSpec::new(
            "Ingress",
            "",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
            false,
        ),
    ]);
    cm
}

/// Where a Secret is referred to.
fn secret_referrers() -> Vec<FieldSpec> {
    let mut secret = pod_paths(
        &[
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ],
        &["ReplicationController"],
    );
    for (kind, path) in [
        ("Ingress", "spec/tls/secretName"),
        (
            "Ingress",
            "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
        ),
        (
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
        ),
        (
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
        ),
        ("ServiceAccount", "imagePullSecrets/name"),
        ("StorageClass", "parameters/secretName"),
        ("StorageClass", "parameters/adminSecretName"),
        ("StorageClass", "parameters/userSecretName"),
        ("StorageClass", "parameters/secretRef"),
        ("Role", "rules/resourceNames"),
        ("ClusterRole", "rules/resourceNames"),
        ("PersistentVolume", "spec/azureFile/secretName"),
    ] {
        secret.push(FieldSpec::new(kind, "", path, false));
    }
    let mut knative = FieldSpec::new(
        "Service",
        "serving.knative.dev",
        "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
        false,
    );
    knative.version = "v1".into();
    secret.push(knative);
    secret
}

/// Where a Service is referred to.
fn service_referrers() -> Vec<FieldSpec> {
    let mut service = Vec::new();
    for (kind, group, path) in [
        ("StatefulSet", "apps", "spec/serviceName"),
        ("Ingress", "", "spec/rules/http/paths/backend/serviceName"),
        ("Ingress", "", "spec/backend/serviceName"),
        ("Ingress", "", "spec/rules/http/paths/backend/service/name"),
        ("Ingress", "", "spec/defaultBackend/service/name"),
        ("APIService", "apiregistration.k8s.io", "spec/service/name"),
        (
            "ValidatingWebhookConfiguration",
            "admissionregistration.k8s.io",
            "webhooks/clientConfig/service",
        ),
        (
            "MutatingWebhookConfiguration",
            "admissionregistration.k8s.io",
            "webhooks/clientConfig/service",
        ),
        ("HTTPRoute", "", "spec/rules/backendRefs/name"),
    ] {
        service.push(FieldSpec::new(kind, group, path, false));
    }
    service
}

/// Roles, ServiceAccounts, volumes and classes.
fn rbac_and_storage_rules(rules: &mut Vec<NameBackRef>) {
    let rbac = "rbac.authorization.k8s.io";
    rules.push(rule(
        "Role",
        rbac,
        vec![FieldSpec::new("RoleBinding", rbac, "roleRef/name", false)],
    ));
    rules.push(rule(
        "ClusterRole",
        rbac,
        vec![
            FieldSpec::new("RoleBinding", rbac, "roleRef/name", false),
            FieldSpec::new("ClusterRoleBinding", rbac, "roleRef/name", false),
        ],
    ));
    let mut sa = vec![
        FieldSpec::new("RoleBinding", rbac, "subjects", false),
        FieldSpec::new("ClusterRoleBinding", rbac, "subjects", false),
    ];
    sa.extend(pod_paths(
        &["serviceAccountName"],
        &["PodTemplate", "ReplicaSet"],
    ));
    rules.push(rule("ServiceAccount", "", sa));
    rules.push(rule(
        "PersistentVolumeClaim",
        "",
        pod_paths(
            &["volumes/persistentVolumeClaim/claimName"],
            &["PodTemplate", "ReplicaSet"],
        ),
    ));
    rules.push(rule(
        "PersistentVolume",
        "",
        vec![
            FieldSpec::new("PersistentVolumeClaim", "", "spec/volumeName", false),
            FieldSpec::new("ClusterRole", "", "rules/resourceNames", false),
        ],
    ));
    rules.push(rule(
        "StorageClass",
        "storage.k8s.io",
        vec![
            FieldSpec::new("PersistentVolume", "", "spec/storageClassName", false),
            FieldSpec::new("PersistentVolumeClaim", "", "spec/storageClassName", false),
            FieldSpec::new(
                "StatefulSet",
                "",
                "spec/volumeClaimTemplates/spec/storageClassName",
                false,
            ),
        ],
    ));
    rules.push(rule(
        "PriorityClass",
        "scheduling.k8s.io",
        pod_paths(&["priorityClassName"], &["PodTemplate", "ReplicaSet"]),
    ));
    // kustomize's table names the group with its version, so no IngressClass ever matches
    // and an Ingress keeps the class name it was written with; kept as kustomize has it.
    rules.push(rule(
        "IngressClass",
        "networking.k8s.io/v1",
        vec![FieldSpec::new(
            "Ingress",
            "",
            "spec/ingressClassName",
            false,
        )],
    ));
    let admission = "admissionregistration.k8s.io";
    rules.push(rule(
        "ValidatingAdmissionPolicy",
        admission,
        vec![FieldSpec::new(
            "ValidatingAdmissionPolicyBinding",
            admission,
            "spec/policyName",
            false,
        )],
    ));
}

#[cfg(test)]
mod tests;
