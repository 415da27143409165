//! Flux's post-build variable substitution (`spec.postBuild` of a `kustomize.toolkit.fluxcd.io`
//! Kustomization), as kustomize-controller v1.9.6 runs it (`fluxcd/pkg/kustomize`
//! `SubstituteVariables`, v1.35.7), on the objects a build produced:
//!
//! - variables come from `substituteFrom` in order (a later source wins), then the inline
//!   `substitute` map over them; line breaks are removed from every value; every name must
//!   match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`;
//! - an object labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` is
//!   left as it is, and so is every object when no variable is defined (unless the strategy is
//!   `Always`);
//! - each object is written as YAML (the text `kubectl kustomize` prints), substituted as text
//!   (see [`envsubst`]), and read back the way Flux reads it (YAML 1.1, then JSON), so
//!   `replicas: ${n}` with `n: "3"` becomes the integer 3 and `enabled: ${x}` with `x: "on"`
//!   the boolean true;
//! - strict (kustomize-controller's `StrictPostBuildSubstitutions` feature gate, on by default
//!   since v1.9): a variable that is not set and has no default operator is an error.
//!
//! `substituteFrom` is resolved by the caller (the ConfigMaps and Secrets live in the cluster):
//! this module is pure. Values never appear in errors; errors name the object and variable.

mod envsubst;
mod glob;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::yaml;
use crate::keys;
use crate::object::describe;

/// `spec.postBuild.substituteStrategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Substitute only when at least one variable is defined (Flux's default).
    #[default]
    WithVariables,
    /// Substitute even without variables, so that `${var:=default}` takes its default.
    Always,
}

/// The kind of a `substituteFrom` source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    ConfigMap,
    Secret,
}

impl SourceKind {
    fn name(self) -> &'static str {
        match self {
            Self::ConfigMap => "ConfigMap",
            Self::Secret => "Secret",
        }
    }
}

/// One `spec.postBuild.substituteFrom` entry, read by the caller from the Kustomization's
/// namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub kind: SourceKind,
    pub name: String,
    pub optional: bool,
    /// The object's data (a Secret's values base64-decoded, as UTF-8), or `None` when the
    /// object does not exist.
    pub data: Option<BTreeMap<String, String>>,
}

/// `spec.postBuild`, with its sources resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostBuild {
    pub substitute: BTreeMap<String, String>,
    pub substitute_from: Vec<Source>,
    pub strategy: Strategy,
    /// kustomize-controller's `StrictPostBuildSubstitutions` feature gate (default on).
    pub strict: bool,
}

impl Default for PostBuild {
    fn default() -> Self {
        Self {
            substitute: BTreeMap::new(),
            substitute_from: Vec::new(),
            strategy: Strategy::WithVariables,
            strict: true,
        }
    }
}

/// Why a substitution failed. No variant holds a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "substituteFrom {kind} `{name}` does not exist: create it, or mark the reference `optional: true`"
    )]
    MissingSource { kind: &'static str, name: String },
    #[error(
        "variable name `{name}` (from {from}) is invalid: it must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`"
    )]
    InvalidName { name: String, from: String },
    #[error(
        "{object}: variable `{variable}` is not set (strict substitution): define it in postBuild, or give it a default (`${{{variable}:=default}}`)"
    )]
    NotSet { object: String, variable: String },
    #[error("{object}: cannot read a `${{…}}` expression: {message}")]
    Expression {
        object: String,
        message: &'static str,
    },
    #[error(
        "{object}: the substituted object is not valid YAML at line {line}, column {column}: {message}"
    )]
    Yaml {
        object: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{object}: {message}")]
    Object { object: String, message: String },
}

/// Variables with where each came from (for messages).
struct Vars {
    values: BTreeMap<String, String>,
    from: BTreeMap<String, String>,
}

