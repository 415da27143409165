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

/// A small deterministic generator (xorshift64*), so a failure names a case that comes back.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<T: Clone>(&mut self, options: &[T]) -> T {
        let i = usize::try_from(self.next() % options.len() as u64).unwrap();
        options[i].clone()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// A replica-like count, absent a fifth of the time.
    fn count(&mut self) -> Option<Value> {
        self.pick(&[
            None,
            Some(json!(0)),
            Some(json!(1)),
            Some(json!(2)),
            Some(json!(3)),
        ])
    }
}

/// Sets the field at `path` when `value` is there, making the objects on the way.
fn put(obj: &mut Value, path: &[&str], value: Option<Value>) {
    let Some(value) = value else { return };
    let mut at = obj;
    for field in &path[..path.len() - 1] {
        if !at[*field].is_object() {
            at[*field] = json!({});
        }
        at = &mut at[*field];
    }
    at[path[path.len() - 1]] = value;
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message})
}

fn push_condition(obj: &mut Value, c: Value) {
    if !obj["status"]["conditions"].is_array() {
        put(obj, &["status", "conditions"], Some(json!([])));
    }
    obj["status"]["conditions"].as_array_mut().unwrap().push(c);
}

fn object(api: &str, kind: &str, i: usize, namespaced: bool) -> Value {
    let name = format!("{}-{i}", kind.to_lowercase());
    let mut o = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}});
    if namespaced {
        o["metadata"]["namespace"] = json!("apps");
    }
    // Required in `apps/v1`; kstatus's readers list the generated objects by it.
    if matches!(
        kind,
        "Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet"
    ) {
        o["spec"] = json!({"selector": {"matchLabels": {"app": name}}});
    }
    o
}

/// The rules every kind meets first: deletion, generations, `Reconciling` and `Stalled`.
fn vary_generic(rng: &mut Rng, o: &mut Value) {
    let generation = rng.pick(&[None, Some(json!(1)), Some(json!(2)), Some(json!(2))]);
    put(o, &["metadata", "generation"], generation);
    let observed = rng.pick(&[None, Some(json!(1)), Some(json!(2)), Some(json!(2))]);
    put(o, &["status", "observedGeneration"], observed);
    if rng.chance(3) {
        let odd = rng.pick(&[json!("2"), json!(1.5), json!(true), Value::Null]);
        let field = rng.pick(&[["metadata", "generation"], ["status", "observedGeneration"]]);
        put(o, &field, Some(odd));
    }
    if rng.chance(8) {
        let when = rng.pick(&[json!("2026-01-01T00:00:00Z"), json!(""), json!(5)]);
        put(o, &["metadata", "deletionTimestamp"], Some(when));
    }
    for type_ in ["Reconciling", "Stalled"] {
        if rng.chance(8) {
            let status = rng.pick(&["True", "False", "Unknown"]);
            push_condition(
                o,
                condition(type_, status, "Why", &format!("{type_} says so")),
            );
        }
    }
}

/// Generates `n` objects of a kind with `vary` setting its own fields.
fn many(n: usize, seed: u64, make: impl Fn(&mut Rng, usize) -> Value) -> Vec<Value> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let mut o = make(&mut rng, i);
            vary_generic(&mut rng, &mut o);
            o
        })
        .collect()
}

/// Counts that all match `spec` part of the time, so that `Current` is common enough.
fn replica_counts(rng: &mut Rng, o: &mut Value, spec: Option<&Value>, fields: &[&str]) {
    let aligned = rng.chance(40);
    for f in fields {
        let v = if aligned {
            Some(spec.cloned().unwrap_or(json!(1)))
        } else {
            rng.count()
        };
        put(o, &["status", f], v);
    }
}

fn deployment(rng: &mut Rng, i: usize) -> Value {
    let api = rng.pick(&["apps/v1", "apps/v1", "extensions/v1beta1"]);
    let mut o = object(api, "Deployment", i, true);
    let spec = rng.count();
    put(&mut o, &["spec", "replicas"], spec.clone());
    let deadline = rng.pick(&[None, Some(json!(600)), Some(json!(2_147_483_647))]);
    put(&mut o, &["spec", "progressDeadlineSeconds"], deadline);
    let counts = [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ];
    replica_counts(rng, &mut o, spec.as_ref(), &counts);
    let progressing = rng.pick(&[
        None,
        Some(("True", "NewReplicaSetAvailable")),
        Some(("True", "ReplicaSetUpdated")),
        Some(("False", "ProgressDeadlineExceeded")),
        Some(("Unknown", "Other")),
    ]);
    if let Some((status, reason)) = progressing {
        push_condition(&mut o, condition("Progressing", status, reason, "progress"));
    }
    if let Some(status) = rng.pick(&[None, Some("True"), Some("False")]) {
        push_condition(
            &mut o,
            condition("Available", status, "MinimumReplicas", "avail"),
        );
    }
    o
}

