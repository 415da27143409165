//! A release's hooks as Helm runs them: told apart from the manifest by their `helm.sh/hook`
//! annotation, and ordered for one event as Helm's `execHook` orders them (the engine gives them
//! in Helm's kind order; a stable sort by weight, then name, follows). Read from the objects
//! rendered, so that what the daemon runs is what `fledge build --charts` prints.

use serde_json::Value;

/// The annotation that makes an object a hook, listing its events.
pub const HOOK: &str = "helm.sh/hook";
/// Its weight (an integer; 0 when absent or unreadable, as Helm reads it).
pub const WEIGHT: &str = "helm.sh/hook-weight";
/// When it is deleted (`before-hook-creation` when none is given).
pub const DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

/// Deleted before the hook is created again (Helm's default policy).
pub const BEFORE_CREATION: &str = "before-hook-creation";
/// Deleted once every hook of the event succeeded.
pub const SUCCEEDED: &str = "hook-succeeded";
/// Deleted when it failed.
pub const FAILED: &str = "hook-failed";

/// What Helm is doing to the release when hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing of the release is in the cluster yet.
    Install,
    /// The release is there, and changes.
    Upgrade,
}

impl Action {
    /// The hook events that run before the release's objects are applied, and after they are
    /// ready.
    #[must_use]
    pub fn events(self) -> (&'static str, &'static str) {
        match self {
            Self::Install => ("pre-install", "post-install"),
            Self::Upgrade => ("pre-upgrade", "post-upgrade"),
        }
    }
}

/// One hook object, as Helm reads its annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    pub object: Value,
    pub name: String,
    pub events: Vec<String>,
    pub weight: i64,
    pub delete_policies: Vec<String>,
}

impl Hook {
    /// `object` as a hook, when its `helm.sh/hook` annotation says it is one.
    #[must_use]
    pub fn of(object: &Value) -> Option<Self> {
        let annotations = &object["metadata"]["annotations"];
        let events = list(annotations[HOOK].as_str()?);
        let weight = annotations[WEIGHT]
            .as_str()
            .and_then(|w| w.trim().parse().ok())
            .unwrap_or(0);
        let mut delete_policies = annotations[DELETE_POLICY]
            .as_str()
            .map(list)
            .unwrap_or_default();
        if delete_policies.is_empty() {
            delete_policies.push(BEFORE_CREATION.to_owned());
        }
        Some(Self {
            object: object.clone(),
            name: object["metadata"]["name"].as_str()?.to_owned(),
            events,
            weight,
            delete_policies,
        })
    }

    /// Whether it is deleted under `policy`.
    #[must_use]
    pub fn deleted_on(&self, policy: &str) -> bool {
        self.delete_policies.iter().any(|p| p == policy)
    }

    /// `Kind namespace/name`, for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        let o = &self.object;
        let ns = o["metadata"]["namespace"].as_str().unwrap_or_default();
        let kind = o["kind"].as_str().unwrap_or_default();
        if ns.is_empty() {
            format!("{kind} {}", self.name)
        } else {
            format!("{kind} {ns}/{}", self.name)
        }
    }
}

/// Whether `object` is a hook (it carries `helm.sh/hook`).
#[must_use]
pub fn is_hook(object: &Value) -> bool {
    object["metadata"]["annotations"][HOOK].is_string()
}

/// The hooks among `objects` (in the order given) that run on `event`, in the order Helm runs
/// them: by weight, then by name, the given order kept between equals.
#[must_use]
pub fn for_event(objects: &[Value], event: &str) -> Vec<Hook> {
    let mut hooks: Vec<Hook> = objects
        .iter()
        .filter_map(Hook::of)
        .filter(|h| h.events.iter().any(|e| e == event))
        .collect();
    hooks.sort_by(|a, b| a.weight.cmp(&b.weight).then_with(|| a.name.cmp(&b.name)));
    hooks
}

/// Where a hook object stands, as Helm's hook waiter reads it: a Job until its `Complete` (or
/// `Failed`) condition, a Pod until it `Succeeded` (or `Failed`); anything else is done once
/// created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Done,
    Running,
    Failed(String),
}

