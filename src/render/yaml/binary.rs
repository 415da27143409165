//! `!!binary` scalars, decoded as `kubectl kustomize` decodes them: go-yaml reads the base64,
//! and Go's JSON encoder then writes the bytes as a string. serde_yaml hands such a scalar over
//! as its base64 text without its tag, so the tags are read here from the events of a second
//! reader of the same grammar (libyaml-safer, a port of the libyaml serde_yaml runs on), and
//! the decoded strings are put where serde_yaml's values hold the base64.

use std::collections::HashMap;

use libyaml_safer::{Event, EventData, Mark, Parser, ScalarStyle};

use super::SyntaxError;

/// The tag of `!!binary` (and `!<tag:yaml.org,2002:binary>`), as the reader resolves it.
const BINARY_TAG: &str = "tag:yaml.org,2002:binary";

/// One step from a node to a child: the n-th item of a sequence, or the value of the n-th entry
/// of a mapping (serde_yaml keeps a mapping's entries in document order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Item(usize),
    Entry(usize),
}

/// Decoded scalars, each with its steps from some node.
type Found = Vec<(Vec<Step>, String)>;

/// The decoded `!!binary` scalars of one document of a stream.
#[derive(Debug)]
pub(super) struct Decoded {
    /// The document's index in the stream.
    pub(super) doc: usize,
    scalars: Found,
}

/// The plain words YAML 1.1 (go-yaml v2, which kustomize reads kustomizations with) takes for
/// booleans; YAML 1.2 reads all but `true`/`false` as strings.
const YAML11_BOOLS: &[(&str, bool)] = &[
    ("y", true),
    ("Y", true),
    ("yes", true),
    ("Yes", true),
    ("YES", true),
    ("on", true),
    ("On", true),
    ("ON", true),
    ("n", false),
    ("N", false),
    ("no", false),
    ("No", false),
    ("NO", false),
    ("off", false),
    ("Off", false),
    ("OFF", false),
];

/// An integer as go-yaml v2 reads a plain scalar: underscores dropped, then Go's
/// `ParseInt(s, 0, 64)` (`0x`, `0o`, `0b` prefixes, and a leading `0` for octal).
pub(super) fn yaml11_int(text: &str) -> Option<i64> {
    if !text.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-') {
        return None;
    }
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, digits) = match plain.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, plain.strip_prefix('+').unwrap_or(&plain)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b)
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    let n = i64::from_str_radix(body, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// A plain date (`2001-12-14`, `2001-1-2`) as kubectl prints it once go-yaml has read it as a
/// timestamp and Go's JSON encoder has written it: `2001-12-14T00:00:00Z`.
pub(super) fn yaml_date(text: &str) -> Option<String> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if parts.next().is_some() || !digits(y, 4..=4) || !digits(m, 1..=2) || !digits(d, 1..=2) {
        return None;
    }
    let (m, d): (u32, u32) = (m.parse().ok()?, d.parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then(|| format!("{y}-{m:02}-{d:02}T00:00:00Z"))
}

/// A float as go-yaml reads a plain scalar that is no integer (`08` is 8): underscores
/// dropped, then its float pattern.
pub(super) fn yaml_float(text: &str) -> Option<f64> {
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    let body = plain.trim_start_matches(['+', '-']);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.trim_start_matches(['+', '-'])));
    if !(mantissa_ok && exp_ok) || plain.len() - body.len() > 1 {
        return None;
    }
    plain.parse().ok()
}

