//! Flux's `ArtifactGenerator` (`source.extensions.fluxcd.io/v1beta1`, source-watcher): named
//! `ExternalArtifact`s cut out of sources by ordered `copy` operations. fledge runs on one
//! repository, so it builds an artifact whose sources are that repository's GitRepository: the
//! artifact's file tree is made from the repository's files the way source-watcher's builder
//! stages it, and a Kustomization whose `sourceRef` is `ExternalArtifact <name>` is built from
//! that tree. Pure: no I/O.
//!
//! Honoured: `spec.sources` (GitRepository only), `spec.artifacts[].copy` (`from`, `to`,
//! `exclude`, `strategy: Overwrite | Merge`). Read and validated but without effect on the files:
//! `spec.commonMetadata`, `artifacts[].revision`, `artifacts[].originRevision` (they label the
//! ExternalArtifact object and its revision). Refused by name: `spec.pathPattern`, sources of
//! any other kind, `strategy: Extract`, and any source that is not the repository fledge runs on.
//!
//! Semantics follow source-watcher's `internal/builder`: a `from` without glob characters is a
//! single file or directory copied as `cp -r` does; a glob `from` is expanded one directory
//! level per segment as Go's `fs.Glob` does (so `**` there is a plain `*`, and `dir/**` copies
//! what is inside `dir`); `exclude` patterns are doublestar globs matched against the path from
//! the source root and from the literal prefix of `from`, and against the file name alone when
//! they have no `/`.

use std::collections::{BTreeMap, BTreeSet};

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;
use serde_json::Value;

use super::{FluxError, Id};
use crate::render::fs::Entry;
use crate::render::{Files, MemFiles};

/// The group of source-watcher's API.
pub const GROUP: &str = "source.extensions.fluxcd.io";

/// A Flux ArtifactGenerator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactGenerator {
    pub id: Id,
    /// `spec.commonMetadata`: labels and annotations of the ExternalArtifacts (no effect on
    /// their files).
    pub common_metadata: Option<CommonMetadata>,
    pub sources: Vec<SourceReference>,
    pub artifacts: Vec<Artifact>,
}

/// `spec.commonMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CommonMetadata {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `spec.sources[]`: a source object and its alias in `copy[].from`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceReference {
    pub alias: String,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `spec.artifacts[]`: one ExternalArtifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub name: String,
    pub revision: Option<String>,
    pub origin_revision: Option<String>,
    pub copy: Vec<CopyOperation>,
    /// The generator, for errors.
    generator: Id,
    /// Its index in `spec.artifacts`, for errors.
    index: usize,
    /// Each alias's GitRepository.
    sources: BTreeMap<String, Id>,
}

/// `spec.artifacts[].copy[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyOperation {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub strategy: Option<String>,
}

impl CopyOperation {
    fn merge(&self) -> bool {
        self.strategy.as_deref() == Some("Merge")
    }
}

/// `spec`, as source-watcher's API types name it. Unknown fields are refused by serde (the
/// schema check of [`super::check_fields`] reads only the `v1` CRDs kept beside `flux`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSpec {
    #[serde(default)]
    common_metadata: Option<CommonMetadata>,
    sources: Vec<SourceReference>,
    #[serde(default)]
    path_pattern: Option<String>,
    artifacts: Vec<RawArtifact>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawArtifact {
    name: String,
    #[serde(default)]
    revision: Option<String>,
    #[serde(default)]
    origin_revision: Option<String>,
    copy: Vec<CopyOperation>,
}

