//! Flux's own build of a Kustomization path, for differential tests: the program in
//! `tests/fluxgen` (kustomize-controller v1.9.6's generator, kustomize build and post-build
//! substitution, from the `fluxcd/pkg/kustomize` version it pins), built by
//! `scripts/fluxgen.sh` (or given as `FLEDGE_FLUXGEN`).
//!
//! Every test of it starts with [`or_skip`]: where the program cannot be built (no Go) it
//! returns `None`, the test returns and passes, and the test binary says so in one line on
//! stderr, once; under `CI=true` that is a failure instead, so CI never skips them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();

/// The binary: `FLEDGE_FLUXGEN`, else built (or reused) by `scripts/fluxgen.sh`; what the
/// script said when it could not build it.
fn binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FLEDGE_FLUXGEN") {
        return Ok(PathBuf::from(p));
    }
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fluxgen.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("scripts/fluxgen.sh runs");
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("scripts/fluxgen.sh: {}\n{said}", out.status));
    }
    // A build's progress, shown once it is done.
    let _ = std::io::stderr().write_all(said.as_bytes());
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The one line a test binary says when it skips the Flux differential tests.
const SKIPPED: &str = "Flux differential tests SKIPPED: tests/fluxgen could not be built (it \
    needs Go 1.26 and the Go module proxy; see docs/testing.md); set CI=true to make this an error";

/// Flux's build program, built on first use; `None` where it cannot be built and `CI` is not
/// `true` (said once, on stderr, past the test harness's capture).
pub(crate) fn or_skip() -> Option<&'static Path> {
    BINARY
        .get_or_init(|| match binary() {
            Ok(binary) => Some(binary),
            Err(said) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "the Flux differential tests need tests/fluxgen, built from Go modules with Go \
                 1.26 (see docs/testing.md), and under CI=true they are never skipped:\n{said}"
            ),
            Err(_) => {
                let _ = writeln!(std::io::stderr(), "{SKIPPED}");
                None
            }
        })
        .as_deref()
}

/// What Flux made of a request.
#[derive(Debug)]
pub(crate) enum Flux {
    /// kustomize's output after substitution, and the objects the controller applies.
    Built {
        yaml: String,
        objects: Vec<Value>,
    },
    Failed(String),
}

/// Builds `request["path"]` below `root` as Flux does (see `tests/fluxgen/main.go` for the
/// request's fields).
pub(crate) fn build(binary: &Path, root: &Path, request: &Value) -> Flux {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("request.json");
    std::fs::write(&file, serde_json::to_vec(request).unwrap()).unwrap();
    let out = Command::new(binary)
        .arg(root)
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let mut said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "fluxgen: {}\n{said}", out.status);
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        let _ = write!(said, "{e}");
        panic!("fluxgen answered no JSON: {said}")
    });
    match answer["error"].as_str() {
        Some(e) => Flux::Failed(e.to_owned()),
        None => Flux::Built {
            yaml: answer["yaml"].as_str().unwrap_or_default().to_owned(),
            objects: answer["objects"].as_array().cloned().unwrap_or_default(),
        },
    }
}
