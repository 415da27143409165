//! `writeback`: fledge's changes to the config repository — commits of files, reverts, notes —
//! pushed so that no one's work is lost.
//!
//! Every change is built on the remote's current head in a bare cache (no work tree) and pushed
//! without force. When someone pushed in the meantime the push is rejected as non-fast-forward;
//! fledge fetches, rebuilds the same change on the new head (re-applies the edits, redoes the
//! revert) and tries again, with backoff, a bounded number of times. A push refused for another
//! reason (a protected branch, a checked-out branch of a non-bare repository) can go to a side
//! branch `fledge/<purpose>-<change id>`, and the caller is told where it went. The side
//! branch is named by the change, not by the commit built for it, and an existing one is kept:
//! the same change refused again (on every retry, after every restart) finds its side branch
//! and makes no other. Writing the same content twice makes no commit. The write cache is
//! opened for each operation (so it holds no file open between them) and repacked as fetches
//! add packs to it.
//!
//! Invariants: never a force push; never an empty commit; a conflicting revert is never
//! committed in part; every commit carries `Fledge-Commit: true`.

pub mod history;
mod objects;
mod push;
pub mod record;
pub mod setters;
pub mod sign;

use std::path::PathBuf;
use std::time::Duration;

use git2::{Oid, Repository, Signature};
use sha2::{Digest, Sha256};

pub use objects::{
    Edit, add_note, commit_edits, commit_edits_signed, commit_root, revert_commits, with_trailers,
};
pub use push::{PushResult, parse_porcelain};

use crate::keys::{COMMIT_TRAILER, NOTES_REF};
use crate::net::{Backoff, jittered};
use crate::source::{Auth, CommitId, NetError, Remote, compact, git_error, redact};

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("git: {message}")]
    Git { message: String },
    #[error("cannot fetch from {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("cannot push to {url}: {message}")]
    Push { url: String, message: String },
    #[error("branch `{branch}` does not exist on the remote")]
    NoBranch { branch: String },
    #[error("reverting {commit} conflicts in {}; a person must resolve it", paths.join(", "))]
    RevertConflict { commit: String, paths: Vec<String> },
    #[error("cannot revert {commit}: {reason}")]
    Revert { commit: String, reason: String },
    #[error("gave up pushing to `{branch}` after {attempts} attempts: others kept pushing")]
    Contended { branch: String, attempts: u32 },
    #[error("pushed to `{branch}`, but the push to `{dst}` was refused: {reason}")]
    AlsoRefused {
        branch: String,
        dst: String,
        reason: String,
    },
    #[error("push to `{branch}` refused ({reason}) and the side branch `{side}` was refused too")]
    Refused {
        branch: String,
        side: String,
        reason: String,
    },
}

/// Where and as whom fledge writes.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub url: String,
    pub auth: Auth,
    /// Directory for the bare write cache (one per URL).
    pub cache_dir: PathBuf,
    pub author_name: String,
    pub author_email: String,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Push refused changes to a side branch instead of failing.
    pub side_branch_on_refusal: bool,
    /// Signs the commits of [`Change::Setters`] (image automation's `signingKey`).
    pub signer: Option<std::sync::Arc<sign::CommitSigner>>,
}

impl WriterConfig {
    /// Defaults for everything but the remote.
    #[must_use]
    pub fn new(url: &str, cache_dir: PathBuf) -> Self {
        Self {
            url: url.to_owned(),
            auth: Auth::None,
            cache_dir,
            author_name: "fledge".into(),
            author_email: "fledge@localhost".into(),
            timeout: Duration::from_secs(30),
            max_attempts: 10,
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            side_branch_on_refusal: true,
            signer: None,
        }
    }
}

/// A change to a branch, rebuilt on whatever head the branch has when it is pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add, change or delete files.
    Edits { edits: Vec<Edit>, message: String },
    /// Revert commits (newest first) in one commit.
    Revert { commits: Vec<Oid>, message: String },
    /// Like `Edits`, but a missing branch is created (as a root commit): for fledge's own
    /// branches such as `fledge/status`.
    Files { edits: Vec<Edit>, message: String },
    /// Image policy setters applied to the files under `path` of whatever head the branch has
    /// (so a person's edit pushed meanwhile is kept): image automation's commit. Not marked as
    /// fledge's own commit: it is a proposal like a person's, taken through a canary and
    /// reverted when that fails.
    Setters {
        path: String,
        setters: setters::Setters,
        message: String,
    },
}

