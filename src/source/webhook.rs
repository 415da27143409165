//! Forge webhooks that wake the poller: GitHub (`X-Hub-Signature-256`), Gitea
//! (`X-Gitea-Signature`), GitLab (`X-Gitlab-Token`) and generic HMAC (`X-Signature:
//! sha1|sha256|sha512=<hex>`). Signatures are compared in constant time; a missing or wrong
//! signature, a replayed body (whatever its unsigned headers say) and a body over 1 MiB are
//! refused; refusals are logged at most once a second, with a count of those not logged. A
//! webhook never carries data into fledge: it only says "poll now", and the poll reads the
//! repository itself.
//!
//! A receiver exists only with non-empty secrets: a signature under an empty key proves
//! nothing, since anyone can make one.
//!
//! Replays are refused by content, across restarts: the last [`REMEMBERED`] accepted
//! deliveries are kept in a record file (a digest each, rewritten atomically before a delivery
//! is answered), which the daemon keeps in its cache directory. None of the forges fledge
//! serves signs a time, so freshness cannot be bounded by a timestamp instead: GitHub's
//! `X-Hub-Signature-256` and Gitea's `X-Gitea-Signature` are HMACs of the body alone, GitLab's
//! `X-Gitlab-Token` is the secret itself and signs nothing, and the delivery ids they send
//! (`X-GitHub-Delivery`, `X-Gitea-Delivery`, GitLab's `Idempotency-Key`) are unsigned. (GitLab
//! is adding an optional signing token after the Standard Webhooks scheme, which signs
//! `webhook-id.webhook-timestamp.body`; fledge does not read it yet.)

use std::collections::{HashSet, VecDeque};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};
use tokio::sync::Notify;

use crate::net::Secret;

/// Largest accepted body.
pub const MAX_BODY: usize = 1 << 20;

/// How many recent deliveries are remembered to refuse replays (their record file holds a
/// 32-byte digest each: 128 KiB at most).
pub const REMEMBERED: usize = 4096;

/// A forge that can call fledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    Gitea,
    GitLab,
    Generic,
}

impl Provider {
    /// The provider for a `/hooks/<name>` path segment.
    #[must_use]
    pub fn from_path(name: &str) -> Option<Self> {
        Some(match name {
            "github" => Self::GitHub,
            "gitea" | "forgejo" => Self::Gitea,
            "gitlab" => Self::GitLab,
            "generic" => Self::Generic,
            _ => return None,
        })
    }
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("malformed {0} header")]
    Malformed(&'static str),
    #[error("signature does not match")]
    BadSignature,
    #[error("this delivery was already received")]
    Replay,
    #[error("the webhook secret is empty")]
    EmptySecret,
}

/// Why a [`Receiver`] cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error(
        "the {0} webhook secret is empty: anyone can sign with an empty key; give it a random value"
    )]
    EmptySecret(&'static str),
    #[error("cannot read the record of received webhooks {}", .path.display())]
    ReadRecord {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is not a record of received webhooks (its length is not a multiple of 32 bytes); delete it to start a new one",
        .path.display()
    )]
    BadRecord { path: PathBuf },
}

fn mac_ok<M: Mac + KeyInit>(
    secret: &Secret,
    body: &[u8],
    expected_hex: &str,
    header: &'static str,
) -> Result<(), Refusal> {
    let expected = hex::decode(expected_hex.trim()).map_err(|_| Refusal::Malformed(header))?;
    let mut mac = <M as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .map_err(|_| Refusal::BadSignature)?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| Refusal::BadSignature)
}

fn header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, Refusal> {
    headers
        .get(name)
        .ok_or(Refusal::Missing(name))?
        .to_str()
        .map_err(|_| Refusal::Malformed(name))
}

