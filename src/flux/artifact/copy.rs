//! The copy operations of an artifact, as source-watcher's `internal/builder/builder.go` and
//! `merge.go` apply them to a staging directory: here a [`Tree`] in memory.

use std::collections::{BTreeMap, BTreeSet};

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;
use serde_json::Value;

use super::{CopyOperation, split_from};
use crate::render::fs::Entry;
use crate::render::{Files, MemFiles};

/// The staging directory: files and the directories made for them (a directory can be empty,
/// as on disk, which decides where a later single-file copy lands).
#[derive(Default)]
pub(super) struct Tree {
    pub(super) files: BTreeMap<String, Vec<u8>>,
    dirs: BTreeSet<String>,
}

impl Tree {
    pub(super) fn is_dir(&self, path: &str) -> bool {
        path == "." || self.dirs.contains(path)
    }

    /// `os.MkdirAll`-like: fine when `path` exists; an error when a file is in the way above it.
    fn mkdir(&mut self, path: &str) -> Result<(), String> {
        let path = inside(path)?;
        if path == "." || self.files.contains_key(path) {
            return Ok(());
        }
        for dir in ancestors(path) {
            if self.files.contains_key(dir) {
                return Err(format!("'{dir}' is a file, not a directory"));
            }
        }
        self.dirs.extend(ancestors(path).map(str::to_owned));
        self.dirs.insert(path.to_owned());
        Ok(())
    }

    fn write(&mut self, path: &str, bytes: Vec<u8>) -> Result<(), String> {
        let checked = inside(path)?;
        if self.is_dir(checked) {
            return Err(format!("'{path}' is a directory"));
        }
        self.mkdir(parent(checked))?;
        self.files.insert(checked.to_owned(), bytes);
        Ok(())
    }

    pub(super) fn into_files(self) -> MemFiles {
        let mut out = MemFiles::new();
        for (path, bytes) in self.files {
            out.insert(&path, bytes);
        }
        out
    }
}

/// `path`, refused when it leaves the artifact.
fn inside(path: &str) -> Result<&str, String> {
    if path == ".." || path.starts_with("../") || path.starts_with('/') {
        return Err(format!("path '{path}' escapes the artifact"));
    }
    Ok(path)
}

/// The directories above a path, outermost first.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// Go's `path.Dir`-like parent, `.` at the top.
fn parent(path: &str) -> &str {
    path.rfind('/').map_or(".", |i| &path[..i])
}

/// Go's `path.Base`.
fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Go's `path.Clean` for relative paths: `.` for the root, `..` kept where it leads out.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// Go's `path.Join` of two relative paths.
fn join(a: &str, b: &str) -> String {
    clean(&format!("{a}/{b}"))
}

/// A Go path (`.` for the root) as a [`Files`] path, `None` when it is not one `fs.FS` opens.
fn files_path(path: &str) -> Option<&str> {
    if path == "." {
        return Some("");
    }
    path.split('/')
        .all(|p| !matches!(p, "" | "." | ".."))
        .then_some(path)
}

/// What a Go path names in a source.
fn entry(source: &dyn Files, path: &str) -> Option<Entry> {
    source.entry(files_path(path)?)
}

/// One copy operation, as source-watcher's `applyCopyOperation`.
pub(super) fn apply(
    op: &CopyOperation,
    sources: &BTreeMap<&str, &dyn Files>,
    tree: &mut Tree,
) -> Result<(), String> {
    let (alias, pattern) =
        split_from(&op.from).ok_or_else(|| "source format must be '@alias/pattern'".to_owned())?;
    let dest = op
        .to
        .strip_prefix("@artifact/")
        .ok_or_else(|| "destination must start with '@artifact/'".to_owned())?;
    let source = *sources
        .get(alias)
        .ok_or_else(|| format!("source alias '{alias}' not found"))?;
    let excludes = Excludes::new(&op.exclude)?;
    let copy = Copy {
        op,
        source,
        excludes,
    };
    if !pattern.contains(['*', '?', '[', ']']) {
        return copy.single(pattern, dest, op.to.ends_with('/'), tree);
    }
    let matches = glob(source, pattern)?;
    if matches.is_empty() {
        return Err(format!(
            "no files match pattern '{pattern}' in source '{alias}'"
        ));
    }
    let exclude_base = selection_root(pattern);
    let kept: Vec<String> = matches
        .into_iter()
        .filter(|m| m != "." && m != "..")
        .filter(|m| !copy.excludes.path(m, &exclude_base))
        .collect();
    if kept.is_empty() {
        return Err(format!(
            "all files matching pattern '{pattern}' in source '{alias}' were excluded"
        ));
    }
    for m in kept {
        let to = glob_destination(pattern, &m, dest);
        copy.path(&m, &to, &exclude_base, tree)
            .map_err(|e| format!("failed to copy file '{m}' to '{to}': {e}"))?;
    }
    Ok(())
}

