//! notification-controller's own notifier, for differential tests of fledge's Flux notification
//! senders: the program in `tests/ncnotify`, with notification-controller v1.7.5's notifier
//! vendored in it, built by `scripts/ncnotify.sh` (or given as `FLEDGE_NCNOTIFY`).
//!
//! Every test of it starts with [`or_skip`]: where the program cannot be built (no Go, no
//! module proxy) it returns `None`, the test returns and passes, and the test binary says so in
//! one line on stderr, once; under `CI=true` that is a failure instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();

/// The binary: `FLEDGE_NCNOTIFY`, else built (or reused) by `scripts/ncnotify.sh`; what the
/// script said when it could not build it.
fn binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FLEDGE_NCNOTIFY") {
        return Ok(PathBuf::from(p));
    }
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ncnotify.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("scripts/ncnotify.sh runs");
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("scripts/ncnotify.sh: {}\n{said}", out.status));
    }
    let _ = std::io::stderr().write_all(said.as_bytes());
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

const SKIPPED: &str = "notification differential tests SKIPPED: tests/ncnotify could not be \
    built (it needs Go 1.26 and the Go module proxy); set CI=true to make this an error";

/// The program, built on first use; `None` where it cannot be built and `CI` is not `true`.
pub(crate) fn or_skip() -> Option<&'static Path> {
    BINARY
        .get_or_init(|| match binary() {
            Ok(binary) => Some(binary),
            Err(said) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("the notification differential tests need tests/ncnotify:\n{said}")
            }
            Err(_) => {
                let _ = writeln!(std::io::stderr(), "{SKIPPED}");
                None
            }
        })
        .as_deref()
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
