//! `fledge plan`: what each Canary in a rendered repository will do when it is pushed. The
//! timeline and durations come from running [`decide`](super::decide::decide) forward with
//! every check passing (and again with every check failing), and the objects from the builders
//! the executor applies ([`objects::release_objects`]) on the targets the daemon's split makes
//! ([`targets::split`]), so the plan is what the rollout does, not a second description of it.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use super::objects::{self, Live};
use super::simulate::{self, all_pass, analysis_fails};
use super::targets;
use crate::release::spec::{
    MetricSourceRef, Provider, ReleaseSpec, SpecError, Strategy, go_duration,
};
use crate::release::state::EventType;
use crate::release::{Phase, ReleaseState, ReleaseTarget};
use crate::release::{is_kind, parse_canary};
use crate::revision::HashKey;

/// One metric check.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedMetric {
    pub name: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub interval_seconds: u64,
}

/// One webhook.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedHook {
    pub name: String,
    #[serde(rename = "type")]
    pub hook_type: String,
}

/// One step of the timeline: when, and what happens.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub at_seconds: u64,
    pub phase: String,
    pub canary_weight: u8,
    pub events: Vec<String>,
}

/// The plan of one Canary.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub namespace: String,
    pub name: String,
    pub target: String,
    pub provider: String,
    pub strategy: Strategy,
    pub interval_seconds: u64,
    pub threshold: u32,
    /// The canary weight after each step.
    pub weights: Vec<u8>,
    pub iterations: u32,
    pub metrics: Vec<PlannedMetric>,
    pub webhooks: Vec<PlannedHook>,
    /// From the new revision to promotion, with every check passing at the first try.
    pub min_duration_seconds: u64,
    /// From the new revision to rollback, with every check failing.
    pub min_failure_seconds: u64,
    pub timeline: Vec<Step>,
    /// The objects the rollout applies once the release is initialized: the target scaled to
    /// zero, the primary and its config copies, HPAs, Services, routing objects.
    pub objects: Vec<Value>,
    /// What will not work as written.
    pub warnings: Vec<String>,
    /// Why the release cannot run at all (its target or its objects cannot be built); the
    /// daemon holds such a release as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The time a timeline takes. A timeline cut at [`MAX_TICKS`] (thousands of iterations) did
/// not reach its end: its length grows by the same number of intervals with each iteration,
/// so it is extrapolated from two short runs of the same Canary.
fn min_duration(spec: &ReleaseSpec, steps: &[Step], pass: bool) -> u64 {
    let last = steps.last().map_or(0, |s| s.at_seconds);
    let ended = steps
        .last()
        .is_some_and(|s| s.phase == "Succeeded" || s.phase == "Failed");
    if ended || spec.analysis.iterations < 20 {
        return last;
    }
    let with = |n: u32| {
        let mut short = spec.clone();
        short.analysis.iterations = n;
        timeline(&short, pass).last().map_or(0, |s| s.at_seconds)
    };
    let (ten, eleven) = (with(10), with(11));
    ten + u64::from(spec.analysis.iterations - 10) * eleven.saturating_sub(ten)
}

/// The longest timeline simulated step by step.
const MAX_TICKS: usize = 1000;

fn timeline(spec: &ReleaseSpec, pass: bool) -> Vec<Step> {
    let interval = spec.analysis.interval.as_secs();
    let runs = if pass {
        simulate::run(spec, all_pass, MAX_TICKS)
    } else {
        simulate::run(spec, analysis_fails, MAX_TICKS)
    };
    runs.iter()
        .zip(0u64..)
        .map(|(d, i)| Step {
            at_seconds: i * interval,
            phase: d.state.phase.to_string(),
            canary_weight: d.state.canary_weight,
            events: d
                .events
                .iter()
                .map(|e| match e.event_type {
                    EventType::Normal => e.message.clone(),
                    EventType::Warning => format!("warning: {}", e.message),
                })
                .collect(),
        })
        .collect()
}

