//! Every transition of flagger-spec §4.12, table-driven, and the invariants as properties.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::decide;
use crate::release::Readiness;
use crate::release::parse_canary;
use crate::release::spec::{HookType, Provider, ReleaseSpec};
use crate::release::state::{
    Action, Desired, FailedCheck, FailureKind, Observation, Outcome, Phase, Question, ReleaseState,
};
use crate::rollout::simulate::{self, all_pass, analysis_fails};

fn spec_with(analysis: Value, extra: Value) -> ReleaseSpec {
    let mut c = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "service": {"port": 80}}});
    c["spec"]["analysis"] = analysis;
    if let Value::Object(m) = extra {
        for (k, v) in m {
            c["spec"][k] = v;
        }
    }
    parse_canary(&c, &Provider::Istio).unwrap()
}

fn hooks(types: &[&str]) -> Value {
    Value::Array(
        types
            .iter()
            .map(|t| json!({"name": format!("{t}-hook"), "type": t, "url": "http://hooks/"}))
            .collect(),
    )
}

fn canary_spec() -> ReleaseSpec {
    spec_with(
        json!({"interval": "1m", "threshold": 2, "stepWeight": 25, "maxWeight": 50,
               "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
               "webhooks": hooks(&["confirm-rollout", "confirm-promotion", "rollback", "pre-rollout"])}),
        json!({}),
    )
}

fn state(phase: Phase) -> ReleaseState {
    ReleaseState {
        phase,
        canary_revision: Some("r1".into()),
        primary_revision: Some("r1".into()),
        ..ReleaseState::default()
    }
}

/// One row: a start state, what is observed, and the expected result.
struct Case {
    name: &'static str,
    spec: ReleaseSpec,
    state: ReleaseState,
    desired: &'static str,
    known_good: bool,
    primary: Option<Readiness>,
    canary: Readiness,
    answers: Vec<(Question, Outcome)>,
    now: i64,
    want_phase: Phase,
    want: fn(&ReleaseState, &[Action]) -> bool,
}

fn pass() -> Outcome {
    Outcome::Pass
}

fn fail() -> Outcome {
    Outcome::Fail(FailedCheck::new(
        FailureKind::Hook,
        "webhook gate",
        "hook said no",
    ))
}

fn base(name: &'static str, st: ReleaseState, want_phase: Phase) -> Case {
    Case {
        name,
        spec: canary_spec(),
        state: st,
        desired: "r1",
        known_good: false,
        primary: Some(Readiness::Ready),
        canary: Readiness::Ready,
        answers: Vec::new(),
        now: 1000,
        want_phase,
        want: |_, _| true,
    }
}

fn run_case(c: &Case) -> crate::release::Decision {
    let obs = Observation {
        desired: Desired {
            revision: c.desired.into(),
            commit: Some("c0ffee".into()),
            known_good: c.known_good,
        },
        primary: c.primary.clone(),
        canary: c.canary.clone(),
        answers: c.answers.iter().cloned().collect(),
        promoted_window: crate::release::state::DEFAULT_PROMOTED_WINDOW,
    };
    decide(&c.spec, &c.state, &obs, c.now)
}

