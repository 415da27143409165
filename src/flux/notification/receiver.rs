//! Flux's `Receiver` (`notification.toolkit.fluxcd.io/v1`): an incoming webhook at
//! `/hook/<sha256(token + name + namespace)>` that, once verified, asks its `resources` to
//! reconcile. [`Receiver::verify`] checks a request as notification-controller v1.7.5's
//! receiver server does (`internal/server/receiver_handlers.go`), type by type; `gcr`
//! (Google-signed tokens checked online), `cdevents` (CDEvents schema validation) and
//! `resourceFilter` (CEL) are refused by name.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha512};

use super::read_spec;
use crate::flux::kustomization::LocalRef;
use crate::flux::{FluxError, Id, duration};
use crate::net::Secret;

/// A Receiver's `spec.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverType {
    Generic,
    GenericHmac,
    GitHub,
    GitLab,
    Bitbucket,
    Harbor,
    DockerHub,
    Quay,
    Nexus,
    Acr,
}

impl ReceiverType {
    fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "generic" => Self::Generic,
            "generic-hmac" => Self::GenericHmac,
            "github" => Self::GitHub,
            "gitlab" => Self::GitLab,
            "bitbucket" => Self::Bitbucket,
            "harbor" => Self::Harbor,
            "dockerhub" => Self::DockerHub,
            "quay" => Self::Quay,
            "nexus" => Self::Nexus,
            "acr" => Self::Acr,
            "gcr" => return Err("type `gcr` is not supported by fledge: Flux checks its Google-signed token online; use a `generic-hmac` Receiver".into()),
            "cdevents" => return Err("type `cdevents` is not supported by fledge: it needs CDEvents schema validation; use a `generic-hmac` Receiver".into()),
            other => return Err(format!("`{other}` is not a Receiver type (generic, generic-hmac, github, gitlab, bitbucket, harbor, dockerhub, quay, nexus, acr)")),
        })
    }
}

/// A resource a Receiver asks to reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    #[serde(default)]
    pub api_version: Option<String>,
    pub kind: String,
    /// A name, or `*` with `matchLabels`.
    pub name: String,
    /// The Receiver's namespace when unset.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub match_labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    events: Vec<String>,
    resources: Vec<Resource>,
    #[serde(default)]
    resource_filter: Option<String>,
    secret_ref: LocalRef,
    #[serde(default)]
    suspend: bool,
}

/// The largest body Flux's receiver server reads (3 MiB); the route should refuse larger ones
/// before reading them whole, and [`Receiver::verify`] refuses them too.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// A Flux Receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    pub id: Id,
    pub kind: ReceiverType,
    /// Event types let through (`push`, `Push Hook`, …), compared without case; all when empty.
    pub events: Vec<String>,
    pub resources: Vec<Resource>,
    /// The Secret whose `token` key signs and names the hook.
    pub secret_ref: String,
    pub suspend: bool,
    /// Fields accepted without effect, each with why.
    pub warnings: Vec<String>,
}

/// Why a request is refused (never containing the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("receiver {receiver}: {reason}")]
pub struct Refused {
    pub receiver: String,
    pub reason: String,
    /// The Receiver is suspended (not the request's fault).
    pub suspended: bool,
}

impl Refused {
    /// The HTTP status Flux answers with: 503 for a suspended Receiver, 400 for a request that
    /// does not verify.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        if self.suspended { 503 } else { 400 }
    }
}

/// What a verified request was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The event type the sender named (`push`, `ping`, `Push Hook`, …), when it names one.
    pub event: Option<String>,
}

