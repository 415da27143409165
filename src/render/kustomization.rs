//! The `kustomization.yaml` subset fledge understands, parsed strictly: an unknown field is an
//! error, and a kustomize feature fledge does not implement is an error naming the field, never
//! silently ignored.

use serde::Deserialize;
use serde_json::{Map, Value};

/// File names that make a directory a kustomization, in kustomize's order.
pub const FILE_NAMES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Fields kustomize has that fledge refuses, with what to do instead.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "helmCharts",
        "render the chart to plain manifests and commit them",
    ),
    (
        "helmGlobals",
        "render the chart to plain manifests and commit them",
    ),
    (
        "helmChartInflationGenerator",
        "render the chart to plain manifests and commit them",
    ),
    (
        "openapi",
        "custom OpenAPI schemas are not supported; use `patches` with a JSON 6902 patch for lists of custom resources",
    ),
    ("validators", "validator plugins are not supported"),
    (
        "crds",
        "CRD-derived transformer configuration is not supported; use `configurations`",
    ),
];

/// Every field of a kustomization that fledge accepts.
const KNOWN: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "images",
    "imageTags",
    "replacements",
    "replicas",
    "vars",
    "sortOptions",
    "resources",
    "bases",
    "components",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "configurations",
    "generators",
    "transformers",
    "buildMetadata",
];

/// A problem with the kustomization file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    Unsupported { field: String, hint: &'static str },
    Unknown { field: String },
    Invalid { message: String },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kustomization {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name_prefix: String,
    #[serde(default)]
    pub name_suffix: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub common_labels: Map<String, Value>,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub common_annotations: Map<String, Value>,
    #[serde(default)]
    pub patches_strategic_merge: Vec<String>,
    #[serde(default)]
    pub patches_json6902: Vec<PatchEntry>,
    #[serde(default)]
    pub patches: Vec<PatchEntry>,
    #[serde(default)]
    pub images: Vec<Image>,
    #[serde(default)]
    pub image_tags: Vec<Image>,
    #[serde(default)]
    pub replacements: Vec<Value>,
    #[serde(default)]
    pub replicas: Vec<Replica>,
    #[serde(default)]
    pub vars: Vec<Var>,
    #[serde(default)]
    pub sort_options: Option<SortOptions>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub bases: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub config_map_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub secret_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    pub configurations: Vec<String>,
    #[serde(default)]
    pub generators: Vec<String>,
    #[serde(default)]
    pub transformers: Vec<String>,
    #[serde(default)]
    pub build_metadata: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Label {
    #[serde(default)]
    pub pairs: Map<String, Value>,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    #[serde(default)]
    pub fields: Vec<super::fieldspec::FieldSpec>,
}

/// A patch entry of `patches` or `patchesJson6902`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchEntry {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub patch: Option<String>,
    #[serde(default)]
    pub target: Option<Selector>,
    #[serde(default)]
    pub options: Map<String, Value>,
}

/// Which objects a patch or replacement applies to. Strings are regular expressions that must
/// match the whole value, as in kustomize.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub label_selector: String,
    #[serde(default)]
    pub annotation_selector: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub name: String,
    #[serde(default)]
    pub new_name: String,
    #[serde(default, deserialize_with = "string_or_number")]
    pub new_tag: String,
    #[serde(default)]
    pub digest: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Var {
    pub name: String,
    pub objref: VarTarget,
    #[serde(default)]
    pub fieldref: Option<FieldRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VarTarget {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    // kustomize reads field names case-insensitively; `fieldpath` is common in the wild.
    #[serde(default, alias = "fieldpath", alias = "FieldPath")]
    pub field_path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SortOptions {
    #[serde(default)]
    pub order: String,
    #[serde(default)]
    pub legacy_sort_options: Option<LegacySortOptions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacySortOptions {
    #[serde(default)]
    pub order_first: Vec<String>,
    #[serde(default)]
    pub order_last: Vec<String>,
}

/// A `configMapGenerator` or `secretGenerator` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorArgs {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub behavior: String,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    #[serde(default)]
    pub env: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub options: Option<GeneratorOptions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorOptions {
    #[serde(default)]
    pub labels: Map<String, Value>,
    #[serde(default)]
    pub annotations: Map<String, Value>,
    #[serde(default)]
    pub disable_name_suffix_hash: Option<bool>,
    #[serde(default)]
    pub immutable: Option<bool>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        // kustomize refuses a list or a map where it takes a string.
        Value::Array(_) => Err(serde::de::Error::invalid_type(
            serde::de::Unexpected::Seq,
            &"a string or a number",
        )),
        Value::Object(_) => Err(serde::de::Error::invalid_type(
            serde::de::Unexpected::Map,
            &"a string or a number",
        )),
        other => Ok(scalar_string(&other)),
    }
}

/// A scalar as kustomize turns it into a string (`51` → `"51"`, `true` → `"true"`).
#[must_use]
pub fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A map of scalars as strings.
#[must_use]
pub fn string_map(m: &Map<String, Value>) -> Vec<(String, String)> {
    m.iter()
        .map(|(k, v)| (k.clone(), scalar_string(v)))
        .collect()
}

impl Kustomization {
    /// Parses a kustomization document, checking every top-level field first.
    pub fn from_value(mut value: Value) -> Result<Self, FieldError> {
        let Some(map) = value.as_object_mut() else {
            return Err(FieldError::Invalid {
                message: "a kustomization must be a YAML mapping".into(),
            });
        };
        // kustomize reads field names case-insensitively; the older `patchesJSON6902` spelling
        // is the one seen in the wild.
        if let Some(v) = map.remove("patchesJSON6902") {
            map.insert("patchesJson6902".into(), v);
        }
        for key in map.keys() {
            if let Some((_, hint)) = UNSUPPORTED.iter().find(|(f, _)| f == key) {
                return Err(FieldError::Unsupported {
                    field: key.clone(),
                    hint,
                });
            }
            if !KNOWN.contains(&key.as_str()) {
                return Err(FieldError::Unknown { field: key.clone() });
            }
        }
        map.retain(|_, v| !v.is_null());
        serde_path_to_error::deserialize(value).map_err(|e| {
            let field = e.path().to_string();
            let mut message = e.into_inner().to_string();
            // serde's words for Rust types, in YAML's.
            if let Some(i) = message.find("expected struct ") {
                message.replace_range(i.., "expected a mapping");
            }
            message = message.replace("expected i64", "expected an integer");
            if message.ends_with("expected a sequence") {
                message.push_str(" (a YAML list: one `- ` item per line, or `[a, b]`)");
            }
            FieldError::Invalid {
                message: format!("field `{field}`: {message}"),
            }
        })
    }
}

#[cfg(test)]
mod tests;
