//! YAML in and out: the only user of the YAML crates (serde_yaml reads values; `binary` reads
//! the tags serde_yaml drops, to decode `!!binary` as kubectl does).
//!
//! Documents are parsed into [`serde_json::Value`] (maps sort their keys, which is the order
//! `kubectl kustomize` prints them in). The emitter writes block-style YAML the way kustomize's
//! encoder does: two-space indent, sequences level with their key, strings quoted only when they
//! would read back as something else, multi-line strings as literal blocks, quoted strings folded
//! at 80 columns.

use std::fmt;

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A YAML syntax error with its position (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses a multi-document YAML stream. Empty documents are skipped.
pub fn parse_documents(bytes: &[u8]) -> Result<Vec<Value>, SyntaxError> {
    read(bytes, Opts::default())
}

/// Parses a kustomization file as kustomize does (go-yaml v2 into a generic map): a key given
/// twice in one mapping is not an error, the later entry wins, and a plain `yes`, `on` or `n`
/// is a boolean (YAML 1.1). Its keys must be strings, as kustomize's transformers later refuse
/// any other.
pub fn parse_kustomization(bytes: &[u8]) -> Result<Vec<Value>, SyntaxError> {
    let opts = Opts {
        strict: true,
        last_wins: true,
        yaml11: true,
        annotation_text: AnnotationText::Off,
    };
    read(bytes, opts)
}

/// Parses a stream of Kubernetes objects (manifests, strategic-merge patches): as
/// [`parse_documents`], and a mapping key that YAML reads as a number, boolean or null (`1: x`,
/// `true: x`) is an error, as `kubectl kustomize` refuses it ("json: unsupported type"). Such a
/// key reads as a string that would need quotes, so only then is the stream read again to find
/// it with its position.
pub fn parse_objects(bytes: &[u8]) -> Result<Vec<Value>, SyntaxError> {
    let docs = read(bytes, Opts::default())?;
    check_objects(&docs, bytes)?;
    Ok(docs)
}

/// Parses Kubernetes objects as kustomize reads resources: as [`parse_objects`], and an
/// annotation value YAML reads as a number, boolean or null is the text written (`0x10` stays
/// `0x10`), as kustomize's annotations are strings.
pub fn parse_resources(bytes: &[u8]) -> Result<Vec<Value>, SyntaxError> {
    let docs = read(
        bytes,
        Opts {
            annotation_text: AnnotationText::All,
            ..Opts::default()
        },
    )?;
    check_objects(&docs, bytes)?;
    Ok(docs)
}

/// Parses patches: as [`parse_documents`], and an annotation value YAML reads as a number or
/// boolean is the text written (a null stays: it deletes).
pub fn parse_patches(bytes: &[u8]) -> Result<Vec<Value>, SyntaxError> {
    read(
        bytes,
        Opts {
            annotation_text: AnnotationText::Typed,
            ..Opts::default()
        },
    )
}

/// For `docs` read from `bytes` by [`parse_documents`]: refuses a mapping key that YAML reads as
/// a number, boolean or null (see [`parse_objects`]).
pub fn check_objects(docs: &[Value], bytes: &[u8]) -> Result<(), SyntaxError> {
    if docs.iter().any(has_unquoted_looking_key) {
        read(
            bytes,
            Opts {
                strict: true,
                ..Opts::default()
            },
        )?;
    }
    Ok(())
}

fn has_unquoted_looking_key(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| {
            // What serde_yaml reads as null, a boolean or a number starts with one of these.
            let maybe = k.as_bytes().first().is_some_and(|b| {
                matches!(
                    b,
                    b'0'..=b'9'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'~'
                        | b'n'
                        | b'N'
                        | b't'
                        | b'T'
                        | b'f'
                        | b'F'
                )
            });
            (maybe && resolves_to_non_string(k)) || has_unquoted_looking_key(v)
        }),
        Value::Array(items) => items.iter().any(has_unquoted_looking_key),
        _ => false,
    }
}

/// How a stream is read.
#[derive(Clone, Copy, Default)]
struct Opts {
    /// Keys must be strings.
    strict: bool,
    /// A key given twice: the later entry wins (else an error).
    last_wins: bool,
    /// Plain `yes`, `on`, `n`, … are booleans, as YAML 1.1 reads them.
    yaml11: bool,
    /// Which annotation values that are not strings are kept as the text written.
    annotation_text: AnnotationText,
}