impl ArtifactGenerator {
    /// Reads a `source.extensions.fluxcd.io/v1beta1` ArtifactGenerator, checked as
    /// source-watcher's schema and validation check it; the error names the object and field.
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        let id = Id::of(object, "ArtifactGenerator")?;
        let version = object["apiVersion"].as_str().unwrap_or("");
        if version != format!("{GROUP}/v1beta1") {
            return Err(id.error(
                "apiVersion",
                format!("`{version}` is not read: fledge reads source-watcher's `{GROUP}/v1beta1`"),
            ));
        }
        let spec: RawSpec = serde_path_to_error::deserialize(&object["spec"])
            .map_err(|e| id.error(&format!("spec.{}", e.path()), e.inner().to_string()))?;
        if spec.path_pattern.as_deref().is_some_and(|p| !p.is_empty()) {
            return Err(id.error(
                "spec.pathPattern",
                "is not supported by fledge: list each artifact in `spec.artifacts` instead",
            ));
        }
        if spec.sources.is_empty() {
            return Err(id.error("spec.sources", "must name at least one source"));
        }
        if spec.artifacts.is_empty() {
            return Err(id.error("spec.artifacts", "must name at least one artifact"));
        }
        let sources = resolve_sources(&id, &spec.sources)?;
        let mut names = BTreeSet::new();
        let artifacts = spec
            .artifacts
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                if !names.insert(raw.name.clone()) {
                    return Err(id.error(
                        &format!("spec.artifacts[{i}].name"),
                        format!("duplicate artifact name '{}' found", raw.name),
                    ));
                }
                Artifact::new(&id, i, raw, &sources)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            id,
            common_metadata: spec.common_metadata,
            sources: spec.sources,
            artifacts,
        })
    }

    /// The artifact named `name` (an `ExternalArtifact` of the generator's namespace).
    #[must_use]
    pub fn artifact(&self, name: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.name == name)
    }
}

/// Each alias's GitRepository; refuses duplicate aliases and kinds fledge cannot read.
fn resolve_sources(
    id: &Id,
    sources: &[SourceReference],
) -> Result<BTreeMap<String, Id>, FluxError> {
    let mut out = BTreeMap::new();
    for (i, s) in sources.iter().enumerate() {
        let at = |field: &str| format!("spec.sources[{i}].{field}");
        if !valid_alias(&s.alias) {
            return Err(id.error(&at("alias"), format!("`{}` is not a valid alias (lower case letters, digits, `-` and `_`, starting and ending with a letter or digit)", s.alias)));
        }
        match s.kind.as_str() {
            "GitRepository" => {}
            "Bucket" | "OCIRepository" | "HelmChart" | "ExternalArtifact" => {
                return Err(id.error(
                    &at("kind"),
                    format!("a {} source is not supported by fledge, which builds artifacts only from the GitRepository it runs on", s.kind),
                ));
            }
            other => {
                return Err(id.error(&at("kind"), format!("`{other}` is not a source kind (one of Bucket, GitRepository, OCIRepository, HelmChart, ExternalArtifact)")));
            }
        }
        let repo = Id {
            namespace: s
                .namespace
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| id.namespace.clone()),
            name: s.name.clone(),
        };
        if out.insert(s.alias.clone(), repo).is_some() {
            return Err(id.error(
                &at("alias"),
                format!("duplicate source alias '{}' found", s.alias),
            ));
        }
    }
    Ok(out)
}

/// `^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$`, at most 63 characters.
fn valid_alias(alias: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    alias.len() <= 63
        && alias.starts_with(ok)
        && alias.ends_with(ok)
        && alias.chars().all(|c| ok(c) || c == '-' || c == '_')
}

/// A DNS subdomain name (RFC 1123), as Kubernetes requires of object names.
fn valid_name(name: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    name.len() <= 253
        && name.split('.').all(|label| {
            label.starts_with(ok) && label.ends_with(ok) && label.chars().all(|c| ok(c) || c == '-')
        })
}

impl Artifact {
    fn new(
        generator: &Id,
        index: usize,
        raw: RawArtifact,
        sources: &BTreeMap<String, Id>,
    ) -> Result<Self, FluxError> {
        let at = |field: &str| format!("spec.artifacts[{index}].{field}");
        if !valid_name(&raw.name) {
            return Err(generator.error(
                &at("name"),
                format!(
                    "artifact name \"{}\" is not a valid Kubernetes object name",
                    raw.name
                ),
            ));
        }
        for (field, value) in [
            ("revision", &raw.revision),
            ("originRevision", &raw.origin_revision),
        ] {
            let Some(v) = value.as_deref().filter(|v| !v.is_empty()) else {
                continue;
            };
            let alias = v.strip_prefix('@').unwrap_or("");
            if !sources.contains_key(alias) {
                return Err(generator.error(
                    &at(field),
                    format!("`{v}` must be `@<alias>` of a source in `spec.sources`"),
                ));
            }
        }
        if raw.copy.is_empty() {
            return Err(generator.error(&at("copy"), "must hold at least one operation"));
        }
        for (j, op) in raw.copy.iter().enumerate() {
            check_copy(op, sources)
                .map_err(|(field, m)| generator.error(&at(&format!("copy[{j}].{field}")), m))?;
        }
        Ok(Self {
            name: raw.name,
            revision: raw.revision,
            origin_revision: raw.origin_revision,
            copy: raw.copy,
            generator: generator.clone(),
            index,
            sources: sources.clone(),
        })
    }

