//! The file interface the renderer reads from.
//!
//! Paths handed to [`Files`] are always relative to the build root, `/`-separated and normalised
//! (no `.`, no `..`, no leading `/`): [`join`] is the only way to make one, and it refuses to leave
//! the root. [`DiskFiles`] adds the second guard: a symlink whose target resolves outside the root
//! is refused, so a repository cannot make the renderer read `/etc/passwd`.

use std::io;
use std::path::{Path, PathBuf};

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
#[derive(Debug, Clone)]
pub struct DiskFiles {
    root: PathBuf,
}

impl DiskFiles {
    /// Opens `root`, which must be an existing directory.
    pub fn new(root: &Path) -> io::Result<Self> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(Self { root })
    }

    /// The canonical root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `path` on disk, refusing symlinks that lead outside the root.
    fn resolve(&self, path: &str) -> io::Result<PathBuf> {
        let full = if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        };
        let real = full.canonicalize()?;
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

/// An in-memory tree, for tests and for snapshots read from Git.
#[derive(Debug, Default, Clone)]
pub struct MemFiles {
    files: std::collections::BTreeMap<String, Vec<u8>>,
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
    pub fn insert(&mut self, path: &str, contents: impl Into<Vec<u8>>) {
        self.files.insert(path.to_owned(), contents.into());
    }
}

impl Files for MemFiles {
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
        let mut names: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k[prefix.len()..].split('/').next().map(str::to_owned))
            .collect();
        names.dedup();
        Ok(names)
    }
}

#[cfg(test)]
mod tests;
