//! What the plan stage makes of a commit's Flux objects, and what its builds read beyond the
//! commit: a sync unit (the root path, a Kustomization or a HelmRelease) with its settings and
//! why it is held, and the edges a build reads through (the cluster's ConfigMaps and Secrets,
//! further Git repositories and OCI artifacts, Helm).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::flux::oci::OciRepository;
use crate::flux::{GitRepository, Id};
use crate::object::ObjectKey;
use crate::registry::artifact::Artifact;
use crate::sops::Keys;
use crate::source::Snapshot;

/// What a build reads beyond the commit: the cluster's ConfigMaps and Secrets (a
/// Kustomization's `postBuild.substituteFrom`, the keys its `spec.decryption` names, a
/// HelmRelease's `valuesFrom`), the further Git repositories its Kustomizations name, Helm (the
/// charts of HelmReleases), and the SOPS keys given to fledge itself.
#[derive(Clone)]
pub struct BuildEnv {
    pub cluster: Arc<dyn ClusterData>,
    pub repositories: Arc<dyn Repositories>,
    /// Charts fetched and rendered (HelmReleases).
    pub helm: Arc<dyn crate::helm::Helm>,
    /// Age keys (`--sops-age-key-file`): the root path's, and those of a Kustomization whose
    /// `spec.decryption` names no Secret.
    pub keys: Option<Arc<Keys>>,
}

impl Default for BuildEnv {
    fn default() -> Self {
        Self {
            cluster: Arc::new(NoCluster),
            repositories: Arc::new(NoCluster),
            helm: Arc::new(crate::helm::NoHelm),
            keys: None,
        }
    }
}

/// The sources other than the repository fledge runs on that a commit's Kustomizations name:
/// GitRepositories and OCIRepositories (the daemon fetches and polls each at its
/// `spec.interval`; `fledge build` and `fledge plan` fetch none).
pub trait Repositories: Send + Sync {
    /// The commit `repo` tracks, as last fetched (fetched now when it never was), with its
    /// files; `Err` says why it cannot be had.
    fn tree(&self, repo: &GitRepository) -> Result<Arc<Snapshot>, String>;

    /// The artifact `repo` follows, as last fetched (fetched now when it never was), with the
    /// files of its layer; `Err` says why it cannot be had.
    fn artifact(&self, repo: &OciRepository) -> Result<Arc<Artifact>, String>;
}

impl Repositories for NoCluster {
    fn tree(&self, repo: &GitRepository) -> Result<Arc<Snapshot>, String> {
        Err(format!(
            "GitRepository {} ({}) is another repository, and this command reads only the one it is given (the daemon fetches it)",
            repo.id,
            crate::source::redact(&repo.spec.url)
        ))
    }

    fn artifact(&self, repo: &OciRepository) -> Result<Arc<Artifact>, String> {
        Err(format!(
            "OCIRepository {} ({}) is an artifact in a registry, and this command reads only the repository it is given (the daemon fetches it)",
            repo.id, repo.spec.url
        ))
    }
}

/// Reads a ConfigMap or Secret of the cluster for a build (the daemon answers with blocking
/// reads of the API server; `fledge build` and `fledge plan` read nothing).
pub trait ClusterData: Send + Sync {
    /// The object as the API returns it; `Ok(None)` when it does not exist, `Err` (saying why)
    /// when it cannot be read.
    fn object(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Value>, String>;

    /// A chart's `lookup` as `account` (`namespace/name` of the ServiceAccount a HelmRelease's
    /// `spec.serviceAccountName` acts as, else fledge's own) reads it: the object or the list,
    /// `{}` where there is none, `Err` (why) where it cannot be read. `Ok(None)`: nothing is
    /// read here, and the lookup answers nothing, as in `helm template`.
    fn lookup(
        &self,
        account: Option<&str>,
        query: &crate::helm::Lookup,
    ) -> Result<Option<Value>, String> {
        let _ = (account, query);
        Ok(None)
    }
}

/// No cluster to read: what needs one fails, saying so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCluster;

impl ClusterData for NoCluster {
    fn object(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Value>, String> {
        Err(format!(
            "{kind} {namespace}/{name} is in the cluster, and this command reads none (the daemon does)"
        ))
    }
}

/// One Kustomization (or the root path no Kustomization names) as the daemon syncs it: its own
/// inventory, prune guard and status.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncUnit {
    /// `root`, or the Kustomization's `<namespace>/<name>`.
    pub name: String,
    /// Whether it is the root path fledge runs on.
    pub root: bool,
    /// Its path in the repository.
    pub path: String,
    /// The name of its inventory ConfigMap (the root path keeps fledge's one inventory).
    pub inventory: String,
    /// What it declares, by key (Canaries and other configuration included).
    pub keys: BTreeSet<ObjectKey>,
    /// The units (by name) that must be ready before it is applied.
    pub depends_on: Vec<String>,
    /// `spec.prune`: whether what it dropped is deleted.
    pub prune: bool,
    /// `spec.force`: an object whose update the server refuses for an immutable field is
    /// deleted and created anew.
    pub force: bool,
    /// `spec.ignore` as written (checked): fields kept as the cluster has them.
    pub ignore: Vec<Value>,
    /// `spec.deletionPolicy`: what becomes of its objects once it is removed from the repository.
    pub deletion: Deletion,
    /// `spec.interval`, when a Kustomization sets it: how often it is applied again.
    pub interval: Option<Duration>,
    /// `spec.retryInterval` (else the interval): how soon a failure is tried again.
    pub retry_interval: Option<Duration>,
    /// `spec.timeout`: how long it may take to become healthy.
    pub timeout: Duration,
    /// What it waits for before it is ready.
    pub health: Health,
    /// Why it is not applied at all, when it is not.
    pub hold: Option<Hold>,
    /// The Secret values its `postBuild` substituted, masked in whatever is reported of it.
    pub mask: Mask,
    /// `spec.serviceAccountName`, as `<namespace>/<name>`: what it applies, reads and prunes is
    /// done as that ServiceAccount (impersonated), as Flux's multi-tenancy does.
    pub service_account: Option<String>,
    /// The further GitRepository or the OCIRepository it is built from, when it is not the
    /// repository fledge runs on.
    pub source: Option<UnitSource>,
    /// The unit whose objects declare it (`None` for the root): as Flux creates a Kustomization
    /// only when that one applies it, it is first synced once that one applied the commit.
    pub parent: Option<String>,
    /// The Kustomization as written (`Null` for a root path no Kustomization names): `self`
    /// and `dep` of a `readyExpr`, once its status is added.
    pub declared: Value,
    /// `spec.dependsOn[].readyExpr`, by the dependency's unit name: a CEL expression over
    /// `self` and `dep` that says when the dependency is ready, in place of Flux's own check.
    pub ready_exprs: BTreeMap<String, String>,
}

/// A further source a unit is built from, at the revision it was built at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSource {
    pub kind: UnitSourceKind,
    pub repository: Id,
    /// What it tracks (`branch main`, `tag v1.2.0`, `semver >=1.0.0`, …).
    pub tracks: String,
    /// The commit it was built at (a GitRepository), or the artifact's revision as
    /// source-controller writes it (an OCIRepository: `<tag>@sha256:<digest>`, or the digest
    /// alone when a digest is followed).
    pub commit: crate::ids::CommitId,
}

