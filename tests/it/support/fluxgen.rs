//! Flux's own build of a Kustomization path, for differential tests: the program in
//! `tests/fluxgen` (kustomize-controller v1.9.6's generator, kustomize build and post-build
//! substitution, from the `fluxcd/pkg/kustomize` version it pins), built by
//! `scripts/fluxgen.sh` (or given as `FLEDGE_FLUXGEN`).
//!
//! Every test of it starts with [`or_skip`]: where the program cannot be built (no Go) it
//! returns `None`, the test returns and passes, and the test binary says so in one line on
//! stderr, once; under `CI=true` that is a failure instead, so CI never skips them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::peer::Peer;

use serde_json::Value;

static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();

const PEER: Peer = Peer {
    env: "FLEDGE_FLUXGEN",
    name: "fluxgen",
    tests: "Flux differential tests",
};

/// The peer, built on first use; `None` where it cannot be built and `CI` is not `true`.
pub(crate) fn or_skip() -> Option<&'static Path> {
    super::peer::or_skip(&PEER, &BINARY)
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
