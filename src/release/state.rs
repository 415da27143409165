//! The persisted release state and what `decide` exchanges with the executor: observations in,
//! a new state, actions, events and (when it needs an answer from the outside) a question out.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::readiness::Readiness;
use super::spec::{HookType, Severity};
use crate::ids::CommitId;
use crate::revision::RevisionId;

/// Where a release stands; Flagger's phases (flagger-spec §4.12). Persisted in the `Release`
/// object before any action, so a restarted daemon resumes here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Phase {
    /// The primary, its Services and routing are being created.
    #[default]
    Initializing,
    /// Bootstrap done; the primary serves and the target is scaled to zero.
    Initialized,
    /// A new revision waits for a `confirm-rollout` gate.
    Waiting,
    /// The canary is analysed and receives more traffic step by step.
    Progressing,
    /// Analysis is done; a `confirm-promotion` gate holds the promotion.
    WaitingPromotion,
    /// The canary's spec is copied to the primary, which rolls out.
    Promoting,
    /// The primary is ready; traffic returns to it.
    Finalising,
    /// The revision serves from the primary; the canary is scaled to zero.
    Succeeded,
    /// The revision was rolled back; the primary serves the last promoted revision.
    Failed,
}

impl Phase {
    /// Phases in which a rollout is under way.
    #[must_use]
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Progressing | Self::WaitingPromotion | Self::Promoting | Self::Finalising
        )
    }

    /// Whether the canary (the target Deployment) runs pods in this phase.
    #[must_use]
    pub fn canary_scaled_up(self) -> bool {
        matches!(self, Self::Initializing) || self.is_active()
    }

    /// The Flagger name of the phase.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "Initializing",
            Self::Initialized => "Initialized",
            Self::Waiting => "Waiting",
            Self::Progressing => "Progressing",
            Self::WaitingPromotion => "WaitingPromotion",
            Self::Promoting => "Promoting",
            Self::Finalising => "Finalising",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The durable state of one release target: the `status` of its `Release` object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReleaseState {
    pub phase: Phase,
    /// Share of traffic on the canary route (0–100; the primary gets the rest). For A/B it is
    /// the matching requests' route.
    pub canary_weight: u8,
    /// Traffic is mirrored to the canary.
    pub mirrored: bool,
    /// A/B and blue/green iterations done.
    pub iterations: u32,
    /// Failed checks for the current revision (cumulative, as in Flagger; kept after a
    /// rollback so readers see why).
    pub failed_checks: u32,
    /// The last check that failed for the current revision (kept after a rollback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failed_check: Option<FailedCheck>,
    /// The revision under analysis, or last analysed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_revision: Option<RevisionId>,
    /// The revision the primary serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_revision: Option<RevisionId>,
    /// The commit that brought the canary revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<CommitId>,
    /// Unix seconds of the last phase change.
    pub last_transition_time: i64,
    /// Why the release is where it is, for programs (the message is for people).
    pub reason: ReleaseReason,
    /// Why the release is where it is.
    pub message: String,
    /// Unix seconds since which the Deployment being waited for has not been ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_ready_since: Option<i64>,
    /// The last promotion skipped analysis because the revision was promoted before.
    pub fast_rollback: bool,
    /// Revisions promoted before and not failed since, newest first (bounded): a desired
    /// revision among them is promoted without analysis.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub promoted: Vec<RevisionId>,
    /// The commit that brought the revision the primary serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_commit: Option<CommitId>,
    /// Why the rollout is halted — neither advancing nor counting failed checks — for a cause
    /// that is not the canary's: a missing or stuck primary, a metrics provider that cannot be
    /// reached or refuses fledge. Cleared when the rollout moves again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<String>,
    /// Why fledge's last tick of this release failed, until one succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TickError>,
    /// The hashing the revisions above were made with (`crate::revision::SCHEME`); absent in
    /// states written before it was recorded.
    #[serde(skip_serializing_if = "is_zero")]
    pub revision_scheme: u32,
    /// The last phase changes, newest last (bounded by [`HISTORY_LEN`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Transition>,
    /// The last promotion, as its record in Git says it: kept until the next one, so that the
    /// record is written even when fledge restarts, or the next rollout starts, before it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
}

/// A promotion: what the primary was given, from which commit, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    pub revision: RevisionId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<CommitId>,
    /// `{container, image}` of each container of the promoted pod template.
    pub images: Vec<serde_json::Value>,
    /// Unix seconds.
    pub promoted_at: i64,
    /// Promoted without analysis: the revision was promoted before.
    pub fast_rollback: bool,
}