impl Receiver {
    /// Reads a `notification.toolkit.fluxcd.io/v1` Receiver; the error names the object and the
    /// field.
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        let (id, spec): (Id, Spec) = read_spec(object, "Receiver", "v1")?;
        let kind = ReceiverType::parse(&spec.kind).map_err(|m| id.error("spec.type", m))?;
        if spec
            .resource_filter
            .as_deref()
            .is_some_and(|f| !f.is_empty())
        {
            return Err(id.error("spec.resourceFilter", "CEL expressions are not evaluated by fledge; select the resources by name or matchLabels instead"));
        }
        let mut warnings = Vec::new();
        if let Some(i) = &spec.interval {
            duration(&id, "spec.interval", i)?;
            warnings.push(format!("{id}: spec.interval has no effect in fledge: the token is read from the Secret at each request"));
        }
        Ok(Self {
            kind,
            events: spec.events,
            resources: spec.resources,
            secret_ref: spec.secret_ref.name,
            suspend: spec.suspend,
            warnings,
            id,
        })
    }

    /// The path Flux serves the Receiver at (`status.webhookPath`):
    /// `/hook/` + hex sha256 of token, name and namespace concatenated.
    #[must_use]
    pub fn webhook_path(&self, token: &Secret) -> String {
        let mut h = Sha256::new();
        h.update(token.expose().as_bytes());
        h.update(self.id.name.as_bytes());
        h.update(self.id.namespace.as_bytes());
        format!("/hook/{}", hex::encode(h.finalize()))
    }

    fn refuse(&self, reason: impl Into<String>) -> Refused {
        Refused {
            receiver: self.id.to_string(),
            reason: reason.into(),
            suspended: false,
        }
    }

    /// Checks a request to the Receiver's path: `token` is the Secret's `token` value, headers
    /// as received (names in any case), `body` the raw bytes. A suspended Receiver refuses all.
    pub fn verify(
        &self,
        token: &Secret,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Verified, Refused> {
        if self.suspend {
            return Err(Refused {
                suspended: true,
                ..self.refuse("is suspended")
            });
        }
        if body.len() > MAX_BODY_BYTES {
            return Err(self.refuse(format!(
                "request body exceeds the maximum size of {MAX_BODY_BYTES} bytes"
            )));
        }
        let key = token.expose().as_bytes();
        let h = |name: &str| header(headers, name);
        let event = match self.kind {
            ReceiverType::Generic => None,
            ReceiverType::GenericHmac => {
                signature(h("X-Signature").unwrap_or(""), body, key)
                    .map_err(|e| self.refuse(format!("unable to validate HMAC signature: {e}")))?;
                None
            }
            ReceiverType::GitHub | ReceiverType::Bitbucket => {
                github_payload(headers, body, key).map_err(|e| self.refuse(e))?;
                let name = if self.kind == ReceiverType::GitHub {
                    "X-GitHub-Event"
                } else {
                    "X-Event-Key"
                };
                Some(self.allowed(h(name).unwrap_or(""))?)
            }
            ReceiverType::GitLab => {
                if h("X-Gitlab-Token") != Some(token.expose()) {
                    return Err(self.refuse(
                        "the X-Gitlab-Token header value does not match the receiver token",
                    ));
                }
                Some(self.allowed(h("X-Gitlab-Event").unwrap_or(""))?)
            }
            ReceiverType::Harbor => {
                if h("Authorization") != Some(token.expose()) {
                    return Err(self.refuse(
                        "the Harbor Authorization header value does not match the receiver token",
                    ));
                }
                None
            }
            _ => self.registry(h, body, key)?,
        };
        Ok(Verified { event })
    }

    /// Quay, Docker Hub and ACR: the payload must decode; Nexus: an HMAC-SHA1 of the body.
    fn registry<'h>(
        &self,
        h: impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
        key: &[u8],
    ) -> Result<Option<String>, Refused> {
        if self.kind == ReceiverType::Nexus {
            let sig = h("X-Nexus-Webhook-Signature").unwrap_or("");
            if sig.is_empty() {
                return Err(self.refuse("the Nexus signature is missing from header"));
            }
            if !mac_matches::<Hmac<sha1::Sha1>>(key, body, sig) {
                return Err(self.refuse("invalid Nexus signature"));
            }
        }
        serde_json::from_slice::<Value>(body)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| self.refuse("cannot decode the webhook payload as a JSON object"))?;
        Ok(None)
    }

    /// `event` when `spec.events` lets it through (all do when the list is empty).
    fn allowed(&self, event: &str) -> Result<String, Refused> {
        if self.events.is_empty() || self.events.iter().any(|e| e.eq_ignore_ascii_case(event)) {
            Ok(event.to_owned())
        } else {
            Err(self.refuse(format!("the event {event:?} is not authorised")))
        }
    }
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether `hex_sig` is the hex MAC of `body` under `key` (compared in constant time).
fn mac_matches<M: Mac + KeyInit>(key: &[u8], body: &[u8], hex_sig: &str) -> bool {
    let Ok(want) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else {
        return false;
    };
    m.update(body);
    m.verify_slice(&want).is_ok()
}

/// go-github's `ValidateSignature`: `sha1=`, `sha256=` or `sha512=` then the hex HMAC of the
/// body keyed with the token.
fn signature(sig: &str, body: &[u8], key: &[u8]) -> Result<(), String> {
    let Some((alg, hex_sig)) = sig.split_once('=') else {
        return Err("missing or malformed signature header".into());
    };
    let ok = match alg {
        "sha1" => mac_matches::<Hmac<sha1::Sha1>>(key, body, hex_sig),
        "sha256" => mac_matches::<Hmac<Sha256>>(key, body, hex_sig),
        "sha512" => mac_matches::<Hmac<Sha512>>(key, body, hex_sig),
        other => return Err(format!("unknown signature algorithm `{other}`")),
    };
    if ok {
        Ok(())
    } else {
        Err("payload signature check failed".into())
    }
}

/// go-github's `ValidatePayload`: a JSON or form-encoded body whose `X-Hub-Signature-256`
/// (else `X-Hub-Signature`) is its HMAC under the token. Unlike go-github, an empty token is
/// refused rather than skipping the check.
fn github_payload(headers: &[(String, String)], body: &[u8], key: &[u8]) -> Result<(), String> {
    let ct = header(headers, "Content-Type").unwrap_or("");
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "application/json" && media != "application/x-www-form-urlencoded" {
        return Err(format!(
            "webhook request has unsupported Content-Type {ct:?}"
        ));
    }
    if key.is_empty() {
        return Err("the Secret's token is empty; a signed webhook needs a token".into());
    }
    let sig = header(headers, "X-Hub-Signature-256")
        .filter(|s| !s.is_empty())
        .or_else(|| header(headers, "X-Hub-Signature"))
        .unwrap_or("");
    signature(sig, body, key).map_err(|e| format!("the signature header is invalid: {e}"))
}