/// Plans every Canary among `objects`. A Canary that cannot be read is an error naming it.
/// `ingress_class` is the daemon's `--ingress-class` (Contour's HTTPProxies carry it).
pub fn plan(
    objects: &[Value],
    default_provider: &Provider,
    ingress_class: Option<&str>,
) -> Result<Vec<Plan>, SpecError> {
    let specs = objects
        .iter()
        .filter(|o| is_kind(o, "Canary"))
        .map(|o| parse_canary(o, default_provider))
        .collect::<Result<Vec<_>, _>>()?;
    let mut desired = targets::split(objects, "", default_provider, &HashKey::offline());
    for t in desired.releases.values_mut() {
        t.spec.ingress_class = ingress_class.map(str::to_owned);
    }
    Ok(specs
        .iter()
        .map(|spec| {
            let key = spec.key();
            let target = desired.releases.get(&key).ok_or_else(|| {
                desired
                    .problems
                    .iter()
                    .find(|p| p.release.as_ref() == Some(&key))
                    .map_or_else(String::new, |p| p.message.clone())
            });
            let upstream = spec.upstream.as_ref().and_then(|u| {
                let ns = u.namespace.as_deref().unwrap_or(&spec.namespace);
                objects
                    .iter()
                    .find(|o| {
                        o["kind"] == u.kind.as_str()
                            && o["metadata"]["name"] == u.name.as_str()
                            && o["metadata"]["namespace"].as_str().unwrap_or(ns) == ns
                    })
                    .cloned()
            });
            plan_one(spec, target, upstream)
        })
        .collect())
}

/// The objects the rollout applies once the release is initialized (canary weight 0): the same
/// builders the executor runs every tick, on a cluster that holds nothing of the release yet.
///
/// `upstream` is the Gloo Upstream named by `spec.upstreamRef`, as the cluster will hold it.
pub fn preview(t: &ReleaseTarget, upstream: Option<Value>) -> Result<Vec<Value>, objects::Error> {
    let state = ReleaseState {
        phase: Phase::Initialized,
        canary_revision: Some(t.revision.id.clone()),
        primary_revision: Some(t.revision.id.clone()),
        source_commit: t.commit.clone(),
        primary_commit: t.commit.clone(),
        ..ReleaseState::default()
    };
    let live = Live {
        upstream,
        ..Live::default()
    };
    Ok(objects::release_objects(t, &state, &live)?.objects)
}

/// What will not work as written, besides what building the objects says.
fn spec_warnings(spec: &ReleaseSpec) -> Vec<String> {
    let mut warnings = spec.unhonoured.clone();
    for a in &spec.analysis.alerts {
        if a.severity.is_none() {
            warnings.push(format!(
                "alert {:?} has no severity: Flagger sends it nothing; set severity: info, warn or error",
                a.name
            ));
        }
    }
    for m in &spec.analysis.metrics {
        if m.source == MetricSourceRef::Unusable {
            warnings.push(format!(
                "metric {:?} is neither built in nor has a templateRef or query: every check fails",
                m.name
            ));
        }
    }
    warnings
}

/// What the rollout overrides in the target as Git has it: a Knative Service's `spec.traffic`,
/// which the rollout replaces with its split between the latest and the primary revision.
fn target_warnings(t: &ReleaseTarget) -> Vec<String> {
    let traffic = &t.target["spec"]["traffic"];
    if t.spec.provider == Provider::Knative && !traffic.is_null() {
        vec![format!(
            "spec.traffic of Knative Service {}/{}: replaced by the rollout, as Flagger's knative \
             router replaces it: the latest revision gets the canary's weight and the primary \
             revision (annotation {}) the rest; tags and other targets are dropped",
            t.spec.namespace,
            t.spec.target.name,
            crate::keys::KNATIVE_PRIMARY_REVISION
        )]
    } else {
        Vec::new()
    }
}

