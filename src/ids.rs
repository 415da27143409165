//! Identities that travel between fledge's stages as values, not strings: a commit of the
//! config repository ([`CommitId`]) and a revision of a workload ([`RevisionId`]). Serialised as
//! the bare hex string, so every stored format (Release status, status files, notes) reads as
//! before.

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

    /// The abbreviated form people read (`a1b2c3d`).
    #[must_use]
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(7)]
    }
}

/// A revision id: lowercase hex sha256 of a workload's pod spec and the configs it references
/// (see [`crate::revision`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RevisionId(pub String);

impl RevisionId {
    /// The first 12 hex digits, for people.
    #[must_use]
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

/// What every hex id shares: read as the string it is (`as_deref`, slicing, formatting),
/// compared with strings, built from one.
macro_rules! hex_id {
    ($id:ident) => {
        impl $id {
            /// The full hex id.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $id {
            fn from(hex: &str) -> Self {
                Self(hex.to_owned())
            }
        }

        impl From<String> for $id {
            fn from(hex: String) -> Self {
                Self(hex)
            }
        }

        impl PartialEq<str> for $id {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $id {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl std::ops::Deref for $id {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
    };
}

hex_id!(CommitId);
hex_id!(RevisionId);