impl Change {
    /// The side branch this change goes to when its branch refuses it: named by what the
    /// change does (its edits, or the commits it reverts, and its message), so the same change
    /// always names the same branch.
    #[must_use]
    pub fn side_branch(&self, purpose: &str) -> String {
        let mut h = Sha256::new();
        match self {
            Self::Edits { edits, message } | Self::Files { edits, message } => {
                for e in edits {
                    h.update(e.path.as_bytes());
                    h.update([0]);
                    match &e.content {
                        Some(c) => {
                            h.update(b"+");
                            h.update((c.len() as u64).to_be_bytes());
                            h.update(c);
                        }
                        None => h.update(b"-"),
                    }
                }
                h.update(message.as_bytes());
            }
            Self::Revert { commits, message } => {
                for c in commits {
                    h.update(c.as_bytes());
                }
                h.update(message.as_bytes());
            }
            Self::Setters {
                path,
                setters,
                message,
            } => {
                h.update(path.as_bytes());
                for (k, v) in setters.iter() {
                    h.update(k.as_bytes());
                    h.update([0]);
                    h.update(v.as_bytes());
                    h.update([0]);
                }
                h.update(message.as_bytes());
            }
        }
        format!("fledge/{purpose}-{}", &hex::encode(h.finalize())[..12])
    }
}

/// Where a change is pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub branch: String,
    /// The branch a missing `branch` starts from (it is then created, as image automation's
    /// push branch is created from its checkout branch).
    pub from: Option<String>,
    /// A second push once the branch has the commit (image automation's refspec).
    pub also: Option<Also>,
    /// Push options (`git push --push-option`), `key=value`, sent with every push.
    pub options: Vec<String>,
}

impl Target {
    /// Just `branch`, which must exist.
    #[must_use]
    pub fn branch(branch: &str) -> Self {
        Self {
            branch: branch.to_owned(),
            from: None,
            also: None,
            options: Vec::new(),
        }
    }
}

/// A second push: what to `dst` (a full ref name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Also {
    pub source: AlsoSource,
    pub dst: String,
}

/// What the second push sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlsoSource {
    /// The commit pushed to the branch.
    Commit,
    /// The head of the `from` branch, as fetched for the commit.
    From,
}

/// Where a change went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Pushed {
        branch: String,
        commit: CommitId,
    },
    /// The branch already had this content; nothing was committed.
    Unchanged,
    /// The branch refused the push; the change is on `branch` instead.
    SideBranch {
        branch: String,
        commit: CommitId,
        reason: String,
    },
}

/// Writes to one remote.
#[derive(Debug, Clone)]
pub struct GitWriter {
    config: WriterConfig,
    git_dir: PathBuf,
}

fn git(e: &git2::Error) -> Error {
    Error::Git {
        message: git_error(e),
    }
}

impl GitWriter {
    /// Prepares the bare write cache for `config.url`.
    pub fn open(config: WriterConfig) -> Result<Self, Error> {
        let digest = Sha256::digest(config.url.as_bytes());
        let git_dir = config
            .cache_dir
            .join(format!("{}-write.git", hex::encode(&digest[..8])));
        if !git_dir.exists() {
            std::fs::create_dir_all(&config.cache_dir).map_err(|e| Error::Git {
                message: format!("{}: {e}", config.cache_dir.display()),
            })?;
            Repository::init_bare(&git_dir).map_err(|e| git(&e))?;
        }
        Ok(Self { config, git_dir })
    }

    /// Opens the write cache for one operation: libgit2 keeps every pack it has read open for
    /// as long as the `Repository` lives, so none is kept between operations.
    fn repo(&self) -> Result<Repository, Error> {
        Repository::open_bare(&self.git_dir).map_err(|e| git(&e))
    }