/// `upstream`: the Upstream `spec.upstreamRef` names, when the repository holds it.
fn plan_one(
    spec: &ReleaseSpec,
    target: Result<&ReleaseTarget, String>,
    upstream: Option<Value>,
) -> Plan {
    let pass = timeline(spec, true);
    let fail = timeline(spec, false);
    let mut warnings = spec_warnings(spec);
    warnings.extend(
        target
            .as_ref()
            .map_or_else(|_| Vec::new(), |t| target_warnings(t)),
    );
    if let (Some(u), None) = (&spec.upstream, &upstream) {
        warnings.push(format!(
            "spec.upstreamRef: Upstream {}/{} is not in the repository; the rollout reads it from the cluster (and waits while it is missing), so the planned upstreams leave its settings out",
            u.namespace.as_deref().unwrap_or(&spec.namespace),
            u.name
        ));
    }
    let upstream = spec
        .upstream
        .as_ref()
        .map(|_| upstream.unwrap_or_else(|| json!({})));
    let (objs, problem) = match target.map(|t| preview(t, upstream)) {
        Ok(Ok(objs)) => (objs, None),
        Ok(Err(e)) => (Vec::new(), Some(e.to_string())),
        Err(problem) => (Vec::new(), Some(problem).filter(|p| !p.is_empty())),
    };
    let ticks = |steps: &[Step], passing: bool| min_duration(spec, steps, passing);
    Plan {
        namespace: spec.namespace.clone(),
        name: spec.name.clone(),
        target: spec.target.name.clone(),
        provider: spec.provider.to_string(),
        strategy: spec.strategy(),
        interval_seconds: spec.analysis.interval.as_secs(),
        threshold: spec.analysis.threshold,
        weights: if spec.strategy() == Strategy::Canary {
            spec.weight_schedule()
        } else {
            Vec::new()
        },
        iterations: spec.analysis.iterations,
        metrics: spec
            .analysis
            .metrics
            .iter()
            .map(|m| PlannedMetric {
                name: m.name.clone(),
                min: m.min,
                max: m.max,
                interval_seconds: m.interval.as_secs(),
            })
            .collect(),
        webhooks: spec
            .analysis
            .webhooks
            .iter()
            .map(|h| PlannedHook {
                name: h.name.clone(),
                hook_type: h.hook_type.to_string(),
            })
            .collect(),
        min_duration_seconds: ticks(&pass, true),
        min_failure_seconds: if spec.skip_analysis {
            0
        } else {
            ticks(&fail, false)
        },
        timeline: pass,
        objects: objs,
        problem,
        warnings,
    }
}

fn seconds(s: u64) -> String {
    if s == 0 {
        return "0s".into();
    }
    go_duration(std::time::Duration::from_secs(s))
}

/// The readable form of a plan.
#[must_use]
pub fn render_text(plans: &[Plan]) -> String {
    let mut out = String::new();
    if plans.is_empty() {
        out.push_str("no Canary objects found\n");
    }
    for p in plans {
        let _ = writeln!(
            out,
            "Canary {}/{} → Deployment {} · provider {} · strategy {}",
            p.namespace,
            p.name,
            p.target,
            p.provider,
            p.strategy.as_str()
        );
        if let Some(problem) = &p.problem {
            let _ = writeln!(
                out,
                "  error: {problem}\n  (the daemon holds this release as it is until the Canary is fixed)\n"
            );
            continue;
        }
        let checks: Vec<String> = p
            .metrics
            .iter()
            .map(|m| {
                let mut s = m.name.clone();
                if let Some(min) = m.min {
                    let _ = write!(s, " ≥ {min}");
                }
                if let Some(max) = m.max {
                    let _ = write!(s, " ≤ {max}");
                }
                s
            })
            .collect();
        let _ = writeln!(
            out,
            "  every {}: {}; rollback after {} failed check(s)",
            seconds(p.interval_seconds),
            if checks.is_empty() {
                "no metric checks".to_owned()
            } else {
                checks.join(", ")
            },
            p.threshold
        );
        if !p.webhooks.is_empty() {
            let hooks: Vec<String> = p
                .webhooks
                .iter()
                .map(|h| format!("{} ({})", h.name, h.hook_type))
                .collect();
            let _ = writeln!(out, "  webhooks: {}", hooks.join(", "));
        }
        for s in &p.timeline {
            let _ = writeln!(
                out,
                "  t+{:<8} {:<17} {:>3}%  {}",
                seconds(s.at_seconds),
                s.phase,
                s.canary_weight,
                s.events.join("; ")
            );
        }
        let _ = writeln!(
            out,
            "  at least {} to promote; {} to roll back when every check fails",
            seconds(p.min_duration_seconds),
            seconds(p.min_failure_seconds)
        );
        let kinds: Vec<String> = p
            .objects
            .iter()
            .map(|o| {
                format!(
                    "{} {}",
                    o["kind"].as_str().unwrap_or("?"),
                    o["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect();
        if !kinds.is_empty() {
            let _ = writeln!(out, "  applies: {}", kinds.join(", "));
        }
        for w in &p.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        out.push('\n');
    }
    out
}
