//! kstatus's rules (`pkg/kstatus/status` of `fluxcd/cli-utils` v1.2.3, the fork of
//! `sigs.k8s.io/cli-utils` kustomize-controller v1.9.6 pins, whose rules are upstream's), and
//! Flux's own Job rules (`fluxcd/pkg/runtime/statusreaders`), over JSON objects.
//!
//! Written here rather than taken from a crate: kstatus is Go and no Rust port exists. Each
//! function follows the Go function it names, in the same order of checks, with the same
//! messages; an error is the text Go's error would have (the caller turns it into `Unknown`).

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::fields::{self, Cond};
use super::{Health, Status};

/// A rule's verdict, or the text of the error kstatus would return.
pub(super) type Computed = Result<Health, String>;

/// `status.Compute`: the generic rules, then the kind's own rules, then a `Ready` condition;
/// otherwise `Current`.
pub(super) fn compute(obj: &Value, now: Timestamp) -> Computed {
    if let Some(h) = generic(obj)? {
        return Ok(h);
    }
    if let Some(rule) = legacy_rule(obj) {
        return rule(obj, now);
    }
    if let Some(h) = ready_condition(obj)? {
        return Ok(h);
    }
    Ok(current("Resource is current"))
}

fn current(message: impl Into<String>) -> Health {
    Health::new(Status::Current, message)
}

fn in_progress(message: impl Into<String>) -> Health {
    Health::new(Status::InProgress, message)
}

fn failed(message: impl Into<String>) -> Health {
    Health::new(Status::Failed, message)
}

/// A kind's own rule (kstatus's `legacyTypes`).
type Rule = fn(&Value, Timestamp) -> Computed;

/// kstatus's `GetLegacyConditionsFn`: the rule for the object's `group/kind` (`kind` alone
/// for the core group).
fn legacy_rule(obj: &Value) -> Option<Rule> {
    let (group, kind) = fields::group_kind(obj);
    let rule: Rule = match (group.as_str(), kind) {
        ("", "Service") => |o, _| Ok(service(o)),
        ("", "Pod") => pod,
        ("", "Secret" | "ConfigMap") | ("batch", "CronJob") => |_, _| Ok(always_ready()),
        ("", "PersistentVolumeClaim") => |o, _| Ok(pvc(o)),
        ("apps", "StatefulSet") => |o, _| Ok(stateful_set(o)),
        ("apps" | "extensions", "DaemonSet") => |o, _| daemon_set(o),
        ("apps" | "extensions", "Deployment") => |o, _| deployment(o),
        ("apps" | "extensions", "ReplicaSet") => |o, _| replica_set(o),
        ("policy", "PodDisruptionBudget") => {
            |_, _| Ok(current("AllowedDisruptions has been computed."))
        }
        ("batch", "Job") => |o, _| job(o),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => |o, _| crd(o),
        _ => return None,
    };
    Some(rule)
}

/// `checkGenericProperties`: deletion, an unobserved generation, a true `Reconciling` or
/// `Stalled` condition.
fn generic(obj: &Value) -> Result<Option<Health>, String> {
    let deletion = fields::nested_string(obj, &["metadata", "deletionTimestamp"])
        .map_err(|e| format!("looking up metadata.deletionTimestamp from resource: {e}"))?;
    if deletion.is_some_and(|d| !d.is_empty()) {
        return Ok(Some(Health::new(
            Status::Terminating,
            "Resource scheduled for deletion",
        )));
    }
    if let Some(h) = generation_observed(obj)? {
        return Ok(Some(h));
    }
    for c in fields::conditions(obj)? {
        if c.type_ == "Reconciling" && c.status == "True" {
            return Ok(Some(in_progress(c.message)));
        }
        if c.type_ == "Stalled" && c.status == "True" {
            return Ok(Some(failed(c.message)));
        }
    }
    Ok(None)
}

/// `checkGeneration`: `InProgress` when `status.observedGeneration` is there and differs from
/// `metadata.generation`.
fn generation_observed(obj: &Value) -> Result<Option<Health>, String> {
    let Some(generation) = generation(obj)? else {
        return Ok(None);
    };
    let Some(observed) = observed_generation(obj)? else {
        return Ok(None);
    };
    if observed == generation {
        return Ok(None);
    }
    Ok(Some(in_progress(format!(
        "{} generation is {generation}, but latest observed generation is {observed}",
        fields::kind(obj)
    ))))
}

fn generation(obj: &Value) -> Result<Option<i64>, String> {
    fields::nested_int64(obj, &["metadata", "generation"])
        .map_err(|e| format!("looking up metadata.generation from resource: {e}"))
}