/// A plain scalar YAML reads as an infinite or not-a-number float.
pub(super) fn yaml_inf_or_nan(text: &str) -> bool {
    let t = text.trim_start_matches(['+', '-']);
    matches!(t, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN")
}

impl Decoded {
    /// Reads plain scalars outside `metadata.annotations` as kustomize's YAML reader does where
    /// serde_yaml reads a string: `007` and `1_000` are integers, a plain date is a timestamp.
    /// An infinite or not-a-number float is an error: kubectl cannot write it as JSON.
    pub(super) fn apply_kyaml_scalars(self, doc: &mut serde_yaml::Value) -> Result<(), String> {
        for (steps, text) in self.scalars {
            if in_annotations(doc, &steps) {
                continue;
            }
            if yaml_inf_or_nan(&text) {
                return Err(format!(
                    "`{text}` is a float kubectl kustomize cannot write (JSON has no infinity or NaN); quote it"
                ));
            }
            let value = if let Some(n) = yaml11_int(&text) {
                serde_yaml::Value::Number(n.into())
            } else if let Some(f) = yaml_float(&text) {
                serde_yaml::Value::Number(f.into())
            } else if let Some(date) = yaml_date(&text) {
                serde_yaml::Value::String(date)
            } else {
                continue;
            };
            if let Some(v) = descend(doc, &steps)
                && v.is_string()
            {
                *v = value;
            }
        }
        Ok(())
    }

    /// Gives each plain scalar that YAML 1.2 reads as a string but YAML 1.1 does not (`yes`,
    /// `on`, `n`; `007`, `1_000`, `0b11`) the boolean or integer YAML 1.1 reads.
    pub(super) fn apply_yaml11(self, doc: &mut serde_yaml::Value) {
        for (steps, text) in self.scalars {
            let value = match YAML11_BOOLS.iter().find(|(w, _)| *w == text) {
                Some((_, b)) => serde_yaml::Value::Bool(*b),
                None => match yaml11_int(&text) {
                    Some(n) => serde_yaml::Value::Number(n.into()),
                    None => continue,
                },
            };
            if let Some(v) = descend(doc, &steps)
                && v.is_string()
            {
                *v = value;
            }
        }
    }

    /// Puts the text of each plain scalar found where a document holds it as the value of a
    /// `metadata.annotations` entry that YAML reads as a number or boolean (or, with `nulls`,
    /// null).
    pub(super) fn apply_to_annotations(self, doc: &mut serde_yaml::Value, nulls: bool) {
        let at = |v: &serde_yaml::Value, i: usize, key: &str| match v {
            serde_yaml::Value::Mapping(m) => m.keys().nth(i).is_some_and(|k| k == key),
            _ => false,
        };
        for (steps, text) in self.scalars {
            let [Step::Entry(m), Step::Entry(a), Step::Entry(_)] = steps[..] else {
                continue;
            };
            if !at(doc, m, "metadata")
                || descend(doc, &steps[..1]).is_none_or(|meta| !at(meta, a, "annotations"))
            {
                continue;
            }
            if let Some(v) = descend(doc, &steps)
                && (matches!(v, serde_yaml::Value::Number(_) | serde_yaml::Value::Bool(_))
                    || (nulls && v.is_null()))
            {
                *v = serde_yaml::Value::String(text);
            }
        }
    }

    /// Puts each decoded string where serde_yaml's reading of the document holds its base64.
    pub(super) fn apply(self, doc: &mut serde_yaml::Value) {
        for (steps, text) in self.scalars {
            if let Some(at) = descend(doc, &steps) {
                *at = serde_yaml::Value::String(text);
            }
        }
    }
}

/// The `!!binary` scalars of a stream, by document, aliases included.
pub(super) fn scan(bytes: &[u8]) -> Result<Vec<Decoded>, SyntaxError> {
    // libyaml-safer 0.3 panics ("unexpected end of input") on a block scalar that ends the
    // input without a line break; a final line break moves no tag and no position. Whatever
    // else it might panic on (serde_yaml has read the same input already) is refused as a
    // file fledge cannot read, never a crash of the build.
    let with_break;
    let input = if bytes.ends_with(b"\n") {
        bytes
    } else {
        with_break = [bytes, b"\n"].concat();
        &with_break
    };
    std::panic::catch_unwind(|| scan_events(input)).unwrap_or_else(|_| {
        Err(SyntaxError {
            line: 1,
            column: 1,
            message: "the reader of YAML tags failed on this file".into(),
        })
    })
}

/// Every plain scalar of a stream (a value, not a key), with its text as written: kustomize
/// reads annotation values as that text (`0x10` stays `0x10`).
/// With `bool_keys_refused`, a plain key YAML 1.1 reads as a boolean (`n:`, `yes:`) is an
/// error, as kustomize fails on one in a kustomization.
pub(super) fn plain_scalars(
    bytes: &[u8],
    bool_keys_refused: bool,
) -> Result<Vec<Decoded>, SyntaxError> {
    let with_break;
    let input = if bytes.ends_with(b"\n") {
        bytes
    } else {
        with_break = [bytes, b"\n"].concat();
        &with_break
    };
    let mode = if bool_keys_refused {
        Mode::PlainNoBoolKeys
    } else {
        Mode::Plain
    };
    std::panic::catch_unwind(|| scan_events_with(input, mode)).unwrap_or_else(|_| {
        Err(SyntaxError {
            line: 1,
            column: 1,
            message: "the reader of YAML scalars failed on this file".into(),
        })
    })
}

fn scan_events(bytes: &[u8]) -> Result<Vec<Decoded>, SyntaxError> {
    scan_events_with(bytes, Mode::Binary)
}

/// What a scan records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Mode {
    /// `!!binary` scalars, decoded.
    #[default]
    Binary,
    /// Plain scalars, as written.
    Plain,
    /// Plain scalars, and a plain key that YAML 1.1 reads as a boolean is an error.
    PlainNoBoolKeys,
}

