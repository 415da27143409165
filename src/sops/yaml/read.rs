//! Reading: go-yaml v3's documents and scalar resolution, from libyaml-safer's events.

use libyaml_safer::{Event, EventData, Parser, ScalarStyle};

use crate::sops::tree::{Branch, Item, Key, Node};

const STR: &str = "tag:yaml.org,2002:str";
const MERGE: &str = "tag:yaml.org,2002:merge";

/// Reads a YAML stream into one branch per document. Errors if a document is not a mapping, a
/// key is not a string, or (in the first document, as sops checks it) a key repeats. Comments
/// are not seen ([`has_comments`] tells whether there were any).
pub(in crate::sops) fn load(bytes: &[u8]) -> Result<Vec<Branch>, String> {
    read(bytes).map(|(branches, _)| branches)
}

/// Whether the stream holds comments (text outside every event, from a `#`).
pub(in crate::sops) fn has_comments(bytes: &[u8]) -> Result<bool, String> {
    read(bytes).map(|(_, comments)| comments)
}

fn read(bytes: &[u8]) -> Result<(Vec<Branch>, bool), String> {
    // libyaml-safer panics on a block scalar that ends the input without a line break.
    let with_break;
    let input = if bytes.ends_with(b"\n") || bytes.is_empty() {
        bytes
    } else {
        with_break = [bytes, b"\n"].concat();
        &with_break
    };
    std::panic::catch_unwind(|| read_events(input))
        .unwrap_or_else(|_| Err("the YAML reader failed on this file".into()))
}

fn read_events(bytes: &[u8]) -> Result<(Vec<Branch>, bool), String> {
    let text = crate::libyaml::input(bytes);
    let mut input: &[u8] = &text;
    let mut parser = Parser::new();
    parser.set_input_string(&mut input);
    let mut events = Vec::new();
    for event in &mut parser {
        events.push(event.map_err(|e| {
            let m = e.problem_mark().unwrap_or_default();
            format!(
                "line {}, column {}: {}",
                m.line + 1,
                m.column + 1,
                e.problem()
            )
        })?);
    }
    let mut comments = false;
    let mut at = 0usize;
    for e in &events {
        let start = usize::try_from(e.start_mark.index).unwrap_or(usize::MAX);
        if start > at && bytes.get(at..start).is_some_and(|gap| gap.contains(&b'#')) {
            comments = true;
        }
        at = at.max(usize::try_from(e.end_mark.index).unwrap_or(usize::MAX));
    }
    if bytes.get(at..).is_some_and(|rest| rest.contains(&b'#')) {
        comments = true;
    }
    let mut r = Reader {
        events: events.into_iter(),
        anchors: Vec::new(),
    };
    let mut branches = Vec::new();
    let mut first = true;
    while let Some(e) = r.events.next() {
        if let EventData::DocumentStart { .. } = e.data {
            let root = r.node()?;
            match root {
                Node::Map(b) => {
                    if first {
                        unique_keys(&b)?;
                    }
                    branches.push(b);
                }
                Node::Null => branches.push(Vec::new()),
                Node::Seq(_) => {
                    return Err("YAML documents that are sequences are not supported".into());
                }
                _ => return Err("YAML documents that are values are not supported".into()),
            }
            first = false;
        }
    }
    Ok((branches, comments))
}

/// go-yaml v3 refuses a mapping that repeats a key (sops decodes the first document once
/// for that check alone).
fn unique_keys(b: &Branch) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for item in b {
        if let Key::Name(k) = &item.key {
            if !seen.insert(k.as_str()) {
                return Err(format!("mapping key `{k}` already defined"));
            }
            if let Node::Map(inner) = &item.value {
                unique_keys(inner)?;
            }
        }
    }
    Ok(())
}

struct Reader {
    events: std::vec::IntoIter<Event>,
    anchors: Vec<(String, Node)>,
}

impl Reader {
    fn next(&mut self) -> Result<Event, String> {
        self.events
            .next()
            .ok_or_else(|| "unexpected end of YAML".to_owned())
    }

    fn anchor(&mut self, anchor: Option<String>, node: &Node) {
        if let Some(a) = anchor {
            self.anchors.push((a, node.clone()));
        }
    }

    fn node(&mut self) -> Result<Node, String> {
        let e = self.next()?;
        match e.data {
            EventData::Scalar {
                anchor,
                tag,
                value,
                style,
                ..
            } => {
                let node = scalar(&value, tag.as_deref(), style)?;
                self.anchor(anchor, &node);
                Ok(node)
            }
            EventData::SequenceStart { anchor, .. } => {
                let mut items = Vec::new();
                loop {
                    if matches!(
                        self.events.as_slice().first().map(|e| &e.data),
                        Some(EventData::SequenceEnd)
                    ) {
                        self.next()?;
                        break;
                    }
                    items.push(self.node()?);
                }
                let node = Node::Seq(items);
                self.anchor(anchor, &node);
                Ok(node)
            }
            EventData::MappingStart { anchor, .. } => {
                let mut items = Vec::new();
                loop {
                    if matches!(
                        self.events.as_slice().first().map(|e| &e.data),
                        Some(EventData::MappingEnd)
                    ) {
                        self.next()?;
                        break;
                    }
                    let Node::Str(key) = self.node()? else {
                        return Err(
                            "a mapping key that is not a string; sops supports string keys only"
                                .into(),
                        );
                    };
                    let value = self.node()?;
                    items.push(Item {
                        key: Key::Name(key),
                        value,
                    });
                }
                let node = Node::Map(items);
                self.anchor(anchor, &node);
                Ok(node)
            }
            EventData::Alias { anchor } => self
                .anchors
                .iter()
                .rev()
                .find(|(a, _)| *a == anchor)
                .map(|(_, n)| n.clone())
                .ok_or_else(|| format!("unknown anchor `{anchor}`")),
            _ => Err("unexpected YAML event".into()),
        }
    }
}

