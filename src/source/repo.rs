//! The config repository: fetched into a bare cache that survives restarts, the tracked
//! reference resolved on the remote, and a commit's tree read straight from the object store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use git2::{
    Delta, DiffOptions, FileMode, ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult,
};
use sha2::{Digest, Sha256};

use super::auth::{Auth, RedactedUrl, redact};
use super::compact::compact;
use super::transport::{NetError, Remote};
use super::verify::Verification;
use super::{CommitId, Error};
use crate::render::MemFiles;

/// What to track on the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Branch(String),
    Tag(String),
    /// The newest tag (`v1.2.3` or `1.2.3`) matching a semver range.
    Semver(semver::VersionReq),
    /// A pinned commit.
    Commit(Oid),
    /// A full reference name (`refs/pull/1/head`), as Flux's `ref.name`.
    Name(String),
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Branch(b) => write!(f, "branch {b}"),
            Self::Tag(t) => write!(f, "tag {t}"),
            Self::Semver(r) => write!(f, "semver {r}"),
            Self::Commit(c) => write!(f, "commit {c}"),
            Self::Name(n) => write!(f, "{n}"),
        }
    }
}

/// A full commit id (40 hexadecimal digits): libgit2 would read a short one as one padded with
/// zeros, a commit that does not exist.
#[must_use]
pub fn full_commit(id: &str) -> Option<Oid> {
    let full = id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit());
    full.then(|| Oid::from_str(id).ok()).flatten()
}

/// Where and how to fetch.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// `file://`, a local path, `https://…` or ssh (`ssh://…`, `user@host:path`).
    pub url: String,
    pub reference: Reference,
    /// Directory holding the bare cache repositories (one per URL).
    pub cache_dir: PathBuf,
    pub auth: Auth,
    /// Limit for one network operation.
    pub timeout: Duration,
    /// Signature verification of each new commit (and of the tag naming it, as the mode
    /// says); `None` accepts unsigned commits.
    pub verify: Option<Verification>,
}

/// A commit's files, read from the object store.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub commit: CommitId,
    pub files: MemFiles,
}

/// What a poll found.
#[derive(Debug)]
pub enum Fetched {
    /// The reference still points at this commit; nothing was transferred.
    Unchanged(CommitId),
    New(Snapshot),
}

/// The tracked reference moved to a commit that does not descend from the one fetched for it
/// before: its history was rewritten (a force push, a reset, a tag moved elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rewrite {
    /// The commit fetched before (full hex id).
    pub from: String,
    /// The new commit (full hex id).
    pub to: String,
}

/// A fetched repository.
///
/// The cache repository is opened for each poll and closed at its end: libgit2 keeps every pack
/// it has read open for as long as the `Repository` lives, and each fetch adds a pack, so a
/// cache held open across polls took one more file descriptor per new commit until the
/// process ran out of them.
pub struct Source {
    config: SourceConfig,
    path: PathBuf,
    last: Option<Oid>,
    rewritten: Option<Rewrite>,
    verified: Option<String>,
    /// The files of the last commit read, the base of the next read.
    previous: Option<TreeFiles>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("url", &RedactedUrl::new(&self.config.url))
            .field("reference", &self.config.reference)
            .field("last", &self.last)
            .field("rewritten", &self.rewritten)
            .finish_non_exhaustive()
    }
}

/// Stops libgit2 from hashing every object it reads again to check its id (for the whole
/// process: it is a global setting). Every object in a cache came through a fetch, whose indexer
/// computed each id from the content; git does not check them again on reading either. The
/// check doubled the time to read a tree (SHA-1 with collision detection over every blob).
fn trust_stored_objects() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| git2::opts::strict_hash_verification(false));
}

/// A libgit2 error with any URL credentials removed from its message.
pub(crate) fn git_error(e: &git2::Error) -> String {
    redact(e.message())
}

impl Source {
    /// Opens (or creates) the cache repository for `config.url` below `config.cache_dir`.
    pub fn open(config: SourceConfig) -> Result<Self, Error> {
        trust_stored_objects();
        let digest = Sha256::digest(config.url.as_bytes());
        let path = config
            .cache_dir
            .join(format!("{}.git", hex::encode(&digest[..8])));
        // Opened here once, so that a cache that cannot be opened fails at once.
        if path.exists() {
            Repository::open_bare(&path)
        } else {
            std::fs::create_dir_all(&config.cache_dir).map_err(|e| Error::Cache {
                path: config.cache_dir.clone(),
                message: e.to_string(),
            })?;
            Repository::init_bare(&path)
        }
        .map_err(|e| Error::Cache {
            path: path.clone(),
            message: git_error(&e),
        })?;
        Ok(Self {
            config,
            path,
            last: None,
            rewritten: None,
            verified: None,
            previous: None,
        })
    }

