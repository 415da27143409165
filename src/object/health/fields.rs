//! Field reads with the semantics of the Go helpers kstatus uses on unstructured objects
//! (`unstructured.Nested*`, kstatus's `GetIntField`/`GetStringField`, its conditions decoding),
//! so that a missing field, a field of another type and a field behind a non-object read as
//! they do there, and errors have the text Go's have.
//!
//! Numbers: objects reach Flux through apimachinery's JSON decoder, which makes a number an
//! `int64` when it is written as one that fits, and a `float64` otherwise; serde's
//! [`Value::as_i64`] draws the same line.

use serde_json::Value;

/// One entry of `status.conditions`, its fields empty where absent.
pub(super) struct Cond {
    pub(super) type_: String,
    pub(super) status: String,
    pub(super) reason: String,
    pub(super) message: String,
}

/// apimachinery's `schema.ParseGroupVersion` on the object's `apiVersion`, and its `kind`: the
/// group is empty for the core group and for an `apiVersion` with more than one `/`.
pub(super) fn group_kind(obj: &Value) -> (String, &str) {
    let group = group(obj["apiVersion"].as_str().unwrap_or(""));
    (group.to_owned(), kind(obj))
}

/// The group of an `apiVersion`, as `schema.ParseGroupVersion` reads it.
pub(super) fn group(api_version: &str) -> &str {
    match api_version.matches('/').count() {
        1 => api_version.split_once('/').map_or("", |(g, _)| g),
        _ => "",
    }
}

/// `u.GetKind()`: the kind, empty when it is not a string.
pub(super) fn kind(obj: &Value) -> &str {
    obj["kind"].as_str().unwrap_or("")
}

/// `unstructured.NestedFieldNoCopy`: the field at `path`, `None` when absent or behind a null;
/// an error when a field on the way is neither an object nor null.
fn nested<'a>(obj: &'a Value, path: &[&str]) -> Result<Option<&'a Value>, String> {
    let mut at = obj;
    for (i, field) in path.iter().enumerate() {
        if at.is_null() {
            return Ok(None);
        }
        let Some(map) = at.as_object() else {
            return Err(accessor(&path[..=i], at, "map[string]interface{}"));
        };
        match map.get(*field) {
            Some(v) => at = v,
            None => return Ok(None),
        }
    }
    Ok(Some(at))
}

/// The error of an accessor that found `value` at `path` where it wanted a `want`.
fn accessor(path: &[&str], value: &Value, want: &str) -> String {
    format!(
        ".{} accessor error: {} is of the type {}, expected {want}",
        path.join("."),
        go_value(value),
        go_type(value)
    )
}

/// Go's `%v` of a decoded JSON scalar (containers only roughly).
fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.as_i64().map_or_else(
            || n.as_f64().unwrap_or(f64::NAN).to_string(),
            |i| i.to_string(),
        ),
        Value::Array(_) => "[...]".to_owned(),
        Value::Object(_) => "map[...]".to_owned(),
    }
}

/// Go's `%T` of a decoded JSON value.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() => "int64",
        Value::Number(_) => "float64",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// `unstructured.NestedString`.
pub(super) fn nested_string<'a>(obj: &'a Value, path: &[&str]) -> Result<Option<&'a str>, String> {
    match nested(obj, path)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(accessor(path, v, "string")),
    }
}

/// `unstructured.NestedInt64`.
pub(super) fn nested_int64(obj: &Value, path: &[&str]) -> Result<Option<i64>, String> {
    match nested(obj, path)? {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| accessor(path, v, "int64")),
    }
}

/// `unstructured.NestedBool`.
pub(super) fn nested_bool(obj: &Value, path: &[&str]) -> Result<Option<bool>, String> {
    match nested(obj, path)? {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| accessor(path, v, "bool")),
    }
}

/// Whether `unstructured.NestedMap` finds an object at `path` (`Ok(false)`: absent).
pub(super) fn has_nested_map(obj: &Value, path: &[&str]) -> Result<bool, String> {
    match nested(obj, path)? {
        None => Ok(false),
        Some(Value::Object(_)) => Ok(true),
        Some(v) => Err(accessor(path, v, "map[string]interface{}")),
    }
}

/// `unstructured.NestedSlice`.
pub(super) fn nested_slice<'a>(
    obj: &'a Value,
    path: &[&str],
) -> Result<Option<&'a Vec<Value>>, String> {
    match nested(obj, path)? {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(v) => Err(accessor(path, v, "[]interface{}")),
    }
}

fn split(path: &str) -> Vec<&str> {
    path.strip_prefix('.').unwrap_or(path).split('.').collect()
}

/// kstatus's `GetIntField`: the integer at a dotted `path`, `default` when it is absent, not
/// an integer, or behind a non-object.
pub(super) fn int_field(obj: &Value, path: &str, default: i64) -> i64 {
    match nested(obj, &split(path)) {
        Ok(Some(v)) => v.as_i64().unwrap_or(default),
        _ => default,
    }
}

/// kstatus's `GetStringField`.
pub(super) fn string_field<'a>(obj: &'a Value, path: &str, default: &'a str) -> &'a str {
    match nested(obj, &split(path)) {
        Ok(Some(Value::String(s))) => s,
        _ => default,
    }
}

/// kstatus's `GetObjectWithConditions`: `status.conditions` decoded as apimachinery's
/// converter decodes it into `{type, status, reason, message}` strings (nulls read as
/// empty); an error where one of them, or a container on the way, has another type.
pub(super) fn conditions(obj: &Value) -> Result<Vec<Cond>, String> {
    let list = match &obj["status"] {
        Value::Null => return Ok(Vec::new()),
        Value::Object(status) => status.get("conditions").unwrap_or(&Value::Null),
        other => return Err(converter("status", other, "struct")),
    };
    let items = match list {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(converter("status.conditions", other, "slice")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, c)| condition(i, c))
        .collect()
}

fn condition(i: usize, c: &Value) -> Result<Cond, String> {
    let field = |name: &str| match &c[name] {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        other => Err(converter(
            &format!("status.conditions[{i}].{name}"),
            other,
            "string",
        )),
    };
    if !(c.is_object() || c.is_null()) {
        return Err(converter(&format!("status.conditions[{i}]"), c, "struct"));
    }
    Ok(Cond {
        type_: field("type")?,
        status: field("status")?,
        reason: field("reason")?,
        message: field("message")?,
    })
}

/// An error of apimachinery's unstructured converter. Its exact text (Go's reflection and
/// JSON errors) is not reproduced; the status it leads to (`Unknown`) is.
fn converter(path: &str, value: &Value, want: &str) -> String {
    format!(
        "cannot convert {path}: {} is of type {}, expected a {want}",
        go_value(value),
        go_type(value)
    )
}
