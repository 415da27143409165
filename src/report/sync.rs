//! The sync's own status, as Flux's `Ready` condition tells it — the commit last seen, the one
//! whose objects the cluster holds, whether it is ready, a [`SyncReason`] beside the message —
//! and the rule by which it moves ([`SyncStatus::after`]). Served at `/api/sync`, printed by
//! `fledge status`, posted as the commit status `fledge/<cluster>/sync`, and alerted when it
//! turns to a failure.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::CommitId;

/// Why the sync is (not) ready, for programs to branch on (the message is for people).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncReason {
    /// Nothing synced yet.
    #[default]
    Progressing,
    /// The commit synced whole.
    Ready,
    /// The repository cannot be polled.
    FetchFailed,
    /// The newest commit (or the tag naming it) is not signed by a trusted key
    /// (`--verify-keys`): nothing of it is rendered or applied.
    VerificationFailed,
    /// `--path` is not in the commit.
    PathMissing,
    /// The commit does not render (a typo in Git).
    RenderFailed,
    /// A Canary in the commit cannot be used; its app is held as it was.
    CanaryInvalid,
    /// The prune guard refused the commit.
    PruneRefused,
    /// The cluster refused the commit's objects, or could not be reached.
    ApplyFailed,
    /// A Kustomization waits for one it depends on (`spec.dependsOn`).
    DependencyNotReady,
    /// A Kustomization is suspended (`spec.suspend`): nothing applied or pruned.
    Suspended,
    /// A Kustomization's objects did not become healthy in its `spec.timeout`.
    HealthCheckFailed,
}

impl SyncReason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Progressing => "Progressing",
            Self::Ready => "Ready",
            Self::FetchFailed => "FetchFailed",
            Self::VerificationFailed => "VerificationFailed",
            Self::PathMissing => "PathMissing",
            Self::RenderFailed => "RenderFailed",
            Self::CanaryInvalid => "CanaryInvalid",
            Self::PruneRefused => "PruneRefused",
            Self::ApplyFailed => "ApplyFailed",
            Self::DependencyNotReady => "DependencyNotReady",
            Self::Suspended => "Suspended",
            Self::HealthCheckFailed => "HealthCheckFailed",
        }
    }
}

impl fmt::Display for SyncReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a sync is not ready: the reason, and the message naming the file, field or object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    pub reason: SyncReason,
    pub message: String,
}