fn observed_generation(obj: &Value) -> Result<Option<i64>, String> {
    fields::nested_int64(obj, &["status", "observedGeneration"])
        .map_err(|e| format!("looking up status.observedGeneration from resource: {e}"))
}

/// `checkReadyCondition`: the first `Ready` condition that is `True` (`Current`), `False` or
/// `Unknown` (`InProgress`).
fn ready_condition(obj: &Value) -> Result<Option<Health>, String> {
    for c in fields::conditions(obj)? {
        if c.type_ != "Ready" {
            continue;
        }
        match c.status.as_str() {
            "True" => return Ok(Some(current("Resource is Ready"))),
            "False" | "Unknown" => return Ok(Some(in_progress(c.message))),
            _ => {}
        }
    }
    Ok(None)
}

fn always_ready() -> Health {
    current("Resource is always ready")
}

fn int(obj: &Value, path: &str, default: i64) -> i64 {
    fields::int_field(obj, path, default)
}

/// `stsConditions`.
fn stateful_set(obj: &Value) -> Health {
    if fields::string_field(obj, ".spec.updateStrategy.type", "") == "OnDelete" {
        return current("StatefulSet is using the ondelete update strategy");
    }
    let spec = int(obj, ".spec.replicas", 1);
    let ready = int(obj, ".status.readyReplicas", 0);
    let current_replicas = int(obj, ".status.currentReplicas", 0);
    let updated = int(obj, ".status.updatedReplicas", 0);
    let status = int(obj, ".status.replicas", 0);
    let partition = int(obj, ".spec.updateStrategy.rollingUpdate.partition", -1);
    if spec > status {
        return in_progress(format!("Replicas: {status}/{spec}"));
    }
    if spec > ready {
        return in_progress(format!("Ready: {ready}/{spec}"));
    }
    if status > spec {
        return in_progress(format!("Pending termination: {}", status - spec));
    }
    if partition != -1 {
        if updated < spec - partition {
            return in_progress(format!("updated: {updated}/{}", spec - partition));
        }
        return current(format!("Partition rollout complete. updated: {updated}"));
    }
    if spec > current_replicas {
        return in_progress(format!("current: {current_replicas}/{spec}"));
    }
    let revision = fields::string_field(obj, ".status.currentRevision", "");
    if revision != fields::string_field(obj, ".status.updateRevision", "") {
        return in_progress("Waiting for updated revision to match current");
    }
    current(format!(
        "All replicas scheduled as expected. Replicas: {status}"
    ))
}

/// `deploymentConditions`.
fn deployment(obj: &Value) -> Computed {
    // Without progressDeadlineSeconds the controller sets no Progressing condition
    // (math.MaxInt32 is its "unset").
    let mut progressing =
        int(obj, ".spec.progressDeadlineSeconds", i64::from(i32::MAX)) == i64::from(i32::MAX);
    let mut available = false;
    for c in fields::conditions(obj)? {
        match c.type_.as_str() {
            "Progressing" if c.reason == "ProgressDeadlineExceeded" => {
                return Ok(failed("Progress deadline exceeded"));
            }
            "Progressing" if c.status == "True" && c.reason == "NewReplicaSetAvailable" => {
                progressing = true;
            }
            "Available" if c.status == "True" => available = true,
            _ => {}
        }
    }
    if let Some(h) = deployment_replicas(obj) {
        return Ok(h);
    }
    if !progressing {
        return Ok(in_progress("ReplicaSet not Available"));
    }
    if !available {
        return Ok(in_progress("Deployment not Available"));
    }
    Ok(current(format!(
        "Deployment is available. Replicas: {}",
        int(obj, ".status.replicas", 0)
    )))
}

/// The replica counts `deploymentConditions` checks, in its order.
fn deployment_replicas(obj: &Value) -> Option<Health> {
    let spec = int(obj, ".spec.replicas", 1);
    let status = int(obj, ".status.replicas", 0);
    let updated = int(obj, ".status.updatedReplicas", 0);
    let ready = int(obj, ".status.readyReplicas", 0);
    let available = int(obj, ".status.availableReplicas", 0);
    let message = if spec > status {
        format!("Replicas: {status}/{spec}")
    } else if spec > updated {
        format!("Updated: {updated}/{spec}")
    } else if status > spec {
        format!("Pending termination: {}", status - spec)
    } else if updated > available {
        format!("Available: {available}/{updated}")
    } else if spec > ready {
        format!("Ready: {ready}/{spec}")
    } else {
        return None;
    };
    Some(in_progress(message))
}

