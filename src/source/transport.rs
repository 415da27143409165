//! Talking to a remote with libgit2: listing its refs and fetching, with credentials, host-key
//! checks and a deadline. Shared by the source (reads) and write-back (fetching before a push).
//!
//! One exception: the first fetch from a local repository (`file://` or a path) into a cache
//! that holds none of its history runs `git fetch`. libgit2's local transport builds the pack
//! itself, computing every delta afresh (5× slower than `git clone --mirror` for a repository
//! of 2000 commits), where git's upload-pack sends the remote's packs as they are. Later fetches
//! bring a few commits, and libgit2 does that without starting a process (3× faster than `git
//! fetch`). Over ssh and https the server builds the pack either way, and libgit2 indexes it as
//! fast as `git index-pack` does.

use std::cell::RefCell;
use std::fmt;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use git2::{AutotagOption, Direction, FetchOptions, Oid, Repository};
use tokio::time::Instant;
use wait_timeout::ChildExt as _;

use super::auth::{Auth, callbacks, redact};
use super::watch::local_repo_dir;

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

impl Remote<'_> {
    /// Whether the remote is a repository on this machine.
    pub(crate) fn is_local(&self) -> bool {
        local_repo_dir(self.url).is_some()
    }

    /// Fetches `refspecs` from a local remote with `git fetch` (see the module's documentation),
    /// killed at the deadline.
    pub(crate) fn fetch_with_git(&self, refspecs: &[&str]) -> Result<(), NetError> {
        let other = |m: String| NetError::Other(redact(&m));
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir")
            .arg(self.repo.path())
            // The cache is compacted after the fetch, by `compact`.
            .args(["-c", "maintenance.auto=false", "-c", "gc.auto=0"])
            .args(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"])
            .arg("--end-of-options")
            .arg(self.url)
            .args(refspecs)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| other(format!("cannot run git: {e}")))?;
        let status = match child.wait_timeout(self.timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NetError::Timeout(self.timeout));
            }
            Err(e) => return Err(other(format!("waiting for git: {e}"))),
        };
        if status.success() {
            return Ok(());
        }
        let mut stderr = String::new();
        if let Some(mut out) = child.stderr.take() {
            let _ = out.read_to_string(&mut stderr);
        }
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        Err(other(if lines.is_empty() {
            format!("git fetch failed ({status})")
        } else {
            lines.join("; ")
        }))
    }
}

/// The refs of an advertisement, by name.
fn heads(list: &[git2::RemoteHead<'_>]) -> Vec<(String, Oid)> {
    list.iter()
        .map(|h| (h.name().to_owned(), h.oid()))
        .collect()
}
