//! `revision`: when a Deployment has a new revision.
//!
//! A revision is a sha256 over the canonical JSON of the pod template together with the
//! ConfigMaps and Secrets it references (Flagger's config tracker rules: volumes, projected
//! sources, `env[].valueFrom` and `envFrom` of containers and initContainers; `optional`
//! references may be missing; only the Secret types Flagger tracks; the
//! `flagger.app/config-tracking: disabled` opt-out). Map key order, whitespace and YAML style
//! never change a revision: `serde_json` maps are sorted by key, so equal values serialise to
//! equal bytes (canonical JSON). Config data comes from the rendered Git objects first and from the
//! cluster for objects Git does not hold. Secret data enters the hash only through HMAC-SHA256
//! with a per-installation key, so a published revision id cannot be used to test guesses of a
//! Secret's value. Pure: no I/O.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::keys::CONFIG_TRACKING_OPT_OUT;

pub use crate::ids::RevisionId;

/// Secret types Flagger tracks; others (registry credentials, tokens) are ignored.
const TRACKED_SECRET_TYPES: &[&str] = &[
    "Opaque",
    "kubernetes.io/basic-auth",
    "kubernetes.io/ssh-auth",
    "kubernetes.io/tls",
];

/// The key Secret data is hashed with.
#[derive(Clone)]
pub struct HashKey(Vec<u8>);

impl HashKey {
    #[must_use]
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The installation's key kept in a file (the simulated cluster's state directory): read
    /// when it exists, otherwise 32 random bytes written atomically with mode 0600.
    pub fn load_or_create(path: &std::path::Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() >= 16 => return Ok(Self(bytes)),
            Ok(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} holds fewer than 16 bytes; remove it to make a new key",
                        path.display()
                    ),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let key: [u8; 32] = rand::random();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&key)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        Ok(Self(key.to_vec()))
    }

    /// The key `fledge hash` uses offline, where every Secret it sees comes from the repository
    /// itself (and so is no secret from whoever runs it). The daemon uses a per-installation key.
    #[must_use]
    pub fn offline() -> Self {
        Self(b"fledge offline revision key".to_vec())
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ConfigKind {
    ConfigMap,
    Secret,
}

impl fmt::Display for ConfigKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ConfigMap => "configmap",
            Self::Secret => "secret",
        })
    }
}

/// A reference from a pod template to a ConfigMap or Secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigRef {
    pub kind: ConfigKind,
    pub name: String,
    /// True when every reference to it is `optional: true`.
    pub optional: bool,
}

/// Where a tracked config's data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigOrigin {
    Git,
    Cluster,
}

/// A config that is part of a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackedConfig {
    pub kind: ConfigKind,
    pub name: String,
    /// sha256 of the ConfigMap's data, or HMAC-SHA256 of the Secret's: never the data.
    pub digest: String,
    pub origin: ConfigOrigin,
}

/// The hashing revisions are made with. A release records it in its status; when fledge's
/// hashing changes, the id the previous hashing gives is kept beside each revision
/// ([`Revision::legacy`]), so that an upgrade of fledge, which changes no workload, starts no
/// rollout: a release whose recorded revision is the legacy id of Git's is the same revision.
///
/// 1. Secrets hashed as written (`data` and `stringData` apart).
/// 2. Secrets hashed as the API server holds them (`stringData` folded into `data`).
pub const SCHEME: u32 = 2;

/// A workload's revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    pub id: RevisionId,
    pub configs: Vec<TrackedConfig>,
    /// The id the previous scheme ([`SCHEME`] − 1) gives the same workload, when it differs.
    #[serde(skip)]
    pub legacy: Option<RevisionId>,
}

impl Revision {
    /// Whether `id` names this revision, under this scheme or the previous one.
    #[must_use]
    pub fn is(&self, id: &str) -> bool {
        self.id.0 == id || self.legacy.as_ref().is_some_and(|l| l.0 == id)
    }
}

/// Config objects fledge cannot find in Git (the live cluster, in the daemon).
pub trait ConfigSource {
    /// The object, if it exists.
    fn get(&self, kind: ConfigKind, namespace: &str, name: &str) -> Option<Value>;
}

