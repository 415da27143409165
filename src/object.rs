//! `object`: Kubernetes objects as JSON values, and the few rules about them every stage shares —
//! an object's identity ([`ObjectKey`]), its namespace as the API server places it, lookups in a
//! rendered set ([`ObjectIndex`]), the fields the server owns, a Secret's decoded fields.
//!
//! Pure and at the bottom: it imports nothing of fledge, so the renderer, the rollout core and
//! both clusters agree on what an object is without importing one another.

use std::fmt;

use serde_json::{Value, json};

/// Kubernetes' built-in API groups: every API server serves them, and their kinds have the
/// schemas (list merge keys) that strategic merge patches follow.
pub const BUILTIN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "node.k8s.io",
    "certificates.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "events.k8s.io",
    "resource.k8s.io",
];

/// Splits an `apiVersion` into group and version (`apps/v1` → `("apps", "v1")`, `v1` →
/// `("", "v1")`).
#[must_use]
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Identifies an object: API group (empty for core), kind, namespace (empty when
/// cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    /// The key of an object value; `None` when it lacks a kind or a name.
    #[must_use]
    pub fn of(obj: &Value) -> Option<Self> {
        let api = obj["apiVersion"].as_str().unwrap_or("");
        let (group, _) = split_api_version(api);
        let kind = obj["kind"].as_str().filter(|k| !k.is_empty())?;
        let name = obj["metadata"]["name"].as_str().filter(|n| !n.is_empty())?;
        Some(Self {
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            name: name.to_owned(),
        })
    }

    /// The key of the object of `kind` in `api_version` named `namespace`/`name`.
    #[must_use]
    pub fn new(api_version: &str, kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            group: split_api_version(api_version).0.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            String::new()
        } else {
            format!(".{}", self.group)
        };
        if self.namespace.is_empty() {
            write!(f, "{}{group} {}", self.kind, self.name)
        } else {
            write!(f, "{}{group} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// An object as the API server addresses it: its `apiVersion` (the version picks the REST
/// path), kind, namespace (empty when cluster-scoped) and name. What the cluster layer reads and
/// deletes by; [`ObjectKey`] is the same object without its version, for maps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    #[must_use]
    pub fn new(api_version: &str, kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The reference of an object value; `None` when it lacks an apiVersion, kind or name.
    #[must_use]
    pub fn of(obj: &Value) -> Option<Self> {
        Some(Self::new(
            obj["apiVersion"].as_str().filter(|a| !a.is_empty())?,
            obj["kind"].as_str().filter(|k| !k.is_empty())?,
            obj["metadata"]["namespace"].as_str().unwrap_or(""),
            obj["metadata"]["name"].as_str().filter(|n| !n.is_empty())?,
        ))
    }

    /// The object's key (its group without the version).
    #[must_use]
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(&self.api_version, &self.kind, &self.namespace, &self.name)
    }

    /// The smallest object naming it, as an apply or a delete names one.
    #[must_use]
    pub fn stub(&self) -> Value {
        let mut meta = json!({"name": self.name});
        if !self.namespace.is_empty() {
            meta["namespace"] = json!(self.namespace);
        }
        json!({"apiVersion": self.api_version, "kind": self.kind, "metadata": meta})
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.key().fmt(f)
    }
}

/// An object's namespace, `default` when it has none (or an empty one), as the API server
/// places namespaced objects.
#[must_use]
pub fn namespace_or_default(o: &Value) -> &str {
    o["metadata"]["namespace"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
}

/// `obj` with `metadata.namespace` set to `ns` when it has none.
#[must_use]
pub fn with_namespace(mut obj: Value, ns: &str) -> Value {
    if obj["metadata"]["namespace"].is_null() {
        obj["metadata"]["namespace"] = json!(ns);
    }
    obj
}

/// Rendered objects found by kind, namespace (missing or empty: `default`) and name; the
/// first object wins, as a scan in order would find it. [`ObjectIndex::get_in`] finds one by
/// its API group too (a Knative Service beside a core Service of the same name).
#[derive(Debug, Default)]
pub struct ObjectIndex<'a> {
    by_name: std::collections::HashMap<(&'a str, &'a str, &'a str), &'a Value>,
    by_group: std::collections::HashMap<(&'a str, &'a str, &'a str, &'a str), &'a Value>,
}

impl<'a> ObjectIndex<'a> {
    #[must_use]
    pub fn new(objects: &'a [Value]) -> Self {
        let mut by_name = std::collections::HashMap::new();
        let mut by_group = std::collections::HashMap::new();
        for o in objects {
            let (Some(kind), Some(name)) = (o["kind"].as_str(), o["metadata"]["name"].as_str())
            else {
                continue;
            };
            let ns = namespace_or_default(o);
            by_name.entry((kind, ns, name)).or_insert(o);
            let (group, _) = split_api_version(o["apiVersion"].as_str().unwrap_or(""));
            by_group.entry((group, kind, ns, name)).or_insert(o);
        }
        Self { by_name, by_group }
    }

    /// The object, if the rendered set has it.
    #[must_use]
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<&'a Value> {
        self.by_name.get(&(kind, namespace, name)).copied()
    }

    /// The object of that API group (empty: core), if the rendered set has it.
    #[must_use]
    pub fn get_in(
        &self,
        group: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<&'a Value> {
        self.by_group.get(&(group, kind, namespace, name)).copied()
    }
}

/// The object's kind and name, for error messages.
#[must_use]
pub fn describe(value: &Value) -> String {
    let kind = value["kind"].as_str().unwrap_or("<no kind>");
    let name = value["metadata"]["name"].as_str().unwrap_or("<no name>");
    format!("{kind} {name}")
}

/// Metadata the server owns: never taken from an applied object.
const SERVER_METADATA: &[&str] = &[
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "managedFields",
];

/// Whether `o` carries `key: value` as a label or an annotation, the value compared without
/// regard to case, as fluxcd/pkg's `AnyInMetadata` reads Flux's per-object selectors.
#[must_use]
pub fn flux_says(o: &Value, key: &str, value: &str) -> bool {
    ["labels", "annotations"].iter().any(|m| {
        o["metadata"][m][key]
            .as_str()
            .is_some_and(|v| v.eq_ignore_ascii_case(value))
    })
}

/// Removes what the server writes (`status`, server-owned metadata), leaving what an apply
/// may send.
pub fn strip_server_fields(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.remove("status");
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            for f in SERVER_METADATA {
                meta.remove(*f);
            }
        }
    }
}

