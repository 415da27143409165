//! The releases whose Canary left the repository, each handed back to what Git declares one
//! step at a time ([`retire::step`]): taken on when the commit that removed the Canary synced
//! in a unit that still builds, or, after a restart, found as Releases this daemon ran that no
//! Canary declares any more. Until it is done the Release's `Ready` condition says what it
//! waits for.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Reconciler, policy};
use crate::chain::Chain;
use crate::cluster::Cluster;
use crate::keys;
use crate::object::{ObjectKey, ObjectRef};
use crate::release::ReleaseTarget;
use crate::release::spec::ReleaseKey;
use crate::rollout::executor::release_described;
use crate::rollout::retire::{self, Retirement, Step};

/// A release being handed back.
pub(super) struct Retiring {
    /// The Release as last known: the live one when it was found in the cluster, else as the
    /// release last described it.
    release: Value,
    /// How long to wait between steps: the release's analysis interval.
    interval: Duration,
    due: Instant,
    failures: u32,
    /// What the Release's condition last said, so that it is written once per change.
    said: Option<String>,
}

impl Retiring {
    /// A release whose Canary the adopted commit removed.
    pub(super) fn removed(t: &ReleaseTarget, interval: Duration) -> Self {
        Self::found(release_described(t, None), interval)
    }

    fn found(release: Value, interval: Duration) -> Self {
        Self {
            release,
            interval,
            due: Instant::now(),
            failures: 0,
            said: None,
        }
    }
}

impl Reconciler {
    /// Finds the Releases this daemon ran whose Canary no commit declares any more (a Canary
    /// removed while it was stopped, or before it finished handing one back). `declared` is
    /// every release the adopted commit has, held or not.
    pub(super) async fn find_retiring(&mut self, declared: &BTreeSet<ReleaseKey>) {
        let owner = self.config.owner();
        let found = self
            .exec
            .cluster
            .list(keys::RELEASE_API_VERSION, keys::RELEASE_KIND, "")
            .await;
        let releases = match found {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %Chain(&e), "cannot list the Releases to find those whose Canary left the repository; looked for again at the next commit");
                return;
            }
        };
        self.releases_scanned = true;
        for r in releases {
            let key = ReleaseKey::new(
                r["metadata"]["namespace"].as_str().unwrap_or_default(),
                r["metadata"]["name"].as_str().unwrap_or_default(),
            );
            let ours = r["metadata"]["labels"][keys::OWNER_LABEL] == owner.as_str();
            if ours && !declared.contains(&key) && !self.retiring.contains_key(&key) {
                info!(release = %key, "no Canary in the repository declares this release any more; handing its app back to what Git declares");
                self.retiring
                    .insert(key, Retiring::found(r, self.config.min_interval));
            }
        }
    }

    /// Takes every release due one step further; returns when the next one is due.
    pub(super) async fn retire_due(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let due: Vec<ReleaseKey> = self
            .retiring
            .iter()
            .filter(|(_, r)| r.due <= now)
            .map(|(k, _)| k.clone())
            .collect();
        if due.is_empty() {
            return self.retiring.values().map(|r| r.due).min();
        }
        let keep = self.kept();
        for k in due {
            self.retire_one(&k, &keep).await;
        }
        self.retiring.values().map(|r| r.due).min()
    }

    /// What neither Git nor a release still declares may go; this is what may not.
    fn kept(&self) -> BTreeSet<ObjectKey> {
        let mut keep = BTreeSet::new();
        if let Some(d) = &self.declared {
            keep.extend(d.plain.iter().filter_map(ObjectKey::of));
            keep.extend(d.owned.iter().cloned());
            for t in d.releases.iter().flat_map(|r| r.releases.values()) {
                keep.extend(retire::objects_of(t).iter().map(ObjectRef::key));
            }
        }
        for e in self.entries.values() {
            keep.extend(retire::objects_of(&e.target).iter().map(ObjectRef::key));
        }
        keep.into_iter().map(in_default).collect()
    }

    async fn retire_one(&mut self, k: &ReleaseKey, keep: &BTreeSet<ObjectKey>) {
        let Some(r) = self.retiring.get(k) else {
            return;
        };
        let start = Instant::now();
        let stored = r.release.clone();
        let interval = self.ctx.clock.real(r.interval);
        let result = self.step(&stored, keep).await;
        let end = Instant::now();
        let cluster = &self.exec.cluster;
        let Some(r) = self.retiring.get_mut(k) else {
            return;
        };
        let said = match result {
            Ok(Step::Done { deleted, kept }) => {
                info!(release = %k, deleted = deleted.len(), apex = ?kept.map(|a| a.name),
                      "handed back to what Git declares: the release's objects are deleted");
                self.retiring.remove(k);
                return;
            }
            Ok(Step::Repointed(apex)) => {
                info!(release = %k, service = %apex, "the apex Service now selects the target's pods; the release's other objects go at the next step");
                r.due = policy::next_due(start, end, interval);
                r.failures = 0;
                format!(
                    "its Canary left the repository: the Service {} now selects the target's pods; the primary, routes and other Services go next",
                    apex.name
                )
            }
            Ok(Step::Waiting(why)) => {
                r.due = policy::next_due(start, end, interval);
                r.failures = 0;
                format!(
                    "its Canary left the repository; traffic moves to the target once it is ready: {why}"
                )
            }
            Err(e) => {
                r.failures = r.failures.saturating_add(1);
                r.due = policy::retry_at(e.disposition(), r.failures, start, end, interval);
                warn!(release = %k, error = %Chain(&e), "handing the release back failed; {}", policy::retried(e.disposition()));
                format!(
                    "its Canary left the repository; handing it back failed ({}): {e}",
                    policy::retried(e.disposition())
                )
            }
        };
        if r.said.as_ref() == Some(&said) {
            return;
        }
        let Ok(Some(live)) = cluster.get(&release_ref(&r.release)).await else {
            return;
        };
        let status = retire::retiring_status(&live, &said, self.ctx.clock.now());
        if cluster.apply_status(&status).await.is_ok() {
            r.said = Some(said);
        }
    }

    /// One step, on the live Release (or, when it is gone, the one last known).
    async fn step(
        &self,
        stored: &Value,
        keep: &BTreeSet<ObjectKey>,
    ) -> Result<Step, crate::cluster::Error> {
        let cluster = &self.exec.cluster;
        let live = cluster.get(&release_ref(stored)).await?;
        let release = live.as_ref().unwrap_or(stored);
        let mut objects = retire::recorded(release);
        objects.extend(retire::recorded(stored));
        objects.sort();
        objects.dedup();
        let target_key = retire::target_ref(release).map(|t| t.key());
        let target = self.declared.as_ref().and_then(|d| {
            d.plain
                .iter()
                .find(|o| ObjectKey::of(o).map(in_default) == target_key)
        });
        retire::step(
            cluster,
            &Retirement {
                release,
                objects,
                keep,
                target,
            },
        )
        .await
    }
}

/// An object Git declares without a namespace is in `default`, as a release's objects are.
fn in_default(mut k: ObjectKey) -> ObjectKey {
    if k.namespace.is_empty() {
        k.namespace = "default".into();
    }
    k
}

fn release_ref(release: &Value) -> ObjectRef {
    ObjectRef::new(
        keys::RELEASE_API_VERSION,
        keys::RELEASE_KIND,
        release["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default(),
        release["metadata"]["name"].as_str().unwrap_or_default(),
    )
}