/// Checks a request's signature as the provider documents it.
pub fn verify(
    provider: Provider,
    secret: &Secret,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Refusal> {
    // Anyone can sign with an empty key (and send an empty GitLab token).
    if secret.expose().is_empty() {
        return Err(Refusal::EmptySecret);
    }
    match provider {
        Provider::GitHub => {
            const H: &str = "x-hub-signature-256";
            let value = header(headers, H)?;
            let hex = value.strip_prefix("sha256=").ok_or(Refusal::Malformed(H))?;
            mac_ok::<Hmac<Sha256>>(secret, body, hex, H)
        }
        Provider::Gitea => {
            const H: &str = "x-gitea-signature";
            mac_ok::<Hmac<Sha256>>(secret, body, header(headers, H)?, H)
        }
        Provider::GitLab => {
            const H: &str = "x-gitlab-token";
            let token = header(headers, H)?;
            // GitLab sends the secret itself. Compare keyed digests of both, so the comparison
            // is constant-time and independent of the token's length.
            let digest = |v: &str| -> Result<_, Refusal> {
                let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
                    .map_err(|_| Refusal::BadSignature)?;
                m.update(v.as_bytes());
                Ok(m)
            };
            let expected = digest(secret.expose())?.finalize().into_bytes();
            digest(token)?
                .verify_slice(&expected)
                .map_err(|_| Refusal::BadSignature)
        }
        Provider::Generic => {
            const H: &str = "x-signature";
            let value = header(headers, H)?;
            let (algo, hex) = value.split_once('=').ok_or(Refusal::Malformed(H))?;
            match algo {
                "sha1" => mac_ok::<Hmac<sha1::Sha1>>(secret, body, hex, H),
                "sha256" => mac_ok::<Hmac<Sha256>>(secret, body, hex, H),
                "sha512" => mac_ok::<Hmac<Sha512>>(secret, body, hex, H),
                _ => Err(Refusal::Malformed(H)),
            }
        }
    }
}

/// The secrets per provider; a provider without a secret is not served.
#[derive(Debug, Clone, Default)]
pub struct HookSecrets {
    pub github: Option<Secret>,
    pub gitea: Option<Secret>,
    pub gitlab: Option<Secret>,
    pub generic: Option<Secret>,
}

impl HookSecrets {
    /// Every configured secret, with its forge's name.
    fn configured(&self) -> impl Iterator<Item = (&'static str, &Secret)> {
        [
            ("GitHub", self.github.as_ref()),
            ("Gitea", self.gitea.as_ref()),
            ("GitLab", self.gitlab.as_ref()),
            ("generic", self.generic.as_ref()),
        ]
        .into_iter()
        .filter_map(|(name, s)| Some((name, s?)))
    }

    fn get(&self, p: Provider) -> Option<&Secret> {
        match p {
            Provider::GitHub => self.github.as_ref(),
            Provider::Gitea => self.gitea.as_ref(),
            Provider::GitLab => self.gitlab.as_ref(),
            Provider::Generic => self.generic.as_ref(),
        }
    }
}

/// A delivery's identity: the digest of what its signature covers.
type Key = [u8; 32];

/// Recently accepted deliveries, to refuse a request replayed verbatim; kept in `record` (when
/// set) so that a restart remembers them.
#[derive(Debug, Default)]
struct Seen {
    order: VecDeque<Key>,
    set: HashSet<Key>,
    record: Option<PathBuf>,
}

impl Seen {
    /// The deliveries `record` remembers (none when it does not exist yet).
    fn load(record: PathBuf) -> Result<Self, ReceiverError> {
        let bytes = match std::fs::read(&record) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(ReceiverError::ReadRecord {
                    path: record,
                    source,
                });
            }
        };
        let (keys, rest) = bytes.as_chunks::<32>();
        if !rest.is_empty() {
            return Err(ReceiverError::BadRecord { path: record });
        }
        let skip = keys.len().saturating_sub(REMEMBERED);
        let order: VecDeque<Key> = keys[skip..].iter().copied().collect();
        Ok(Self {
            set: order.iter().copied().collect(),
            order,
            record: Some(record),
        })
    }

    /// Records a delivery; false when it was seen before. The record file is written before
    /// the delivery counts as seen: when it cannot be, the delivery is not accepted.
    fn insert(&mut self, key: Key) -> std::io::Result<bool> {
        if self.set.contains(&key) {
            return Ok(false);
        }
        let evict = self.order.len() >= REMEMBERED;
        if let Some(path) = &self.record {
            let kept = self.order.iter().skip(usize::from(evict));
            write_record(path, kept.chain(std::iter::once(&key)))?;
        }
        if evict && let Some(old) = self.order.pop_front() {
            self.set.remove(&old);
        }
        self.order.push_back(key);
        self.set.insert(key);
        Ok(true)
    }
}

/// Replaces the record file with `keys`, atomically (a new file beside it, synced, renamed
/// over it): a crash leaves the old record or the new one, never a torn one.
fn write_record<'k>(
    path: &std::path::Path,
    keys: impl Iterator<Item = &'k Key>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| std::path::Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    let mut out = std::io::BufWriter::new(file.as_file_mut());
    for k in keys {
        out.write_all(k)?;
    }
    out.flush()?;
    drop(out);
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// What the receiver needs.
#[derive(Debug)]
pub struct Receiver {
    secrets: HookSecrets,
    wake: Arc<Notify>,
    seen: Mutex<Seen>,
    refusals: Throttle,
}

/// At most one log line a second, so a flood of refused requests cannot flood the log. (A few
/// lines: tracing has no rate limit of its own, and the crates that add one are not kept.)
#[derive(Debug, Default)]
struct Throttle {
    /// When the last line was allowed, and how many were held back since.
    state: Mutex<(Option<tokio::time::Instant>, u64)>,
}

