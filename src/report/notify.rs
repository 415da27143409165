//! Sending Flux notifications: one [`Sender`] per `notification.toolkit.fluxcd.io` Provider,
//! making exactly the requests notification-controller v1.7.5's notifier makes for its type
//! (`internal/notifier/*.go`): chat messages ([`chat`]: Slack, Discord, Microsoft Teams,
//! Rocket.Chat, Google Chat, and the `generic`/`generic-hmac` forwarders) and commit statuses
//! ([`git`]: GitHub, GitLab, Gitea, Bitbucket Cloud and Server, Azure DevOps). Credentials come
//! from the Secrets the Provider names, read by the caller, with the keys Flux reads; they never
//! appear in errors or logs (a chat webhook address is a credential too, so errors name the
//! Provider, not the address). One attempt per event: the caller's queue decides about retries.
//! [`deliver`] is what the daemon calls: an event to every Provider its Alerts reach, and a
//! Receiver's token.

pub mod chat;
pub mod deliver;
pub mod git;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::flux::notification::{Event, Provider, ProviderType};
use crate::net::{Secret, http_client_builder};
use crate::object::secret_field;

/// The Secrets a Provider names, as the cluster returns them (`data` base64-encoded); `None`
/// where the Provider names none.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProviderSecrets<'a> {
    /// `spec.secretRef`: `address`, `token`, `username`, `password`, `headers`, `proxy`.
    pub secret: Option<&'a Value>,
    /// `spec.proxySecretRef`: `address`, `username`, `password`.
    pub proxy: Option<&'a Value>,
    /// `spec.certSecretRef`: `ca.crt`, `tls.crt`, `tls.key` (or the legacy `caFile`,
    /// `certFile`, `keyFile`).
    pub cert: Option<&'a Value>,
}

/// Why a notification was not sent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("provider {provider}: {field}: {message}")]
    Config {
        provider: String,
        field: String,
        message: String,
    },
    #[error("provider {provider} ({kind}): {message}")]
    Send {
        provider: String,
        kind: &'static str,
        message: String,
    },
    /// The endpoint could not be reached (connection refused, a timeout, TLS).
    #[error("provider {provider} ({kind}): {message}")]
    Unreachable {
        provider: String,
        kind: &'static str,
        message: String,
    },
}

/// How often a chat or webhook Provider is tried again, and the waits between tries
/// (notification-controller's go-retryablehttp settings).
const RETRY_MAX: u32 = 4;
const RETRY_WAIT: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_secs(2),
    std::time::Duration::from_secs(30),
);

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Posted,
    /// Not sent, as Flux would not send it (a Progressing event to a forge, a duplicate
    /// commit status, a commit-status event to a chat).
    Skipped(&'static str),
}

/// The credentials a Provider uses, from its Secret.
#[derive(Debug, Clone, Default)]
pub(crate) struct Credentials {
    pub(crate) token: Option<Secret>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) headers: BTreeMap<String, Secret>,
}

/// Sends one Provider's notifications.
#[derive(Debug)]
pub struct Sender {
    pub(crate) provider: String,
    pub(crate) kind: ProviderType,
    /// The address (a credential for chat webhooks: never printed).
    pub(crate) address: Secret,
    pub(crate) channel: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) creds: Credentials,
    pub(crate) provider_uid: String,
    pub(crate) client: reqwest::Client,
    /// Bitbucket Cloud's API (go-bitbucket's `BITBUCKET_API_BASE_URL`).
    pub(crate) bitbucket_api: String,
}

/// The first of `keys` the Secret has.
fn field(secret: Option<&Value>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| secret.and_then(|s| secret_field(s, k)))
}

impl Sender {
    /// A sender for `p`, its Secrets already read. `provider_uid` is the Provider's UID in the
    /// cluster (or any id stable per cluster when it has none): Flux's default commit status id
    /// is `<kind>/<name>/<first segment of it>`.
    pub fn new(p: &Provider, s: &ProviderSecrets<'_>, provider_uid: &str) -> Result<Self, Error> {
        let provider = p.id.to_string();
        let cfg = |field: &str, message: String| Error::Config {
            provider: provider.clone(),
            field: field.to_owned(),
            message,
        };
        let creds = credentials(s.secret).map_err(|m| cfg("spec.secretRef", m))?;
        let address = field(s.secret, &["address"])
            .map(|a| a.trim().to_owned())
            .or_else(|| p.address.clone())
            .ok_or_else(|| {
                cfg(
                    "spec.address",
                    "is required (or an `address` key in the Secret)".into(),
                )
            })?;
        let username = match &creds.username {
            Some(u) if creds.password.is_some() => Some(u.clone()),
            _ => p.username.clone(),
        };
        let client = client(p, s).map_err(|(f, m)| cfg(f, m))?;
        let sender = Self {
            kind: p.kind,
            address: Secret::new(address),
            channel: p.channel.clone(),
            username,
            creds,
            provider_uid: provider_uid.to_owned(),
            client,
            bitbucket_api: "https://api.bitbucket.org/2.0".into(),
            provider: provider.clone(),
        };
        if p.kind == ProviderType::GitHub
            && sender.token().is_empty()
            && field(s.secret, &["githubAppID"]).is_some()
        {
            return Err(cfg(
                "spec.secretRef",
                "GitHub App authentication is not supported by fledge; put a token in the Secret"
                    .into(),
            ));
        }
        sender.check().map_err(|(f, m)| cfg(f, m))?;
        Ok(sender)
    }