/// `replicasetConditions`.
fn replica_set(obj: &Value) -> Computed {
    let conditions = fields::conditions(obj)?;
    if conditions
        .iter()
        .any(|c| c.type_ == "ReplicaFailure" && c.status == "True")
    {
        return Ok(in_progress("Replica Failure condition. Check Pods"));
    }
    let spec = int(obj, ".spec.replicas", 1);
    let status = int(obj, ".status.replicas", 0);
    let ready = int(obj, ".status.readyReplicas", 0);
    let available = int(obj, ".status.availableReplicas", 0);
    let labelled = int(obj, ".status.fullyLabeledReplicas", 0);
    Ok(if spec > labelled {
        in_progress(format!("Labelled: {labelled}/{spec}"))
    } else if spec > available {
        in_progress(format!("Available: {available}/{spec}"))
    } else if spec > ready {
        in_progress(format!("Ready: {ready}/{spec}"))
    } else if status > spec {
        in_progress(format!("Pending termination: {}", status - spec))
    } else {
        current(format!("ReplicaSet is available. Replicas: {status}"))
    })
}

/// `daemonsetConditions`.
fn daemon_set(obj: &Value) -> Computed {
    if let Some(h) = generation_set(obj)? {
        return Ok(h);
    }
    let desired = int(obj, ".status.desiredNumberScheduled", -1);
    let scheduled = int(obj, ".status.currentNumberScheduled", 0);
    let updated = int(obj, ".status.updatedNumberScheduled", 0);
    let available = int(obj, ".status.numberAvailable", 0);
    let ready = int(obj, ".status.numberReady", 0);
    Ok(if desired == -1 {
        in_progress("Missing .status.desiredNumberScheduled")
    } else if desired > scheduled {
        in_progress(format!("Current: {scheduled}/{desired}"))
    } else if desired > updated {
        in_progress(format!("Updated: {updated}/{desired}"))
    } else if desired > available {
        in_progress(format!("Available: {available}/{desired}"))
    } else if desired > ready {
        in_progress(format!("Ready: {ready}/{desired}"))
    } else {
        current(format!(
            "All replicas scheduled as expected. Replicas: {desired}"
        ))
    })
}

/// `checkGenerationSet`: a DaemonSet's controller always sets both generations, so a missing
/// one means it has not acted yet.
fn generation_set(obj: &Value) -> Result<Option<Health>, String> {
    let kind = fields::kind(obj);
    if generation(obj)?.is_none() {
        return Ok(Some(in_progress(format!(
            "{kind} metadata.generation not found"
        ))));
    }
    if observed_generation(obj)?.is_none() {
        return Ok(Some(in_progress(format!(
            "{kind} status.observedGeneration not found"
        ))));
    }
    Ok(None)
}

/// `pvcConditions`.
fn pvc(obj: &Value) -> Health {
    let phase = fields::string_field(obj, ".status.phase", "unknown");
    if phase == "Bound" {
        current("PVC is Bound")
    } else {
        in_progress(format!("PVC is not Bound. phase: {phase}"))
    }
}

/// How long kstatus lets a pod stay unscheduled before it calls it unschedulable
/// (`ScheduleWindow`).
const SCHEDULE_WINDOW: SignedDuration = SignedDuration::from_secs(15);

/// `podConditions`; `now` stands for Go's `time.Now()`.
fn pod(obj: &Value, now: Timestamp) -> Computed {
    let conditions = fields::conditions(obj)?;
    let with = |type_: &str, status: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
    };
    match fields::string_field(obj, ".status.phase", "") {
        "Succeeded" => Ok(current("Pod has completed successfully")),
        "Failed" => Ok(current("Pod has completed, but not successfully")),
        "Running" if with("Ready", "True").is_some() => Ok(current("Pod is Ready")),
        "Running" => {
            let crashing = crash_looping(obj)?;
            if crashing.is_empty() {
                Ok(in_progress("Pod is running but is not Ready"))
            } else {
                Ok(failed(format!(
                    "Containers in CrashLoop state: {}",
                    crashing.join(",")
                )))
            }
        }
        "Pending" => Ok(match with("PodScheduled", "False") {
            Some(c) if c.reason == "Unschedulable" => unschedulable(obj, now),
            _ => in_progress("Pod is in the Pending phase"),
        }),
        "" => Ok(in_progress("Pod phase not available")),
        phase => Err(format!("unknown phase {phase}")),
    }
}