/// Why a revision cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "{workload}: {kind} `{name}` is referenced (not optional) but neither Git nor the cluster has it"
    )]
    MissingConfig {
        workload: String,
        kind: ConfigKind,
        name: String,
    },
    #[error("{workload}: no pod template at spec.template")]
    NoTemplate { workload: String },
    /// A Secret the API server would refuse (its values are never quoted).
    #[error("{workload}: Secret `{name}`: {}", problems.join("; "))]
    InvalidSecret {
        workload: String,
        name: String,
        problems: Vec<String>,
    },
}

/// The references a pod template makes, deduplicated (a reference is optional only when every
/// use of it is).
#[must_use]
pub fn config_refs(template: &Value) -> Vec<ConfigRef> {
    let mut found: Vec<ConfigRef> = Vec::new();
    for slot in config_slots(template) {
        let Some(at) = template.pointer(&slot.pointer) else {
            continue;
        };
        let Some(name) = at[slot.name_field].as_str().filter(|n| !n.is_empty()) else {
            continue;
        };
        let optional = at["optional"].as_bool().unwrap_or(false);
        match found
            .iter_mut()
            .find(|r| r.kind == slot.kind && r.name == name)
        {
            Some(r) => r.optional &= optional,
            None => found.push(ConfigRef {
                kind: slot.kind,
                name: name.to_owned(),
                optional,
            }),
        }
    }
    found.sort();
    found
}

/// A place in a pod template that names a ConfigMap or Secret: the object at `pointer` (a JSON
/// pointer into the template) names it in its field `name_field` (`name`, or `secretName` on a
/// secret volume). Flagger's config tracker reads exactly these: volumes, projected sources,
/// `env[].valueFrom` and `envFrom` of containers and initContainers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub kind: ConfigKind,
    pub pointer: String,
    pub name_field: &'static str,
}

/// Every slot of a pod template, in the order Flagger reads them: the one walk the revision
/// hash (which configs) and the primary builder (which names to rename) share.
#[must_use]
pub fn config_slots(template: &Value) -> Vec<Slot> {
    let mut out = Vec::new();
    let mut at = |kind, pointer: String, name_field| {
        out.push(Slot {
            kind,
            pointer,
            name_field,
        });
    };
    let spec = &template["spec"];
    for (i, v) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        let base = format!("/spec/volumes/{i}");
        at(ConfigKind::ConfigMap, format!("{base}/configMap"), "name");
        at(ConfigKind::Secret, format!("{base}/secret"), "secretName");
        let sources = v["projected"]["sources"].as_array().into_iter().flatten();
        for j in 0..sources.count() {
            let base = format!("{base}/projected/sources/{j}");
            at(ConfigKind::ConfigMap, format!("{base}/configMap"), "name");
            at(ConfigKind::Secret, format!("{base}/secret"), "name");
        }
    }
    for list in ["containers", "initContainers"] {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            let base = format!("/spec/{list}/{i}");
            for j in 0..c["env"].as_array().map_or(0, Vec::len) {
                let from = format!("{base}/env/{j}/valueFrom");
                at(
                    ConfigKind::ConfigMap,
                    format!("{from}/configMapKeyRef"),
                    "name",
                );
                at(ConfigKind::Secret, format!("{from}/secretKeyRef"), "name");
            }
            for j in 0..c["envFrom"].as_array().map_or(0, Vec::len) {
                let from = format!("{base}/envFrom/{j}");
                at(
                    ConfigKind::ConfigMap,
                    format!("{from}/configMapRef"),
                    "name",
                );
                at(ConfigKind::Secret, format!("{from}/secretRef"), "name");
            }
        }
    }
    out
}

impl ConfigKind {
    /// The object's `kind`.
    #[must_use]
    pub fn kind(self) -> &'static str {
        match self {
            Self::ConfigMap => "ConfigMap",
            Self::Secret => "Secret",
        }
    }
}

fn effective_ns(ns: &str) -> &str {
    if ns.is_empty() { "default" } else { ns }
}