fn stateful_set(rng: &mut Rng, i: usize) -> Value {
    let mut o = object("apps/v1", "StatefulSet", i, true);
    let spec = rng.count();
    put(&mut o, &["spec", "replicas"], spec.clone());
    let strategy = rng.pick(&[None, Some(json!("RollingUpdate")), Some(json!("OnDelete"))]);
    put(&mut o, &["spec", "updateStrategy", "type"], strategy);
    let partition = rng.pick(&[None, None, Some(json!(0)), Some(json!(1)), Some(json!(2))]);
    put(
        &mut o,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
        partition,
    );
    let counts = [
        "replicas",
        "readyReplicas",
        "currentReplicas",
        "updatedReplicas",
    ];
    replica_counts(rng, &mut o, spec.as_ref(), &counts);
    let revision = [None, Some(json!("web-a")), Some(json!("web-b"))];
    put(
        &mut o,
        &["status", "currentRevision"],
        rng.pick(&revision[..2]),
    );
    put(&mut o, &["status", "updateRevision"], rng.pick(&revision));
    o
}

fn daemon_set(rng: &mut Rng, i: usize) -> Value {
    let mut o = object("apps/v1", "DaemonSet", i, true);
    let desired = rng.pick(&[None, Some(json!(0)), Some(json!(2)), Some(json!(3))]);
    put(
        &mut o,
        &["status", "desiredNumberScheduled"],
        desired.clone(),
    );
    let counts = [
        "currentNumberScheduled",
        "updatedNumberScheduled",
        "numberAvailable",
        "numberReady",
    ];
    replica_counts(rng, &mut o, desired.as_ref(), &counts);
    o
}

fn replica_set(rng: &mut Rng, i: usize) -> Value {
    let mut o = object("apps/v1", "ReplicaSet", i, true);
    let spec = rng.count();
    put(&mut o, &["spec", "replicas"], spec.clone());
    let counts = [
        "replicas",
        "readyReplicas",
        "availableReplicas",
        "fullyLabeledReplicas",
    ];
    replica_counts(rng, &mut o, spec.as_ref(), &counts);
    if let Some(status) = rng.pick(&[None, None, Some("True"), Some("False")]) {
        push_condition(
            &mut o,
            condition("ReplicaFailure", status, "FailedCreate", "quota"),
        );
    }
    o
}

fn pod(rng: &mut Rng, i: usize) -> Value {
    let mut o = object("v1", "Pod", i, true);
    let phase = rng.pick(&[
        None,
        Some("Pending"),
        Some("Pending"),
        Some("Running"),
        Some("Running"),
        Some("Succeeded"),
        Some("Failed"),
        Some("Unknown"),
    ]);
    put(&mut o, &["status", "phase"], phase.map(|p| json!(p)));
    // Long ago, or far ahead: kstatus reads the clock, so only these are stable.
    let created = rng.pick(&[
        None,
        Some("2001-01-01T00:00:00Z"),
        Some("2999-01-01T00:00:00Z"),
        Some("yesterday"),
    ]);
    put(
        &mut o,
        &["metadata", "creationTimestamp"],
        created.map(|c| json!(c)),
    );
    if let Some(status) = rng.pick(&[None, Some("True"), Some("False")]) {
        push_condition(&mut o, condition("Ready", status, "", ""));
    }
    if let Some(reason) = rng.pick(&[None, Some("Unschedulable"), Some("Other")]) {
        push_condition(
            &mut o,
            condition("PodScheduled", "False", reason, "0/3 nodes"),
        );
    }
    let waiting = ["CrashLoopBackOff", "ContainerCreating"];
    let containers: Vec<Value> = (0..rng.pick(&[0, 1, 2]))
        .map(|c| json!({"name": format!("c{c}"), "state": {"waiting": {"reason": rng.pick(&waiting)}}}))
        .collect();
    if !containers.is_empty() {
        put(
            &mut o,
            &["status", "containerStatuses"],
            Some(json!(containers)),
        );
    }
    o
}

fn pvc(rng: &mut Rng, i: usize) -> Value {
    let mut o = object("v1", "PersistentVolumeClaim", i, true);
    let phase = rng.pick(&[
        None,
        Some(json!("Pending")),
        Some(json!("Bound")),
        Some(json!("Lost")),
        Some(json!(3)),
    ]);
    put(&mut o, &["status", "phase"], phase);
    o
}