    /// Where and how it is fetched.
    #[must_use]
    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    /// The cache repository's path.
    #[must_use]
    pub fn cache_path(&self) -> &Path {
        &self.path
    }

    /// The rewrite of history that the last poll finding a new commit saw, if it saw one: it
    /// stays until the next poll that finds a new commit.
    #[must_use]
    pub fn rewritten(&self) -> Option<&Rewrite> {
        self.rewritten.as_ref()
    }

    /// What the last poll finding a new commit verified, with which keys (`None` without
    /// [`SourceConfig::verify`]).
    #[must_use]
    pub fn verified(&self) -> Option<&str> {
        self.verified.as_deref()
    }

    /// Opens the cache repository; closing it (dropping it) closes every file it opened.
    fn repo(&self) -> Result<Repository, Error> {
        Repository::open_bare(&self.path).map_err(|e| Error::Cache {
            path: self.path.clone(),
            message: git_error(&e),
        })
    }

    fn url(&self) -> RedactedUrl {
        RedactedUrl::new(&self.config.url)
    }

    fn remote<'a>(&'a self, repo: &'a Repository) -> Remote<'a> {
        Remote {
            repo,
            url: &self.config.url,
            auth: &self.config.auth,
            timeout: self.config.timeout,
        }
    }

    fn network_error(&self, e: NetError) -> Error {
        match e {
            NetError::HostKey(reason) => Error::HostKey {
                url: self.url(),
                reason,
            },
            NetError::Timeout(timeout) => Error::Timeout {
                url: self.url(),
                timeout,
            },
            NetError::Other(message) => Error::Network {
                url: self.url(),
                message,
            },
        }
    }

    /// The ref name and commit the tracked reference points at on the remote.
    fn resolve(&self, refs: &[(String, Oid)]) -> Result<(String, Oid), Error> {
        let find = |name: &str| refs.iter().find(|(n, _)| n == name).map(|(_, o)| *o);
        let missing = || Error::MissingRef {
            url: self.url(),
            reference: self.config.reference.to_string(),
        };
        match &self.config.reference {
            Reference::Branch(b) => {
                let name = format!("refs/heads/{b}");
                find(&name).map(|o| (name, o)).ok_or_else(missing)
            }
            Reference::Tag(t) => {
                let name = format!("refs/tags/{t}");
                let peeled = find(&format!("{name}^{{}}")).or_else(|| find(&name));
                peeled.map(|o| (name, o)).ok_or_else(missing)
            }
            Reference::Semver(req) => {
                let best = refs
                    .iter()
                    .filter_map(|(n, _)| {
                        let tag = n.strip_prefix("refs/tags/")?;
                        if tag.ends_with("^{}") {
                            return None;
                        }
                        let v =
                            semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()?;
                        req.matches(&v).then_some((v, n.clone()))
                    })
                    .max_by(|a, b| a.0.cmp(&b.0))
                    .ok_or_else(missing)?;
                let name = best.1;
                let oid = find(&format!("{name}^{{}}"))
                    .or_else(|| find(&name))
                    .ok_or_else(missing)?;
                Ok((name, oid))
            }
            Reference::Commit(oid) => Ok(("HEAD".to_owned(), *oid)),
            Reference::Name(n) => {
                let peeled = find(&format!("{n}^{{}}")).or_else(|| find(n));
                peeled.map(|o| (n.clone(), o)).ok_or_else(missing)
            }
        }
    }

