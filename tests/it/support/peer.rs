//! The Go peers the differential tests run (Flux's generator, its health checks, its notifier,
//! source-watcher's artifact builder): each built by `scripts/<name>.sh` from the repository's
//! own sources and the Go module proxy, or given by an environment variable.
//!
//! Every test of one starts with [`or_skip`]: where the peer cannot be built (no Go) it returns
//! `None`, the test returns and passes, and the test binary says so in one line on stderr, once;
//! under `CI=true` that is a failure instead, so CI never skips them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// One peer.
pub(crate) struct Peer {
    /// The variable that names a binary built before (`FLEDGE_KSTATUS`).
    pub(crate) env: &'static str,
    /// The script that builds it (`kstatus`, for `scripts/kstatus.sh`), and the sources it
    /// builds (`tests/kstatus`).
    pub(crate) name: &'static str,
    /// Which tests need it (`health differential tests`).
    pub(crate) tests: &'static str,
}

/// The binary: the variable's, else built (or reused) by the script; what the script said when
/// it could not build it.
fn binary(peer: &Peer) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(peer.env) {
        return Ok(PathBuf::from(p));
    }
    let script = format!("scripts/{}.sh", peer.name);
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(&script))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{script} runs: {e}"));
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{script}: {}\n{said}", out.status));
    }
    // A build's progress, shown once it is done.
    let _ = std::io::stderr().write_all(said.as_bytes());
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The peer, built on first use (kept in `cell`); `None` where it cannot be built and `CI` is
/// not `true` (said once, on stderr, past the test harness's capture).
pub(crate) fn or_skip(
    peer: &Peer,
    cell: &'static OnceLock<Option<PathBuf>>,
) -> Option<&'static Path> {
    cell.get_or_init(|| match binary(peer) {
        Ok(binary) => Some(binary),
        Err(said) if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "the {} need tests/{}, built from Go modules with Go 1.26 (see docs/testing.md), and \
             under CI=true they are never skipped:\n{said}",
            peer.tests, peer.name
        ),
        Err(_) => {
            let _ = writeln!(
                std::io::stderr(),
                "{} SKIPPED: tests/{} could not be built (it needs Go 1.26 and the Go module \
                 proxy; see docs/testing.md); set CI=true to make this an error",
                peer.tests,
                peer.name
            );
            None
        }
    })
    .as_deref()
}
