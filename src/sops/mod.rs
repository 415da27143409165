//! `sops`: documents encrypted with SOPS, decrypted as `sops --decrypt` (v3.13) and Flux's
//! kustomize-controller decrypt them, with the keys handed in as values.
//!
//! Owns the SOPS file formats (YAML, JSON, dotenv, binary), the tree walk that decides which
//! values are encrypted (`encrypted_regex`, `unencrypted_suffix`, … as sops decides it), the
//! AES-256-GCM value cipher, the MAC, and age identities ([`Keys`]). It does no I/O: the bytes of
//! a document and the keys come in, plaintext goes out.
//!
//! Deliberately not here: which files and objects a build decrypts (that is `render`'s, as
//! Flux's decryptor decides it), key services (PGP, cloud KMS, Vault: a file whose data key is
//! sealed only for those is refused, naming them), Shamir key groups, and the INI format.
//!
//! Invariants: the MAC is checked before any plaintext leaves this module; plaintext and key
//! material never appear in an error or in `Debug` output ([`Plaintext`] and [`Keys`] print
//! sizes only; errors name paths of keys in the document, never values).

mod cipher;
mod dotenv;
mod json;
mod keys;
mod metadata;
mod tree;
mod yaml;

use std::fmt;

use serde_json::Value;

pub use keys::{KeyError, Keys};

use metadata::Tree;

/// The formats sops stores documents in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    /// Any other file: a JSON envelope whose `data` holds the file.
    Binary,
}

impl Format {
    /// The format sops (and Flux) gives a file by its name: `.yaml`/`.yml`, `.json`, `.env`,
    /// `.ini`, else binary; Flux reads a name ending `.dockerconfigjson` as JSON.
    #[must_use]
    #[expect(
        clippy::case_sensitive_file_extension_comparisons,
        reason = "sops and Flux compare names case-sensitively (`a.YAML` is binary to them)"
    )]
    pub fn for_path(path: &str) -> Self {
        if path.ends_with(".dockerconfigjson") || path.ends_with(".json") {
            Self::Json
        } else if path.ends_with(".yaml") || path.ends_with(".yml") {
            Self::Yaml
        } else if path.ends_with(".env") {
            Self::Dotenv
        } else if path.ends_with(".ini") {
            Self::Ini
        } else {
            Self::Binary
        }
    }

    /// The bytes Flux looks for to tell that a file of this format is encrypted.
    #[must_use]
    pub fn marker(self) -> &'static [u8] {
        match self {
            Self::Binary | Self::Json => b"\"mac\": \"ENC[",
            Self::Dotenv => b"sops_mac=ENC[",
            Self::Ini => b"[sops]",
            Self::Yaml => b"mac: ENC[",
        }
    }

    /// The format whose marker the bytes hold, as Flux detects an encrypted Secret value
    /// (Flux's order is a Go map's; the markers of two formats rarely meet in one value).
    #[must_use]
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        [Self::Json, Self::Yaml, Self::Dotenv, Self::Ini]
            .into_iter()
            .find(|f| contains(bytes, f.marker()))
    }

    fn name(self) -> &'static str {
        match self {
            Self::Yaml => "YAML",
            Self::Json => "JSON",
            Self::Dotenv => "dotenv",
            Self::Ini => "INI",
            Self::Binary => "binary",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether `hay` holds `needle`.
#[must_use]
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Decrypted bytes. `Debug` shows the length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Plaintext(Vec<u8>);

impl Plaintext {
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plaintext({} bytes)", self.0.len())
    }
}

/// Why a document could not be decrypted. No variant carries a decrypted value or a key;
/// callers add the file or object the document came from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read it as a SOPS-encrypted {format} document: {message}")]
    Load { format: Format, message: String },
    #[error("its `sops` metadata is invalid: {0}")]
    Metadata(String),
    #[error(
        "it is encrypted with SOPS and fledge was given no age key: give fledge the key (a Secret named by the Kustomization's spec.decryption.secretRef with a `*.agekey` entry, or a key file)"
    )]
    NoKeys,
    #[error(
        "none of the age keys given to fledge decrypts it (its data key is sealed for {recipients}): give fledge the matching AGE-SECRET-KEY, or re-encrypt it with `sops updatekeys`"
    )]
    NoMatchingKey { recipients: String },
    #[error(
        "its data key is sealed only for {kinds}, which fledge does not decrypt: add an age recipient to it (`sops updatekeys` with an age key in .sops.yaml) and give fledge that key"
    )]
    UnsupportedKeys { kinds: String },
    #[error(
        "it uses {groups} key groups with a Shamir threshold, which fledge does not decrypt: re-encrypt it with one key group"
    )]
    Shamir { groups: usize },
    #[error("the value at `{path}` cannot be decrypted: {message}")]
    Value { path: String, message: String },
    #[error(
        "its MAC does not match its content: the file was changed after it was encrypted (by hand, or tampered with); edit it with `sops edit`, or encrypt it again"
    )]
    MacMismatch,
    #[error("its MAC cannot be decrypted: {0}")]
    Mac(String),
    #[error("cannot write it as {format} after decrypting it: {message}")]
    Emit { format: Format, message: String },
    #[error(
        "the INI format is not supported by fledge: store the secret as YAML, JSON, dotenv or a binary file"
    )]
    Ini,
}

