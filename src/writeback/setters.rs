//! Flux's image policy setters: a YAML scalar followed on its line by the comment
//! `# {"$imagepolicy": "<namespace>:<policy>"}` takes the policy's latest image (`name:tag`,
//! with `@digest` when the policy reflects one); the suffixes `:tag`, `:name` and `:digest`
//! take that part alone. Files are chosen as image-automation-controller v1.2.0 chooses them
//! (`*.yaml`, `*.yml` and `Kustomization` files holding the quoted token `"$imagepolicy"`; a
//! file that does not parse is skipped and named).
//!
//! Unlike Flux, which rewrites every changed file through kyaml (re-indenting it), only the
//! scalar is replaced, in place: a diff shows the tag and nothing else. The new value keeps the
//! scalar's quoting; a plain scalar whose new value YAML 1.1 would read as something other
//! than a string (`1.10`, `yes`) is double-quoted, as kyaml quotes it. Written here because no
//! crate edits YAML in place; the scalars are located by libyaml-safer's reader, not by
//! searching the text.

use std::collections::BTreeMap;

use libyaml_safer::{EventData, Parser, ScalarStyle};
use serde_json::Value;

/// The quoted token a file must hold to be examined.
const TOKEN: &str = "\"$imagepolicy\"";

/// The values setters take, by setter name (`ns:policy`, `ns:policy:tag`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Setters(BTreeMap<String, String>);

