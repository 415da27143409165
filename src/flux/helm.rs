//! Flux's `HelmRelease` (`helm.toolkit.fluxcd.io/v2`) and `HelmRepository`
//! (`source.toolkit.fluxcd.io/v1`): which chart a release installs, from where, with which
//! values, under which release name and namespace, post-rendered how. Read with helm-controller
//! v1.4.5's defaults and checked against its schema; what fledge does not honour yet is named by
//! [`HelmRelease::unsupported`], never ignored.

use serde::Deserialize;
use serde_json::Value;
use sha2::Digest as _;

use super::{FluxError, Id, duration, duration_or, interval_and_timeout, read_spec};

/// The group of Flux's Helm releases.
pub const GROUP: &str = "helm.toolkit.fluxcd.io";

/// The labels helm-controller puts on every object of a release (its origin post-renderer).
pub const ORIGIN_NAME: &str = "helm.toolkit.fluxcd.io/name";
pub const ORIGIN_NAMESPACE: &str = "helm.toolkit.fluxcd.io/namespace";

/// A Flux HelmRelease.
#[derive(Debug, Clone, PartialEq)]
pub struct HelmRelease {
    pub id: Id,
    pub spec: Spec,
    /// `spec` as written, for the fields read elsewhere.
    pub raw_spec: Value,
}

/// `spec`, as helm-controller's API types name it (the fields fledge reads).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub chart: Option<ChartTemplate>,
    #[serde(default)]
    pub chart_ref: Option<ChartRef>,
    pub interval: String,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub release_name: Option<String>,
    #[serde(default)]
    pub target_namespace: Option<String>,
    #[serde(default)]
    pub storage_namespace: Option<String>,
    #[serde(default)]
    pub service_account_name: Option<String>,
    #[serde(default)]
    pub suspend: bool,
    #[serde(default)]
    pub depends_on: Vec<Dependency>,
    #[serde(default)]
    pub values: Option<Value>,
    #[serde(default)]
    pub values_from: Vec<ValuesReference>,
    #[serde(default)]
    pub install: Option<Value>,
    #[serde(default)]
    pub upgrade: Option<Value>,
    #[serde(default)]
    pub test: Option<Value>,
    /// `spec.postRenderers`: run in order over what the chart renders.
    #[serde(default)]
    pub post_renderers: Vec<PostRenderer>,
    /// `spec.commonMetadata`: labels and annotations set on what the chart renders.
    #[serde(default)]
    pub common_metadata: Option<super::kustomization::CommonMetadata>,
}

/// `spec.postRenderers[]`: helm-controller's API has one kind of post-renderer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PostRenderer {
    /// A kustomization built over the rendered objects (set, even empty, it is built).
    #[serde(default)]
    pub kustomize: Option<KustomizePostRenderer>,
}

/// `spec.postRenderers[].kustomize`: v2 keeps `patches` and `images` (v2beta's
/// `patchesStrategicMerge` and `patchesJson6902` are gone; the schema refuses them).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct KustomizePostRenderer {
    /// Applied in order.
    #[serde(default)]
    pub patches: Vec<Patch>,
    /// Applied after the patches, each entry in order.
    #[serde(default)]
    pub images: Vec<Image>,
}

/// A strategic-merge or JSON6902 patch (`patch`, inline YAML), and the objects it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Patch {
    /// The patch document.
    pub patch: String,
    /// The objects it applies to; without one, a strategic-merge patch names its object.
    #[serde(default)]
    pub target: Option<PatchTarget>,
}

/// A patch's `target`, as kustomize selects objects (fledge's kustomize engine reads the same
/// selector): group, version, kind, name and namespace are anchored regular expressions, an
/// empty field selects any; the namespace is the one the chart wrote, since Helm puts the
/// release namespace on objects without one only after the post-renderers.
pub type PatchTarget = crate::render::kustomization::Selector;

/// An image to rename, retag or pin to a digest (kustomize's `images`, read as fledge's
/// kustomize engine reads them); empty fields change nothing.
pub type Image = crate::render::kustomization::Image;

/// `spec.chart`: the template of the HelmChart source-controller makes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChartTemplate {
    pub spec: ChartSpec,
}

/// `spec.chart.spec`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartSpec {
    /// The chart's name in a HelmRepository, or its path in a GitRepository.
    pub chart: String,
    /// A semver constraint (`*` when unset), for a HelmRepository's charts.
    #[serde(default)]
    pub version: Option<String>,
    pub source_ref: SourceRef,
    #[serde(default)]
    pub values_files: Vec<String>,
    #[serde(default)]
    pub ignore_missing_values_files: bool,
    #[serde(default)]
    pub reconcile_strategy: Option<String>,
    #[serde(default)]
    pub verify: Option<Value>,
}