/// An unschedulable pod is given [`SCHEDULE_WINDOW`] from its creation before it is
/// `Failed`; a creation time that is missing or unreadable counts as long ago, as Go's zero
/// time does.
fn unschedulable(obj: &Value, now: Timestamp) -> Health {
    let created = obj["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok());
    match created {
        Some(created) if now - SCHEDULE_WINDOW < created => {
            in_progress("Pod has not been scheduled")
        }
        _ => failed("Pod could not be scheduled"),
    }
}

/// `getCrashLoopingContainers`: the containers waiting with reason `CrashLoopBackOff`.
fn crash_looping(obj: &Value) -> Result<Vec<&str>, String> {
    let Some(statuses) = fields::nested_slice(obj, &["status", "containerStatuses"])? else {
        return Ok(Vec::new());
    };
    Ok(statuses
        .iter()
        .filter(|cs| cs["state"]["waiting"]["reason"] == "CrashLoopBackOff")
        .filter_map(|cs| cs["name"].as_str())
        .collect())
}

/// `jobConditions` as kstatus has it (Flux reads Jobs with [`flux_job`] instead).
fn job(obj: &Value) -> Computed {
    let counts = JobCounts::of(obj);
    for c in fields::conditions(obj)? {
        if let Some(h) = counts.finished(&c) {
            return Ok(h);
        }
    }
    if fields::string_field(obj, ".status.startTime", "").is_empty() {
        return Ok(in_progress("Job not started"));
    }
    Ok(current(counts.progress()))
}

/// Flux's `jobConditions` (`fluxcd/pkg/runtime/statusreaders`, the reader kustomize-controller
/// puts before kstatus's): `Current` only once the Job completed (or while it is suspended),
/// and none of kstatus's generic rules.
pub(super) fn flux_job(obj: &Value) -> Computed {
    if let Ok(Some(true)) = fields::nested_bool(obj, &["spec", "suspend"]) {
        return Ok(current("Job is suspended"));
    }
    let counts = JobCounts::of(obj);
    for c in fields::conditions(obj)? {
        if let Some(h) = counts.finished(&c) {
            return Ok(h);
        }
    }
    if fields::string_field(obj, ".status.startTime", "").is_empty() {
        return Ok(in_progress(format!(
            "Job not started. active: 0/{}",
            counts.parallelism
        )));
    }
    Ok(in_progress(counts.progress()))
}

/// The counts both Job rules report.
struct JobCounts {
    parallelism: i64,
    completions: i64,
    succeeded: i64,
    active: i64,
    failed: i64,
}

impl JobCounts {
    fn of(obj: &Value) -> Self {
        let parallelism = int(obj, ".spec.parallelism", 1);
        Self {
            parallelism,
            completions: int(obj, ".spec.completions", parallelism),
            succeeded: int(obj, ".status.succeeded", 0),
            active: int(obj, ".status.active", 0),
            failed: int(obj, ".status.failed", 0),
        }
    }

    /// The verdict of a true `Complete` or `Failed` condition.
    fn finished(&self, c: &Cond) -> Option<Health> {
        match (c.type_.as_str(), c.status.as_str()) {
            ("Complete", "True") => Some(current(format!(
                "Job Completed. succeeded: {}/{}",
                self.succeeded, self.completions
            ))),
            ("Failed", "True") => Some(failed(format!(
                "Job Failed. failed: {}/{}",
                self.failed, self.completions
            ))),
            _ => None,
        }
    }

    fn progress(&self) -> String {
        format!(
            "Job in progress. success:{}, active: {}, failed: {}",
            self.succeeded, self.active, self.failed
        )
    }
}

/// `serviceConditions`: a LoadBalancer waits for its cluster IP.
fn service(obj: &Value) -> Health {
    let type_ = fields::string_field(obj, ".spec.type", "ClusterIP");
    if type_ == "LoadBalancer" && fields::string_field(obj, ".spec.clusterIP", "").is_empty() {
        return in_progress("ClusterIP not set. Service type: LoadBalancer");
    }
    current("Service is ready")
}

/// `crdConditions`.
fn crd(obj: &Value) -> Computed {
    for c in fields::conditions(obj)? {
        if c.type_ == "NamesAccepted" && c.status == "False" {
            return Ok(failed(c.message));
        }
        if c.type_ == "Established" {
            if c.status == "False" && c.reason != "Installing" {
                return Ok(failed(c.message));
            }
            if c.status == "True" {
                return Ok(current("CRD is established"));
            }
        }
    }
    Ok(in_progress("Install in progress"))
}
