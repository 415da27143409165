//! `object::health` against Flux's own code (`tests/kstatus`: kstatus and kustomize-controller
//! v1.9.6's readers and CEL health checks): many live objects per kind, their status fields
//! varied systematically, under several sets of `healthCheckExprs`; both must give each object
//! the same status and message, and accept or reject the same expression sets.

use std::collections::BTreeMap;

use fledge::object::ObjectKey;
use fledge::object::health::{self, Health, Status};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::support::kstatus::{self, Verdict};

mod corpus;

use corpus::{Rng, corpus};

/// An entry of `spec.healthCheckExprs`; an empty expression is left out.
fn entry(api: &str, kind: &str, current: &str, failed: &str, in_progress: &str) -> Value {
    let mut e = json!({"apiVersion": api, "kind": kind, "current": current});
    if !failed.is_empty() {
        e["failed"] = json!(failed);
    }
    if !in_progress.is_empty() {
        e["inProgress"] = json!(in_progress);
    }
    e
}

/// The expression sets the objects are read under.
fn expression_sets() -> Vec<Vec<Value>> {
    vec![
        vec![],
        vec![entry(
            "example.com/v1",
            "Widget",
            "status.conditions.filter(c, c.type == 'Ready').all(c, c.status == 'True')",
            "status.conditions.exists(c, c.type == 'Ready' && c.status == 'False')",
            "has(status.phase) && status.phase == 'Progressing'",
        )],
        vec![
            entry(
                "other.io/v1",
                "",
                "status.?phase.orValue('') == 'Ready'",
                "status.?message.orValue('').contains('error')",
                "",
            ),
            entry(
                "apps/v1",
                "Deployment",
                "has(status.readyReplicas) && status.readyReplicas >= spec.replicas",
                "",
                "status.?updatedReplicas.orValue(0) < spec.?replicas.orValue(1)",
            ),
            // Flux's Job reader comes first: this one is never used.
            entry("batch/v1", "Job", "false", "", ""),
        ],
        vec![
            entry(
                "example.com/v1",
                "Widget",
                "status.count > 1.5 || status.phase.lowerAscii() == 'ready'",
                "metadata.name.startsWith('widget-1') && status.?count.orValue(0) == 2.0",
                "status.phase",
            ),
            entry("example.com/v1", "", "true", "", ""),
            entry("v1", "ConfigMap", "data.size() > 0", "", ""),
        ],
        vec![entry(
            "example.com/v1",
            "Widget",
            "base64.encode(bytes(metadata.name)) != '' && metadata.name.split('-').size() == 2",
            "status.?conditions.orValue([]).map(c, c.type).join(',').contains('Stalled')",
            "size(status.?conditions.orValue([])) > 2 || metadata.?labels.hasValue()",
        )],
    ]
}

/// How the two sides' messages are compared: exactly, except where the text is the CEL
/// implementation's own (an evaluation error: the prefix Flux writes must match) or Go's
/// unstructured converter's (its text is not reproduced; the status is).
fn same_message(rust: &Health, go: &Verdict) -> bool {
    if go.status != "Unknown" {
        return rust.message == go.message;
    }
    if go
        .error
        .starts_with("failed to evaluate the CEL expression '")
    {
        let prefix = |s: &str| s.split_once("': ").map(|(p, _)| p.to_owned());
        return prefix(&go.error) == prefix(&rust.message);
    }
    if rust.message.starts_with("cannot convert ") {
        return true;
    }
    rust.message == go.error
}

/// The one difference known between cel-go and the `cel` crate these objects reach (see
/// `object::health::exprs`): `has(a.b)` where `a` is not a map (a `status` that is a string)
/// is false in cel-go and an error in the crate.
fn known_gap(obj: &Value, rust: &Health) -> bool {
    !obj["status"].is_object()
        && rust.message.contains("has(")
        && rust.message.contains("no matching overload for '_._'")
}

