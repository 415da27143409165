//! `fledge plan`: what each Canary in a rendered repository will do when it is pushed. The
//! timeline and durations come from running [`decide`](super::decide::decide) forward with
//! every check passing (and again with every check failing), so the plan is what the rollout
//! does, not a second description of it.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::simulate::{self, all_pass, analysis_fails};
use super::spec::{
    MetricSourceRef, Provider, ReleaseSpec, SpecError, Strategy, go_duration, is_kind, parse_canary,
};
use super::state::EventType;
use crate::cluster::primary::{primary_deployment, selector_label};
use crate::render::object::ObjectIndex;
use crate::revision::{ConfigIndex, HashKey, primary_configs, revision_in};
use crate::routing::{self, RouteInput, Weights};

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
    /// The routing and primary objects the rollout will create.
    pub objects: Vec<Value>,
    /// What will not work as written.
    pub warnings: Vec<String>,
}

fn timeline(spec: &ReleaseSpec, pass: bool) -> Vec<Step> {
    let interval = spec.analysis.interval.as_secs();
    let runs = if pass {
        simulate::run(spec, all_pass, 1000)
    } else {
        simulate::run(spec, analysis_fails, 1000)
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
pub fn plan(objects: &[Value], default_provider: &Provider) -> Result<Vec<Plan>, SpecError> {
    let index = ConfigIndex::new(objects);
    let by_name = ObjectIndex::new(objects);
    let mut out = Vec::new();
    for obj in objects.iter().filter(|o| is_kind(o, "Canary")) {
        let spec = parse_canary(obj, default_provider)?;
        out.push(plan_one(&spec, objects, &index, &by_name));
    }
    Ok(out)
}

fn plan_one(
    spec: &ReleaseSpec,
    objects: &[Value],
    index: &ConfigIndex<'_>,
    by_name: &ObjectIndex<'_>,
) -> Plan {
    let mut warnings = Vec::new();
    let ns = spec.namespace.as_str();
    let pass = timeline(spec, true);
    let fail = timeline(spec, false);
    let mut objs = Vec::new();
    if spec.target.kind != "Deployment" {
        warnings.push(format!(
            "targetRef.kind {}: fledge runs rollouts of Deployments only",
            spec.target.kind
        ));
    }
    let target = by_name
        .get(&spec.target.kind, ns, &spec.target.name)
        .map(|t| {
            let mut t = t.clone();
            if t["metadata"]["namespace"].is_null() {
                t["metadata"]["namespace"] = Value::from(ns);
            }
            t
        });
    match &target {
        None => warnings.push(format!(
            "{} {ns}/{} is not in the rendered objects; primary objects are not shown",
            spec.target.kind, spec.target.name
        )),
        Some(t) if spec.target.kind == "Deployment" => {
            match (
                revision_in(t, index, None, &HashKey::offline()),
                selector_label(t),
            ) {
                (Ok(rev), Ok((label, value))) => {
                    match primary_deployment(t, &rev, rev.id.short()) {
                        Ok(p) => objs.push(p),
                        Err(e) => warnings.push(e),
                    }
                    objs.extend(primary_configs(&rev, objects, ns));
                    objs.extend(routing::services(spec, &label, &value));
                }
                (Err(e), _) => warnings.push(e.to_string()),
                (_, Err(e)) => warnings.push(e),
            }
        }
        Some(_) => {}
    }
    if let Some(a) = &spec.autoscaler
        && let Some(h) = by_name.get(&a.kind, ns, &a.name)
    {
        let mut h = h.clone();
        h["metadata"]["name"] = Value::from(format!("{}-primary", a.name));
        h["spec"]["scaleTargetRef"]["name"] = Value::from(format!("{}-primary", spec.target.name));
        if h["metadata"]["namespace"].is_null() {
            h["metadata"]["namespace"] = Value::from(ns);
        }
        objs.push(h);
    }
    let ingress = spec
        .ingress
        .as_ref()
        .and_then(|i| by_name.get("Ingress", ns, &i.name));
    if spec.ingress.is_some() && ingress.is_none() && spec.provider == Provider::Nginx {
        warnings.push(format!(
            "Ingress {ns}/{} (ingressRef) is not in the rendered objects",
            spec.ingress.as_ref().map_or("", |i| i.name.as_str())
        ));
    } else {
        match routing::route(&RouteInput {
            spec,
            weights: Weights {
                canary: 0,
                mirror: false,
            },
            ingress,
            canary_revision: "",
        }) {
            Ok(r) => objs.extend(r),
            Err(e) => warnings.push(e.to_string()),
        }
    }
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
    let ticks = |steps: &[Step]| steps.last().map_or(0, |s| s.at_seconds);
    let interval = spec.analysis.interval.as_secs();
    Plan {
        namespace: spec.namespace.clone(),
        name: spec.name.clone(),
        target: spec.target.name.clone(),
        provider: spec.provider.to_string(),
        strategy: spec.strategy(),
        interval_seconds: interval,
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
        min_duration_seconds: ticks(&pass),
        min_failure_seconds: if spec.skip_analysis { 0 } else { ticks(&fail) },
        timeline: pass,
        objects: objs,
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
            let _ = writeln!(out, "  creates: {}", kinds.join(", "));
        }
        for w in &p.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        out.push('\n');
    }
    out
}