fn job(rng: &mut Rng, i: usize) -> Value {
    let mut o = object("batch/v1", "Job", i, true);
    put(&mut o, &["spec", "parallelism"], rng.count());
    put(&mut o, &["spec", "completions"], rng.count());
    let suspend = rng.pick(&[
        None,
        None,
        Some(json!(true)),
        Some(json!(false)),
        Some(json!("yes")),
    ]);
    put(&mut o, &["spec", "suspend"], suspend);
    for f in ["active", "succeeded", "failed"] {
        put(&mut o, &["status", f], rng.count());
    }
    let start = rng.pick(&[None, Some(json!("2026-01-01T00:00:00Z"))]);
    put(&mut o, &["status", "startTime"], start);
    for type_ in ["Complete", "Failed"] {
        if let Some(status) = rng.pick(&[None, None, Some("True"), Some("False")]) {
            push_condition(&mut o, condition(type_, status, "Done", "job"));
        }
    }
    o
}

fn service(rng: &mut Rng, i: usize) -> Value {
    let mut o = object("v1", "Service", i, true);
    let type_ = rng.pick(&[
        None,
        Some("ClusterIP"),
        Some("LoadBalancer"),
        Some("NodePort"),
    ]);
    put(&mut o, &["spec", "type"], type_.map(|t| json!(t)));
    let ip = rng.pick(&[None, Some(""), Some("10.0.0.1")]);
    put(&mut o, &["spec", "clusterIP"], ip.map(|t| json!(t)));
    o
}

fn crd(rng: &mut Rng, i: usize) -> Value {
    let mut o = object(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        i,
        false,
    );
    let mut conds = Vec::new();
    if let Some(status) = rng.pick(&[None, Some("True"), Some("False")]) {
        conds.push(condition(
            "NamesAccepted",
            status,
            "NameConflict",
            "names clash",
        ));
    }
    let established = [
        None,
        Some(("True", "InitialNamesAccepted")),
        Some(("False", "Installing")),
        Some(("False", "NotAccepted")),
    ];
    if let Some((status, reason)) = rng.pick(&established) {
        conds.push(condition("Established", status, reason, "establishing"));
    }
    if rng.chance(50) {
        conds.reverse();
    }
    for c in conds {
        push_condition(&mut o, c);
    }
    o
}

/// Kinds kstatus has a fixed answer for, or none: only the generic rules vary them.
fn plain(rng: &mut Rng, i: usize) -> Value {
    let (api, kind, namespaced) = rng.pick(&[
        ("v1", "ConfigMap", true),
        ("v1", "Secret", true),
        ("batch/v1", "CronJob", true),
        ("policy/v1", "PodDisruptionBudget", true),
        ("v1", "Namespace", false),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", false),
    ]);
    object(api, kind, i, namespaced)
}

fn custom(rng: &mut Rng, i: usize) -> Value {
    let (api, kind) = rng.pick(&[
        ("example.com/v1", "Widget"),
        ("example.com/v1", "Widget"),
        ("example.com/v2", "Sprocket"),
        ("other.io/v1beta1", "Gizmo"),
    ]);
    let mut o = object(api, kind, i, true);
    if let Some(status) = rng.pick(&[
        None,
        Some("True"),
        Some("False"),
        Some("Unknown"),
        Some("Maybe"),
    ]) {
        push_condition(
            &mut o,
            condition("Ready", status, "Because", "ready says so"),
        );
    }
    let phase = rng.pick(&[
        None,
        Some("Ready"),
        Some("Progressing"),
        Some("Failed"),
        Some("ready"),
    ]);
    put(&mut o, &["status", "phase"], phase.map(|p| json!(p)));
    let count = rng.pick(&[
        None,
        Some(json!(1)),
        Some(json!(2)),
        Some(json!(1.5)),
        Some(json!("2")),
    ]);
    put(&mut o, &["status", "count"], count);
    let message = rng.pick(&[None, Some("an error happened"), Some("fine")]);
    put(&mut o, &["status", "message"], message.map(|m| json!(m)));
    if rng.chance(5) {
        o["status"] = rng.pick(&[
            json!("oops"),
            json!({"conditions": "none"}),
            json!({"conditions": [{"type": 1}]}),
        ]);
    }
    o
}

/// Every generated object, by the name of the kind (or family) it stands for.
fn corpus() -> Vec<(&'static str, Vec<Value>)> {
    type Make = fn(&mut Rng, usize) -> Value;
    let kinds: [(&str, usize, Make); 11] = [
        ("Deployment", 400, deployment),
        ("StatefulSet", 300, stateful_set),
        ("DaemonSet", 250, daemon_set),
        ("ReplicaSet", 250, replica_set),
        ("Pod", 300, pod),
        ("PersistentVolumeClaim", 100, pvc),
        ("Job", 300, job),
        ("Service", 100, service),
        ("CustomResourceDefinition", 150, crd),
        ("fixed kinds", 150, plain),
        ("custom resources", 400, custom),
    ];
    kinds
        .into_iter()
        .zip(1u64..)
        .map(|((name, n, make), seed)| (name, many(n, seed * 7919, make)))
        .collect()
}

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
/// [`pod`]), so the verdicts do not depend on when the test runs.
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