/// Annotation values kept as the text written (kustomize holds annotations as strings).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum AnnotationText {
    #[default]
    Off,
    /// Numbers and booleans (in a patch, a null deletes).
    Typed,
    /// Numbers, booleans and nulls.
    All,
}

/// Reads a stream.
fn read(bytes: &[u8], opts: Opts) -> Result<Vec<Value>, SyntaxError> {
    let mut raw = Vec::new();
    for doc in serde_yaml::Deserializer::from_slice(bytes) {
        let value = Seed { key: false, opts }
            .deserialize(doc)
            .map_err(|e| syntax_error(&e))?;
        raw.push(value);
    }
    // Every tag starts with `!`: most files have none, and are read once.
    if bytes.contains(&b'!') {
        for found in binary::scan(bytes)? {
            if let Some(doc) = raw.get_mut(found.doc) {
                found.apply(doc);
            }
        }
    }
    if opts.yaml11 && raw.iter().any(has_non_finite) {
        // kustomize turns a kustomization into JSON, which has no infinity or NaN.
        return Err(SyntaxError {
            line: 1,
            column: 1,
            message: "a value reads as an infinite or not-a-number float, which kustomize cannot read (it turns the kustomization into JSON); quote it".into(),
        });
    }
    if opts.yaml11 {
        for found in binary::plain_scalars(bytes, true)? {
            if let Some(doc) = raw.get_mut(found.doc) {
                found.apply_yaml11(doc);
            }
        }
    }
    if opts.annotation_text == AnnotationText::All && raw.iter().any(has_kyaml_scalar) {
        for found in binary::plain_scalars(bytes, false)? {
            if let Some(doc) = raw.get_mut(found.doc) {
                found
                    .apply_kyaml_scalars(doc)
                    .map_err(|message| SyntaxError {
                        line: 1,
                        column: 1,
                        message,
                    })?;
            }
        }
    }
    if opts.annotation_text != AnnotationText::Off && raw.iter().any(has_typed_annotation) {
        for found in binary::plain_scalars(bytes, false)? {
            if let Some(doc) = raw.get_mut(found.doc) {
                found.apply_to_annotations(doc, opts.annotation_text == AnnotationText::All);
            }
        }
    }
    let mut docs = Vec::new();
    for mut value in raw {
        value.apply_merge().map_err(|e| syntax_error(&e))?;
        let value = to_json(value);
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// True when a document's `metadata.annotations` holds a value YAML reads as a number, boolean
/// or null: kustomize keeps such a value as the text written (see [`stringify_annotations`]).
fn has_typed_annotation(doc: &serde_yaml::Value) -> bool {
    match doc.get("metadata").and_then(|m| m.get("annotations")) {
        Some(serde_yaml::Value::Mapping(m)) => m.values().any(|v| {
            matches!(
                v,
                serde_yaml::Value::Number(_) | serde_yaml::Value::Bool(_) | serde_yaml::Value::Null
            )
        }),
        _ => false,
    }
}

fn has_non_finite(v: &serde_yaml::Value) -> bool {
    match v {
        serde_yaml::Value::Number(n) => n.as_f64().is_some_and(|f| !f.is_finite()),
        serde_yaml::Value::Sequence(items) => items.iter().any(has_non_finite),
        serde_yaml::Value::Mapping(m) => m.values().any(has_non_finite),
        serde_yaml::Value::Tagged(t) => has_non_finite(&t.value),
        _ => false,
    }
}

/// True when a document holds a string that kustomize's YAML reader may read otherwise when
/// written plain (`007`, `1_000`, a date, `.inf`).
fn has_kyaml_scalar(v: &serde_yaml::Value) -> bool {
    match v {
        serde_yaml::Value::String(s) => {
            s.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
                && (binary::yaml11_int(s).is_some()
                    || binary::yaml_float(s).is_some()
                    || binary::yaml_date(s).is_some()
                    || binary::yaml_inf_or_nan(s))
        }
        serde_yaml::Value::Number(n) => n.as_f64().is_some_and(|f| !f.is_finite()),
        serde_yaml::Value::Sequence(items) => items.iter().any(has_kyaml_scalar),
        serde_yaml::Value::Mapping(m) => m.values().any(has_kyaml_scalar),
        serde_yaml::Value::Tagged(t) => has_kyaml_scalar(&t.value),
        _ => false,
    }
}

/// kustomize's last step rewrites every object's annotations as a map of strings: a value that
/// is not a string by then (one a patch set) becomes its text.
pub(crate) fn stringify_annotations(v: &mut Value) {
    let Some(Value::Object(ann)) = v.get_mut("metadata").and_then(|m| m.get_mut("annotations"))
    else {
        return;
    };
    for val in ann.values_mut() {
        let text = match val {
            Value::String(_) => continue,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            // kustomize reads a null's or a collection's text as empty.
            Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
        };
        *val = Value::String(text);
    }
}

/// Parses exactly one YAML (or JSON) document; an empty input is `null`.
pub fn parse_one(bytes: &[u8]) -> Result<Value, SyntaxError> {
    let mut docs = parse_documents(bytes)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(SyntaxError {
            line: 1,
            column: 1,
            message: format!("expected one YAML document, found {n}"),
        }),
    }
}

fn syntax_error(e: &serde_yaml::Error) -> SyntaxError {
    let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C"; the position is reported separately.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    SyntaxError {
        line,
        column,
        message,
    }
}

