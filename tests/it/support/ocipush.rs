//! `flux push artifact`'s own push, for the OCIRepository source tests: the program in
//! `tests/ocipush` (fluxcd/pkg/oci's `Client.Push`, the code the flux CLI calls), built by
//! `scripts/ocipush.sh` (or given as `FLEDGE_OCIPUSH`).
//!
//! Every test of it starts with [`or_skip`]: where the program cannot be built (no Go) it
//! returns `None`, the test returns and passes, and the test binary says so in one line on
//! stderr, once; under `CI=true` that is a failure instead, so CI never skips them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::peer::Peer;

static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();

const PEER: Peer = Peer {
    env: "FLEDGE_OCIPUSH",
    name: "ocipush",
    tests: "OCIRepository source tests",
};

/// The peer, built on first use; `None` where it cannot be built and `CI` is not `true`.
pub(crate) fn or_skip() -> Option<&'static Path> {
    super::peer::or_skip(&PEER, &BINARY)
}

/// Pushes `files` (path, contents) as `flux push artifact oci://<url> --path=<dir>` does, with
/// `--source` and `--revision` set and a fixed creation time (so that the same files make the
/// same artifact); returns the manifest's digest (`sha256:…`).
pub(crate) fn push(binary: &Path, url: &str, files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        let at = dir.path().join(path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, contents).unwrap();
    }
    let request = json!({
        "url": url,
        "path": dir.path(),
        "source": "https://github.com/example/fleet",
        "revision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
        "created": "2026-01-01T00:00:00Z",
    });
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
        .write_all(&serde_json::to_vec(&request).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ocipush: {}\n{said}", out.status);
    let answer: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ocipush answered no JSON ({e}): {said}"));
    if let Some(e) = answer["error"].as_str() {
        panic!("ocipush {url}: {e}");
    }
    let pushed = answer["digest"].as_str().expect("a digest");
    pushed
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .expect("<repository>@sha256:…")
}
