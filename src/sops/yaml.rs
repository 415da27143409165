//! sops' YAML store (`stores/yaml/store.go`, on go-yaml v3): documents read in order with
//! go-yaml v3's scalar resolution, and written as go-yaml v3 writes them with sops' indent of
//! four.
//!
//! The events come from libyaml-safer (the reader render's YAML module also builds on), which
//! does not report comments. Comments do not enter the MAC, so reading is exact without them;
//! writing a document that held comments is refused rather than written without them (see
//! [`load`]).

use std::fmt::Write as _;

use libyaml_safer::{Event, EventData, Parser, ScalarStyle};

use super::tree::{Branch, Item, Key, Node};

const STR: &str = "tag:yaml.org,2002:str";
const MERGE: &str = "tag:yaml.org,2002:merge";
const INDENT: usize = 4;

/// Reads a YAML stream into one branch per document. Errors if a document is not a mapping, a
/// key is not a string, or (in the first document, as sops checks it) a key repeats; and if the
/// stream holds comments, as [`emit`] could not write them back (callers that only need values
/// use [`load_values`]).
pub(super) fn load(bytes: &[u8]) -> Result<Vec<Branch>, String> {
    read(bytes).map(|(branches, _)| branches)
}

/// Whether the stream holds comments (text outside every event, from a `#`).
pub(super) fn has_comments(bytes: &[u8]) -> Result<bool, String> {
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
    let mut input = bytes;
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
enum Resolved {
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
fn resolve(s: &str) -> Resolved {
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

/// Writes branches as sops' YAML store does: one document each, `---` between them, go-yaml
/// v3's block style with an indent of four.
pub(super) fn emit(branches: &[Branch]) -> Result<Vec<u8>, String> {
    let mut out = String::new();
    for (i, b) in branches.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        if named(b).next().is_none() {
            out.push_str("{}\n");
        } else {
            write_map(b, 0, false, &mut out)?;
        }
    }
    Ok(out.into_bytes())
}

fn named(b: &Branch) -> impl Iterator<Item = (&String, &Node)> {
    b.iter().filter_map(|i| match &i.key {
        Key::Name(k) => Some((k, &i.value)),
        Key::Comment(_) => None,
    })
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// go-yaml v3's indent for a node below one at `indent` (not the first in a sequence item):
/// the next multiple of the indent.
fn deeper(indent: usize) -> usize {
    INDENT * ((indent + INDENT) / INDENT)
}

fn is_empty_collection(v: &Node) -> bool {
    match v {
        Node::Map(b) => named(b).next().is_none(),
        Node::Seq(s) => !s.iter().any(|n| !matches!(n, Node::Comment(_))),
        _ => false,
    }
}

fn write_map(
    b: &Branch,
    indent: usize,
    inline_first: bool,
    out: &mut String,
) -> Result<(), String> {
    for (i, (k, v)) in named(b).enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        write_scalar(&Node::Str(k.clone()), indent, true, out)?;
        out.push(':');
        match v {
            Node::Map(inner) if !is_empty_collection(v) => {
                out.push('\n');
                write_map(inner, deeper(indent), false, out)?;
            }
            Node::Seq(items) if !is_empty_collection(v) => {
                out.push('\n');
                write_seq(items, deeper(indent), false, out)?;
            }
            _ => {
                out.push(' ');
                write_scalar(v, deeper(indent), false, out)?;
                out.push('\n');
            }
        }
    }
    Ok(())
}

fn write_seq(
    items: &[Node],
    indent: usize,
    inline_first: bool,
    out: &mut String,
) -> Result<(), String> {
    let items = items.iter().filter(|n| !matches!(n, Node::Comment(_)));
    for (i, item) in items.enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Node::Map(inner) if !is_empty_collection(item) => {
                write_map(inner, indent + 2, true, out)?;
            }
            Node::Seq(inner) if !is_empty_collection(item) => {
                write_seq(inner, indent + 2, true, out)?;
            }
            _ => {
                write_scalar(item, indent + 2, false, out)?;
                out.push('\n');
            }
        }
    }
    Ok(())
}

/// A scalar (or an empty collection) as go-yaml v3 writes the value sops encodes. `indent` is
/// where a literal block's lines go; `key` when it is a mapping key.
fn write_scalar(v: &Node, indent: usize, key: bool, out: &mut String) -> Result<(), String> {
    match v {
        Node::Map(_) => out.push_str("{}"),
        Node::Seq(_) => out.push_str("[]"),
        Node::Null | Node::Comment(_) => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Node::Float(f) => out.push_str(&go_yaml_float(*f)),
        Node::Raw(_) => {
            return Err("a value that is not UTF-8 text, which YAML cannot hold as text".into());
        }
        Node::Str(s) => write_string(s, indent, key, out)?,
    }
    Ok(())
}

