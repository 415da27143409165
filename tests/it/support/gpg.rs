//! A real OpenPGP key made by Debian's `gpg` in a GnuPG home of its own, protected by a
//! passphrase: its armored private key is what a Flux signing-key Secret's `git.asc` holds, and
//! `git verify-commit` checks commits against it.

use std::path::Path;
use std::process::Command;

pub(crate) struct Gpg {
    home: tempfile::TempDir,
    pub(crate) email: String,
    pub(crate) passphrase: String,
}

impl Gpg {
    /// An Ed25519 signing key for `name <name@example.com>`, locked by `passphrase`.
    pub(crate) fn new(name: &str, passphrase: &str) -> Self {
        // Short, for the agent's socket path.
        let home = tempfile::Builder::new()
            .prefix("g")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let g = Self {
            home,
            email: format!("{name}@example.com"),
            passphrase: passphrase.to_owned(),
        };
        let uid = format!("{name} <{}>", g.email);
        g.gpg(&["--quick-gen-key", &uid, "ed25519", "sign", "never"]);
        g
    }

    fn gpg(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--quiet", "--pinentry-mode", "loopback"])
            .args(["--passphrase", &self.passphrase])
            .args(args)
            .output()
            .expect("gpg is installed");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The armored private key, still locked by its passphrase (a Secret's `git.asc`).
    pub(crate) fn secret_key(&self) -> String {
        String::from_utf8(self.gpg(&["--armor", "--export-secret-keys", &self.email])).unwrap()
    }

    /// The primary key's fingerprint.
    pub(crate) fn fingerprint(&self) -> String {
        let out =
            String::from_utf8(self.gpg(&["--with-colons", "--list-keys", &self.email])).unwrap();
        out.lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .unwrap()
            .trim_matches(':')
            .to_owned()
    }

    /// `git verify-commit --raw <rev>` in `repo` against this key: gpg's status lines, or why
    /// it failed.
    pub(crate) fn verify_commit(&self, repo: &Path, rev: &str) -> Result<String, String> {
        let out = Command::new("git")
            .current_dir(repo)
            .env("GNUPGHOME", self.home.path())
            .args(["verify-commit", "--raw", rev])
            .output()
            .expect("git runs");
        let status = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            Ok(status)
        } else {
            Err(status)
        }
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}
