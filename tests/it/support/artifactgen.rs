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

use serde_json::{Value, json};

static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();

fn binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FLEDGE_ARTIFACTGEN") {
        return Ok(PathBuf::from(p));
    }
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/artifactgen.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("scripts/artifactgen.sh runs");
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("scripts/artifactgen.sh: {}\n{said}", out.status));
    }
    let _ = std::io::stderr().write_all(said.as_bytes());
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

const SKIPPED: &str = "ArtifactGenerator differential tests SKIPPED: tests/artifactgen could not \
    be built (it needs Go 1.26 and the Go module proxy; see docs/testing.md); set CI=true to make \
    this an error";

/// source-watcher's copy program, built on first use; `None` where it cannot be built and `CI`
/// is not `true`.
pub(crate) fn or_skip() -> Option<&'static Path> {
    BINARY
        .get_or_init(|| match binary() {
            Ok(binary) => Some(binary),
            Err(said) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "the ArtifactGenerator differential tests need tests/artifactgen, built from Go \
                 modules with Go 1.26, and under CI=true they are never skipped:\n{said}"
            ),
            Err(_) => {
                let _ = writeln!(std::io::stderr(), "{SKIPPED}");
                None
            }
        })
        .as_deref()
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
