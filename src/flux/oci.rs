//! Flux's `OCIRepository` and `HelmChart` (`source.toolkit.fluxcd.io/v1`): an artifact in an OCI
//! registry (a chart pushed with `helm push`, manifests pushed with `flux push artifact`) and a
//! chart declared on its own, as source-controller v1.9.6 reads them, every field checked
//! against its schema. What a repository follows is read here ([`OciRepository::follows`],
//! [`highest`]); fetching it is the registry edge's (`registry::artifact`). A HelmRelease's
//! `spec.chartRef` and a Kustomization's `spec.sourceRef` may name one. Pure: no I/O.
//!
//! Refused by name (the object fails, never something else fetched): cloud `provider`s,
//! `serviceAccountName`, `proxySecretRef`, `verify` (cosign and notation signatures), `ignore`,
//! and on a HelmChart `verify` and a `Bucket` source.

use serde::Deserialize;
use serde_json::Value;

use super::constraint::Constraint;
use super::kustomization::LocalRef;
use super::{FluxError, Id, duration_or, interval_and_timeout, read_spec};

/// The media type of a Helm chart's layer (`helm push`).
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// A Flux OCIRepository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRepository {
    pub id: Id,
    pub spec: OciSpec,
}

/// `spec` of an OCIRepository.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciSpec {
    /// `oci://<host>/<repository>`.
    pub url: String,
    #[serde(default, rename = "ref")]
    pub reference: Option<OciRef>,
    #[serde(default)]
    pub layer_selector: Option<LayerSelector>,
    #[serde(default)]
    pub secret_ref: Option<LocalRef>,
    #[serde(default)]
    pub cert_secret_ref: Option<LocalRef>,
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub suspend: bool,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub service_account_name: Option<String>,
    #[serde(default)]
    pub proxy_secret_ref: Option<LocalRef>,
    #[serde(default)]
    pub verify: Option<Value>,
    #[serde(default)]
    pub ignore: Option<String>,
}

/// `spec.ref`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciRef {
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub semver: Option<String>,
    #[serde(default)]
    pub semver_filter: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
}

/// `spec.layerSelector`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerSelector {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub operation: Option<String>,
}

/// What an OCIRepository follows, in source-controller's precedence: a digest, else the
/// highest tag in a semver range, else a tag (`latest` when none is given).
#[derive(Debug, Clone)]
pub enum Follow {
    Digest(String),
    Semver {
        range: Constraint,
        written: String,
        filter: Option<regex::Regex>,
    },
    Tag(String),
}

/// Which layer of the artifact is taken, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerChoice {
    /// The first layer of this media type; the first layer when `None`.
    pub media_type: Option<String>,
    /// `extract` (the default: the layer is a gzipped tarball whose files are the source) or
    /// `copy` (the layer as it is).
    pub extract: bool,
}

