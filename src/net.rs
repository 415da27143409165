//! `net`: what every edge that talks to the network shares — one HTTP client (one TLS choice:
//! rustls with the ring provider that kube already uses, certificates checked against the
//! platform's roots), exponential backoff with jitter for retries, and [`Secret`], the credential
//! value (tokens, passwords, webhook keys) that never prints.

use std::fmt;
use std::path::Path;
use std::time::Duration;

/// An HTTP client with rustls (ring) and a timeout; `insecure` skips certificate checks.
#[must_use]
pub fn http_client(timeout: Duration, insecure: bool) -> reqwest::Client {
    http_client_builder(timeout, insecure)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Installs rustls's process-wide crypto provider (ring), which every TLS client needs first
/// (reqwest's own, and those libraries build on it); harmless when it is already installed.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The builder behind [`http_client`], for clients that need more (a proxy).
pub fn http_client_builder(timeout: Duration, insecure: bool) -> reqwest::ClientBuilder {
    install_tls();
    reqwest::Client::builder()
        .timeout(timeout)
        .tls_danger_accept_invalid_certs(insecure)
}

/// `d` scaled by a random factor in `1 ± jitter`.
#[must_use]
pub fn jittered(d: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 {
        return d;
    }
    let factor = 1.0 + rand::random_range(-jitter..jitter);
    d.mul_f64(factor.max(0.0))
}

/// Exponential backoff, capped.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    #[must_use]
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            next: min,
        }
    }

    /// The delay before the next retry (then doubles).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Why a credential file is refused when it holds nothing but whitespace.
const EMPTY_CREDENTIAL: &str = "the file is empty; put the credential in it (an empty key in the Secret mounted there gives an empty file)";

/// A credential value. Its `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads a secret from a file (surrounding whitespace trimmed). A file with nothing else
    /// in it is an error, never an empty secret: an empty key would let anyone sign a webhook,
    /// and an empty token authenticates nobody (a Secret mounted with an empty key gives such
    /// a file).
    pub fn from_file(path: &Path) -> std::io::Result<Self> {
        let value = std::fs::read_to_string(path)?.trim().to_owned();
        if value.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                EMPTY_CREDENTIAL,
            ));
        }
        Ok(Self(value))
    }

    /// Reads a secret from an environment variable (for the configuration layer; the value
    /// never appears in an error). An empty value is refused as an empty file is.
    pub fn from_env(var: &str) -> Result<Self, String> {
        match std::env::var(var).map(|v| v.trim().to_owned()) {
            Ok(v) if !v.is_empty() => Ok(Self(v)),
            Ok(_) => Err(format!("environment variable {var} is empty")),
            Err(_) => Err(format!(
                "environment variable {var} is not set or not UTF-8"
            )),
        }
    }

    /// Whether `given` is this secret, compared in constant time (as keyed digests of both, so
    /// the time does not depend on where they differ or on their lengths).
    #[must_use]
    pub fn matches(&self, given: &str) -> bool {
        use hmac::{Hmac, KeyInit, Mac as _};
        let digest = |v: &str| {
            let mut m = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(self.0.as_bytes())
                .expect("HMAC takes keys of any length");
            m.update(v.as_bytes());
            m
        };
        let expected = digest(&self.0).finalize().into_bytes();
        digest(given).verify_slice(&expected).is_ok()
    }

    /// The value, for the one place that must hand it over.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests;