    /// Checks the remote; when the reference moved, fetches it, verifies the commit and reads
    /// its tree. When it has not moved, only the remote's ref list is read. A new commit that
    /// does not descend from the one fetched for the same reference before (kept in the cache,
    /// so also across restarts) is a rewrite of history: see [`Self::rewritten`].
    pub fn poll(&mut self) -> Result<Fetched, Error> {
        let repo = self.repo()?;
        let refs = self
            .remote(&repo)
            .list()
            .map_err(|e| self.network_error(e))?;
        let (name, target) = self.resolve(&refs)?;
        if self.last == Some(target) {
            return Ok(Fetched::Unchanged(CommitId::from(target)));
        }
        // Where the remote's ref is kept in the cache; a pinned commit has none (it cannot move).
        let local =
            (name != "HEAD").then(|| format!("refs/fledge/{}", name.trim_start_matches("refs/")));
        let before = local.as_deref().and_then(|l| {
            repo.find_reference(l)
                .and_then(|r| r.peel_to_commit())
                .ok()
                .map(|c| c.id())
        });
        // The tag object a tag or a semver range names (the commit, for a lightweight tag).
        let tag = name
            .strip_prefix("refs/tags/")
            .and_then(|t| Some((t, refs.iter().find(|(n, _)| *n == name)?.1)));
        let fetched = repo.find_commit(target).is_err()
            || tag.is_some_and(|(_, t)| repo.find_object(t, None).is_err());
        if fetched {
            let spec = match &local {
                Some(local) => format!("+{name}:{local}"),
                None => "+refs/heads/*:refs/fledge/heads/*".to_owned(),
            };
            let remote = self.remote(&repo);
            if remote.is_local() && before.is_none() {
                remote.fetch_with_git(&[&spec])
            } else {
                remote.fetch(&[&spec])
            }
            .map_err(|e| self.network_error(e))?;
        }
        let commit = self.peel_commit(&repo, target)?;
        let verified = match &self.config.verify {
            Some(v) => Some(v.keys.check(&repo, v.mode, commit, tag)?),
            None => None,
        };
        let snapshot = self.read(&repo, commit)?;
        let rewritten = before.and_then(|b| self.rewrite(&repo, b, commit));
        if let Some(local) = &local {
            // The commit taken, for the next poll and the next run: one already in the cache
            // was not fetched, so the fetch did not move the ref.
            // A tag's ref keeps naming the tag object, whose signature a check may read.
            let id = tag.map_or(commit, |(_, t)| t);
            repo.reference(local, id, true, "fledge: polled")
                .map_err(|e| Error::Cache {
                    path: self.path.clone(),
                    message: git_error(&e),
                })?;
        }
        drop(repo);
        if fetched {
            compact(&self.path);
        }
        self.last = Some(target);
        self.rewritten = rewritten;
        self.verified = verified;
        Ok(Fetched::New(snapshot))
    }

    /// Reads `commit`'s files: from the files of the last commit read, changed where the two
    /// trees differ, when that commit's tree is at hand (only the blobs that changed are read,
    /// and libgit2's diff skips the subtrees whose ids are equal); in full otherwise.
    fn read(&mut self, repo: &Repository, commit: Oid) -> Result<Snapshot, Error> {
        let read_err = read_error(commit);
        let tree = commit_tree(repo, commit)?;
        let files = match self.previous.take() {
            Some(mut previous) => match previous.update(repo, &tree) {
                Ok(()) => previous,
                Err(e) => {
                    tracing::debug!(error = %git_error(&e), "reading the whole tree");
                    TreeFiles::read(repo, &tree).map_err(|e| read_err(&e))?
                }
            },
            None => TreeFiles::read(repo, &tree).map_err(|e| read_err(&e))?,
        };
        let snapshot = Snapshot {
            commit: CommitId::from(commit),
            files: files.to_mem_files(),
        };
        self.previous = Some(files);
        Ok(snapshot)
    }

    /// `Some` when `to` does not descend from `from`.
    fn rewrite(&self, repo: &Repository, from: Oid, to: Oid) -> Option<Rewrite> {
        if from == to {
            return None;
        }
        match repo.graph_descendant_of(to, from) {
            Ok(true) => None,
            Ok(false) => Some(Rewrite {
                from: from.to_string(),
                to: to.to_string(),
            }),
            Err(e) => {
                tracing::warn!(
                    url = %self.url(),
                    from = %from,
                    to = %to,
                    error = %git_error(&e),
                    "cannot tell whether the history was rewritten"
                );
                None
            }
        }
    }

    fn peel_commit(&self, repo: &Repository, oid: Oid) -> Result<Oid, Error> {
        let obj = repo.find_object(oid, None).map_err(|_| Error::MissingRef {
            url: self.url(),
            reference: self.config.reference.to_string(),
        })?;
        obj.peel(ObjectType::Commit)
            .map(|c| c.id())
            .map_err(|e| Error::Read {
                commit: CommitId::from(oid),
                message: git_error(&e),
            })
    }

    /// Reads every file of `commit`'s tree from the object store (no work tree). Symlinks and
    /// submodules are left out: a repository cannot point the renderer elsewhere.
    pub fn snapshot(&self, commit: Oid) -> Result<Snapshot, Error> {
        read_tree(&self.repo()?, commit)
    }
}