/// The rendered ConfigMaps and Secrets by kind, namespace and name, built once for many
/// workloads.
#[derive(Debug, Default)]
pub struct ConfigIndex<'a> {
    by_id: std::collections::HashMap<(ConfigKind, &'a str, &'a str), &'a Value>,
}

impl<'a> ConfigIndex<'a> {
    #[must_use]
    pub fn new(objects: &'a [Value]) -> Self {
        let mut by_id = std::collections::HashMap::new();
        for o in objects.iter().filter(|o| o["apiVersion"] == "v1") {
            let kind = match o["kind"].as_str() {
                Some("ConfigMap") => ConfigKind::ConfigMap,
                Some("Secret") => ConfigKind::Secret,
                _ => continue,
            };
            let ns = effective_ns(o["metadata"]["namespace"].as_str().unwrap_or(""));
            if let Some(name) = o["metadata"]["name"].as_str() {
                by_id.insert((kind, ns, name), o);
            }
        }
        Self { by_id }
    }

    /// The config of `kind` named `namespace`/`name`.
    #[must_use]
    pub fn get(&self, kind: ConfigKind, namespace: &str, name: &str) -> Option<&'a Value> {
        self.by_id
            .get(&(kind, effective_ns(namespace), name))
            .copied()
    }
}

fn opted_out(obj: &Value) -> bool {
    CONFIG_TRACKING_OPT_OUT.iter().any(|a| {
        obj["metadata"]["annotations"][a]
            .as_str()
            .is_some_and(|v| v.starts_with("disable"))
    })
}

fn secret_tracked(obj: &Value) -> bool {
    let t = obj["type"].as_str().unwrap_or("Opaque");
    TRACKED_SECRET_TYPES.contains(&t)
}

/// What a config's digest covers, serialised without copying (fields in sorted order, so the
/// JSON is canonical).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigMapPayload<'a> {
    binary_data: Option<&'a Value>,
    data: Option<&'a Value>,
}

#[derive(Serialize)]
struct SecretPayload<'a> {
    data: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<&'a Value>,
}

/// What scheme 1 hashed of a Secret: `data` and `stringData` as written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretPayloadV1<'a> {
    data: Option<&'a Value>,
    string_data: Option<&'a Value>,
    #[serde(rename = "type")]
    kind: Option<&'a Value>,
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON values always serialise")
}

fn digest(kind: ConfigKind, obj: &Value, key: &HashKey) -> String {
    match kind {
        ConfigKind::ConfigMap => {
            let payload = ConfigMapPayload {
                binary_data: obj.get("binaryData"),
                data: obj.get("data"),
            };
            hex::encode(Sha256::digest(to_json(&payload)))
        }
        ConfigKind::Secret => {
            let payload = SecretPayload {
                data: crate::object::secret_data(obj),
                kind: obj.get("type"),
            };
            hmac(key, &to_json(&payload))
        }
    }
}

fn hmac(key: &HashKey, bytes: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0).expect("HMAC takes keys of any length");
    mac.update(bytes);
    hex::encode(mac.finalize().into_bytes())
}

/// A Secret's digest under scheme 1.
fn secret_digest_v1(obj: &Value, key: &HashKey) -> String {
    let payload = SecretPayloadV1 {
        data: obj.get("data"),
        string_data: obj.get("stringData"),
        kind: obj.get("type"),
    };
    hmac(key, &to_json(&payload))
}

#[derive(Serialize)]
struct TrackedPayload<'a> {
    digest: &'a str,
    kind: String,
    name: &'a str,
}

#[derive(Serialize)]
struct RevisionPayload<'a> {
    configs: Vec<TrackedPayload<'a>>,
    template: &'a Value,
}

/// The revision of a workload (Deployment or DaemonSet) among the rendered `objects`.
pub fn revision(
    workload: &Value,
    objects: &[Value],
    cluster: Option<&dyn ConfigSource>,
    key: &HashKey,
) -> Result<Revision, Error> {
    revision_in(workload, &ConfigIndex::new(objects), cluster, key)
}

