//! Identities that travel between fledge's stages as values, not strings: a commit of the
//! config repository ([`CommitId`]). Serialised as the bare hex string, so every stored format
//! (Release status, status files, notes) reads as before.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A commit of the config repository: its full hex object id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommitId(String);

impl CommitId {
    #[must_use]
    pub fn new(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    /// The full hex id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The abbreviated form people read (`a1b2c3d`).
    #[must_use]
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(7)]
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CommitId {
    fn from(hex: &str) -> Self {
        Self::new(hex)
    }
}

impl From<String> for CommitId {
    fn from(hex: String) -> Self {
        Self(hex)
    }
}

impl PartialEq<str> for CommitId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for CommitId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Read as the string it is (`as_deref`, slicing, formatting), compared and built as a commit.
impl std::ops::Deref for CommitId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}
