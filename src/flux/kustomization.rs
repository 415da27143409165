//! Flux's `Kustomization` (`kustomize.toolkit.fluxcd.io/v1`): a path of a source to build and
//! apply, with its own interval, pruning, health and order. Read field by field as
//! kustomize-controller v1.9.6 reads it (its defaults: `retryInterval` = `interval`, `timeout`
//! = `interval` − 30 s and at least 30 s, `deletionPolicy` = `MirrorPrune`, a dependency's and
//! the source's namespace = the Kustomization's), each field checked against Flux's own CRD
//! schema.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{FluxError, Id, duration};

/// The group of Flux's Kustomization.
pub const GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// A Flux Kustomization, its defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Kustomization {
    pub id: Id,
    pub spec: Spec,
    /// `spec` as written, for the build stage, which reads the fields that shape a build.
    pub raw_spec: Value,
    /// `reconcile.fluxcd.io/requestedAt`: a person asked for a sync now (`flux reconcile`).
    pub requested_at: Option<String>,
    /// `metadata` as written (labels and annotations a `readyExpr` may read).
    pub metadata: Value,
}

/// `spec`, as Flux's API types name it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[expect(
    clippy::struct_excessive_bools,
    reason = "Flux's API fields (prune, suspend, force, wait, ignoreMissingComponents), as its types have them"
)]
pub struct Spec {
    #[serde(default)]
    pub common_metadata: Option<CommonMetadata>,
    #[serde(default)]
    pub depends_on: Vec<Dependency>,
    #[serde(default)]
    pub decryption: Option<Decryption>,
    pub interval: String,
    #[serde(default)]
    pub retry_interval: Option<String>,
    #[serde(default)]
    pub kube_config: Option<Value>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub post_build: Option<PostBuild>,
    pub prune: bool,
    #[serde(default)]
    pub deletion_policy: Option<String>,
    #[serde(default)]
    pub health_checks: Vec<ObjectReference>,
    #[serde(default)]
    pub name_prefix: Option<String>,
    #[serde(default)]
    pub name_suffix: Option<String>,
    #[serde(default)]
    pub patches: Vec<Value>,
    #[serde(default)]
    pub images: Vec<Value>,
    #[serde(default)]
    pub service_account_name: Option<String>,
    pub source_ref: SourceRef,
    #[serde(default)]
    pub suspend: bool,
    #[serde(default)]
    pub target_namespace: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub wait: bool,
    #[serde(default)]
    pub build_metadata: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub ignore_missing_components: bool,
    #[serde(default)]
    pub health_check_exprs: Vec<Value>,
    #[serde(default)]
    pub ignore: Vec<Value>,
}

/// `spec.commonMetadata`: labels and annotations set on every object it applies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct CommonMetadata {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// An entry of `spec.dependsOn`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    /// A CEL expression over the dependency that must hold besides its readiness.
    #[serde(default)]
    pub ready_expr: Option<String>,
}

/// `spec.decryption`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decryption {
    pub provider: String,
    #[serde(default)]
    pub service_account_name: Option<String>,
    #[serde(default)]
    pub secret_ref: Option<LocalRef>,
}

/// A reference to an object in the Kustomization's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LocalRef {
    pub name: String,
}

/// `spec.postBuild`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    /// `WithVariables` (the default: only objects that use a variable are substituted) or
    /// `Always`.
    #[serde(default)]
    pub substitute_strategy: Option<String>,
    #[serde(default)]
    pub substitute: BTreeMap<String, String>,
    #[serde(default)]
    pub substitute_from: Vec<SubstituteRef>,
}

/// An entry of `spec.postBuild.substituteFrom`: a ConfigMap or Secret of the Kustomization's
/// namespace whose data are variables.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubstituteRef {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub optional: bool,
}

/// An entry of `spec.healthChecks`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    #[serde(default)]
    pub api_version: Option<String>,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `spec.sourceRef`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    #[serde(default)]
    pub api_version: Option<String>,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

impl Kustomization {
    /// Reads a `kustomize.toolkit.fluxcd.io/v1` Kustomization; the error names the object and
    /// the field.
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        let (id, spec): (Id, Spec) = super::read_spec(object, "Kustomization", GROUP, &["v1"])?;
        for (field, value) in [
            ("spec.interval", Some(&spec.interval)),
            ("spec.retryInterval", spec.retry_interval.as_ref()),
            ("spec.timeout", spec.timeout.as_ref()),
        ] {
            if let Some(v) = value {
                duration(&id, field, v)?;
            }
        }
        let requested_at = object["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
            .as_str()
            .map(str::to_owned);
        Ok(Self {
            id,
            spec,
            raw_spec: object["spec"].clone(),
            requested_at,
            metadata: object["metadata"].clone(),
        })
    }

    /// How often it is synced.
    #[must_use]
    pub fn interval(&self) -> Duration {
        crate::release::spec::parse_duration(&self.spec.interval).unwrap_or_default()
    }

    /// How soon a failed sync is tried again: `retryInterval`, else the interval.
    #[must_use]
    pub fn retry_interval(&self) -> Duration {
        self.spec
            .retry_interval
            .as_deref()
            .and_then(crate::release::spec::parse_duration)
            .unwrap_or_else(|| self.interval())
    }

    /// How long applying and waiting for health may take: `timeout`, else the interval less
    /// 30 s; never under 30 s.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        let floor = Duration::from_secs(30);
        self.spec
            .timeout
            .as_deref()
            .and_then(crate::release::spec::parse_duration)
            .unwrap_or_else(|| self.interval().saturating_sub(floor))
            .max(floor)
    }

    /// The path it builds, relative to its source's root (`./` when unset), without a leading
    /// `./` or a trailing `/`; `""` is the root.
    #[must_use]
    pub fn path(&self) -> String {
        normal_path(self.spec.path.as_deref().unwrap_or("./"))
    }

    /// The Kustomizations it waits for, namespaces defaulted to its own.
    #[must_use]
    pub fn dependencies(&self) -> Vec<Id> {
        self.spec
            .depends_on
            .iter()
            .map(|d| Id {
                namespace: d
                    .namespace
                    .clone()
                    .unwrap_or_else(|| self.id.namespace.clone()),
                name: d.name.clone(),
            })
            .collect()
    }

    /// The object as written (apiVersion, kind, metadata, spec), as a `readyExpr` sees it before
    /// its status is added.
    #[must_use]
    pub fn object(&self) -> Value {
        serde_json::json!({
            "apiVersion": format!("{GROUP}/v1"),
            "kind": "Kustomization",
            "metadata": self.metadata,
            "spec": self.raw_spec,
        })
    }

    /// Its source, namespace defaulted to its own: (kind, id).
    #[must_use]
    pub fn source(&self) -> (&str, Id) {
        let r = &self.spec.source_ref;
        (
            r.kind.as_str(),
            Id {
                namespace: r
                    .namespace
                    .clone()
                    .unwrap_or_else(|| self.id.namespace.clone()),
                name: r.name.clone(),
            },
        )
    }
}

/// A path inside a source as Flux joins it to the source's root: `./`, leading `./` and `/`,
/// and trailing `/` dropped; `.` segments removed.
#[must_use]
pub fn normal_path(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect::<Vec<_>>()
        .join("/")
}
