//! A release as people see it: the DTO `/api/releases` serves, `fledge status` prints and commit
//! statuses are derived from, built from a [`ReleaseTarget`] and its [`ReleaseState`].

use serde::{Deserialize, Serialize};

use super::{ReleaseState, ReleaseTarget};

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
    pub canary_revision: Option<String>,
    pub primary_revision: Option<String>,
    pub source_commit: Option<String>,
    pub last_transition_time: String,
    pub message: String,
    pub fast_rollback: bool,
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
            message: s.message.clone(),
            fast_rollback: s.fast_rollback,
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

/// RFC 3339 for unix seconds.
#[must_use]
pub fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs).map_or_else(|_| secs.to_string(), |t| t.to_string())
}
