//! A document read back as Flux reads the text its post-build substitution produced:
//! go-yaml v2 (YAML 1.1: `yes`/`on` are booleans, `0777` is octal, `1_000` is a thousand,
//! timestamps stay strings), then sigs.k8s.io/yaml's `YAMLToJSON` (keys made strings), then
//! kyaml's `json.Unmarshal` into `map[string]interface{}`, which makes every number a float64.
//! The reader is libyaml-safer, a port of the libyaml go-yaml itself ports, so the grammar and
//! its errors are the same.

use std::collections::HashMap;

use libyaml_safer::{Event, EventData, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

use super::SyntaxError;

const TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// A value as go-yaml v2 decodes it into `interface{}`.
#[derive(Debug, Clone)]
enum Go {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Go>),
    /// Entries in document order; a later duplicate replaces an earlier one.
    Map(Vec<(Go, Go)>),
}

/// Reads the first document of `text` as Flux does after substituting, into the JSON value
/// kustomize then holds. An error message never quotes the text (it may hold secret values).
pub(crate) fn read_substituted(text: &str) -> Result<Value, SyntaxError> {
    let mut input = text.as_bytes();
    let with_break;
    if !text.ends_with('\n') {
        // libyaml-safer panics on a block scalar that ends the input without a line break.
        with_break = format!("{text}\n");
        input = with_break.as_bytes();
    }
    let events = std::panic::catch_unwind(|| read_events(input)).unwrap_or_else(|_| {
        Err(SyntaxError {
            line: 1,
            column: 1,
            message: "the YAML reader failed on the substituted text".into(),
        })
    })?;
    let mut reader = Reader {
        events: events.into_iter(),
        anchors: HashMap::new(),
    };
    let go = reader.document()?;
    to_json(go)
}

fn read_events(bytes: &[u8]) -> Result<Vec<Event>, SyntaxError> {
    let text = crate::libyaml::input(bytes);
    let mut input: &[u8] = &text;
    let mut parser = Parser::new();
    parser.set_input_string(&mut input);
    let mut events = Vec::new();
    for event in &mut parser {
        let event = event.map_err(|e| {
            let mark = e.problem_mark().unwrap_or_default();
            at(mark.line, mark.column, e.problem().to_owned())
        })?;
        let end = matches!(event.data, EventData::DocumentEnd { .. });
        events.push(event);
        if end {
            // go-yaml v2's Unmarshal reads the first document only.
            break;
        }
    }
    Ok(events)
}

fn at(line: u64, column: u64, message: String) -> SyntaxError {
    let one_based = |n: u64| usize::try_from(n).map_or(usize::MAX, |n| n.saturating_add(1));
    SyntaxError {
        line: one_based(line),
        column: one_based(column),
        message,
    }
}

struct Reader {
    events: std::vec::IntoIter<Event>,
    anchors: HashMap<String, Go>,
}

impl Reader {
    fn document(&mut self) -> Result<Go, SyntaxError> {
        loop {
            let Some(event) = self.events.next() else {
                return Ok(Go::Null);
            };
            match event.data {
                EventData::StreamStart { .. } | EventData::DocumentStart { .. } => {}
                EventData::StreamEnd | EventData::DocumentEnd { .. } => return Ok(Go::Null),
                _ => return self.node(event),
            }
        }
    }

    fn next(&mut self) -> Result<Event, SyntaxError> {
        self.events
            .next()
            .ok_or_else(|| at(0, 0, "unexpected end of the document".into()))
    }

    fn node(&mut self, event: Event) -> Result<Go, SyntaxError> {
        let mark = event.start_mark;
        let (anchor, value) = match event.data {
            EventData::Alias { anchor } => {
                let v = self.anchors.get(&anchor).cloned().ok_or_else(|| {
                    at(mark.line, mark.column, "unknown anchor referenced".into())
                })?;
                return Ok(v);
            }
            EventData::Scalar {
                anchor,
                tag,
                value,
                style,
                ..
            } => {
                let plain = style == ScalarStyle::Plain;
                let v = scalar(&value, tag.as_deref(), plain)
                    .map_err(|m| at(mark.line, mark.column, m))?;
                (anchor, v)
            }
            EventData::SequenceStart { anchor, .. } => {
                let mut items = Vec::new();
                loop {
                    let e = self.next()?;
                    if matches!(e.data, EventData::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(e)?);
                }
                (anchor, Go::Seq(items))
            }
            EventData::MappingStart { anchor, .. } => (anchor, self.mapping()?),
            _ => {
                return Err(at(mark.line, mark.column, "unexpected YAML event".into()));
            }
        };
        if let Some(a) = anchor {
            self.anchors.insert(a, value.clone());
        }
        Ok(value)
    }