fn progressing(weight: u8, failed: u32) -> ReleaseState {
    ReleaseState {
        phase: Phase::Progressing,
        canary_weight: weight,
        failed_checks: failed,
        canary_revision: Some("r2".into()),
        primary_revision: Some("r1".into()),
        ..ReleaseState::default()
    }
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "the table of decide's transitions, one case per entry"
)]
fn every_transition_of_the_phase_table() {
    let confirm_rollout = Question::Hooks(HookType::ConfirmRollout);
    let confirm_promotion = Question::Hooks(HookType::ConfirmPromotion);
    let rollback = Question::Hooks(HookType::Rollback);
    let cases = vec![
        Case {
            primary: None,
            ..base(
                "Initializing waits for the primary",
                ReleaseState::default(),
                Phase::Initializing,
            )
        },
        Case {
            want: |s, _| s.primary_revision.as_deref() == Some("r1"),
            ..base(
                "Initializing → Initialized once the primary is ready",
                ReleaseState::default(),
                Phase::Initialized,
            )
        },
        Case {
            primary: Some(Readiness::Failed("ProgressDeadlineExceeded".into())),
            ..base(
                "Initializing → Failed when the primary is stuck",
                ReleaseState::default(),
                Phase::Failed,
            )
        },
        Case {
            desired: "r1",
            ..base(
                "Initialized without a new revision stays",
                state(Phase::Initialized),
                Phase::Initialized,
            )
        },
        Case {
            desired: "r2",
            answers: vec![(confirm_rollout, fail())],
            ..base(
                "Initialized → Waiting when confirm-rollout fails",
                state(Phase::Initialized),
                Phase::Waiting,
            )
        },
        Case {
            desired: "r2",
            answers: vec![(confirm_rollout, pass())],
            want: |s, _| {
                s.canary_revision.as_deref() == Some("r2")
                    && s.source_commit.as_deref() == Some("c0ffee")
            },
            ..base(
                "Initialized → Progressing when confirm-rollout passes",
                state(Phase::Initialized),
                Phase::Progressing,
            )
        },
        Case {
            desired: "r2",
            answers: vec![(confirm_rollout, pass())],
            ..base(
                "Succeeded → Progressing on a new revision",
                state(Phase::Succeeded),
                Phase::Progressing,
            )
        },
        Case {
            desired: "r3",
            answers: vec![(confirm_rollout, pass())],
            state: ReleaseState {
                canary_revision: Some("r2".into()),
                ..state(Phase::Failed)
            },
            ..base(
                "Failed → Progressing on a new revision",
                state(Phase::Failed),
                Phase::Progressing,
            )
        },
        Case {
            desired: "r2",
            state: ReleaseState {
                canary_revision: Some("r2".into()),
                source_commit: Some("c0ffee".into()),
                ..state(Phase::Failed)
            },
            ..base(
                "Failed stays Failed while Git still wants the failed revision",
                state(Phase::Failed),
                Phase::Failed,
            )
        },
        Case {
            desired: "r2",
            answers: vec![(confirm_rollout, pass())],
            ..base(
                "Waiting → Progressing when the gate opens",
                state(Phase::Waiting),
                Phase::Progressing,
            )
        },
        Case {
            desired: "r3",
            answers: vec![(rollback, fail())],
            state: progressing(25, 1),
            want: |s, _| {
                s.canary_weight == 0
                    && s.failed_checks == 0
                    && s.canary_revision.as_deref() == Some("r3")
            },
            ..base(
                "Progressing → Progressing: a newer revision restarts the analysis",
                state(Phase::Progressing),
                Phase::Progressing,
            )
        },
        Case {
            desired: "r3",
            state: ReleaseState {
                phase: Phase::WaitingPromotion,
                ..progressing(50, 0)
            },
            ..base(
                "WaitingPromotion → Progressing: a newer revision restarts the analysis",
                state(Phase::Progressing),
                Phase::Progressing,
            )
        },
        Case {
            desired: "r2",
            answers: vec![
                (rollback, fail()),
                (Question::Analysis, pass()),
                (confirm_promotion, fail()),
            ],
            state: progressing(50, 0),
            want: |s, _| s.canary_weight == 50,
            ..base(
                "Progressing → WaitingPromotion when confirm-promotion fails",
                state(Phase::Progressing),
                Phase::WaitingPromotion,
            )
        },
        Case {
            desired: "r2",
            answers: vec![
                (rollback, fail()),
                (Question::Analysis, pass()),
                (confirm_promotion, pass()),
            ],
            state: progressing(50, 0),
            want: |_, a| a.contains(&Action::Promote),
            ..base(
                "Progressing → Promoting at the maximum weight",
                state(Phase::Progressing),
                Phase::Promoting,
            )
        },
        Case {
            desired: "r2",
            answers: vec![
                (rollback, fail()),
                (Question::Analysis, pass()),
                (confirm_promotion, pass()),
            ],
            state: ReleaseState {
                phase: Phase::WaitingPromotion,
                ..progressing(50, 0)
            },
            want: |_, a| a.contains(&Action::Promote),
            ..base(
                "WaitingPromotion → Promoting when the gate opens",
                state(Phase::Progressing),
                Phase::Promoting,
            )
        },
        Case {
            desired: "r2",
            state: ReleaseState {
                phase: Phase::Promoting,
                ..progressing(50, 0)
            },
            primary: Some(Readiness::Progressing("1 of 2 updated".into())),
            ..base(
                "Promoting waits for the primary rollout",
                state(Phase::Progressing),
                Phase::Promoting,
            )
        },
        Case {
            desired: "r2",
            state: ReleaseState {
                phase: Phase::Promoting,
                ..progressing(50, 0)
            },
            want: |s, _| s.canary_weight == 0,
            ..base(
                "Promoting → Finalising once the primary is ready",
                state(Phase::Progressing),
                Phase::Finalising,
            )
        },
        Case {
            desired: "r2",
            state: ReleaseState {
                phase: Phase::Promoting,
                ..progressing(50, 0)
            },
            primary: Some(Readiness::Failed("ProgressDeadlineExceeded".into())),
            want: |s, _| s.canary_weight == 100,
            ..base(
                "Promoting → Failed when the primary is stuck (traffic left on the canary)",
                state(Phase::Progressing),
                Phase::Failed,
            )
        },
        Case {
            desired: "r2",
            state: ReleaseState {
                phase: Phase::Finalising,
                ..progressing(0, 0)
            },
            want: |s, a| {
                s.primary_revision.as_deref() == Some("r2")
                    && a.contains(&Action::PostRollout(Phase::Succeeded))
            },
            ..base(
                "Finalising → Succeeded",
                state(Phase::Progressing),
                Phase::Succeeded,
            )
        },
        Case {
            desired: "r2",
            spec: spec_with(json!({"stepWeight": 10}), json!({"skipAnalysis": true})),
            state: progressing(0, 0),
            // Post-rollout hooks run with skipAnalysis too (Flagger 1.44).
            want: |s, a| {
                a.contains(&Action::Promote)
                    && a.contains(&Action::PostRollout(Phase::Succeeded))
                    && s.primary_revision.as_deref() == Some("r2")
            },
            ..base(
                "Progressing → Succeeded with skipAnalysis",
                state(Phase::Progressing),
                Phase::Succeeded,
            )
        },
        Case {
            desired: "r2",
            answers: vec![(rollback, fail())],
            state: progressing(25, 2),
            want: |s, a| s.canary_weight == 0 && a.contains(&Action::PostRollout(Phase::Failed)),
            ..base(
                "Progressing → Failed at the failed-checks threshold",
                state(Phase::Progressing),
                Phase::Failed,
            )
        },
        Case {
            desired: "r2",
            answers: vec![(rollback, fail())],
            state: ReleaseState {
                phase: Phase::WaitingPromotion,
                ..progressing(50, 2)
            },
            ..base(
                "WaitingPromotion → Failed at the failed-checks threshold",
                state(Phase::Progressing),
                Phase::Failed,
            )
        },
        Case {
            desired: "r2",
            answers: vec![(rollback, pass())],
            state: progressing(25, 0),
            ..base(
                "Progressing → Failed when a rollback hook signals",
                state(Phase::Progressing),
                Phase::Failed,
            )
        },
        Case {
            desired: "r2",
            canary: Readiness::Failed("ProgressDeadlineExceeded".into()),
            state: progressing(25, 0),
            ..base(
                "Progressing → Failed when the canary is stuck",
                state(Phase::Progressing),
                Phase::Failed,
            )
        },
        Case {
            desired: "r2",
            canary: Readiness::Progressing("0 of 1 updated".into()),
            state: ReleaseState {
                not_ready_since: Some(0),
                ..progressing(25, 0)
            },
            now: 601,
            ..base(
                "Progressing → Failed when the canary misses progressDeadlineSeconds",
                state(Phase::Progressing),
                Phase::Failed,
            )
        },
        Case {
            desired: "r2",
            canary: Readiness::Progressing("0 of 1 updated".into()),
            state: ReleaseState {
                not_ready_since: Some(0),
                ..progressing(25, 0)
            },
            now: 599,
            want: |s, _| s.canary_weight == 25 && s.failed_checks == 0,
            ..base(
                "Progressing halts (no failed check) while the canary rolls out",
                state(Phase::Progressing),
                Phase::Progressing,
            )
        },
        Case {
            desired: "r1",
            state: progressing(25, 1),
            want: |s, _| s.canary_weight == 0 && s.canary_revision.as_deref() == Some("r1"),
            ..base(
                "fledge: Progressing → Succeeded when Git is back at the primary's revision",
                state(Phase::Progressing),
                Phase::Succeeded,
            )
        },
        Case {
            desired: "r0",
            known_good: true,
            want: |s, a| {
                s.fast_rollback
                    && a.contains(&Action::Promote)
                    && s.primary_revision.as_deref() == Some("r0")
            },
            ..base(
                "fledge: Succeeded → Succeeded at once for a revision known to be good",
                state(Phase::Succeeded),
                Phase::Succeeded,
            )
        },
        Case {
            desired: "r2",
            answers: vec![
                (rollback, fail()),
                (
                    Question::Analysis,
                    Outcome::Fail(FailedCheck::new(
                        FailureKind::OutOfRange,
                        "metric request-success-rate",
                        "Halt web.prod advancement success rate 50.00% < 99%",
                    )),
                ),
            ],
            state: progressing(25, 0),
            want: |s, a| s.failed_checks == 1 && s.canary_weight == 25 && a.is_empty(),
            ..base(
                "Progressing counts a failed check and holds the weight",
                state(Phase::Progressing),
                Phase::Progressing,
            )
        },
        Case {
            desired: "r2",
            answers: vec![(rollback, fail()), (Question::Analysis, pass())],
            state: progressing(25, 1),
            want: |s, _| s.canary_weight == 50 && s.failed_checks == 1,
            ..base(
                "Progressing advances the weight; failed checks are cumulative",
                state(Phase::Progressing),
                Phase::Progressing,
            )
        },
        Case {
            desired: "r2",
            answers: vec![
                (rollback, fail()),
                (Question::Hooks(HookType::PreRollout), fail()),
            ],
            state: progressing(0, 0),
            want: |s, _| s.canary_weight == 0 && s.failed_checks == 1,
            ..base(
                "a failing pre-rollout hook is a failed check",
                state(Phase::Progressing),
                Phase::Progressing,
            )
        },
    ];
    for c in &cases {
        let d = run_case(c);
        assert_eq!(d.ask, None, "{}: asked {:?}", c.name, d.ask);
        assert_eq!(d.state.phase, c.want_phase, "{}: {:?}", c.name, d.state);
        assert!(
            (c.want)(&d.state, &d.actions),
            "{}: {:?} {:?}",
            c.name,
            d.state,
            d.actions
        );
    }
}

