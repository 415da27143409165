//! Credentials for Git remotes, and keeping them out of logs.
//!
//! Tokens, passwords and key passphrases come from files or environment variables, are held in
//! [`Secret`] (`crate::net`'s; its `Debug` and `Display` never show the value) and are handed to libgit2 only
//! inside its credential callback. URLs are shown through [`RedactedUrl`]. SSH host keys are
//! checked against a `known_hosts` file: an unknown host or a changed key is refused unless the
//! configuration explicitly accepts unknown hosts.

use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};
use hmac::{Hmac, KeyInit, Mac};

pub use crate::net::Secret;

/// A URL that prints (with `Display` and `Debug`) without any password or token it carries.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactedUrl(String);

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedactedUrl({:?})", redact(&self.0))
    }
}

impl RedactedUrl {
    #[must_use]
    pub fn new(url: &str) -> Self {
        Self(url.to_owned())
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

/// Replaces the password (or a lone token) in a URL's userinfo with `***`.
#[must_use]
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &rest[..at];
    let shown = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None if url.starts_with("http") => "***".to_owned(),
        None => userinfo.to_owned(),
    };
    format!("{}{}{}", &url[..scheme_end + 3], shown, &rest[at..])
}

/// How to authenticate to a remote.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// Local paths, `file://`, anonymous https.
    #[default]
    None,
    /// https with a username and a password or token (GitHub: any username and a token).
    Basic { username: String, password: Secret },
    /// ssh with a private key file, checked against `known_hosts`.
    Ssh(SshAuth),
    /// ssh with a key and `known_hosts` held in memory (a Flux `GitRepository`'s Secret:
    /// `identity`, `known_hosts`, `password`): read only, never written to a file.
    SshKey(SshKeyAuth),
    /// http(s) with a bearer token (a Flux `GitRepository`'s Secret: `bearerToken`), sent as
    /// an `Authorization: Bearer` header on every request.
    Bearer(Secret),
}

impl Auth {
    /// The headers every request carries: a bearer token's.
    pub(crate) fn headers(&self) -> Vec<String> {
        match self {
            Self::Bearer(token) => vec![format!("Authorization: Bearer {}", token.expose())],
            _ => Vec::new(),
        }
    }
}

/// An ssh key and the host keys to trust, from a Secret.
#[derive(Debug, Clone)]
pub struct SshKeyAuth {
    /// The private key (PEM or OpenSSH format).
    pub private_key: Secret,
    pub passphrase: Option<Secret>,
    /// `known_hosts` lines (public: host keys).
    pub known_hosts: String,
    /// Where they come from, for errors (`Secret ns/name`).
    pub origin: String,
}

#[derive(Debug, Clone)]
pub struct SshAuth {
    pub private_key: PathBuf,
    pub passphrase: Option<Secret>,
    pub known_hosts: PathBuf,
    /// Trust a host that `known_hosts` does not list (never a changed key). Off by default.
    pub accept_unknown_hosts: bool,
}

/// One `known_hosts` entry.
#[derive(Debug, Clone)]
struct KnownHost {
    patterns: Vec<String>,
    key: Vec<u8>,
}

/// What `known_hosts` says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyCheck {
    Trusted,
    Unknown,
    Mismatch,
}

fn parse_known_hosts(text: &str) -> Vec<KnownHost> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
                return None;
            }
            let mut parts = line.split_whitespace();
            let hosts = parts.next()?;
            let _key_type = parts.next()?;
            let key = base64::engine::general_purpose::STANDARD
                .decode(parts.next()?)
                .ok()?;
            Some(KnownHost {
                patterns: hosts.split(',').map(str::to_owned).collect(),
                key,
            })
        })
        .collect()
}

/// Whether a `known_hosts` host pattern names `host` (plain, `[host]:port`, or hashed `|1|`).
fn pattern_matches(pattern: &str, names: &[String]) -> bool {
    if let Some(hashed) = pattern.strip_prefix("|1|") {
        let Some((salt, hash)) = hashed.split_once('|') else {
            return false;
        };
        let engine = base64::engine::general_purpose::STANDARD;
        let (Ok(salt), Ok(hash)) = (engine.decode(salt), engine.decode(hash)) else {
            return false;
        };
        return names.iter().any(|n| {
            let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
                return false;
            };
            mac.update(n.as_bytes());
            mac.verify_slice(&hash).is_ok()
        });
    }
    names.iter().any(|n| n == pattern)
}

