//! `replacements` (copy a field of one object into fields of others) and the older `vars`
//! (`$(NAME)` placeholders in well-known fields), with kustomize's dotted field paths:
//! `spec.containers.[name=app].image`, `data.[a.b]`, `ports[0]`, `*`.

use serde_json::{Map, Value};

use super::fieldspec::{FieldSpec, at, visit};
use super::kustomization::{Selector, Var, scalar_string};
use super::object::{Gvk, Resource};
use super::selector::Matcher;

/// One step of a dotted field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    Match(String, String),
    Index(usize),
    All,
}

fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let mut raw = Vec::new();
    let (mut depth, mut cur) = (0, String::new());
    for c in path.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => raw.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    raw.push(cur);
    let mut steps = Vec::new();
    for seg in raw.into_iter().filter(|s| !s.is_empty()) {
        let mut rest = seg.as_str();
        if let Some(i) = rest.find('[')
            && i > 0
        {
            steps.push(Step::Field(rest[..i].to_owned()));
            rest = &rest[i..];
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let end = inner
                .find(']')
                .ok_or_else(|| format!("unbalanced `[` in field path `{path}`"))?;
            let body = &inner[..end];
            steps.push(match body.split_once('=') {
                Some((k, v)) => Step::Match(k.to_owned(), v.to_owned()),
                None => match body.parse::<usize>() {
                    Ok(i) => Step::Index(i),
                    Err(_) => Step::Field(body.to_owned()),
                },
            });
            rest = &inner[end + 1..];
        }
        if !rest.is_empty() {
            steps.push(if rest == "*" {
                Step::All
            } else {
                Step::Field(rest.to_owned())
            });
        }
    }
    Ok(steps)
}

fn get<'v>(v: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(v);
    };
    match (step, v) {
        (Step::Field(f), Value::Object(m)) => get(m.get(f)?, rest),
        (Step::Field(f), Value::Array(items)) => get(items.get(f.parse::<usize>().ok()?)?, rest),
        (Step::Index(i), Value::Array(items)) => get(items.get(*i)?, rest),
        (Step::Match(k, want), Value::Array(items)) => items
            .iter()
            .find(|i| element_matches(i, k, want))
            .and_then(|i| get(i, rest)),
        (Step::All, Value::Array(items)) => items.iter().find_map(|i| get(i, rest)),
        (Step::All, Value::Object(m)) => m.values().find_map(|i| get(i, rest)),
        _ => None,
    }
}

fn element_matches(item: &Value, key: &str, want: &str) -> bool {
    if key.is_empty() {
        return item.as_str() == Some(want) || scalar_string(item) == want;
    }
    item.get(key).is_some_and(|v| scalar_string(v) == want)
}

