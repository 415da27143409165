//! The further Git repositories a commit's Kustomizations name (Flux `GitRepository` objects
//! other than the one fledge runs on): each is fetched into fledge's source cache when a build
//! first asks for it, polled again at its `spec.interval`, and given to builds as last fetched.
//! A poll that fails keeps the last commit, as source-controller keeps its last artifact; a
//! suspended GitRepository is not polled again. Credentials come from the Secret its
//! `spec.secretRef` names, and the keys `spec.verify` trusts from the Secret it names, both read
//! again at each poll so that a rotated Secret is used; a commit they do not verify is never
//! built, and the last verified one is kept. The OCI artifacts Kustomizations are built from
//! (`OCIRepository` objects) are fetched and polled beside them ([`super::artifacts`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

use serde_json::Value;
use sha2::Digest as _;

use super::artifacts::{self, Artifacts};
use super::shared::{lock, lock_now};
use crate::flux::oci::OciRepository;
use crate::flux::{GitRepository, Id};
use crate::ids::CommitId;
use crate::registry::artifact::Artifact;
use crate::rollout::targets::{ClusterData, Repositories};
use crate::source::flux::Secrets;
use crate::source::{self, Fetched, Snapshot, Source};

/// The further repositories, fetched and polled.
pub struct Further {
    cluster: Arc<dyn ClusterData>,
    cache_dir: PathBuf,
    entries: Mutex<BTreeMap<Id, Entry>>,
    /// The repositories builds asked for since the last [`Further::retain`]: those included by
    /// another (`spec.include`) among them.
    asked: Mutex<BTreeSet<Id>>,
    /// The OCI artifacts.
    artifacts: Artifacts,
}

struct Entry {
    /// The GitRepository as the commit declares it: a changed one is fetched anew.
    repo: GitRepository,
    source: Source,
    /// A digest of its Secret's data: a changed Secret opens the source anew.
    secret: String,
    snapshot: Arc<Snapshot>,
    polled: Instant,
}

/// What a round of polls found.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// The repositories that moved.
    pub moved: Vec<Moved>,
    /// The repositories that could not be polled, and why (their last commit is kept).
    pub failed: Vec<(Id, String)>,
    /// What the polls of OCI artifacts found.
    pub artifacts: artifacts::Refreshed,
}

/// A repository that moved to a new commit.
#[derive(Debug)]
pub struct Moved {
    pub repository: Id,
    pub commit: CommitId,
    /// The commit's message (empty when it cannot be read).
    pub message: String,
    /// What it tracks (`branch main`, …), for Flux's revision (`main@sha1:<commit>`).
    pub tracks: String,
}

