//! The OCI artifacts a commit's Kustomizations are built from (Flux `OCIRepository` objects,
//! manifests pushed with `flux push artifact`): each is fetched when a build first asks for it,
//! polled again at its `spec.interval`, and given to builds as last fetched. A poll asks the
//! registry only for the digest the repository's tag (or semver range) names today; the layer
//! is pulled again only when that digest changed. A poll that fails keeps the last artifact, as
//! source-controller keeps its last one; a suspended OCIRepository is not polled again.
//! Credentials come from the Secrets its `spec.secretRef` and `spec.certSecretRef` name, read
//! again at each poll so that a rotated Secret is used; so are the public keys of
//! `spec.verify.secretRef`: a new digest is pulled only once its cosign signature verifies,
//! and one that does not verify fails the poll, the last verified artifact kept.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::flux::Id;
use crate::flux::oci::OciRepository;
use crate::net::Secret;
use crate::registry::Access;
use crate::registry::artifact::{self, Artifact};
use crate::rollout::targets::ClusterData;

/// The artifacts, fetched and polled.
pub struct Artifacts {
    cluster: Arc<dyn ClusterData>,
    entries: Mutex<BTreeMap<Id, Entry>>,
}

struct Entry {
    /// The OCIRepository as the commit declares it: a changed one is fetched anew.
    repo: OciRepository,
    artifact: Arc<Artifact>,
    polled: Instant,
}

/// What a round of polls found.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// The repositories whose artifact changed, each with its new revision.
    pub moved: Vec<(Id, String)>,
    /// The repositories that could not be polled, and why (their last artifact is kept).
    pub failed: Vec<(Id, String)>,
}

impl Artifacts {
    /// Reads the repositories' Secrets from `cluster`.
    #[must_use]
    pub fn new(cluster: Arc<dyn ClusterData>) -> Self {
        Self {
            cluster,
            entries: Mutex::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<Id, Entry>> {
        super::shared::lock(&self.entries)
    }

    /// The entries, unless a poll holds them: what the reconciler's own task asks never waits
    /// on a registry.
    fn entries_now(&self) -> Option<std::sync::MutexGuard<'_, BTreeMap<Id, Entry>>> {
        super::shared::lock_now(&self.entries)
    }

    /// When the next poll is due (`None`: nothing to poll, or a poll is under way).
    #[must_use]
    pub fn due(&self) -> Option<Instant> {
        self.entries_now()?
            .values()
            .filter(|e| !e.repo.spec.suspend)
            .map(|e| e.polled + e.repo.interval())
            .min()
    }

    /// Forgets the repositories no unit is built from any more (at the next build when a poll
    /// is under way).
    pub fn retain(&self, used: &BTreeSet<Id>) {
        if let Some(mut e) = self.entries_now() {
            e.retain(|id, _| used.contains(id));
        }
    }

    /// Polls each repository that is due (blocking: network).
    pub fn refresh(&self) -> Refreshed {
        let now = Instant::now();
        let mut out = Refreshed::default();
        let mut entries = self.entries();
        for (id, e) in entries.iter_mut() {
            if e.repo.spec.suspend || e.polled + e.repo.interval() > now {
                continue;
            }
            e.polled = now;
            match self.fetch(&e.repo, Some(&e.artifact)) {
                Ok(a) if a.revision == e.artifact.revision => {}
                Ok(a) => {
                    out.moved.push((id.clone(), a.revision.flux()));
                    e.artifact = a;
                }
                Err(why) => out.failed.push((
                    id.clone(),
                    format!(
                        "{why}; its Kustomizations stay at revision {}",
                        e.artifact.revision.flux()
                    ),
                )),
            }
        }
        out
    }

    /// The artifact `repo` follows now: `last` again when its digest did not change (the
    /// layer is not pulled again), else pulled.
    fn fetch(
        &self,
        repo: &OciRepository,
        last: Option<&Arc<Artifact>>,
    ) -> Result<Arc<Artifact>, String> {
        let access = self.access(repo)?;
        let revision = artifact::block_on(artifact::revision(repo, &access))??;
        match last {
            Some(a) if a.revision == revision => Ok(a.clone()),
            Some(a) if a.revision.digest == revision.digest => Ok(Arc::new(Artifact {
                revision,
                ..Artifact::clone(a)
            })),
            _ => artifact::block_on(artifact::fetch(repo, revision, &access))?.map(Arc::new),
        }
    }

    /// How to reach `repo`'s registry, its Secrets read from the cluster.
    fn access(&self, repo: &OciRepository) -> Result<Access, String> {
        let ns = &repo.id.namespace;
        artifact::access(repo, |field, name| {
            let fail = |e: String| format!("OCIRepository {}: {field}: {e}", repo.id);
            let secret = self
                .cluster
                .object("Secret", ns, name)
                .map_err(fail)?
                .ok_or_else(|| fail(format!("Secret {ns}/{name} does not exist")))?;
            let data = crate::object::secret_bytes(&secret).map_err(fail)?;
            data.into_iter()
                .map(|(k, v)| {
                    String::from_utf8(v)
                        .map(|text| (k.clone(), Secret::new(text)))
                        .map_err(|_| fail(format!("the value of {k:?} is not UTF-8 text")))
                })
                .collect()
        })
    }

    /// The artifact `repo` follows, as last fetched (fetched now when it never was, or when
    /// the commit declares the repository differently).
    pub fn artifact(&self, repo: &OciRepository) -> Result<Arc<Artifact>, String> {
        let last = match self.entries().get(&repo.id) {
            Some(e) if e.repo == *repo => return Ok(e.artifact.clone()),
            // The same layer of another declaration is not pulled again for an unchanged digest,
            // unless its signature is to be verified: a declaration that verifies is fetched
            // (and verified) anew, as source-controller verifies again when the spec changed.
            Some(e) if e.repo.layer() == repo.layer() && repo.verify_secret().is_none() => {
                Some(e.artifact.clone())
            }
            _ => None,
        };
        let artifact = self.fetch(repo, last.as_ref())?;
        self.entries().insert(
            repo.id.clone(),
            Entry {
                repo: repo.clone(),
                artifact: artifact.clone(),
                polled: Instant::now(),
            },
        );
        Ok(artifact)
    }
}