/// `spec.chart.spec.sourceRef`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SourceRef {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `spec.chartRef`: an OCIRepository or HelmChart holding the chart.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChartRef {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `spec.dependsOn[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Dependency {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `spec.valuesFrom[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValuesReference {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub values_key: Option<String>,
    #[serde(default)]
    pub target_path: Option<String>,
    #[serde(default)]
    pub optional: bool,
}

impl ValuesReference {
    /// The key read (`values.yaml` when unset).
    #[must_use]
    pub fn key(&self) -> &str {
        self.values_key
            .as_deref()
            .filter(|k| !k.is_empty())
            .unwrap_or("values.yaml")
    }
}

/// Where a release's chart comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartSource {
    /// A chart of a HelmRepository, by name and version constraint.
    Repository {
        repository: Id,
        chart: String,
        version: String,
    },
    /// A chart directory (or packaged chart) in a GitRepository.
    Git { repository: Id, path: String },
    /// The chart an OCIRepository holds (`spec.chartRef`).
    Oci { repository: Id },
    /// A HelmChart declared in the repository (`spec.chartRef`).
    Declared { chart: Id },
}

/// `namespace`, else `default`, and `name`.
fn in_namespace(namespace: Option<&String>, name: &str, default: &str) -> Id {
    Id {
        namespace: namespace
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| default.to_owned()),
        name: name.to_owned(),
    }
}

impl ChartSpec {
    /// Where the chart comes from, for an object in `namespace` (`field`: where this spec is,
    /// for errors).
    pub fn source(&self, namespace: &str, field: &str) -> Result<ChartSource, String> {
        let repository = in_namespace(
            self.source_ref.namespace.as_ref(),
            &self.source_ref.name,
            namespace,
        );
        match self.source_ref.kind.as_str() {
            "HelmRepository" => Ok(ChartSource::Repository {
                repository,
                chart: self.chart.clone(),
                version: self
                    .version
                    .clone()
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| "*".to_owned()),
            }),
            "GitRepository" => Ok(ChartSource::Git {
                repository,
                path: super::kustomization::normal_path(&self.chart),
            }),
            other => Err(format!(
                "{field}.sourceRef: charts from a {other} ({repository}) are not fetched by fledge yet; it fetches charts from a HelmRepository or a GitRepository"
            )),
        }
    }
}

