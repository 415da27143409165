//! The live objects the health tests read: every kind kstatus has rules for, and custom
//! resources, their status fields drawn from lists of values that cover each rule's branches
//! (absent, zero, fewer, equal, more; each condition status and reason), and the generic rules'
//! fields (deletion, generations, `Reconciling`, `Stalled`) varied over all of them.

use serde_json::{Value, json};

/// A small deterministic generator (xorshift64*), so a failure names a case that comes back.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn pick<T: Clone>(&mut self, options: &[T]) -> T {
        let i = usize::try_from(self.next() % options.len() as u64).unwrap();
        options[i].clone()
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
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
pub(super) fn corpus() -> Vec<(&'static str, Vec<Value>)> {
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
