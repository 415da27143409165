//! `source`: the config repository as fledge reads it.
//!
//! Owns the Git edge on the read side: a bare cache per remote that survives restarts
//! ([`Source`]), resolving the tracked reference (branch, tag, semver range, pinned commit),
//! reading a commit's tree from the object store into a [`Snapshot`] that the renderer reads
//! exactly as it reads a directory, authentication ([`Auth`]) with credentials kept out of logs,
//! optional signature verification ([`Verifier`]), and the instant triggers that wake the poller:
//! a `notify` watch on local repositories ([`watch`]) and signed forge webhooks ([`webhook`]).
//!
//! It does not render, decide or write: it produces snapshots, and says when the tracked
//! reference's history was rewritten ([`Rewrite`]). Invariants: a poll that finds the reference
//! unmoved transfers no objects; nothing is rendered from a commit that fails verification; no
//! credential appears in an error or a log line; a poll holds no file open once it returns, and
//! the caches are repacked as they grow.

mod auth;
mod compact;
pub mod flux;
pub mod poller;
mod repo;
mod transport;
mod verify;
pub mod watch;
pub mod webhook;

use std::path::PathBuf;
use std::time::Duration;

pub use auth::{
    Auth, HostKeyCheck, RedactedUrl, Secret, SshAuth, SshKeyAuth, check_host_key, redact,
};
pub use repo::{
    Fetched, Reference, Rewrite, Snapshot, Source, SourceConfig, commit_messages, full_commit,
    read_commit, read_tree, verify_spec,
};
pub use verify::{Refusal, Verification, Verifier, VerifyMode};

pub(crate) use compact::compact;
pub(crate) use repo::git_error;
pub(crate) use transport::{NetError, Remote};

pub use crate::ids::CommitId;

impl From<git2::Oid> for CommitId {
    fn from(oid: git2::Oid) -> Self {
        Self::new(oid.to_string())
    }
}

pub use crate::chain::Disposition;

/// Why fetching or reading the config repository failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the cache repository {path}: {message}")]
    Cache { path: PathBuf, message: String },
    #[error("cannot fetch from {url}: {message}")]
    Network { url: RedactedUrl, message: String },
    #[error("fetching from {url} took longer than {timeout:?}")]
    Timeout { url: RedactedUrl, timeout: Duration },
    #[error("refusing to connect to {url}: {reason}")]
    HostKey { url: RedactedUrl, reason: String },
    #[error("{reference} not found in {url}")]
    MissingRef { url: RedactedUrl, reference: String },
    #[error("cannot read commit {commit}: {message}")]
    Read { commit: CommitId, message: String },
    /// The commit (or the tag naming it) failed [`Verification`]: nothing of it is rendered.
    #[error("commit {commit} is refused: {refusal}")]
    Unverified { commit: CommitId, refusal: Refusal },
}

impl Error {
    #[must_use]
    pub fn disposition(&self) -> Disposition {
        match self {
            Self::Network { .. } | Self::Timeout { .. } | Self::Cache { .. } => Disposition::Retry,
            Self::HostKey { .. }
            | Self::MissingRef { .. }
            | Self::Read { .. }
            | Self::Unverified { .. } => Disposition::Stalled,
        }
    }

    /// The commit refused and why, when this is a verification failure.
    #[must_use]
    pub fn refusal(&self) -> Option<(&CommitId, &Refusal)> {
        match self {
            Self::Unverified { commit, refusal } => Some((commit, refusal)),
            _ => None,
        }
    }
}
