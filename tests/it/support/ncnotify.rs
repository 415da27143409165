//! notification-controller's own notifier, for differential tests of fledge's Flux notification
//! senders: the program in `tests/ncnotify`, with notification-controller v1.7.5's notifier
//! vendored in it, built by `scripts/ncnotify.sh` (or given as `FLEDGE_NCNOTIFY`).
//!
//! Every test of it starts with [`or_skip`]: where the program cannot be built (no Go, no
//! module proxy) it returns `None`, the test returns and passes, and the test binary says so in
//! one line on stderr, once; under `CI=true` that is a failure instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::peer::Peer;

use serde_json::Value;

static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();

const PEER: Peer = Peer {
    env: "FLEDGE_NCNOTIFY",
    name: "ncnotify",
    tests: "notification differential tests",
};

/// The peer, built on first use; `None` where it cannot be built and `CI` is not `true`.
pub(crate) fn or_skip() -> Option<&'static Path> {
    super::peer::or_skip(&PEER, &BINARY)
}

/// Sends `request` (see `tests/ncnotify/main.go`) through Flux's notifier; its error, if any.
/// `env` is set for the program (go-bitbucket reads `BITBUCKET_API_BASE_URL`).
pub(crate) fn send(binary: &Path, request: &Value, env: &[(&str, &str)]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("request.json");
    std::fs::write(&file, serde_json::to_vec(request).unwrap()).unwrap();
    let mut cmd = Command::new(binary);
    cmd.arg(&file).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ncnotify: {}\n{said}", out.status);
    let answer: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ncnotify answered no JSON ({e}): {said}"));
    answer["error"].as_str().map(str::to_owned)
}
