//! The file interface the renderer reads from.
//!
//! Paths handed to [`Files`] are always relative to the build root, `/`-separated and normalised
//! (no `.`, no `..`, no leading `/`): [`join`] is the only way to make one, and it refuses to leave
//! the root. [`DiskFiles`] adds the second guard: a symlink whose target resolves outside the root
//! is refused, so a repository cannot make the renderer read `/etc/passwd`.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::widen::Widening;

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    File,
    Dir,
}

/// A read-only tree of files, rooted at the build root.
pub trait Files: Sync {
    /// What `path` names, or `None` if nothing is there.
    fn entry(&self, path: &str) -> Option<Entry>;
    /// The bytes of the file at `path`.
    fn read(&self, path: &str) -> io::Result<Vec<u8>>;
    /// The names (not paths) of the entries of directory `path`, sorted by name.
    fn list(&self, path: &str) -> io::Result<Vec<String>>;
    /// True when `path` is a symlink (or lies below one) that resolves outside the root: then
    /// [`Files::entry`] says nothing is there, and errors say why.
    fn leaves_root(&self, _path: &str) -> bool {
        false
    }
    /// The symlink on `path` (the path itself or a directory above it) whose chain of targets
    /// never ends, if any: then [`Files::entry`] says nothing is there, and errors say why.
    fn link_loop(&self, _path: &str) -> Option<String> {
        None
    }
    /// True when `path` lies within `dir` once symlinks are resolved, as kustomize's
    /// root-only restriction checks the files a kustomization names.
    fn really_within(&self, path: &str, dir: &str) -> bool {
        is_within(path, dir)
    }
    /// What watches this tree's reads for the widening of `fledge build`'s root, if anything.
    fn widening(&self) -> Option<&Widening> {
        None
    }
}

/// Joins a relative reference onto a directory, both relative to the root.
///
/// Returns `None` when the result would leave the root (too many `..`, or an absolute path).
#[must_use]
pub fn join(dir: &str, reference: &str) -> Option<String> {
    if reference.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in reference.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// The directory part of a root-relative path (`""` for a top-level file).
#[must_use]
pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// True when `path` is `dir` itself or lies below it.
#[must_use]
pub fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// Files on disk below a root directory.
#[derive(Debug)]
pub struct DiskFiles {
    root: PathBuf,
    /// Each path's resolution, once made, for a tree that does not change while it is read
    /// ([`DiskFiles::for_render`]).
    resolved: Option<Mutex<HashMap<String, Resolution>>>,
    widening: Option<Widening>,
}

impl Clone for DiskFiles {
    /// A copy that resolves paths afresh.
    fn clone(&self) -> Self {
        Self {
            root: self.root.clone(),
            resolved: self.resolved.as_ref().map(|_| Mutex::default()),
            widening: None,
        }
    }
}

/// How a path resolved, kept so that the same error is given again.
#[derive(Debug, Clone)]
enum Resolution {
    Real(PathBuf),
    Os(i32),
    Other(io::ErrorKind, String),
}

impl Resolution {
    fn of(r: &io::Result<PathBuf>) -> Self {
        match r {
            Ok(p) => Self::Real(p.clone()),
            Err(e) => match e.raw_os_error() {
                Some(code) => Self::Os(code),
                None => Self::Other(e.kind(), e.to_string()),
            },
        }
    }

    fn result(&self) -> io::Result<PathBuf> {
        match self {
            Self::Real(p) => Ok(p.clone()),
            Self::Os(code) => Err(io::Error::from_raw_os_error(*code)),
            Self::Other(kind, message) => Err(io::Error::new(*kind, message.clone())),
        }
    }
}

impl DiskFiles {
    /// Opens `root`, which must be an existing directory. Each read resolves its path afresh.
    pub fn new(root: &Path) -> io::Result<Self> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(Self {
            root,
            resolved: None,
            widening: None,
        })
    }

    /// [`DiskFiles::new`] for one render of a tree that does not change meanwhile: each path's
    /// real path is resolved once (the root-only checks ask for it several times per file).
    pub fn for_render(root: &Path) -> io::Result<Self> {
        Ok(Self {
            resolved: Some(Mutex::default()),
            ..Self::new(root)?
        })
    }

    /// [`DiskFiles::for_render`] from the filesystem root, watching what the render reads to
    /// tell which root, from `floor` up, the widening of `fledge build` would end at (see
    /// [`Widening`]). Paths are then written from the filesystem root, without a leading `/`.
    pub fn widening_from(floor: &Path) -> io::Result<Self> {
        let floor = floor.canonicalize()?;
        let names: Vec<String> = floor
            .iter()
            .filter_map(|c| c.to_str())
            .filter(|c| *c != "/")
            .map(str::to_owned)
            .collect();
        Ok(Self {
            widening: Some(Widening::new(&names.join("/"))),
            ..Self::for_render(Path::new("/"))?
        })
    }

    /// The canonical root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `path` on disk, refusing symlinks that lead outside the root.
    fn resolve(&self, path: &str) -> io::Result<PathBuf> {
        let Some(cache) = &self.resolved else {
            return self.resolve_afresh(path);
        };
        let known = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .map(Resolution::result);
        if let Some(r) = known {
            return r;
        }
        let r = self.resolve_afresh(path);
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.to_owned(), Resolution::of(&r));
        r
    }

    fn resolve_afresh(&self, path: &str) -> io::Result<PathBuf> {
        let full = if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        };
        let real = full.canonicalize()?;
        if let Some(w) = &self.widening {
            w.resolved(path, &real);
        }
        if real.starts_with(&self.root) {
            Ok(real)
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("`{path}` is a symlink that leads outside the build root"),
            ))
        }
    }
}

