//! Talking to a remote with libgit2: listing its refs and fetching, with credentials, host-key
//! checks and a deadline. Shared by the source (reads) and write-back (fetching before a push).

use std::cell::RefCell;
use std::fmt;
use std::time::Duration;

use git2::{AutotagOption, Direction, FetchOptions, Oid, Repository};
use tokio::time::Instant;

use super::auth::{Auth, callbacks, redact};

/// How a network operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NetError {
    /// The ssh host key was unknown or did not match `known_hosts`.
    HostKey(String),
    Timeout(Duration),
    Other(String),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HostKey(reason) => write!(f, "{reason}"),
            Self::Timeout(t) => write!(f, "no answer within {t:?}"),
            Self::Other(m) => write!(f, "{m}"),
        }
    }
}

/// One remote, reached from a local repository.
pub(crate) struct Remote<'a> {
    pub(crate) repo: &'a Repository,
    pub(crate) url: &'a str,
    pub(crate) auth: &'a Auth,
    pub(crate) timeout: Duration,
}

impl Remote<'_> {
    fn classify(
        &self,
        e: &git2::Error,
        refusal: &RefCell<Option<String>>,
        deadline: Instant,
    ) -> NetError {
        if let Some(reason) = refusal.borrow_mut().take() {
            NetError::HostKey(reason)
        } else if Instant::now() >= deadline {
            NetError::Timeout(self.timeout)
        } else {
            NetError::Other(redact(e.message()))
        }
    }

    /// The remote's refs (`git ls-remote`), peeled tags included: transfers no objects.
    pub(crate) fn list(&self) -> Result<Vec<(String, Oid)>, NetError> {
        let refusal = RefCell::new(None);
        let deadline = Instant::now() + self.timeout;
        let err = |e: &git2::Error| self.classify(e, &refusal, deadline);
        let mut remote = self.repo.remote_anonymous(self.url).map_err(|e| err(&e))?;
        let cb = callbacks(self.auth, self.url, &refusal);
        let headers = self.auth.headers();
        if headers.is_empty() {
            let conn = remote
                .connect_auth(Direction::Fetch, Some(cb), None)
                .map_err(|e| err(&e))?;
            return Ok(heads(conn.list().map_err(|e| err(&e))?));
        }
        // libgit2 sends headers of its own only with a download (git2 offers none for a bare
        // connection): a download of no refspec is the advertisement alone, transferring no
        // objects, and the list stays readable after it.
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(cb);
        opts.custom_headers(&headers.iter().map(String::as_str).collect::<Vec<_>>());
        remote
            .download::<&str>(&[], Some(&mut opts))
            .map_err(|e| err(&e))?;
        Ok(heads(remote.list().map_err(|e| err(&e))?))
    }

    /// Fetches `refspecs`, cancelled once the transfer passes the deadline.
    pub(crate) fn fetch(&self, refspecs: &[&str]) -> Result<(), NetError> {
        let refusal = RefCell::new(None);
        let deadline = Instant::now() + self.timeout;
        let err = |e: &git2::Error| self.classify(e, &refusal, deadline);
        let mut remote = self.repo.remote_anonymous(self.url).map_err(|e| err(&e))?;
        let mut cb = callbacks(self.auth, self.url, &refusal);
        cb.transfer_progress(move |_| Instant::now() < deadline);
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(cb);
        opts.download_tags(AutotagOption::None);
        let headers = self.auth.headers();
        opts.custom_headers(&headers.iter().map(String::as_str).collect::<Vec<_>>());
        remote
            .fetch(refspecs, Some(&mut opts), None)
            .map_err(|e| err(&e))
    }
}

/// The refs of an advertisement, by name.
fn heads(list: &[git2::RemoteHead<'_>]) -> Vec<(String, Oid)> {
    list.iter()
        .map(|h| (h.name().to_owned(), h.oid()))
        .collect()
}
