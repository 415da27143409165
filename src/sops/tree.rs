//! sops' tree (`sops.go`): ordered branches of items, comments as items of their own; the walk
//! that decides, per value, whether it is encrypted, decrypts it, and hashes it into the MAC.

use regex::Regex;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha512};

use super::Error;
use super::cipher::{self, Plain};

/// A comment line (without its `#`); `inline` when it followed a value on its line.
#[derive(Clone, PartialEq)]
pub(super) struct Comment {
    pub(super) text: String,
    pub(super) inline: bool,
}

/// A value in the tree.
#[derive(Clone, PartialEq)]
pub(super) enum Node {
    Map(Branch),
    Seq(Vec<Node>),
    Str(String),
    /// A decrypted string that is not UTF-8 (a binary file).
    Raw(Vec<u8>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Comment(Comment),
}

/// A mapping's key: a name, or a comment standing between entries.
#[derive(Clone, PartialEq)]
pub(super) enum Key {
    Name(String),
    Comment(Comment),
}

/// A mapping's entry (a comment's value is [`Node::Null`]).
#[derive(Clone, PartialEq)]
pub(super) struct Item {
    pub(super) key: Key,
    pub(super) value: Node,
}

pub(super) type Branch = Vec<Item>;

/// `sha256("sops")`: the start of a MAC over encrypted values only.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// Which values are encrypted: the one rule a file's metadata sets (sops allows one).
pub(super) enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
    UnencryptedCommentRegex(Regex),
    EncryptedCommentRegex(Regex),
}

impl Rule {
    /// Whether the rule looks at comments.
    pub(super) fn reads_comments(&self) -> bool {
        matches!(
            self,
            Self::UnencryptedCommentRegex(_) | Self::EncryptedCommentRegex(_)
        )
    }

    /// sops' `shouldBeEncrypted` for one rule.
    fn encrypts(&self, path: &[String], comments: &[Vec<String>], is_comment: bool) -> bool {
        match self {
            Self::UnencryptedSuffix(s) => !path.iter().any(|p| p.ends_with(s.as_str())),
            Self::EncryptedSuffix(s) => path.iter().any(|p| p.ends_with(s.as_str())),
            Self::UnencryptedRegex(r) => !path.iter().any(|p| r.is_match(p)),
            Self::EncryptedRegex(r) => path.iter().any(|p| r.is_match(p)),
            Self::UnencryptedCommentRegex(r) => !comments.iter().flatten().any(|c| r.is_match(c)),
            Self::EncryptedCommentRegex(r) => {
                // The comment that matches is itself left in clear: only earlier comment lines
                // count for a comment.
                let last = comments.len().saturating_sub(1);
                let last_len = comments.last().map_or(0, Vec::len);
                comments.iter().enumerate().any(|(i, cs)| {
                    cs.iter().enumerate().any(|(j, c)| {
                        !(is_comment && i == last && j + 1 == last_len) && r.is_match(c)
                    })
                })
            }
        }
    }
}

struct Walk<'a> {
    key: &'a [u8],
    rule: &'a Rule,
    mac_only_encrypted: bool,
    hash: Sha512,
}