/// `calculateGlobDestination`: `dir/**` drops `dir/` from what it matched; any other pattern
/// keeps the matched path.
fn glob_destination(pattern: &str, matched: &str, dest: &str) -> String {
    if let Some(prefix) = pattern.strip_suffix("/**")
        && let Some(rest) = matched.strip_prefix(&format!("{prefix}/"))
    {
        return join(dest, rest);
    }
    join(dest, matched)
}

/// `sourceSelectionRoot`: the literal directories of `pattern` before its first glob segment.
fn selection_root(pattern: &str) -> String {
    let cleaned = clean(pattern);
    let literal: Vec<&str> = cleaned
        .split('/')
        .take_while(|p| !p.contains(['*', '?', '[', ']']))
        .collect();
    if literal.is_empty() {
        ".".to_owned()
    } else {
        literal.join("/")
    }
}

/// One copy operation's inputs.
struct Copy<'a> {
    op: &'a CopyOperation,
    source: &'a dyn Files,
    excludes: Excludes,
}

impl Copy<'_> {
    /// `applySingleSourceCopy`: a file or directory named without glob characters, `cp -r`-like.
    fn single(
        &self,
        pattern: &str,
        dest: &str,
        dest_is_dir: bool,
        tree: &mut Tree,
    ) -> Result<(), String> {
        let path = clean(pattern);
        let dest = clean(dest);
        match entry(self.source, &path) {
            None => Err(format!("source '{path}' does not exist")),
            Some(Entry::Dir) => {
                let to = join(&dest, base(&path));
                self.path(&path, &to, &path, tree)
            }
            Some(Entry::File) => {
                if self.excludes.path(&path, ".") {
                    return Ok(());
                }
                let to = if dest_is_dir || tree.is_dir(&dest) {
                    join(&dest, base(&path))
                } else {
                    dest
                };
                self.path(&path, &to, ".", tree)
            }
        }
    }

    /// `copyFileWithRoots`: a directory recursively, a file merged or overwritten.
    fn path(
        &self,
        from: &str,
        to: &str,
        exclude_base: &str,
        tree: &mut Tree,
    ) -> Result<(), String> {
        match entry(self.source, from) {
            None => Err(format!("source '{from}' does not exist")),
            Some(Entry::Dir) => self.dir(from, from, to, exclude_base, tree),
            Some(Entry::File) => {
                let bytes = self.read(from)?;
                if self.op.merge() && (tree.is_dir(to) || tree.files.contains_key(to)) {
                    let merged = merge(tree.files.get(to), &bytes, from, to)?;
                    return tree.write(to, merged);
                }
                tree.write(to, bytes)
            }
        }
    }

    /// `copyDirWithRoots`: the walk of `root`, in name order, skipping what is excluded (a
    /// directory with all below it); files are overwritten, never merged, as upstream.
    fn dir(
        &self,
        root: &str,
        from: &str,
        to: &str,
        exclude_base: &str,
        tree: &mut Tree,
    ) -> Result<(), String> {
        tree.mkdir(to)?;
        let names = self
            .source
            .list(files_path(from).unwrap_or(""))
            .map_err(|e| format!("reading '{from}': {e}"))?;
        for name in names {
            let path = join(from, &name);
            if self.excludes.path(&path, exclude_base) {
                continue;
            }
            let rel = path.strip_prefix(&format!("{root}/")).unwrap_or(&path);
            let rel = if root == "." { path.as_str() } else { rel };
            let dest = join(to, rel);
            match entry(self.source, &path) {
                Some(Entry::Dir) => self.dir(root, &path, to, exclude_base, tree)?,
                Some(Entry::File) => tree.write(&dest, self.read(&path)?)?,
                None => {
                    return Err(format!(
                        "'{path}' is a symlink that leaves the repository or loops, which a copy cannot follow"
                    ));
                }
            }
        }
        Ok(())
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        self.source
            .read(files_path(path).unwrap_or(""))
            .map_err(|e| format!("reading '{path}': {e}"))
    }
}

/// `mergeFileWithRoots`: every YAML document of the existing file and of the new one merged as
/// Helm merges values files (maps deeply, the new value winning; anything else replaced).
/// The result is the same data as source-watcher writes, not byte for byte its text.
fn merge(existing: Option<&Vec<u8>>, new: &[u8], from: &str, to: &str) -> Result<Vec<u8>, String> {
    let existing =
        existing.ok_or_else(|| format!("'{to}' is a directory, which cannot be merged"))?;
    let base = load_yaml(existing).map_err(|e| format!("'{to}': {e}"))?;
    let overlay = load_yaml(new).map_err(|e| format!("'{from}': {e}"))?;
    let merged = merge_map(base, overlay);
    serde_yaml::to_string(&Value::Object(merged))
        .map(String::into_bytes)
        .map_err(|e| format!("failed to merge YAML: {e}"))
}