    /// Bitbucket Cloud's API at `base` instead of `https://api.bitbucket.org/2.0`.
    #[must_use]
    pub fn with_bitbucket_api(mut self, base: &str) -> Self {
        base.trim_end_matches('/')
            .clone_into(&mut self.bitbucket_api);
        self
    }

    /// What Flux checks when it builds the notifier: a usable address and the credentials the
    /// type needs; the error names the field to fix.
    fn check(&self) -> Result<(), (&'static str, String)> {
        let address = |m| ("spec.address", m);
        let secret = |m| ("spec.secretRef", m);
        if self.kind.is_git() {
            git::check_address(self).map_err(address)?;
            return git::check_credentials(self).map_err(secret);
        }
        let name = self.kind.name();
        let url = reqwest::Url::parse(self.address.expose())
            .map_err(|_| address(format!("the {name} address is not an absolute URL")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(address(format!("the {name} address must be http(s)")));
        }
        if self.kind == ProviderType::GenericHmac && self.token().is_empty() {
            return Err(secret(
                "generic-hmac needs a `token` key in the Secret (the HMAC key)".into(),
            ));
        }
        Ok(())
    }

    /// The token, password when there is none (as Flux does for the forges).
    pub(crate) fn token(&self) -> &str {
        self.creds
            .token
            .as_ref()
            .or(self.creds.password.as_ref())
            .map_or("", Secret::expose)
    }

    /// Sends `event` (the one [`crate::flux::notification::dispatch`] produced for this
    /// Provider).
    pub async fn post(&self, event: &Event) -> Result<Sent, Error> {
        if self.kind.is_git() {
            git::post(self, event).await
        } else {
            chat::post(self, event).await
        }
    }

    pub(crate) fn fail(&self, message: impl Into<String>) -> Error {
        Error::Send {
            provider: self.provider.clone(),
            kind: self.kind.name(),
            message: message.into(),
        }
    }

    /// [`Self::call`], tried again as notification-controller's chat and webhook notifiers
    /// are (go-retryablehttp with `RetryMax` 4, waits from 2 s doubling up to 30 s): after a
    /// connection error, a 429 or a 5xx other than 501, up to 4 more times; a 429's or a 503's
    /// `Retry-After` is the wait when it gives one (see [`retry_wait`]).
    pub(crate) async fn call_retrying(
        &self,
        what: &str,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, String), Error> {
        let mut wait = crate::net::Backoff::new(RETRY_WAIT.0, RETRY_WAIT.1);
        let mut tries = 0;
        loop {
            let answer = self
                .exchange(what, method.clone(), url, headers, body.clone())
                .await;
            let again = match &answer {
                Ok(a) => {
                    a.status == StatusCode::TOO_MANY_REQUESTS
                        || (a.status.is_server_error() && a.status != StatusCode::NOT_IMPLEMENTED)
                }
                Err(Error::Unreachable { .. }) => true,
                Err(_) => false,
            };
            if !again || tries == RETRY_MAX {
                return answer.map(|a| (a.status, a.body));
            }
            tries += 1;
            let doubling = wait.next_delay();
            let delay = match &answer {
                Ok(a) => retry_wait(a.status, a.retry_after.as_deref(), jiff::Timestamp::now())
                    .unwrap_or(doubling),
                Err(_) => doubling,
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// One request; the status and body of the answer. `what` names the call in errors (the URL
    /// is not printed: it can carry a credential).
    pub(crate) async fn call(
        &self,
        what: &str,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, String), Error> {
        let a = self.exchange(what, method, url, headers, body).await?;
        Ok((a.status, a.body))
    }

    /// One request, and the answer.
    async fn exchange(
        &self,
        what: &str,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, Error> {
        // A later header replaces an earlier one of the same name, as Go's `Header.Set` does
        // (the Secret's `headers` may replace `Content-Type`).
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes());
            let value = reqwest::header::HeaderValue::from_str(v);
            let (Ok(name), Ok(value)) = (name, value) else {
                return Err(self.fail(format!("`{k}` is not a valid HTTP header")));
            };
            map.insert(name, value);
        }
        let mut req = self.client.request(method, url).headers(map);
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.map_err(|e| Error::Unreachable {
            provider: self.provider.clone(),
            kind: self.kind.name(),
            message: format!("{what}: {}", e.without_url()),
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    /// A failed answer as an error: its status and the start of its body.
    pub(crate) fn refused(&self, what: &str, status: StatusCode, body: &str) -> Error {
        self.fail(format!(
            "{what}: request failed with status code {}: {}",
            status.as_u16(),
            crate::report::forge::truncate(body.trim(), 300)
        ))
    }
}

/// An answer: its status, its `Retry-After` header and its body.
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: String,
}

/// The wait a 429 or a 503 asks for with `Retry-After` (seconds, or an HTTP date, none once
/// past), read as go-retryablehttp's `DefaultBackoff` reads it; `None` for another answer, or
/// a header it cannot read (the doubling wait then).
fn retry_wait(
    status: StatusCode,
    retry_after: Option<&str>,
    now: jiff::Timestamp,
) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let header = retry_after.filter(|h| !h.is_empty())?;
    if let Ok(seconds) = header.parse::<i64>() {
        return u64::try_from(seconds).ok().map(Duration::from_secs);
    }
    let at = jiff::fmt::rfc2822::parse(header).ok()?.timestamp();
    Some(now.duration_until(at).try_into().unwrap_or(Duration::ZERO))
}

/// The credentials in a Provider's Secret, as Flux reads them (`extractAuthFromSecret`).
fn credentials(secret: Option<&Value>) -> Result<Credentials, String> {
    let get = |k: &str| field(secret, &[k]);
    if get("address").is_some_and(|a| a.len() > 2048) {
        return Err(
            "invalid address in secret: address exceeds maximum length of 2048 bytes".into(),
        );
    }
    let mut headers = BTreeMap::new();
    if let Some(h) = get("headers") {
        let map: BTreeMap<String, String> = serde_yaml::from_str(&h).map_err(|_| {
            "the `headers` key is not a YAML map of header names to values".to_owned()
        })?;
        headers = map.into_iter().map(|(k, v)| (k, Secret::new(v))).collect();
    }
    let (user, pass) = (get("username"), get("password"));
    Ok(Credentials {
        token: get("token").map(|t| Secret::new(t.trim())),
        username: user.filter(|u| !u.is_empty()),
        password: pass.filter(|p| !p.is_empty()).map(Secret::new),
        headers,
    })
}

/// The HTTP client: the Provider's timeout, its proxy (`proxySecretRef`, else the Secret's
/// deprecated `proxy` key, else `spec.proxy`), and its certificates.
fn client(
    p: &Provider,
    s: &ProviderSecrets<'_>,
) -> Result<reqwest::Client, (&'static str, String)> {
    let mut b = http_client_builder(p.timeout, false);
    let proxy = proxy(p, s)?;
    if let Some(px) = proxy {
        b = b.proxy(px);
    }
    // A forge's `secretRef` serves as `certSecretRef` when it has a `ca.crt` (as in Flux).
    let git_ca = p.kind.is_git() && field(s.secret, &["ca.crt"]).is_some();
    let certs = s.cert.or(if git_ca { s.secret } else { None });
    let origin = if s.cert.is_some() {
        "spec.certSecretRef"
    } else {
        "spec.secretRef"
    };
    let ca = field(certs, &["ca.crt", "caFile"]);
    if let Some(ca) = &ca {
        let certs = reqwest::Certificate::from_pem_bundle(ca.as_bytes())
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or((origin, "`ca.crt` holds no PEM certificate".to_owned()))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    let pair = (
        field(certs, &["tls.crt", "certFile"]),
        field(certs, &["tls.key", "keyFile"]),
    );
    if let (Some(crt), Some(key)) = pair {
        let id = reqwest::Identity::from_pem(format!("{crt}\n{key}").as_bytes()).map_err(|_| {
            let m = "`tls.crt`/`tls.key` are not a PEM certificate and key";
            (origin, m.to_owned())
        })?;
        b = b.identity(id);
    } else if s.cert.is_some() && ca.is_none() {
        let m = "has neither `ca.crt` nor `tls.crt` and `tls.key`";
        return Err((origin, m.into()));
    }
    b.build()
        .map_err(|e| ("spec", format!("cannot build an HTTP client: {e}")))
}

fn proxy(
    p: &Provider,
    s: &ProviderSecrets<'_>,
) -> Result<Option<reqwest::Proxy>, (&'static str, String)> {
    let (field, address) = if let Some(ps) = s.proxy {
        let a = secret_field(ps, "address")
            .ok_or(("spec.proxySecretRef", "has no `address` key".to_owned()))?;
        ("spec.proxySecretRef", a)
    } else if let Some(a) = field(s.secret, &["proxy"]) {
        ("spec.secretRef", a.trim().to_owned())
    } else if let Some(a) = &p.proxy {
        ("spec.proxy", a.clone())
    } else {
        return Ok(None);
    };
    let mut px = reqwest::Proxy::all(&address)
        .map_err(|_| (field, "the proxy address is not a URL".to_owned()))?;
    if let (Some(ps), true) = (s.proxy, field == "spec.proxySecretRef")
        && let (Some(u), Some(pw)) = (secret_field(ps, "username"), secret_field(ps, "password"))
    {
        px = px.basic_auth(&u, &pw);
    }
    Ok(Some(px))
}

#[cfg(test)]
mod tests;
