//! sops' dotenv store (`stores/dotenv/store.go`): `KEY=value` lines, `#` comment lines, `\n`
//! in a value for a line break.

use super::tree::{Branch, Comment, Item, Key, Node, go_float};

pub(super) fn load(bytes: &[u8]) -> Result<Branch, String> {
    let mut branch = Vec::new();
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let line = std::str::from_utf8(line).map_err(|_| format!("line {} is not UTF-8", n + 1))?;
        if let Some(text) = line.strip_prefix('#') {
            branch.push(Item {
                key: Key::Comment(Comment {
                    text: text.to_owned(),
                    inline: false,
                }),
                value: Node::Null,
            });
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {} is not KEY=value", n + 1))?;
        branch.push(Item {
            key: Key::Name(k.to_owned()),
            value: Node::Str(v.replace("\\n", "\n")),
        });
    }
    Ok(branch)
}

pub(super) fn emit(branches: &[Branch]) -> Result<Vec<u8>, String> {
    let branch = branches.first().ok_or("no document")?;
    let mut out = Vec::new();
    for item in branch {
        match (&item.key, &item.value) {
            (Key::Name(k), Node::Map(_) | Node::Seq(_)) => {
                return Err(format!(
                    "`{k}` holds a mapping or a list, which a dotenv file cannot"
                ));
            }
            (Key::Comment(c), _) => {
                out.push(b'#');
                out.extend_from_slice(c.text.as_bytes());
                out.push(b'\n');
            }
            (Key::Name(k), v) => {
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                match v {
                    Node::Str(s) => out.extend_from_slice(s.replace('\n', "\\n").as_bytes()),
                    Node::Raw(b) => out.extend_from_slice(b),
                    other => out.extend_from_slice(value_string(other).as_bytes()),
                }
                out.push(b'\n');
            }
        }
    }
    Ok(out)
}

/// sops' `ValToString` for a value that is not a string.
fn value_string(v: &Node) -> String {
    match v {
        Node::Int(i) => i.to_string(),
        Node::Float(f) => {
            // Go's FormatFloat 'G', then one decimal digit where it would read as an integer.
            let g = go_float(*f, 'G');
            if g.contains('.') || g.contains('E') {
                g
            } else {
                format!("{f:.1}")
            }
        }
        Node::Bool(b) => b.to_string(),
        Node::Null => "<nil>".into(),
        _ => String::new(),
    }
}