/// go-yaml v3's float: `strconv.FormatFloat(f, 'g', -1, 64)`, `.inf`, `-.inf`, `.nan`.
fn go_yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // %e when the decimal exponent is below -4 or at least 6 (Go's 'g' takes the precision of
    // the shortest form as 6 for this choice), with at least two exponent digits.
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').expect("{:e} writes an exponent");
    let exp: i32 = exp.parse().expect("{:e} writes a decimal exponent");
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else if exp < 0 {
        format!("{mantissa}e-{:02}", -exp)
    } else {
        format!("{mantissa}e+{exp:02}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn write_string(s: &str, indent: usize, key: bool, out: &mut String) -> Result<(), String> {
    if key && (s.chars().count() > 128 || s.chars().any(is_break)) {
        return Err("a mapping key longer than 128 characters or with a line break, which fledge cannot yet write as sops does".into());
    }
    if s == "<<" {
        // go-yaml's reader tags a plain `<<` as a merge key, and its writer keeps the tag.
        out.push_str("!!merge <<");
        return Ok(());
    }
    let can_plain = resolve_str(s) && !is_base60_float(s) && !is_old_bool(s);
    let mut style = if s.contains('\n') {
        Style::Literal
    } else if can_plain {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    if style == Style::Plain && (!a.block_plain || (s.is_empty() && key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block || key) {
        style = Style::Double;
    }
    match style {
        Style::Plain => out.push_str(s),
        Style::Single => {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        Style::Double => write_double(s, out),
        Style::Literal => write_literal(s, indent, out)?,
    }
    Ok(())
}

/// Whether a plain `s` would read back as a string.
fn resolve_str(s: &str) -> bool {
    resolve(s) == Resolved::Str
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn is_base60_float(s: &str) -> bool {
    static FORM: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
            .expect("a valid constant pattern")
    });
    FORM.is_match(s)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// go-yaml's `is_printable` (tabs and characters beyond the Basic Multilingual Plane are not).
fn is_printable(c: char) -> bool {
    let u = u32::from(c);
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

/// What go-yaml's emitter allows for a string (`yaml_emitter_analyze_scalar`).
struct Analysis {
    block_plain: bool,
    single: bool,
    block: bool,
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut special, mut line_breaks, mut tabs) =
        (false, false, false, false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_ws = true;
    let blankz = |c: Option<&char>| c.is_none_or(|c| *c == ' ' || *c == '\t' || is_break(*c));
    for (i, &c) in chars.iter().enumerate() {
        // go-yaml's `is_blank`: a space or a tab (or the end), not a line break.
        let followed_ws = chars.get(i + 1).is_none_or(|n| *n == ' ' || *n == '\t');
        let first = i == 0;
        let last = i + 1 == chars.len();
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_ind = true,
                '?' | ':' | '-' if followed_ws => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_ws => block_ind = true,
                '#' if preceded_ws => block_ind = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            leading_space |= first;
            trailing_space |= last;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            leading_break |= first;
            trailing_break |= last;
            space_break |= prev_space;
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = blankz(Some(&c));
    }
    let mut a = Analysis {
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || tabs || special {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block = false;
    }
    if line_breaks || block_ind {
        a.block_plain = false;
    }
    a
}

fn write_double(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !is_printable(c) || c == '\u{feff}' => {
                let u = u32::from(c);
                if u <= 0xFF {
                    let _ = write!(out, "\\x{u:02X}");
                } else if u <= 0xFFFF {
                    let _ = write!(out, "\\u{u:04X}");
                } else {
                    let _ = write!(out, "\\U{u:08X}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A literal block: `|`, its hints, then each line at `indent` (empty lines stay empty). The
/// caller ends the last line.
fn write_literal(s: &str, indent: usize, out: &mut String) -> Result<(), String> {
    if s.contains(['\r', '\u{85}', '\u{2028}', '\u{2029}']) {
        return Err("a multi-line value with a line break other than \\n, which fledge cannot yet write as sops does".into());
    }
    out.push('|');
    if s.starts_with([' ', '\n']) {
        let _ = write!(out, "{INDENT}");
    }
    if !s.ends_with('\n') {
        out.push('-');
    } else if s == "\n" || s.ends_with("\n\n") {
        out.push('+');
    }
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
    }
    Ok(())
}
