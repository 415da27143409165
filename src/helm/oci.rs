//! Charts in OCI registries, as source-controller fetches them: the chart an `OCIRepository`
//! follows (a digest, the highest tag in a semver range, or a tag; the layer its
//! `layerSelector` names, else the first), and a chart of a `type: oci` HelmRepository (the
//! tag `helm push` gave the version — `+` written `_` — chosen among the repository's tags as
//! Helm's registry client reads them: strict semver), its cosign signature verified first when
//! `spec.verify` (or `spec.chart.spec.verify`) asks for it. What was resolved is kept for the
//! repository's interval and the archives by digest, so a render at rest asks the registry
//! nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::{Base64, Chart, RepositoryAuth};
use crate::flux::helm::HelmRepository;
use crate::flux::oci::{HELM_CHART_LAYER, OciRepository};
use crate::registry::{Access, Pulled, artifact};

/// What was fetched: each (repository, what it follows) with when, and the chart.
#[derive(Default)]
pub(super) struct Resolved(Mutex<HashMap<String, (Instant, Chart)>>);

impl Resolved {
    /// The chart kept under `key` when younger than `fresh`, else `fetch`'s, kept.
    fn get_or(
        &self,
        key: String,
        fresh: std::time::Duration,
        fetch: impl FnOnce() -> Result<Chart, String>,
    ) -> Result<Chart, String> {
        if let Some((at, chart)) = self.0.lock().map_err(|e| e.to_string())?.get(&key)
            && at.elapsed() < fresh
        {
            return Ok(chart.clone());
        }
        let chart = fetch()?;
        self.0
            .lock()
            .map_err(|e| e.to_string())?
            .insert(key, (Instant::now(), chart.clone()));
        Ok(chart)
    }
}

/// The chart `repo` follows.
pub(super) fn from_oci_repository(
    resolved: &Resolved,
    repo: &OciRepository,
    access: &Access,
) -> Result<Chart, String> {
    artifact::refused(repo)?;
    let image = artifact::image(repo)?;
    let follow = repo.follows().map_err(|e| format!("OCIRepository {e}"))?;
    let key = format!(
        "{image}\n{follow:?}\n{:?}\n{}",
        repo.layer(),
        verified_by(access)
    );
    let layer = repo.layer().media_type;
    resolved.get_or(key, repo.interval(), || {
        let at = block_on(artifact::resolve(repo, &image, &follow, access))??;
        let pulled = block_on(artifact::pull_verified(
            &image,
            &at,
            access,
            layer.as_deref(),
        ))?
        .map_err(|e| format!("OCIRepository {}: {e}", repo.id))?;
        chart(&image, &at, pulled)
    })
}

/// The newest chart `name` of the OCI HelmRepository `repo` whose version meets `constraint`.
pub(super) fn from_helm_repository(
    resolved: &Resolved,
    repo: &HelmRepository,
    auth: &RepositoryAuth,
    name: &str,
    constraint: &str,
) -> Result<Chart, String> {
    if auth.identity.is_some() {
        return Err(format!(
            "HelmRepository {}: client certificates (tls.crt, tls.key) for OCI registries are not used by fledge yet",
            repo.id
        ));
    }
    let base = repo
        .spec
        .url
        .strip_prefix("oci://")
        .ok_or_else(|| {
            format!(
                "HelmRepository {}: a `type: oci` repository's url starts with oci://",
                repo.id
            )
        })?
        .trim_end_matches('/');
    let image = format!("{base}/{name}");
    let access = Access {
        basic: auth.basic.clone(),
        ca: auth.ca.clone(),
        insecure: repo.spec.insecure,
        timeout: repo.timeout(),
        verify: auth.verify.clone(),
    };
    let key = format!("{image}\n{constraint}\n{}", verified_by(&access));
    resolved.get_or(key, repo.interval(), || {
        // An exact version is its tag; a range is looked up among the tags.
        let tag = if let Ok(v) = semver::Version::parse(constraint) {
            v.to_string().replace('+', "_")
        } else {
            let range = crate::flux::constraint::Constraint::parse(constraint).map_err(|e| {
                format!("spec.chart.spec.version: {constraint:?} is not a semver constraint: {e}")
            })?;
            let tags = block_on(crate::registry::tags(&image, &access))?
                .map_err(|e| format!("HelmRepository {}: {e}", repo.id))?;
            tags.iter()
                .filter_map(|t| Some((semver::Version::parse(&t.replace('_', "+")).ok()?, t)))
                .filter(|(v, _)| range.matches(v))
                .max_by(|a, b| a.0.cmp_precedence(&b.0))
                .map(|(_, t)| t.clone())
                .ok_or_else(|| {
                    format!(
                        "HelmRepository {}: no version of chart {name} meets {constraint:?} ({image})",
                        repo.id
                    )
                })?
        };
        let pulled = block_on(artifact::pull_verified(
            &image,
            &tag,
            &access,
            Some(HELM_CHART_LAYER),
        ))?
        .map_err(|e| format!("HelmRepository {}: {e}", repo.id))?;
        chart(&image, &tag, pulled)
    })
}

/// What a chart kept is known to be verified with (empty: not verified), so that a chart
/// fetched unverified is never given where verification is asked.
fn verified_by(access: &Access) -> String {
    access
        .verify
        .as_ref()
        .map(crate::registry::cosign::Keys::fingerprint)
        .unwrap_or_default()
}

/// The chart of a pulled layer: the archive as it is (a chart's layer is its packaged chart;
/// Helm reads an extracted and a copied layer alike).
fn chart(image: &str, at: &str, pulled: Pulled) -> Result<Chart, String> {
    if pulled.bytes.get(..2) != Some(&[0x1f, 0x8b]) {
        return Err(format!(
            "{image}:{at}: the layer taken ({}) is not a gzipped chart archive; select the chart's layer with spec.layerSelector.mediaType: {HELM_CHART_LAYER}",
            pulled.media_type
        ));
    }
    Ok(Chart {
        name: image.rsplit('/').next().unwrap_or(image).to_owned(),
        version: at.to_owned(),
        digest: pulled.digest,
        archive: Base64(Arc::new(pulled.bytes)),
    })
}

/// Runs `f` to completion on a runtime of its own (the registry edge's).
pub(super) use crate::registry::artifact::block_on;