    fn mapping(&mut self) -> Result<Go, SyntaxError> {
        let mut entries: Vec<(Go, Go)> = Vec::new();
        loop {
            let e = self.next()?;
            if matches!(e.data, EventData::MappingEnd) {
                break;
            }
            let is_merge = matches!(
                &e.data,
                EventData::Scalar { value, style: ScalarStyle::Plain, tag: None, .. } if value == "<<"
            );
            let key = self.node(e)?;
            let value_event = self.next()?;
            let value = self.node(value_event)?;
            if is_merge {
                // go-yaml v2 decodes the merged mappings into the map being built, over what
                // it holds; several are merged last to first, so the first wins.
                let merged = match value {
                    Go::Map(m) => vec![Go::Map(m)],
                    Go::Seq(items) => items.into_iter().rev().collect(),
                    _ => {
                        return Err(at(
                            0,
                            0,
                            "map merge requires map or sequence of maps as the value".into(),
                        ));
                    }
                };
                for m in merged {
                    let Go::Map(m) = m else {
                        return Err(at(
                            0,
                            0,
                            "map merge requires map or sequence of maps as the value".into(),
                        ));
                    };
                    for (k, v) in m {
                        insert(&mut entries, k, v);
                    }
                }
                continue;
            }
            insert(&mut entries, key, value);
        }
        Ok(Go::Map(entries))
    }
}

fn insert(entries: &mut Vec<(Go, Go)>, key: Go, value: Go) {
    if let Some(slot) = entries.iter_mut().find(|(k, _)| same_key(k, &key)) {
        slot.1 = value;
    } else {
        entries.push((key, value));
    }
}

/// Go's `==` on two `interface{}` map keys.
fn same_key(a: &Go, b: &Go) -> bool {
    match (a, b) {
        (Go::Null, Go::Null) => true,
        (Go::Bool(x), Go::Bool(y)) => x == y,
        (Go::Int(x), Go::Int(y)) => x == y,
        (Go::Uint(x), Go::Uint(y)) => x == y,
        (Go::Float(x), Go::Float(y)) => x.partial_cmp(y) == Some(std::cmp::Ordering::Equal),
        (Go::Str(x), Go::Str(y)) => x == y,
        _ => false,
    }
}

#[expect(clippy::cast_precision_loss, reason = "go-yaml's float64(int)")]
/// A scalar as go-yaml v2 resolves it: quoted and block scalars are strings; a plain one (or
/// one tagged with a core type) is resolved by YAML 1.1's rules as go-yaml implements them.
fn scalar(value: &str, tag: Option<&str>, plain: bool) -> Result<Go, String> {
    let core = tag.and_then(|t| t.strip_prefix(TAG_PREFIX));
    match (tag, core) {
        (None, _) if !plain => return Ok(Go::Str(value.to_owned())),
        (None, _) | (Some(_), Some("int" | "float" | "bool" | "null" | "timestamp")) => {}
        _ => return Ok(Go::Str(value.to_owned())),
    }
    let resolved = resolve(value);
    let fits = match (core, &resolved) {
        (None | Some("timestamp"), _)
        | (Some("int"), Go::Int(_) | Go::Uint(_))
        | (Some("bool"), Go::Bool(_))
        | (Some("null"), Go::Null)
        | (Some("float"), Go::Float(_)) => true,
        (Some("float"), Go::Int(i)) => return Ok(Go::Float(*i as f64)),
        _ => false,
    };
    if fits {
        Ok(resolved)
    } else {
        Err(format!(
            "cannot decode a plain scalar as !!{}",
            core.unwrap_or_default()
        ))
    }
}