/// The verdicts of one kind under one expression set: how many are equal, how many differ by
/// the known gap, and the others, printed.
fn compare(
    label: &str,
    objects: &[Value],
    rust: &[Health],
    go: &[Verdict],
) -> (usize, usize, Vec<String>) {
    let mut equal = 0;
    let mut gaps = 0;
    let mut differ = Vec::new();
    for ((obj, r), g) in objects.iter().zip(rust).zip(go) {
        let name = ObjectKey::of(obj)
            .map(|k| health::flux_name(&k))
            .unwrap_or_default();
        if r.status.as_str() == g.status && same_message(r, g) && name == g.name {
            equal += 1;
        } else if known_gap(obj, r) {
            gaps += 1;
        } else {
            differ.push(format!(
                "{label}: fledge {} {:?}, Flux {} {:?} {:?} ({})\n  {obj}",
                r.status, r.message, g.status, g.message, g.error, g.name
            ));
        }
    }
    (equal, gaps, differ)
}

/// The clock, as the Go side reads it: every timestamp the objects hold is far from it (see
/// `corpus::pod`), so the verdicts do not depend on when the test runs.
fn now() -> Timestamp {
    Timestamp::now()
}

#[test]
fn health_matches_flux_for_every_kind_and_expression_set() {
    let Some(binary) = kstatus::or_skip() else {
        return;
    };
    let corpus = corpus();
    let mut tally: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut differences = Vec::new();
    let mut runs: Vec<(String, Vec<Value>, bool)> =
        vec![("kstatus alone".to_owned(), vec![], true)];
    for (i, set) in expression_sets().into_iter().enumerate() {
        runs.push((format!("Flux, expression set {i}"), set, false));
    }
    for (run, exprs, kstatus_only) in &runs {
        let compiled = health::compile(exprs).unwrap();
        for (kind, objects) in &corpus {
            let go = kstatus::ask(binary, exprs, objects, *kstatus_only).unwrap();
            let rust: Vec<Health> = objects
                .iter()
                .map(|o| {
                    if *kstatus_only {
                        health::compute(o, now())
                    } else {
                        health::of(o, &compiled, now())
                    }
                })
                .collect();
            let (equal, gaps, differ) = compare(&format!("{run}, {kind}"), objects, &rust, &go);
            let t = tally.entry((*kind).to_owned()).or_default();
            t.0 += equal;
            t.1 += gaps;
            t.2 += differ.len();
            differences.extend(differ);
        }
    }
    for (kind, (equal, gaps, differ)) in &tally {
        eprintln!(
            "health vs Flux: {kind}: {equal} equal, {gaps} known CEL gap, {differ} different"
        );
    }
    let shown: Vec<&String> = differences.iter().take(15).collect();
    assert!(
        differences.is_empty(),
        "{} verdicts differ from Flux's; the first:\n{shown:#?}",
        differences.len()
    );
}

/// Expression sets Flux rejects or accepts, with what fledge must say.
#[test]
fn expression_sets_compile_where_flux_s_do() {
    let Some(binary) = kstatus::or_skip() else {
        return;
    };
    let w = |current: &str, failed: &str| entry("example.com/v1", "Widget", current, failed, "");
    let sets = [
        vec![w("status.(", "")],
        vec![w("true", "status.phase ==")],
        vec![json!({"apiVersion": "example.com/v1", "kind": "Widget", "failed": "true"})],
        vec![w("true", ""), w("false", "")],
        vec![w("true", ""), entry("example.com/v1", "", "true", "", "")],
        vec![w("undefinedFunction(status)", "")],
        vec![w("has(status)", "")],
        vec![w("has(status.phase)", "[1, 'a'].size() == 2")],
        vec![w("status.?phase.orValue('x') == 'x'", "")],
    ];
    for set in sets {
        let flux = kstatus::ask(binary, &set, &[], false);
        let fledge = health::compile(&set);
        assert_eq!(
            flux.is_err(),
            fledge.is_err(),
            "{set:?}: Flux {flux:?}, fledge {:?}",
            fledge.map(|_| ())
        );
    }
}

/// Picks `n` objects of the corpus whose status (fledge's, already checked against Flux's
/// above) is one of `statuses`, made fit for a fake cluster (a finalizer where it is being
/// deleted, as the API server would require).
fn pick(
    rng: &mut Rng,
    pool: &[(Value, Health)],
    statuses: &[Status],
    n: usize,
) -> Vec<(Value, Health)> {
    let fit: Vec<&(Value, Health)> = pool
        .iter()
        .filter(|(_, h)| statuses.contains(&h.status))
        .collect();
    (0..n)
        .map(|_| {
            let (mut o, mut h) = rng.pick(&fit).clone();
            if o["metadata"]["deletionTimestamp"].is_string() {
                o["metadata"]["finalizers"] = json!(["example.com/hold"]);
            }
            if o["spec"]["selector"].is_object() && rng.chance(10) {
                o["spec"].as_object_mut().unwrap().remove("selector");
                h = health::of(&o, &[], now());
            }
            (o, h)
        })
        .collect()
}

