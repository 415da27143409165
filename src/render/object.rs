//! Objects as the renderer carries them: the value plus the identity history kustomize keeps
//! (previous ids, prefixes and suffixes applied) so that name references can be fixed at the end.

use std::fmt;

use serde_json::{Map, Value};

use crate::object::split_api_version;

/// Group, version and kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    /// Splits an `apiVersion` (`apps/v1`, `v1`) and pairs it with a kind.
    #[must_use]
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = split_api_version(api_version);
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    /// The `apiVersion` string.
    #[must_use]
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// True when every non-empty field of `selector` equals this one's.
    #[must_use]
    pub fn is_selected_by(&self, selector: &Gvk) -> bool {
        selected(selector, &self.group, &self.version, &self.kind)
    }

    /// Whether objects of this kind live in a namespace. Kinds not known to be cluster-scoped
    /// (custom resources included) are namespaced, as kustomize assumes.
    #[must_use]
    pub fn is_namespaced(&self) -> bool {
        !cluster_scoped(&self.group, &self.version, &self.kind)
    }

    /// The string kustomize's legacy ordering compares kinds by.
    pub(crate) fn legacy_sort_string(&self) -> String {
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                d.to_owned()
            } else {
                s.to_owned()
            }
        };
        format!(
            "{}_{}_{}",
            or(&self.group, "~G"),
            or(&self.version, "~V"),
            or(&self.kind, "~K")
        )
    }
}

impl fmt::Display for Gvk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}.{}", self.kind, self.version)
        } else {
            write!(f, "{}.{}.{}", self.kind, self.version, self.group)
        }
    }
}

/// True when every non-empty field of `selector` equals the given one.
fn selected(selector: &Gvk, group: &str, version: &str, kind: &str) -> bool {
    (selector.group.is_empty() || selector.group == group)
        && (selector.version.is_empty() || selector.version == version)
        && (selector.kind.is_empty() || selector.kind == kind)
}

/// The kinds kustomize v5.5.0 takes for cluster-scoped: those its built-in OpenAPI data (from
/// Kubernetes 1.21) serves without a namespace, by group, version and kind. Any other kind,
/// a newer built-in one or a custom resource named like one, is namespaced to kustomize.
const CLUSTER_SCOPED: &[(&str, &str, &str)] = &[
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "v1beta1",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "v1beta1",
        "ValidatingWebhookConfiguration",
    ),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
    (
        "apiextensions.k8s.io",
        "v1beta1",
        "CustomResourceDefinition",
    ),
    ("apiregistration.k8s.io", "v1", "APIService"),
    ("apiregistration.k8s.io", "v1beta1", "APIService"),
    ("certificates.k8s.io", "v1", "CertificateSigningRequest"),
    (
        "certificates.k8s.io",
        "v1beta1",
        "CertificateSigningRequest",
    ),
    ("flowcontrol.apiserver.k8s.io", "v1beta1", "FlowSchema"),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1beta1",
        "PriorityLevelConfiguration",
    ),
    ("networking.k8s.io", "v1", "IngressClass"),
    ("networking.k8s.io", "v1beta1", "IngressClass"),
    ("node.k8s.io", "v1", "RuntimeClass"),
    ("node.k8s.io", "v1beta1", "RuntimeClass"),
    ("policy", "v1beta1", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io", "v1beta1", "ClusterRole"),
    ("rbac.authorization.k8s.io", "v1beta1", "ClusterRoleBinding"),
    ("scheduling.k8s.io", "v1", "PriorityClass"),
    ("scheduling.k8s.io", "v1beta1", "PriorityClass"),
    ("storage.k8s.io", "v1", "CSIDriver"),
    ("storage.k8s.io", "v1", "CSINode"),
    ("storage.k8s.io", "v1", "StorageClass"),
    ("storage.k8s.io", "v1", "VolumeAttachment"),
    ("storage.k8s.io", "v1beta1", "CSIDriver"),
    ("storage.k8s.io", "v1beta1", "CSINode"),
    ("storage.k8s.io", "v1beta1", "StorageClass"),
    ("storage.k8s.io", "v1beta1", "VolumeAttachment"),
    ("", "v1", "ComponentStatus"),
    ("", "v1", "Namespace"),
    ("", "v1", "Node"),
    ("", "v1", "PersistentVolume"),
];

/// True when kustomize takes `kind` in `group`/`version` for cluster-scoped.
fn cluster_scoped(group: &str, version: &str, kind: &str) -> bool {
    CLUSTER_SCOPED.contains(&(group, version, kind))
}

/// An object's identity: kind, namespace and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResId {
    pub gvk: Gvk,
    pub namespace: String,
    pub name: String,
}

impl ResId {
    /// The namespace as the API server would see it (`default` when unset, none for
    /// cluster-scoped kinds).
    #[must_use]
    pub fn effective_namespace(&self) -> &str {
        self.as_ref().effective_namespace()
    }

    /// Same kind, name and effective namespace.
    #[must_use]
    pub fn same_as(&self, other: &ResId) -> bool {
        self.gvk == other.gvk
            && self.name == other.name
            && self.effective_namespace() == other.effective_namespace()
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.gvk, self.name)
        } else {
            write!(f, "{} {}/{}", self.gvk, self.namespace, self.name)
        }
    }
}

