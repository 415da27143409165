//! Flux's own health checks, for differential tests: the program in `tests/kstatus` (kstatus
//! from the `fluxcd/cli-utils` version kustomize-controller v1.9.6 pins, Flux's Job reader and
//! its CEL health checks from `fluxcd/pkg/runtime`), built by `scripts/kstatus.sh` (or given
//! as `FLEDGE_KSTATUS`).
//!
//! Every test of it starts with [`or_skip`]: where the program cannot be built (no Go) it
//! returns `None`, the test returns and passes, and the test binary says so in one line on
//! stderr, once; under `CI=true` that is a failure instead, so CI never skips them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::peer::Peer;

use serde_json::{Value, json};

static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();

const PEER: Peer = Peer {
    env: "FLEDGE_KSTATUS",
    name: "kstatus",
    tests: "health differential tests",
};

/// The peer, built on first use; `None` where it cannot be built and `CI` is not `true`.
pub(crate) fn or_skip() -> Option<&'static Path> {
    super::peer::or_skip(&PEER, &BINARY)
}

/// One object's health as Flux read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// `Kind/namespace/name`, as Flux names objects in messages.
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) message: String,
    /// Why the status is `Unknown`.
    pub(crate) error: String,
}

/// What Flux made of a request: the expressions' error, or a verdict per object.
pub(crate) type Answer = Result<Vec<Verdict>, String>;

/// What Flux's own wait (`WaitForSetWithContext`, fail-fast, `timeout_ms`) over `objects`, put
/// in a fake cluster, returned: `None` when the set was healthy, else its error's text.
pub(crate) fn wait(
    binary: &Path,
    exprs: &[Value],
    objects: &[Value],
    timeout_ms: u64,
) -> Option<String> {
    let request =
        json!({"exprs": exprs, "objects": objects, "wait": true, "timeoutMs": timeout_ms});
    let answer = run(binary, &request);
    answer["wait"].as_str().map(str::to_owned)
}

fn run(binary: &Path, request: &Value) -> Value {
    let mut child = Command::new(binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(request).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kstatus: {}\n{said}", out.status);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("kstatus answered no JSON ({e}): {said}"))
}

/// Asks the program for the health of `objects` under the health check expressions `exprs`
/// (`kstatus_only`: kstatus's `status.Compute` alone, without Flux's readers).
pub(crate) fn ask(binary: &Path, exprs: &[Value], objects: &[Value], kstatus_only: bool) -> Answer {
    let request = json!({"exprs": exprs, "objects": objects, "kstatus": kstatus_only});
    let answer = run(binary, &request);
    if let Some(e) = answer["error"].as_str() {
        return Err(e.to_owned());
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Ok(answer["results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| Verdict {
                    name: text(&r["ref"]),
                    status: text(&r["status"]),
                    message: text(&r["message"]),
                    error: text(&r["error"]),
                })
                .collect()
        })
        .unwrap_or_default())
}