/// Flux's wait message as a lead and its objects, sorted (Flux lists them in map order).
fn parts(message: &str) -> (String, Vec<String>) {
    let (lead, list) = message.split_once(": [").unwrap_or((message, ""));
    let mut items: Vec<String> = list
        .trim_end_matches(']')
        .split(", ")
        .map(str::to_owned)
        .collect();
    items.sort();
    (lead.to_owned(), items)
}

/// Waits for `count` sets of objects from the corpus under `exprs`, with fledge and with Flux;
/// how many were ready, failed early and timed out.
fn wait_sets(binary: &std::path::Path, exprs: &[Value], seed: u64, count: usize) -> [usize; 3] {
    let compiled = health::compile(exprs).unwrap();
    let pool: Vec<(Value, Health)> = corpus()
        .into_iter()
        .flat_map(|(_, objects)| objects)
        .filter(|o| ObjectKey::of(o).is_some())
        .map(|o| {
            let h = health::of(&o, &compiled, now());
            (o, h)
        })
        .collect();
    let mut rng = Rng(seed);
    let waiting = [Status::Current, Status::InProgress, Status::Terminating];
    let mut tally = [0; 3];
    for i in 0..count {
        let n = 1 + i % 4;
        let mut set = match i % 3 {
            0 => pick(&mut rng, &pool, &[Status::Current], n),
            1 => pick(&mut rng, &pool, &waiting, n - 1),
            _ => pick(&mut rng, &pool, &waiting, n),
        };
        match i % 3 {
            // Failed ones last: Flux's fail-fast stops at the first failed object it reads, and
            // names the ones it has not read yet as of undetermined status.
            1 => set.extend(pick(&mut rng, &pool, &[Status::Failed], 1)),
            2 => set.extend(pick(&mut rng, &pool, &[Status::InProgress], 1)),
            _ => {}
        }
        let objects: Vec<Value> = set.into_iter().map(|(o, _)| o).collect();
        let assessment = health::assess(&objects, &compiled, now());
        let flux = kstatus::wait(binary, exprs, &objects, 1000);
        tally[match assessment.verdict() {
            health::Verdict::Ready => 0,
            health::Verdict::Failed => 1,
            health::Verdict::InProgress => 2,
        }] += 1;
        assert_eq!(
            assessment.message().as_deref().map(parts),
            flux.as_deref().map(parts),
            "set {i} under {exprs:?}: {objects:#?}"
        );
    }
    tally
}

#[test]
fn a_set_s_verdict_and_message_match_flux_s_wait() {
    let Some(binary) = kstatus::or_skip() else {
        return;
    };
    let sets = expression_sets();
    for (exprs, seed) in [(&sets[0], 4099), (&sets[1], 5003), (&sets[2], 6007)] {
        let [ready, failed, timed_out] = wait_sets(binary, exprs, seed, 18);
        eprintln!(
            "health vs Flux's wait ({} expressions): {ready} ready, {failed} failed early, {timed_out} timed out",
            exprs.len()
        );
    }
}