#[test]
fn questions_are_asked_one_at_a_time_and_only_when_needed() {
    let mut c = base("", progressing(25, 0), Phase::Progressing);
    c.desired = "r2";
    let d = run_case(&c);
    assert_eq!(d.ask, Some(Question::Hooks(HookType::Rollback)));
    c.answers
        .push((Question::Hooks(HookType::Rollback), fail()));
    assert_eq!(run_case(&c).ask, Some(Question::Analysis));
    // No hooks and no metrics: nothing to ask.
    c.spec = spec_with(json!({"stepWeight": 10}), json!({}));
    c.answers.clear();
    let d = run_case(&c);
    assert_eq!(d.ask, None);
    assert_eq!(d.state.canary_weight, 35);
}

#[test]
fn a_b_and_blue_green_count_iterations() {
    let ab = spec_with(
        json!({"iterations": 2, "threshold": 1, "match": [{"headers": {"x-canary": {"exact": "insider"}}}]}),
        json!({}),
    );
    let states: Vec<_> = simulate::run(&ab, all_pass, 50)
        .into_iter()
        .map(|d| d.state)
        .collect();
    let phases: Vec<_> = states
        .iter()
        .map(|s| (s.phase, s.iterations, s.canary_weight))
        .collect();
    assert_eq!(
        phases,
        [
            (Phase::Progressing, 0, 0),
            (Phase::Progressing, 1, 100),
            (Phase::Progressing, 2, 100),
            (Phase::Promoting, 2, 100),
            (Phase::Finalising, 2, 0),
            (Phase::Succeeded, 0, 0),
        ]
    );
    let bg = spec_with(json!({"iterations": 2, "mirror": true}), json!({}));
    let states: Vec<_> = simulate::run(&bg, all_pass, 50)
        .into_iter()
        .map(|d| d.state)
        .collect();
    let phases: Vec<_> = states
        .iter()
        .map(|s| (s.phase, s.iterations, s.canary_weight, s.mirrored))
        .collect();
    assert_eq!(
        phases,
        [
            (Phase::Progressing, 0, 0, false),
            (Phase::Progressing, 1, 0, true),
            (Phase::Progressing, 2, 0, true),
            (Phase::Progressing, 3, 100, false),
            (Phase::Promoting, 3, 100, false),
            (Phase::Finalising, 3, 0, false),
            (Phase::Succeeded, 0, 0, false),
        ]
    );
}