/// Flux's `LoadVariables` plus the inline map: sources in order, then `substitute`.
fn load(post_build: &PostBuild) -> Result<Vars, Error> {
    let mut vars = Vars {
        values: BTreeMap::new(),
        from: BTreeMap::new(),
    };
    for s in &post_build.substitute_from {
        let Some(data) = &s.data else {
            if s.optional {
                continue;
            }
            return Err(Error::MissingSource {
                kind: s.kind.name(),
                name: s.name.clone(),
            });
        };
        for (k, v) in data {
            vars.values.insert(k.clone(), v.replace('\n', ""));
            vars.from
                .insert(k.clone(), format!("{} `{}`", s.kind.name(), s.name));
        }
    }
    for (k, v) in &post_build.substitute {
        vars.values.insert(k.clone(), v.replace('\n', ""));
        vars.from.insert(k.clone(), "postBuild.substitute".into());
    }
    Ok(vars)
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

fn disabled(object: &Value) -> bool {
    ["labels", "annotations"]
        .iter()
        .any(|m| object["metadata"][*m][keys::FLUX_SUBSTITUTE] == keys::FLUX_SUBSTITUTE_DISABLED)
}

/// How errors name an object.
fn name_of(object: &Value) -> String {
    match object["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => format!("{} (namespace {ns})", describe(object)),
        _ => describe(object),
    }
}

/// Runs Flux's post-build substitution over built objects, in order.
pub fn substitute(objects: Vec<Value>, post_build: &PostBuild) -> Result<Vec<Value>, Error> {
    // Flux loads the variables for each object it substitutes: with no such object, a missing
    // source is no error.
    let mut vars: Option<Vars> = None;
    let mut out = Vec::with_capacity(objects.len());
    for object in objects {
        if disabled(&object) {
            out.push(object);
            continue;
        }
        if vars.is_none() {
            vars = Some(load(post_build)?);
        }
        let v = vars.as_ref().expect("the variables are loaded just above");
        if v.values.is_empty() && post_build.strategy != Strategy::Always {
            out.push(object);
            continue;
        }
        if let Some(bad) = v.values.keys().find(|k| !valid_name(k)) {
            return Err(Error::InvalidName {
                name: bad.clone(),
                from: v.from.get(bad).cloned().unwrap_or_default(),
            });
        }
        out.push(substitute_one(&object, v, post_build.strict)?);
    }
    Ok(out)
}

/// The values taken from Secrets (whether or not a later source overrides them), which a
/// caller must mask in anything it reports: an apply error may quote a substituted object, as
/// kustomize-controller masks them.
#[must_use]
pub fn secret_values(post_build: &PostBuild) -> BTreeSet<String> {
    post_build
        .substitute_from
        .iter()
        .filter(|s| s.kind == SourceKind::Secret)
        .filter_map(|s| s.data.as_ref())
        .flat_map(|d| d.values().map(|v| v.replace('\n', "")))
        .filter(|v| !v.is_empty())
        .collect()
}

fn substitute_one(object: &Value, vars: &Vars, strict: bool) -> Result<Value, Error> {
    let mut text = String::new();
    yaml::emit_document(object, &mut text);
    let lookup = |name: &str| -> Option<String> {
        match vars.values.get(name) {
            Some(v) => Some(v.clone()),
            None if strict => None,
            None => Some(String::new()),
        }
    };
    let substituted = envsubst::eval(&text, &lookup).map_err(|e| match e {
        envsubst::EvalError::Parse(p) => Error::Expression {
            object: name_of(object),
            message: p.message(),
        },
        envsubst::EvalError::NotSet(variable) => Error::NotSet {
            object: name_of(object),
            variable,
        },
    })?;
    let mut value = yaml::read_substituted(&substituted).map_err(|e| Error::Yaml {
        object: name_of(object),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    if !value.is_object() {
        return Err(Error::Object {
            object: name_of(object),
            message: "the substituted text is not a YAML mapping".into(),
        });
    }
    // Flux would drop an object left without apiVersion, kind or name when it reads the build
    // (and so prune it); fledge refuses, as it refuses any render that loses an object.
    for field in ["apiVersion", "kind"] {
        if value[field].as_str().is_none_or(str::is_empty) {
            return Err(Error::Object {
                object: name_of(object),
                message: format!("substitution left the object without `{field}`"),
            });
        }
    }
    if value["metadata"]["name"].as_str().is_none_or(str::is_empty) {
        return Err(Error::Object {
            object: name_of(object),
            message: "substitution left the object without `metadata.name`".into(),
        });
    }
    yaml::as_kubectl_reads(&mut value);
    Ok(value)
}

#[cfg(test)]
mod tests;
