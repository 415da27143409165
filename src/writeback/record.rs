//! What fledge writes to Git, as pure functions of release state: the status file on the
//! `fledge/status` branch, the promotion record on the tracked branch, the note on the commit
//! that started a release, and the message of a revert commit.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::keys::{self, COMMIT_TRAILER, REASON_TRAILER, RELEASE_TRAILER, REVISION_TRAILER};
use crate::release::ReleaseTarget;
use crate::release::state::rfc3339;
use crate::release::state::{FAST_ROLLBACK, Phase, Promotion, ReleaseState, Transition};
use crate::release::view::FailedCheckView;

/// `releases/<namespace>/<name>.yaml` on the status branch.
#[must_use]
pub fn status_path(namespace: &str, name: &str) -> String {
    format!("releases/{namespace}/{name}.yaml")
}

/// `.fledge/promoted/<namespace>/<name>.yaml` on the tracked branch.
#[must_use]
pub fn promotion_path(namespace: &str, name: &str) -> String {
    format!("{}/{namespace}/{name}.yaml", keys::PROMOTION_DIR)
}

/// `.fledge/failed/<namespace>/<name>.yaml` on the tracked branch.
#[must_use]
pub fn failure_path(namespace: &str, name: &str) -> String {
    format!("{}/{namespace}/{name}.yaml", keys::FAILED_DIR)
}

/// How many failed revisions a release's failure record keeps (the oldest go first).
const FAILURES_KEPT: usize = 50;

/// A revision whose canary failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub revision: String,
    /// `{container, image}` of the failed revision's pod template.
    pub images: Vec<Value>,
    pub source_commit: Option<String>,
    pub reason: String,
    pub failed_at: String,
}

/// The failure record of release `namespace/name` with `f` added to what `existing` (the file
/// on the branch, if any) holds; `None` when it holds `f`'s revision already.
#[must_use]
pub fn failure_record(
    existing: Option<&str>,
    namespace: &str,
    name: &str,
    f: &Failure,
) -> Option<String> {
    let mut failed: Vec<Value> = existing
        .and_then(|t| serde_yaml::from_str::<Value>(t).ok())
        .and_then(|v| v["failed"].as_array().cloned())
        .unwrap_or_default();
    if failed.iter().any(|e| e["revision"] == f.revision.as_str()) {
        return None;
    }
    failed.push(json!({
        "revision": f.revision,
        "images": f.images,
        "sourceCommit": f.source_commit,
        "reason": f.reason,
        "failedAt": f.failed_at,
    }));
    let skip = failed.len().saturating_sub(FAILURES_KEPT);
    let v = json!({"release": format!("{namespace}/{name}"), "failed": failed.split_off(skip)});
    Some(format!(
        "# Revisions of {namespace}/{name} whose canary failed. Written by fledge.\n\
         # Image automation never proposes these images again; delete an entry to allow it.\n{}",
        yaml(&v)
    ))
}

/// Every image (`name:tag`) the failure records under [`keys::FAILED_DIR`] hold, from the
/// files of a commit; a record that does not parse holds none.
pub fn failed_images<'a>(
    files: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> std::collections::BTreeSet<String> {
    let dir = format!("{}/", keys::FAILED_DIR);
    files
        .filter(|(p, _)| p.starts_with(&dir))
        .filter_map(|(_, c)| serde_yaml::from_slice::<Value>(c).ok())
        .flat_map(|v| v["failed"].as_array().cloned().unwrap_or_default())
        .flat_map(|e| e["images"].as_array().cloned().unwrap_or_default())
        .filter_map(|i| i["image"].as_str().map(str::to_owned))
        .collect()
}

fn yaml(v: &Value) -> String {
    crate::render::yaml::emit_stream(std::slice::from_ref(v))
}

