//! The `sops` metadata of a document (`stores/stores.go`, `stores/metadata.go`): nested under
//! a top-level `sops` key (YAML, JSON, binary) or flattened into `sops_…` keys (dotenv).

use regex::Regex;

use super::Error;
use super::cipher::{self, Plain};
use super::tree::{self, Branch, Key, Node, Rule};

/// A loaded document: its branches (one per YAML document) and its metadata.
pub(super) struct Tree {
    pub(super) branches: Vec<Branch>,
    pub(super) metadata: Metadata,
}

impl Tree {
    /// Decrypts every encrypted value in place; returns the MAC computed over the plaintext (as
    /// upper-case hex, the form sops stores).
    pub(super) fn decrypt(&mut self, key: &[u8]) -> Result<String, Error> {
        tree::decrypt(
            &mut self.branches,
            &self.metadata.rule,
            self.metadata.mac_only_encrypted,
            key,
        )
    }
}

/// One master key that seals the data key.
pub(super) enum MasterKey {
    Age {
        recipient: String,
        enc: String,
    },
    /// A kind fledge does not decrypt (`pgp`, `kms`, `gcp_kms`, …), by its metadata name.
    Other(&'static str),
}

pub(super) struct Metadata {
    pub(super) last_modified: String,
    pub(super) mac: String,
    pub(super) rule: Rule,
    pub(super) mac_only_encrypted: bool,
    pub(super) key_groups: Vec<Vec<MasterKey>>,
}

/// The kinds of master key sops writes, by their metadata names.
const OTHER_KINDS: [&str; 6] = ["pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"];

/// Takes the metadata out of loaded branches (every branch loses its `sops` key; the first
/// branch's is read), as sops' `ExtractMetadata` does.
pub(super) fn extract(mut branches: Vec<Branch>, flat: bool) -> Result<Tree, Error> {
    let meta = if flat {
        let first = branches.first_mut().ok_or(Error::Metadata(
            "the document holds no `sops_…` metadata".into(),
        ))?;
        let mut flat_items = Vec::new();
        first.retain(|item| match &item.key {
            Key::Name(k) if k.starts_with("sops_") => {
                flat_items.push((k["sops_".len()..].to_owned(), item.value.clone()));
                false
            }
            _ => true,
        });
        if flat_items.is_empty() {
            return Err(Error::Metadata(
                "sops metadata not found (no `sops_…` keys)".into(),
            ));
        }
        unflatten(flat_items)?
    } else {
        let mut found = None;
        for (bi, branch) in branches.iter_mut().enumerate() {
            let mut taken = Vec::new();
            branch.retain(|item| {
                if item.key == Key::Name("sops".into()) {
                    taken.push(item.value.clone());
                    false
                } else {
                    true
                }
            });
            if bi == 0 {
                if taken.len() > 1 {
                    return Err(Error::Metadata("found duplicate `sops` entry".into()));
                }
                found = taken.pop();
            }
        }
        match found {
            Some(Node::Map(m)) => m,
            Some(_) => return Err(Error::Metadata("`sops` is not a mapping".into())),
            None => {
                return Err(Error::Metadata(
                    "sops metadata not found (no top-level `sops` key)".into(),
                ));
            }
        }
    };
    Ok(Tree {
        branches,
        metadata: parse(&meta)?,
    })
}

fn get<'a>(m: &'a Branch, key: &str) -> Option<&'a Node> {
    m.iter()
        .find(|i| i.key == Key::Name(key.into()))
        .map(|i| &i.value)
}

/// A string field, read as mapstructure's weak decoding reads it.
fn string(m: &Branch, key: &str) -> Result<String, Error> {
    Ok(match get(m, key) {
        None | Some(Node::Null) => String::new(),
        Some(Node::Str(s)) => s.clone(),
        Some(Node::Int(i)) => i.to_string(),
        Some(Node::Bool(b)) => (if *b { "1" } else { "0" }).into(),
        Some(_) => return Err(Error::Metadata(format!("`{key}` is not a string"))),
    })
}

