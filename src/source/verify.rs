//! Commit signature verification: the tracked commit must carry a valid `OpenPGP` or SSH
//! signature from a trusted key, or the snapshot is refused.
//!
//! Verification runs the verifiers Git itself uses — `gpgv` against a keyring of trusted
//! `OpenPGP` keys, `ssh-keygen -Y verify` against an `allowed_signers` file — on the signature and
//! signed payload that libgit2 extracts from the commit object.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use git2::{Oid, Repository};

use super::{CommitId, Error};

/// Trusted keys. A commit passes when one of the configured kinds accepts its signature.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    /// `OpenPGP` public keys (binary or ASCII-armored export).
    pub openpgp_keys: Option<PathBuf>,
    /// An OpenSSH `allowed_signers` file.
    pub ssh_allowed_signers: Option<PathBuf>,
}

fn unverified(commit: Oid, reason: impl Into<String>) -> Error {
    Error::Unverified {
        commit: CommitId::from(commit),
        reason: reason.into(),
    }
}

fn temp_file(contents: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
    let mut f = tempfile::NamedTempFile::new()?;
    f.write_all(contents)?;
    f.flush()?;
    Ok(f)
}

impl Verifier {
    /// Checks `commit`'s signature.
    pub fn verify(&self, repo: &Repository, commit: Oid) -> Result<(), Error> {
        let (signature, payload) = repo
            .extract_signature(&commit, None)
            .map_err(|_| unverified(commit, "the commit is not signed"))?;
        let signature = signature.as_str().unwrap_or_default().to_owned();
        let payload = payload.to_vec();
        if signature.starts_with("-----BEGIN SSH SIGNATURE-----") {
            let Some(signers) = &self.ssh_allowed_signers else {
                return Err(unverified(
                    commit,
                    "SSH-signed, but no SSH allowed signers are configured",
                ));
            };
            verify_ssh(signers, &signature, &payload).map_err(|r| unverified(commit, r))
        } else if signature.starts_with("-----BEGIN PGP SIGNATURE-----") {
            let Some(keys) = &self.openpgp_keys else {
                return Err(unverified(
                    commit,
                    "OpenPGP-signed, but no OpenPGP keys are configured",
                ));
            };
            verify_openpgp(keys, &signature, &payload).map_err(|r| unverified(commit, r))
        } else {
            Err(unverified(commit, "unrecognised signature format"))
        }
    }
}

/// What a verifier printed.
struct Ran {
    ok: bool,
    stdout: Vec<u8>,
    stderr: String,
}

fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<Ran, String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data)
            .map_err(|e| format!("{program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    Ok(Ran {
        ok: out.status.success(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

fn verify_ssh(signers: &std::path::Path, signature: &str, payload: &[u8]) -> Result<(), String> {
    let sig = temp_file(signature.as_bytes()).map_err(|e| e.to_string())?;
    let found = run(
        Command::new("ssh-keygen")
            .args(["-Y", "find-principals", "-f"])
            .arg(signers)
            .arg("-s")
            .arg(sig.path()),
        None,
    )?;
    let principals = String::from_utf8_lossy(&found.stdout);
    let principal = principals.lines().next().unwrap_or("").trim();
    if !found.ok || principal.is_empty() {
        return Err("signed by a key that is not in the allowed signers".into());
    }
    let verified = run(
        Command::new("ssh-keygen")
            .args(["-Y", "verify", "-n", "git", "-f"])
            .arg(signers)
            .args(["-I", principal, "-s"])
            .arg(sig.path()),
        Some(payload),
    )?;
    if verified.ok {
        Ok(())
    } else {
        Err(format!("bad SSH signature: {}", verified.stderr))
    }
}

fn verify_openpgp(keys: &std::path::Path, signature: &str, payload: &[u8]) -> Result<(), String> {
    let raw = std::fs::read(keys).map_err(|e| format!("cannot read {}: {e}", keys.display()))?;
    // gpgv wants a binary keyring; an armored export is converted first.
    let binary = if raw.starts_with(b"-----BEGIN") {
        let home = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = run(
            Command::new("gpg")
                .arg("--homedir")
                .arg(home.path())
                .args(["--batch", "--dearmor"]),
            Some(&raw),
        )?;
        if !out.ok {
            return Err(format!("cannot read the OpenPGP keys: {}", out.stderr));
        }
        out.stdout
    } else {
        raw
    };
    let keyring = temp_file(&binary).map_err(|e| e.to_string())?;
    let sig = temp_file(signature.as_bytes()).map_err(|e| e.to_string())?;
    let data = temp_file(payload).map_err(|e| e.to_string())?;
    let out = run(
        Command::new("gpgv")
            .arg("--keyring")
            .arg(keyring.path())
            .arg(sig.path())
            .arg(data.path()),
        None,
    )?;
    if out.ok {
        Ok(())
    } else {
        Err(format!(
            "bad or untrusted OpenPGP signature: {}",
            out.stderr.lines().last().unwrap_or("").trim()
        ))
    }
}