/// The revision of a workload's template alone, whatever configs it references (a Knative
/// Service's: Knative makes its revisions from the template only).
pub fn template_revision(workload: &Value) -> Result<Revision, Error> {
    let template = workload["spec"]
        .get("template")
        .filter(|t| t.is_object())
        .ok_or_else(|| Error::NoTemplate {
            workload: format!(
                "{}/{}",
                workload["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default"),
                workload["metadata"]["name"].as_str().unwrap_or("")
            ),
        })?;
    let payload = RevisionPayload {
        configs: Vec::new(),
        template,
    };
    Ok(Revision {
        id: RevisionId(hex::encode(Sha256::digest(to_json(&payload)))),
        configs: Vec::new(),
        legacy: None,
    })
}

/// The revision of an object's `spec` alone (a core Service target's, whose spec Flagger's
/// ServiceController tracks).
#[must_use]
pub fn spec_revision(obj: &Value) -> Revision {
    let payload = RevisionPayload {
        configs: Vec::new(),
        template: &obj["spec"],
    };
    Revision {
        id: RevisionId(hex::encode(Sha256::digest(to_json(&payload)))),
        configs: Vec::new(),
        legacy: None,
    }
}

/// [`revision`] with the rendered configs already indexed (for many workloads at once).
pub fn revision_in(
    workload: &Value,
    index: &ConfigIndex<'_>,
    cluster: Option<&dyn ConfigSource>,
    key: &HashKey,
) -> Result<Revision, Error> {
    let name = workload["metadata"]["name"].as_str().unwrap_or("");
    let namespace = workload["metadata"]["namespace"].as_str().unwrap_or("");
    let id = format!(
        "{}/{}",
        if namespace.is_empty() {
            "default"
        } else {
            namespace
        },
        name
    );
    let template = workload["spec"]
        .get("template")
        .filter(|t| t.is_object())
        .ok_or(Error::NoTemplate {
            workload: id.clone(),
        })?;
    let mut configs = Vec::new();
    // The digests under the previous scheme, where they differ (Secrets).
    let mut legacy_digests = Vec::new();
    for r in config_refs(template) {
        let (obj, origin) = match index.get(r.kind, namespace, &r.name) {
            Some(o) => (std::borrow::Cow::Borrowed(o), ConfigOrigin::Git),
            None => match cluster.and_then(|c| c.get(r.kind, namespace, &r.name)) {
                Some(o) => (std::borrow::Cow::Owned(o), ConfigOrigin::Cluster),
                None if r.optional => continue,
                None => {
                    return Err(Error::MissingConfig {
                        workload: id,
                        kind: r.kind,
                        name: r.name,
                    });
                }
            },
        };
        if r.kind == ConfigKind::Secret {
            let problems = crate::object::secret_problems(&obj);
            if !problems.is_empty() {
                return Err(Error::InvalidSecret {
                    workload: id,
                    name: r.name,
                    problems,
                });
            }
        }
        if opted_out(&obj) || (r.kind == ConfigKind::Secret && !secret_tracked(&obj)) {
            continue;
        }
        let digest = digest(r.kind, &obj, key);
        legacy_digests.push(if r.kind == ConfigKind::Secret {
            secret_digest_v1(&obj, key)
        } else {
            digest.clone()
        });
        configs.push(TrackedConfig {
            kind: r.kind,
            name: r.name,
            digest,
            origin,
        });
    }
    let id_of = |digests: &mut dyn Iterator<Item = &String>| {
        let payload = RevisionPayload {
            configs: configs
                .iter()
                .zip(digests)
                .map(|(c, digest)| TrackedPayload {
                    digest,
                    kind: c.kind.to_string(),
                    name: &c.name,
                })
                .collect(),
            template,
        };
        RevisionId(hex::encode(Sha256::digest(to_json(&payload))))
    };
    let id = id_of(&mut configs.iter().map(|c| &c.digest));
    let legacy = Some(id_of(&mut legacy_digests.iter())).filter(|l| *l != id);
    Ok(Revision {
        id,
        configs,
        legacy,
    })
}

#[cfg(test)]
pub(crate) mod tests;
