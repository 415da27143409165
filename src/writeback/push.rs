//! Pushing with the git CLI, so that the remote's receive-pack runs its hooks and reports each
//! ref's fate (`git push --porcelain`). Never a force push: every refspec is plain `src:dst`.
//! Credentials reach git through its environment (`GIT_CONFIG_*`, `GIT_SSH_COMMAND`), never its
//! arguments, so they do not show in a process list.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use tokio::process::Command;

use super::Error;
use crate::source::{Auth, redact};

/// How the remote answered one pushed ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushResult {
    Accepted,
    /// The remote has commits we do not: fetch, rebuild, try again.
    NonFastForward,
    /// Refused for another reason (a protected branch, a hook): retrying will not help.
    Rejected(String),
}

/// Parses `git push --porcelain` output for the ref `dst`.
#[must_use]
pub fn parse_porcelain(output: &str, dst: &str) -> Option<PushResult> {
    for line in output.lines() {
        let mut parts = line.split('\t');
        let (Some(flag), Some(refs), Some(summary)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if !refs.ends_with(&format!(":{dst}")) {
            continue;
        }
        return Some(match flag {
            " " | "*" | "=" | "+" | "-" => PushResult::Accepted,
            _ if summary.contains("fetch first")
                || summary.contains("non-fast-forward")
                || summary.contains("stale info")
                // Another push held the ref's lock, or moved it under us: transient.
                || summary.contains("cannot lock ref")
                || summary.contains("failed to update ref")
                || summary.contains("incorrect old value") =>
            {
                PushResult::NonFastForward
            }
            _ => PushResult::Rejected(summary.trim().to_owned()),
        });
    }
    None
}

/// Sets up `git`'s environment for `auth` (no secret in argv).
fn apply_auth(cmd: &mut Command, auth: &Auth) {
    cmd.env("GIT_TERMINAL_PROMPT", "0");
    match auth {
        // Only further sources (read, never pushed to) hold keys in memory.
        Auth::None | Auth::SshKey(_) | Auth::Bearer(_) => {}
        Auth::Basic { username, password } => {
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{username}:{}", password.expose()));
            cmd.env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env(
                    "GIT_CONFIG_VALUE_0",
                    format!("Authorization: Basic {token}"),
                );
        }
        Auth::Ssh(ssh) => {
            // ssh reads the passphrase from a terminal only; keys used by fledge's pushes
            // must be unencrypted or held by an agent (libgit2 fetches handle passphrases).
            let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
            let strict = if ssh.accept_unknown_hosts {
                "accept-new"
            } else {
                "yes"
            };
            cmd.env(
                "GIT_SSH_COMMAND",
                format!(
                    "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking={strict}",
                    quote(&ssh.private_key),
                    quote(&ssh.known_hosts)
                ),
            );
        }
    }
}

/// What one push sends.
pub(super) struct Push<'a> {
    /// An object id.
    pub src: &'a str,
    /// A full ref name.
    pub dst: &'a str,
    /// Push options (`git push --push-option`), each `key=value`.
    pub options: &'a [String],
}

/// Pushes `p.src` to `p.dst` on `url`.
pub(super) async fn push(
    git_dir: &Path,
    url: &str,
    auth: &Auth,
    p: &Push<'_>,
    timeout: Duration,
) -> Result<PushResult, Error> {
    let dst = p.dst;
    let mut cmd = Command::new("git");
    cmd.arg("--git-dir")
        .arg(git_dir)
        .args(["push", "--porcelain", "--no-verify"]);
    for o in p.options {
        cmd.arg(format!("--push-option={o}"));
    }
    cmd.arg(url)
        .arg(format!("{}:{dst}", p.src))
        .kill_on_drop(true);
    apply_auth(&mut cmd, auth);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| Error::Push {
            url: redact(url),
            message: format!("no answer within {timeout:?}"),
        })?
        .map_err(|e| Error::Push {
            url: redact(url),
            message: format!("cannot run git: {e}"),
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if let Some(result) = parse_porcelain(&stdout, dst) {
        return Ok(result);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(Error::Push {
        url: redact(url),
        // Every line: the cause comes first (`the receiving end does not support push
        // options`), its consequence last (`the remote end hung up`).
        message: redact(&{
            let lines: Vec<&str> = stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            if lines.is_empty() {
                "git push failed".to_owned()
            } else {
                lines.join("; ")
            }
        }),
    })
}

#[cfg(test)]
mod tests;