fn boolean(m: &Branch, key: &str) -> Result<bool, Error> {
    match get(m, key) {
        None | Some(Node::Null) => Ok(false),
        Some(Node::Bool(b)) => Ok(*b),
        Some(Node::Int(i)) => Ok(*i != 0),
        Some(Node::Str(s)) => match s.as_str() {
            "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            _ => Err(Error::Metadata(format!("`{key}` is not a boolean"))),
        },
        Some(_) => Err(Error::Metadata(format!("`{key}` is not a boolean"))),
    }
}

fn list<'a>(m: &'a Branch, key: &str) -> Result<Vec<&'a Branch>, Error> {
    match get(m, key) {
        None | Some(Node::Null) => Ok(Vec::new()),
        Some(Node::Seq(items)) => items
            .iter()
            .filter(|n| !matches!(n, Node::Comment(_)))
            .map(|n| match n {
                Node::Map(b) => Ok(b),
                _ => Err(Error::Metadata(format!(
                    "`{key}` holds an entry that is not a mapping"
                ))),
            })
            .collect(),
        Some(_) => Err(Error::Metadata(format!("`{key}` is not a list"))),
    }
}

/// The master keys of one group (or of the top level, sops' single group).
fn group(m: &Branch) -> Result<Vec<MasterKey>, Error> {
    let mut keys = Vec::new();
    for kind in OTHER_KINDS {
        for _ in list(m, kind)? {
            keys.push(MasterKey::Other(kind));
        }
    }
    for k in list(m, "age")? {
        keys.push(MasterKey::Age {
            recipient: string(k, "recipient")?,
            enc: string(k, "enc")?,
        });
    }
    Ok(keys)
}

fn regex(m: &Branch, key: &str) -> Result<Option<Regex>, Error> {
    let s = string(m, key)?;
    if s.is_empty() {
        return Ok(None);
    }
    Regex::new(&s).map(Some).map_err(|e| {
        Error::Metadata(format!(
            "`{key}` is not a regular expression fledge reads: {e}"
        ))
    })
}

fn parse(m: &Branch) -> Result<Metadata, Error> {
    let last_modified = rfc3339(&string(m, "lastmodified")?)?;
    let mut rules = Vec::new();
    for (key, make) in [
        ("unencrypted_suffix", None),
        ("encrypted_suffix", None),
        (
            "unencrypted_regex",
            Some(Rule::UnencryptedRegex as fn(Regex) -> Rule),
        ),
        (
            "encrypted_regex",
            Some(Rule::EncryptedRegex as fn(Regex) -> Rule),
        ),
        (
            "unencrypted_comment_regex",
            Some(Rule::UnencryptedCommentRegex as fn(Regex) -> Rule),
        ),
        (
            "encrypted_comment_regex",
            Some(Rule::EncryptedCommentRegex as fn(Regex) -> Rule),
        ),
    ] {
        match make {
            None => {
                let s = string(m, key)?;
                if !s.is_empty() {
                    rules.push(if key == "encrypted_suffix" {
                        Rule::EncryptedSuffix(s)
                    } else {
                        Rule::UnencryptedSuffix(s)
                    });
                }
            }
            Some(make) => {
                if let Some(r) = regex(m, key)? {
                    rules.push(make(r));
                }
            }
        }
    }
    if rules.len() > 1 {
        return Err(Error::Metadata("it sets more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex and unencrypted_comment_regex".into()));
    }
    let rule = rules
        .pop()
        .unwrap_or_else(|| Rule::UnencryptedSuffix("_unencrypted".into()));
    let top = group(m)?;
    let key_groups = if top.is_empty() {
        list(m, "key_groups")?
            .into_iter()
            .map(group)
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![top]
    };
    if key_groups.is_empty() {
        return Err(Error::Metadata("no keys found in file".into()));
    }
    Ok(Metadata {
        last_modified,
        mac: string(m, "mac")?,
        rule,
        mac_only_encrypted: boolean(m, "mac_only_encrypted")?,
        key_groups,
    })
}