/// A copy of `obj` fit to apply: no status, no server-set metadata.
#[must_use]
pub fn applyable(obj: &Value) -> Value {
    let mut o = obj.clone();
    strip_server_fields(&mut o);
    o
}

/// Sets `metadata.annotations[key]`, making the map when there is none.
pub fn set_annotation(obj: &mut Value, key: &str, value: &str) {
    if !obj["metadata"]["annotations"].is_object() {
        obj["metadata"]["annotations"] = json!({});
    }
    obj["metadata"]["annotations"][key] = json!(value);
}

/// A Secret's `data` as the API server holds it: `stringData` folded in, base64-encoded, each
/// of its keys taking precedence over the same key in `data` (as the server does).
#[must_use]
pub fn secret_data(secret: &Value) -> Option<Value> {
    use base64::Engine as _;
    let strings = secret.get("stringData").and_then(Value::as_object);
    let Some(strings) = strings.filter(|s| !s.is_empty()) else {
        return secret.get("data").cloned();
    };
    let mut data = secret
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in strings {
        let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        data.insert(
            k.clone(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
        );
    }
    Some(Value::Object(data))
}

/// What the API server would refuse in a Secret's `data` and `stringData`, each naming the field
/// and never a value (`data.token: not a string`): `data` values must be base64 strings (line
/// breaks allowed, as Go's decoder skips them), `stringData` values strings, keys valid config
/// keys. Checked before a Secret is sent, so that the server's refusal, which can quote the
/// value, never has to be passed on.
#[must_use]
pub fn secret_problems(secret: &Value) -> Vec<String> {
    use base64::Engine as _;
    let mut out = Vec::new();
    for field in ["data", "stringData"] {
        let Some(v) = secret.get(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let Some(map) = v.as_object() else {
            out.push(format!("{field}: not a map of keys to values"));
            continue;
        };
        for (k, v) in map {
            let valid_key = !k.is_empty()
                && k.len() <= 253
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid_key {
                out.push(format!(
                    "{field}: key `{k}` is not a valid key (letters, digits, `-`, `_` and `.`)"
                ));
            }
            match (field, v.as_str()) {
                (_, None) => out.push(format!(
                    "{field}.{k}: not a string ({})",
                    if field == "data" {
                        "a Secret's data values are base64 strings"
                    } else {
                        "quote it"
                    }
                )),
                ("data", Some(text)) => {
                    let compact: String =
                        text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
                    if base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .is_err()
                    {
                        out.push(format!(
                            "data.{k}: not valid base64 (put plain text under stringData instead)"
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// A Secret's values as the API server holds them ([`secret_data`]: `stringData` folded in),
/// decoded; the error names the key that is not base64, never a value.
pub fn secret_bytes(secret: &Value) -> Result<std::collections::BTreeMap<String, Vec<u8>>, String> {
    use base64::Engine as _;
    let data = secret_data(secret).unwrap_or(Value::Null);
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in data.as_object().into_iter().flatten() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|_| format!("{}: data.{k} is not base64", describe(secret)))?;
        out.insert(k.clone(), bytes);
    }
    Ok(out)
}

/// A Secret's `data[key]`, decoded as UTF-8 text.
#[must_use]
pub fn secret_field(secret: &Value, key: &str) -> Option<String> {
    use base64::Engine as _;
    secret["data"][key]
        .as_str()
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|b| String::from_utf8(b).ok())
}

pub mod health;
pub mod owned;
pub mod schema;

#[cfg(test)]
mod tests;
