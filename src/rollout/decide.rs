//! `decide`: one tick of a release, as a pure function of the spec, the persisted state, what
//! the executor observed and the time. It follows Flagger's tick (flagger-spec §4.2) step by
//! step, with fledge's two Git inputs: a desired revision equal to the primary's aborts a
//! running analysis, and a revision known to be good is promoted without analysis.
//!
//! When a step needs the outside world (a webhook gate, the metric checks) `decide` returns a
//! [`Question`] and nothing else; the executor answers it and calls again with the answer in
//! [`Observation::answers`]. Being pure, the repeated call retraces the same steps, so each
//! question is asked at most once per tick and hooks run only when Flagger would run them.
//!
//! Routes and replicas are not actions: they follow from the state (the executor brings the
//! cluster in line with it every tick), so a crash between persisting and acting loses nothing.

use crate::keys;
use crate::release::Readiness;
use crate::release::spec::{HookType, Provider, ReleaseSpec, Severity, Strategy};
use crate::release::state::{
    ABORTED, Action, Decision, Event, EventType, FAST_ROLLBACK, FailedCheck, FailureKind,
    HISTORY_LEN, Observation, Outcome, Phase, Question, ReleaseReason, ReleaseState, Transition,
};

/// One tick. `now` is unix seconds.
#[must_use]
pub fn decide(spec: &ReleaseSpec, state: &ReleaseState, obs: &Observation, now: i64) -> Decision {
    let mut t = Tick {
        spec,
        obs,
        now,
        state: ReleaseState {
            halted: None,
            ..state.clone()
        },
        was_halted: state.halted.as_deref(),
        actions: Vec::new(),
        events: Vec::new(),
        ask: None,
    };
    t.run();
    Decision {
        state: t.state,
        actions: t.actions,
        events: t.events,
        ask: t.ask,
    }
}

struct Tick<'a> {
    spec: &'a ReleaseSpec,
    obs: &'a Observation,
    now: i64,
    state: ReleaseState,
    /// Why the previous tick halted, if it did: a halt is alerted once, when it begins.
    was_halted: Option<&'a str>,
    actions: Vec<Action>,
    events: Vec<Event>,
    ask: Option<Question>,
}

/// Stops the tick when a step could not complete.
type Step = Result<(), Halt>;
/// A question was asked: the tick waits for its answer.
struct Halt;

/// How a step of the tick ended it.
enum End {
    /// The step decided what this tick does.
    Decided,
    /// The step waits for an answer (or for a Deployment to become ready).
    Asked,
}

impl From<Halt> for End {
    fn from(_: Halt) -> Self {
        Self::Asked
    }
}

/// A step of the tick: `Ok` passes the tick on to the next step.
type Flow = Result<(), End>;

/// A final step: whatever it did, the tick ends.
fn decided(step: Step) -> Flow {
    step?;
    Err(End::Decided)
}

