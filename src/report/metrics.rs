//! fledge's own metrics, in the Prometheus text format: Flagger's `flagger_*` names and labels
//! (so Flagger's dashboards and alerts keep working) from the release views, and fledge's
//! `fledge_*` counters. The daemon serves them on `/metrics`.
//!
//! The values are read at scrape time from the daemon's state (views and counters), so nothing
//! here keeps metric state of its own; the exposition is a few lines of text, written here
//! rather than through a registry because every value is a snapshot of state the daemon holds.

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};

use crate::keys;
use crate::release::spec::{ReleaseKey, ReleaseSpec};
use crate::release::{Phase, ReleaseView};

/// `flagger_info{version, mesh_provider}`.
pub const INFO: &str = "flagger_info";
/// `flagger_canary_total{namespace}`: Canaries per namespace.
pub const CANARY_TOTAL: &str = "flagger_canary_total";
/// `flagger_canary_status{name, namespace}`: 0 progressing, 1 done, 2 failed.
pub const CANARY_STATUS: &str = "flagger_canary_status";
/// `flagger_canary_weight{workload, namespace}`.
pub const CANARY_WEIGHT: &str = "flagger_canary_weight";
/// `flagger_canary_metric_analysis{name, namespace, metric}`.
pub const METRIC_ANALYSIS: &str = "flagger_canary_metric_analysis";
/// `flagger_canary_successes_total{name, namespace, deployment_strategy, analysis_status}`.
pub const SUCCESSES: &str = "flagger_canary_successes_total";
/// `flagger_canary_failures_total{…}`, as [`SUCCESSES`].
pub const FAILURES: &str = "flagger_canary_failures_total";

/// The daemon's counters and last metric values.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub polls: u64,
    pub poll_errors: u64,
    pub renders: u64,
    pub render_errors: u64,
    pub applies: u64,
    pub apply_errors: u64,
    pub ticks: u64,
    pub writebacks: u64,
    pub writeback_errors: u64,
    /// Promotions and rollbacks by workload and Flagger's strategy label.
    pub successes: BTreeMap<(Workload, &'static str), u64>,
    pub failures: BTreeMap<(Workload, &'static str), u64>,
    /// The last value of each analysis metric by workload and metric.
    pub metric_values: BTreeMap<(Workload, String), f64>,
    /// Ticks that failed, by release and reason.
    pub tick_errors: BTreeMap<(ReleaseKey, String), u64>,
    /// How late each release tick started after it was due.
    pub tick_lateness: Histogram,
}

/// The upper bounds, in seconds, of [`LATENESS`]'s buckets.
pub const LATENESS_BUCKETS: [f64; 9] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// `fledge_release_tick_lateness_seconds`: how long after it was due each release tick started
/// (Flagger's schedule is each Canary's analysis interval; a tick late by more than a second is
/// a schedule not kept).
pub const LATENESS: &str = "fledge_release_tick_lateness_seconds";

/// A Prometheus histogram with the [`LATENESS_BUCKETS`] bounds.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    /// Observations at or under each bound (not cumulative; the exposition sums them).
    pub buckets: [u64; LATENESS_BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        if let Some(i) = LATENESS_BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Flagger's labels of a release's series: its target's name and namespace (Flagger labels a
/// canary's outcome and metric series by the workload, and its dashboards read them so).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Workload {
    pub name: String,
    pub namespace: String,
}

impl Workload {
    #[must_use]
    pub fn of(spec: &ReleaseSpec) -> Self {
        Self {
            name: spec.target.name.clone(),
            namespace: spec.namespace.clone(),
        }
    }
}

impl Counters {
    /// A release went from `from` to `to`: a promotion or a rollback counts, as in Flagger.
    pub fn count_outcome(&mut self, spec: &ReleaseSpec, from: Phase, to: Phase) {
        if from == to {
            return;
        }
        let key = (Workload::of(spec), spec.strategy().flagger_label());
        match to {
            Phase::Succeeded => *self.successes.entry(key).or_default() += 1,
            Phase::Failed => *self.failures.entry(key).or_default() += 1,
            _ => {}
        }
    }

    /// The last value an analysis metric gave.
    pub fn record_metric(&mut self, spec: &ReleaseSpec, metric: &str, value: f64) {
        self.metric_values
            .insert((Workload::of(spec), metric.to_owned()), value);
    }

    /// A tick that failed, by its reason.
    pub fn count_tick_error(&mut self, spec: &ReleaseSpec, reason: &str) {
        *self
            .tick_errors
            .entry((spec.key(), reason.to_owned()))
            .or_default() += 1;
    }
}

/// `fledge_release_tick_errors_total{name, namespace, reason}`: ticks that failed.
pub const TICK_ERRORS: &str = "fledge_release_tick_errors_total";
/// `fledge_release_failing{name, namespace, reason}`: 1 while a release's ticks fail.
pub const FAILING: &str = "fledge_release_failing";
/// `fledge_release_halted{name, namespace}`: 1 while a rollout is halted for a cause that is
/// not the canary's.
pub const HALTED: &str = "fledge_release_halted";

/// The Prometheus text of the releases and counters.
#[must_use]
pub fn render<'a>(releases: impl IntoIterator<Item = &'a ReleaseView>, c: &Counters) -> String {
    let releases: Vec<&ReleaseView> = releases.into_iter().collect();
    let mut out = Text::default();
    out.family(INFO, "Information about the running controller.", "gauge");
    out.sample(
        INFO,
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("mesh_provider", "fledge"),
        ],
        1,
    );
    flagger_gauges(&mut out, &releases);
    out.family(
        METRIC_ANALYSIS,
        "Last value of each analysis metric.",
        "gauge",
    );
    for (
        (
            Workload {
                name,
                namespace: ns,
            },
            metric,
        ),
        v,
    ) in &c.metric_values
    {
        out.sample(
            METRIC_ANALYSIS,
            &[("name", name), ("namespace", ns), ("metric", metric)],
            v,
        );
    }
    for (metric, map, help) in [
        (SUCCESSES, &c.successes, "Promotions."),
        (FAILURES, &c.failures, "Rollbacks and failed promotions."),
    ] {
        out.family(metric, help, "counter");
        for (
            (
                Workload {
                    name,
                    namespace: ns,
                },
                strategy,
            ),
            n,
        ) in map
        {
            out.sample(
                metric,
                &[
                    ("name", name),
                    ("namespace", ns),
                    ("deployment_strategy", strategy),
                    ("analysis_status", "completed"),
                ],
                n,
            );
        }
    }
    fledge_counters(&mut out, c);
    release_errors(&mut out, &releases, c);
    out.0
}

