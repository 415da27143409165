//! A release as people see it: the DTO `/api/releases` serves, `fledge status` prints and commit
//! statuses are derived from, built from a [`ReleaseTarget`] and its [`ReleaseState`].

use serde::{Deserialize, Serialize};

use super::state::{FailedCheck, ReleaseReason, rfc3339};
use super::{ReleaseState, ReleaseTarget};
use crate::ids::CommitId;
use crate::revision::RevisionId;

/// A release as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseView {
    pub namespace: String,
    pub name: String,
    pub target: String,
    pub strategy: String,
    pub phase: String,
    pub canary_weight: u8,
    pub max_weight: u8,
    pub failed_checks: u32,
    pub threshold: u32,
    pub iterations: u32,
    pub max_iterations: u32,
    pub canary_revision: Option<RevisionId>,
    pub primary_revision: Option<RevisionId>,
    pub source_commit: Option<CommitId>,
    pub last_transition_time: String,
    /// Why the release is in its phase.
    #[serde(default)]
    pub reason: ReleaseReason,
    pub message: String,
    pub fast_rollback: bool,
    /// The last check that failed for this revision: why a canary failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_check: Option<FailedCheckView>,
    /// Why the rollout is halted for a cause that is not the canary's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halted: Option<String>,
    /// Why fledge cannot tick the release: it acts on nothing until this clears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TickErrorView>,
}

/// A failing tick as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TickErrorView {
    /// `Forbidden`, `Unreachable`, `NoKind`, `PrimaryLost`, …
    pub reason: String,
    pub message: String,
    pub since: String,
}

impl TickErrorView {
    /// One line: `tick failing since <time> (<reason>): <message>`.
    #[must_use]
    pub fn summary(&self) -> String {
        format!(
            "tick failing since {} ({}): {}",
            self.since, self.reason, self.message
        )
    }
}

/// A failed check as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailedCheckView {
    pub check: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    pub message: String,
    pub time: String,
}

impl FailedCheckView {
    /// The check, what it saw against what it needed, and when.
    #[must_use]
    pub fn summary(&self) -> String {
        match (&self.value, &self.threshold) {
            (Some(v), Some(t)) => format!("{} {v} (needs {t}) at {}", self.check, self.time),
            _ => format!("{} at {}: {}", self.check, self.time, self.message),
        }
    }

    #[must_use]
    pub fn of(f: &FailedCheck) -> Self {
        Self {
            check: f.check.clone(),
            value: f.value.clone(),
            threshold: f.threshold.clone(),
            message: f.message.clone(),
            time: rfc3339(f.time),
        }
    }
}

impl ReleaseView {
    /// The view of a release in a state.
    #[must_use]
    pub fn of(t: &ReleaseTarget, s: &ReleaseState) -> Self {
        Self {
            namespace: t.spec.namespace.clone(),
            name: t.spec.name.clone(),
            target: t.spec.target.name.clone(),
            strategy: t.spec.strategy().as_str().to_owned(),
            phase: s.phase.to_string(),
            canary_weight: s.canary_weight,
            max_weight: t.spec.max_weight(),
            failed_checks: s.failed_checks,
            threshold: t.spec.analysis.threshold,
            iterations: s.iterations,
            max_iterations: t.spec.analysis.iterations,
            canary_revision: s.canary_revision.clone(),
            primary_revision: s.primary_revision.clone(),
            source_commit: s.source_commit.clone(),
            last_transition_time: rfc3339(s.last_transition_time),
            reason: s.reason,
            message: s.message.clone(),
            fast_rollback: s.fast_rollback,
            last_failed_check: s.last_failed_check.as_ref().map(FailedCheckView::of),
            halted: s.halted.clone(),
            error: s.error.as_ref().map(|e| TickErrorView {
                reason: e.reason.clone(),
                message: e.message.clone(),
                since: rfc3339(e.since),
            }),
        }
    }

    /// A bar of `width` cells: the canary weight toward its maximum, or the iterations done.
    #[must_use]
    pub fn progress_bar(&self, width: u32) -> String {
        let (done, total) = if self.max_iterations > 0 {
            (self.iterations, self.max_iterations)
        } else {
            (
                u32::from(self.canary_weight),
                u32::from(self.max_weight.max(1)),
            )
        };
        let filled = done.min(total) * width / total.max(1);
        format!(
            "{}{}",
            "█".repeat(filled as usize),
            "░".repeat((width - filled) as usize)
        )
    }
}

impl FailedCheck {
    /// One line: the check, what it saw against what it needed, and when
    /// (`metric request-success-rate 42.00% (needs >= 99%) at 2026-12-01T10:00:00Z`).
    #[must_use]
    pub fn summary(&self) -> String {
        FailedCheckView::of(self).summary()
    }
}