    /// Fetches `remote_ref` into `local_ref`; `None` when the remote has no such ref.
    fn fetch(&self, remote_ref: &str, local_ref: &str) -> Result<Option<Oid>, Error> {
        let repo = self.repo()?;
        let remote = Remote {
            repo: &repo,
            url: &self.config.url,
            auth: &self.config.auth,
            timeout: self.config.timeout,
        };
        let fetch_err = |e: NetError| Error::Fetch {
            url: redact(&self.config.url),
            message: e.to_string(),
        };
        let listed = remote
            .list()
            .map_err(fetch_err)?
            .into_iter()
            .find(|(name, _)| name == remote_ref)
            .map(|(_, oid)| oid);
        let Some(oid) = listed else {
            return Ok(None);
        };
        let transferred = repo.find_object(oid, None).is_err();
        if transferred {
            remote
                .fetch(&[&format!("+{remote_ref}:{local_ref}")])
                .map_err(fetch_err)?;
        }
        repo.reference(local_ref, oid, true, "fledge: fetched")
            .map_err(|e| git(&e))?;
        // Each fetch added a pack: repack now and then, with the repository closed.
        drop(repo);
        if transferred {
            compact(&self.git_dir);
        }
        Ok(Some(oid))
    }

    fn signature(&self) -> Result<Signature<'static>, Error> {
        Signature::now(&self.config.author_name, &self.config.author_email).map_err(|e| git(&e))
    }

    /// Builds `change` on `head` (`None`: a new branch); `None` when it changes nothing.
    fn build(&self, change: &Change, head: Option<Oid>) -> Result<Option<Oid>, Error> {
        let repo = self.repo()?;
        let sig = self.signature()?;
        match (change, head) {
            (Change::Edits { edits, message } | Change::Files { edits, message }, Some(head)) => {
                commit_edits(&repo, head, edits, &marked(message), &sig)
            }
            (Change::Files { edits, message }, None) => {
                objects::commit_root(&repo, edits, &marked(message), &sig).map(Some)
            }
            (Change::Revert { commits, message }, Some(head)) => {
                revert_commits(&repo, head, commits, &marked(message), &sig).map(Some)
            }
            (
                Change::Setters {
                    path,
                    setters,
                    message,
                },
                Some(head),
            ) => {
                let snap = crate::source::read_tree(&repo, head).map_err(|e| Error::Git {
                    message: e.to_string(),
                })?;
                let (updated, _) = setters::update_tree(snap.files.iter(), path, setters);
                let edits: Vec<Edit> = updated
                    .into_iter()
                    .map(|(path, u)| Edit {
                        path,
                        content: Some(u.text.into_bytes()),
                    })
                    .collect();
                commit_edits_signed(
                    &repo,
                    head,
                    &edits,
                    message,
                    &sig,
                    self.config.signer.as_deref(),
                )
            }
            (_, None) => Err(Error::Git {
                message: "no branch to build on".into(),
            }),
        }
    }

    /// Fetches `branch` and runs `f` on the write cache and the branch head (for reading
    /// history), off the async threads.
    pub async fn inspect<T: Send + 'static>(
        &self,
        branch: &str,
        f: impl FnOnce(&Repository, Oid) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let this = self.clone();
        let dst = format!("refs/heads/{branch}");
        let local = format!("refs/fledge/remote/{branch}");
        let branch = branch.to_owned();
        self.blocking("inspect", move || {
            let head = this
                .fetch(&dst, &local)?
                .ok_or(Error::NoBranch { branch })?;
            f(&this.repo()?, head)
        })
        .await
    }

    /// Runs blocking git2 work off the async threads, bounded by twice the network timeout.
    async fn blocking<T: Send + 'static>(
        &self,
        what: &str,
        f: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let limit = self.config.timeout * 2;
        match tokio::time::timeout(limit, tokio::task::spawn_blocking(f)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(Error::Git {
                message: format!("{what} task failed: {e}"),
            }),
            Err(_) => Err(Error::Fetch {
                url: redact(&self.config.url),
                message: format!("{what} took longer than {limit:?}"),
            }),
        }
    }

    /// Pushes `change` to `branch`, rebuilding it on the new head whenever someone else pushed
    /// first. `purpose` names the side branch when the branch refuses the push.
    pub async fn write(
        &self,
        branch: &str,
        change: &Change,
        purpose: &str,
    ) -> Result<Written, Error> {
        self.write_to(&Target::branch(branch), change, purpose)
            .await
    }

    /// Pushes `change` to `target.branch` (created from `target.from` when it is missing),
    /// rebuilding it on the branch's new head whenever someone else pushed first; then pushes
    /// `target.also`, when given. Never a force push.
    pub async fn write_to(
        &self,
        target: &Target,
        change: &Change,
        purpose: &str,
    ) -> Result<Written, Error> {
        let branch = target.branch.as_str();
        let dst = format!("refs/heads/{branch}");
        let mut backoff = Backoff::new(self.config.min_backoff, self.config.max_backoff);
        for attempt in 1..=self.config.max_attempts {
            let this = self.clone();
            let (change_c, target_c) = (change.clone(), target.clone());
            let built = self
                .blocking("write", move || this.build_for(&target_c, &change_c))
                .await?;
            let Some((commit, from_head)) = built else {
                return Ok(Written::Unchanged);
            };
            match self.push_with(commit, &dst, &target.options).await? {
                PushResult::Accepted => {
                    tracing::info!(branch, commit = %commit, attempt, "pushed");
                    if let Some(also) = &target.also {
                        self.push_also(target, also, commit, from_head).await?;
                    }
                    return Ok(Written::Pushed {
                        branch: branch.to_owned(),
                        commit: CommitId::from(commit),
                    });
                }
                PushResult::NonFastForward => {
                    tracing::debug!(branch, attempt, "branch moved; rebuilding on the new head");
                    tokio::time::sleep(jittered(backoff.next_delay(), 0.5)).await;
                }
                PushResult::Rejected(reason) => {
                    return self
                        .to_side_branch(branch, change, purpose, commit, reason)
                        .await;
                }
            }
        }
        Err(Error::Contended {
            branch: branch.to_owned(),
            attempts: self.config.max_attempts,
        })
    }

    /// Fetches the target's branch (and its `from` branch) and builds the change on the
    /// branch's head, or on `from`'s head when the branch is missing; the commit, and `from`'s
    /// head. `None` when the change changes nothing.
    fn build_for(
        &self,
        target: &Target,
        change: &Change,
    ) -> Result<Option<(Oid, Option<Oid>)>, Error> {
        let fetch = |b: &str| {
            self.fetch(
                &format!("refs/heads/{b}"),
                &format!("refs/fledge/remote/{b}"),
            )
        };
        let head = fetch(&target.branch)?;
        let from_head = match &target.from {
            Some(from) if head.is_none() || target.also.is_some() => fetch(from)?,
            _ => None,
        };
        let base = match (head, &target.from) {
            (Some(h), _) => Some(h),
            (None, Some(from)) => Some(from_head.ok_or_else(|| Error::NoBranch {
                branch: from.clone(),
            })?),
            (None, None) if matches!(change, Change::Files { .. }) => None,
            (None, None) => {
                return Err(Error::NoBranch {
                    branch: target.branch.clone(),
                });
            }
        };
        Ok(self.build(change, base)?.map(|c| (c, from_head)))
    }

    /// The push after the branch's (`spec.git.push.refspec`): the commit just pushed, or the
    /// `from` branch's head, to `also.dst`, with the same options; never forced, so a
    /// destination that is not an ancestor of what is pushed refuses it.
    async fn push_also(
        &self,
        target: &Target,
        also: &Also,
        commit: Oid,
        from_head: Option<Oid>,
    ) -> Result<(), Error> {
        let src = match also.source {
            AlsoSource::Commit => commit,
            AlsoSource::From => from_head.ok_or_else(|| Error::NoBranch {
                branch: target.from.clone().unwrap_or_default(),
            })?,
        };
        let refused = |reason: String| Error::AlsoRefused {
            branch: target.branch.clone(),
            dst: also.dst.clone(),
            reason,
        };
        match self.push_with(src, &also.dst, &target.options).await? {
            PushResult::Accepted => {
                tracing::info!(dst = %also.dst, commit = %src, "pushed");
                Ok(())
            }
            PushResult::NonFastForward => Err(refused(
                "it is not a fast-forward there, and fledge never force-pushes".into(),
            )),
            PushResult::Rejected(reason) => Err(refused(reason)),
        }
    }

    /// Puts a change its branch refused on its side branch, unless the side branch is there
    /// already (from an earlier try or an earlier run): then that one stands, untouched.
    /// fledge's own branches (`Change::Files`) get no side branch: a refusal there is an error.
    async fn to_side_branch(
        &self,
        branch: &str,
        change: &Change,
        purpose: &str,
        commit: Oid,
        reason: String,
    ) -> Result<Written, Error> {
        if !self.config.side_branch_on_refusal || matches!(change, Change::Files { .. }) {
            return Err(Error::Refused {
                branch: branch.to_owned(),
                side: String::new(),
                reason,
            });
        }
        let side = change.side_branch(purpose);
        let dst = format!("refs/heads/{side}");
        let written = |c: Oid| Written::SideBranch {
            branch: side.clone(),
            commit: CommitId::from(c),
            reason: reason.clone(),
        };
        if let Some(there) = self.remote_head(&side).await? {
            tracing::debug!(branch, side = %side, "push refused; the change is on its side branch already");
            return Ok(written(there));
        }
        match self.push(commit, &dst).await? {
            PushResult::Accepted => {
                tracing::warn!(branch, side = %side, reason = %reason, "push refused; change pushed to a side branch");
                Ok(written(commit))
            }
            // Made meanwhile (another replica): it stands.
            PushResult::NonFastForward => match self.remote_head(&side).await? {
                Some(there) => Ok(written(there)),
                None => Err(Error::Refused {
                    branch: branch.to_owned(),
                    side: side.clone(),
                    reason: format!("{reason}; the side branch moved and vanished"),
                }),
            },
            PushResult::Rejected(other) => Err(Error::Refused {
                branch: branch.to_owned(),
                side: side.clone(),
                reason: format!("{reason}; side branch: {other}"),
            }),
        }
    }

    /// The head of `branch` on the remote (fetched into the cache), if it has one.
    async fn remote_head(&self, branch: &str) -> Result<Option<Oid>, Error> {
        let this = self.clone();
        let (dst, local) = (
            format!("refs/heads/{branch}"),
            format!("refs/fledge/remote/{branch}"),
        );
        self.blocking("fetch", move || this.fetch(&dst, &local))
            .await
    }

    async fn push(&self, commit: Oid, dst: &str) -> Result<PushResult, Error> {
        self.push_with(commit, dst, &[]).await
    }

    async fn push_with(
        &self,
        commit: Oid,
        dst: &str,
        options: &[String],
    ) -> Result<PushResult, Error> {
        let src = commit.to_string();
        push::push(
            &self.git_dir,
            &self.config.url,
            &self.config.auth,
            &push::Push {
                src: &src,
                dst,
                options,
            },
            self.config.timeout,
        )
        .await
    }

    /// Adds (or appends to) the note on `commit` under `refs/notes/fledge`, retrying like
    /// [`Self::write`] when the notes ref moved on the remote.
    pub async fn note(&self, commit: Oid, text: &str, append: bool) -> Result<CommitId, Error> {
        let mut backoff = Backoff::new(self.config.min_backoff, self.config.max_backoff);
        for _ in 0..self.config.max_attempts {
            let this = self.clone();
            let text = text.to_owned();
            let notes_commit = self
                .blocking("note", move || {
                    let fetched = this.fetch(NOTES_REF, NOTES_REF)?;
                    let repo = this.repo()?;
                    match fetched {
                        Some(_) => {}
                        None => {
                            // The remote has no notes yet: start from nothing.
                            if let Ok(mut r) = repo.find_reference(NOTES_REF) {
                                r.delete().map_err(|e| git(&e))?;
                            }
                        }
                    }
                    add_note(&repo, commit, &text, append, &this.signature()?)
                })
                .await?;
            match self.push(notes_commit, NOTES_REF).await? {
                PushResult::Accepted => return Ok(CommitId::from(notes_commit)),
                PushResult::NonFastForward => {
                    tokio::time::sleep(jittered(backoff.next_delay(), 0.5)).await;
                }
                PushResult::Rejected(reason) => {
                    return Err(Error::Push {
                        url: redact(&self.config.url),
                        message: reason,
                    });
                }
            }
        }
        Err(Error::Contended {
            branch: NOTES_REF.to_owned(),
            attempts: self.config.max_attempts,
        })
    }
}

/// The message with fledge's trailer, once.
fn marked(message: &str) -> String {
    if history::is_own(message) {
        message.to_owned()
    } else {
        with_trailers(message, &[COMMIT_TRAILER])
    }
}