/// A tick that could not complete: a machine-readable reason (`Forbidden`, `Unreachable`,
/// `NoKind`, `PrimaryLost`, …), the request and the server's words in one line, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TickError {
    pub reason: String,
    pub message: String,
    /// Unix seconds of the first tick that failed for this reason.
    pub since: i64,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Why a release is in its phase: beside every message, for programs to branch on (alerts,
/// commit statuses, `kubectl wait --for=condition=Ready`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReleaseReason {
    /// Making the primary, its Services and routing.
    #[default]
    Initializing,
    /// The primary serves the revision Git asks for; nothing to analyse.
    Initialized,
    /// The primary never became ready on the first install.
    InitializationFailed,
    /// A `confirm-rollout` or `confirm-promotion` gate holds the release.
    GateClosed,
    /// The canary is analysed.
    Progressing,
    /// The analysis passed; the primary takes the revision.
    Promoting,
    /// The revision serves from the primary after its analysis.
    Promoted,
    /// A revision promoted before was promoted again without analysis.
    FastRollback,
    /// `skipAnalysis`: promoted without analysis.
    AnalysisSkipped,
    /// Git went back to the primary's revision during the analysis: nothing was promoted.
    Aborted,
    /// Failed checks reached the threshold: rolled back.
    CheckFailed,
    /// The canary (or a primary of a failed promotion) did not become ready in time.
    ProgressDeadline,
    /// A `rollback` webhook asked for a rollback.
    RollbackRequested,
    /// The primary did not become ready with the promoted revision: traffic stays on the canary.
    PromotionFailed,
}

impl ReleaseReason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "Initializing",
            Self::Initialized => "Initialized",
            Self::InitializationFailed => "InitializationFailed",
            Self::GateClosed => "GateClosed",
            Self::Progressing => "Progressing",
            Self::Promoting => "Promoting",
            Self::Promoted => "Promoted",
            Self::FastRollback => "FastRollback",
            Self::AnalysisSkipped => "AnalysisSkipped",
            Self::Aborted => "Aborted",
            Self::CheckFailed => "CheckFailed",
            Self::ProgressDeadline => "ProgressDeadline",
            Self::RollbackRequested => "RollbackRequested",
            Self::PromotionFailed => "PromotionFailed",
        }
    }
}

impl fmt::Display for ReleaseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Kubernetes condition, as Flux's objects carry them and `kubectl wait --for=condition=`
/// reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    pub message: String,
    /// RFC 3339.
    pub last_transition_time: String,
}

impl ReleaseState {
    /// The release's `Ready` condition: `True` when the primary serves the revision Git asks for
    /// and nothing is under way (Initialized, Succeeded); `False` when it failed or its ticks
    /// fail; `Unknown` while a rollout is under way, waits at a gate or is halted. The reason is
    /// the tick's error's, the halt's, or the release's [`ReleaseReason`].
    #[must_use]
    pub fn ready_condition(&self) -> Condition {
        let (status, reason, message) = if let Some(e) = &self.error {
            ("False", e.reason.clone(), e.message.clone())
        } else if let Some(h) = &self.halted {
            ("Unknown", "Halted".to_owned(), h.clone())
        } else {
            let status = match self.phase {
                Phase::Initialized | Phase::Succeeded => "True",
                Phase::Failed => "False",
                _ => "Unknown",
            };
            (
                status,
                self.reason.as_str().to_owned(),
                self.message.clone(),
            )
        };
        Condition {
            kind: "Ready".into(),
            status: status.into(),
            reason,
            message,
            last_transition_time: rfc3339(self.last_transition_time),
        }
    }
}

/// How many phase changes a release remembers.
pub const HISTORY_LEN: usize = 20;

/// One phase change, for the status file readers see in Git.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    pub phase: Phase,
    /// Unix seconds.
    pub time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<RevisionId>,
    /// The commit that brought the revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitId>,
    pub message: String,
}

/// How the message of a transition to `Succeeded` begins when analysis was aborted because Git
/// went back to the primary's revision: nothing was promoted.
pub const ABORTED: &str = "Canary analysis aborted";
/// How the message of a fast rollback begins: promoted without analysis.
pub const FAST_ROLLBACK: &str = "Fast rollback";

impl Transition {
    /// A `Succeeded` that promoted nothing: the analysis was aborted.
    #[must_use]
    pub fn is_abort(&self) -> bool {
        self.phase == Phase::Succeeded && self.message.starts_with(ABORTED)
    }
}

