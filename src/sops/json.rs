//! sops' JSON store (`stores/json/store.go`) and its binary envelope: read in document order,
//! repeated keys kept; written as sops writes it (Go's `json.Marshal` for values,
//! `json.Indent` with a tab, a final newline).

use std::fmt;
use std::fmt::Write as _;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::tree::{Branch, Item, Key, Node, go_json_float};

/// Reads the top-level object (what follows it is not read, as sops reads it).
pub(super) fn load(bytes: &[u8]) -> Result<Branch, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match NodeSeed.deserialize(&mut de) {
        Ok(Node::Map(b)) => Ok(b),
        Ok(_) => Err("sops reads JSON files with a top-level object only".into()),
        Err(e) => Err(e.to_string()),
    }
}

struct NodeSeed;

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        // sops reads an integer beyond int64 as a float64.
        #[expect(clippy::cast_precision_loss, reason = "sops reads it as a float64 too")]
        let float = v as f64;
        Ok(i64::try_from(v).map_or(Node::Float(float), Node::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element_seed(NodeSeed)? {
            items.push(n);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            let value = map.next_value_seed(NodeSeed)?;
            items.push(Item {
                key: Key::Name(k),
                value,
            });
        }
        Ok(Node::Map(items))
    }
}

/// The first branch as sops' JSON store writes it.
pub(super) fn emit(branches: &[Branch]) -> Result<Vec<u8>, String> {
    let branch = branches.first().ok_or("no document")?;
    let mut out = String::new();
    write_map(branch, 1, &mut out)?;
    out.push('\n');
    Ok(out.into_bytes())
}

/// The binary envelope's `data`, as it was.
pub(super) fn emit_binary(branches: &[Branch]) -> Result<Vec<u8>, String> {
    let [branch] = branches else {
        return Err("a binary document has exactly one branch".into());
    };
    for item in branch {
        if item.key == Key::Name("data".into()) {
            return match &item.value {
                Node::Str(s) => Ok(s.as_bytes().to_vec()),
                Node::Raw(b) => Ok(b.clone()),
                _ => Err("`data` is not a string".into()),
            };
        }
    }
    Err("no binary data found in the document (no `data` key)".into())
}

fn pad(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n('\t', depth));
}

/// A mapping as `json.Indent` lays it out; `depth` is the nesting of its entries.
fn write_map(items: &Branch, depth: usize, out: &mut String) -> Result<(), String> {
    let named: Vec<_> = items
        .iter()
        .filter_map(|i| match &i.key {
            Key::Name(k) => Some((k, &i.value)),
            Key::Comment(_) => None,
        })
        .collect();
    if named.is_empty() {
        out.push_str("{}");
        return Ok(());
    }
    out.push('{');
    for (i, (k, v)) in named.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        pad(out, depth);
        go_string(k.as_bytes(), out);
        out.push_str(": ");
        write_value(v, depth, out)?;
    }
    pad(out, depth - 1);
    out.push('}');
    Ok(())
}

fn write_value(v: &Node, depth: usize, out: &mut String) -> Result<(), String> {
    match v {
        Node::Map(items) => write_map(items, depth + 1, out)?,
        Node::Seq(items) => {
            let items: Vec<_> = items
                .iter()
                .filter(|n| !matches!(n, Node::Comment(_)))
                .collect();
            if items.is_empty() {
                out.push_str("[]");
            } else {
                out.push('[');
                for (i, item) in items.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    write_value(item, depth + 1, out)?;
                }
                pad(out, depth);
                out.push(']');
            }
        }
        Node::Str(s) => go_string(s.as_bytes(), out),
        Node::Raw(b) => go_string(b, out),
        Node::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Node::Float(f) => out.push_str(&go_json_float(*f)?),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Null | Node::Comment(_) => out.push_str("null"),
    }
    Ok(())
}

/// Go's `encoding/json` string: HTML-safe, `\b` `\f` `\n` `\r` `\t` short escapes, other
/// control characters and U+2028/U+2029 as `\u00XX`, invalid UTF-8 as U+FFFD.
pub(super) fn go_string(bytes: &[u8], out: &mut String) {
    out.push('"');
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
