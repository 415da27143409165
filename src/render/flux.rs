//! A Flux Kustomization's path built as kustomize-controller v1.9.6 builds it
//! (`fluxcd/pkg/kustomize` v1.35.7: `Generator.WriteFile`, `SecureBuild`, `SubstituteVariables`,
//! then `SetCommonMetadata` at apply):
//!
//! 1. the directory's kustomization file, or, when it has none, one generated from its
//!    contents: every `*.yaml`/`*.yml` file below it (the extension case-sensitive, hidden
//!    files and directories included), and every sub-directory holding its own kustomization
//!    file as one resource, not descended into; with nothing found, an empty kustomization
//!    (namespace `_placeholder`). A kustomization file without `resources` gets
//!    `buildMetadata: [originAnnotations]`, as Flux sets it;
//! 2. the Kustomization's spec merged into it: `targetNamespace` → `namespace`,
//!    `namePrefix`/`nameSuffix` replace the file's, `patches` and `components` appended,
//!    `images` merged by name, `buildMetadata` replaces the file's;
//! 3. the kustomize build, with Flux's load restrictions (a kustomization may name any file in
//!    the repository, not only below its own directory) and order (the resources' own, not
//!    `kubectl kustomize`'s legacy sort, unless the kustomization sets `sortOptions`);
//! 4. post-build substitution ([`super::varsub`]), then `commonMetadata`.
//!
//! What it deliberately does not do: source-controller's ignore rules (`.sourceignore`, the
//! default exclusions such as `.git/` or `.github/`) are the source stage's, applied to the
//! snapshot before it reaches here; SOPS keys (`spec.decryption`) are the caller's; Flux's
//! apply-time normalisation (defaults such as Service protocols) belongs to sync.

use std::collections::BTreeMap;
use std::io;

use serde_json::{Map, Value};

use super::build::render_with as kustomize_build;
use super::decrypt::Options;
use super::fs::{self, Entry, Files};
use super::kustomization::FILE_NAMES;
use super::varsub::{self, PostBuild, Source, SourceKind, Strategy};
use super::{DisplayPath, Error, yaml};

/// Answers a `substituteFrom` reference (kind, name) with the object's data, or `None` when it
/// does not exist.
pub type Resolver<'a> = dyn Fn(SourceKind, &str) -> Option<BTreeMap<String, String>> + 'a;

/// `spec.commonMetadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommonMetadata {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// What a Flux Kustomization's spec adds to the build of its path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FluxOverlay {
    /// `spec.targetNamespace`.
    pub target_namespace: Option<String>,
    /// `spec.namePrefix`.
    pub name_prefix: Option<String>,
    /// `spec.nameSuffix`.
    pub name_suffix: Option<String>,
    /// `spec.commonMetadata`.
    pub common_metadata: CommonMetadata,
    /// `spec.patches`: entries of `patch` (a string) and `target` (a selector).
    pub patches: Vec<Value>,
    /// `spec.images`: entries of `name`, `newName`, `newTag`, `digest`.
    pub images: Vec<Value>,
    /// `spec.components`: paths relative to the Kustomization's path.
    pub components: Vec<String>,
    /// `spec.ignoreMissingComponents`.
    pub ignore_missing_components: bool,
    /// `spec.buildMetadata`.
    pub build_metadata: Vec<String>,
    /// `spec.postBuild`, its `substituteFrom` resolved; `None` when the spec has none.
    pub post_build: Option<PostBuild>,
}

/// The spec fields that change nothing in the build (they are the sync's), accepted by
/// [`FluxOverlay::from_spec`].
const SYNC_FIELDS: &[&str] = &[
    "dependsOn",
    "interval",
    "retryInterval",
    "kubeConfig",
    "path",
    "prune",
    "deletionPolicy",
    "healthChecks",
    "serviceAccountName",
    "sourceRef",
    "suspend",
    "timeout",
    "force",
    "wait",
    "healthCheckExprs",
    "ignore",
];