/// `lastmodified` as Go's `time.Parse(RFC3339)` then `Format(RFC3339)` writes it again: the
/// MAC's additional data. Fractions of a second are dropped and a zero offset is `Z`.
fn rfc3339(s: &str) -> Result<String, Error> {
    static FORM: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
            .expect("a valid constant pattern")
    });
    let caps = FORM
        .captures(s)
        .ok_or_else(|| Error::Metadata(format!("`lastmodified` `{s}` is not an RFC 3339 time")))?;
    let zone = match &caps[3] {
        "+00:00" | "-00:00" => "Z",
        z => z,
    };
    Ok(format!("{}{zone}", &caps[1]))
}

impl Metadata {
    /// The MAC the file stores, decrypted with the data key.
    pub(super) fn stored_mac(&self, data_key: &[u8]) -> Result<String, Error> {
        match cipher::decrypt(&self.mac, data_key, &self.last_modified) {
            Ok(Plain::Str(b)) => String::from_utf8(b).map_err(|_| Error::MacMismatch),
            Ok(_) => Err(Error::Mac("it is not a string".into())),
            Err(e) => Err(Error::Mac(e)),
        }
    }
}

/// sops' `unflattenTreeBranch` for the metadata of a flat format: `age__list_0__map_enc` →
/// `age: [{enc: …}]`.
fn unflatten(items: Vec<(String, Node)>) -> Result<Branch, Error> {
    let mut root = Node::Map(Vec::new());
    for (key, value) in items {
        let mut steps = Vec::new();
        let mut rest = key.as_str();
        let first_end = rest.find("__").unwrap_or(rest.len());
        steps.push(Step::Key(rest[..first_end].to_owned()));
        rest = &rest[first_end..];
        while !rest.is_empty() {
            let (step, after) = if let Some(r) = rest.strip_prefix("__map_") {
                let end = r.find("__").unwrap_or(r.len());
                (Step::Key(r[..end].to_owned()), &r[end..])
            } else if let Some(r) = rest.strip_prefix("__list_") {
                let end = r.find("__").unwrap_or(r.len());
                let i = r[..end]
                    .parse()
                    .map_err(|_| Error::Metadata(format!("bad flattened key `sops_{key}`")))?;
                (Step::Index(i), &r[end..])
            } else {
                return Err(Error::Metadata(format!("bad flattened key `sops_{key}`")));
            };
            steps.push(step);
            rest = after;
        }
        place(&mut root, &steps, value)?;
    }
    match root {
        Node::Map(b) => Ok(b),
        _ => unreachable!("the root is a mapping"),
    }
}

enum Step {
    Key(String),
    Index(usize),
}

fn place(at: &mut Node, steps: &[Step], value: Node) -> Result<(), Error> {
    let Some((step, rest)) = steps.split_first() else {
        *at = value;
        return Ok(());
    };
    let child = match (step, at) {
        (Step::Key(k), Node::Map(items)) => {
            let found = items.iter().position(|i| i.key == Key::Name(k.clone()));
            let i = found.unwrap_or_else(|| {
                items.push(super::tree::Item {
                    key: Key::Name(k.clone()),
                    value: Node::Null,
                });
                items.len() - 1
            });
            &mut items[i].value
        }
        (Step::Index(i), Node::Seq(items)) => {
            if items.len() <= *i {
                items.resize(*i + 1, Node::Null);
            }
            &mut items[*i]
        }
        _ => return Err(Error::Metadata("flattened metadata keys disagree".into())),
    };
    if matches!(child, Node::Null) && !rest.is_empty() {
        *child = match rest[0] {
            Step::Key(_) => Node::Map(Vec::new()),
            Step::Index(_) => Node::Seq(Vec::new()),
        };
    }
    place(child, rest, value)
}
