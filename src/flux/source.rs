//! Flux's `GitRepository` (`source.toolkit.fluxcd.io/v1`): a Git repository, the reference
//! tracked in it, and how it is read. The one the root Kustomization names (`flux-system` in a
//! bootstrapped repository) is the repository fledge runs on; its spec says what Flux was told
//! about it, which fledge compares with what it was started with.

use serde::Deserialize;
use serde_json::Value;

use super::{FluxError, Id, duration};

/// The group of Flux's sources.
pub const GROUP: &str = "source.toolkit.fluxcd.io";

/// A Flux GitRepository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRepository {
    pub id: Id,
    pub spec: Spec,
}

/// `spec`, as Flux's API types name it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub url: String,
    #[serde(default)]
    pub secret_ref: Option<super::kustomization::LocalRef>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub service_account_name: Option<String>,
    pub interval: String,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default, rename = "ref")]
    pub reference: Option<Reference>,
    #[serde(default)]
    pub verify: Option<Verify>,
    #[serde(default)]
    pub proxy_secret_ref: Option<super::kustomization::LocalRef>,
    #[serde(default)]
    pub ignore: Option<String>,
    #[serde(default)]
    pub suspend: bool,
    #[serde(default)]
    pub recurse_submodules: bool,
    #[serde(default)]
    pub include: Vec<Value>,
    #[serde(default)]
    pub sparse_checkout: Vec<String>,
}

/// `spec.ref`: what to check out; Flux's precedence is commit, name, semver, tag, branch, and
/// `master` when none is set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct Reference {
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub semver: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub commit: Option<String>,
}

/// `spec.verify`: the commit (or tag) must be signed by a key in the Secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verify {
    #[serde(default)]
    pub mode: Option<String>,
    pub secret_ref: super::kustomization::LocalRef,
}

/// A commit as Flux writes a GitRepository's revision: `<branch>@sha1:<commit>` when the
/// repository tracks a branch, `sha1:<commit>` otherwise; `tracks` as
/// [`GitRepository::tracks`] says it (`branch main`, `tag v1.2.0`, …).
#[must_use]
pub fn revision(tracks: &str, commit: &str) -> String {
    match tracks.strip_prefix("branch ") {
        Some(branch) => format!("{branch}@sha1:{commit}"),
        None => format!("sha1:{commit}"),
    }
}

impl GitRepository {
    /// Reads a `source.toolkit.fluxcd.io/v1` GitRepository; the error names the object and
    /// the field.
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        let (id, spec): (Id, Spec) = super::read_spec(object, "GitRepository", GROUP, &["v1"])?;
        duration(&id, "spec.interval", &spec.interval)?;
        if let Some(t) = &spec.timeout {
            duration(&id, "spec.timeout", t)?;
        }
        Ok(Self { id, spec })
    }

    /// `spec.interval`: how often it is fetched.
    #[must_use]
    pub fn interval(&self) -> std::time::Duration {
        super::duration_or(
            Some(&self.spec.interval),
            std::time::Duration::from_secs(60),
        )
    }

    /// `spec.timeout` (Flux's default: 60 s): how long one fetch may take.
    #[must_use]
    pub fn timeout(&self) -> std::time::Duration {
        super::duration_or(
            self.spec.timeout.as_deref(),
            std::time::Duration::from_secs(60),
        )
    }

    /// The reference it tracks, as a person would write it: `branch main`, `tag v1.2.0`,
    /// `semver >=1.0`, `name refs/pull/1/head`, `commit 0123…`, with Flux's precedence.
    #[must_use]
    pub fn tracks(&self) -> String {
        let r = self.spec.reference.clone().unwrap_or_default();
        let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        if let Some(c) = set(&r.commit) {
            return format!("commit {c}");
        }
        if let Some(n) = set(&r.name) {
            return format!("name {n}");
        }
        if let Some(s) = set(&r.semver) {
            return format!("semver {s}");
        }
        if let Some(t) = set(&r.tag) {
            return format!("tag {t}");
        }
        format!(
            "branch {}",
            set(&r.branch).unwrap_or_else(|| "master".into())
        )
    }
}
