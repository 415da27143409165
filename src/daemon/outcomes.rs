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
//! neither duplicates nor loses a write. A change the branch refuses (a protected branch) goes
//! to its side branch once, with an alert; it then waits there for a person to merge it, and
//! the same change is not written again (a restart finds the side branch by its name). A
//! failing write is retried later; it never holds back a rollback, which has already happened
//! in the cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use git2::Oid;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::config::OutcomeConfig;
use super::context::Context;
use super::shared::World;
use crate::chain::Chain;
use crate::release::spec::{ReleaseKey, Severity};
use crate::release::{Phase, ReleaseState, ReleaseTarget};
use crate::report::alerts::Alert;
use crate::rollout::targets;
use crate::writeback::{self, Change, Edit, GitWriter, Written, history, record};

/// Writes outcomes to one repository.
pub struct Writer {
    config: OutcomeConfig,
    git: GitWriter,
    ctx: Context,
    /// Notes already written this run, by commit.
    notes: BTreeMap<String, String>,
    /// (release, revision) whose revert conflicted or went to a side branch: a person must act.
    given_up: BTreeSet<(ReleaseKey, String)>,
    /// Side branches written this run: their changes wait there for a person.
    sided: BTreeSet<String>,
}

impl Writer {
    pub fn new(config: OutcomeConfig, ctx: Context) -> Result<Self, writeback::Error> {
        Ok(Self {
            git: GitWriter::open(config.writer.clone())?,
            config,
            ctx,
            notes: BTreeMap::new(),
            given_up: BTreeSet::new(),
            sided: BTreeSet::new(),
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
                    warn!(error = %Chain(&e), "writing outcomes to Git failed; retrying");
                }
            }
        }
    }

    /// An error alert to the global notifier (Git problems are not one release's).
    fn alert(&self, message: String) {
        self.ctx.alert_global(Alert {
            object: "fledge".into(),
            message,
            severity: Severity::Error,
            fields: Vec::new(),
        });
    }

    fn count(&self, error: bool) {
        let mut c = self.ctx.shared.counters();
        if error {
            c.writeback_errors += 1;
        } else {
            c.writebacks += 1;
        }
    }

    /// Writes `change` to `branch`, unless it went to its side branch before (then it waits
    /// there). Says where it went; a side branch is alerted once.
    async fn put(
        &mut self,
        branch: &str,
        change: &Change,
        purpose: &str,
        what: &str,
    ) -> Result<Written, writeback::Error> {
        // Hashing the change is only worth it once something went to a side branch.
        if !self.sided.is_empty() && self.sided.contains(&change.side_branch(purpose)) {
            return Ok(Written::Unchanged);
        }
        let w = self.git.write(branch, change, purpose).await?;
        match &w {
            Written::Pushed { branch, commit } => {
                info!(branch, commit = %commit, "{what}");
                self.count(false);
            }
            Written::SideBranch {
                branch: side,
                reason,
                ..
            } => {
                warn!(
                    branch,
                    side,
                    reason,
                    "{what}: the branch refused the push; the change is on a side branch for a person to merge"
                );
                self.alert(format!("{what}: `{branch}` refused the push ({reason}); the change is on the branch `{side}`: merge it"));
                self.count(false);
                self.sided.insert(side.clone());
            }
            Written::Unchanged => {}
        }
        Ok(w)
    }

    /// Makes Git match `world`.
    pub async fn flush(&mut self, world: &World) -> Result<(), writeback::Error> {
        if let Some(branch) = self.config.status_branch.clone() {
            self.write_statuses(&branch, world).await?;
        }
        if self.config.reverts {
            self.write_failures(world).await?;
            self.write_reverts(world).await?;
        }
        if self.config.promotions {
            self.write_promotions(world).await?;
        }
        if self.config.notes {
            self.write_notes(world).await?;
        }
        Ok(())
    }

    /// The status branch: one file per release.
    async fn write_statuses(
        &mut self,
        branch: &str,
        world: &World,
    ) -> Result<(), writeback::Error> {
        let edits: Vec<Edit> = world
            .releases
            .values()
            .map(|(t, s)| Edit {
                path: record::status_path(&t.spec.namespace, &t.spec.name),
                content: Some(record::status_file(t, s).into_bytes()),
            })
            .collect();
        if edits.is_empty() {
            return Ok(());
        }
        let change = Change::Files {
            edits,
            message: "fledge: release status".into(),
        };
        self.put(branch, &change, "status", "status written")
            .await?;
        Ok(())
    }

    /// A revert for every release that failed while Git still asks for the failed revision.
    async fn write_reverts(&mut self, world: &World) -> Result<(), writeback::Error> {
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
        Ok(())
    }

    /// A failure record (`.fledge/failed/<namespace>/<name>.yaml`) for every release that
    /// failed while Git still asks for the failed revision, written before its revert: image
    /// automation never proposes the failed images again.
    async fn write_failures(&mut self, world: &World) -> Result<(), writeback::Error> {
        for (t, s) in world.releases.values() {
            let rev = t.revision.id.0.clone();
            if s.phase != Phase::Failed
                || s.canary_revision.as_deref() != Some(rev.as_str())
                || s.primary_revision.as_deref() == Some(rev.as_str())
            {
                continue;
            }
            let (ns, name) = (t.spec.namespace.clone(), t.spec.name.clone());
            let path = record::failure_path(&ns, &name);
            let failure = record::Failure {
                revision: rev,
                images: record::images(&t.target),
                source_commit: s.source_commit.as_ref().map(ToString::to_string),
                reason: s.message.clone(),
                failed_at: crate::release::state::rfc3339(s.last_transition_time),
            };
            let record = self
                .git
                .inspect(&self.config.branch, move |repo, head| {
                    let existing = repo
                        .find_commit(head)
                        .and_then(|c| c.tree())
                        .ok()
                        .and_then(|tree| tree.get_path(std::path::Path::new(&path)).ok())
                        .and_then(|e| repo.find_blob(e.id()).ok())
                        .map(|b| String::from_utf8_lossy(b.content()).into_owned());
                    Ok(record::failure_record(
                        existing.as_deref(),
                        &ns,
                        &name,
                        &failure,
                    ))
                })
                .await?;
            let Some(content) = record else { continue };
            let change = Change::Edits {
                edits: vec![Edit {
                    path: record::failure_path(&t.spec.namespace, &t.spec.name),
                    content: Some(content.into_bytes()),
                }],
                message: format!("fledge: failed revision of {} recorded", t.spec.key()),
            };
            let branch = self.config.branch.clone();
            self.put(&branch, &change, "failure", "failed revision recorded")
                .await?;
        }
        Ok(())
    }

    /// A promotion record for every release that promoted: its last promotion, kept in its
    /// status until the next one (unchanged content makes no commit).
    async fn write_promotions(&mut self, world: &World) -> Result<(), writeback::Error> {
        let promoted: Vec<_> = world
            .releases
            .values()
            .filter_map(|(t, s)| {
                let p = s
                    .promotion
                    .clone()
                    .or_else(|| record::current_promotion(t, s))?;
                Some((t, p))
            })
            .collect();
        if promoted.is_empty() {
            return Ok(());
        }
        let edits = promoted
            .iter()
            .map(|(t, p)| Edit {
                path: record::promotion_path(&t.spec.namespace, &t.spec.name),
                content: Some(
                    record::promotion_record(&t.spec.namespace, &t.spec.name, p).into_bytes(),
                ),
            })
            .collect();
        let names: Vec<String> = promoted
            .iter()
            .map(|(t, _)| t.spec.key().to_string())
            .collect();
        let change = Change::Edits {
            edits,
            message: format!("fledge: promoted {}", names.join(", ")),
        };
        let branch = self.config.branch.clone();
        self.put(&branch, &change, "promotion", "promotion recorded")
            .await?;
        Ok(())
    }

    /// Notes on the commits that started releases, from each release's phase history (so an
    /// outcome soon followed by another is not missed).
    async fn write_notes(&mut self, world: &World) -> Result<(), writeback::Error> {
        let mut by_commit: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (t, s) in world.releases.values() {
            for h in &s.history {
                if matches!(h.phase, Phase::Succeeded | Phase::Failed)
                    && let Some(c) = &h.commit
                {
                    by_commit
                        .entry(c.to_string())
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
        Ok(())
    }

    async fn revert(
        &mut self,
        key: &ReleaseKey,
        t: &ReleaseTarget,
        s: &ReleaseState,
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
        let primary = s.primary_revision.clone();
        let (path, provider, hkey, env, release) = (
            self.ctx.path.clone(),
            self.ctx.provider.clone(),
            self.ctx.key.clone(),
            self.ctx.env.clone(),
            key.to_owned(),
        );
        let short = rev[..rev.len().min(12)].to_owned();
        let (release2, short2) = (release.clone(), short.clone());
        let found = self
            .git
            .inspect(&self.config.branch, move |repo, head| {
                if history::already_reverted(repo, head, source, release2.as_str(), &short2) {
                    return Ok(None);
                }
                // The release's revision at a commit: render that commit's tree.
                let revision_at = |c: Oid| -> Option<String> {
                    let snap = crate::source::read_tree(repo, c).ok()?;
                    let d = targets::desired(
                        &snap.files,
                        &path,
                        &c.to_string(),
                        &provider,
                        &hkey,
                        &env,
                    )
                    .ok()?;
                    d.releases
                        .get(release2.as_str())
                        .map(|t| t.revision.id.0.clone())
                };
                let boundary = history::Boundary {
                    commit: stop,
                    revision: primary.as_deref(),
                };
                Ok(Some(history::bringing_commits(
                    repo,
                    source,
                    boundary,
                    &revision_at,
                )))
            })
            .await?;
        let commits = match found {
            None => return Ok(()),
            Some(Ok(commits)) => commits,
            Some(Err(why)) => {
                error!(release = %release, reason = %why,
                    "cannot tell which commits brought the failed revision; nothing is reverted, a person must act");
                self.alert(format!("{release}: the failed revision {short} is not reverted: fledge cannot tell which commits brought it ({why}); the release stays on its primary, revert it by hand"));
                self.given_up.insert((release, rev));
                return Ok(());
            }
        };
        let reason = s.message.clone();
        let message = record::revert_message(&commits, release.as_str(), &reason, &short);
        let change = Change::Revert {
            commits: commits
                .iter()
                .filter_map(|(c, _)| Oid::from_str(c).ok())
                .collect(),
            message,
        };
        let branch = self.config.branch.clone();
        match self
            .put(&branch, &change, "revert", "failed revision reverted")
            .await
        {
            Ok(Written::SideBranch { .. }) => {
                // It waits on its side branch: no need to look through history again.
                self.given_up.insert((release, rev));
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e @ writeback::Error::RevertConflict { .. }) => {
                error!(release = %release, error = %Chain(&e),
                    "the revert conflicts and was not committed; the release stays on its primary until a person reverts or fixes the change");
                self.alert(format!("{release}: the revert of the failed revision conflicts ({e}); the release stays on its primary, a person must act"));
                self.given_up.insert((release, rev));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
