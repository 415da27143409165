//! The real `sops` CLI (v3.13.3, built from its Go module by `scripts/sops.sh`, or
//! `FLEDGE_SOPS`) and Debian's `age-keygen`: the oracle of the decryption tests.
//!
//! Every test of it starts with [`or_skip`]: where sops cannot be built (no Go) or `age-keygen`
//! is missing, it returns `None`, the test returns and passes, and the test binary says so in
//! one line on stderr, once; under `CI=true` that is a failure instead, so CI never skips them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The sops binary, and a home of its own (sops reads keys from `$HOME` unless told).
pub(crate) struct Sops {
    bin: PathBuf,
    home: tempfile::TempDir,
}

/// An age key pair made by `age-keygen`.
pub(crate) struct AgeKey {
    /// The key file's text, as `age-keygen` writes it.
    pub(crate) file: String,
    pub(crate) recipient: String,
}

static SOPS: OnceLock<Option<Sops>> = OnceLock::new();

const SKIPPED: &str = "sops tests SKIPPED: the sops CLI could not be built or age-keygen is \
    missing (they need Go 1.26, the Go module proxy and Debian's age; see docs/sops.md); set \
    CI=true to make this an error";

fn binary() -> Result<PathBuf, String> {
    if Command::new("age-keygen")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err("age-keygen is not on PATH (apt-get install age)".into());
    }
    if let Some(p) = std::env::var_os("FLEDGE_SOPS") {
        return Ok(PathBuf::from(p));
    }
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sops.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("scripts/sops.sh runs");
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("scripts/sops.sh: {}\n{said}", out.status));
    }
    let _ = std::io::stderr().write_all(said.as_bytes());
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The sops of this test binary; `None` where it cannot be had and `CI` is not `true`.
pub(crate) fn or_skip() -> Option<&'static Sops> {
    SOPS.get_or_init(|| match binary() {
        Ok(bin) => Some(Sops {
            bin,
            home: tempfile::tempdir().expect("a temporary home"),
        }),
        Err(said) if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "the sops tests need the sops CLI, built from its Go module with Go 1.26, and \
             Debian's age (see docs/sops.md); under CI=true they are never skipped:\n{said}"
        ),
        Err(_) => {
            let _ = writeln!(std::io::stderr(), "{SKIPPED}");
            None
        }
    })
    .as_ref()
}

/// A new age key pair.
pub(crate) fn age_key() -> AgeKey {
    let out = Command::new("age-keygen")
        .output()
        .expect("age-keygen runs");
    assert!(out.status.success(), "age-keygen: {out:?}");
    let file = String::from_utf8(out.stdout).expect("age-keygen writes text");
    let recipient = file
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen names the public key")
        .to_owned();
    AgeKey { file, recipient }
}

impl Sops {
    fn command(&self, dir: &Path) -> Command {
        let mut c = Command::new(&self.bin);
        c.current_dir(dir)
            .env_clear()
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null());
        c
    }

    /// `sops --encrypt --age <recipient> <args> FILE` on `plain` written to `dir/name`;
    /// returns the encrypted bytes.
    pub(crate) fn encrypt(
        &self,
        dir: &Path,
        name: &str,
        plain: &[u8],
        recipient: &str,
        args: &[&str],
    ) -> Vec<u8> {
        let path = dir.join(name);
        std::fs::write(&path, plain).expect("write the plaintext");
        let out = self
            .command(dir)
            .args(["--encrypt", "--age", recipient])
            .args(args)
            .arg(&path)
            .output()
            .expect("sops runs");
        assert!(
            out.status.success(),
            "sops --encrypt {args:?} {name}: {}\ninput:\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(plain)
        );
        std::fs::remove_file(&path).expect("remove the plaintext");
        out.stdout
    }

    /// `sops --decrypt <args> FILE` of `encrypted` written to `dir/name`, with `key` the only
    /// age key it knows.
    pub(crate) fn decrypt(
        &self,
        dir: &Path,
        name: &str,
        encrypted: &[u8],
        key: &AgeKey,
        args: &[&str],
    ) -> Output {
        let path = dir.join(name);
        std::fs::write(&path, encrypted).expect("write the encrypted file");
        let keys = dir.join("sops-test-keys.txt");
        std::fs::write(&keys, &key.file).expect("write the key file");
        self.command(dir)
            .env("SOPS_AGE_KEY_FILE", &keys)
            .arg("--decrypt")
            .args(args)
            .arg(&path)
            .output()
            .expect("sops runs")
    }
}