fn spec_error(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::FluxSpec {
        field: field.into(),
        message: message.into(),
    }
}

fn string_map(v: &Value, field: &str) -> Result<BTreeMap<String, String>, Error> {
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(spec_error(
                    format!("{field}.{k}"),
                    "must be a string (quote it)",
                )),
            })
            .collect(),
        _ => Err(spec_error(field, "must be a map of strings")),
    }
}

fn string(v: &Value, field: &str) -> Result<Option<String>, Error> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(spec_error(field, "must be a string")),
    }
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>, Error> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| spec_error(format!("{field}[{i}]"), "must be a string"))
            })
            .collect(),
        _ => Err(spec_error(field, "must be a list of strings")),
    }
}

fn list(v: &Value, field: &str) -> Result<Vec<Value>, Error> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => Ok(items.clone()),
        _ => Err(spec_error(field, "must be a list")),
    }
}

impl FluxOverlay {
    /// Reads the build-relevant fields of a Flux Kustomization's `spec`. `resolve` answers a
    /// `substituteFrom` reference (kind, name) with the object's data, or `None` when it does
    /// not exist. A field fledge does not know is an error, never skipped.
    pub fn from_spec(spec: &Value, strict: bool, resolve: &Resolver<'_>) -> Result<Self, Error> {
        let Some(m) = spec.as_object() else {
            return Err(spec_error("", "must be a mapping"));
        };
        let mut o = Self::default();
        for (k, v) in m {
            match k.as_str() {
                "targetNamespace" => o.target_namespace = string(v, k)?,
                "namePrefix" => o.name_prefix = string(v, k)?,
                "nameSuffix" => o.name_suffix = string(v, k)?,
                "commonMetadata" => {
                    if let Some(k) = v
                        .as_object()
                        .and_then(|c| c.keys().find(|k| *k != "labels" && *k != "annotations"))
                    {
                        return Err(spec_error(format!("commonMetadata.{k}"), "unknown field"));
                    }
                    o.common_metadata = CommonMetadata {
                        labels: string_map(&v["labels"], "commonMetadata.labels")?,
                        annotations: string_map(&v["annotations"], "commonMetadata.annotations")?,
                    };
                }
                "patches" => {
                    o.patches = list(v, k)?
                        .iter()
                        .enumerate()
                        .map(|(i, p)| flux_patch(p, i))
                        .collect::<Result<_, _>>()?;
                }
                "images" => {
                    o.images = list(v, k)?;
                    let mut probe = Map::new();
                    for (i, image) in o.images.iter().enumerate() {
                        merge_image(&mut probe, image, i)?;
                    }
                }
                "components" => o.components = strings(v, k)?,
                "ignoreMissingComponents" => {
                    o.ignore_missing_components = v.as_bool() == Some(true);
                }
                "buildMetadata" => o.build_metadata = strings(v, k)?,
                "postBuild" if v.is_null() => {}
                "postBuild" => o.post_build = Some(post_build(v, strict, resolve)?),
                // The keys are the caller's (see `build_with`): read from the Secret it names.
                "decryption" => {}
                other if SYNC_FIELDS.contains(&other) => {}
                other => return Err(spec_error(other, "unknown field")),
            }
        }
        Ok(o)
    }
}

