//! Fields Flagger does not have. A misspelt field (`stepWieght`, `thresholdRnage`) would
//! otherwise be ignored, and silently change what a Canary does; the API server refuses it
//! under strict field validation, and so does fledge: every field of a Canary's, a
//! MetricTemplate's or an AlertProvider's `spec` is checked against Flagger's own CRD schemas
//! (kept beside this file), and an unknown one is named with the closest valid name.

use std::sync::LazyLock;

use serde_json::Value;

/// Flagger's schemas of `spec`, by kind.
static SCHEMAS: LazyLock<Vec<(String, Value)>> = LazyLock::new(|| {
    let text = include_str!("schema/flagger.app_crds.yaml");
    serde_yaml::Deserializer::from_str(text)
        .filter_map(|d| serde::Deserialize::deserialize(d).ok())
        .filter_map(|crd: Value| {
            let kind = crd["spec"]["names"]["kind"].as_str()?.to_owned();
            let spec = crd["spec"]["versions"]
                .as_array()?
                .iter()
                .find(|v| v["name"] == "v1beta1")?["schema"]["openAPIV3Schema"]["properties"]
                ["spec"]
                .clone();
            Some((kind, spec))
        })
        .collect()
});

pub use crate::object::schema::Unknown;

/// The fields of `spec` (of an object of `kind`) that Flagger's schema does not have, in
/// document order. `aliases` are accepted besides the schema's fields at the top (the legacy
/// `canaryAnalysis`, read as `analysis`).
#[must_use]
pub fn unknown_fields(kind: &str, spec: &Value, aliases: &[(&str, &str)]) -> Vec<Unknown> {
    SCHEMAS
        .iter()
        .find(|(k, _)| k == kind)
        .map(|(_, schema)| crate::object::schema::unknown_fields(schema, spec, "spec", aliases))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
