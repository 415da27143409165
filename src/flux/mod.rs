//! Flux's objects as configuration, as fledge consumes Flagger's Canaries: `Kustomization`
//! (`kustomize.toolkit.fluxcd.io/v1`), `GitRepository` (`source.toolkit.fluxcd.io/v1`),
//! `HelmRelease` and `HelmRepository` ([`helm`]), `OCIRepository` and `HelmChart` ([`oci`]), the image automation objects ([`image`]) and
//! the notification objects ([`notification`]: `Provider`, `Alert`, `Receiver`) found in the
//! repository are read into typed specs with Flux's defaults, every field checked
//! against Flux's own CRD schemas (kept beside this file), and errors carry the object and the
//! field. [`units`] turns the Kustomizations a path renders into sync units in `dependsOn`
//! order. Pure: no I/O, no clock.
//!
//! Not here: building a unit's path (`render`), resolving `substituteFrom` and decryption keys
//! from the cluster, applying, health (the daemon).

pub mod artifact;
pub mod constraint;
pub mod helm;
pub mod image;
pub mod kustomization;
pub mod notification;
pub mod oci;
pub mod source;
pub mod units;

use std::sync::LazyLock;
use std::time::Duration;

use serde_json::Value;

pub use kustomization::Kustomization;
pub use source::GitRepository;
pub use units::{Unit, Units};

/// A Flux object's namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl Id {
    /// The namespace (`default` when unset, as the API server would place it) and name of a
    /// `kind` object.
    fn of(object: &Value, kind: &str) -> Result<Self, FluxError> {
        let name = object["metadata"]["name"].as_str().unwrap_or("");
        let id = Self {
            namespace: crate::object::namespace_or_default(object).to_owned(),
            name: name.to_owned(),
        };
        if name.is_empty() {
            return Err(FluxError {
                object: format!("{kind} (without a name)"),
                path: "metadata.name".to_owned(),
                message: "is required".to_owned(),
            });
        }
        Ok(id)
    }

    fn error(&self, path: &str, message: impl Into<String>) -> FluxError {
        FluxError {
            object: self.to_string(),
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

/// A Flux object fledge cannot use: which, which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {path}: {message}")]
pub struct FluxError {
    /// `<namespace>/<name>` of the object (its kind is in the path's context).
    pub object: String,
    pub path: String,
    pub message: String,
}

/// Flux's schemas of `spec`, by kind.
static SCHEMAS: LazyLock<Vec<(String, Value)>> = LazyLock::new(|| {
    [
        (
            include_str!("schema/kustomize.toolkit.fluxcd.io_kustomizations.yaml"),
            "v1",
        ),
        (
            include_str!("schema/source.toolkit.fluxcd.io_gitrepositories.yaml"),
            "v1",
        ),
        (
            include_str!("schema/source.toolkit.fluxcd.io_helmrepositories.yaml"),
            "v1",
        ),
        (
            include_str!("schema/helm.toolkit.fluxcd.io_helmreleases.yaml"),
            "v2",
        ),
        (
            include_str!("schema/source.toolkit.fluxcd.io_ocirepositories.yaml"),
            "v1",
        ),
        (
            include_str!("schema/source.toolkit.fluxcd.io_helmcharts.yaml"),
            "v1",
        ),
        (
            include_str!("schema/image.toolkit.fluxcd.io_imagerepositories.yaml"),
            "v1",
        ),
        (
            include_str!("schema/image.toolkit.fluxcd.io_imagepolicies.yaml"),
            "v1",
        ),
        (
            include_str!("schema/image.toolkit.fluxcd.io_imageupdateautomations.yaml"),
            "v1",
        ),
        (
            include_str!("schema/notification.toolkit.fluxcd.io_providers.yaml"),
            "v1beta3",
        ),
        (
            include_str!("schema/notification.toolkit.fluxcd.io_alerts.yaml"),
            "v1beta3",
        ),
        (
            include_str!("schema/notification.toolkit.fluxcd.io_receivers.yaml"),
            "v1",
        ),
    ]
    .iter()
    .filter_map(|(text, version)| Some((serde_yaml::from_str::<Value>(text).ok()?, *version)))
    .filter_map(|(crd, version)| {
        let kind = crd["spec"]["names"]["kind"].as_str()?.to_owned();
        let spec = crd["spec"]["versions"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == version)?["schema"]["openAPIV3Schema"]["properties"]["spec"]
            .clone();
        Some((kind, spec))
    })
    .collect()
});

/// Refuses the first field of `spec` Flux's schema for `kind` does not have, naming the closest
/// valid one.
fn check_fields(id: &Id, kind: &str, spec: &Value) -> Result<(), FluxError> {
    let Some((_, schema)) = SCHEMAS.iter().find(|(k, _)| k == kind) else {
        return Ok(());
    };
    let unknown = crate::object::schema::unknown_fields(schema, spec, "spec", &[]);
    match unknown.first() {
        None => Ok(()),
        Some(first) => {
            let mut message = format!("unknown field: Flux's {kind} has no such field");
            if let Some(c) = &first.closest {
                message = format!("unknown field; did you mean `{c}`?");
            }
            Err(id.error(&first.path, message))
        }
    }
}

/// The identity and `spec` of a Flux object of `kind` in `group`, at the first of `versions` (the
/// one fledge reads; the others are older ones Flux still serves with the same fields), every
/// field checked against Flux's schema; the error names the object and the field.
fn read_spec<T: serde::de::DeserializeOwned>(
    object: &Value,
    kind: &str,
    group: &str,
    versions: &[&str],
) -> Result<(Id, T), FluxError> {
    let id = Id::of(object, kind)?;
    let version = object["apiVersion"].as_str().unwrap_or("");
    let current = versions.first().copied().unwrap_or("v1");
    if !versions.iter().any(|v| version == format!("{group}/{v}")) {
        return Err(id.error(
            "apiVersion",
            format!("`{version}` is not read: fledge reads Flux's `{group}/{current}` (upgrade the object with `flux migrate`, or set `apiVersion: {group}/{current}`)"),
        ));
    }
    check_fields(&id, kind, &object["spec"])?;
    let spec: T = serde_path_to_error::deserialize(&object["spec"])
        .map_err(|e| id.error(&format!("spec.{}", e.path()), e.inner().to_string()))?;
    Ok((id, spec))
}

/// `text`, a duration Flux's schema checked, or `default` when unset.
fn duration_or(text: Option<&str>, default: Duration) -> Duration {
    text.and_then(crate::release::spec::parse_duration)
        .unwrap_or(default)
}

/// `spec.interval` and `spec.timeout` where set: Go durations.
fn interval_and_timeout(
    id: &Id,
    interval: Option<&str>,
    timeout: Option<&str>,
) -> Result<(), FluxError> {
    for (field, v) in [("spec.interval", interval), ("spec.timeout", timeout)] {
        if let Some(v) = v {
            duration(id, field, v)?;
        }
    }
    Ok(())
}

/// A Go duration (`10m`, `1h30m`, `500ms`), as Flux's schema requires.
fn duration(id: &Id, field: &str, text: &str) -> Result<Duration, FluxError> {
    crate::release::spec::parse_duration(text).ok_or_else(|| {
        id.error(
            field,
            format!("`{text}` is not a duration (write it as Go does: `30s`, `10m`, `1h30m`)"),
        )
    })
}

#[cfg(test)]
mod tests;