fn post_build(v: &Value, strict: bool, resolve: &Resolver<'_>) -> Result<PostBuild, Error> {
    let mut pb = PostBuild {
        strict,
        ..PostBuild::default()
    };
    let Some(m) = v.as_object() else {
        return Err(spec_error("postBuild", "must be a mapping"));
    };
    for (k, v) in m {
        match k.as_str() {
            "substitute" => pb.substitute = string_map(v, "postBuild.substitute")?,
            "substituteStrategy" => {
                pb.strategy = match v.as_str() {
                    None | Some("" | "WithVariables") => Strategy::WithVariables,
                    Some("Always") => Strategy::Always,
                    Some(_) => {
                        return Err(spec_error(
                            "postBuild.substituteStrategy",
                            "must be WithVariables or Always",
                        ));
                    }
                };
            }
            "substituteFrom" => {
                for (i, r) in list(v, "postBuild.substituteFrom")?.iter().enumerate() {
                    let field = format!("postBuild.substituteFrom[{i}]");
                    let kind = match r["kind"].as_str() {
                        Some("ConfigMap") => SourceKind::ConfigMap,
                        Some("Secret") => SourceKind::Secret,
                        _ => {
                            return Err(spec_error(field + ".kind", "must be ConfigMap or Secret"));
                        }
                    };
                    let Some(name) = r["name"].as_str().filter(|n| !n.is_empty()) else {
                        return Err(spec_error(field + ".name", "is required"));
                    };
                    if let Some(k) = r.as_object().and_then(|o| {
                        o.keys()
                            .find(|k| !["kind", "name", "optional"].contains(&k.as_str()))
                    }) {
                        return Err(spec_error(format!("{field}.{k}"), "unknown field"));
                    }
                    pb.substitute_from.push(Source {
                        kind,
                        name: name.to_owned(),
                        optional: r["optional"].as_bool() == Some(true),
                        data: resolve(kind, name),
                    });
                }
            }
            other => return Err(spec_error(format!("postBuild.{other}"), "unknown field")),
        }
    }
    Ok(pb)
}

/// Builds the Flux Kustomization path `path` (root-relative) of a snapshot with `overlay`.
pub fn build(files: &dyn Files, path: &str, overlay: &FluxOverlay) -> Result<Vec<Value>, Error> {
    build_with(files, path, overlay, &Options::default())
}

