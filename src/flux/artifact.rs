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

use serde::Deserialize;
use serde_json::Value;

use super::{FluxError, Id};
use crate::render::{Files, MemFiles};

mod copy;

use copy::{Excludes, Tree, apply};

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

    /// The artifact that is the `ExternalArtifact` `id` (`spec.sourceRef` of a Kustomization,
    /// namespace defaulted), if this generator produces it: ExternalArtifacts are made in the
    /// generator's namespace.
    #[must_use]
    pub fn produces(&self, id: &Id) -> Option<&Artifact> {
        (id.namespace == self.id.namespace)
            .then(|| self.artifact(&id.name))
            .flatten()
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

#[cfg(test)]
mod tests;