/// Calls `f` on every node `steps` reaches; with `create`, missing map fields are made.
fn set_all(
    v: &mut Value,
    steps: &[Step],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<bool, String> {
    let Some((step, rest)) = steps.split_first() else {
        f(v)?;
        return Ok(true);
    };
    match (step, v) {
        (Step::Field(field), Value::Object(m)) => {
            if !m.contains_key(field) || m[field].is_null() {
                if !create {
                    return Ok(false);
                }
                let fresh = if rest.is_empty() {
                    Value::Null
                } else if matches!(rest[0], Step::Match(..) | Step::Index(_)) {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                };
                m.insert(field.clone(), fresh);
            }
            set_all(m.get_mut(field).expect("present"), rest, create, f)
        }
        (Step::Index(i), Value::Array(items)) => match items.get_mut(*i) {
            Some(item) => set_all(item, rest, create, f),
            None => Ok(false),
        },
        (Step::Field(field), Value::Array(items)) => match field.parse::<usize>() {
            Ok(i) if i < items.len() => set_all(&mut items[i], rest, create, f),
            _ => Ok(false),
        },
        (Step::Match(k, want), Value::Array(items)) => {
            let mut any = false;
            for item in items.iter_mut().filter(|i| element_matches(i, k, want)) {
                any |= set_all(item, rest, create, f)?;
            }
            Ok(any)
        }
        (Step::All, Value::Array(items)) => {
            let mut any = false;
            for item in items {
                any |= set_all(item, rest, create, f)?;
            }
            Ok(any)
        }
        (Step::All, Value::Object(m)) => {
            let mut any = false;
            for item in m.values_mut() {
                any |= set_all(item, rest, create, f)?;
            }
            Ok(any)
        }
        _ => Ok(false),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Options {
    #[serde(default)]
    delimiter: String,
    #[serde(default)]
    index: i64,
    #[serde(default)]
    create: bool,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Source {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    field_path: String,
    #[serde(default)]
    options: Option<Options>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    select: Option<Selector>,
    #[serde(default)]
    reject: Vec<Selector>,
    #[serde(default)]
    field_paths: Vec<String>,
    #[serde(default)]
    options: Option<Options>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Replacement {
    #[serde(default)]
    source: Option<Source>,
    #[serde(default)]
    source_value: Option<String>,
    #[serde(default)]
    targets: Vec<Target>,
}

/// Applies one replacement (already loaded from a file or inline) to `resources`.
pub(crate) fn replacement(resources: &mut [Resource], spec: &Value) -> Result<(), String> {
    let r: Replacement = serde_path_to_error::deserialize(spec.clone())
        .map_err(|e| format!("invalid replacement: field `{}`: {}", e.path(), e.inner()))?;
    let value = match (&r.source, &r.source_value) {
        (Some(src), _) => source_value(resources, src)?,
        (None, Some(v)) => Value::String(v.clone()),
        (None, None) => return Err("replacement has neither `source` nor `sourceValue`".into()),
    };
    for t in &r.targets {
        let select = t
            .select
            .as_ref()
            .ok_or("replacement target has no `select`")?;
        let matcher = Matcher::new(select)?;
        let rejects = t
            .reject
            .iter()
            .map(Matcher::new)
            .collect::<Result<Vec<_>, _>>()?;
        let opts = t.options.as_ref();
        let paths = if t.field_paths.is_empty() {
            vec!["metadata.name".to_owned()]
        } else {
            t.field_paths.clone()
        };
        for res in resources.iter_mut() {
            if !matcher.matches(res) || rejects.iter().any(|m| m.matches(res)) {
                continue;
            }
            for p in &paths {
                let steps = parse_path(p)?;
                let create = opts.is_some_and(|o| o.create);
                let found = set_all(&mut res.value, &steps, create, &mut |node| {
                    *node = merged_value(node, &value, opts)?;
                    Ok(())
                })?;
                if !found && !create {
                    return Err(format!(
                        "replacement target field `{p}` not found in {} (set `options.create: true` to add it)",
                        res.id()
                    ));
                }
            }
        }
    }
    Ok(())
}

fn source_value(resources: &[Resource], src: &Source) -> Result<Value, String> {
    let want = Gvk {
        group: src.group.clone(),
        version: src.version.clone(),
        kind: src.kind.clone(),
    };
    let matches: Vec<&Resource> = resources
        .iter()
        .filter(|r| {
            r.all_ids().iter().any(|id| {
                id.gvk.is_selected_by(&want)
                    && (src.name.is_empty() || id.name == src.name)
                    && (src.namespace.is_empty() || id.namespace == src.namespace)
            })
        })
        .collect();
    let describe = || {
        format!(
            "{} {}",
            if src.kind.is_empty() {
                "<any kind>"
            } else {
                &src.kind
            },
            src.name
        )
    };
    let res = match matches.len() {
        1 => matches[0],
        0 => return Err(format!("replacement source {} not found", describe())),
        _ => {
            return Err(format!(
                "replacement source {} matches more than one object",
                describe()
            ));
        }
    };
    let path = if src.field_path.is_empty() {
        "metadata.name"
    } else {
        &src.field_path
    };
    let v = get(&res.value, &parse_path(path)?).ok_or_else(|| {
        format!(
            "replacement source field `{path}` not found in {}",
            res.id()
        )
    })?;
    match &src.options {
        Some(o) if !o.delimiter.is_empty() => {
            let s = scalar_string(v);
            let parts: Vec<&str> = s.split(o.delimiter.as_str()).collect();
            let i = usize::try_from(o.index)
                .ok()
                .filter(|i| *i < parts.len())
                .ok_or_else(|| {
                    format!(
                        "options.index {} is out of range for `{s}` split by `{}`",
                        o.index, o.delimiter
                    )
                })?;
            Ok(Value::String(parts[i].to_owned()))
        }
        _ => Ok(v.clone()),
    }
}

/// The target's new value: scalars keep the target's type (as kustomize keeps the node's tag).
fn merged_value(target: &Value, value: &Value, opts: Option<&Options>) -> Result<Value, String> {
    let mut value = value.clone();
    if let Some(o) = opts.filter(|o| !o.delimiter.is_empty()) {
        let existing = match target {
            Value::Null => String::new(),
            Value::Object(_) | Value::Array(_) => {
                return Err("the `delimiter` option works on scalar fields only".into());
            }
            other => scalar_string(other),
        };
        let mut parts: Vec<String> = existing
            .split(o.delimiter.as_str())
            .map(str::to_owned)
            .collect();
        let v = scalar_string(&value);
        match usize::try_from(o.index) {
            Err(_) => parts.insert(0, v),
            Ok(i) if i >= parts.len() => parts.push(v),
            Ok(i) => parts[i] = v,
        }
        value = Value::String(parts.join(&o.delimiter));
    }
    Ok(match (target, &value) {
        (Value::String(_), v) if !v.is_object() && !v.is_array() => Value::String(scalar_string(v)),
        (Value::Number(_), Value::String(s)) => serde_json::from_str::<serde_json::Number>(s)
            .map_or_else(|_| value.clone(), Value::Number),
        (Value::Bool(_), Value::String(s)) if s == "true" || s == "false" => {
            Value::Bool(s == "true")
        }
        _ => value,
    })
}

/// Resolves `vars` and substitutes `$(NAME)` in the fields of `specs`.
pub(crate) fn resolve_vars(
    resources: &mut [Resource],
    vars: &[Var],
    specs: &[FieldSpec],
) -> Result<(), String> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values: Vec<(String, Value)> = Vec::new();
    for var in vars {
        // The object the var was tied to where it was declared (see `Resource::ref_vars`).
        let res = resources
            .iter()
            .find(|r| r.ref_vars.contains(&var.name))
            .ok_or_else(|| {
                let o = &var.objref;
                format!(
                    "var `{}`: no object {} {} {} to read it from where the var is declared (kustomize compares group, version and kind exactly: give `apiVersion`)",
                    var.name,
                    o.gvk().api_version(),
                    o.kind,
                    o.name
                )
            })?;
        let path = var
            .fieldref
            .as_ref()
            .map(|f| f.field_path.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("metadata.name");
        let v = get(&res.value, &parse_path(path)?).ok_or_else(|| {
            format!(
                "var `{}`: field `{path}` not found in {}",
                var.name,
                res.id()
            )
        })?;
        values.push((var.name.clone(), v.clone()));
    }
    for r in resources.iter_mut() {
        let gvk = r.gvk();
        let id = r.id();
        for spec in specs.iter().filter(|s| s.selects(&gvk)) {
            visit(&mut r.value, spec.segments(), None, &mut |node| {
                expand_node(node, &values)
            })
            .map_err(at(&id, spec))?;
        }
    }
    Ok(())
}

/// kustomize's var filter on one field: a string is expanded; in a map, each string value
/// (others are left as they are); in a list, each item, which must be a string.
fn expand_node(node: &mut Value, vars: &[(String, Value)]) -> Result<(), String> {
    match node {
        Value::String(_) => expand_string(node, vars),
        Value::Array(items) => {
            for item in items {
                if !item.is_string() {
                    return Err(format!(
                        "a list where vars are substituted holds {item}, not a string (kustomize refuses it)"
                    ));
                }
                expand_string(item, vars);
            }
        }
        Value::Object(m) => m
            .values_mut()
            .filter(|v| v.is_string())
            .for_each(|v| expand_string(v, vars)),
        _ => {}
    }
    Ok(())
}

/// Expands `$(NAME)` in a string; a string that is just `$(NAME)` of a var whose value is not a
/// string takes that value.
fn expand_string(node: &mut Value, vars: &[(String, Value)]) {
    let Value::String(s) = node else {
        return;
    };
    if let Some(name) = s.strip_prefix("$(").and_then(|r| r.strip_suffix(')'))
        && let Some((_, v)) = vars.iter().find(|(n, _)| n == name)
        && !v.is_string()
    {
        *node = v.clone();
        return;
    }
    *s = expand(s, vars);
}

/// Kubernetes' `$(VAR)` expansion: `$$` is a literal `$`; unknown names stay as written.
fn expand(s: &str, vars: &[(String, Value)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('(') {
            if let Some(end) = r.find(')') {
                let name = &r[..end];
                if let Some((_, v)) = vars.iter().find(|(n, _)| n == name) {
                    out.push_str(&scalar_string(v));
                } else {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
                rest = &r[end + 1..];
            } else {
                out.push_str("$(");
                rest = r;
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