impl Tick<'_> {
    fn run(&mut self) {
        let _ = self.tick();
    }

    fn name(&self) -> String {
        self.spec.dotted()
    }

    fn target(&self) -> String {
        self.spec.target_dotted()
    }

    fn event(&mut self, message: String) {
        self.events.push(Event {
            event_type: EventType::Normal,
            message,
            alert: None,
            failure: None,
        });
    }

    fn warn(&mut self, message: String, failure: Option<FailureKind>) {
        self.events.push(Event {
            event_type: EventType::Warning,
            message,
            alert: None,
            failure,
        });
    }

    fn alert(&mut self, severity: Severity, text: &str) {
        if let Some(last) = self.events.last_mut()
            && last.alert.is_none()
        {
            last.alert = Some((severity, text.to_owned()));
            return;
        }
        self.events.push(Event {
            event_type: if severity == Severity::Info {
                EventType::Normal
            } else {
                EventType::Warning
            },
            message: text.to_owned(),
            alert: Some((severity, text.to_owned())),
            failure: None,
        });
    }

    /// fledge: halts the rollout for a cause that is not the canary's (a missing or stuck
    /// primary, metrics that cannot be read): nothing advances and nothing counts against the
    /// canary. Warned every tick; alerted when the halt begins or its cause changes.
    fn halt(&mut self, why: String, failure: Option<FailureKind>) -> End {
        self.warn(format!("Halt {} advancement: {why}", self.name()), failure);
        if self.was_halted != Some(why.as_str()) {
            self.alert(Severity::Error, &format!("Rollout halted: {why}"));
        }
        self.state.halted = Some(why);
        End::Decided
    }

    fn transition(&mut self, phase: Phase, reason: ReleaseReason, message: impl Into<String>) {
        let message = message.into();
        self.state.reason = reason;
        if self.state.phase != phase {
            self.state.last_transition_time = self.now;
            self.state.history.push(Transition {
                phase,
                time: self.now,
                revision: self.state.canary_revision.clone(),
                commit: self.state.source_commit.clone(),
                message: message.clone(),
            });
            let excess = self.state.history.len().saturating_sub(HISTORY_LEN);
            self.state.history.drain(..excess);
        }
        self.state.phase = phase;
        self.state.message = message;
    }

    /// The answer to `q`, or a halt that asks it.
    fn answer(&mut self, q: Question) -> Result<Outcome, Halt> {
        if let Some(a) = self.obs.answers.get(&q) {
            return Ok(a.clone());
        }
        self.ask = Some(q);
        Err(Halt)
    }

    /// Runs a gate; `Ok(None)` when there are no hooks of that type.
    /// A gate of hooks; `Some` when it holds: the failing hook's name, and whether that hook
    /// mutes its alert (`muteAlert`; the warning event is recorded either way).
    fn gate(&mut self, t: HookType) -> Result<Option<(String, bool)>, Halt> {
        if !self.spec.has_hooks(t) {
            return Ok(None);
        }
        Ok(match self.answer(Question::Hooks(t))? {
            Outcome::Pass => None,
            Outcome::Fail(f) => {
                let muted = self
                    .spec
                    .hooks(t)
                    .any(|h| h.name == f.message && h.mute_alert);
                Some((f.message, muted))
            }
        })
    }

    /// A closed gate: Flagger's warning naming the hook, and its warn alert unless the hook
    /// mutes it. `what` is `""`, `"promotion "` or `"traffic increase "`.
    fn waiting_for_approval(&mut self, what: &str, hook: &str, muted: bool) {
        self.warn(
            format!(
                "Halt {} advancement waiting for {what}approval {hook}",
                self.name()
            ),
            Some(FailureKind::Hook),
        );
        if !muted {
            self.alert(
                Severity::Warn,
                &format!("Canary {what}is waiting for approval."),
            );
        }
    }

    fn reset_counters(&mut self) {
        self.state.canary_weight = 0;
        self.state.mirrored = false;
        self.state.iterations = 0;
        self.state.failed_checks = 0;
        self.state.last_failed_check = None;
        self.state.not_ready_since = None;
    }

    /// Waits for a Deployment; `Err` when it is stuck or past the progress deadline.
    fn ready(&mut self, r: &Readiness, what: &str) -> Result<bool, String> {
        match r {
            Readiness::Ready => Ok(true),
            Readiness::Failed(m) => Err(format!("{what} not ready: {m}")),
            Readiness::Progressing(m) => {
                let since = *self.state.not_ready_since.get_or_insert(self.now);
                let deadline =
                    i64::try_from(self.spec.progress_deadline.as_secs()).unwrap_or(i64::MAX);
                if self.now.saturating_sub(since) > deadline {
                    return Err(format!(
                        "{what} not ready: progress deadline of {deadline}s exceeded ({m})"
                    ));
                }
                self.warn(
                    format!("{what} not ready: waiting for rollout to finish: {m}"),
                    None,
                );
                Ok(false)
            }
        }
    }

    /// Flagger's tick (flagger-spec §4.2), as steps in order: each passes the tick on, or ends
    /// it having decided (or asked a question).
    fn tick(&mut self) -> Flow {
        if self.spec.suspend {
            self.event("skipping canary run as object is suspended".into());
            return Err(End::Decided);
        }
        let phase = self.state.phase;
        let is_new = self.is_new_revision();
        if phase == Phase::Initializing
            || (self.state.primary_revision.is_none() && !phase.is_active() && is_new)
        {
            return decided(self.initialize());
        }
        self.abort_when_back_to_primary(phase)?;
        if !phase.is_active() && phase != Phase::Waiting && !is_new {
            return Err(End::Decided);
        }
        self.wait_for_primary(phase)?;
        self.start_new_revision(phase)?;
        self.restart_on_newer_revision(phase, is_new)?;
        self.wait_for_canary(phase)?;
        self.state.not_ready_since = None;
        self.skip_analysis(phase)?;
        self.rollback_hooks(phase)?;
        self.finish_promotion(phase)?;
        self.threshold_reached()?;
        self.run_checks(phase)?;
        decided(match self.spec.strategy() {
            Strategy::Canary => self.canary_step(),
            Strategy::Ab => self.ab_step(),
            Strategy::Bluegreen | Strategy::Mirror => self.bluegreen_step(),
        })
    }

    /// Whether Git asks for a revision the release has not run: neither the canary's nor the
    /// primary's, or a failed one that another commit brings again.
    fn is_new_revision(&self) -> bool {
        let desired = &self.obs.desired;
        let canary = self.state.canary_revision.as_ref();
        let primary = self.state.primary_revision.as_ref();
        (Some(&desired.revision) != canary && Some(&desired.revision) != primary)
            || (self.state.phase == Phase::Failed
                && Some(&desired.revision) == canary
                && Some(&desired.revision) != primary
                && desired.commit.is_some()
                && desired.commit != self.state.source_commit)
    }

    /// Promoted before and not failed since: promoted without analysis.
    fn is_known_good(&self) -> bool {
        let desired = &self.obs.desired;
        desired.known_good || self.state.promoted.contains(&desired.revision)
    }

    /// fledge: Git went back to what the primary serves while the canary was under test.
    fn abort_when_back_to_primary(&mut self, phase: Phase) -> Flow {
        let desired = &self.obs.desired;
        if !(matches!(
            phase,
            Phase::Progressing | Phase::WaitingPromotion | Phase::Waiting
        ) && Some(&desired.revision) == self.state.primary_revision.as_ref())
        {
            return Ok(());
        }
        self.reset_counters();
        self.state.canary_revision = Some(desired.revision.clone());
        self.state.source_commit.clone_from(&desired.commit);
        self.event(format!(
            "Canary analysis aborted for {}: the desired revision is the primary's",
            self.target()
        ));
        self.transition(
            Phase::Succeeded,
            ReleaseReason::Aborted,
            format!("{ABORTED}: the desired revision is the one the primary serves; nothing was promoted."),
        );
        Err(End::Decided)
    }

    /// The primary must be ready before anything moves (step 13). Unlike Flagger, a primary
    /// that is missing (deleted by hand: the executor rebuilds it) or stuck outside a promotion
    /// halts the rollout instead of rolling the canary back: it is not the canary's fault, and
    /// a rollback would revert a commit nobody has judged.
    fn wait_for_primary(&mut self, phase: Phase) -> Flow {
        if self.spec.skip_analysis {
            return Ok(());
        }
        if self.obs.primary.is_none() && !matches!(phase, Phase::Promoting | Phase::Finalising) {
            let why = format!(
                "the primary Deployment {}.{} is missing; it is rebuilt from the revision it served",
                keys::primary(&self.spec.target.name),
                self.spec.namespace
            );
            return Err(self.halt(why, None));
        }
        match self.primary_ready() {
            Ok(true) => Ok(()),
            Ok(false) => Err(End::Asked),
            Err(e) if matches!(phase, Phase::Promoting | Phase::Finalising) => {
                self.warn(
                    format!(
                        "Promotion of {} failed, primary not ready: {e}",
                        self.target()
                    ),
                    None,
                );
                self.alert(
                    Severity::Error,
                    &format!("Promotion failed, primary not ready: {e}"),
                );
                // Traffic stays on the canary, which serves the promoted revision.
                self.state.canary_weight = 100;
                self.state.mirrored = false;
                self.transition(
                    Phase::Failed,
                    ReleaseReason::PromotionFailed,
                    format!("Promotion failed: {e}"),
                );
                self.actions.push(Action::PostRollout(Phase::Failed));
                Err(End::Decided)
            }
            Err(e) => {
                self.state.not_ready_since = None;
                Err(self.halt(
                    format!("{e}; the rollout waits for the primary (the canary is not to blame)"),
                    None,
                ))
            }
        }
    }

    /// A new revision from an idle phase: the confirm-rollout gate, then progressing (step 15).
    fn start_new_revision(&mut self, phase: Phase) -> Flow {
        if phase.is_active() {
            return Ok(());
        }
        if self.is_known_good() {
            self.fast_rollback();
            return Err(End::Decided);
        }
        if let Some((msg, muted)) = self.gate(HookType::ConfirmRollout)? {
            if phase != Phase::Waiting {
                self.waiting_for_approval("", &msg, muted);
            }
            self.transition(
                Phase::Waiting,
                ReleaseReason::GateClosed,
                "Waiting for approval.",
            );
            return Err(End::Decided);
        }
        self.event(format!(
            "New revision detected! Scaling up {}",
            self.target()
        ));
        self.alert(
            Severity::Info,
            "New revision detected, progressing canary analysis.",
        );
        let desired = self.obs.desired.clone();
        self.reset_counters();
        self.state.canary_revision = Some(desired.revision);
        self.state.source_commit = desired.commit;
        self.state.fast_rollback = false;
        self.transition(
            Phase::Progressing,
            ReleaseReason::Progressing,
            "New revision detected, progressing canary analysis.",
        );
        Err(End::Decided)
    }

    /// A newer revision during the analysis restarts it (step 16).
    fn restart_on_newer_revision(&mut self, phase: Phase, is_new: bool) -> Flow {
        if !(matches!(phase, Phase::Progressing | Phase::WaitingPromotion) && is_new) {
            return Ok(());
        }
        if self.is_known_good() {
            self.fast_rollback();
            return Err(End::Decided);
        }
        self.event(format!(
            "New revision detected! Restarting analysis for {}",
            self.target()
        ));
        let desired = self.obs.desired.clone();
        self.reset_counters();
        self.state.canary_revision = Some(desired.revision);
        self.state.source_commit = desired.commit;
        self.transition(
            Phase::Progressing,
            ReleaseReason::Progressing,
            "New revision detected, restarting canary analysis.",
        );
        Err(End::Decided)
    }

    /// The canary must be ready (step 17).
    fn wait_for_canary(&mut self, phase: Phase) -> Flow {
        if !matches!(phase, Phase::Progressing | Phase::WaitingPromotion) {
            return Ok(());
        }
        let canary = self.obs.canary.clone();
        match self.ready(&canary, &format!("canary deployment {}", self.target())) {
            Ok(true) => Ok(()),
            Ok(false) => Err(End::Asked),
            Err(e) => {
                self.roll_back_stuck(&e);
                Err(End::Decided)
            }
        }
    }

    /// `skipAnalysis`: promote at once.
    fn skip_analysis(&mut self, phase: Phase) -> Flow {
        if !(self.spec.skip_analysis && phase == Phase::Progressing) {
            return Ok(());
        }
        self.state.canary_weight = 0;
        self.state.mirrored = false;
        self.copy_to_primary();
        self.succeed(
            ReleaseReason::AnalysisSkipped,
            &format!(
                "Promotion completed! Canary analysis was skipped for {}",
                self.target()
            ),
            "Canary analysis was skipped, promotion finished.",
        );
        Err(End::Decided)
    }

    /// Manual rollback hooks (step 19).
    fn rollback_hooks(&mut self, phase: Phase) -> Flow {
        if !(matches!(phase, Phase::Progressing | Phase::WaitingPromotion)
            && self.spec.has_hooks(HookType::Rollback)
            && self.answer(Question::Hooks(HookType::Rollback))? == Outcome::Pass)
        {
            return Ok(());
        }
        self.warn(
            format!("Rolling back {} manual webhook invoked", self.name()),
            Some(FailureKind::Hook),
        );
        self.alert(Severity::Warn, "Rolling back manual webhook invoked");
        self.rollback(
            ReleaseReason::RollbackRequested,
            "a rollback webhook signalled a rollback",
        );
        Err(End::Decided)
    }

    /// Promoting moves traffic back to the primary; Finalising ends the promotion.
    fn finish_promotion(&mut self, phase: Phase) -> Flow {
        match phase {
            Phase::Promoting => self.promotion_traffic(),
            Phase::Finalising => {
                self.state.canary_weight = 0;
                self.state.mirrored = false;
                self.succeed(
                    ReleaseReason::Promoted,
                    &format!("Promotion completed! Scaling down {}", self.target()),
                    "Canary analysis completed successfully, promotion finished.",
                );
            }
            _ => return Ok(()),
        }
        Err(End::Decided)
    }

    /// Threshold reached: roll back (step 22).
    fn threshold_reached(&mut self) -> Flow {
        let n = self.state.failed_checks;
        if n < self.spec.analysis.threshold {
            return Ok(());
        }
        self.warn(
            format!(
                "Rolling back {} failed checks threshold reached {n}",
                self.name()
            ),
            None,
        );
        // Why: the last failed check, with what it saw and when.
        let last = self
            .state
            .last_failed_check
            .as_ref()
            .map_or(String::new(), |f| {
                format!("; last failed check: {}", f.summary())
            });
        self.alert(
            Severity::Error,
            &format!("Failed checks threshold reached {n}{last}"),
        );
        self.rollback(
            ReleaseReason::CheckFailed,
            &format!("failed checks threshold reached {n}{last}"),
        );
        Err(End::Decided)
    }

    /// The checks (steps 24–25): the pre-rollout gate before the first step, else the rollout
    /// webhooks and the metrics; a failure counts and ends the tick.
    fn run_checks(&mut self, phase: Phase) -> Flow {
        let first = self.state.canary_weight == 0
            && self.state.iterations == 0
            && !self.state.mirrored
            && phase == Phase::Progressing;
        if first {
            if let Some((msg, _)) = self.gate(HookType::PreRollout)? {
                self.failed(FailedCheck::new(
                    FailureKind::Hook,
                    format!("webhook {msg}"),
                    format!("pre-rollout check {msg} failed"),
                ));
                self.warn(
                    format!("Halt {} advancement pre-rollout check {msg}", self.name()),
                    Some(FailureKind::Hook),
                );
                return Err(End::Decided);
            }
            self.event(format!("Starting canary analysis for {}", self.target()));
        } else if (self.spec.has_hooks(HookType::Rollout) || !self.spec.analysis.metrics.is_empty())
            && let Outcome::Fail(f) = self.answer(Question::Analysis)?
        {
            // fledge: a provider that cannot answer is no evidence against the canary.
            if !f.kind.is_evidence() {
                return Err(self.halt(
                    format!("metrics cannot be read: {}", f.message),
                    Some(f.kind),
                ));
            }
            self.warn(f.message.clone(), Some(f.kind));
            self.failed(f);
            return Err(End::Decided);
        }
        Ok(())
    }

    /// Counts a failed check and remembers it, with its time.
    fn failed(&mut self, check: FailedCheck) {
        self.state.failed_checks += 1;
        self.state.last_failed_check = Some(FailedCheck {
            time: self.now,
            ..check
        });
    }

    fn initialize(&mut self) -> Step {
        let desired = self.obs.desired.clone();
        if self.state.phase != Phase::Initializing {
            self.transition(
                Phase::Initializing,
                ReleaseReason::Initializing,
                "New Deployment detected, starting initialization.",
            );
        }
        if !self.spec.skip_analysis {
            match self.primary_ready() {
                Ok(true) => {}
                Ok(false) => return Err(Halt),
                Err(e) => {
                    self.state.not_ready_since = None;
                    self.state.canary_revision = Some(desired.revision);
                    self.state.source_commit = desired.commit;
                    self.warn(format!("Canary failed! Scaling down {}", self.name()), None);
                    self.alert(Severity::Error, &format!("Initialization failed: {e}"));
                    self.transition(
                        Phase::Failed,
                        ReleaseReason::InitializationFailed,
                        format!("Initialization failed: {e}"),
                    );
                    return Ok(());
                }
            }
        }
        self.reset_counters();
        self.state.canary_revision = Some(desired.revision.clone());
        self.state.promoted.retain(|r| *r != desired.revision);
        self.state.promoted.insert(0, desired.revision.clone());
        self.state
            .promoted
            .truncate(self.obs.promoted_window.max(1));
        self.state.primary_revision = Some(desired.revision);
        self.state.primary_commit.clone_from(&desired.commit);
        self.state.source_commit = desired.commit;
        self.event(format!("Initialization done! {}", self.name()));
        self.alert(
            Severity::Info,
            "New Deployment detected, initialization completed.",
        );
        self.transition(
            Phase::Initialized,
            ReleaseReason::Initialized,
            "Deployment initialization completed.",
        );
        Ok(())
    }

    /// A revision promoted before and not failed since: promote at once.
    fn fast_rollback(&mut self) {
        let desired = self.obs.desired.clone();
        self.reset_counters();
        self.state.canary_revision = Some(desired.revision);
        self.state.source_commit = desired.commit;
        self.event(format!(
            "Fast rollback of {}: the revision was promoted before, promoting without analysis",
            self.target()
        ));
        self.actions.push(Action::Promote);
        self.succeed(
            ReleaseReason::FastRollback,
            &format!(
                "Promotion completed! Canary analysis was skipped for {}",
                self.target()
            ),
            &format!("{FAST_ROLLBACK}: a revision promoted before was promoted without analysis."),
        );
        self.state.fast_rollback = true;
    }

    fn succeed(&mut self, reason: ReleaseReason, event: &str, alert: &str) {
        self.state
            .primary_revision
            .clone_from(&self.state.canary_revision);
        self.state
            .primary_commit
            .clone_from(&self.state.source_commit);
        if let Some(rev) = self.state.canary_revision.clone() {
            self.state.promoted.retain(|r| *r != rev);
            self.state.promoted.insert(0, rev);
            self.state
                .promoted
                .truncate(self.obs.promoted_window.max(1));
        }
        self.state.iterations = 0;
        self.state.not_ready_since = None;
        self.event(event.to_owned());
        self.alert(Severity::Info, alert);
        self.transition(Phase::Succeeded, reason, alert);
        self.actions.push(Action::PostRollout(Phase::Succeeded));
    }

    /// Waits for the primary (missing counts as not ready yet).
    fn primary_ready(&mut self) -> Result<bool, String> {
        let primary = self
            .obs
            .primary
            .clone()
            .unwrap_or_else(|| Readiness::Progressing("the primary does not exist yet".into()));
        let what = format!(
            "{}.{}",
            keys::primary(&self.spec.target.name),
            self.spec.namespace
        );
        self.ready(&primary, &what)
    }

    /// A Deployment that will not become ready: roll back. Flagger does it quietly
    /// (flagger-spec §10.8); fledge alerts.
    fn roll_back_stuck(&mut self, e: &str) {
        self.warn(
            format!(
                "Rolling back {} progress deadline exceeded {e}",
                self.name()
            ),
            None,
        );
        self.alert(Severity::Error, &format!("Progress deadline exceeded {e}"));
        self.rollback(ReleaseReason::ProgressDeadline, e);
    }

    fn rollback(&mut self, why: ReleaseReason, reason: &str) {
        if let Some(rev) = &self.state.canary_revision {
            let rev = rev.clone();
            self.state.promoted.retain(|r| *r != rev);
        }
        self.state.canary_weight = 0;
        self.state.mirrored = false;
        self.state.not_ready_since = None;
        self.warn(format!("Canary failed! Scaling down {}", self.name()), None);
        self.transition(
            Phase::Failed,
            why,
            format!("Canary analysis failed, Deployment scaled to zero: {reason}."),
        );
        self.actions.push(Action::PostRollout(Phase::Failed));
    }

    /// The `confirm-promotion` gate; `Ok(false)` when it holds the release in WaitingPromotion.
    fn promotion_approved(&mut self) -> Result<bool, Halt> {
        let Some((msg, muted)) = self.gate(HookType::ConfirmPromotion)? else {
            return Ok(true);
        };
        if self.state.phase != Phase::WaitingPromotion {
            self.waiting_for_approval("promotion ", &msg, muted);
        }
        self.transition(
            Phase::WaitingPromotion,
            ReleaseReason::GateClosed,
            "Waiting for approval.",
        );
        Ok(false)
    }

    fn promote(&mut self) -> Step {
        if !self.promotion_approved()? {
            return Ok(());
        }
        self.start_promotion();
        Ok(())
    }

    /// Copies the canary to the primary (the executor does it) and enters Promoting.
    fn start_promotion(&mut self) {
        self.copy_to_primary();
        self.transition(
            Phase::Promoting,
            ReleaseReason::Promoting,
            "Canary analysis completed, starting primary rolling update.",
        );
    }

    fn copy_to_primary(&mut self) {
        self.event(format!(
            "Copying {} template spec to {}.{}",
            self.target(),
            keys::primary(&self.spec.target.name),
            self.spec.namespace
        ));
        self.actions.push(Action::Promote);
    }

    fn canary_step(&mut self) -> Step {
        let w = self.state.canary_weight;
        // Asked before every step, the promotion at the maximum weight included, as Flagger
        // does (its scheduler gates on the next step weight, which is never 0 for a canary).
        if !self.state.mirrored
            && self.state.phase == Phase::Progressing
            && let Some((msg, muted)) = self.gate(HookType::ConfirmTrafficIncrease)?
        {
            self.waiting_for_approval("traffic increase ", &msg, muted);
            return Ok(());
        }
        if w >= self.spec.max_weight() {
            return self.promote();
        }
        let next = self.spec.next_step(w);
        if self.spec.analysis.mirror && w == 0 && !self.state.mirrored {
            // One mirrored step before the first weighted one.
            self.state.mirrored = true;
            self.event(format!(
                "Advance {} canary weight 0 (mirroring)",
                self.name()
            ));
            return Ok(());
        }
        self.state.mirrored = false;
        self.state.canary_weight = w.saturating_add(next).min(100);
        self.event(format!(
            "Advance {} canary weight {}",
            self.name(),
            self.state.canary_weight
        ));
        Ok(())
    }

    /// One more A/B or blue/green iteration, announced as Flagger does.
    fn next_iteration(&mut self) {
        self.state.iterations += 1;
        self.event(format!(
            "Advance {} canary iteration {}/{}",
            self.name(),
            self.state.iterations,
            self.spec.analysis.iterations
        ));
    }

    fn ab_step(&mut self) -> Step {
        let n = self.spec.analysis.iterations;
        if self.state.iterations < n {
            self.state.canary_weight = 100;
            self.next_iteration();
            return Ok(());
        }
        self.promote()
    }

    fn bluegreen_step(&mut self) -> Step {
        let n = self.spec.analysis.iterations;
        let kubernetes = self.spec.provider == Provider::Kubernetes;
        if self.state.iterations < n {
            if self.spec.analysis.mirror && !kubernetes {
                self.state.mirrored = true;
            }
            self.next_iteration();
            return Ok(());
        }
        if self.state.iterations == n && !kubernetes {
            if !self.promotion_approved()? {
                return Ok(());
            }
            let text = if self.state.mirrored {
                "Stop traffic mirroring and route all traffic to canary"
            } else {
                "Routing all traffic to canary"
            };
            self.event(text.into());
            self.state.mirrored = false;
            self.state.canary_weight = 100;
            self.state.iterations += 1;
            if self.state.phase == Phase::WaitingPromotion {
                self.transition(
                    Phase::Progressing,
                    ReleaseReason::Progressing,
                    "Promotion approved, routing all traffic to canary.",
                );
            }
            return Ok(());
        }
        if kubernetes {
            return self.promote();
        }
        // Confirm-promotion passed when traffic switched; promote now.
        self.start_promotion();
        Ok(())
    }

    /// Promoting: the primary is ready; move traffic back to it (flagger-spec §4.5).
    fn promotion_traffic(&mut self) {
        let step = self.spec.analysis.step_weight_promotion;
        let done = |t: &mut Self| {
            t.state.canary_weight = 0;
            t.state.mirrored = false;
            t.transition(
                Phase::Finalising,
                ReleaseReason::Promoting,
                "Canary analysis completed, routing all traffic to primary.",
            );
        };
        if self.spec.provider == Provider::Kubernetes
            || self.spec.strategy() != Strategy::Canary
            || step == 0
        {
            self.event("Routing all traffic to primary".into());
            done(self);
            return;
        }
        let canary = self.state.canary_weight.saturating_sub(step);
        self.event(format!(
            "Advance {} primary weight {}",
            self.name(),
            100 - canary
        ));
        if canary == 0 {
            done(self);
        } else {
            self.state.canary_weight = canary;
        }
    }
}

#[cfg(test)]
mod tests;
