//! A GitRepository's `spec.include`, as source-controller makes its artifact: the files of each
//! GitRepository it names (that repository's artifact: its own ignore rules and includes
//! applied), from `fromPath` (the whole artifact by default), moved to `toPath` (the included
//! repository's name by default) in the including repository's files. As source-controller's
//! copy (a rename) does, an include never merges into a directory that already holds files, and
//! a path it names that is not there fails the include.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::flux::{GitRepository, Id};
use crate::render::Files;
use crate::render::fs::{Entry, MemFiles};
use crate::render::source_ignore::SourceIgnored;
use crate::source::Snapshot;

/// How deep includes of includes may go: more is a loop.
const DEPTH: usize = 8;

/// One entry of `spec.include`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Include {
    repository: Named,
    #[serde(default)]
    from_path: String,
    #[serde(default)]
    to_path: String,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

/// How a GitRepository's files are fetched (the further repositories' [`tree`]).
///
/// [`tree`]: super::Repositories::tree
pub(super) type Fetch<'a> = &'a dyn Fn(&GitRepository) -> Result<Arc<Snapshot>, String>;

/// `files` (a commit of `repo`) with `repo`'s includes, each from the GitRepository of `declared`
/// it names, fetched with `fetch`; `None` when `repo` includes nothing. The error names the
/// entry and says why.
pub(super) fn with_includes(
    files: &dyn Files,
    repo: &GitRepository,
    declared: &BTreeMap<Id, GitRepository>,
    fetch: Fetch<'_>,
) -> Result<Option<MemFiles>, String> {
    included(files, repo, declared, fetch, 0).map_err(|e| format!("GitRepository {}: {e}", repo.id))
}

fn included(
    files: &dyn Files,
    repo: &GitRepository,
    declared: &BTreeMap<Id, GitRepository>,
    fetch: Fetch<'_>,
    depth: usize,
) -> Result<Option<MemFiles>, String> {
    if repo.spec.include.is_empty() {
        return Ok(None);
    }
    if depth >= DEPTH {
        return Err(format!(
            "spec.include goes {DEPTH} repositories deep: the includes make a loop"
        ));
    }
    let mut out = MemFiles::new();
    for (path, bytes) in walk(files, "")? {
        out.insert(&path, bytes);
    }
    for (i, inc) in entries(repo)?.into_iter().enumerate() {
        let field = format!("spec.include[{i}]");
        let id = Id {
            namespace: repo.id.namespace.clone(),
            name: inc.repository.name.clone(),
        };
        let other = declared.get(&id).ok_or_else(|| {
            format!("{field}: GitRepository {id} is declared nowhere in the repository; declare it (fledge fetches the GitRepositories the repository declares)")
        })?;
        let fetched = fetch(other).map_err(|e| format!("{field}: {e}"))?;
        let nested = included(&fetched.files, other, declared, fetch, depth + 1)
            .map_err(|e| format!("{field}: GitRepository {id}: {e}"))?;
        let artifact = nested.as_ref().unwrap_or(&fetched.files);
        let view = SourceIgnored::with(artifact, other.spec.ignore.as_deref())
            .map_err(|e| format!("{field}: GitRepository {id}: {e}"))?;
        let (from, to) = (secure(&inc.from_path), inc.to());
        copy(&view, &from, &mut out, &to).map_err(|e| {
            format!(
                "{field}: copying GitRepository {id}'s `{}` to `{}`: {e}",
                display(&from),
                display(&to)
            )
        })?;
    }
    Ok(Some(out))
}

/// `repo`'s `spec.include` entries; the error names the one that cannot be read.
fn entries(repo: &GitRepository) -> Result<Vec<Include>, String> {
    repo.spec
        .include
        .iter()
        .enumerate()
        .map(|(i, raw)| Include::deserialize(raw).map_err(|e| format!("spec.include[{i}]: {e}")))
        .collect()
}

impl Include {
    /// Where it goes, root-relative.
    fn to(&self) -> String {
        secure(if self.to_path.is_empty() {
            &self.repository.name
        } else {
            &self.to_path
        })
    }
}

/// Where `repo`'s includes go, root-relative (`""`: the root).
pub(super) fn targets(repo: &GitRepository) -> Result<Vec<String>, String> {
    Ok(entries(repo)?.iter().map(Include::to).collect())
}

/// Moves `from` of `view` to `to` of `out`, as source-controller's rename does.
fn copy(view: &dyn Files, from: &str, out: &mut MemFiles, to: &str) -> Result<(), String> {
    let taken = |what: &str| Err(format!("`{}` {what} in this repository", display(to)));
    match view.entry(from) {
        None => Err("it is not in that repository's artifact".to_owned()),
        Some(Entry::File) => {
            if out.entry(to) == Some(Entry::Dir) {
                return taken("is a directory");
            }
            let bytes = view.read(from).map_err(|e| e.to_string())?;
            out.insert(to, bytes);
            Ok(())
        }
        Some(Entry::Dir) => {
            match out.entry(to) {
                Some(Entry::File) => return taken("is a file"),
                Some(Entry::Dir) if !out.list(to).unwrap_or_default().is_empty() => {
                    return taken("already holds files");
                }
                _ => {}
            }
            for (path, bytes) in walk(view, from)? {
                out.insert(&join(to, &path), bytes);
            }
            Ok(())
        }
    }
}

/// Every file below `dir` of `files`: its path relative to `dir`, and its bytes.
fn walk(files: &dyn Files, dir: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut dirs = vec![String::new()];
    while let Some(rel) = dirs.pop() {
        let here = join(dir, &rel);
        for name in files.list(&here).map_err(|e| e.to_string())? {
            let rel = join(&rel, &name);
            match files.entry(&join(dir, &rel)) {
                Some(Entry::Dir) => dirs.push(rel),
                Some(Entry::File) => {
                    let bytes = files.read(&join(dir, &rel)).map_err(|e| e.to_string())?;
                    out.push((rel, bytes));
                }
                None => {}
            }
        }
    }
    Ok(out)
}

/// `path` made relative to the repository's root and kept inside it, as securejoin does: `..`
/// never climbs above the root.
fn secure(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}/{b}"),
    }
}

/// A root-relative path as people write it (`.` for the root).
fn display(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

#[cfg(test)]
mod tests;
