//! The outcome writer: makes Git tell what the releases did. Level-triggered — each flush
//! computes what Git should hold from the latest release states and writes the difference:
//!
//! - the status branch (`fledge/status`): `releases/<namespace>/<name>.yaml` per release;
//! - a promotion record `.fledge/promoted/<namespace>/<name>.yaml` on the tracked branch for
//!   every release whose promoted revision is the one Git asks for;
//! - a revert commit on the tracked branch for every release that failed while Git still asks
//!   for the failed revision: it reverts the commits that brought that revision, with trailers
//!   `Fledge-Release`, `Fledge-Reason`, `Fledge-Revision` and `Fledge-Commit`; a revert that
//!   conflicts is not committed and the target stays on its primary;
//! - notes under `refs/notes/fledge` on the commits that started releases.
//!
//! Writes are coalesced (one flush per `coalesce` at most) and idempotent: unchanged content
//! makes no commit, and a revert already on the branch is found by its trailers, so a restart
//! neither duplicates nor loses a write. A failing write is retried later; it never holds back
//! a rollback, which has already happened in the cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use git2::{Oid, Repository};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{Shared, World, desired};
use crate::revision::HashKey;
use crate::rollout::Phase;
use crate::rollout::spec::Provider;
use crate::writeback::{self, Change, Edit, GitWriter, WriterConfig, Written, record};

/// What to write, and where.
#[derive(Debug, Clone)]
pub struct OutcomeConfig {
    pub writer: WriterConfig,
    /// The tracked branch (promotion records, reverts).
    pub branch: String,
    /// `None`: no status branch.
    pub status_branch: Option<String>,
    pub notes: bool,
    pub promotions: bool,
    pub reverts: bool,
    /// At most one flush per this long.
    pub coalesce: Duration,
}

/// Writes outcomes to one repository.
pub struct Writer {
    config: OutcomeConfig,
    git: GitWriter,
    path: String,
    provider: Provider,
    key: HashKey,
    shared: Arc<Shared>,
    /// Notes already written this run, by commit.
    notes: BTreeMap<String, String>,
    /// (release, revision) whose revert conflicted: a person must act.
    given_up: BTreeSet<(String, String)>,
    alerts: tokio::sync::mpsc::Sender<super::Outgoing>,
    alert_targets: Vec<crate::report::alerts::Target>,
}

impl Writer {
    pub fn new(
        config: OutcomeConfig,
        path: String,
        provider: Provider,
        key: HashKey,
        shared: Arc<Shared>,
        alerts: tokio::sync::mpsc::Sender<super::Outgoing>,
        alert_targets: Vec<crate::report::alerts::Target>,
    ) -> Result<Self, writeback::Error> {
        Ok(Self {
            git: GitWriter::open(config.writer.clone())?,
            config,
            path,
            provider,
            key,
            shared,
            notes: BTreeMap::new(),
            given_up: BTreeSet::new(),
            alerts,
            alert_targets,
        })
    }

