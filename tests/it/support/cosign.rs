//! The real cosign CLI (v2.6.5, built from its Go module by `scripts/cosign.sh`, or given as
//! `FLEDGE_COSIGN`), the signer of the signature-verification tests: key pairs made with
//! `cosign generate-key-pair`, artifacts signed with `cosign sign --key` (no transparency log,
//! the registry on plain-HTTP loopback), so that what fledge verifies is what cosign wrote.
//!
//! Every test of it starts with [`or_skip`]: where it cannot be built (no Go) it returns
//! `None`, the test returns and passes, and the test binary says so once on stderr; under
//! `CI=true` that is a failure instead, so CI never skips them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

static COSIGN: OnceLock<Option<PathBuf>> = OnceLock::new();

fn binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FLEDGE_COSIGN") {
        return Ok(p.into());
    }
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cosign.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("scripts/cosign.sh runs");
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("scripts/cosign.sh: {}\n{said}", out.status));
    }
    let _ = std::io::stderr().write_all(said.as_bytes());
    Ok(String::from_utf8_lossy(&out.stdout).trim().into())
}

/// cosign for this test binary; `None` where it cannot be built and `CI` is not `true`.
pub(crate) fn or_skip() -> Option<Cosign> {
    COSIGN
        .get_or_init(|| match binary() {
            Ok(b) => Some(b),
            Err(said) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "the signature-verification tests need cosign, built from its Go module with Go \
                 1.26 (scripts/cosign.sh), and under CI=true they are never skipped:\n{said}"
            ),
            Err(_) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "signature-verification tests SKIPPED: cosign could not be built \
                     (scripts/cosign.sh needs Go 1.26 and the Go module proxy; see \
                     docs/testing.md); set CI=true to make this an error"
                );
                None
            }
        })
        .clone()
        .map(|bin| Cosign {
            bin,
            home: tempfile::tempdir().unwrap(),
        })
}

/// cosign with a home of its own (its keys, and whatever it keeps there).
pub(crate) struct Cosign {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Cosign {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .args(args)
            .current_dir(self.home.path())
            .env("HOME", self.home.path())
            .env("COSIGN_PASSWORD", "")
            .env("DOCKER_CONFIG", self.home.path())
            .stdin(Stdio::null())
            .output()
            .expect("cosign runs");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "cosign {args:?}: {}\n{said}",
            out.status
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `cosign generate-key-pair --output-key-prefix <name>` (no password): the public key's
    /// PEM; the private key stays in cosign's home as `<name>.key`.
    pub(crate) fn key_pair(&self, name: &str) -> String {
        self.run(&["generate-key-pair", "--output-key-prefix", name]);
        std::fs::read_to_string(self.home.path().join(format!("{name}.pub"))).unwrap()
    }

    /// `cosign sign --key <name>.key` of `reference` (`<host>/<repository>@sha256:…`), the
    /// signature stored beside it and no transparency log entry made.
    pub(crate) fn sign(&self, name: &str, reference: &str) {
        let key = format!("{name}.key");
        self.run(&[
            "sign",
            "--key",
            &key,
            "--tlog-upload=false",
            "--allow-http-registry",
            "--allow-insecure-registry",
            "-y",
            reference,
        ]);
    }
}