/// Reads a YAML node as serde_yaml reads a `Value`, except that a mapping key must be a scalar
/// without a custom tag: `kubectl kustomize` refuses a sequence or mapping as a key ("invalid
/// map key"), and no JSON object can hold one. The check runs while the key is read, so the error
/// carries its position (serde_yaml's own `Value` would read `[a, b]: x` as a key and fledge
/// printed it as the string `"- a\n- b"`). As a mapping key (`key`), a sequence or mapping is
/// refused, and with `strict` any key that is not a string.
#[derive(Clone, Copy)]
struct Seed {
    key: bool,
    opts: Opts,
}

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = serde_yaml::Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(NodeVisitor {
            key: self.key,
            opts: self.opts,
        })
    }
}

struct NodeVisitor {
    /// Reading a mapping key: collections are refused.
    key: bool,
    opts: Opts,
}

impl NodeVisitor {
    fn refuse_key<E: de::Error>(&self, what: &str) -> Result<(), E> {
        if self.key {
            Err(E::custom(format_args!(
                "a {what} cannot be a mapping key (Kubernetes objects and kustomizations have string keys)"
            )))
        } else {
            Ok(())
        }
    }

    /// A scalar that YAML reads as `what` (shown as `shown`), where a string key must stand.
    fn refuse_scalar_key<E: de::Error>(&self, what: &str, shown: &str) -> Result<(), E> {
        if self.key && self.opts.strict {
            Err(E::custom(format_args!(
                "a mapping key reads as {what} ({shown}), not a string: quote it; kubectl kustomize refuses a key that is not a string"
            )))
        } else {
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = serde_yaml::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
        self.refuse_scalar_key("a boolean", &b.to_string())?;
        Ok(serde_yaml::Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Self::Value, E> {
        self.refuse_scalar_key("a number", &i.to_string())?;
        Ok(serde_yaml::Value::Number(i.into()))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Self::Value, E> {
        self.refuse_scalar_key("a number", &u.to_string())?;
        Ok(serde_yaml::Value::Number(u.into()))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Self::Value, E> {
        self.refuse_scalar_key("a number", &serde_yaml::Number::from(f).to_string())?;
        Ok(serde_yaml::Value::Number(f.into()))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::String(s))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.refuse_scalar_key("null", "~")?;
        Ok(serde_yaml::Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.refuse_scalar_key("null", "~")?;
        Ok(serde_yaml::Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        self.refuse_key("sequence")?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Seed {
            key: false,
            opts: self.opts,
        })? {
            items.push(item);
        }
        Ok(serde_yaml::Value::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        self.refuse_key("mapping")?;
        let mut out = serde_yaml::Mapping::new();
        while let Some(key) = map.next_key_seed(Seed {
            key: true,
            opts: self.opts,
        })? {
            if out.contains_key(&key) && !self.opts.last_wins {
                // The words serde_yaml's own `Mapping` uses.
                return Err(de::Error::custom(match &key {
                    serde_yaml::Value::Null => "duplicate entry with null key".to_owned(),
                    serde_yaml::Value::Bool(b) => format!("duplicate entry with key `{b}`"),
                    serde_yaml::Value::Number(n) => format!("duplicate entry with key {n}"),
                    serde_yaml::Value::String(s) => format!("duplicate entry with key {s:?}"),
                    _ => "duplicate entry in YAML map".to_owned(),
                }));
            }
            let value = map.next_value_seed(Seed {
                key: false,
                opts: self.opts,
            })?;
            out.insert(key, value);
        }
        Ok(serde_yaml::Value::Mapping(out))
    }

    /// A node with a custom tag (`!Tag value`), which serde_yaml hands over as an enum.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        let (tag, contents): (String, _) = data.variant()?;
        if self.key {
            // kubectl cannot turn such a key into a string either ("unsupported type").
            return Err(de::Error::custom(format_args!(
                "a mapping key cannot carry the custom tag `!{tag}` (Kubernetes objects and kustomizations have string keys)"
            )));
        }
        if tag.is_empty() {
            return Err(de::Error::custom("empty YAML tag is not allowed"));
        }
        let value = contents.newtype_variant_seed(Seed {
            key: self.key,
            opts: self.opts,
        })?;
        Ok(serde_yaml::Value::Tagged(Box::new(
            serde_yaml::value::TaggedValue {
                tag: serde_yaml::value::Tag::new(tag),
                value,
            },
        )))
    }
}

fn to_json(value: serde_yaml::Value) -> Value {
    match value {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => number(&n),
        serde_yaml::Value::String(s) => Value::String(s),
        serde_yaml::Value::Sequence(items) => {
            Value::Array(items.into_iter().map(to_json).collect())
        }
        serde_yaml::Value::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(key_string(k), to_json(v));
            }
            Value::Object(out)
        }
        serde_yaml::Value::Tagged(t) => to_json(t.value),
    }
}

fn number(n: &serde_yaml::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::Number(i.into())
    } else if let Some(u) = n.as_u64() {
        Value::Number(u.into())
    } else {
        n.as_f64()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(n.to_string()), Value::Number)
    }
}

fn key_string(k: serde_yaml::Value) -> String {
    match k {
        serde_yaml::Value::String(s) => s,
        serde_yaml::Value::Null => "null".to_owned(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        other => serde_yaml::to_string(&other)
            .unwrap_or_default()
            .trim_end()
            .to_owned(),
    }
}

/// A character kubectl kustomize cannot print: kustomize writes each object as JSON and reads
/// it back as YAML, and go-yaml's reader refuses DEL, the C1 controls other than NEL, U+FFFE and
/// U+FFFF ("control characters are not allowed"), which Go's JSON encoder leaves unescaped.
fn unprintable(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{84}' | '\u{86}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}')
}

/// The first key or string of `v` that holds a character kubectl kustomize cannot print (see
/// [`unprintable`]; in a key, NEL too): its field path (`spec.args[1]`) and the character.
#[must_use]
pub fn unprintable_character(v: &Value) -> Option<(String, char)> {
    fn walk(v: &Value, path: &mut String) -> Option<char> {
        use std::fmt::Write as _;
        match v {
            Value::String(s) => s.chars().find(|c| unprintable(*c)),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                let found = walk(item, path);
                if found.is_none() {
                    path.truncate(len);
                }
                found
            }),
            Value::Object(m) => m.iter().find_map(|(k, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                // A NEL in a key is a line break where a flow mapping's key must stay on one line.
                let found = k
                    .chars()
                    .find(|c| unprintable(*c) || *c == '\u{85}')
                    .or_else(|| walk(item, path));
                if found.is_none() {
                    path.truncate(len);
                }
                found
            }),
            Value::Null | Value::Bool(_) | Value::Number(_) => None,
        }
    }
    let mut path = String::new();
    walk(v, &mut path).map(|c| (path, c))
}