/// Failing ticks and halted rollouts, per release.
fn release_errors(out: &mut Text, releases: &[&ReleaseView], c: &Counters) {
    out.family(
        TICK_ERRORS,
        "Release ticks that failed, by reason.",
        "counter",
    );
    for ((release, reason), n) in &c.tick_errors {
        let (name, ns) = (release.name(), release.namespace());
        out.sample(
            TICK_ERRORS,
            &[("name", name), ("namespace", ns), ("reason", reason)],
            n,
        );
    }
    out.family(
        FAILING,
        "1 while fledge cannot tick a release, by reason.",
        "gauge",
    );
    for r in releases {
        if let Some(e) = &r.error {
            out.sample(
                FAILING,
                &[
                    ("name", &r.name),
                    ("namespace", &r.namespace),
                    ("reason", &e.reason),
                ],
                1,
            );
        }
    }
    out.family(
        HALTED,
        "1 while a rollout is halted for a cause that is not the canary's.",
        "gauge",
    );
    for r in releases {
        out.sample(
            HALTED,
            &[("name", &r.name), ("namespace", &r.namespace)],
            u8::from(r.halted.is_some()),
        );
    }
}

/// Flagger's per-release gauges.
fn flagger_gauges(out: &mut Text, releases: &[&ReleaseView]) {
    let mut per_ns: BTreeMap<&str, u64> = BTreeMap::new();
    for r in releases {
        *per_ns.entry(r.namespace.as_str()).or_default() += 1;
    }
    out.family(CANARY_TOTAL, "Canaries per namespace.", "gauge");
    for (ns, n) in &per_ns {
        out.sample(CANARY_TOTAL, &[("namespace", ns)], n);
    }
    out.family(
        CANARY_STATUS,
        "Release status: 0 progressing, 1 done, 2 failed.",
        "gauge",
    );
    for r in releases {
        let v = match r.phase.as_str() {
            "Progressing" => 0,
            "Failed" => 2,
            _ => 1,
        };
        out.sample(
            CANARY_STATUS,
            &[("name", &r.target), ("namespace", &r.namespace)],
            v,
        );
    }
    out.family(CANARY_WEIGHT, "Traffic weight per workload.", "gauge");
    for r in releases {
        out.sample(
            CANARY_WEIGHT,
            &[
                ("workload", &keys::primary(&r.target)),
                ("namespace", &r.namespace),
            ],
            100 - u32::from(r.canary_weight),
        );
        out.sample(
            CANARY_WEIGHT,
            &[("workload", &r.target), ("namespace", &r.namespace)],
            r.canary_weight,
        );
    }
}

/// fledge's own counters, one family each.
fn fledge_counters(out: &mut Text, c: &Counters) {
    for (metric, v, help) in [
        (
            "fledge_polls_total",
            c.polls,
            "Polls of the config repository.",
        ),
        (
            "fledge_poll_errors_total",
            c.poll_errors,
            "Polls that failed.",
        ),
        ("fledge_renders_total", c.renders, "Commits rendered."),
        (
            "fledge_render_errors_total",
            c.render_errors,
            "Commits that did not render.",
        ),
        ("fledge_applies_total", c.applies, "Syncs of plain objects."),
        (
            "fledge_apply_errors_total",
            c.apply_errors,
            "Syncs that failed.",
        ),
        ("fledge_release_ticks_total", c.ticks, "Release ticks."),
        ("fledge_writebacks_total", c.writebacks, "Writes to Git."),
        (
            "fledge_writeback_errors_total",
            c.writeback_errors,
            "Writes to Git that failed.",
        ),
    ] {
        out.family(metric, help, "counter");
        out.sample(metric, &[], v);
    }
    out.family(
        LATENESS,
        "How long after it was due each release tick started.",
        "histogram",
    );
    let h = &c.tick_lateness;
    let mut below = 0;
    for (bound, n) in LATENESS_BUCKETS.iter().zip(h.buckets) {
        below += n;
        out.sample(
            &format!("{LATENESS}_bucket"),
            &[("le", &bound.to_string())],
            below,
        );
    }
    out.sample(&format!("{LATENESS}_bucket"), &[("le", "+Inf")], h.count);
    out.sample(&format!("{LATENESS}_sum"), &[], h.sum);
    out.sample(&format!("{LATENESS}_count"), &[], h.count);
}

/// Prometheus text, written line by line.
#[derive(Default)]
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", labels.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