impl HelmRelease {
    /// Reads a `helm.toolkit.fluxcd.io/v2` HelmRelease; the error names the object and the
    /// field.
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        let (id, spec): (Id, Spec) = read_spec(object, "HelmRelease", GROUP, &["v2"])?;
        duration(&id, "spec.interval", &spec.interval)?;
        if let Some(t) = &spec.timeout {
            duration(&id, "spec.timeout", t)?;
        }
        match (&spec.chart, &spec.chart_ref) {
            (None, None) => {
                return Err(id.error("spec", "one of `chart` and `chartRef` is required"));
            }
            (Some(_), Some(_)) => {
                return Err(id.error("spec", "`chart` and `chartRef` are mutually exclusive"));
            }
            _ => {}
        }
        for (i, v) in spec.values_from.iter().enumerate() {
            if v.kind != "ConfigMap" && v.kind != "Secret" {
                return Err(id.error(
                    &format!("spec.valuesFrom[{i}].kind"),
                    format!("`{}` is not one of ConfigMap, Secret", v.kind),
                ));
            }
        }
        Ok(Self {
            id,
            spec,
            raw_spec: object["spec"].clone(),
        })
    }

    /// The object as written.
    #[must_use]
    pub fn object(&self) -> Value {
        serde_json::json!({
            "apiVersion": format!("{GROUP}/v2"),
            "kind": "HelmRelease",
            "metadata": {"name": self.id.name, "namespace": self.id.namespace},
            "spec": self.raw_spec,
        })
    }

    /// The Helm release's name, as helm-controller names it: `spec.releaseName`, else
    /// `[<targetNamespace>-]<name>`, shortened to Helm's 53 characters with a digest.
    #[must_use]
    pub fn release_name(&self) -> String {
        let name = match (&self.spec.release_name, &self.spec.target_namespace) {
            (Some(n), _) if !n.is_empty() => n.clone(),
            (_, Some(t)) if !t.is_empty() => format!("{t}-{}", self.id.name),
            _ => self.id.name.clone(),
        };
        if name.len() <= 53 {
            return name;
        }
        let sum = hex::encode(sha2::Sha256::digest(name.as_bytes()));
        format!("{}-{}", &name[..40], &sum[..12])
    }

    /// The namespace the release installs into: `spec.targetNamespace`, else its own.
    #[must_use]
    pub fn release_namespace(&self) -> &str {
        self.spec
            .target_namespace
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or(&self.id.namespace)
    }

    /// `spec.interval`.
    #[must_use]
    pub fn interval(&self) -> std::time::Duration {
        duration_or(
            Some(&self.spec.interval),
            std::time::Duration::from_secs(600),
        )
    }

    /// `spec.timeout` (helm-controller's default: 5 minutes).
    #[must_use]
    pub fn timeout(&self) -> std::time::Duration {
        duration_or(
            self.spec.timeout.as_deref(),
            std::time::Duration::from_secs(300),
        )
    }

    /// The HelmReleases it waits for, each in its own namespace when none is given.
    #[must_use]
    pub fn dependencies(&self) -> Vec<Id> {
        self.spec
            .depends_on
            .iter()
            .map(|d| Id {
                namespace: d
                    .namespace
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| self.id.namespace.clone()),
                name: d.name.clone(),
            })
            .collect()
    }

    /// Where its chart comes from, or why fledge cannot fetch it yet.
    pub fn chart_source(&self) -> Result<ChartSource, String> {
        if let Some(r) = &self.spec.chart_ref {
            let id = in_namespace(r.namespace.as_ref(), &r.name, &self.id.namespace);
            return match r.kind.as_str() {
                "OCIRepository" => Ok(ChartSource::Oci { repository: id }),
                "HelmChart" => Ok(ChartSource::Declared { chart: id }),
                other => Err(format!(
                    "spec.chartRef: charts from {other} {id} are not fetched by fledge yet; it fetches them from an OCIRepository or a HelmChart"
                )),
            };
        }
        let Some(c) = &self.spec.chart else {
            return Err("spec.chart is required".to_owned());
        };
        c.spec.source(&self.id.namespace, "spec.chart.spec")
    }

    /// `install.crds` (helm-controller's default `Create`): whether the chart's `crds/` are
    /// applied. fledge applies a release's objects declaratively, so `Create` and
    /// `CreateReplace` both apply them; `Skip` leaves them out.
    #[must_use]
    pub fn include_crds(&self) -> bool {
        let install = self.spec.install.as_ref();
        let policy = install.and_then(|i| i["crds"].as_str()).unwrap_or("Create");
        let skip = install.is_some_and(|i| i["skipCRDs"] == true);
        policy != "Skip" && !skip
    }

    /// The fields set that would change what the release installs or how, and that fledge
    /// does not honour yet; it refuses such a release rather than install something else.
    #[must_use]
    pub fn unsupported(&self) -> Vec<&'static str> {
        let s = &self.raw_spec;
        let set = |v: &Value| !v.is_null() && v != &Value::Array(vec![]);
        let mut out = Vec::new();
        // `spec.chart.spec.verify` is honoured where the chart is fetched (its source's kind
        // decides whether it can be).
        if set(&s["kubeConfig"]) {
            out.push("spec.kubeConfig");
        }
        if s["test"]["enable"] == true {
            out.push("spec.test.enable");
        }
        out
    }
}

/// A Flux HelmRepository (`source.toolkit.fluxcd.io/v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmRepository {
    pub id: Id,
    pub spec: RepositorySpec,
}

/// `spec` of a HelmRepository (the fields fledge reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositorySpec {
    pub url: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub secret_ref: Option<super::kustomization::LocalRef>,
    #[serde(default)]
    pub cert_secret_ref: Option<super::kustomization::LocalRef>,
    #[serde(default)]
    pub pass_credentials: bool,
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub suspend: bool,
}

impl HelmRepository {
    /// Reads a `source.toolkit.fluxcd.io/v1` HelmRepository.
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        // v1beta2 (and v1beta1) have v1's fields: source-controller still serves them.
        let (id, spec): (Id, RepositorySpec) = read_spec(
            object,
            "HelmRepository",
            super::source::GROUP,
            &["v1", "v1beta2", "v1beta1"],
        )?;
        interval_and_timeout(&id, spec.interval.as_deref(), spec.timeout.as_deref())?;
        Ok(Self { id, spec })
    }

    /// Whether it is an OCI registry (`type: oci`) rather than an index over HTTP(S).
    #[must_use]
    pub fn is_oci(&self) -> bool {
        self.spec.kind.as_deref() == Some("oci")
    }

    /// `spec.interval` (10 minutes when unset, as an OCI repository may leave it): how long a
    /// fetched index is kept.
    #[must_use]
    pub fn interval(&self) -> std::time::Duration {
        duration_or(
            self.spec.interval.as_deref(),
            std::time::Duration::from_secs(600),
        )
    }

    /// `spec.timeout` (Flux's default: 60 s).
    #[must_use]
    pub fn timeout(&self) -> std::time::Duration {
        duration_or(
            self.spec.timeout.as_deref(),
            std::time::Duration::from_secs(60),
        )
    }
}

#[cfg(test)]
mod tests;