/// The status file of a release: its state and bounded phase history.
#[must_use]
pub fn status_file(t: &ReleaseTarget, state: &ReleaseState) -> String {
    let s = &t.spec;
    let history: Vec<Value> = state
        .history
        .iter()
        .map(|h| {
            let mut e =
                json!({"phase": h.phase.as_str(), "time": rfc3339(h.time), "message": h.message});
            if let Some(r) = &h.revision {
                e["revision"] = json!(r);
            }
            e
        })
        .collect();
    let mut v = json!({
        "release": s.key(),
        "target": format!("{}/{}", s.target.kind, s.target.name),
        "provider": s.provider.to_string(),
        "strategy": s.strategy(),
        "phase": state.phase.as_str(),
        "canaryWeight": state.canary_weight,
        "failedChecks": state.failed_checks,
        "iterations": state.iterations,
        "lastTransitionTime": rfc3339(state.last_transition_time),
        "message": state.message,
        "fastRollback": state.fast_rollback,
        "history": history,
    });
    for (k, val) in [
        ("canaryRevision", state.canary_revision.as_deref()),
        ("primaryRevision", state.primary_revision.as_deref()),
        ("sourceCommit", state.source_commit.as_deref()),
    ] {
        if let Some(x) = val {
            v[k] = json!(x);
        }
    }
    if let Some(f) = &state.last_failed_check {
        v["lastFailedCheck"] = json!(FailedCheckView::of(f));
    }
    format!("# Written by fledge; edits are overwritten.\n{}", yaml(&v))
}

/// The images of the target's containers, `container=image`.
#[must_use]
pub fn images(target: &Value) -> Vec<Value> {
    let spec = &target["spec"]["template"]["spec"];
    ["initContainers", "containers"]
        .iter()
        .flat_map(|f| spec[*f].as_array().cloned().unwrap_or_default())
        .map(|c| json!({"container": c["name"], "image": c["image"]}))
        .collect()
}

/// The promotion record of a release: its last promotion.
#[must_use]
pub fn promotion_record(namespace: &str, name: &str, p: &Promotion) -> String {
    let v = json!({
        "release": format!("{namespace}/{name}"),
        "revision": p.revision,
        "sourceCommit": p.source_commit,
        "images": p.images,
        "promotedAt": rfc3339(p.promoted_at),
        "fastRollback": p.fast_rollback,
    });
    format!(
        "# The revision fledge last promoted for {namespace}/{name}. Written by fledge.\n{}",
        yaml(&v)
    )
}

/// The last promotion of a release whose status predates [`ReleaseState::promotion`]: the one
/// it is in, when it is in `Succeeded` on the revision Git asks for and did not abort.
#[must_use]
pub fn current_promotion(t: &ReleaseTarget, state: &ReleaseState) -> Option<Promotion> {
    let promoted = state.phase == Phase::Succeeded
        && state.primary_revision.as_ref() == Some(&t.revision.id)
        && !state.history.last().is_some_and(Transition::is_abort);
    promoted.then(|| Promotion {
        revision: t.revision.id.clone(),
        source_commit: state.primary_commit.clone(),
        images: images(&t.target),
        promoted_at: state.last_transition_time,
        fast_rollback: state.fast_rollback,
    })
}

/// One line of a commit's note: an outcome of a release that commit started.
#[must_use]
pub fn note_line(t: &ReleaseTarget, h: &Transition) -> String {
    let rev = h.revision.as_deref().map_or("", |r| &r[..r.len().min(12)]);
    let what = match h.phase {
        Phase::Succeeded if h.is_abort() => {
            "not promoted: analysis aborted, Git is back on the primary's revision"
        }
        Phase::Succeeded if h.message.starts_with(FAST_ROLLBACK) => {
            "promoted without analysis (fast rollback)"
        }
        Phase::Succeeded => "promoted",
        Phase::Failed => "rolled back",
        _ => "",
    };
    format!(
        "fledge: {}/{} revision {rev} {what} at {}: {}",
        t.spec.namespace,
        t.spec.name,
        rfc3339(h.time),
        h.message
    )
}

/// The message of a revert commit.
#[must_use]
pub fn revert_message(
    subjects: &[(String, String)],
    release: &str,
    reason: &str,
    revision: &str,
) -> String {
    let first = subjects.first().map_or("changes", |(_, s)| s.as_str());
    let mut m = format!("Revert \"{first}\"\n\n");
    for (id, _) in subjects {
        let _ = writeln!(m, "This reverts commit {id}.");
    }
    let _ = writeln!(m, "\nThe canary of {release} failed: {reason}");
    super::with_trailers(
        &m,
        &[
            (RELEASE_TRAILER, release),
            (REASON_TRAILER, &reason.replace('\n', " ")),
            (REVISION_TRAILER, revision),
            COMMIT_TRAILER,
        ],
    )
}