/// Reads a commit's files from the poll cache of `config` (as [`Source::poll`] fetched them):
/// an earlier commit of the tracked reference, for what Git had then.
pub fn read_commit(config: &SourceConfig, commit: &str) -> Result<Snapshot, Error> {
    let oid = Oid::from_str(commit).map_err(|e| Error::Cache {
        path: config.cache_dir.clone(),
        message: format!("`{commit}` is not a commit id: {}", e.message()),
    })?;
    let repo = Source::open(config.clone())?.repo()?;
    read_tree(&repo, oid)
}

/// Checks `commit` of the poll cache of `config` against `verification` (a `GitRepository`'s
/// `spec.verify`, its keys read from the Secret it names): the tag is the one the tracked
/// reference names in the cache, as [`Source::poll`] fetched it. Returns what was verified
/// with which key; the error is [`Error::Unverified`] for a refusal.
pub fn verify_spec(
    config: &SourceConfig,
    commit: &str,
    verification: &Verification,
) -> Result<String, Error> {
    let source = Source::open(config.clone())?;
    let repo = source.repo()?;
    let oid = Oid::from_str(commit).map_err(|e| Error::Cache {
        path: config.cache_dir.clone(),
        message: format!("`{commit}` is not a commit id: {}", e.message()),
    })?;
    let tag = match config.reference {
        Reference::Tag(_) | Reference::Semver(_) => Some(cached_tag(&source, &repo, oid)?),
        Reference::Name(ref n) if n.starts_with("refs/tags/") => {
            Some(cached_tag(&source, &repo, oid)?)
        }
        Reference::Branch(_) | Reference::Commit(_) | Reference::Name(_) => None,
    };
    let tag = tag.as_ref().map(|(n, id)| (n.as_str(), *id));
    verification.keys.check(&repo, verification.mode, oid, tag)
}

/// The tag the tracked reference names among the tags of the cache, which must point at
/// `commit`: its name and object id.
fn cached_tag(source: &Source, repo: &Repository, commit: Oid) -> Result<(String, Oid), Error> {
    let mut refs = Vec::new();
    let cache = |e: &git2::Error| Error::Cache {
        path: source.path.clone(),
        message: git_error(e),
    };
    for r in repo
        .references_glob("refs/fledge/tags/*")
        .map_err(|e| cache(&e))?
    {
        let r = r.map_err(|e| cache(&e))?;
        let (Ok(local), Some(id)) = (r.name(), r.target()) else {
            continue;
        };
        let name = local.replacen("refs/fledge/", "refs/", 1);
        if let Ok(c) = r.peel_to_commit() {
            refs.push((format!("{name}^{{}}"), c.id()));
        }
        refs.push((name, id));
    }
    let (name, peeled) = source.resolve(&refs)?;
    let id = refs
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(peeled, |(_, id)| *id);
    if peeled != commit {
        return Err(Error::Read {
            commit: CommitId::from(commit),
            message: format!("the tracked {name} points at {peeled}, not at this commit"),
        });
    }
    Ok((name.trim_start_matches("refs/tags/").to_owned(), id))
}

/// The messages of the commits of the poll cache from `to` back to `since` (excluded; every
/// ancestor of `to` when `since` is `None` or unrelated), newest first, at most `limit`.
pub fn commit_messages(
    config: &SourceConfig,
    to: &str,
    since: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, Error> {
    let cache = |message: String| Error::Cache {
        path: config.cache_dir.clone(),
        message,
    };
    let repo = Source::open(config.clone())?.repo()?;
    let repo = &repo;
    let oid = |c: &str| Oid::from_str(c).map_err(|e| cache(git_error(&e)));
    let mut walk = repo.revwalk().map_err(|e| cache(git_error(&e)))?;
    walk.push(oid(to)?).map_err(|e| cache(git_error(&e)))?;
    if let Some(s) = since {
        // Unrelated (history rewritten): nothing to hide.
        let _ = walk.hide(oid(s)?);
    }
    Ok(walk
        .take(limit)
        .flatten()
        .filter_map(|c| repo.find_commit(c).ok())
        .map(|c| String::from_utf8_lossy(c.message_bytes()).into_owned())
        .collect())
}

/// The error of reading `commit`'s files.
fn read_error(commit: Oid) -> impl Fn(&git2::Error) -> Error {
    move |e| Error::Read {
        commit: CommitId::from(commit),
        message: git_error(e),
    }
}

/// `commit`'s tree.
fn commit_tree(repo: &Repository, commit: Oid) -> Result<git2::Tree<'_>, Error> {
    repo.find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|e| read_error(commit)(&e))
}

