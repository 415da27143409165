//! Key material, handed in as values: age identities, read as Flux reads a decryption Secret's
//! `*.agekey` entries (and sops an age key file).

use std::fmt;
use std::io::Read as _;
use std::str::FromStr as _;

use base64::Engine as _;
use serde_json::Value;

use super::Error;
use super::metadata::{MasterKey, Metadata};

/// The keys fledge decrypts with. `Debug` shows how many there are and where they came from,
/// never the keys.
#[derive(Default)]
pub struct Keys {
    identities: Vec<age::x25519::Identity>,
    /// Where each identity came from (`Secret flux-system/sops-age, entry age.agekey`).
    origins: Vec<String>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("age_identities", &self.identities.len())
            .field("from", &self.origins)
            .finish()
    }
}

/// Why key material was refused. Never holds the key text.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{origin}: line {line} is not an age identity (AGE-SECRET-KEY-1…): {reason}")]
    Age {
        origin: String,
        line: usize,
        reason: String,
    },
    #[error(
        "{origin}: OpenPGP keys (`*.asc`) are not supported by fledge: add an age recipient to the encrypted files (`sops updatekeys`) and give fledge the age key in a `*.agekey` entry"
    )]
    Pgp { origin: String },
    #[error("{origin}: {message}")]
    Secret { origin: String, message: String },
}

impl Keys {
    /// No keys: every encrypted document is refused with [`Error::NoKeys`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// The recipients (public keys) of the identities held, for messages.
    #[must_use]
    pub fn recipients(&self) -> Vec<String> {
        self.identities
            .iter()
            .map(|i| i.to_public().to_string())
            .collect()
    }

    /// Adds the age identities of a key file's text, as sops' `ParsedIdentities.Import` reads
    /// it: one identity a line; empty lines and lines starting with `#` are skipped (what
    /// `age-keygen` writes). `origin` names the text in errors.
    pub fn add_age(&mut self, origin: &str, text: &str) -> Result<(), KeyError> {
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let refuse = |reason: &str| KeyError::Age {
                origin: origin.to_owned(),
                line: n + 1,
                reason: reason.to_owned(),
            };
            if line.starts_with("AGE-PLUGIN-") {
                return Err(refuse("age plugin identities are not supported by fledge"));
            }
            if line.starts_with("AGE-SECRET-KEY-PQ-1") {
                return Err(refuse(
                    "post-quantum hybrid age identities are not supported by fledge",
                ));
            }
            if !line.starts_with("AGE-SECRET-KEY-1") {
                return Err(refuse("unknown identity type"));
            }
            let id = age::x25519::Identity::from_str(line)
                .map_err(|_| refuse("malformed AGE-SECRET-KEY-1 line"))?;
            self.identities.push(id);
            self.origins.push(origin.to_owned());
        }
        Ok(())
    }

    /// Keys from a key file's text (`--sops-age-key FILE`: an `age-keygen` output, or several).
    pub fn from_key_file(name: &str, text: &str) -> Result<Self, KeyError> {
        let mut keys = Self::new();
        keys.add_age(name, text)?;
        Ok(keys)
    }

    /// Keys from a Secret object as the API returns it (JSON, `data` base64-encoded), read as
    /// Flux's decryptor reads `spec.decryption.secretRef`: each entry whose name ends `.agekey`
    /// holds age identities; an entry ending `.asc` (OpenPGP) is refused, as fledge cannot use
    /// it; Flux's cloud-credential entries (`sops.vault-token`, `sops.aws-kms`, …) are not read.
    pub fn from_secret(secret: &Value) -> Result<Self, KeyError> {
        let origin = format!(
            "Secret {}/{}",
            secret["metadata"]["namespace"].as_str().unwrap_or(""),
            secret["metadata"]["name"].as_str().unwrap_or("")
        );
        let mut keys = Self::new();
        let Some(data) = secret["data"].as_object() else {
            return Ok(keys);
        };
        for (name, value) in data {
            let entry = format!("{origin}, entry {name}");
            let ext = std::path::Path::new(name)
                .extension()
                .and_then(|e| e.to_str());
            match ext {
                Some("agekey") => {
                    let bytes = value
                        .as_str()
                        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                        .ok_or_else(|| KeyError::Secret {
                            origin: entry.clone(),
                            message: "the value is not base64".into(),
                        })?;
                    let text = String::from_utf8(bytes).map_err(|_| KeyError::Secret {
                        origin: entry.clone(),
                        message: "the key is not UTF-8 text".into(),
                    })?;
                    keys.add_age(&entry, &text)?;
                }
                Some("asc") => return Err(KeyError::Pgp { origin: entry }),
                _ => {}
            }
        }
        Ok(keys)
    }

    /// The data key of a document, unsealed with the first age identity that opens it.
    pub(super) fn data_key(&self, meta: &Metadata) -> Result<Vec<u8>, Error> {
        if meta.key_groups.len() > 1 {
            return Err(Error::Shamir {
                groups: meta.key_groups.len(),
            });
        }
        let group = &meta.key_groups[0];
        let mut recipients = Vec::new();
        let mut others = Vec::new();
        for key in group {
            match key {
                MasterKey::Age { recipient, enc } => {
                    if let Some(k) = self.unseal(enc) {
                        return Ok(k);
                    }
                    recipients.push(recipient.clone());
                }
                MasterKey::Other(kind) => {
                    if !others.contains(kind) {
                        others.push(*kind);
                    }
                }
            }
        }
        if recipients.is_empty() {
            return Err(Error::UnsupportedKeys {
                kinds: others.join(", "),
            });
        }
        if self.is_empty() {
            return Err(Error::NoKeys);
        }
        Err(Error::NoMatchingKey {
            recipients: recipients.join(", "),
        })
    }

    fn unseal(&self, enc: &str) -> Option<Vec<u8>> {
        if self.identities.is_empty() {
            return None;
        }
        let reader = age::armor::ArmoredReader::new(enc.as_bytes());
        let decryptor = age::Decryptor::new(reader).ok()?;
        let mut stream = decryptor
            .decrypt(self.identities.iter().map(|i| i as &dyn age::Identity))
            .ok()?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).ok()?;
        Some(out)
    }
}
