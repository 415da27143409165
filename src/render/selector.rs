//! Choosing objects: kustomize's target selectors (anchored regular expressions over group,
//! version, kind, name and namespace, plus label and annotation selectors).

use regex::Regex;
use serde_json::{Map, Value};

use super::kustomization::Selector;
use super::object::Resource;

/// A compiled [`Selector`].
#[derive(Debug)]
pub(crate) struct Matcher {
    group: Pattern,
    version: Pattern,
    kind: Pattern,
    name: Pattern,
    namespace: Pattern,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

/// One field of a selector: anything, a literal, or an anchored regular expression.
#[derive(Debug)]
enum Pattern {
    Any,
    Literal(String),
    Regex(Regex),
}

fn anchored(pattern: &str) -> Result<Pattern, String> {
    if pattern.is_empty() {
        return Ok(Pattern::Any);
    }
    // Most selectors are plain names; comparing them directly keeps large repositories fast.
    if !pattern.contains(|c: char| "\\.+*?()|[]{}^$".contains(c)) {
        return Ok(Pattern::Literal(pattern.to_owned()));
    }
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Pattern::Regex)
        .map_err(|e| format!("invalid regular expression `{pattern}`: {e}"))
}

fn is_match(p: &Pattern, s: &str) -> bool {
    match p {
        Pattern::Any => true,
        Pattern::Literal(l) => l == s,
        Pattern::Regex(r) => r.is_match(s),
    }
}

impl Matcher {
    pub(crate) fn new(s: &Selector) -> Result<Self, String> {
        Ok(Self {
            group: anchored(&s.group)?,
            version: anchored(&s.version)?,
            kind: anchored(&s.kind)?,
            name: anchored(&s.name)?,
            namespace: anchored(&s.namespace)?,
            labels: parse_requirements(&s.label_selector)?,
            annotations: parse_requirements(&s.annotation_selector)?,
        })
    }

    /// The name this selector matches literally, if it is not a pattern.
    pub(crate) fn literal_name(&self) -> Option<&str> {
        match &self.name {
            Pattern::Literal(n) => Some(n),
            _ => None,
        }
    }

    /// kustomize's `Select`: name and namespace may match the original or the current id.
    #[must_use]
    pub(crate) fn matches(&self, r: &Resource) -> bool {
        let cur = r.current_ref();
        let org = r.original_ref();
        let empty = Map::new();
        let meta = |field: &str| r.value["metadata"][field].as_object().unwrap_or(&empty);
        is_match(&self.group, cur.group)
            && is_match(&self.version, cur.version)
            && is_match(&self.kind, cur.kind)
            && (is_match(&self.name, org.name) || is_match(&self.name, cur.name))
            && (is_match(&self.namespace, org.effective_namespace())
                || is_match(&self.namespace, cur.effective_namespace()))
            && self.labels.iter().all(|req| req.matches(meta("labels")))
            && self
                .annotations
                .iter()
                .all(|req| req.matches(meta("annotations")))
    }
}

/// One clause of a Kubernetes label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    fn matches(&self, labels: &Map<String, Value>) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        match self {
            Self::Equals(k, v) => get(k) == Some(v),
            Self::NotEquals(k, v) => get(k) != Some(v),
            Self::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Self::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Self::Exists(k) => labels.contains_key(k),
            Self::NotExists(k) => !labels.contains_key(k),
        }
    }
}

/// Splits at commas that are not inside parentheses.
fn split_clauses(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_requirements(s: &str) -> Result<Vec<Requirement>, String> {
    let mut reqs = Vec::new();
    for clause in split_clauses(s) {
        let clause = clause.trim();
        if clause.is_empty() {
            continue;
        }
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("invalid selector clause `{clause}`: expected (a,b,…)"))?;
            Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
        };
        let req = if let Some(k) = clause.strip_prefix('!') {
            Requirement::NotExists(k.trim().to_owned())
        } else if let Some((k, v)) = clause.split_once("!=") {
            Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = clause.split_once("==") {
            Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = clause.split_once('=') {
            Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, rest)) = clause.split_once(" notin ") {
            Requirement::NotIn(k.trim().to_owned(), set(rest)?)
        } else if let Some((k, rest)) = clause.split_once(" in ") {
            Requirement::In(k.trim().to_owned(), set(rest)?)
        } else if clause
            .chars()
            .all(|c| c.is_alphanumeric() || "-_./".contains(c))
        {
            Requirement::Exists(clause.to_owned())
        } else {
            return Err(format!("invalid selector clause `{clause}`"));
        };
        reqs.push(req);
    }
    Ok(reqs)
}

#[cfg(test)]
mod tests;

/// A [`Selector`] over objects as the API serves them (Flux's drift-ignore targets, which
/// fluxcd/pkg's `jsondiff.SelectorRegex` matches the same way: anchored regular expressions
/// over group, version, kind, name and namespace, and label and annotation selectors).
#[derive(Debug)]
pub struct ObjectSelector(Matcher);

impl ObjectSelector {
    /// Compiles `s`.
    ///
    /// # Errors
    ///
    /// A field that is not a valid regular expression or selector, saying which.
    pub fn new(s: &Selector) -> Result<Self, String> {
        Matcher::new(s).map(Self)
    }

    /// Whether `o` is one of the objects it selects.
    #[must_use]
    pub fn matches(&self, o: &Value) -> bool {
        let m = &self.0;
        let api = o["apiVersion"].as_str().unwrap_or("");
        let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
        let empty = Map::new();
        let meta = |field: &str| o["metadata"][field].as_object().unwrap_or(&empty);
        let text = |field: &str| o["metadata"][field].as_str().unwrap_or("");
        is_match(&m.group, group)
            && is_match(&m.version, version)
            && is_match(&m.kind, o["kind"].as_str().unwrap_or(""))
            && is_match(&m.name, text("name"))
            && is_match(&m.namespace, text("namespace"))
            && m.labels.iter().all(|req| req.matches(meta("labels")))
            && m.annotations
                .iter()
                .all(|req| req.matches(meta("annotations")))
    }
}