    /// The artifact's file tree, built from `files`, the tree of `repository` (the GitRepository
    /// fledge runs on) as source-controller serves it (its `.sourceignore`d view), applying the
    /// `copy` operations in order. A copy from any other source is refused, naming it.
    pub fn files(&self, repository: &Id, files: &dyn Files) -> Result<MemFiles, FluxError> {
        let at =
            |j: usize, field: &str| format!("spec.artifacts[{}].copy[{j}].{field}", self.index);
        let mut sources: BTreeMap<&str, &dyn Files> = BTreeMap::new();
        for (j, op) in self.copy.iter().enumerate() {
            let (alias, _) = split_from(&op.from).unwrap_or_default();
            let Some(source) = self.sources.get(alias) else {
                continue;
            };
            if source != repository {
                return Err(self.generator.error(
                    &at(j, "from"),
                    format!("source `@{alias}` is GitRepository {source}, not {repository}, the repository fledge runs on: fledge builds artifacts only from that one (publish the files from it, or copy them into it)"),
                ));
            }
            sources.insert(alias, files);
        }
        let mut tree = Tree::default();
        for (j, op) in self.copy.iter().enumerate() {
            apply(op, &sources, &mut tree).map_err(|m| {
                self.generator.error(
                    &at(j, "from"),
                    format!(
                        "failed to apply copy operation from '{}' to '{}': {m}",
                        op.from, op.to
                    ),
                )
            })?;
        }
        Ok(tree.into_files())
    }
}

/// Refuses what source-watcher's schema and builder refuse, and what fledge does not do:
/// the field and why.
fn check_copy(op: &CopyOperation, sources: &BTreeMap<String, Id>) -> Result<(), (String, String)> {
    let Some((alias, _)) = split_from(&op.from) else {
        return Err((
            "from".into(),
            format!("`{}` must be `@<alias>/<glob-pattern>`", op.from),
        ));
    };
    if !sources.contains_key(alias) {
        return Err((
            "from".into(),
            format!("source alias '{alias}' not found in `spec.sources`"),
        ));
    }
    if !op.to.starts_with("@artifact/") {
        return Err((
            "to".into(),
            format!("`{}` must start with `@artifact/`", op.to),
        ));
    }
    match op.strategy.as_deref() {
        None | Some("" | "Overwrite" | "Merge") => {}
        Some("Extract") => {
            return Err((
                "strategy".into(),
                "`Extract` (unpacking tarballs) is not supported by fledge: commit the files unpacked, or copy the tarball with `Overwrite`".into(),
            ));
        }
        Some(other) => {
            return Err((
                "strategy".into(),
                format!("`{other}` is not a strategy (Overwrite, Merge or Extract)"),
            ));
        }
    }
    if let Err(m) = Excludes::new(&op.exclude) {
        return Err(("exclude".into(), m));
    }
    Ok(())
}

/// `@alias/pattern` → (alias, pattern).
fn split_from(from: &str) -> Option<(&str, &str)> {
    from.strip_prefix('@')?.split_once('/')
}

/// The staging directory: files and the directories made for them (a directory can be empty,
/// as on disk, which decides where a later single-file copy lands).
#[derive(Default)]
struct Tree {
    files: BTreeMap<String, Vec<u8>>,
    dirs: BTreeSet<String>,
}

impl Tree {
    fn is_dir(&self, path: &str) -> bool {
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

    fn into_files(self) -> MemFiles {
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
fn apply(
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
struct Excludes(Vec<(bool, Vec<GlobMatcher>)>);

impl Excludes {
    fn new(patterns: &[String]) -> Result<Self, String> {
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

#[cfg(test)]
mod tests;
