//! `ConfigMap` and Secret generators, and the content-hash name suffix kustomize gives them.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::kustomization::{GeneratorArgs, GeneratorOptions, string_map};

/// Which kind a generator makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    ConfigMap,
    Secret,
}

/// Where a generator reads a value from, resolved by the caller (files are read through
/// [`super::Files`]).
pub(crate) trait Source {
    /// Bytes of a file named relative to the kustomization directory.
    fn read(&self, reference: &str) -> Result<Vec<u8>, String>;

    /// Bytes of a file the entry reads as `format` (its key's or name's, as Flux decides the
    /// format of a SOPS-encrypted source); a source that decrypts does so here.
    fn read_as(&self, reference: &str, format: crate::sops::Format) -> Result<Vec<u8>, String> {
        let _ = format;
        self.read(reference)
    }
}

/// Builds the object a generator entry describes. Returns the object and whether its name
/// still needs the hash suffix.
pub(crate) fn generate(
    kind: Kind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    source: &dyn Source,
) -> Result<(Value, bool), String> {
    if args.name.is_empty() {
        return Err("generator entry has no `name`".into());
    }
    let pairs = pairs(args, source)?;
    let mut data = Map::new();
    let mut binary = Map::new();
    for (k, v) in pairs {
        match (kind, String::from_utf8(v)) {
            (Kind::ConfigMap, Ok(s)) => {
                data.insert(k, Value::String(s));
            }
            (Kind::ConfigMap, Err(e)) => {
                binary.insert(k, Value::String(b64(e.as_bytes())));
            }
            (Kind::Secret, r) => {
                let bytes =
                    r.map_or_else(std::string::FromUtf8Error::into_bytes, String::into_bytes);
                data.insert(k, Value::String(b64(&bytes)));
            }
        }
    }

    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut disable_hash = false;
    let mut immutable = false;
    for opts in [global, args.options.as_ref()].into_iter().flatten() {
        for (k, v) in string_map(&opts.labels) {
            labels.insert(k, Value::String(v));
        }
        for (k, v) in string_map(&opts.annotations) {
            annotations.insert(k, Value::String(v));
        }
        if let Some(d) = opts.disable_name_suffix_hash {
            disable_hash = d;
        }
        if let Some(i) = opts.immutable {
            immutable = i;
        }
    }

    let mut metadata = Map::new();
    metadata.insert("name".into(), Value::String(args.name.clone()));
    if !args.namespace.is_empty() {
        metadata.insert("namespace".into(), Value::String(args.namespace.clone()));
    }
    if !labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), Value::Object(annotations));
    }
    let mut obj = match kind {
        Kind::ConfigMap => json!({"apiVersion": "v1", "kind": "ConfigMap"}),
        Kind::Secret => json!({"apiVersion": "v1", "kind": "Secret",
            "type": if args.kind.is_empty() { "Opaque" } else { args.kind.as_str() }}),
    };
    let o = obj.as_object_mut().expect("literal object");
    o.insert("metadata".into(), Value::Object(metadata));
    if !data.is_empty() {
        o.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        o.insert("binaryData".into(), Value::Object(binary));
    }
    if immutable {
        o.insert("immutable".into(), Value::Bool(true));
    }
    Ok((obj, !disable_hash))
}

/// The entry's keys and values, from env files, files and literals in that order; a key may
/// appear once.
fn pairs(args: &GeneratorArgs, source: &dyn Source) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |k: String, v: Vec<u8>| -> Result<(), String> {
        if pairs.iter().any(|(existing, _)| *existing == k) {
            return Err(format!(
                "key `{k}` appears twice in generator `{}`",
                args.name
            ));
        }
        pairs.push((k, v));
        Ok(())
    };
    let envs = args
        .envs
        .iter()
        .chain(std::iter::once(&args.env).filter(|e| !e.is_empty()));
    for env in envs {
        // Flux reads an env file as dotenv unless its name says another format.
        let format = match crate::sops::Format::for_path(env) {
            crate::sops::Format::Binary => crate::sops::Format::Dotenv,
            f => f,
        };
        let text = source.read_as(env, format)?;
        for (k, v) in parse_env(&String::from_utf8_lossy(&text), env)? {
            add(k, v.into_bytes())?;
        }
    }
    for file in &args.files {
        let (key, path) = match file.split_once('=') {
            Some((k, p)) => (k.trim().to_owned(), p.trim()),
            None => (
                file.rsplit('/').next().unwrap_or(file).to_owned(),
                file.as_str(),
            ),
        };
        let format = crate::sops::Format::for_path(file.split('=').next().unwrap_or(file));
        add(key, source.read_as(path, format)?)?;
    }
    for literal in &args.literals {
        let (k, v) = literal
            .split_once('=')
            .ok_or_else(|| format!("literal `{literal}` is not of the form key=value"))?;
        add(k.trim().to_owned(), unquote(v).as_bytes().to_vec())?;
    }

    Ok(pairs)
}

/// Base64 as kustomize writes generated data: in lines of 70 characters, each ending in a line
/// break, once the text is 70 characters or longer (kyaml's `encodeBase64`).
fn b64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    if text.len() < LINE {
        return text;
    }
    let mut out = String::with_capacity(text.len() + text.len() / LINE + 1);
    for chunk in text.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// Strips one pair of matching surrounding quotes, as kustomize does for literals.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Parses an env file: `KEY=VALUE` lines; blank lines and `#` comments are skipped.
fn parse_env(text: &str, file: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // A bare KEY takes its value from kustomize's environment; fledge never reads its
        // own environment into a manifest (it may hold credentials), so the value is empty, as
        // kustomize gives it when the variable is unset.
        let (k, v) = line.split_once('=').unwrap_or((line.trim_end(), ""));
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(format!("{file}:{}: invalid key `{k}`", n + 1));
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

/// kustomize's name suffix for a `ConfigMap` or Secret: sha256 over Go's JSON encoding of
/// kind, data (and type or binaryData), first ten hex digits with a few letters swapped
/// so that the result never looks like a word or a number.
#[must_use]
pub(crate) fn name_hash(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("");
    // kustomize looks the name up under a key that never matches, so the name it hashes is
    // always empty; matching that is what keeps suffixes identical to kustomize's.
    let name = "";
    let field = |f: &str| obj.get(f).cloned().unwrap_or(Value::String(String::new()));
    let mut m = Map::new();
    m.insert("kind".into(), Value::String(kind.into()));
    m.insert("name".into(), Value::String(name.into()));
    m.insert("data".into(), field("data"));
    if kind == "Secret" {
        m.insert("type".into(), field("type"));
    } else if obj.get("binaryData").is_some_and(Value::is_object) {
        m.insert("binaryData".into(), field("binaryData"));
    }
    let mut encoded = String::new();
    go_json(&Value::Object(m), &mut encoded);
    let digest = Sha256::digest(encoded.as_bytes());
    digest
        .iter()
        .take(5)
        .flat_map(|b| [b >> 4, b & 0xf])
        .map(|nibble| match nibble {
            0 => 'g',
            1 => 'h',
            3 => 'k',
            0xa => 'm',
            0xe => 't',
            n => char::from_digit(u32::from(n), 16).expect("nibble is below 16"),
        })
        .collect()
}

/// JSON as Go's `encoding/json` writes it: sorted keys, no spaces, HTML-safe escapes.
fn go_json(v: &Value, out: &mut String) {
    use std::fmt::Write as _;
    match v {
        Value::Object(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(&Value::String(k.clone()), out);
                out.push(':');
                go_json(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out);
            }
            out.push(']');
        }
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    }
                    c if (c as u32) < 0x20 => {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests;