impl NotReady {
    #[must_use]
    pub fn new(reason: SyncReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// The sync's status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// The commit last seen.
    pub commit: Option<CommitId>,
    /// The last commit that synced whole.
    pub applied_commit: Option<CommitId>,
    /// The newest commit, refused by signature verification: it gets a failing commit status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_commit: Option<CommitId>,
    pub ready: bool,
    /// Why it is (not) ready.
    #[serde(default)]
    pub reason: SyncReason,
    /// Why it is not ready; empty when it is.
    pub message: String,
    pub last_transition_time: String,
    /// The last time the tracked reference's history was rewritten (a force push, a reset, a
    /// moved tag): fledge follows it, and says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_rewritten: Option<HistoryRewrite>,
    /// What a person should look at although the sync went through (objects fledge applied
    /// that no inventory accounts for).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// How the last commit rendered is synced where it differs from what Flux would do (Flux's
    /// controllers skipped, Flux kinds left out, Flux fields not followed yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    /// Each sync unit (the root path, each Flux Kustomization), as `flux get kustomizations`
    /// shows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<UnitStatus>,
    /// The webhook path of each Flux Receiver of the commit (`<namespace>/<name>` to
    /// `/hook/…`), as Flux's Receiver status gives it: the URL to give the forge.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub receivers: std::collections::BTreeMap<String, String>,
}

/// The status of one sync unit, as Flux keeps a Kustomization's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitStatus {
    /// `root`, or the Kustomization's `<namespace>/<name>`.
    pub name: String,
    /// Its path in the repository.
    pub path: String,
    pub ready: bool,
    pub reason: SyncReason,
    /// Why it is not ready; empty when it is.
    pub message: String,
    /// The last commit it applied whole (Flux's `lastAppliedRevision`).
    pub last_applied_revision: Option<CommitId>,
    /// The last commit it tried (Flux's `lastAttemptedRevision`).
    pub last_attempted_revision: Option<CommitId>,
    pub last_transition_time: String,
    /// The further repository it is built from (`GitRepository ns/name (branch main)`), whose
    /// commits its revisions are; `None` for the repository fledge runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl UnitStatus {
    /// Its `status` as kustomize-controller writes a Kustomization's (a `readyExpr`'s
    /// `dep.status` and `self.status`): the `Ready` condition, `observedGeneration` equal to the
    /// generation fledge gives every declared Kustomization (1), and the revisions as
    /// `revision` writes a commit (`main@sha1:<commit>`).
    #[must_use]
    pub fn flux_status(&self, revision: impl Fn(&CommitId) -> String) -> serde_json::Value {
        let mut status = serde_json::json!({
            "observedGeneration": 1,
            "conditions": [{
                "type": "Ready",
                "status": if self.ready { "True" } else { "False" },
                "reason": self.reason.as_str(),
                "message": self.message,
                "lastTransitionTime": self.last_transition_time,
                "observedGeneration": 1,
            }],
        });
        if let Some(c) = &self.last_applied_revision {
            status["lastAppliedRevision"] = revision(c).into();
        }
        if let Some(c) = &self.last_attempted_revision {
            status["lastAttemptedRevision"] = revision(c).into();
        }
        status
    }

    /// The status once `commit` ended in `outcome` at `now`; `applied` when its objects were
    /// applied whole.
    #[must_use]
    pub fn after(
        &self,
        commit: &CommitId,
        outcome: &Result<(), NotReady>,
        applied: bool,
        now: &str,
    ) -> Self {
        let mut next = self.clone();
        next.last_attempted_revision = Some(commit.clone());
        if applied {
            next.last_applied_revision = Some(commit.clone());
        }
        match outcome {
            Ok(()) => {
                next.ready = true;
                next.reason = SyncReason::Ready;
                next.message.clear();
            }
            Err(why) => {
                next.ready = false;
                next.reason = why.reason;
                next.message.clone_from(&why.message);
            }
        }
        if next.ready != self.ready
            || next.message != self.message
            || self.last_transition_time.is_empty()
        {
            now.clone_into(&mut next.last_transition_time);
        }
        next
    }
}

/// A rewrite of the tracked reference's history, as `/api/sync` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRewrite {
    /// The commit fetched before.
    pub from: String,
    /// The commit that replaced it, not descending from it.
    pub to: String,
    /// When fledge saw it.
    pub seen: String,
}

impl SyncStatus {
    /// The status once the sync of `commit` ended in `outcome` at `now` (RFC 3339), and whether
    /// that is a failure people have not been told of yet (it was ready, or failed otherwise).
    /// The transition time moves when readiness or the message does.
    #[must_use]
    pub fn after(
        &self,
        commit: &CommitId,
        outcome: &Result<(), NotReady>,
        now: &str,
    ) -> (Self, bool) {
        let mut next = self.clone();
        next.commit = Some(commit.clone());
        match outcome {
            Ok(()) => {
                next.applied_commit = Some(commit.clone());
                next.ready = true;
                next.reason = SyncReason::Ready;
                next.message.clear();
            }
            Err(why) => {
                next.ready = false;
                next.reason = why.reason;
                next.message.clone_from(&why.message);
            }
        }
        if next.ready != self.ready || next.message != self.message || self.commit.is_none() {
            now.clone_into(&mut next.last_transition_time);
        }
        let new_failure = match outcome {
            Err(why) => self.ready || self.message != why.message,
            Ok(()) => false,
        };
        (next, new_failure)
    }
}

#[cfg(test)]
mod tests;