impl Files for DiskFiles {
    fn widening(&self) -> Option<&Widening> {
        self.widening.as_ref()
    }

    fn leaves_root(&self, path: &str) -> bool {
        self.resolve(path)
            .is_err_and(|e| e.kind() == io::ErrorKind::PermissionDenied)
    }

    fn link_loop(&self, path: &str) -> Option<String> {
        if self.resolve(path).is_ok() {
            return None;
        }
        let mut prefix = String::new();
        for part in path.split('/') {
            prefix = join(&prefix, part)?;
            if endless(&self.root.join(&prefix)) {
                return Some(prefix);
            }
        }
        None
    }

    fn really_within(&self, path: &str, dir: &str) -> bool {
        is_within(path, dir)
            && match (self.resolve(path), self.resolve(dir)) {
                (Ok(p), Ok(d)) => p.starts_with(d),
                // Not there: the caller says so.
                _ => true,
            }
    }

    fn entry(&self, path: &str) -> Option<Entry> {
        let real = self.resolve(path).ok()?;
        let meta = std::fs::metadata(real).ok()?;
        if meta.is_dir() {
            Some(Entry::Dir)
        } else if meta.is_file() {
            Some(Entry::File)
        } else {
            None
        }
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.resolve(path)?)
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.resolve(path)?)? {
            let entry = entry?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// True when resolving `path` follows more symlinks than the kernel does (40) before it ends: a
/// symlink loop. By hand because the standard library has no stable error kind for `ELOOP`
/// (`io::ErrorKind::FilesystemLoop` is unstable); asked only once a path failed to resolve.
fn endless(path: &Path) -> bool {
    use std::ffi::OsString;
    use std::path::Component;
    const MAX_LINKS: usize = 40;
    /// Pushes the names of `p` so that its first one is popped first (`..` kept as such).
    fn push(stack: &mut Vec<OsString>, p: &Path) {
        for c in p.components().rev() {
            match c {
                Component::Normal(n) => stack.push(n.to_owned()),
                Component::ParentDir => stack.push(OsString::from("..")),
                Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            }
        }
    }
    let mut stack = Vec::new();
    push(&mut stack, path);
    let mut at = PathBuf::from("/");
    let mut followed = 0;
    while let Some(name) = stack.pop() {
        if name == ".." {
            at.pop();
            continue;
        }
        let next = at.join(&name);
        match std::fs::read_link(&next) {
            Ok(target) => {
                followed += 1;
                if followed > MAX_LINKS {
                    return true;
                }
                if target.is_absolute() {
                    at = PathBuf::from("/");
                }
                push(&mut stack, &target);
            }
            // Not a link (or not there): resolution goes on below it, or ends.
            Err(_) => at = next,
        }
    }
    false
}

/// An in-memory tree, for tests and for snapshots read from Git.
#[derive(Debug, Default, Clone)]
pub struct MemFiles {
    files: std::collections::BTreeMap<String, Vec<u8>>,
    /// Symlinks whose target is outside the tree (absolute, or too many `..`).
    outside: std::collections::BTreeSet<String>,
    /// Symlinks inside the tree, by path: their targets, root-relative.
    links: std::collections::BTreeMap<String, String>,
    /// Symlinks whose chain of targets never ends (a loop), which a checkout cannot read.
    loops: std::collections::BTreeSet<String>,
}

impl MemFiles {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many files it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.files.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Adds a file at a root-relative path.
    /// Every file, by path in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(p, c)| (p.as_str(), c.as_slice()))
    }

    pub fn insert(&mut self, path: &str, contents: impl Into<Vec<u8>>) {
        self.files.insert(path.to_owned(), contents.into());
    }

    /// Resolves symlinks (root-relative path → target as written) the way a checkout on disk
    /// reads them: one to a file or directory in the tree holds a copy of it; one that leaves
    /// the tree, or that leads into a loop of links, is kept as such, so that errors say so;
    /// one to nothing is nothing.
    pub fn link(&mut self, links: &[(String, String)]) {
        let mut pending: Vec<(String, String)> = Vec::new();
        for (path, target) in links {
            match join(parent(path), target).filter(|_| !target.starts_with('/')) {
                Some(t) => {
                    self.links.insert(path.clone(), t.clone());
                    pending.push((path.clone(), t));
                }
                None => {
                    self.outside.insert(path.clone());
                }
            }
        }
        // A link to a link resolves once its target has: a few rounds cover any real chain.
        for _ in 0..8 {
            let before = pending.len();
            pending.retain(|(path, target)| !self.copy(path, target));
            if pending.len() == before {
                break;
            }
        }
        let loops: Vec<String> = pending
            .into_iter()
            .map(|(path, _)| path)
            .filter(|path| self.endless(path))
            .collect();
        self.loops.extend(loops);
    }

    /// True when resolving `path` comes back to a link it already followed: a loop, which a
    /// checkout on disk cannot read either.
    fn endless(&self, path: &str) -> bool {
        let mut p = path.to_owned();
        let mut followed = std::collections::BTreeSet::new();
        while let Some((link, next)) = self.follow(&p) {
            if !followed.insert(link) {
                return true;
            }
            p = next;
        }
        false
    }

    /// Where `path` really is, symlinks resolved (a few levels deep, as a chain resolves).
    fn real(&self, path: &str) -> String {
        let mut p = path.to_owned();
        for _ in 0..8 {
            match self.follow(&p) {
                Some((_, next)) => p = next,
                None => break,
            }
        }
        p
    }

    /// The innermost link `path` goes through, and `path` with that link resolved.
    fn follow(&self, path: &str) -> Option<(&str, String)> {
        let (link, target) = self
            .links
            .range(..=path.to_owned())
            .rev()
            .find(|(l, _)| is_within(path, l))?;
        Some((link.as_str(), format!("{target}{}", &path[link.len()..])))
    }

    /// Copies the file or directory at `target` to `path`; false when nothing is there.
    fn copy(&mut self, path: &str, target: &str) -> bool {
        if let Some(bytes) = self.files.get(target) {
            let bytes = bytes.clone();
            self.files.insert(path.to_owned(), bytes);
            return true;
        }
        let prefix = format!("{target}/");
        let below: Vec<(String, Vec<u8>)> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (format!("{path}/{}", &k[prefix.len()..]), v.clone()))
            .collect();
        let found = !below.is_empty();
        self.files.extend(below);
        found
    }
}

impl Files for MemFiles {
    fn leaves_root(&self, path: &str) -> bool {
        self.outside.iter().any(|l| is_within(path, l))
    }

    fn link_loop(&self, path: &str) -> Option<String> {
        self.loops.iter().find(|l| is_within(path, l)).cloned()
    }

    fn really_within(&self, path: &str, dir: &str) -> bool {
        // Most trees have no links: then a path is where it says (asked once per file read).
        is_within(path, dir)
            && (self.links.is_empty() || is_within(&self.real(path), &self.real(dir)))
    }

    fn entry(&self, path: &str) -> Option<Entry> {
        if self.files.contains_key(path) {
            return Some(Entry::File);
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        self.files
            .range(prefix.clone()..)
            .next()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|_| Entry::Dir)
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{path}: not found")))
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let under = |k: &String| {
            k.strip_prefix(&prefix)
                .and_then(|rest| rest.split('/').next())
                .map(str::to_owned)
        };
        let mut names: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&prefix))
            .chain(&self.outside)
            .chain(&self.loops)
            .filter_map(under)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

#[cfg(test)]
mod tests;