fn resolve(s: &str) -> Go {
    let Some(first) = s.bytes().next() else {
        return Go::Null;
    };
    let hint = match first {
        b'+' | b'-' | b'0'..=b'9' => b'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => b'M',
        b'.' => b'.',
        _ => return Go::Str(s.to_owned()),
    };
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Go::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Go::Bool(false);
        }
        "~" | "null" | "Null" | "NULL" => return Go::Null,
        ".nan" | ".NaN" | ".NAN" => return Go::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Go::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Go::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match hint {
        b'.' => {
            if let Some(f) = go_parse_float(s) {
                return Go::Float(f);
            }
        }
        b'D' => {
            let plain = s.replace('_', "");
            if let Some(i) = go_parse_int(&plain) {
                return Go::Int(i);
            }
            if let Some(u) = go_parse_uint(&plain) {
                return Go::Uint(u);
            }
            if is_yaml_style_float(&plain)
                && let Some(f) = go_parse_float(&plain)
            {
                return Go::Float(f);
            }
        }
        _ => {}
    }
    Go::Str(s.to_owned())
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms go-yaml hands it; out of range is an
/// error, as in Go.
fn go_parse_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// The digits and radix of Go's base-0 integer syntax (`0x`, `0o`, `0b`, a leading `0` for
/// octal), without a sign.
fn radix_digits(s: &str) -> Option<(&str, u32)> {
    let (digits, radix) = if let Some(d) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (d, 16)
    } else if let Some(d) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (d, 8)
    } else if let Some(d) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (d, 2)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    (!digits.is_empty() && digits.chars().all(|c| c.is_digit(radix))).then_some((digits, radix))
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (digits, radix) = radix_digits(body)?;
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        if magnitude == 1 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(magnitude).ok().map(|m| -m)
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)` (no sign).
fn go_parse_uint(s: &str) -> Option<u64> {
    let (digits, radix) = radix_digits(s)?;
    u64::from_str_radix(digits, radix).ok()
}

/// sigs.k8s.io/yaml's conversion to JSON, then kyaml's reading of that JSON.
#[expect(
    clippy::cast_precision_loss,
    reason = "kyaml reads every number as float64"
)]
fn to_json(v: Go) -> Result<Value, SyntaxError> {
    let err = |m: &str| SyntaxError {
        line: 1,
        column: 1,
        message: m.to_owned(),
    };
    Ok(match v {
        Go::Null => Value::Null,
        Go::Bool(b) => Value::Bool(b),
        Go::Int(i) => float_number(i as f64),
        Go::Uint(u) => float_number(u as f64),
        Go::Float(f) if !f.is_finite() => {
            return Err(err(
                "a value reads as infinity or NaN, which JSON cannot hold",
            ));
        }
        Go::Float(f) => float_number(f),
        Go::Str(s) => Value::String(s),
        Go::Seq(items) => Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?),
        Go::Map(entries) => {
            let mut out = Map::new();
            for (k, v) in entries {
                let key = match k {
                    Go::Str(s) => s,
                    Go::Int(i) => i.to_string(),
                    Go::Uint(u) => u.to_string(),
                    Go::Bool(b) => b.to_string(),
                    Go::Float(f) => go_float32_key(f),
                    Go::Null | Go::Seq(_) | Go::Map(_) => {
                        return Err(err(
                            "a mapping key reads as null, a sequence or a mapping, which JSON cannot hold",
                        ));
                    }
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
    })
}

/// A float64 as kustomize holds it once it has written it as JSON and read it back: an
/// integral value below 1e21 is written without a fraction, and read back as an integer.
fn float_number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // Rust prints the shortest digits that read back as `f`, then zeros, as Go's JSON
        // encoder does.
        let text = format!("{f}");
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = text.parse::<u64>() {
            return Value::Number(u.into());
        }
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// `strconv.FormatFloat(k, 'g', -1, 32)`, as sigs.k8s.io/yaml makes a float key a string.
#[expect(
    clippy::cast_possible_truncation,
    reason = "Go formats the key at 32 bits"
)]
fn go_float32_key(key: f64) -> String {
    if key.is_nan() {
        return ".nan".into();
    }
    if key.is_infinite() {
        return if key > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let narrow = key as f32;
    let exp = if narrow == 0.0 {
        0
    } else {
        // The decimal exponent of the shortest representation.
        let text = format!("{narrow:e}");
        text.split_once('e')
            .and_then(|(_, e)| e.parse::<i32>().ok())
            .unwrap_or(0)
    };
    // Go's %g picks the exponent form from exponent 6 on when printing the shortest digits.
    if (-4..6).contains(&exp) {
        format!("{narrow}")
    } else {
        let text = format!("{narrow:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        format!(
            "{mantissa}e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        )
    }
}