/// Writes documents as a YAML stream separated by `---`, as `kubectl kustomize` prints them.
#[must_use]
pub fn emit_stream<'a>(docs: impl IntoIterator<Item = &'a Value>) -> String {
    use rayon::prelude::*;
    // Each document is written on its own (on every core), then joined in order.
    let docs: Vec<&Value> = docs.into_iter().collect();
    let texts: Vec<String> = docs
        .par_iter()
        .map(|doc| {
            let mut text = String::new();
            emit_document(doc, &mut text);
            text
        })
        .collect();
    texts.join("---\n")
}

/// Writes one document (no separator).
pub fn emit_document(doc: &Value, out: &mut String) {
    match doc {
        Value::Object(m) if !m.is_empty() => write_map(m, 0, false, out),
        Value::Array(a) if !a.is_empty() => write_seq(a, 0, false, out),
        other => {
            write_scalar(other, 0, out);
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Writes a block mapping at `indent`; with `inline_first` the first key continues the line.
fn write_map(m: &Map<String, Value>, indent: usize, inline_first: bool, out: &mut String) {
    // The map holds its keys bytewise, which is kubectl's order or close to it: an insertion
    // sort is near linear here, and (unlike the standard sort) cannot panic should the order
    // kubectl uses not be total for some keys.
    let mut entries: Vec<(&String, &Value)> = Vec::with_capacity(m.len());
    for entry in m {
        let at = entries
            .iter()
            .rposition(|e| !key_less(entry.0, e.0))
            .map_or(0, |i| i + 1);
        entries.insert(at, entry);
    }
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        if is_simple_key(k) {
            write_key(k, out);
            out.push(':');
            write_value_after_key(v, indent, out);
        } else {
            write_complex_entry(k, v, indent, out);
        }
    }
}

/// go-yaml's test for a key written in place (`key: value`): at most 128 bytes, on one line
/// (its line breaks include NEL and the Unicode line and paragraph separators).
fn is_simple_key(k: &str) -> bool {
    k.len() <= 128 && !k.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
}

/// A key go-yaml writes after `? `, with its value after `: ` on the next line.
fn write_complex_entry(k: &str, v: &Value, indent: usize, out: &mut String) {
    out.push_str("? ");
    write_string(k, indent + 2, out);
    out.push('\n');
    pad(out, indent);
    out.push(':');
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push(' ');
            write_map(m, indent + 2, true, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push(' ');
            write_seq(a, indent + 2, true, out);
        }
        other => {
            out.push(' ');
            write_scalar(other, indent + 2, out);
            out.push('\n');
        }
    }
}

/// The order kubectl kustomize prints a map's keys in: go-yaml v2's `keyList.Less` (kustomize
/// writes objects through sigs.k8s.io/yaml's `JSONToYAML`), which is not bytewise: a run of
/// digits compares by its value (`item2` before `item10`, `"80"` before `"443"`), and a letter
/// sorts after a non-letter unless both follow a digit. A port, as no crate has this order.
fn key_less(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        key_less_in(a.as_bytes(), b.as_bytes())
    } else {
        let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        key_less_in(&ar, &br)
    }
}