/// [`build`], SOPS-encrypted inputs decrypted by `options.decrypt` (the keys of the
/// Kustomization's `spec.decryption`) where kustomize-controller decrypts them.
pub fn build_with(
    files: &dyn Files,
    path: &str,
    overlay: &FluxOverlay,
    options: &Options<'_>,
) -> Result<Vec<Value>, Error> {
    let dir = match path.trim_start_matches("./").trim_end_matches('/') {
        "." => "",
        d => d,
    };
    if !dir.is_empty() && files.entry(dir) != Some(Entry::Dir) {
        // The renderer says why (missing, a loop, a link out of the root).
        return kustomize_build(files, dir, options);
    }
    let (kpath, mut kustomization) = generate(files, dir, overlay)?;
    // kustomize-controller runs kustomize with no `--reorder` option at all (neither `legacy`
    // nor `unspecified`), so the output keeps the resources' order unless the kustomization
    // sets `sortOptions` itself: `fifo` says that to the renderer.
    if let Some(m) = kustomization.as_object_mut() {
        m.entry("sortOptions")
            .or_insert_with(|| serde_json::json!({"order": "fifo"}));
    }
    let mut text = String::new();
    yaml::emit_document(&kustomization, &mut text);
    let view = Generated {
        inner: files,
        path: kpath,
        bytes: text.into_bytes(),
    };
    let mut objects = kustomize_build(&view, dir, options)?;
    for o in &objects {
        if o["apiVersion"].as_str().is_none_or(str::is_empty) {
            return Err(Error::invalid(
                dir,
                format!(
                    "{} has no apiVersion (kustomize-controller refuses it)",
                    crate::object::describe(o)
                ),
            ));
        }
    }
    if let Some(pb) = &overlay.post_build {
        objects = varsub::substitute(objects, pb).map_err(|cause| Error::PostBuild {
            path: DisplayPath::new(dir),
            cause,
        })?;
    }
    // kustomize-controller reads the build back without kustomize's own configuration objects.
    objects.retain(|o| {
        !(o["kind"].as_str().map(str::to_ascii_lowercase).as_deref() == Some("kustomization")
            && o["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("kustomize.config.k8s.io/")))
    });
    set_common_metadata(&mut objects, &overlay.common_metadata);
    Ok(objects)
}

/// Flux's `SetCommonMetadata`: the labels and annotations set over each object's own.
fn set_common_metadata(objects: &mut [Value], common: &CommonMetadata) {
    for o in objects {
        for (field, add) in [
            ("labels", &common.labels),
            ("annotations", &common.annotations),
        ] {
            if add.is_empty() {
                continue;
            }
            let Some(meta) = o
                .as_object_mut()
                .map(|m| {
                    m.entry("metadata")
                        .or_insert_with(|| Value::Object(Map::new()))
                })
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            let slot = meta
                .entry(field)
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(m) = slot {
                for (k, v) in add {
                    m.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
    }
}

/// The kustomization Flux builds `dir` with, and the path it writes it to: the directory's
/// own (with the spec merged in) or one generated from its contents.
pub fn generate(
    files: &dyn Files,
    dir: &str,
    overlay: &FluxOverlay,
) -> Result<(String, Value), Error> {
    let (kpath, mut k, created) = find_or_generate(files, dir)?;
    let Some(m) = k.as_object_mut() else {
        return Err(Error::invalid(&kpath, "a kustomization must be a mapping"));
    };
    let has_resources = m
        .get("resources")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty());
    if !created && !has_resources {
        // Flux's guard against "kustomization.yaml is empty".
        m.insert(
            "buildMetadata".into(),
            Value::Array(vec!["originAnnotations".into()]),
        );
    }
    for (field, value) in [
        ("namespace", &overlay.target_namespace),
        ("namePrefix", &overlay.name_prefix),
        ("nameSuffix", &overlay.name_suffix),
    ] {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            m.insert(field.into(), Value::String(v.clone()));
        }
    }
    for (i, p) in overlay.patches.iter().enumerate() {
        let patch = flux_patch(p, i)?;
        push(m, "patches", patch);
    }
    for c in &overlay.components {
        if !is_local_relative_path(c) {
            return Err(spec_error(
                "components",
                format!("component path '{c}' must be local and relative"),
            ));
        }
        let exists = fs::join(dir, c).is_some_and(|p| files.entry(&p).is_some());
        if !exists && overlay.ignore_missing_components {
            continue;
        }
        push(m, "components", Value::String(c.clone()));
    }
    for (i, image) in overlay.images.iter().enumerate() {
        merge_image(m, image, i)?;
    }
    if !overlay.build_metadata.is_empty() {
        m.insert(
            "buildMetadata".into(),
            overlay
                .build_metadata
                .iter()
                .cloned()
                .map(Value::String)
                .collect(),
        );
    }
    Ok((kpath, k))
}

fn push(m: &mut Map<String, Value>, field: &str, v: Value) {
    let slot = m.entry(field).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    if let Value::Array(a) = slot {
        a.push(v);
    }
}

const SELECTOR_FIELDS: &[&str] = &[
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "labelSelector",
    "annotationSelector",
];

/// A `spec.patches` entry as Flux writes it into the kustomization: `patch`, and `target` with
/// its non-empty fields (an empty `target: {}` stays, and selects every object).
fn flux_patch(entry: &Value, index: usize) -> Result<Value, Error> {
    let field = format!("patches[{index}]");
    let Some(fields) = entry.as_object() else {
        return Err(spec_error(field, "must be a mapping"));
    };
    let mut out = Map::new();
    for (k, v) in fields {
        match k.as_str() {
            "patch" => {
                let text = v
                    .as_str()
                    .ok_or_else(|| spec_error(format!("{field}.patch"), "must be a string"))?;
                if !text.is_empty() {
                    out.insert("patch".into(), Value::String(text.to_owned()));
                }
            }
            "target" if v.is_null() => {}
            "target" => {
                let Some(selector) = v.as_object() else {
                    return Err(spec_error(format!("{field}.target"), "must be a mapping"));
                };
                let mut target = Map::new();
                for (tk, tv) in selector {
                    if !SELECTOR_FIELDS.contains(&tk.as_str()) {
                        return Err(spec_error(format!("{field}.target.{tk}"), "unknown field"));
                    }
                    let text = tv.as_str().ok_or_else(|| {
                        spec_error(format!("{field}.target.{tk}"), "must be a string")
                    })?;
                    if !text.is_empty() {
                        target.insert(tk.clone(), Value::String(text.to_owned()));
                    }
                }
                out.insert("target".into(), Value::Object(target));
            }
            other => return Err(spec_error(format!("{field}.{other}"), "unknown field")),
        }
    }
    Ok(Value::Object(out))
}

/// Flux's merge of a `spec.images` entry into the kustomization's `images`: an entry of the
/// same name gets the fields the spec sets (`newTag` and `digest` together, as one version),
/// otherwise the entry is appended.
fn merge_image(m: &mut Map<String, Value>, image: &Value, i: usize) -> Result<(), Error> {
    let field = format!("images[{i}]");
    let Some(im) = image.as_object() else {
        return Err(spec_error(field, "must be a mapping"));
    };
    let get = |k: &str| -> Result<String, Error> {
        match im.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(spec_error(format!("{field}.{k}"), "must be a string")),
        }
    };
    let (name, new_name, new_tag, digest) = (
        get("name")?,
        get("newName")?,
        get("newTag")?,
        get("digest")?,
    );
    if let Some(k) = im
        .keys()
        .find(|k| !["name", "newName", "newTag", "digest"].contains(&k.as_str()))
    {
        return Err(spec_error(format!("images[{i}].{k}"), "unknown field"));
    }
    let set = |e: &mut Map<String, Value>, k: &str, v: &str| {
        if v.is_empty() {
            e.remove(k);
        } else {
            e.insert(k.into(), Value::String(v.to_owned()));
        }
    };
    let images = m
        .entry("images")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(images) = images else {
        return Err(Error::invalid(
            "",
            "the kustomization's `images` is not a list",
        ));
    };
    let existing = images
        .iter_mut()
        .filter_map(Value::as_object_mut)
        .find(|e| e.get("name").and_then(Value::as_str).unwrap_or("") == name);
    if let Some(e) = existing {
        if !new_name.is_empty() {
            set(e, "newName", &new_name);
        }
        if !new_tag.is_empty() || !digest.is_empty() {
            set(e, "newTag", &new_tag);
            set(e, "digest", &digest);
        }
    } else {
        let mut e = Map::new();
        set(&mut e, "name", &name);
        set(&mut e, "newName", &new_name);
        set(&mut e, "newTag", &new_tag);
        set(&mut e, "digest", &digest);
        images.push(Value::Object(e));
    }
    Ok(())
}

/// Flux's `IsLocalRelativePath` (kustomize's remote-reference prefixes, `file://` allowed).
fn is_local_relative_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    for p in [
        "git::",
        "gh:",
        "ssh://",
        "https://",
        "http://",
        "git@",
        "github.com:",
        "github.com/",
    ] {
        if p.len() < path.len() && lower.starts_with(p) {
            return false;
        }
    }
    !(path.starts_with('/') || lower.trim_start_matches("file://").starts_with('/'))
}

/// The directory's kustomization file (path, contents, and false), or Flux's generated one
/// (true).
fn find_or_generate(files: &dyn Files, dir: &str) -> Result<(String, Value, bool), Error> {
    for name in FILE_NAMES {
        let Some(kpath) = fs::join(dir, name) else {
            continue;
        };
        if files.entry(&kpath) == Some(Entry::File) {
            let bytes = files.read(&kpath).map_err(|source| Error::Read {
                path: DisplayPath::new(&kpath),
                source,
            })?;
            let mut docs = yaml::parse_documents(&bytes).map_err(|e| Error::Yaml {
                path: DisplayPath::new(&kpath),
                line: e.line,
                column: e.column,
                message: e.message,
            })?;
            let doc = match docs.len() {
                0 => Value::Object(Map::new()),
                1 => docs.remove(0),
                _ => {
                    return Err(Error::invalid(
                        &kpath,
                        "a kustomization file holds one YAML document",
                    ));
                }
            };
            return Ok((kpath, doc, false));
        }
    }
    let mut found = Vec::new();
    scan(files, dir, &mut found)?;
    let mut k = Map::new();
    k.insert(
        "apiVersion".into(),
        "kustomize.config.k8s.io/v1beta1".into(),
    );
    k.insert("kind".into(), "Kustomization".into());
    if found.is_empty() {
        k.insert("namespace".into(), "_placeholder".into());
    } else {
        let prefix = if dir.is_empty() { 0 } else { dir.len() + 1 };
        k.insert(
            "resources".into(),
            found
                .iter()
                .map(|p| Value::String(format!("./{}", &p[prefix..])))
                .collect(),
        );
    }
    let kpath = fs::join(dir, FILE_NAMES[0]).expect("a child name never leaves the root");
    Ok((kpath, Value::Object(k), true))
}

/// Go's `filepath.Ext`: from the last dot, case and all.
fn go_ext(name: &str) -> &str {
    name.rfind('.').map_or("", |i| &name[i..])
}

fn has_kustomization(files: &dyn Files, dir: &str) -> bool {
    FILE_NAMES
        .iter()
        .filter_map(|n| fs::join(dir, n))
        .any(|p| files.entry(&p) == Some(Entry::File))
}

/// Flux's `scanManifests`: a walk in name order.
fn scan(files: &dyn Files, dir: &str, out: &mut Vec<String>) -> Result<(), Error> {
    let names = files.list(dir).map_err(|source| Error::Read {
        path: DisplayPath::new(dir),
        source,
    })?;
    for name in names {
        let path = fs::join(dir, &name).expect("a child name never leaves the root");
        match files.entry(&path) {
            Some(Entry::Dir) if has_kustomization(files, &path) => out.push(path),
            Some(Entry::Dir) => scan(files, &path, out)?,
            Some(Entry::File) if matches!(go_ext(&name), ".yaml" | ".yml") => out.push(path),
            None if files.link_loop(&path).is_some() => {
                return Err(Error::invalid(
                    &path,
                    "a symlink loop (its chain of targets comes back to itself); it cannot be read: point it at a file or directory",
                ));
            }
            None if files.leaves_root(&path) => {
                return Err(Error::invalid(
                    &path,
                    "a symlink that leads outside the build root; it is not read: replace it with the file, or move what it points to inside",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The snapshot with the kustomization Flux writes before it builds, and Flux's load
/// restrictions: any file within the root may be named.
struct Generated<'a> {
    inner: &'a dyn Files,
    path: String,
    bytes: Vec<u8>,
}

impl Files for Generated<'_> {
    fn entry(&self, path: &str) -> Option<Entry> {
        if path == self.path {
            Some(Entry::File)
        } else {
            self.inner.entry(path)
        }
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        if path == self.path {
            Ok(self.bytes.clone())
        } else {
            self.inner.read(path)
        }
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        let mut names = self.inner.list(path)?;
        if fs::parent(&self.path) == path {
            let name = self.path.rsplit('/').next().unwrap_or(&self.path);
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
                names.sort();
            }
        }
        Ok(names)
    }

    fn leaves_root(&self, path: &str) -> bool {
        path != self.path && self.inner.leaves_root(path)
    }

    fn link_loop(&self, path: &str) -> Option<String> {
        if path == self.path {
            None
        } else {
            self.inner.link_loop(path)
        }
    }

    fn really_within(&self, _path: &str, _dir: &str) -> bool {
        // kustomize-controller builds with `LoadRestrictionsNone`.
        true
    }
}

#[cfg(test)]
mod tests;