impl Throttle {
    /// `Some(held back since the last line)` when a line may be logged now.
    fn allow(&self) -> Option<u64> {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = tokio::time::Instant::now();
        if s.0
            .is_some_and(|last| now.duration_since(last) < std::time::Duration::from_secs(1))
        {
            s.1 += 1;
            return None;
        }
        let held = s.1;
        *s = (Some(now), 0);
        Some(held)
    }
}

impl Receiver {
    /// A receiver that remembers deliveries while it lives (tests; a daemon keeps a record,
    /// [`Receiver::recorded`]). Refused when a configured secret is empty.
    pub fn new(secrets: HookSecrets, wake: Arc<Notify>) -> Result<Arc<Self>, ReceiverError> {
        Self::with(secrets, wake, Seen::default())
    }

    /// A receiver that keeps the deliveries it accepted in `record` (created with its
    /// directory when missing), so that a receiver started later on the same file refuses
    /// them too. Refused when a configured secret is empty or the record cannot be read.
    pub fn recorded(
        secrets: HookSecrets,
        wake: Arc<Notify>,
        record: PathBuf,
    ) -> Result<Arc<Self>, ReceiverError> {
        if let Some(dir) = record.parent() {
            std::fs::create_dir_all(dir).map_err(|source| ReceiverError::ReadRecord {
                path: record.clone(),
                source,
            })?;
        }
        Self::with(secrets, wake, Seen::load(record)?)
    }

    fn with(
        secrets: HookSecrets,
        wake: Arc<Notify>,
        seen: Seen,
    ) -> Result<Arc<Self>, ReceiverError> {
        if let Some((name, _)) = secrets.configured().find(|(_, s)| s.expose().is_empty()) {
            return Err(ReceiverError::EmptySecret(name));
        }
        Ok(Arc::new(Self {
            secrets,
            wake,
            seen: Mutex::new(seen),
            refusals: Throttle::default(),
        }))
    }

    /// Verifies one request and, when it is genuine and new, records it and wakes the poller.
    /// It may write the record file: call it where blocking is allowed.
    pub fn receive(
        &self,
        provider: Provider,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), (StatusCode, String)> {
        let Some(secret) = self.secrets.get(provider) else {
            return Err((
                StatusCode::NOT_FOUND,
                "no webhook secret is configured for this provider".into(),
            ));
        };
        verify(provider, secret, headers, body)
            .map_err(|r| (StatusCode::UNAUTHORIZED, r.to_string()))?;
        // A replay is the same signed content again: the key is what the signature covers
        // (the body; GitLab's token covers nothing, so its body too), never an unsigned header
        // such as a delivery id, which anyone replaying a captured request can change. A
        // forge's redelivery of the same push is refused as well, which costs nothing: the
        // poll it asks for happens anyway.
        let mut key = Sha256::new();
        key.update(format!("{provider:?}\n").as_bytes());
        key.update(body);
        let fresh = self
            .seen
            .lock()
            .map_err(|_| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "receiver state poisoned".to_owned(),
                )
            })?
            .insert(key.finalize().into())
            .map_err(|e| {
                // Accepting what cannot be remembered would let it be replayed after a
                // restart; the forge retries, and the next poll comes anyway.
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("cannot record the delivery: {e}"),
                )
            })?;
        if !fresh {
            return Err((StatusCode::CONFLICT, Refusal::Replay.to_string()));
        }
        tracing::debug!(?provider, "webhook accepted; waking the poller");
        self.wake.notify_one();
        Ok(())
    }
}

impl Receiver {
    /// Wakes the poller, for a webhook verified elsewhere (a Flux Receiver's).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

async fn handle(
    State(receiver): State<Arc<Receiver>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let Some(p) = Provider::from_path(&provider) else {
        return (
            StatusCode::NOT_FOUND,
            format!("unknown webhook provider `{provider}`"),
        );
    };
    // Recording a delivery writes a file: off the async workers.
    let r = receiver.clone();
    let received = tokio::task::spawn_blocking(move || r.receive(p, &headers, &body))
        .await
        .unwrap_or_else(|e| {
            Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("receiving the webhook failed: {e}"),
            ))
        });
    match received {
        Ok(()) => (StatusCode::ACCEPTED, "poll scheduled".to_owned()),
        Err((status, why)) => {
            if let Some(suppressed) = receiver.refusals.allow() {
                tracing::warn!(provider = %provider, reason = %why, suppressed, "webhook refused");
            }
            (status, why)
        }
    }
}

/// The routes the daemon mounts: `POST /hooks/<provider>`.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/hooks/{provider}", post(handle))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(receiver)
}