/// [`key_less`] over the characters of two keys (bytes when both are ASCII).
fn key_less_in<T: Copy + Into<char>>(ar: &[T], br: &[T]) -> bool {
    // Go's unicode.IsDigit and IsLetter, close enough beyond ASCII.
    let digit = |c: T| {
        let c: char = c.into();
        c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
    };
    let letter = |c: T| Into::<char>::into(c).is_alphabetic();
    let ch = |c: T| -> char { c.into() };
    let mut digits = false;
    for i in 0..ar.len().min(br.len()) {
        if ch(ar[i]) == ch(br[i]) {
            digits = digit(ar[i]);
            continue;
        }
        let (al, bl) = (letter(ar[i]), letter(br[i]));
        if al && bl {
            return ch(ar[i]) < ch(br[i]);
        }
        if al || bl {
            return if digits { al } else { bl };
        }
        let (mut an, mut bn) = (0_i64, 0_i64);
        if ch(ar[i]) == '0' || ch(br[i]) == '0' {
            for &c in ar[..i].iter().rev() {
                if !digit(c) {
                    break;
                }
                if ch(c) != '0' {
                    (an, bn) = (1, 1);
                    break;
                }
            }
        }
        let value = |chars: &[T], mut n: i64| {
            let mut end = i;
            while end < chars.len() && digit(chars[end]) {
                n = n
                    .wrapping_mul(10)
                    .wrapping_add(i64::from(u32::from(ch(chars[end]))) - i64::from(u32::from('0')));
                end += 1;
            }
            (n, end)
        };
        let ((an, ai), (bn, bi)) = (value(ar, an), value(br, bn));
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ch(ar[i]) < ch(br[i]);
    }
    ar.len() < br.len()
}