impl Setters {
    /// The four setters of policy `namespace/name` whose latest image is `image:tag`
    /// (`@digest` when given).
    pub fn add(
        &mut self,
        namespace: &str,
        name: &str,
        image: &str,
        tag: &str,
        digest: Option<&str>,
    ) {
        let at = digest.map(|d| format!("@{d}")).unwrap_or_default();
        let setter = format!("{namespace}:{name}");
        self.0.insert(format!("{setter}:tag"), tag.to_owned());
        self.0.insert(format!("{setter}:name"), image.to_owned());
        self.0
            .insert(format!("{setter}:digest"), digest.unwrap_or("").to_owned());
        self.0.insert(setter, format!("{image}:{tag}{at}"));
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each setter and its value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The object a change is in, as kyaml identifies it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectId {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// One scalar a setter changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub object: ObjectId,
    pub setter: String,
    pub old: String,
    pub new: String,
}

/// A file the setters changed: its new text and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated {
    pub text: String,
    pub changes: Vec<Change>,
}

/// Whether image automation examines the file at `path` (relative or not).
#[must_use]
pub fn examined(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base == "Kustomization"
        || std::path::Path::new(base)
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml")
}

/// What the setters change in the files under `path` (`""`: all) of a commit: each changed
/// file (path, update), and the files that hold the token but do not parse.
#[must_use]
pub fn update_tree<'a>(
    files: impl Iterator<Item = (&'a str, &'a [u8])>,
    path: &str,
    setters: &Setters,
) -> (Vec<(String, Updated)>, Vec<String>) {
    let prefix = format!("{path}/");
    let (mut updated, mut problems) = (Vec::new(), Vec::new());
    for (file, bytes) in files {
        if !(path.is_empty() || file.starts_with(&prefix)) || !examined(file) {
            continue;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        match apply(text, setters) {
            Ok(Some(u)) => updated.push((file.to_owned(), u)),
            Ok(None) => {}
            Err(_) => problems.push(file.to_owned()),
        }
    }
    (updated, problems)
}

/// A scalar a marker follows: where it is and what to set it to.
struct Site {
    line: usize,
    /// Character columns of the scalar, quotes included.
    start: usize,
    end: usize,
    style: ScalarStyle,
    doc: usize,
    old: String,
    setter: String,
}

/// Applies `setters` to `text`; `Ok(None)` when nothing changes. An error when the file does
/// not parse as YAML (Flux skips such a file and names it).
pub fn apply(text: &str, setters: &Setters) -> Result<Option<Updated>, String> {
    if !text.contains(TOKEN) {
        return Ok(None);
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let sites = sites(text, &lines)?;
    let ids = identities(text);
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let mut changes = Vec::new();
    // Right to left on a line, so earlier columns stay valid.
    for site in sites.iter().rev() {
        let Some(new) = setters.0.get(&site.setter) else {
            continue;
        };
        if *new == site.old {
            continue;
        }
        let line = &out[site.line];
        let chars: Vec<char> = line.chars().collect();
        let before: String = chars[..site.start].iter().collect();
        let after: String = chars[site.end..].iter().collect();
        out[site.line] = format!("{before}{}{after}", quoted(new, site.style));
        changes.push(Change {
            object: ids.get(site.doc).cloned().unwrap_or_default(),
            setter: site.setter.clone(),
            old: site.old.clone(),
            new: new.clone(),
        });
    }
    if changes.is_empty() {
        return Ok(None);
    }
    changes.reverse();
    Ok(Some(Updated {
        text: out.concat(),
        changes,
    }))
}

/// The scalars of `text` followed on their line by a setter marker.
fn sites(text: &str, lines: &[&str]) -> Result<Vec<Site>, String> {
    let bytes = crate::libyaml::input(text.as_bytes());
    let mut slice: &[u8] = &bytes;
    let mut parser = Parser::new();
    parser.set_input_string(&mut slice);
    // A byte order mark the reader was handed shifts the first line's columns by one.
    let shift = usize::from(bytes.len() != text.len());
    let mut doc = 0usize;
    let mut found = Vec::new();
    for event in parser {
        let event = event.map_err(|e| e.to_string())?;
        match event.data {
            EventData::DocumentEnd { .. } => doc += 1,
            EventData::Scalar { value, style, .. } => {
                let (s, e) = (event.start_mark, event.end_mark);
                if s.line != e.line {
                    continue;
                }
                let line = usize::try_from(s.line).unwrap_or(usize::MAX);
                let first = usize::from(line == 0) * shift;
                let start = usize::try_from(s.column).unwrap_or(0).saturating_sub(first);
                let end = usize::try_from(e.column).unwrap_or(0).saturating_sub(first);
                let Some(text) = lines.get(line) else {
                    continue;
                };
                let rest: String = text.chars().skip(end).collect();
                if let Some(setter) = marker(&rest) {
                    found.push(Site {
                        line,
                        start,
                        end,
                        style,
                        doc,
                        old: value,
                        setter,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(found)
}

/// The setter a line's remainder after a scalar names: `  # {"$imagepolicy": "ns:name"}`.
fn marker(rest: &str) -> Option<String> {
    let comment = rest.trim_start_matches([' ', '\t']).strip_prefix('#')?;
    let json: Value = serde_json::from_str(comment.trim()).ok()?;
    json.get("$imagepolicy")?.as_str().map(str::to_owned)
}

/// Each document's identity, in order (a document that is not a mapping has an empty one).
fn identities(text: &str) -> Vec<ObjectId> {
    use serde::Deserialize as _;
    serde_yaml::Deserializer::from_str(text)
        .map(|d| {
            let v = Value::deserialize(d).unwrap_or(Value::Null);
            let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
            ObjectId {
                api_version: s(&v["apiVersion"]),
                kind: s(&v["kind"]),
                name: s(&v["metadata"]["name"]),
                namespace: s(&v["metadata"]["namespace"]),
            }
        })
        .collect()
}

/// `value` written in `style`.
fn quoted(value: &str, style: ScalarStyle) -> String {
    match style {
        ScalarStyle::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        ScalarStyle::DoubleQuoted => serde_json::to_string(value).unwrap_or_default(),
        _ if yaml11_non_string(value) || needs_quotes(value) => {
            serde_json::to_string(value).unwrap_or_default()
        }
        _ => value.to_owned(),
    }
}

/// Whether a plain scalar would not read back as this string under YAML 1.1 (kyaml's
/// `IsYaml1_1NonString`): null, booleans of either version, integers (`0x`, `0o`, `0b`, a
/// leading `0` for octal) and floats.
fn yaml11_non_string(v: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "-.inf", ".nan", ".NaN", ".NAN",
    ];
    if WORDS.contains(&v) {
        return true;
    }
    let plain: String = v.chars().filter(|c| *c != '_').collect();
    let digits = plain.trim_start_matches(['+', '-']).to_ascii_lowercase();
    let int = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find_map(|(p, radix)| Some(u64::from_str_radix(digits.strip_prefix(p)?, *radix).is_ok()))
        .unwrap_or_else(|| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()));
    int || (plain.parse::<f64>().is_ok() && plain.chars().any(|c| c.is_ascii_digit()))
}

/// Whether a plain scalar cannot hold `v`: an indicator in front, or `: ` or ` #` inside.
fn needs_quotes(v: &str) -> bool {
    const INDICATORS: &[char] = &[
        '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
        ' ',
    ];
    v.starts_with(INDICATORS)
        || v.starts_with("- ")
        || v.contains(": ")
        || v.contains(" #")
        || v.ends_with([' ', ':'])
}

#[cfg(test)]
#[path = "setters/tests.rs"]
mod tests;