#[test]
fn promotion_moves_traffic_back_in_steps() {
    let s = spec_with(
        json!({"stepWeight": 50, "stepWeightPromotion": 20}),
        json!({}),
    );
    let weights: Vec<_> = simulate::run(&s, all_pass, 50)
        .into_iter()
        .map(|d| (d.state.phase, d.state.canary_weight))
        .collect();
    assert_eq!(
        weights,
        [
            (Phase::Progressing, 0),
            (Phase::Progressing, 50),
            (Phase::Progressing, 100),
            (Phase::Promoting, 100),
            (Phase::Promoting, 80),
            (Phase::Promoting, 60),
            (Phase::Promoting, 40),
            (Phase::Promoting, 20),
            (Phase::Finalising, 0),
            (Phase::Succeeded, 0),
        ]
    );
}

#[test]
fn mirroring_takes_one_step_before_the_first_weight() {
    let s = spec_with(json!({"stepWeight": 50, "mirror": true}), json!({}));
    let w: Vec<_> = simulate::run(&s, all_pass, 50)
        .into_iter()
        .map(|d| (d.state.canary_weight, d.state.mirrored))
        .collect();
    assert_eq!(&w[..4], [(0, false), (0, true), (50, false), (100, false)]);
}

/// An observation of revision `revision` with the primary and the canary ready and no answers.
fn ready_for(revision: &str) -> Observation {
    Observation {
        desired: Desired {
            revision: revision.into(),
            commit: None,
            known_good: false,
        },
        primary: Some(Readiness::Ready),
        canary: Readiness::Ready,
        answers: BTreeMap::new(),
        promoted_window: crate::release::state::DEFAULT_PROMOTED_WINDOW,
    }
}

