//! Fields a CRD's schema does not have. A misspelt field would otherwise be ignored and
//! silently change what an object does; the API server refuses it under strict field
//! validation, and so does fledge for the objects it reads as configuration (Flagger's and
//! Flux's): an unknown field is named with the closest valid name.

use serde_json::Value;

/// A field a schema does not have: where, and the closest name it has there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    pub path: String,
    pub closest: Option<String>,
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: unknown field", self.path)?;
        match &self.closest {
            Some(c) => write!(f, " (did you mean `{c}`?)"),
            None => Ok(()),
        }
    }
}

/// The fields of `value` (at `path`) that `schema` (an OpenAPI v3 schema, as a CRD holds it)
/// does not have, in document order. `aliases` are accepted besides the schema's fields at the
/// top level, read as the field they name.
#[must_use]
pub fn unknown_fields(
    schema: &Value,
    value: &Value,
    path: &str,
    aliases: &[(&str, &str)],
) -> Vec<Unknown> {
    let mut out = Vec::new();
    walk(value, schema, path, aliases, &mut out);
    out
}

fn walk(
    value: &Value,
    schema: &Value,
    path: &str,
    aliases: &[(&str, &str)],
    out: &mut Vec<Unknown>,
) {
    match value {
        Value::Object(fields) => {
            if let Some(props) = schema["properties"].as_object() {
                for (k, v) in fields {
                    let name = aliases
                        .iter()
                        .find(|(alias, _)| alias == k)
                        .map_or(k.as_str(), |(_, is)| is);
                    match props.get(name) {
                        Some(child) => walk(v, child, &format!("{path}.{k}"), &[], out),
                        None if schema.get("x-kubernetes-preserve-unknown-fields").is_some() => {}
                        None => out.push(Unknown {
                            path: format!("{path}.{k}"),
                            closest: closest(k, props),
                        }),
                    }
                }
            } else if let Some(each) = schema.get("additionalProperties").filter(|a| a.is_object())
            {
                // A map: its keys are data, its values follow one schema.
                for (k, v) in fields {
                    walk(v, each, &format!("{path}.{k}"), &[], out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &schema["items"], &format!("{path}[{i}]"), &[], out);
            }
        }
        _ => {}
    }
}

/// The field of an object schema closest to `name`, when one is close enough to be a typo.
fn closest(name: &str, props: &serde_json::Map<String, Value>) -> Option<String> {
    props
        .keys()
        .map(|k| {
            (
                strsim::jaro_winkler(&name.to_lowercase(), &k.to_lowercase()),
                k,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone())
}