fn scan_events_with(bytes: &[u8], mode: Mode) -> Result<Vec<Decoded>, SyntaxError> {
    let text = crate::libyaml::input(bytes);
    let mut input: &[u8] = &text;
    let mut parser = Parser::new();
    parser.set_input_string(&mut input);
    let mut scan = Scan {
        mode,
        ..Scan::default()
    };
    for event in &mut parser {
        let event =
            event.map_err(|e| at(e.problem_mark().unwrap_or_default(), e.problem().to_owned()))?;
        scan.event(event)?;
    }
    Ok(scan.out)
}

fn at(mark: Mark, message: String) -> SyntaxError {
    let one_based = |n: u64| usize::try_from(n).map_or(usize::MAX, |n| n.saturating_add(1));
    SyntaxError {
        line: one_based(mark.line),
        column: one_based(mark.column),
        message,
    }
}

/// A collection being read.
struct Frame {
    steps: Vec<Step>,
    mapping: bool,
    /// Items read, or entries read.
    next: usize,
    /// In a mapping: the next node is a key.
    at_key: bool,
    /// The collection's anchor, and where its scalars start in the document's list.
    anchor: Option<(String, usize)>,
}

#[derive(Default)]
struct Scan {
    mode: Mode,
    doc: usize,
    found: Found,
    frames: Vec<Frame>,
    /// What each anchor of the document holds, relative to the anchored node.
    anchors: HashMap<String, Found>,
    out: Vec<Decoded>,
}

impl Scan {
    /// The steps to the next node; `None` where a key stands (or below one).
    fn here(&self) -> Option<Vec<Step>> {
        let Some(f) = self.frames.last() else {
            return Some(Vec::new());
        };
        let step = match (f.mapping, f.at_key) {
            (true, true) => return None,
            (true, false) => Step::Entry(f.next),
            (false, _) => Step::Item(f.next),
        };
        let mut steps = f.steps.clone();
        steps.push(step);
        Some(steps)
    }

    /// A node of the current collection has been read.
    fn advance(&mut self) {
        if let Some(f) = self.frames.last_mut() {
            if !f.mapping || !f.at_key {
                f.next += 1;
            }
            if f.mapping {
                f.at_key = !f.at_key;
            }
        }
    }