/// A scalar as go-yaml v3 decodes it into an `interface{}`.
fn scalar(value: &str, tag: Option<&str>, style: ScalarStyle) -> Result<Node, String> {
    let plain = matches!(style, ScalarStyle::Plain | ScalarStyle::Any);
    match tag {
        None if plain => resolve(value).into_node(value),
        // go-yaml reads `<<` (which it writes `!!merge <<`) into an interface{} as the text.
        None | Some("!" | STR | MERGE) => Ok(Node::Str(value.to_owned())),
        Some(t) => match t.strip_prefix("tag:yaml.org,2002:") {
            Some(kind @ ("int" | "float" | "bool" | "null")) => {
                let r = resolve(value);
                if r.kind() == kind {
                    r.into_node(value)
                } else {
                    Err(format!("`!!{kind}` on a value that is not one"))
                }
            }
            _ => Err(format!("the tag `{t}` is not supported")),
        },
    }
}

/// What go-yaml v3 resolves a plain scalar to.
#[derive(Debug, PartialEq)]
pub(super) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer beyond int64 (go-yaml gives a uint64, which sops does not walk).
    Uint,
    Float(f64),
    Timestamp,
    Str,
}

impl Resolved {
    fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "bool",
            Self::Int(_) | Self::Uint => "int",
            Self::Float(_) => "float",
            Self::Timestamp => "timestamp",
            Self::Str => "str",
        }
    }

    fn into_node(self, value: &str) -> Result<Node, String> {
        Ok(match self {
            Self::Null => Node::Null,
            Self::Bool(b) => Node::Bool(b),
            Self::Int(i) => Node::Int(i),
            Self::Float(f) => Node::Float(f),
            // go-yaml v3 hands a timestamp to an interface{} as its text.
            Self::Timestamp | Self::Str => Node::Str(value.to_owned()),
            Self::Uint => {
                return Err(
                    "an integer beyond the int64 range, which sops cannot encrypt or decrypt"
                        .into(),
                );
            }
        })
    }
}

/// go-yaml v3's `resolve("", s)`.
pub(super) fn resolve(s: &str) -> Resolved {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match s.as_bytes()[0] {
        b'.' => s
            .parse::<f64>()
            .ok()
            .filter(|_| go_float_syntax(s))
            .map_or(Resolved::Str, Resolved::Float),
        b'+' | b'-' | b'0'..=b'9' => resolve_number(s),
        _ => Resolved::Str,
    }
}

fn resolve_number(s: &str) -> Resolved {
    if is_timestamp(s) {
        return Resolved::Timestamp;
    }
    let plain = s.replace('_', "");
    if let Some(i) = go_parse_int(&plain) {
        return i;
    }
    if float_form(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return Resolved::Float(f);
    }
    let (neg, rest) = match plain.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, plain.as_str()),
    };
    for (prefix, radix) in [("0b", 2), ("0o", 8)] {
        if let Some(digits) = rest.strip_prefix(prefix) {
            let text = if neg {
                format!("-{digits}")
            } else {
                digits.to_owned()
            };
            if let Ok(i) = i64::from_str_radix(&text, radix) {
                return Resolved::Int(i);
            }
            if !neg && u64::from_str_radix(digits, radix).is_ok() {
                return Resolved::Uint;
            }
        }
    }
    Resolved::Str
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`: a sign, then `0x`, `0o`, `0b` or a
/// leading `0` (octal) prefix, or decimal.
fn go_parse_int(s: &str) -> Option<Resolved> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        return 0i64.checked_sub_unsigned(magnitude).map(Resolved::Int);
    }
    Some(i64::try_from(magnitude).map_or(Resolved::Uint, Resolved::Int))
}

/// go-yaml v3's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn float_form(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Whether Go's `strconv.ParseFloat` reads what Rust's reads here (a `.`-led decimal).
fn go_float_syntax(s: &str) -> bool {
    float_form(s)
}

/// go-yaml v3's `parseTimestamp`: four digits and a `-`, then one of its layouts (date; date,
/// `T` and time with a zone; date, a space and time). Dates out of range are not told apart.
fn is_timestamp(s: &str) -> bool {
    static FORM: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(concat!(
            r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}",
            r"(?:[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[-+][0-9]{2}:[0-9]{2})",
            r"|[ ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?)?$",
        ))
        .expect("a valid constant pattern")
    });
    FORM.is_match(s)
}