impl Further {
    #[must_use]
    pub fn new(cluster: Arc<dyn ClusterData>, cache_dir: PathBuf) -> Self {
        Self {
            artifacts: Artifacts::new(cluster.clone()),
            cluster,
            cache_dir,
            entries: Mutex::default(),
            asked: Mutex::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<Id, Entry>> {
        lock(&self.entries)
    }

    /// The entries, unless a poll holds them: what the reconciler's own task asks never waits
    /// on a remote.
    fn entries_now(&self) -> Option<std::sync::MutexGuard<'_, BTreeMap<Id, Entry>>> {
        lock_now(&self.entries)
    }

    /// When the next poll is due (`None`: nothing to poll, or a poll is under way).
    #[must_use]
    pub fn due(&self) -> Option<Instant> {
        let git = self
            .entries_now()?
            .values()
            .filter(|e| !e.repo.spec.suspend)
            .map(|e| e.polled + e.repo.interval())
            .min();
        git.into_iter().chain(self.artifacts.due()).min()
    }

    /// Forgets the repositories no unit is built from any more, nor included by one that is
    /// (at the next build when a poll is under way).
    pub fn retain(&self, used: &BTreeSet<Id>) {
        if let Some(mut e) = self.entries_now() {
            let mut asked = lock(&self.asked);
            e.retain(|id, _| used.contains(id) || asked.contains(id));
            asked.clear();
        }
        self.artifacts.retain(used);
    }

    /// Polls each repository that is due (blocking: network).
    pub fn refresh(&self) -> Refreshed {
        let now = Instant::now();
        let mut out = Refreshed {
            artifacts: self.artifacts.refresh(),
            ..Refreshed::default()
        };
        let mut entries = self.entries();
        for (id, e) in entries.iter_mut() {
            if e.repo.spec.suspend || e.polled + e.repo.interval() > now {
                continue;
            }
            e.polled = now;
            match self.poll(e) {
                Ok(Some(snapshot)) => {
                    let commit = snapshot.commit.to_string();
                    let message = source::commit_messages(e.source.config(), &commit, None, 1)
                        .ok()
                        .and_then(|m| m.into_iter().next())
                        .unwrap_or_default();
                    out.moved.push(Moved {
                        repository: id.clone(),
                        commit: snapshot.commit.clone(),
                        message,
                        tracks: e.repo.tracks(),
                    });
                    e.snapshot = Arc::new(snapshot);
                }
                Ok(None) => {}
                Err(why) => out.failed.push((
                    id.clone(),
                    format!(
                        "{why}; its Kustomizations stay at commit {}",
                        e.snapshot.commit
                    ),
                )),
            }
        }
        out
    }

    /// Polls one repository: its new commit, if it moved.
    fn poll(&self, e: &mut Entry) -> Result<Option<Snapshot>, String> {
        let secrets = self.secrets(&e.repo)?;
        let digest = digest(&secrets);
        if digest != e.secret {
            let (source, snapshot) = self.open(&e.repo, &secrets)?;
            e.source = source;
            e.secret = digest;
            return Ok((snapshot.commit != e.snapshot.commit).then_some(snapshot));
        }
        match e.source.poll() {
            Ok(Fetched::Unchanged(_)) => Ok(None),
            Ok(Fetched::New(s)) => Ok(Some(s)),
            Err(err) => Err(failure(&e.repo, &err)),
        }
    }

    /// The Secrets `repo` names: `spec.secretRef`'s (which must exist) and
    /// `spec.verify.secretRef`'s (whose absence `spec.verify` says).
    fn secrets(&self, repo: &GitRepository) -> Result<Secrets, String> {
        let ns = &repo.id.namespace;
        let read = |field: &str, name: &str| {
            self.cluster
                .object("Secret", ns, name)
                .map_err(|e| format!("GitRepository {}: {field}: {e}", repo.id))
        };
        let auth = match &repo.spec.secret_ref {
            None => None,
            Some(r) => Some(read("spec.secretRef", &r.name)?.ok_or_else(|| {
                format!(
                    "GitRepository {}: spec.secretRef: Secret {ns}/{} does not exist; create it with the repository's credentials",
                    repo.id, r.name
                )
            })?),
        };
        let verify = match &repo.spec.verify {
            None => None,
            Some(v) => read("spec.verify.secretRef", &v.secret_ref.name)?,
        };
        Ok(Secrets { auth, verify })
    }

    /// Opens the source of `repo` and fetches the commit it tracks.
    fn open(&self, repo: &GitRepository, secrets: &Secrets) -> Result<(Source, Snapshot), String> {
        let config = source::flux::config(repo, secrets, &self.cache_dir)?;
        let mut source = Source::open(config).map_err(|e| failure(repo, &e))?;
        match source.poll() {
            Ok(Fetched::New(s)) => Ok((source, s)),
            Ok(Fetched::Unchanged(c)) => source
                .snapshot(git2::Oid::from_str(c.as_str()).map_err(|e| e.to_string())?)
                .map(|s| (source, s))
                .map_err(|e| failure(repo, &e)),
            Err(e) => Err(failure(repo, &e)),
        }
    }
}

impl Repositories for Further {
    fn tree(&self, repo: &GitRepository) -> Result<Arc<Snapshot>, String> {
        lock(&self.asked).insert(repo.id.clone());
        if let Some(e) = self.entries().get(&repo.id).filter(|e| e.repo == *repo) {
            return Ok(e.snapshot.clone());
        }
        let secrets = self.secrets(repo)?;
        let (source, snapshot) = self.open(repo, &secrets)?;
        let snapshot = Arc::new(snapshot);
        self.entries().insert(
            repo.id.clone(),
            Entry {
                repo: repo.clone(),
                source,
                secret: digest(&secrets),
                snapshot: snapshot.clone(),
                polled: Instant::now(),
            },
        );
        Ok(snapshot)
    }

    fn artifact(&self, repo: &OciRepository) -> Result<Arc<Artifact>, String> {
        self.artifacts.artifact(repo)
    }
}

fn failure(repo: &GitRepository, e: &source::Error) -> String {
    format!("GitRepository {}: {}", repo.id, crate::chain::Chain(e))
}

/// A digest of the Secrets' data (never shown; compared only).
fn digest(secrets: &Secrets) -> String {
    let data = |s: &Option<Value>| {
        s.as_ref()
            .map(|s| (s["data"].to_string(), s["stringData"].to_string()))
    };
    let both = (data(&secrets.auth), data(&secrets.verify));
    hex::encode(sha2::Sha256::digest(format!("{both:?}").as_bytes()))
}