/// `loadYAML`: the documents of a file merged into one map.
fn load_yaml(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, String> {
    let mut out = serde_json::Map::new();
    for doc in serde_yaml::Deserializer::from_slice(bytes) {
        let value =
            Value::deserialize(doc).map_err(|e| format!("cannot unmarshal YAML document: {e}"))?;
        match value {
            Value::Null => {}
            Value::Object(map) => out = merge_map(out, map),
            _ => return Err("cannot unmarshal YAML document: it is not a map".to_owned()),
        }
    }
    Ok(out)
}

/// `mergeMap`.
fn merge_map(
    mut base: serde_json::Map<String, Value>,
    overlay: serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    for (k, v) in overlay {
        let v = match (base.remove(&k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => Value::Object(merge_map(b, o)),
            (_, v) => v,
        };
        base.insert(k, v);
    }
    base
}

/// Go's `fs.Glob`: a pattern expanded one directory level per `/`-separated segment, each
/// segment matched against the names in a directory as Go's `path.Match` does.
fn glob(source: &dyn Files, pattern: &str) -> Result<Vec<String>, String> {
    for segment in pattern.split('/') {
        segment_matcher(segment)?;
    }
    if !pattern.contains(['*', '?', '[', '\\']) {
        return Ok(entry(source, pattern)
            .map(|_| vec![pattern.to_owned()])
            .unwrap_or_default());
    }
    let (dir, file) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let dir = if dir.is_empty() { "." } else { dir };
    if !dir.contains(['*', '?', '[', '\\']) {
        return glob_dir(source, dir, file);
    }
    let mut out = Vec::new();
    for d in glob(source, dir)? {
        out.extend(glob_dir(source, &d, file)?);
    }
    Ok(out)
}

/// The names in `dir` that `pattern` matches, joined onto `dir`; nothing when `dir` is not a
/// directory.
fn glob_dir(source: &dyn Files, dir: &str, pattern: &str) -> Result<Vec<String>, String> {
    let matcher = segment_matcher(pattern)?;
    if entry(source, dir) != Some(Entry::Dir) {
        return Ok(Vec::new());
    }
    let names = source
        .list(files_path(dir).unwrap_or(""))
        .unwrap_or_default();
    Ok(names
        .into_iter()
        .filter(|n| matcher.is_match(n))
        .map(|n| if dir == "." { n } else { format!("{dir}/{n}") })
        .collect())
}

/// Go's `path.Match` for one segment, through `globset`: Go has no `{a,b}`, so braces are
/// escaped; `[!…]` is refused because Go reads `!` there literally where `globset` negates
/// (Go negates with `[^…]`, which `globset` reads alike).
fn segment_matcher(segment: &str) -> Result<GlobMatcher, String> {
    if segment.contains("[!") {
        return Err(format!(
            "invalid glob pattern '{segment}': write a negated class as `[^…]` (`[!` is read differently by Go's glob)"
        ));
    }
    let translated = segment.replace('{', "\\{").replace('}', "\\}");
    GlobBuilder::new(&translated)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("invalid glob pattern '{segment}': {e}"))
}

/// `exclude` patterns, matched as doublestar matches them (`**` any number of directories,
/// `*` within one, `{a,b}` alternatives), through `globset`. doublestar's `dir/**` also matches
/// `dir` itself, which `globset`'s does not: that prefix is matched too.
pub(super) struct Excludes(Vec<(bool, Vec<GlobMatcher>)>);

impl Excludes {
    pub(super) fn new(patterns: &[String]) -> Result<Self, String> {
        let compile = |p: &str| {
            GlobBuilder::new(p)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|_| format!("invalid exclude pattern '{p}'"))
        };
        let mut out = Vec::new();
        for p in patterns {
            let mut matchers = vec![compile(p)?];
            if let Some(dir) = p.strip_suffix("/**") {
                matchers.push(compile(dir)?);
            }
            out.push((!p.contains('/'), matchers));
        }
        Ok(Self(out))
    }

    /// `shouldExclude`.
    fn matches(&self, path: &str) -> bool {
        let name = base(path);
        self.0.iter().any(|(by_name, matchers)| {
            matchers
                .iter()
                .any(|m| m.is_match(path) || (*by_name && m.is_match(name)))
        })
    }

    /// `shouldExcludePath`: the path from the source root, then from `base`.
    fn path(&self, path: &str, base: &str) -> bool {
        if self.matches(path) {
            return true;
        }
        let rel = if base == "." {
            Some(path)
        } else {
            path.strip_prefix(base).and_then(|r| r.strip_prefix('/'))
        };
        rel.is_some_and(|r| r != path && self.matches(r))
    }
}
