//! `!!binary` scalars, decoded as `kubectl kustomize` decodes them: go-yaml reads the base64,
//! and Go's JSON encoder then writes the bytes as a string. serde_yaml hands such a scalar over
//! as its base64 text without its tag, so the tags are read here from the events of a second
//! reader of the same grammar (libyaml-safer, a port of the libyaml serde_yaml runs on), and
//! the decoded strings are put where serde_yaml's values hold the base64.

use std::collections::HashMap;

use libyaml_safer::{Event, EventData, Mark, Parser};

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

impl Decoded {
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

fn scan_events(bytes: &[u8]) -> Result<Vec<Decoded>, SyntaxError> {
    let mut input = bytes;
    let mut parser = Parser::new();
    parser.set_input_string(&mut input);
    let mut scan = Scan::default();
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
                anchor, tag, value, ..
            } => {
                let mut held = Found::new();
                if tag.as_deref() == Some(BINARY_TAG) {
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