    fn event(&mut self, event: Event) -> Result<(), SyntaxError> {
        let mapping = matches!(event.data, EventData::MappingStart { .. });
        match event.data {
            EventData::DocumentEnd { .. } => {
                if !self.found.is_empty() {
                    self.out.push(Decoded {
                        doc: self.doc,
                        scalars: std::mem::take(&mut self.found),
                    });
                }
                self.doc += 1;
                self.anchors.clear();
            }
            EventData::Alias { anchor } => {
                if let (Some(steps), Some(held)) = (self.here(), self.anchors.get(&anchor)) {
                    let copies: Found = held
                        .iter()
                        .map(|(rel, text)| ([&steps[..], rel].concat(), text.clone()))
                        .collect();
                    self.found.extend(copies);
                }
                self.advance();
            }
            EventData::Scalar {
                anchor,
                tag,
                value,
                style,
                ..
            } => {
                let mut held = Found::new();
                let plain = tag.is_none() && style == ScalarStyle::Plain;
                if self.mode != Mode::Binary && plain {
                    match self.here() {
                        Some(steps) => {
                            self.found.push((steps, value.clone()));
                            held.push((Vec::new(), value));
                        }
                        None if self.mode == Mode::PlainNoBoolKeys
                            && YAML11_BOOLS.iter().any(|(w, _)| *w == value) =>
                        {
                            return Err(at(
                                event.start_mark,
                                format!(
                                    "the key `{value}` reads as a boolean in YAML 1.1, as kustomize reads kustomizations, and kustomize fails on it: quote it (`\"{value}\":`)"
                                ),
                            ));
                        }
                        None => {}
                    }
                } else if self.mode == Mode::Binary && tag.as_deref() == Some(BINARY_TAG) {
                    let Some(steps) = self.here() else {
                        return Err(at(
                            event.start_mark,
                            "a !!binary value cannot be a mapping key (Kubernetes objects and kustomizations have string keys)".into(),
                        ));
                    };
                    // kubectl's words.
                    let text = decode(&value).ok_or_else(|| {
                        at(
                            event.start_mark,
                            "!!binary value contains invalid base64 data".into(),
                        )
                    })?;
                    self.found.push((steps, text.clone()));
                    held.push((Vec::new(), text));
                }
                if let Some(a) = anchor {
                    self.anchors.insert(a, held);
                }
                self.advance();
            }
            EventData::SequenceStart { anchor, .. } | EventData::MappingStart { anchor, .. } => {
                // Below a key nothing is kept: serde_yaml has refused such a key already.
                let steps = self.here().unwrap_or_default();
                self.frames.push(Frame {
                    steps,
                    mapping,
                    next: 0,
                    at_key: mapping,
                    anchor: anchor.map(|a| (a, self.found.len())),
                });
            }
            EventData::SequenceEnd | EventData::MappingEnd => {
                if let Some(f) = self.frames.pop()
                    && let Some((a, start)) = f.anchor
                {
                    let held = self.found[start..]
                        .iter()
                        .map(|(s, t)| (s[f.steps.len()..].to_vec(), t.clone()))
                        .collect();
                    self.anchors.insert(a, held);
                }
                self.advance();
            }
            EventData::StreamStart { .. }
            | EventData::StreamEnd
            | EventData::DocumentStart { .. } => {}
        }
        Ok(())
    }
}

/// A `!!binary` scalar's bytes as the string Go makes of them: base64 as Go's
/// `base64.StdEncoding` reads it (padding required, line breaks ignored, the unused bits of the
/// last character not checked), then each byte that is not part of valid UTF-8 replaced by
/// U+FFFD, one for each byte, as `encoding/json` writes it.
fn decode(text: &str) -> Option<String> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const GO_STD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let compact: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let bytes = GO_STD.decode(compact).ok()?;
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(std::iter::repeat_n('\u{fffd}', chunk.invalid().len()));
    }
    Some(out)
}

/// The node `steps` lead to, through tags.
fn descend<'a>(
    mut v: &'a mut serde_yaml::Value,
    steps: &[Step],
) -> Option<&'a mut serde_yaml::Value> {
    for step in steps {
        while let serde_yaml::Value::Tagged(t) = v {
            v = &mut t.value;
        }
        v = match (step, v) {
            (Step::Item(i), serde_yaml::Value::Sequence(items)) => items.get_mut(*i)?,
            (Step::Entry(i), serde_yaml::Value::Mapping(m)) => m.values_mut().nth(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// True when `steps` lead to a value of a document's `metadata.annotations`.
fn in_annotations(doc: &mut serde_yaml::Value, steps: &[Step]) -> bool {
    let key_at = |v: &serde_yaml::Value, i: usize, key: &str| match v {
        serde_yaml::Value::Mapping(m) => m.keys().nth(i).is_some_and(|k| k == key),
        _ => false,
    };
    let [Step::Entry(m), Step::Entry(a), Step::Entry(_)] = steps[..] else {
        return false;
    };
    key_at(doc, m, "metadata")
        && descend(doc, &steps[..1]).is_some_and(|meta| key_at(meta, a, "annotations"))
}