fn write_value_after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(m, indent + 2, false, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(a, indent, false, out);
        }
        other => {
            out.push(' ');
            write_scalar(other, indent + 2, out);
            out.push('\n');
        }
    }
}

fn write_seq(a: &[Value], indent: usize, inline_first: bool, out: &mut String) {
    for (i, item) in a.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => write_map(m, indent + 2, true, out),
            Value::Array(inner) if !inner.is_empty() => write_seq(inner, indent + 2, true, out),
            other => {
                write_scalar(other, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

/// A string as kubectl kustomize prints it after writing it as JSON and reading that back as
/// YAML: Go's JSON encoder leaves NEL (U+0085) unescaped, and the YAML reader takes it for a
/// line break inside a double-quoted scalar and folds it, with the spaces around it, into one
/// space (or, for n breaks in a row, n - 1 newlines).
fn kubectl_text(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\u{85}') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{85}' {
            out.push(c);
            continue;
        }
        // Blanks before the break are dropped, and blanks and breaks after it read as one fold.
        out.truncate(out.trim_end_matches(' ').len());
        let mut breaks = 1;
        while let Some(&n) = chars.peek() {
            match n {
                ' ' => {}
                '\u{85}' => breaks += 1,
                _ => break,
            }
            chars.next();
        }
        if breaks == 1 {
            out.push(' ');
        } else {
            out.extend(std::iter::repeat_n('\n', breaks - 1));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Every key and string of `v` as kubectl kustomize holds it once it has read the object back
/// (see [`kubectl_text`]), before anything is hashed or printed.
pub(crate) fn as_kubectl_reads(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(folded) = kubectl_text(s) {
                *s = folded;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(as_kubectl_reads),
        Value::Object(m) => {
            if m.keys().any(|k| k.contains('\u{85}')) {
                *m = std::mem::take(m)
                    .into_iter()
                    .map(|(k, v)| (kubectl_text(&k).into_owned(), v))
                    .collect();
            }
            m.values_mut().for_each(as_kubectl_reads);
        }
        Value::Number(n) => {
            if let Some(i) = n.as_f64().filter(|_| n.is_f64()).and_then(integral) {
                *n = i;
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// A float Go's JSON encoder writes without a fraction or exponent (`1.0` → `1`, `-0.0` →
/// `-0`), which kubectl then reads back as an integer.
fn integral(f: f64) -> Option<Number> {
    if f.fract() != 0.0 || !f.is_finite() || f.abs() >= 1e21 {
        return None;
    }
    let text = format!("{f:.0}");
    let text = text.trim_start_matches('-');
    if f.is_sign_negative() && text != "0" {
        format!("-{text}").parse::<i64>().ok().map(Number::from)
    } else {
        text.parse::<u64>().ok().map(Number::from)
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` writes it, which is how kubectl
/// prints one: the shortest digits, in exponent form (`1e+30`, `1.5e-07`) below 1e-4 or from
/// 1e6 on.
fn go_float(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs());
    }
    let dp = usize::try_from(exp + 1).unwrap_or(0);
    if exp < 0 {
        let zeros = "0".repeat(usize::try_from(-exp - 1).unwrap_or(0));
        format!("{sign}0.{zeros}{digits}")
    } else if dp >= digits.len() {
        format!("{sign}{digits}{}", "0".repeat(dp - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..dp], &digits[dp..])
    }
}

fn write_key(k: &str, out: &mut String) {
    match string_style(k, true) {
        Style::Plain => out.push_str(k),
        Style::Single => write_single_quoted(k, NO_FOLD, out),
        Style::Double | Style::Literal => write_double_quoted(k, NO_FOLD, out),
    }
}

/// Writes a scalar (or an empty collection) in flow position; `indent` is where continuation
/// lines of folded or block scalars go.
fn write_scalar(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64().filter(|_| n.is_f64()) {
            Some(f) => out.push_str(&go_float(f)),
            None => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_string(s, indent, out),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn write_string(s: &str, indent: usize, out: &mut String) {
    match string_style(s, false) {
        Style::Plain => write_plain(s, indent, out),
        Style::Single => write_single_quoted(s, indent, out),
        Style::Double => write_double_quoted(s, indent, out),
        Style::Literal => write_literal(s, indent, out),
    }
}

/// What libyaml's scalar analysis allows for a string.
#[allow(clippy::struct_excessive_bools)]
struct Analysis {
    multiline: bool,
    plain: bool,
    single: bool,
    block: bool,
}

/// go-yaml's test, which (unlike libyaml's) takes no character beyond the Basic Multilingual
/// Plane as printable: kubectl writes an emoji as `"\U0001F600"`.
fn is_printable(c: char) -> bool {
    matches!(c, '\n' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && c != '\u{feff}'
}

fn analyze(s: &str) -> Analysis {
    let chars: Vec<char> = s.chars().collect();
    let mut block_ind = false;
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_ind = true;
    }
    let mut preceded_by_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_by_ws = next.is_none_or(|n| n == ' ' || n == '\t' || n == '\n' || n == '\r');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_ind = true,
                '?' | ':' | '-' if followed_by_ws => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => {
                    block_ind = true;
                }
                '#' if preceded_by_ws => {
                    block_ind = true;
                }
                _ => {}
            }
        }
        // NEL and the Unicode line separators are line breaks to a YAML reader; only a
        // double-quoted escape keeps them intact.
        if !is_printable(c) || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') {
            special = true;
        }
        if c == '\n' {
            line_breaks = true;
        }
        let last = i + 1 == chars.len();
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if last {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if c == '\n' {
            if i == 0 {
                leading_break = true;
            }
            if last {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    }
    let mut a = Analysis {
        multiline: line_breaks,
        plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.plain = false;
        a.single = false;
    }
    if space_break || special {
        a.plain = false;
        a.single = false;
        a.block = false;
    }
    if line_breaks || block_ind {
        a.plain = false;
    }
    a
}

/// The style kustomize's encoder picks for a string value (or a key when `key` is true).
fn string_style(s: &str, key: bool) -> Style {
    if s.is_empty() {
        return Style::Double;
    }
    let a = analyze(s);
    let requested = if s.contains('\n') {
        Style::Literal
    } else if resolves_to_non_string(s) {
        Style::Double
    } else {
        Style::Plain
    };
    match requested {
        Style::Literal if a.block && !key => Style::Literal,
        Style::Plain if a.plain && !(key && a.multiline) => Style::Plain,
        Style::Plain | Style::Single if a.single => Style::Single,
        _ => Style::Double,
    }
}

/// True for plain scalars that YAML readers would take as a bool, null, number or timestamp.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL", "~", "y", "Y",
        "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return false;
    }
    is_number(s) || is_timestamp(s) || is_base60(s)
}

fn is_number(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let plain = body.replace('_', "");
    if plain.is_empty() {
        return false;
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = plain.strip_prefix(prefix) {
            return !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
        }
    }
    if plain.chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    // [0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)? or \.[0-9]+(...)?
    let (mantissa, exponent) = match plain.find(['e', 'E']) {
        Some(i) => (&plain[..i], Some(&plain[i + 1..])),
        None => (plain.as_str(), None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            int.chars().all(|c| c.is_ascii_digit())
                && frac.chars().all(|c| c.is_ascii_digit())
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    binary::yaml_date(s).is_some()
        || b.len() >= 10
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && b[5].is_ascii_digit()
            && (b[6] == b'-' || (b[6].is_ascii_digit() && b.get(7) == Some(&b'-')))
}

fn is_base60(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let mut parts = body.split(':');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() || first.is_empty() || !first.as_bytes()[0].is_ascii_digit() {
        return false;
    }
    if !first.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return false;
    }
    let last = rest.len() - 1;
    rest.iter().enumerate().all(|(i, p)| {
        let p = if i == last {
            p.split_once('.').map_or(*p, |(a, _)| a)
        } else {
            p
        };
        (1..=2).contains(&p.len())
            && p.chars().all(|c| c.is_ascii_digit())
            && (p.len() == 1 || p.as_bytes()[0] <= b'5')
    })
}

const BEST_WIDTH: usize = 80;

/// The indentation that says: write on one line (a simple key is never folded, as in go-yaml).
const NO_FOLD: usize = usize::MAX;

fn column(out: &str) -> usize {
    out.rfind('\n')
        .map_or_else(|| out.chars().count(), |i| out[i + 1..].chars().count())
}

/// A plain scalar, folded at a space once past the preferred width (readers fold it back).
fn write_plain(s: &str, indent: usize, out: &mut String) {
    let mut col = column(out);
    let mut spaces = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            if !spaces && col > BEST_WIDTH && chars.peek() != Some(&' ') {
                out.push('\n');
                pad(out, indent);
                col = indent;
            } else {
                out.push(' ');
                col += 1;
            }
            spaces = true;
        } else {
            out.push(c);
            col += 1;
            spaces = false;
        }
    }
}

fn write_single_quoted(s: &str, indent: usize, out: &mut String) {
    out.push('\'');
    let chars: Vec<char> = s.chars().collect();
    let mut col = column(out);
    let (mut spaces, mut breaks) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            if indent != NO_FOLD
                && !spaces
                && col > BEST_WIDTH
                && i > 0
                && i + 1 != chars.len()
                && chars[i + 1] != ' '
            {
                out.push('\n');
                pad(out, indent);
                col = indent;
            } else {
                out.push(c);
                col += 1;
            }
            spaces = true;
        } else if c == '\n' {
            if !breaks {
                out.push('\n');
            }
            out.push('\n');
            col = 0;
            breaks = true;
        } else {
            if breaks {
                pad(out, indent);
                col = indent;
            }
            if c == '\'' {
                out.push('\'');
                col += 1;
            }
            out.push(c);
            col += 1;
            spaces = false;
            breaks = false;
        }
    }
    out.push('\'');
}

fn write_double_quoted(s: &str, indent: usize, out: &mut String) {
    use std::fmt::Write as _;
    out.push('"');
    let chars: Vec<char> = s.chars().collect();
    let mut col = column(out);
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        let escape = match c {
            '\0' => Some("\\0"),
            '\u{7}' => Some("\\a"),
            '\u{8}' => Some("\\b"),
            '\t' => Some("\\t"),
            '\n' => Some("\\n"),
            '\u{b}' => Some("\\v"),
            '\u{c}' => Some("\\f"),
            '\r' => Some("\\r"),
            '\u{1b}' => Some("\\e"),
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\u{85}' => Some("\\N"),
            '\u{a0}' => Some("\\_"),
            '\u{2028}' => Some("\\L"),
            '\u{2029}' => Some("\\P"),
            _ => None,
        };
        if let Some(e) = escape {
            out.push_str(e);
            col += e.len();
            spaces = false;
        } else if !is_printable(c) {
            let before = out.len();
            let code = c as u32;
            if code <= 0xff {
                let _ = write!(out, "\\x{code:02X}");
            } else if code <= 0xffff {
                let _ = write!(out, "\\u{code:04X}");
            } else {
                let _ = write!(out, "\\U{code:08X}");
            }
            col += out.len() - before;
            spaces = false;
        } else if c == ' ' {
            if indent != NO_FOLD && !spaces && col > BEST_WIDTH && i != 0 && i + 1 != chars.len() {
                out.push('\n');
                pad(out, indent);
                col = indent;
                if chars.get(i + 1) == Some(&' ') {
                    out.push('\\');
                    col += 1;
                }
            } else {
                out.push(' ');
                col += 1;
            }
            spaces = true;
        } else {
            out.push(c);
            col += 1;
            spaces = false;
        }
    }
    out.push('"');
}

fn write_literal(s: &str, indent: usize, out: &mut String) {
    out.push('|');
    if s.starts_with(' ') || s.starts_with('\n') {
        out.push('2');
    }
    let chomp = if !s.ends_with('\n') {
        "-"
    } else if s == "\n" || s.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    out.push_str(chomp);
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
    }
}

mod binary;
mod go_v2;
pub(crate) use go_v2::read_substituted;

#[cfg(test)]
mod tests;