/// Decrypts a whole SOPS document read as `input`, and writes it as `output` (as Flux's
/// decryptor does, and `sops --decrypt --input-type … --output-type …`); the MAC is checked.
pub fn decrypt(
    bytes: &[u8],
    input: Format,
    output: Format,
    keys: &Keys,
) -> Result<Plaintext, Error> {
    let tree = decrypt_tree(bytes, input, keys)?;
    // The YAML reader sees no comments; sops writes them back into YAML and dotenv output.
    if input == Format::Yaml
        && matches!(output, Format::Yaml | Format::Dotenv)
        && yaml::has_comments(bytes).unwrap_or(true)
    {
        return Err(Error::Emit {
            format: output,
            message: "the document holds comments, which fledge cannot yet write back as sops does; move them out of the encrypted file (or use a JSON or dotenv file)".into(),
        });
    }
    emit(&tree, output).map(Plaintext)
}

/// Decrypts a YAML or JSON stream of Kubernetes objects: each document, decrypted, as JSON (the
/// `sops` metadata removed). The MAC is checked over the whole stream, as sops checks it.
pub fn decrypt_objects(bytes: &[u8], input: Format, keys: &Keys) -> Result<Vec<Value>, Error> {
    let doc = decrypt_tree(bytes, input, keys)?;
    doc.branches
        .iter()
        .map(|b| tree::to_json(&tree::Node::Map(b.clone())))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| Error::Emit {
            format: Format::Json,
            message,
        })
}

/// Whether an object carries SOPS metadata with a MAC: what Flux takes for an encrypted
/// resource.
#[must_use]
pub fn is_encrypted(object: &Value) -> bool {
    let mac = &object["sops"]["mac"];
    !(mac.is_null() || mac.as_str() == Some(""))
}

fn load(bytes: &[u8], format: Format) -> Result<Tree, Error> {
    let load_err = |message: String| Error::Load { format, message };
    match format {
        Format::Yaml => {
            let branches = yaml::load(bytes).map_err(load_err)?;
            let tree = metadata::extract(branches, false)?;
            // Which values a comment rule encrypts depends on the comments, which the YAML
            // reader does not see.
            if tree.metadata.rule.reads_comments() {
                return Err(Error::Metadata("it sets encrypted_comment_regex or unencrypted_comment_regex, which fledge does not support in YAML files: encrypt it with encrypted_regex (or a suffix rule) instead".into()));
            }
            Ok(tree)
        }
        Format::Json | Format::Binary => {
            let branch = json::load(bytes).map_err(load_err)?;
            metadata::extract(vec![branch], false)
        }
        Format::Dotenv => {
            let branch = dotenv::load(bytes).map_err(load_err)?;
            metadata::extract(vec![branch], true)
        }
        Format::Ini => Err(Error::Ini),
    }
}

fn decrypt_tree(bytes: &[u8], input: Format, keys: &Keys) -> Result<Tree, Error> {
    let mut tree = load(bytes, input)?;
    let data_key = keys.data_key(&tree.metadata)?;
    let computed = tree.decrypt(&data_key)?;
    let stored = tree.metadata.stored_mac(&data_key)?;
    if stored != computed {
        return Err(Error::MacMismatch);
    }
    Ok(tree)
}

fn emit(tree: &Tree, format: Format) -> Result<Vec<u8>, Error> {
    let emit_err = |message: String| Error::Emit { format, message };
    match format {
        Format::Yaml => yaml::emit(&tree.branches).map_err(emit_err),
        Format::Json => json::emit(&tree.branches).map_err(emit_err),
        Format::Binary => json::emit_binary(&tree.branches).map_err(emit_err),
        Format::Dotenv => dotenv::emit(&tree.branches).map_err(emit_err),
        Format::Ini => Err(Error::Ini),
    }
}

#[cfg(test)]
mod tests;