/// The revision Git wants for the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub revision: RevisionId,
    /// The commit that brought this revision. A failed revision is tried again only when a
    /// different commit brings it.
    pub commit: Option<CommitId>,
    /// Promote without analysis even if the state does not list the revision as promoted.
    pub known_good: bool,
}

/// How many promoted revisions a release remembers for fast rollbacks (DESIGN: "within a
/// configurable window, default 10").
pub const DEFAULT_PROMOTED_WINDOW: usize = 10;

/// A question `decide` asks the executor before it can go on (a webhook gate or the analysis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Question {
    /// Run the webhooks of a gating type (`confirm-rollout`, `pre-rollout`,
    /// `confirm-traffic-increase`, `confirm-promotion`, `rollback`) in spec order.
    Hooks(HookType),
    /// Run the `rollout` webhooks, then every metric check.
    Analysis,
}

/// Why a check failed; each kind reaches logs and events in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// A webhook answered with a failure.
    Hook,
    /// A metric value outside its threshold range.
    OutOfRange,
    /// The metric query returned nothing.
    NoData,
    /// The metrics provider could not be reached.
    Unreachable,
    /// The metrics provider (or the API server it reads) refused fledge's credentials or
    /// permissions.
    Denied,
    /// Anything else (a template that does not render, a bad query, a missing secret).
    #[default]
    Error,
}

/// The answer to a [`Question`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every hook passed and every metric is in range. For [`HookType::Rollback`], a hook
    /// signalled a rollback.
    Pass,
    Fail(FailedCheck),
}

/// A check that failed: which one, what it saw against what it needed, and when. The last one
/// of a revision stays in the state after a rollback, so that every place people look (the
/// status, the API, Git) can say why the canary failed, not only that it did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FailedCheck {
    pub kind: FailureKind,
    /// `metric <name>` or `webhook <name>`.
    pub check: String,
    /// The value it saw, as Flagger prints it (`42.00%`, `1.515s`), when it saw one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The range the value had to be in (`>= 99%`), when it saw a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    /// Flagger's message for the failure (for a gate: the hook's name).
    pub message: String,
    /// Unix seconds of the check (set by `decide`).
    pub time: i64,
}

impl FailureKind {
    /// Whether a failure of this kind says something about the canary. An unreachable or
    /// refusing provider says nothing: the analysis halts instead of counting it.
    #[must_use]
    pub fn is_evidence(self) -> bool {
        !matches!(self, Self::Unreachable | Self::Denied)
    }
}

impl FailedCheck {
    /// A failure without a value (no data, an unreachable provider, a webhook).
    #[must_use]
    pub fn new(kind: FailureKind, check: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            check: check.into(),
            message: message.into(),
            ..Self::default()
        }
    }

    /// The value seen and the range it had to be in.
    #[must_use]
    pub fn saw(mut self, value: String, threshold: String) -> Self {
        self.value = Some(value);
        self.threshold = Some(threshold);
        self
    }
}

/// What the executor saw this tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub desired: Desired,
    /// The primary Deployment; `None` while it does not exist.
    pub primary: Option<Readiness>,
    /// The target (canary) Deployment.
    pub canary: Readiness,
    /// Answers to questions asked earlier in this tick.
    pub answers: BTreeMap<Question, Outcome>,
    /// How many promoted revisions to remember ([`DEFAULT_PROMOTED_WINDOW`]).
    pub promoted_window: usize,
}

/// What the executor must do besides bringing the cluster in line with the new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Copy the canary's pod template and configs to the primary.
    Promote,
    /// Call the `post-rollout` webhooks with this phase (best effort).
    PostRollout(Phase),
}

/// Normal or Warning, as Kubernetes events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventType {
    Normal,
    Warning,
}

/// Something a person should know; logged, recorded as an event and, with an alert
/// severity, sent to the alert providers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event_type: EventType,
    pub message: String,
    /// Alert text and severity, when Flagger alerts at this point.
    pub alert: Option<(Severity, String)>,
    /// The failure behind a warning, when there is one.
    pub failure: Option<FailureKind>,
}

/// The result of one `decide` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub state: ReleaseState,
    pub actions: Vec<Action>,
    pub events: Vec<Event>,
    /// When set, nothing else counts: answer the question and call `decide` again.
    pub ask: Option<Question>,
}

/// RFC 3339 for unix seconds, as the state's times are kept.
#[must_use]
pub fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs).map_or_else(|_| secs.to_string(), |t| t.to_string())
}