/// An id borrowed from a [`Resource`], for comparisons that must not allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRef<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl<'a> IdRef<'a> {
    /// As [`ResId::effective_namespace`].
    #[must_use]
    pub fn effective_namespace(&self) -> &'a str {
        if cluster_scoped(self.group, self.version, self.kind) {
            "_cluster_"
        } else if self.namespace.is_empty() {
            "default"
        } else {
            self.namespace
        }
    }

    /// As [`Gvk::is_selected_by`].
    #[must_use]
    pub fn is_selected_by(&self, selector: &Gvk) -> bool {
        selected(selector, self.group, self.version, self.kind)
    }
}

impl ResId {
    #[must_use]
    pub fn as_ref(&self) -> IdRef<'_> {
        IdRef {
            group: &self.gvk.group,
            version: &self.gvk.version,
            kind: &self.gvk.kind,
            namespace: &self.namespace,
            name: &self.name,
        }
    }
}

/// A rendered object with the bookkeeping kustomize keeps while building.
#[derive(Debug, Clone)]
pub struct Resource {
    pub value: Value,
    /// Ids the object had before it was renamed or moved, oldest first.
    pub prev_ids: Vec<ResId>,
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// Where it came from, relative to the top kustomization (for `buildMetadata`).
    pub origin: Option<Origin>,
    /// Generated with a content-hash name suffix still to be added.
    pub needs_hash: bool,
    /// Transformers that changed it (for `buildMetadata: [transformerAnnotations]`).
    pub transformations: Vec<Origin>,
    /// The `vars` that read their value from it: kustomize ties a var to its object where the
    /// var is declared, and the tie follows the object through renames.
    pub ref_vars: Vec<String>,
}

/// Where an object or a change came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(String),
    /// A built-in generator or transformer: configured by a kustomization field, or by a
    /// config object (`generators:`/`transformers:`), which `by` then names.
    Builtin {
        configured_in: String,
        kind: String,
        by: Option<ConfigName>,
    },
}

/// The name and namespace of a generator or transformer config object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigName {
    pub name: String,
    pub namespace: String,
}

impl Resource {
    #[must_use]
    pub fn new(value: Value) -> Self {
        Self {
            value,
            prev_ids: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            origin: None,
            needs_hash: false,
            transformations: Vec::new(),
            ref_vars: Vec::new(),
        }
    }

    fn str_at(&self, path: &[&str]) -> &str {
        let mut v = &self.value;
        for p in path {
            match v.get(p) {
                Some(next) => v = next,
                None => return "",
            }
        }
        v.as_str().unwrap_or("")
    }

    #[must_use]
    pub fn kind(&self) -> &str {
        self.str_at(&["kind"])
    }

    #[must_use]
    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"])
    }

    #[must_use]
    pub fn namespace(&self) -> &str {
        self.str_at(&["metadata", "namespace"])
    }

    #[must_use]
    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.str_at(&["apiVersion"]), self.kind())
    }

    #[must_use]
    pub fn id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            namespace: self.namespace().to_owned(),
            name: self.name().to_owned(),
        }
    }

    /// The current id, borrowed.
    #[must_use]
    pub fn current_ref(&self) -> IdRef<'_> {
        let api = self.str_at(&["apiVersion"]);
        let (group, version) = split_api_version(api);
        IdRef {
            group,
            version,
            kind: self.kind(),
            namespace: self.namespace(),
            name: self.name(),
        }
    }

    /// The original id, borrowed.
    #[must_use]
    pub fn original_ref(&self) -> IdRef<'_> {
        self.prev_ids
            .first()
            .map_or_else(|| self.current_ref(), ResId::as_ref)
    }

    /// Every id the object has had, the current one last, borrowed.
    pub fn id_refs(&self) -> impl Iterator<Item = IdRef<'_>> {
        self.prev_ids
            .iter()
            .map(ResId::as_ref)
            .chain(std::iter::once(self.current_ref()))
    }

    /// The id the object had when it was first loaded.
    #[must_use]
    pub fn original_id(&self) -> ResId {
        self.prev_ids.first().cloned().unwrap_or_else(|| self.id())
    }

    /// Every id the object has had, the current one last.
    #[must_use]
    pub fn all_ids(&self) -> Vec<ResId> {
        let mut ids = self.prev_ids.clone();
        ids.push(self.id());
        ids
    }

    /// The `metadata` map, created when missing.
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let obj = self
            .value
            .as_object_mut()
            .expect("resources are objects: checked when loaded");
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        meta.as_object_mut().expect("just made an object")
    }

    /// Remembers the current id as a previous one. Transformers that may rename or move an
    /// object call this first, whether or not they end up changing it, as kustomize does; name
    /// references are later matched against these previous ids.
    pub fn store_previous_id(&mut self) {
        self.prev_ids.push(self.id());
    }

    /// Sets `metadata.name`.
    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".into(), Value::String(name.to_owned()));
    }

    /// Sets `metadata.namespace`.
    pub fn set_namespace(&mut self, namespace: &str) {
        self.metadata_mut()
            .insert("namespace".into(), Value::String(namespace.to_owned()));
    }

    /// A string map under metadata (`labels`, `annotations`).
    #[must_use]
    pub fn meta_map(&self, field: &str) -> Map<String, Value> {
        self.value["metadata"][field]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