#[test]
fn gates_hold_without_counting_failed_checks() {
    let s = spec_with(
        json!({"stepWeight": 50, "threshold": 1, "webhooks": hooks(&["confirm-traffic-increase"])}),
        json!({}),
    );
    let mut obs = ready_for("r2");
    obs.answers
        .insert(Question::Hooks(HookType::ConfirmTrafficIncrease), fail());
    obs.answers.insert(Question::Analysis, pass());
    let d = decide(&s, &progressing(50, 0), &obs, 0);
    assert_eq!((d.state.canary_weight, d.state.failed_checks), (50, 0));
    assert!(
        d.events
            .iter()
            .any(|e| e.message.contains("waiting for traffic increase approval"))
    );
}

#[test]
fn traffic_increase_is_asked_at_the_promotion_point_too() {
    let s = spec_with(
        json!({"stepWeight": 50, "maxWeight": 50, "threshold": 1,
               "webhooks": hooks(&["confirm-traffic-increase"])}),
        json!({}),
    );
    let mut obs = ready_for("r2");
    obs.answers
        .insert(Question::Hooks(HookType::ConfirmTrafficIncrease), fail());
    obs.answers.insert(Question::Analysis, pass());
    let held = decide(&s, &progressing(50, 0), &obs, 0);
    assert_eq!(held.state.phase, Phase::Progressing);
    assert!(
        !held.actions.contains(&Action::Promote),
        "{:?}",
        held.actions
    );
    obs.answers
        .insert(Question::Hooks(HookType::ConfirmTrafficIncrease), pass());
    let promoted = decide(&s, &progressing(50, 0), &obs, 0);
    assert_eq!(promoted.state.phase, Phase::Promoting);
}

