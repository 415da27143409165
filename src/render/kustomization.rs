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

/// The field names of one struct of the kustomization format, each with the shape of its
/// value where that is a struct (or a list of them) whose field names fold too.
struct Shape(&'static [(&'static str, Option<&'static Shape>)]);

const SELECTOR: Shape = Shape(&[
    ("group", None),
    ("version", None),
    ("kind", None),
    ("name", None),
    ("namespace", None),
    ("labelSelector", None),
    ("annotationSelector", None),
]);
const GENERATOR_OPTIONS: Shape = Shape(&[
    ("labels", None),
    ("annotations", None),
    ("disableNameSuffixHash", None),
    ("immutable", None),
]);
const GENERATOR: Shape = Shape(&[
    ("name", None),
    ("namespace", None),
    ("behavior", None),
    ("files", None),
    ("literals", None),
    ("envs", None),
    ("env", None),
    ("type", None),
    ("options", Some(&GENERATOR_OPTIONS)),
]);
const PATCH: Shape = Shape(&[
    ("path", None),
    ("patch", None),
    ("target", Some(&SELECTOR)),
    ("options", None),
]);
const IMAGE: Shape = Shape(&[
    ("name", None),
    ("newName", None),
    ("newTag", None),
    ("digest", None),
]);
const REPLICA: Shape = Shape(&[("name", None), ("count", None)]);
const VAR: Shape = Shape(&[
    ("name", None),
    (
        "objref",
        Some(&Shape(&[
            ("apiVersion", None),
            ("group", None),
            ("version", None),
            ("kind", None),
            ("name", None),
            ("namespace", None),
        ])),
    ),
    ("fieldref", Some(&Shape(&[("fieldPath", None)]))),
]);
const LABEL: Shape = Shape(&[
    ("pairs", None),
    ("includeSelectors", None),
    ("includeTemplates", None),
    (
        "fields",
        Some(&Shape(&[
            ("group", None),
            ("version", None),
            ("kind", None),
            ("path", None),
            ("create", None),
        ])),
    ),
]);
const SORT: Shape = Shape(&[
    ("order", None),
    (
        "legacySortOptions",
        Some(&Shape(&[("orderFirst", None), ("orderLast", None)])),
    ),
]);
/// The top level: every field fledge accepts or refuses by name.
const TOP: Shape = Shape(&[
    ("apiVersion", None),
    ("kind", None),
    ("metadata", None),
    ("namePrefix", None),
    ("nameSuffix", None),
    ("namespace", None),
    ("commonLabels", None),
    ("labels", Some(&LABEL)),
    ("commonAnnotations", None),
    ("patchesStrategicMerge", None),
    ("patchesJson6902", Some(&PATCH)),
    ("patches", Some(&PATCH)),
    ("images", Some(&IMAGE)),
    ("imageTags", Some(&IMAGE)),
    ("replacements", None),
    ("replicas", Some(&REPLICA)),
    ("vars", Some(&VAR)),
    ("sortOptions", Some(&SORT)),
    ("resources", None),
    ("bases", None),
    ("components", None),
    ("configMapGenerator", Some(&GENERATOR)),
    ("secretGenerator", Some(&GENERATOR)),
    ("generatorOptions", Some(&GENERATOR_OPTIONS)),
    ("configurations", None),
    ("generators", None),
    ("transformers", None),
    ("buildMetadata", None),
    ("helmCharts", None),
    ("helmGlobals", None),
    ("helmChartInflationGenerator", None),
    ("openapi", None),
    ("validators", None),
    ("crds", None),
]);

/// Renames the keys of `map` that equal a field of `shape` but for case to that field, then
/// does the same inside the values that are structs. kustomize reads a kustomization as Go's
/// JSON decoder does: names match case-insensitively, and of several spellings of one field
/// the last in byte order wins (the JSON it decodes has its keys sorted).
fn fold_names(map: &mut Map<String, Value>, shape: &Shape) {
    for (field, _) in shape.0 {
        let spellings: Vec<String> = map
            .keys()
            .filter(|k| k.eq_ignore_ascii_case(field))
            .cloned()
            .collect();
        let Some(last) = spellings.iter().max() else {
            continue;
        };
        let v = map.get(last).cloned().expect("listed key");
        for k in &spellings {
            map.remove(k);
        }
        map.insert((*field).to_owned(), v);
    }
    for (field, inner) in shape.0 {
        let (Some(inner), Some(v)) = (inner, map.get_mut(*field)) else {
            continue;
        };
        match v {
            Value::Object(m) => fold_names(m, inner),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(m) = item {
                        fold_names(m, inner);
                    }
                }
            }
            _ => {}
        }
    }
}

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
    #[serde(default, deserialize_with = "strings")]
    pub common_labels: Map<String, Value>,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default, deserialize_with = "strings")]
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
    #[serde(default, deserialize_with = "strings")]
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

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub name: String,
    #[serde(default)]
    pub new_name: String,
    #[serde(default)]
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
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