/// Checks a host key against `known_hosts` text. `port` other than 22 is looked up as
/// `[host]:port`, as OpenSSH writes it.
#[must_use]
pub fn check_host_key(known_hosts: &str, host: &str, port: u16, key: &[u8]) -> HostKeyCheck {
    let names = if port == 22 {
        vec![host.to_owned()]
    } else {
        vec![format!("[{host}]:{port}")]
    };
    let mut seen = false;
    for entry in parse_known_hosts(known_hosts) {
        if entry.patterns.iter().any(|p| pattern_matches(p, &names)) {
            seen = true;
            if entry.key == key {
                return HostKeyCheck::Trusted;
            }
        }
    }
    if seen {
        HostKeyCheck::Mismatch
    } else {
        HostKeyCheck::Unknown
    }
}

/// The host and port of an ssh remote (`ssh://user@host:port/path` or `user@host:path`).
#[must_use]
pub(crate) fn ssh_host_port(url: &str) -> Option<(String, u16)> {
    if let Some(rest) = url.strip_prefix("ssh://") {
        let authority = rest.split('/').next()?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        return Some(match host_port.rsplit_once(':') {
            Some((h, p)) => (h.trim_matches(['[', ']']).to_owned(), p.parse().ok()?),
            None => (host_port.to_owned(), 22),
        });
    }
    if url.contains("://") {
        return None;
    }
    let (userhost, _) = url.split_once(':')?;
    let host = userhost.rsplit_once('@').map_or(userhost, |(_, h)| h);
    Some((host.to_owned(), 22))
}

/// Remote callbacks that authenticate with `auth` and check ssh host keys. `errors` receives
/// the reason a callback refused, for a clearer error than libgit2's.
pub(crate) fn callbacks<'a>(
    auth: &'a Auth,
    url: &'a str,
    refusal: &'a std::cell::RefCell<Option<String>>,
) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    let mut attempts = 0;
    cb.credentials(move |_url, username, allowed| {
        attempts += 1;
        if attempts > 3 {
            // libgit2 asks again after a rejected credential; stop instead of looping.
            return Err(git2::Error::from_str("authentication failed"));
        }
        match auth {
            Auth::Ssh(ssh) if allowed.contains(CredentialType::SSH_KEY) => Cred::ssh_key(
                username.unwrap_or("git"),
                None,
                &ssh.private_key,
                ssh.passphrase.as_ref().map(Secret::expose),
            ),
            Auth::SshKey(ssh) if allowed.contains(CredentialType::SSH_KEY) => {
                Cred::ssh_key_from_memory(
                    username.unwrap_or("git"),
                    None,
                    ssh.private_key.expose(),
                    ssh.passphrase.as_ref().map(Secret::expose),
                )
            }
            Auth::Basic { username, password }
                if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) =>
            {
                Cred::userpass_plaintext(username, password.expose())
            }
            // The token went with the request: asked for credentials, the remote refused it.
            Auth::Bearer(_) => Err(git2::Error::from_str(
                "the remote refused the bearer token (it asks for credentials)",
            )),
            _ if allowed.contains(CredentialType::USERNAME) => {
                Cred::username(username.unwrap_or("git"))
            }
            _ => Err(git2::Error::from_str(
                "the remote asks for credentials and none are configured",
            )),
        }
    });
    cb.certificate_check(move |cert, host| {
        let Some(hostkey) = cert.as_hostkey() else {
            // https: leave certificate validation to libgit2 and the system trust store.
            return Ok(CertificateCheckStatus::CertificatePassthrough);
        };
        let (known, origin, accept_unknown) = match auth {
            Auth::Ssh(ssh) => (
                std::fs::read_to_string(&ssh.known_hosts).unwrap_or_default(),
                ssh.known_hosts.display().to_string(),
                ssh.accept_unknown_hosts,
            ),
            Auth::SshKey(ssh) => (
                ssh.known_hosts.clone(),
                format!("the known_hosts of {}", ssh.origin),
                false,
            ),
            Auth::None | Auth::Basic { .. } | Auth::Bearer(_) => {
                let msg = "ssh remote without ssh credentials configured".to_owned();
                *refusal.borrow_mut() = Some(msg.clone());
                return Err(git2::Error::from_str(&msg));
            }
        };
        let port = ssh_host_port(url).map_or(22, |(_, p)| p);
        let key = hostkey.hostkey().unwrap_or_default();
        let verdict = check_host_key(&known, host, port, key);
        let refuse = |msg: String| {
            *refusal.borrow_mut() = Some(msg.clone());
            Err(git2::Error::from_str(&msg))
        };
        match verdict {
            HostKeyCheck::Trusted => Ok(CertificateCheckStatus::CertificateOk),
            HostKeyCheck::Unknown if accept_unknown => Ok(CertificateCheckStatus::CertificateOk),
            HostKeyCheck::Unknown => refuse(format!(
                "host {host} (port {port}) is not in {origin}; add its key to known_hosts"
            )),
            HostKeyCheck::Mismatch => refuse(format!(
                "the host key of {host} (port {port}) does not match {origin}: refusing to connect (possible man-in-the-middle)"
            )),
        }
    });
    cb
}

#[cfg(test)]
mod tests;