/// CEL expressions over one object, each as the `current` of its own kind: fledge and Flux
/// must agree whether each is true, false or an error (the crate's error texts are its own).
const PROBES: &[&str] = &[
    "1 == 1.0",
    "status.count > 1.5",
    "status.count + 1 == 3",
    "status.ratio * 2.0 == 1.0",
    "double(status.count) == 2.0",
    "int('2') == status.count",
    "string(status.count) == '2'",
    "status.count + 1u == 3u",
    "[1, 2].exists(x, x == 1.0)",
    "[1, 'a'].size() == 2",
    "{'a': 1}.a == 1",
    "'x' in ['x', 'y']",
    "size(metadata.name) == 6",
    "metadata.name.charAt(0) == 'w'",
    "metadata.name.matches('^w.*t$')",
    "metadata.name.startsWith('wid') && metadata.name.endsWith('get')",
    "metadata.name.contains('dg')",
    "metadata.name.indexOf('g') == 3",
    "metadata.name.upperAscii() == 'WIDGET'",
    "metadata.name.replace('w', 'g') == 'gidget'",
    "'a,b'.split(',').size() == 2",
    "['a', 'b'].join('-') == 'a-b'",
    "metadata.name.substring(1, 3) == 'id'",
    "' x '.trim() == 'x'",
    "'%s-%d'.format(['a', 1]) == 'a-1'",
    "strings.quote('a') == '\"a\"'",
    "metadata.name.reverse() == 'tegdiw'",
    "base64.encode(b'a') == 'YQ=='",
    "base64.decode('YQ==') == b'a'",
    "timestamp(metadata.creationTimestamp) > timestamp('2020-01-01T00:00:00Z')",
    "duration('1h') > duration('30m')",
    "timestamp(metadata.creationTimestamp) + duration('24h') > timestamp('2026-01-01T00:00:00Z')",
    "type(status) == map",
    "type(status.count) == int",
    "status.?missing.orValue(1) == 1",
    "optional.of(1).hasValue()",
    "status.conditions[0].type == 'Ready'",
    "status.conditions.all(c, c.status == 'True')",
    "status.conditions.exists_one(c, c.type == 'Ready')",
    "status.conditions.map(c, c.type) == ['Ready', 'Synced']",
    "status.conditions.filter(c, c.status == 'True').size() == 1",
    "has(metadata.labels)",
    "has(metadata.labels.app)",
    "metadata.labels.app == 'x'",
    "status.missing == 1",
    "status.count / 0 == 1",
    "status.count",
    "null == status.nothing",
    "status.nothing == null",
    "dyn(status.count) == 2.0",
    "math.greatest(1, 2) == 2",
    "[2, 1].sort() == [1, 2]",
    "sets.contains([1, 2], [1])",
    "sets.equivalent([1, 2], [2, 1])",
    "sets.intersects([1], [1, 2])",
    "sets.contains([1, 2.0], [2, 1u])",
    "sets.contains([], [1])",
    "sets.contains([1], [])",
    "sets.equivalent(status.conditions.map(c, c.type), ['Synced', 'Ready', 'Ready'])",
    "sets.intersects([], [])",
    "sets.intersects(status.conditions, [{'type': 'Ready', 'status': 'True'}])",
    "sets.contains(1, [1])",
    "1 / 2 == 0",
    "-5 % 3 == -2",
    "9223372036854775807 + 1 > 0",
    "uint(1) == 1",
    "bytes('a') == b'a'",
    "'a' < 'b'",
    "[1, 2] + [3] == [1, 2, 3]",
    "{'a': 1, 'a': 2}.a == 2",
];

#[test]
fn cel_expressions_agree_with_cel_go() {
    let Some(binary) = kstatus::or_skip() else {
        return;
    };
    let exprs: Vec<Value> = PROBES
        .iter()
        .enumerate()
        .map(|(i, p)| entry("probe.example.com/v1", &format!("P{i}"), p, "", ""))
        .collect();
    let objects: Vec<Value> = (0..PROBES.len())
        .map(|i| {
            json!({"apiVersion": "probe.example.com/v1", "kind": format!("P{i}"),
                "metadata": {"name": "widget", "creationTimestamp": "2026-01-01T00:00:00Z"},
                "status": {"count": 2, "ratio": 0.5, "nothing": null, "conditions": [
                    {"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}})
        })
        .collect();
    let compiled = health::compile(&exprs).unwrap();
    let flux = kstatus::ask(binary, &exprs, &objects, false).unwrap();
    let mut differ = Vec::new();
    for ((probe, obj), go) in PROBES.iter().zip(&objects).zip(&flux) {
        let ours = health::of(obj, &compiled, now());
        eprintln!(
            "probe {probe}: fledge {} / Flux {} {}",
            ours.status, go.status, go.error
        );
        if ours.status.as_str() != go.status {
            differ.push(format!(
                "{probe}: fledge {} {:?}, Flux {} {:?}",
                ours.status, ours.message, go.status, go.error
            ));
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
}