fn arb_spec() -> impl Strategy<Value = ReleaseSpec> {
    let linear = (1u8..=100, 1u8..=100)
        .prop_map(|(step, max)| json!({"stepWeight": step, "maxWeight": max}));
    let steps = proptest::collection::btree_set(1u8..=100, 1..6)
        .prop_map(|s| json!({"stepWeights": s.into_iter().collect::<Vec<_>>()}));
    let iterations = (1u32..6, any::<bool>(), any::<bool>()).prop_map(|(n, ab, mirror)| {
        let mut a = json!({"iterations": n, "mirror": mirror});
        if ab {
            a["match"] = json!([{"headers": {"x": {"exact": "y"}}}]);
        }
        a
    });
    (
        prop_oneof![linear, steps, iterations],
        1u32..6,
        0u8..60,
        prop_oneof![Just("istio"), Just("kubernetes"), Just("nginx"), Just("linkerd")],
    )
        .prop_map(|(mut a, threshold, promo, provider)| {
            a["threshold"] = json!(threshold);
            a["stepWeightPromotion"] = json!(promo);
            a["metrics"] = json!([{"name": "request-success-rate", "thresholdRange": {"min": 99}}]);
            if provider == "linkerd" {
                // A TrafficSplit cannot match requests: A/B testing is refused there.
                a.as_object_mut().unwrap().remove("match");
            }
            spec_with(
                a,
                json!({"provider": provider, "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"}}),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn weights_stay_in_range_and_a_passing_analysis_promotes(spec in arb_spec()) {
        let decisions = simulate::run(&spec, all_pass, 500);
        let last = &decisions.last().unwrap().state;
        prop_assert_eq!(last.phase, Phase::Succeeded);
        prop_assert_eq!(last.primary_revision.as_deref(), Some("new"));
        for d in &decisions {
            prop_assert!(d.state.canary_weight <= 100);
            prop_assert!(d.state.failed_checks == 0);
            prop_assert!(d.state.last_failed_check.is_none());
        }
        // The weights the canary strategy goes through are the planned schedule.
        if spec.analysis.iterations == 0 {
            let mut seen: Vec<u8> = decisions.iter()
                .filter(|d| d.state.phase == Phase::Progressing)
                .map(|d| d.state.canary_weight).filter(|w| *w > 0).collect();
            seen.dedup();
            prop_assert_eq!(seen, spec.weight_schedule());
        }
    }

    #[test]
    fn a_failing_analysis_rolls_back_after_exactly_threshold_failed_checks(spec in arb_spec()) {
        let decisions = simulate::run(&spec, analysis_fails, 500);
        let last = &decisions.last().unwrap().state;
        prop_assert_eq!(last.phase, Phase::Failed);
        prop_assert_eq!(last.failed_checks, spec.analysis.threshold);
        prop_assert_eq!(last.canary_weight, 0);
        prop_assert_eq!(last.primary_revision.as_deref(), Some("old"));
        // Why it failed: the last failed check, with its time, in the state and the message.
        let f = last.last_failed_check.as_ref().unwrap();
        prop_assert_eq!(f.check.as_str(), "metrics");
        let failing_ticks: Vec<i64> = decisions.windows(2)
            .filter(|w| w[1].state.failed_checks > w[0].state.failed_checks)
            .map(|w| w[1].state.last_failed_check.as_ref().unwrap().time)
            .collect();
        prop_assert_eq!(failing_ticks.last().copied().or(Some(f.time)), Some(f.time));
        prop_assert!(f.time <= last.last_transition_time);
        prop_assert!(last.message.contains(&f.summary()), "{}", last.message);
        // Never more traffic than one step before the first check fails.
        for d in &decisions {
            prop_assert!(d.state.phase != Phase::Promoting);
        }
    }
}

#[test]
fn promoted_revisions_roll_back_fast_and_failed_ones_wait_for_a_new_commit() {
    let s = spec_with(json!({"stepWeight": 50}), json!({}));
    let obs = |rev: &str, commit: &str| Observation {
        desired: Desired {
            revision: rev.into(),
            commit: Some(commit.into()),
            known_good: false,
        },
        primary: Some(Readiness::Ready),
        canary: Readiness::Ready,
        answers: BTreeMap::new(),
        promoted_window: 2,
    };
    // r2 is promoted; r1 was before it.
    let mut st = ReleaseState {
        phase: Phase::Succeeded,
        canary_revision: Some("r2".into()),
        primary_revision: Some("r2".into()),
        promoted: vec!["r2".into(), "r1".into()],
        ..ReleaseState::default()
    };
    // `git revert` back to r1: promoted at once, shown as a fast rollback.
    let d = decide(&s, &st, &obs("r1", "c3"), 0);
    assert_eq!(
        (d.state.phase, d.state.fast_rollback),
        (Phase::Succeeded, true)
    );
    assert_eq!(d.state.primary_revision.as_deref(), Some("r1"));
    assert_eq!(d.state.promoted, ["r1", "r2"]);
    // A new revision goes through analysis; when it fails it is not retried for the same commit…
    st = ReleaseState {
        phase: Phase::Failed,
        canary_revision: Some("r3".into()),
        source_commit: Some("c4".into()),
        ..st
    };
    assert_eq!(
        decide(&s, &st, &obs("r3", "c4"), 0).state.phase,
        Phase::Failed
    );
    // …but is when another commit brings it again.
    assert_eq!(
        decide(&s, &st, &obs("r3", "c9"), 0).state.phase,
        Phase::Progressing
    );
    // The window is bounded.
    let st = ReleaseState {
        phase: Phase::Finalising,
        canary_revision: Some("r4".into()),
        promoted: vec!["r1".into(), "r2".into()],
        ..st
    };
    assert_eq!(
        decide(&s, &st, &obs("r4", "c5"), 0).state.promoted,
        ["r4", "r1"]
    );
}

#[test]
fn a_canary_past_its_deadline_is_rolled_back_with_an_error_alert() {
    let mut c = base("", progressing(25, 0), Phase::Failed);
    c.desired = "r2";
    c.canary = Readiness::Failed("ProgressDeadlineExceeded".into());
    c.answers
        .push((Question::Hooks(HookType::Rollback), fail()));
    let d = run_case(&c);
    assert_eq!(d.state.phase, Phase::Failed);
    let alert = d.events.iter().find_map(|e| e.alert.clone()).unwrap();
    assert_eq!(alert.0, crate::release::spec::Severity::Error);
    assert!(
        alert.1.starts_with("Progress deadline exceeded"),
        "{alert:?}"
    );
}

#[test]
fn a_closed_gate_alerts_unless_its_hook_mutes_alerts() {
    for (mute, want_alerts) in [(false, 1), (true, 0)] {
        let mut c = base("", state(Phase::Succeeded), Phase::Waiting);
        c.spec = spec_with(
            json!({"interval": "1m", "threshold": 2, "stepWeight": 25, "maxWeight": 50,
                   "webhooks": [{"name": "gate", "type": "confirm-rollout",
                                 "url": "http://hooks/", "muteAlert": mute}]}),
            json!({}),
        );
        c.desired = "r2";
        c.answers.push((
            Question::Hooks(HookType::ConfirmRollout),
            Outcome::Fail(FailedCheck::new(FailureKind::Hook, "webhook gate", "gate")),
        ));
        let d = run_case(&c);
        assert_eq!(d.state.phase, Phase::Waiting);
        let warnings = d
            .events
            .iter()
            .filter(|e| {
                e.message
                    .starts_with("Halt web.prod advancement waiting for approval gate")
            })
            .count();
        assert_eq!(warnings, 1, "muteAlert={mute}: {:?}", d.events);
        let alerts = d.events.iter().filter(|e| e.alert.is_some()).count();
        assert_eq!(alerts, want_alerts, "muteAlert={mute}: {:?}", d.events);
    }
}

/// The alerts of a decision.
fn alerts(d: &crate::release::Decision) -> Vec<String> {
    d.events
        .iter()
        .filter_map(|e| e.alert.as_ref().map(|a| a.1.clone()))
        .collect()
}

#[test]
fn a_primary_missing_or_stuck_mid_rollout_halts_without_blaming_the_canary() {
    for (primary, says) in [
        (None, "is missing"),
        (
            Some(Readiness::Failed("ProgressDeadlineExceeded".into())),
            "the canary is not to blame",
        ),
    ] {
        // Long past any deadline: still no rollback.
        let mut c = base("", progressing(25, 0), Phase::Progressing);
        c.desired = "r2";
        c.primary = primary.clone();
        c.now = 1_000_000;
        let d = run_case(&c);
        assert_eq!(d.state.phase, Phase::Progressing, "{primary:?}: {d:?}");
        assert_eq!(
            (d.state.canary_weight, d.state.failed_checks),
            (25, 0),
            "{primary:?}"
        );
        assert!(d.actions.is_empty(), "{primary:?}: {:?}", d.actions);
        let why = d.state.halted.clone().unwrap();
        assert!(why.contains(says), "{why}");
        assert_eq!(alerts(&d).len(), 1, "{:?}", d.events);
        // The next tick, still halted for the same cause, does not alert again; once the
        // primary is back, the halt clears and the analysis goes on.
        c.state = d.state.clone();
        let again = run_case(&c);
        assert_eq!(again.state.halted, Some(why));
        assert!(alerts(&again).is_empty(), "{:?}", again.events);
        c.state = again.state;
        c.primary = Some(Readiness::Ready);
        c.answers.push((Question::Analysis, pass()));
        c.answers
            .push((Question::Hooks(HookType::Rollback), fail()));
        let moving = run_case(&c);
        assert_eq!(moving.state.halted, None);
        assert_eq!(moving.state.canary_weight, 50);
    }
}

#[test]
fn metrics_that_cannot_be_read_halt_the_analysis_and_are_never_counted() {
    for kind in [FailureKind::Unreachable, FailureKind::Denied] {
        let mut c = base("", progressing(25, 1), Phase::Progressing);
        c.desired = "r2";
        c.answers
            .push((Question::Hooks(HookType::Rollback), fail()));
        c.answers.push((
            Question::Analysis,
            Outcome::Fail(FailedCheck::new(
                kind,
                "metric request-success-rate",
                "metric request-success-rate not checked: forbidden",
            )),
        ));
        for _ in 0..5 {
            let d = run_case(&c);
            assert_eq!(
                (d.state.phase, d.state.canary_weight, d.state.failed_checks),
                (Phase::Progressing, 25, 1),
                "{kind:?}"
            );
            assert!(d.state.last_failed_check.is_none(), "{kind:?}");
            assert!(d.state.halted.as_deref().unwrap().contains("forbidden"));
            c.state = d.state;
        }
        // A value out of range still counts, as in Flagger.
        c.answers.pop();
        c.answers.push((
            Question::Analysis,
            Outcome::Fail(FailedCheck::new(
                FailureKind::OutOfRange,
                "metric request-success-rate",
                "Halt web.prod advancement success rate 50.00% < 99%",
            )),
        ));
        let d = run_case(&c);
        assert_eq!(d.state.failed_checks, 2);
        assert_eq!(d.state.halted, None);
    }
}

#[test]
fn every_outcome_has_its_reason_and_the_ready_condition_follows_it() {
    use crate::release::state::ReleaseReason;
    // Rolled back on failed checks.
    let mut c = base("", progressing(25, 2), Phase::Failed);
    c.desired = "r2";
    c.answers
        .push((Question::Hooks(HookType::Rollback), fail()));
    let d = run_case(&c);
    assert_eq!(
        (d.state.phase, d.state.reason),
        (Phase::Failed, ReleaseReason::CheckFailed)
    );
    let ready = d.state.ready_condition();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "CheckFailed")
    );
    // Rolled back on the progress deadline.
    c.state = progressing(25, 0);
    c.canary = Readiness::Failed("ProgressDeadlineExceeded".into());
    let d = run_case(&c);
    assert_eq!(d.state.reason, ReleaseReason::ProgressDeadline);
    // Under way: unknown; halted: unknown, said so; promoted: ready.
    let under_way = progressing(25, 0);
    assert_eq!(under_way.ready_condition().status, "Unknown");
    let halted = ReleaseState {
        halted: Some("metrics cannot be read".into()),
        ..progressing(25, 0)
    };
    assert_eq!(halted.ready_condition().reason, "Halted");
    let promoted = ReleaseState {
        phase: Phase::Succeeded,
        reason: ReleaseReason::Promoted,
        ..state(Phase::Succeeded)
    };
    let ready = promoted.ready_condition();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Promoted")
    );
}