    /// Flushes whenever the world changes (coalesced) and retries failures every 30 s.
    pub async fn run(mut self, mut world: watch::Receiver<World>, shutdown: CancellationToken) {
        let mut failed = false;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                r = world.changed() => if r.is_err() { return },
                () = tokio::time::sleep(Duration::from_secs(30)), if failed => {}
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.config.coalesce) => {}
            }
            let w = world.borrow_and_update().clone();
            match self.flush(&w).await {
                Ok(()) => failed = false,
                Err(e) => {
                    if !failed {
                        self.alert(format!("Writing release outcomes to Git failed: {e}"));
                    }
                    failed = true;
                    self.count(true);
                    warn!(error = %e, "writing outcomes to Git failed; retrying");
                }
            }
        }
    }

    /// An error alert to the global notifier (Git problems are not one release's).
    fn alert(&self, message: String) {
        if self.alert_targets.is_empty() {
            return;
        }
        let _ = self.alerts.try_send(super::Outgoing {
            alert: crate::report::alerts::Alert {
                object: "fledge".into(),
                message,
                severity: crate::rollout::spec::Severity::Error,
                fields: Vec::new(),
            },
            targets: self.alert_targets.clone(),
        });
    }

    fn count(&self, error: bool) {
        let mut c = self
            .shared
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if error {
            c.writeback_errors += 1;
        } else {
            c.writebacks += 1;
        }
    }

    fn written(&self, w: &Written, what: &str) {
        match w {
            Written::Pushed { branch, commit } => {
                info!(branch, commit = %commit, "{what}");
                self.count(false);
            }
            Written::SideBranch { branch, reason, .. } => {
                warn!(
                    branch,
                    reason, "{what}: the branch refused the push; written to a side branch"
                );
                self.count(false);
            }
            Written::Unchanged => {}
        }
    }

    /// Makes Git match `world`.
    pub async fn flush(&mut self, world: &World) -> Result<(), writeback::Error> {
        if let Some(status) = self.config.status_branch.clone() {
            let edits: Vec<Edit> = world
                .releases
                .values()
                .map(|(t, s)| Edit {
                    path: record::status_path(&t.spec.namespace, &t.spec.name),
                    content: Some(record::status_file(t, s).into_bytes()),
                })
                .collect();
            if !edits.is_empty() {
                let w = self
                    .git
                    .write(
                        &status,
                        &Change::Files {
                            edits,
                            message: "fledge: release status".into(),
                        },
                        "status",
                    )
                    .await?;
                self.written(&w, "status written");
            }
        }
        if self.config.reverts {
            for (key, (t, s)) in &world.releases {
                let rev = t.revision.id.0.clone();
                if s.phase != Phase::Failed
                    || s.canary_revision.as_deref() != Some(rev.as_str())
                    || s.primary_revision.as_deref() == Some(rev.as_str())
                    || self.given_up.contains(&(key.clone(), rev.clone()))
                {
                    continue;
                }
                self.revert(key, t, s).await?;
            }
        }
        if self.config.promotions {
            let edits: Vec<Edit> = world
                .releases
                .values()
                .filter(|(t, s)| {
                    s.phase == Phase::Succeeded
                        && s.primary_revision.as_deref() == Some(t.revision.id.0.as_str())
                })
                .map(|(t, s)| Edit {
                    path: record::promotion_path(&t.spec.namespace, &t.spec.name),
                    content: Some(record::promotion_record(t, s).into_bytes()),
                })
                .collect();
            if !edits.is_empty() {
                let names: Vec<String> = edits
                    .iter()
                    .map(|e| {
                        e.path
                            .trim_start_matches(".fledge/promoted/")
                            .trim_end_matches(".yaml")
                            .to_owned()
                    })
                    .collect();
                let w = self
                    .git
                    .write(
                        &self.config.branch,
                        &Change::Edits {
                            edits,
                            message: format!("fledge: promoted {}", names.join(", ")),
                        },
                        "promotion",
                    )
                    .await?;
                self.written(&w, "promotion recorded");
            }
        }
        if self.config.notes {
            let mut by_commit: BTreeMap<String, Vec<String>> = BTreeMap::new();
            // From the phase history, so an outcome soon followed by another is not missed.
            for (t, s) in world.releases.values() {
                for h in &s.history {
                    if matches!(h.phase, Phase::Succeeded | Phase::Failed)
                        && let Some(c) = &h.commit
                    {
                        by_commit
                            .entry(c.clone())
                            .or_default()
                            .push(record::note_line(t, h));
                    }
                }
            }
            for (commit, lines) in by_commit {
                let text = lines.join("\n") + "\n";
                if self.notes.get(&commit) == Some(&text) {
                    continue;
                }
                let Ok(oid) = Oid::from_str(&commit) else {
                    continue;
                };
                self.git.note(oid, &text, false).await?;
                self.count(false);
                self.notes.insert(commit, text);
            }
        }
        Ok(())
    }

    async fn revert(
        &mut self,
        key: &str,
        t: &crate::rollout::executor::ReleaseTarget,
        s: &crate::rollout::ReleaseState,
    ) -> Result<(), writeback::Error> {
        let rev = t.revision.id.0.clone();
        let Some(source) = s
            .source_commit
            .as_deref()
            .and_then(|c| Oid::from_str(c).ok())
        else {
            return Ok(());
        };
        let stop = s
            .primary_commit
            .as_deref()
            .and_then(|c| Oid::from_str(c).ok());
        let (path, provider, hkey, release) = (
            self.path.clone(),
            self.provider.clone(),
            self.key.clone(),
            key.to_owned(),
        );
        let short = rev[..rev.len().min(12)].to_owned();
        let (release2, short2) = (release.clone(), short.clone());
        let found = self
            .git
            .inspect(&self.config.branch, move |repo, head| {
                if already_reverted(repo, head, &release2, &short2) {
                    return Ok(None);
                }
                Ok(Some(bringing_commits(
                    repo, source, stop, &path, &provider, &hkey, &release2,
                )))
            })
            .await?;
        let Some(commits) = found else {
            return Ok(());
        };
        let reason = s.message.clone();
        let message = record::revert_message(&commits, &release, &reason, &short);
        let change = Change::Revert {
            commits: commits
                .iter()
                .filter_map(|(c, _)| Oid::from_str(c).ok())
                .collect(),
            message,
        };
        match self.git.write(&self.config.branch, &change, "revert").await {
            Ok(w) => {
                self.written(&w, "failed revision reverted");
                Ok(())
            }
            Err(e @ writeback::Error::RevertConflict { .. }) => {
                error!(release = %release, error = %e,
                    "the revert conflicts and was not committed; the release stays on its primary until a person reverts or fixes the change");
                self.alert(format!("{release}: the revert of the failed revision conflicts ({e}); the release stays on its primary, a person must act"));
                self.given_up.insert((release, rev));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// Whether a fledge revert of this release's revision is already on the branch.
fn already_reverted(repo: &Repository, head: Oid, release: &str, short: &str) -> bool {
    let Ok(mut walk) = repo.revwalk() else {
        return false;
    };
    if walk.push(head).is_err() {
        return false;
    }
    let release_line = format!("Fledge-Release: {release}");
    let revision_line = format!("Fledge-Revision: {short}");
    walk.take(500).flatten().any(|oid| {
        repo.find_commit(oid).is_ok_and(|c| {
            let m = c.message().unwrap_or("");
            m.lines().any(|l| l == release_line) && m.lines().any(|l| l == revision_line)
        })
    })
}

/// The commits (newest first, with subjects) between the primary's commit and the one that
/// brought the failed revision that changed the release's revision; at least the latter.
fn bringing_commits(
    repo: &Repository,
    source: Oid,
    stop: Option<Oid>,
    path: &str,
    provider: &Provider,
    key: &HashKey,
    release: &str,
) -> Vec<(String, String)> {
    let revision_at = |c: Oid| -> Option<String> {
        let snap = crate::source::read_tree(repo, c).ok()?;
        let d = desired::desired(&snap.files, path, &c.to_string(), provider, key).ok()?;
        d.releases.get(release).map(|t| t.revision.id.0.clone())
    };
    let subject = |c: &git2::Commit<'_>| c.summary().ok().flatten().unwrap_or("").to_owned();
    let mut out = Vec::new();
    let mut cur = repo.find_commit(source).ok();
    // Walking back, a commit's parent is the next commit looked at: render each tree once.
    let mut rev_cur = cur.as_ref().and_then(|c| revision_at(c.id()));
    for _ in 0..50 {
        let Some(c) = cur else { break };
        if Some(c.id()) == stop {
            break;
        }
        let own = c.message().unwrap_or("").contains("Fledge-Commit: true");
        let parent = c.parent(0).ok();
        let rev_parent = parent.as_ref().and_then(|p| revision_at(p.id()));
        if !own && c.parent_count() <= 1 && rev_parent != rev_cur {
            out.push((c.id().to_string(), subject(&c)));
        }
        cur = parent;
        rev_cur = rev_parent;
    }
    if out.is_empty()
        && let Ok(c) = repo.find_commit(source)
    {
        out.push((c.id().to_string(), subject(&c)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::state::ReleaseState;
    use std::path::Path;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=Pat", "-c", "user.email=pat@example.com"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn app(image: &str, comment: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n        - name: web\n{comment}          image: {image}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {{name: web, namespace: shop}}\nspec:\n  provider: kubernetes\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  service: {{port: 80}}\n  analysis: {{interval: 1m, threshold: 1, iterations: 2}}\n"
        )
    }

    #[tokio::test]
    async fn a_conflicting_revert_is_not_committed_and_a_person_is_alerted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
        git(root, &["clone", "-q", "origin.git", "work"]);
        let work = root.join("work");
        git(&work, &["checkout", "-q", "-b", "main"]);
        let commit = |text: String, msg: &str| {
            std::fs::write(work.join("app.yaml"), text).unwrap();
            git(&work, &["add", "-A"]);
            git(&work, &["commit", "-q", "-m", msg]);
            git(&work, &["rev-parse", "HEAD"])
        };
        let c1 = commit(app("web:1", ""), "web 1");
        let c2 = commit(app("web:2", ""), "web 2");
        // A person edits the line next to the bad change; the rendered output is the same.
        let c3 = commit(
            app("web:2", "          # pinned by the payments team\n"),
            "comment",
        );
        git(&work, &["push", "-q", "origin", "main"]);
        let key = HashKey::offline();
        let render = |c: &str| {
            let text = git(&work, &["show", &format!("{c}:app.yaml")]);
            let objs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&text)
                .map(|d| serde::Deserialize::deserialize(d).unwrap())
                .collect();
            desired::split(&objs, c, &Provider::Istio, &key)
                .releases
                .remove("shop/web")
                .unwrap()
        };
        let (t1, t3) = (render(&c1), render(&c3));
        assert_eq!(
            render(&c2).revision,
            t3.revision,
            "the comment changes no revision"
        );
        let state = ReleaseState {
            phase: Phase::Failed,
            canary_revision: Some(t3.revision.id.0.clone()),
            primary_revision: Some(t1.revision.id.0.clone()),
            source_commit: Some(c2.clone()),
            primary_commit: Some(c1.clone()),
            message: "Canary analysis failed".into(),
            ..ReleaseState::default()
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let target = crate::report::alerts::Target {
            kind: "generic".into(),
            address: "http://127.0.0.1:1".into(),
            token: None,
            channel: "c".into(),
            username: "u".into(),
            proxy: None,
        };
        let mut cfg = WriterConfig::new(
            &format!("file://{}", root.join("origin.git").display()),
            root.join("cache"),
        );
        cfg.max_attempts = 2;
        let oc = OutcomeConfig {
            writer: cfg,
            branch: "main".into(),
            status_branch: None,
            notes: false,
            promotions: false,
            reverts: true,
            coalesce: Duration::ZERO,
        };
        let mut w = Writer::new(
            oc,
            String::new(),
            Provider::Istio,
            key.clone(),
            Arc::default(),
            tx,
            vec![target],
        )
        .unwrap();
        let world = World {
            commit: Some(c3.clone()),
            releases: BTreeMap::from([("shop/web".to_owned(), (Arc::new(t3), state))]),
        };
        w.flush(&world).await.unwrap();
        assert_eq!(
            git(&root.join("origin.git"), &["rev-parse", "main"]),
            c3,
            "nothing committed"
        );
        let out = rx.try_recv().unwrap();
        assert!(
            out.alert.message.contains("a person must act"),
            "{}",
            out.alert.message
        );
        // Not tried again at every flush.
        w.flush(&world).await.unwrap();
        assert!(rx.try_recv().is_err());
    }
}
