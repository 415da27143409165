//! `net`: what every edge that talks to the network shares — one HTTP client (one TLS choice:
//! rustls with the ring provider that kube already uses, certificates checked against the
//! platform's roots) and exponential backoff with jitter for retries.

use std::time::Duration;

/// An HTTP client with rustls (ring) and a timeout; `insecure` skips certificate checks.
#[must_use]
pub fn http_client(timeout: Duration, insecure: bool) -> reqwest::Client {
    http_client_builder(timeout, insecure)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// The builder behind [`http_client`], for clients that need more (a proxy).
pub fn http_client_builder(timeout: Duration, insecure: bool) -> reqwest::ClientBuilder {
    // Installing the process-wide provider fails harmlessly when it is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
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

#[cfg(test)]
mod tests;