impl OciRepository {
    /// Reads a `source.toolkit.fluxcd.io/v1` (or `v1beta2`) OCIRepository.
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        let (id, spec): (Id, OciSpec) = read_spec(
            object,
            "OCIRepository",
            super::source::GROUP,
            &["v1", "v1beta2"],
        )?;
        interval_and_timeout(&id, spec.interval.as_deref(), spec.timeout.as_deref())?;
        let repository = Self { id, spec };
        if repository.image().is_none() {
            return Err(repository.id.error(
                "spec.url",
                format!(
                    "`{}` is not an OCI repository URL (write it as `oci://<host>/<repository>`)",
                    repository.spec.url
                ),
            ));
        }
        repository.follows()?;
        Ok(repository)
    }

    /// The repository without its `oci://` scheme (`<host>/<path>`).
    #[must_use]
    pub fn image(&self) -> Option<&str> {
        self.spec
            .url
            .strip_prefix("oci://")
            .map(|r| r.trim_end_matches('/'))
            .filter(|r| r.contains('/'))
    }

    /// What it follows; `Err` names the field that cannot be read.
    pub fn follows(&self) -> Result<Follow, FluxError> {
        let r = self.spec.reference.clone().unwrap_or_default();
        let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        if let Some(d) = set(&r.digest) {
            return Ok(Follow::Digest(d));
        }
        if let Some(written) = set(&r.semver) {
            let range = Constraint::parse(&written).map_err(|e| {
                self.id.error(
                    "spec.ref.semver",
                    format!("`{written}` is not a semver range: {e}"),
                )
            })?;
            let filter = set(&r.semver_filter)
                .map(|f| {
                    regex::Regex::new(&f).map_err(|e| {
                        self.id.error(
                            "spec.ref.semverFilter",
                            format!("`{f}` is not a regular expression: {e}"),
                        )
                    })
                })
                .transpose()?;
            return Ok(Follow::Semver {
                range,
                written,
                filter,
            });
        }
        Ok(Follow::Tag(set(&r.tag).unwrap_or_else(|| "latest".into())))
    }

    /// What it follows, for people: `tag latest`, `semver >=1.0.0`, `digest sha256:…`.
    #[must_use]
    pub fn tracks(&self) -> String {
        match self.follows() {
            Ok(Follow::Digest(d)) => format!("digest {d}"),
            Ok(Follow::Semver { written, .. }) => format!("semver {written}"),
            Ok(Follow::Tag(t)) => format!("tag {t}"),
            Err(_) => "spec.ref (unreadable)".to_owned(),
        }
    }

    /// The layer taken (`spec.layerSelector`).
    #[must_use]
    pub fn layer(&self) -> LayerChoice {
        let s = self.spec.layer_selector.clone().unwrap_or_default();
        LayerChoice {
            media_type: s.media_type.filter(|m| !m.is_empty()),
            extract: s.operation.as_deref() != Some("copy"),
        }
    }

    /// `spec.interval` (how long what was fetched is kept; Flux requires it, 10 minutes here
    /// when absent).
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

    /// The fields set that fledge does not honour yet: it refuses the repository rather than
    /// fetch something else than Flux would.
    #[must_use]
    pub fn unsupported(&self) -> Vec<String> {
        let s = &self.spec;
        let mut out = Vec::new();
        if let Some(p) = s.provider.as_deref().filter(|p| *p != "generic") {
            out.push(format!(
                "spec.provider `{p}` (cloud registry logins; give a `secretRef` instead)"
            ));
        }
        for (field, set) in [
            ("spec.serviceAccountName", s.service_account_name.is_some()),
            ("spec.proxySecretRef", s.proxy_secret_ref.is_some()),
            (
                "spec.verify (signature verification)",
                s.verify.as_ref().is_some_and(|v| !v.is_null()),
            ),
            ("spec.ignore", s.ignore.is_some()),
        ] {
            if set {
                out.push(field.to_owned());
            }
        }
        out
    }
}

/// The tag a semver range chooses among `tags`: those `filter` keeps, read as fluxcd/pkg/version
/// reads them (three dot-separated parts, a leading `v` allowed), the highest in `range`; the
/// tag as written.
#[must_use]
pub fn highest<'a>(
    tags: impl IntoIterator<Item = &'a str>,
    range: &Constraint,
    filter: Option<&regex::Regex>,
) -> Option<String> {
    tags.into_iter()
        .filter(|t| filter.is_none_or(|f| f.is_match(t)))
        .filter(|t| t.trim_start_matches('v').splitn(3, '.').count() == 3)
        .filter_map(|t| Some((super::constraint::version(t)?, t)))
        .filter(|(v, _)| range.matches(v))
        .max_by(|a, b| a.0.cmp_precedence(&b.0))
        .map(|(_, t)| t.to_owned())
}

/// A Flux HelmChart: a chart of a HelmRepository or GitRepository declared on its own (what
/// helm-controller makes of a HelmRelease's `spec.chart`), named by a HelmRelease's
/// `spec.chartRef`.
#[derive(Debug, Clone, PartialEq)]
pub struct HelmChart {
    pub id: Id,
    pub spec: super::helm::ChartSpec,
}

impl HelmChart {
    /// Reads a `source.toolkit.fluxcd.io/v1` (or `v1beta2`) HelmChart.
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        let (id, spec): (Id, super::helm::ChartSpec) = read_spec(
            object,
            "HelmChart",
            super::source::GROUP,
            &["v1", "v1beta2"],
        )?;
        if spec.verify.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(id.error(
                "spec.verify",
                "signature verification is not done by fledge yet; it refuses the chart rather than install one it did not verify",
            ));
        }
        Ok(Self { id, spec })
    }
}

#[cfg(test)]
mod tests;