/// Reads a commit's files into memory.
pub fn read_tree(repo: &Repository, commit: Oid) -> Result<Snapshot, Error> {
    let tree = commit_tree(repo, commit)?;
    let files = TreeFiles::read(repo, &tree).map_err(|e| read_error(commit)(&e))?;
    Ok(Snapshot {
        commit: CommitId::from(commit),
        files: files.into_mem_files(),
    })
}

/// The files of one tree as Git has them (symlinks unresolved), kept by a [`Source`] between
/// polls so that the next commit's tree is read as a difference from it. Symlinks and
/// submodules are never followed: a repository cannot point the renderer elsewhere.
struct TreeFiles {
    tree: Oid,
    files: BTreeMap<String, Vec<u8>>,
    /// Symlinks: path → target as written.
    links: BTreeMap<String, String>,
}

/// Git's file mode of a symlink, whose blob is its target.
const LINK_MODE: i32 = 0o120_000;

impl TreeFiles {
    /// Reads every blob of `tree`.
    fn read(repo: &Repository, tree: &git2::Tree<'_>) -> Result<Self, git2::Error> {
        let mut this = Self {
            tree: tree.id(),
            files: BTreeMap::new(),
            links: BTreeMap::new(),
        };
        let mut failure = None;
        tree.walk(TreeWalkMode::PreOrder, |root, entry| {
            if entry.kind() != Some(ObjectType::Blob) {
                return TreeWalkResult::Ok;
            }
            let Ok(name) = entry.name() else {
                return TreeWalkResult::Skip;
            };
            match this.add(repo, format!("{root}{name}"), entry.id(), entry.filemode()) {
                Ok(()) => TreeWalkResult::Ok,
                Err(e) => {
                    failure = Some(e);
                    TreeWalkResult::Abort
                }
            }
        })
        .map_err(|e| failure.take().unwrap_or(e))?;
        match failure {
            Some(e) => Err(e),
            None => Ok(this),
        }
    }

    fn add(
        &mut self,
        repo: &Repository,
        path: String,
        blob: Oid,
        mode: i32,
    ) -> Result<(), git2::Error> {
        let blob = repo.find_blob(blob)?;
        if mode == LINK_MODE {
            let target = String::from_utf8_lossy(blob.content()).into_owned();
            self.links.insert(path, target);
        } else {
            self.files.insert(path, blob.content().to_vec());
        }
        Ok(())
    }

    /// Turns these files into `tree`'s: every path the diff of the two trees names is dropped,
    /// then the blobs of the new side are read. Untouched on an error.
    fn update(&mut self, repo: &Repository, tree: &git2::Tree<'_>) -> Result<(), git2::Error> {
        let old = repo.find_tree(self.tree)?;
        let mut opts = DiffOptions::new();
        opts.skip_binary_check(true);
        let diff = repo.diff_tree_to_tree(Some(&old), Some(tree), Some(&mut opts))?;
        let mut added = Vec::new();
        for delta in diff.deltas() {
            let side = delta.new_file();
            let blob = matches!(
                side.mode(),
                FileMode::Blob
                    | FileMode::BlobExecutable
                    | FileMode::BlobGroupWritable
                    | FileMode::Link
            );
            // A name that is not UTF-8 is left out, as a whole read leaves it out.
            if let Some(path) = side.path().and_then(Path::to_str)
                && delta.status() != Delta::Deleted
                && blob
            {
                let blob = repo.find_blob(side.id())?;
                added.push((path.to_owned(), i32::from(side.mode()), blob));
            }
        }
        for delta in diff.deltas() {
            if let Some(path) = delta.old_file().path().and_then(Path::to_str) {
                self.files.remove(path);
                self.links.remove(path);
            }
        }
        for (path, mode, blob) in added {
            if mode == LINK_MODE {
                let target = String::from_utf8_lossy(blob.content()).into_owned();
                self.links.insert(path, target);
            } else {
                self.files.insert(path, blob.content().to_vec());
            }
        }
        self.tree = tree.id();
        Ok(())
    }

    /// A copy as the renderer reads it, symlinks resolved.
    fn to_mem_files(&self) -> MemFiles {
        let mut files = MemFiles::new();
        for (path, content) in &self.files {
            files.insert(path, content.clone());
        }
        files.link(&self.link_list());
        files
    }

    fn into_mem_files(self) -> MemFiles {
        let links = self.link_list();
        let mut files = MemFiles::new();
        for (path, content) in self.files {
            files.insert(&path, content);
        }
        files.link(&links);
        files
    }

    fn link_list(&self) -> Vec<(String, String)> {
        self.links
            .iter()
            .map(|(p, t)| (p.clone(), t.clone()))
            .collect()
    }
}
