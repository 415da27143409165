//! Runs `decide` forward with every Deployment ready and scripted answers: what `plan` shows
//! (the weight schedule, the ticks to promote and to fail) is what `decide` does, not a second
//! model of it.

use std::collections::BTreeMap;

use super::decide::decide;
use crate::release::Readiness;
use crate::release::spec::ReleaseSpec;
use crate::release::state::{
    Decision, Desired, FailedCheck, FailureKind, Observation, Outcome, Phase, Question,
    ReleaseState,
};

/// The state after each tick, from the tick that sees a new revision until the release
/// settles (Succeeded or Failed) or `max_ticks` pass.
pub fn run(
    spec: &ReleaseSpec,
    mut answer: impl FnMut(Question, &ReleaseState) -> Outcome,
    max_ticks: usize,
) -> Vec<Decision> {
    let interval = i64::try_from(spec.analysis.interval.as_secs()).unwrap_or(60);
    let mut state = ReleaseState {
        phase: Phase::Succeeded,
        canary_revision: Some("old".into()),
        primary_revision: Some("old".into()),
        ..ReleaseState::default()
    };
    let desired = Desired {
        revision: "new".into(),
        commit: None,
        known_good: false,
    };
    let mut out = Vec::new();
    for i in 0..max_ticks {
        let now = i64::try_from(i).unwrap_or(i64::MAX) * interval;
        let mut obs = Observation {
            desired: desired.clone(),
            primary: Some(Readiness::Ready),
            canary: Readiness::Ready,
            answers: BTreeMap::new(),
            promoted_window: crate::release::state::DEFAULT_PROMOTED_WINDOW,
        };
        let d = loop {
            let d = decide(spec, &state, &obs, now);
            match d.ask {
                Some(q) => {
                    let a = answer(q, &state);
                    obs.answers.insert(q, a);
                }
                None => break d,
            }
        };
        state = d.state.clone();
        out.push(d);
        if matches!(state.phase, Phase::Succeeded | Phase::Failed) {
            break;
        }
    }
    out
}

/// Every question answered with a pass (rollback hooks: no rollback).
#[must_use]
pub fn all_pass(q: Question, _: &ReleaseState) -> Outcome {
    match q {
        Question::Hooks(crate::release::spec::HookType::Rollback) => Outcome::Fail(
            FailedCheck::new(FailureKind::Hook, "rollback webhooks", "no rollback"),
        ),
        _ => Outcome::Pass,
    }
}

/// Gates pass, the analysis always fails.
#[must_use]
pub fn analysis_fails(q: Question, s: &ReleaseState) -> Outcome {
    match q {
        Question::Analysis => Outcome::Fail(FailedCheck::new(
            FailureKind::OutOfRange,
            "metrics",
            "metric out of range",
        )),
        other @ Question::Hooks(_) => all_pass(other, s),
    }
}
