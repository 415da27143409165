//! Writing: go-yaml v3's block style, scalar styles and escapes, with sops' indent of four.

use std::fmt::Write as _;

use super::read::{Resolved, resolve};
use crate::sops::tree::{Branch, Key, Node};

const INDENT: usize = 4;

/// Writes branches as sops' YAML store does: one document each, `---` between them, go-yaml
/// v3's block style with an indent of four.
pub(in crate::sops) fn emit(branches: &[Branch]) -> Result<Vec<u8>, String> {
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