/// Decrypts every encrypted value of `branches` in place, as `rule` says which are; returns the
/// MAC computed over the plaintext (as upper-case hex, the form sops stores).
pub(super) fn decrypt(
    branches: &mut [Branch],
    rule: &Rule,
    mac_only_encrypted: bool,
    key: &[u8],
) -> Result<String, Error> {
    let mut w = Walk {
        key,
        rule,
        mac_only_encrypted,
        hash: Sha512::new(),
    };
    if w.mac_only_encrypted {
        w.hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    for branch in branches {
        w.branch(branch, &mut Vec::new(), &mut Vec::new())?;
    }
    Ok(hex::encode_upper(w.hash.finalize()))
}

impl Walk<'_> {
    fn branch(
        &mut self,
        items: &mut Branch,
        path: &mut Vec<String>,
        stack: &mut Vec<Vec<String>>,
    ) -> Result<(), Error> {
        stack.push(Vec::new());
        for item in items.iter_mut() {
            if let Key::Comment(c) = &item.key {
                let top = stack.last_mut().expect("pushed above");
                top.push(c.text.clone());
                let c = c.clone();
                item.key = Key::Comment(self.comment(c, path, stack));
                continue;
            }
            if let Node::Comment(c) = &item.value {
                stack.last_mut().expect("pushed above").push(c.text.clone());
            }
            let Key::Name(name) = &item.key else {
                unreachable!("comment keys are handled above")
            };
            path.push(name.clone());
            let result = self.value(&mut item.value, path, stack);
            path.pop();
            result?;
            if !matches!(item.value, Node::Comment(_)) {
                *stack.last_mut().expect("pushed above") = Vec::new();
            }
        }
        stack.pop();
        Ok(())
    }

    fn seq(
        &mut self,
        items: &mut [Node],
        path: &mut Vec<String>,
        stack: &mut Vec<Vec<String>>,
    ) -> Result<(), Error> {
        stack.push(Vec::new());
        for item in items.iter_mut() {
            let is_comment = if let Node::Comment(c) = item {
                stack.last_mut().expect("pushed above").push(c.text.clone());
                true
            } else {
                false
            };
            self.value(item, path, stack)?;
            if !is_comment {
                *stack.last_mut().expect("pushed above") = Vec::new();
            }
        }
        stack.pop();
        Ok(())
    }

    /// A comment, decrypted where the rule says it is encrypted; one that does not decrypt
    /// stays as it is (sops takes it for a comment written before comments were encrypted).
    fn comment(&mut self, c: Comment, path: &[String], stack: &[Vec<String>]) -> Comment {
        if !self.rule.encrypts(path, stack, true) || c.text.is_empty() {
            return c;
        }
        match cipher::decrypt(&c.text, self.key, &aad(path)) {
            // sops' decrypted comment loses its inline mark.
            Ok(Plain::Comment(text)) => Comment {
                text,
                inline: false,
            },
            Ok(Plain::Str(bytes)) => Comment {
                text: String::from_utf8_lossy(&bytes).into_owned(),
                inline: c.inline,
            },
            _ => c,
        }
    }

    fn value(
        &mut self,
        node: &mut Node,
        path: &mut Vec<String>,
        stack: &mut Vec<Vec<String>>,
    ) -> Result<(), Error> {
        match node {
            Node::Map(items) => return self.branch(items, path, stack),
            Node::Seq(items) => return self.seq(items, path, stack),
            Node::Null => return Ok(()),
            Node::Comment(c) => {
                let c = c.clone();
                // In a sequence, sops turns an empty comment it takes for encrypted into an
                // empty string.
                *node = if c.text.is_empty() && self.rule.encrypts(path, stack, true) {
                    Node::Str(String::new())
                } else {
                    Node::Comment(self.comment(c, path, stack))
                };
                return Ok(());
            }
            _ => {}
        }
        let encrypted = self.rule.encrypts(path, stack, false);
        if encrypted {
            let Node::Str(text) = node else {
                return Err(Error::Value {
                    path: path.join(":"),
                    message: "sops' rules say it is encrypted, but it is not a string".into(),
                });
            };
            let plain =
                cipher::decrypt(text, self.key, &aad(path)).map_err(|message| Error::Value {
                    path: path.join(":"),
                    message,
                })?;
            *node = match plain {
                Plain::Str(bytes) => match String::from_utf8(bytes) {
                    Ok(s) => Node::Str(s),
                    Err(e) => Node::Raw(e.into_bytes()),
                },
                Plain::Int(i) => Node::Int(i),
                Plain::Float(f) => Node::Float(f),
                Plain::Bool(b) => Node::Bool(b),
                Plain::Comment(text) => Node::Comment(Comment {
                    text,
                    inline: false,
                }),
            };
        }
        if (!self.mac_only_encrypted || encrypted)
            && let Some(bytes) = mac_bytes(node)
        {
            self.hash.update(&bytes);
        }
        Ok(())
    }
}

/// The additional data of a value: its key path, each key followed by `:`.
fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

/// sops' `ToBytes`: what a value adds to the MAC (comments add nothing).
fn mac_bytes(node: &Node) -> Option<Vec<u8>> {
    Some(match node {
        Node::Str(s) => s.as_bytes().to_vec(),
        Node::Raw(b) => b.clone(),
        Node::Int(i) => i.to_string().into_bytes(),
        Node::Float(f) => go_float(*f, 'f').into_bytes(),
        Node::Bool(true) => b"True".to_vec(),
        Node::Bool(false) => b"False".to_vec(),
        Node::Map(_) | Node::Seq(_) | Node::Null | Node::Comment(_) => return None,
    })
}

/// Go's `strconv.FormatFloat(f, fmt, -1, 64)` for `fmt` `f` (no exponent), and the special values.
pub(super) fn go_float(f: f64, _fmt: char) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        (if f > 0.0 { "+Inf" } else { "-Inf" }).into()
    } else {
        // Rust prints the shortest digits that read back, without an exponent: Go's 'f', -1.
        format!("{f}")
    }
}

/// A branch as a JSON object (comments dropped; a repeated key keeps its last value).
pub(super) fn to_json(node: &Node) -> Result<Value, String> {
    Ok(match node {
        Node::Map(items) => {
            let mut m = Map::new();
            for item in items {
                if let Key::Name(k) = &item.key {
                    m.insert(k.clone(), to_json(&item.value)?);
                }
            }
            Value::Object(m)
        }
        Node::Seq(items) => Value::Array(
            items
                .iter()
                .filter(|n| !matches!(n, Node::Comment(_)))
                .map(to_json)
                .collect::<Result<_, _>>()?,
        ),
        Node::Str(s) => Value::String(s.clone()),
        Node::Raw(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Node::Int(i) => Value::Number((*i).into()),
        // As sops writes it in JSON and Flux reads it back: `1e6` is the integer 1000000.
        Node::Float(f) => serde_json::from_str(&go_json_float(*f)?)
            .map_err(|e| format!("a float JSON cannot hold: {e}"))?,
        Node::Bool(b) => Value::Bool(*b),
        Node::Null | Node::Comment(_) => Value::Null,
    })
}

/// Go's `encoding/json` float: shortest digits, plain between 1e-6 and 1e21, else with an
/// exponent of at least one digit after its sign (`1e+21`, `1e-7`).
pub(super) fn go_json_float(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err("a float JSON cannot hold (NaN or infinity)".into());
    }
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return Ok(format!("{f}"));
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').expect("{:e} writes an exponent");
    let exp: i32 = exp.parse().expect("{:e} writes a decimal exponent");
    Ok(if exp < 0 {
        format!("{mantissa}e-{}", -exp)
    } else {
        format!("{mantissa}e+{exp:02}")
    })
}