impl VarTarget {
    /// The kind the var names, as kustomize reads it: `apiVersion` when given, else `group`
    /// and `version` (kustomize then compares all three exactly).
    #[must_use]
    pub fn gvk(&self) -> super::object::Gvk {
        if self.api_version.is_empty() {
            return super::object::Gvk {
                group: self.group.clone(),
                version: self.version.clone(),
                kind: self.kind.clone(),
            };
        }
        super::object::Gvk::from_api_version(&self.api_version, &self.kind)
    }
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
    #[serde(default, deserialize_with = "strings")]
    pub labels: Map<String, Value>,
    #[serde(default, deserialize_with = "strings")]
    pub annotations: Map<String, Value>,
    #[serde(default)]
    pub disable_name_suffix_hash: Option<bool>,
    #[serde(default)]
    pub immutable: Option<bool>,
}

/// A map of strings, as kustomize's Go types hold labels and annotations: a value YAML reads
/// as a number or a boolean is refused (quote it), and a null is the empty string.
fn strings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    let mut m = Map::<String, Value>::deserialize(d)?;
    for (k, v) in &mut m {
        match v {
            Value::String(_) => {}
            Value::Null => *v = Value::String(String::new()),
            other => {
                return Err(serde::de::Error::custom(format_args!(
                    "`{k}` is {other}, not a string: quote it (`{k}: \"{}\"`)",
                    other.to_string().trim_matches('"')
                )));
            }
        }
    }
    Ok(m)
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

/// kustomize's `EnforceFields`: `kind` is Kustomization or Component, and `apiVersion`, when
/// given, is the one of that kind.
fn check_kind(map: &Map<String, Value>) -> Result<(), FieldError> {
    let text = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or("");
    let (kind, api) = (text("kind"), text("apiVersion"));
    let wanted = match kind {
        "" | "Kustomization" => "kustomize.config.k8s.io/v1beta1",
        "Component" => "kustomize.config.k8s.io/v1alpha1",
        other => {
            return Err(FieldError::Invalid {
                message: format!("kind is `{other}`: it must be Kustomization or Component"),
            });
        }
    };
    if !api.is_empty() && api != wanted {
        return Err(FieldError::Invalid {
            message: format!(
                "apiVersion is `{api}`: a {} needs `{wanted}`",
                if kind.is_empty() {
                    "Kustomization"
                } else {
                    kind
                }
            ),
        });
    }
    Ok(())
}

impl Kustomization {
    /// Parses a kustomization document, checking every top-level field first.
    pub fn from_value(mut value: Value) -> Result<Self, FieldError> {
        let Some(map) = value.as_object_mut() else {
            return Err(FieldError::Invalid {
                message: "a kustomization must be a YAML mapping".into(),
            });
        };
        // kustomize reads field names as Go's JSON decoder does: case-insensitively (the older
        // `patchesJSON6902` spelling is the one seen in the wild).
        fold_names(map, &TOP);
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
        check_kind(map)?;
        // kustomize's `CheckEmpty`: nothing set but the type (an empty string is unset).
        if map
            .iter()
            .all(|(k, v)| k == "apiVersion" || k == "kind" || v.as_str() == Some(""))
        {
            return Err(FieldError::Invalid {
                message:
                    "the kustomization is empty (kustomize refuses it): list at least `resources`"
                        .into(),
            });
        }
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
