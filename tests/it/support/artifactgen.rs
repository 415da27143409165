//! source-watcher's own copy code, for differential tests: the program in `tests/artifactgen`
//! (`internal/builder` of fluxcd/source-watcher, staging an ExternalArtifact's files), built by
//! `scripts/artifactgen.sh` (or given as `FLEDGE_ARTIFACTGEN`).
//!
//! Every test of it starts with [`or_skip`]: where the program cannot be built (no Go) it
//! returns `None`, the test returns and passes, and the test binary says so in one line on
//! stderr, once; under `CI=true` that is a failure instead, so CI never skips them.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::peer::Peer;

use serde_json::{Value, json};

static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();

const PEER: Peer = Peer {
    env: "FLEDGE_ARTIFACTGEN",
    name: "artifactgen",
    tests: "ArtifactGenerator differential tests",
};

/// The peer, built on first use; `None` where it cannot be built and `CI` is not `true`.
pub(crate) fn or_skip() -> Option<&'static Path> {
    super::peer::or_skip(&PEER, &BINARY)
}

/// The files source-watcher stages for the copy operations `copy` from `source` (aliased
/// `repo`), or its error.
pub(crate) fn stage(
    binary: &Path,
    source: &Path,
    copy: &Value,
) -> Result<BTreeMap<String, String>, String> {
    let mut child = Command::new(binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let request = json!({"source": source, "copy": copy});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(&request).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "artifactgen: {}\n{said}", out.status);
    let answer: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("artifactgen answered no JSON ({e}): {said}"));
    match answer["error"].as_str() {
        Some(e) => Err(e.to_owned()),
        None => Ok(serde_json::from_value(answer["files"].clone()).unwrap()),
    }
}
