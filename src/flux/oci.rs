//! Flux's `OCIRepository` and `HelmChart` (`source.toolkit.fluxcd.io/v1`): an artifact in an OCI
//! registry (a chart pushed with `helm push`, manifests pushed with `flux push artifact`) and a
//! chart declared on its own, as source-controller v1.9.6 reads them, every field checked
//! against its schema. What a repository follows is read here ([`OciRepository::follows`],
//! [`highest`]); fetching it is the registry edge's (`registry::artifact`). A HelmRelease's
//! `spec.chartRef` and a Kustomization's `spec.sourceRef` may name one. Pure: no I/O.
//!
//! `verify` (and a HelmChart's): cosign signatures checked with the public keys of the Secret
//! `secretRef` names ([`verify_secret`]; the check is the registry edge's, `registry::cosign`).
//!
//! Refused by name (the object fails, never something else fetched): cloud `provider`s,
//! `serviceAccountName`, `proxySecretRef`, keyless cosign and notation verification,
//! `verify.trustedRootSecretRef`, `ignore`, and on a HelmChart a `Bucket` source.

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
            ("spec.ignore", s.ignore.is_some()),
        ] {
            if set {
                out.push(field.to_owned());
            }
        }
        if let Err(e) = verify_secret(s.verify.as_ref(), "spec.verify") {
            out.push(e);
        }
        out
    }

    /// The Secret of public keys its artifact is verified with (`spec.verify.secretRef`);
    /// `None` without `spec.verify`.
    #[must_use]
    pub fn verify_secret(&self) -> Option<String> {
        verify_secret(self.spec.verify.as_ref(), "spec.verify")
            .ok()
            .flatten()
    }
}

/// The fields of `spec.verify` in source-controller v1.9.6's schema.
const VERIFY_FIELDS: [&str; 4] = [
    "provider",
    "secretRef",
    "matchOIDCIdentity",
    "trustedRootSecretRef",
];

/// The Secret named by `verify` (an OCIRepository's or HelmChart's `spec.verify`, written at
/// `field`) whose `*.pub` values are the public keys a cosign signature is checked with;
/// `Ok(None)` without verification. What fledge cannot verify is refused, naming the field,
/// why, and what to do: keyless cosign (no `secretRef`: Sigstore's public Fulcio, Rekor and
/// TUF roots are asked online), a custom Sigstore root (`trustedRootSecretRef`), and notation.
/// `matchOIDCIdentity` beside a `secretRef` is not read, as source-controller does not read it
/// when it verifies with keys.
pub fn verify_secret(verify: Option<&Value>, field: &str) -> Result<Option<String>, String> {
    let Some(v) = verify.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let map = v
        .as_object()
        .ok_or_else(|| format!("{field} is not an object"))?;
    if let Some(k) = map.keys().find(|k| !VERIFY_FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "{field}.{k} is not a field of Flux's verification (provider, secretRef, matchOIDCIdentity, trustedRootSecretRef)"
        ));
    }
    match map
        .get("provider")
        .and_then(Value::as_str)
        .unwrap_or("cosign")
    {
        "cosign" | "" => {}
        "notation" => {
            return Err(format!(
                "{field}.provider `notation` (Notation signatures are not verified by fledge; sign the artifact with `cosign sign --key` and give its public key in {field}.secretRef)"
            ));
        }
        other => {
            return Err(format!(
                "{field}.provider `{other}` is not cosign or notation"
            ));
        }
    }
    if map
        .get("trustedRootSecretRef")
        .is_some_and(|r| !r.is_null())
    {
        return Err(format!(
            "{field}.trustedRootSecretRef (keyless verification against a self-hosted Sigstore is not done by fledge; sign with a key pair and give its public key in {field}.secretRef)"
        ));
    }
    let secret = v["secretRef"]["name"].as_str().filter(|n| !n.is_empty());
    match secret {
        Some(name) => Ok(Some(name.to_owned())),
        None => Err(format!(
            "{field} without secretRef (keyless cosign verification checks the signer's certificate against Sigstore's public Fulcio, Rekor and TUF roots, fetched online, which fledge does not do; sign with `cosign sign --key` and name a Secret holding the public key, cosign.pub, in {field}.secretRef)"
        )),
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
        verify_secret(spec.verify.as_ref(), "spec.verify").map_err(|e| {
            id.error(
                "spec.verify",
                format!("{e}; fledge refuses the chart rather than install one it did not verify"),
            )
        })?;
        Ok(Self { id, spec })
    }
}

#[cfg(test)]
mod tests;