/// The kind of a unit's further source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitSourceKind {
    GitRepository,
    OciRepository,
}

impl UnitSource {
    /// `commit`, a revision of this source, as Flux writes it (`lastAppliedRevision`):
    /// `main@sha1:<commit>` for a branch of a GitRepository, an OCIRepository's as it is.
    #[must_use]
    pub fn revision(&self, commit: &crate::ids::CommitId) -> String {
        match self.kind {
            UnitSourceKind::GitRepository => {
                crate::flux::source::revision(&self.tracks, commit.as_str())
            }
            UnitSourceKind::OciRepository => commit.to_string(),
        }
    }

    /// The source for people: `GitRepository flux-system/apps (branch main)`.
    #[must_use]
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            UnitSourceKind::GitRepository => "GitRepository",
            UnitSourceKind::OciRepository => "OCIRepository",
        };
        format!("{kind} {} ({})", self.repository, self.tracks)
    }
}

/// Values never to be shown (their count is, in debug output).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Mask(pub BTreeSet<String>);

impl std::fmt::Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mask({} values)", self.0.len())
    }
}

impl Mask {
    /// `text` with every masked value replaced by `***`, as kustomize-controller masks them.
    #[must_use]
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        // Longest first: a value that holds another is masked whole.
        let mut values: Vec<&String> = self.0.iter().collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for v in values {
            out = out.replace(v.as_str(), "***");
        }
        out
    }
}

/// What a removed unit's objects become (`spec.deletionPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted when the unit prunes (`MirrorPrune`, Flux's default), or always (`Delete`,
    /// `WaitForTermination`).
    Delete { always: bool },
    /// Left in the cluster (`Orphan`).
    Orphan,
}

impl Deletion {
    /// The policy's name in `spec.deletionPolicy`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delete { always: false } => "MirrorPrune",
            Self::Delete { always: true } => "Delete",
            Self::Orphan => "Orphan",
        }
    }

    /// The policy named `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "MirrorPrune" => Some(Self::Delete { always: false }),
            "Delete" | "WaitForTermination" => Some(Self::Delete { always: true }),
            "Orphan" => Some(Self::Orphan),
            _ => None,
        }
    }
}

/// What a unit waits for before it is ready (`wait`, `healthChecks`, `healthCheckExprs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// `spec.wait`: every object it applies.
    pub all: bool,
    /// `spec.healthChecks`.
    pub checks: Vec<crate::object::ObjectRef>,
    /// `spec.healthCheckExprs`, as written.
    pub exprs: Vec<Value>,
}

impl Health {
    /// Whether anything is waited for.
    #[must_use]
    pub fn waits(&self) -> bool {
        self.all || !self.checks.is_empty()
    }
}

/// Why a unit is not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// `spec.suspend`: nothing is applied or pruned until it is resumed.
    Suspended,
    /// It cannot be built, or must not be applied: why, naming the field.
    Failed(String),
    /// What its build reads from the cluster (a `substituteFrom` source, its decryption
    /// Secret) is missing or cannot be read: built again once what it depends on is ready.
    Unreadable(String),
}