/// `live`'s [`Progress`].
#[must_use]
pub fn progress(live: &Value) -> Progress {
    let status = &live["status"];
    match live["kind"].as_str().unwrap_or_default() {
        "Job" => {
            let holds = |kind: &str| {
                status["conditions"].as_array().and_then(|cs| {
                    cs.iter()
                        .find(|c| c["type"] == kind && c["status"] == "True")
                })
            };
            if let Some(c) = holds("Failed") {
                let why = c["message"].as_str().or(c["reason"].as_str());
                Progress::Failed(format!(
                    "the Job failed: {}",
                    why.unwrap_or("no reason given")
                ))
            } else if holds("Complete").is_some() {
                Progress::Done
            } else {
                Progress::Running
            }
        }
        "Pod" => match status["phase"].as_str() {
            Some("Succeeded") => Progress::Done,
            Some("Failed") => Progress::Failed(format!(
                "the Pod failed: {}",
                status["message"].as_str().unwrap_or("no reason given")
            )),
            _ => Progress::Running,
        },
        _ => Progress::Done,
    }
}

/// A comma-separated annotation's items, trimmed, empty ones left out.
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(name: &str, events: &str, weight: Option<&str>, policy: Option<&str>) -> Value {
        let mut a = json!({HOOK: events});
        if let Some(w) = weight {
            a[WEIGHT] = w.into();
        }
        if let Some(p) = policy {
            a[DELETE_POLICY] = p.into();
        }
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": name, "namespace": "ns", "annotations": a}})
    }

    #[test]
    fn hooks_run_by_weight_then_name_with_the_given_order_kept_between_equals() {
        let objects = vec![
            hook("b", "pre-install, pre-upgrade", Some("5"), None),
            hook("a", "pre-install", Some("5"), None),
            hook("z", "pre-install", Some("-3"), None),
            hook("y", "post-install", None, None),
            hook("x", "pre-install", Some("not a number"), None),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}}),
        ];
        let names = |event| -> Vec<String> {
            for_event(&objects, event)
                .into_iter()
                .map(|h| h.name)
                .collect()
        };
        assert_eq!(names("pre-install"), ["z", "x", "a", "b"]);
        assert_eq!(names("pre-upgrade"), ["b"]);
        assert_eq!(names("post-install"), ["y"]);
        assert!(names("post-upgrade").is_empty());
        assert!(!is_hook(&objects[5]));
        assert!(is_hook(&objects[0]));
    }

    #[test]
    fn a_hook_without_a_delete_policy_is_deleted_before_it_is_created_again() {
        let plain = Hook::of(&hook("a", "pre-install", None, None)).unwrap();
        assert_eq!(plain.delete_policies, [BEFORE_CREATION]);
        let kept = Hook::of(&hook(
            "a",
            "pre-install",
            None,
            Some("hook-succeeded ,hook-failed"),
        ))
        .unwrap();
        assert!(kept.deleted_on(SUCCEEDED) && kept.deleted_on(FAILED));
        assert!(!kept.deleted_on(BEFORE_CREATION));
        assert_eq!(kept.describe(), "Job ns/a");
    }

    #[test]
    fn a_job_is_done_once_complete_a_pod_once_succeeded_anything_else_once_created() {
        let job = |t: &str| json!({"kind": "Job", "status": {"conditions": [{"type": t, "status": "True", "message": "BackoffLimitExceeded"}]}});
        assert_eq!(progress(&job("Complete")), Progress::Done);
        assert!(
            matches!(progress(&job("Failed")), Progress::Failed(m) if m.contains("BackoffLimitExceeded"))
        );
        assert_eq!(
            progress(&json!({"kind": "Job", "status": {}})),
            Progress::Running
        );
        let pod = |p: &str| json!({"kind": "Pod", "status": {"phase": p}});
        assert_eq!(progress(&pod("Succeeded")), Progress::Done);
        assert_eq!(progress(&pod("Running")), Progress::Running);
        assert!(matches!(progress(&pod("Failed")), Progress::Failed(_)));
        assert_eq!(progress(&json!({"kind": "ConfigMap"})), Progress::Done);
    }
}
