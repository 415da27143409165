//! A HelmRelease's `spec.postRenderers` and `spec.commonMetadata`, run over what its chart
//! renders as helm-controller v1.4.5 runs them (`internal/postrender`: `BuildPostRenderers`
//! chains `Kustomize`, `CommonRenderer`, then `OriginLabels`), with fledge's own kustomize
//! build in place of krusty:
//!
//! 1. each `kustomize` post-renderer, in order: a kustomization whose one resource is what came
//!    before, with the post-renderer's `patches` and `images`, built as helm-controller builds it
//!    (no `Reorder` option, so the objects keep their order; load restrictions and plugins do
//!    not matter to an inline kustomization);
//! 2. `commonMetadata`: its labels, then its annotations, set over each object's own;
//! 3. helm-controller's origin labels, last, so that they win over a common label of the same
//!    key: the parent module's `placed` puts them on when the release is applied.
//!
//! What they run over is what Helm hands a post-renderer: the objects of the chart's templates.
//! Not its hooks (Helm v3's `renderResources` post-renders the manifest alone, and
//! helm-controller v1.5 keeps that with `PostRenderStrategyNoHooks`), and not the CRDs of its
//! `crds/` directories (helm-controller installs them itself, with its origin labels only).
//!
//! A post-renderer that fails fails the release, naming the patch or image it is about.

use serde_json::{Map, Value, json};

use crate::flux::helm::{HelmRelease, Image, KustomizePostRenderer, Patch};
use crate::helm::Rendered;
use crate::render::{self, MemFiles, yaml};

/// The resource a post-renderer's kustomization builds: the objects so far (helm-controller
/// names it so).
const INPUT: &str = "helm-output.yaml";

/// How Helm heads each file of the manifest it renders.
const SOURCE: &str = "\n---\n# Source: ";

/// Whether `hr` asks for post-rendering of its own (helm-controller's origin labels aside).
pub(super) fn wanted(hr: &HelmRelease) -> bool {
    hr.spec.common_metadata.is_some()
        || hr.spec.post_renderers.iter().any(|r| r.kustomize.is_some())
}

/// The objects of `rendered` as helm-controller installs them, its origin labels aside: the
/// CRDs of the chart's `crds/` directories as they are, the templates' objects post-rendered,
/// then the hooks other than tests as Helm rendered them. `Err` names the field at fault.
pub(super) fn objects(hr: &HelmRelease, rendered: &Rendered) -> Result<Vec<Value>, String> {
    let (crds, templates) = split(&rendered.manifest);
    let mut out = parse(&crds)?;
    let mut objects = parse(&templates)?;
    // The first post-renderer reads what Helm wrote; the next ones what the one before built.
    let mut written = Some(templates);
    for (i, r) in hr.spec.post_renderers.iter().enumerate() {
        let Some(k) = &r.kustomize else { continue };
        let input = written
            .take()
            .unwrap_or_else(|| yaml::emit_stream(&objects));
        objects = kustomize(&input, k, &format!("spec.postRenderers[{i}].kustomize"))?;
    }
    if let Some(common) = &hr.spec.common_metadata {
        for o in &mut objects {
            set_metadata(o, "labels", &common.labels);
            set_metadata(o, "annotations", &common.annotations);
        }
    }
    out.extend(objects);
    for hook in rendered.hooks.iter().filter(|h| !h.is_test()) {
        out.extend(parse(&hook.manifest)?);
    }
    Ok(out)
}

/// The manifest Helm rendered, split at its `# Source:` headers into the files of the chart's
/// `crds/` directories (Helm writes them first) and the rest, each kept as Helm wrote it.
fn split(manifest: &str) -> (String, String) {
    let (mut crds, mut templates) = (String::new(), String::new());
    let text = format!("\n{}", manifest.trim_start());
    let mut files = text.split(SOURCE);
    if let Some(head) = files.next().filter(|h| !h.trim().is_empty()) {
        templates.push_str(head);
    }
    for file in files {
        let source = file.lines().next().unwrap_or_default();
        let into = if in_crds_dir(source) {
            &mut crds
        } else {
            &mut templates
        };
        into.push_str(&SOURCE[1..]);
        into.push_str(file);
        into.push('\n');
    }
    (crds, templates)
}

/// Whether a file Helm names `source` (`<chart>[/charts/<subchart>…]/<path>`) lies in a chart's
/// `crds/` directory rather than its `templates/`.
fn in_crds_dir(source: &str) -> bool {
    let parts: Vec<&str> = source.trim().split('/').collect();
    let mut i = 1;
    while parts.get(i) == Some(&"charts") && i + 2 < parts.len() {
        i += 2;
    }
    parts.get(i) == Some(&"crds")
}

fn parse(text: &str) -> Result<Vec<Value>, String> {
    yaml::parse_objects(text.as_bytes()).map_err(|e| {
        format!(
            "the chart rendered YAML that cannot be read (line {}, column {}): {}",
            e.line, e.column, e.message
        )
    })
}

/// helm-controller's `Kustomize` post-renderer over the objects in `input` (YAML); `field` is
/// where it is in the HelmRelease, for errors.
fn kustomize(input: &str, k: &KustomizePostRenderer, field: &str) -> Result<Vec<Value>, String> {
    build(input, k).map_err(|e| match blame(input, k) {
        Some((at, e)) => format!("{field}.{at}: {}", why(&e)),
        None => format!("{field}: {}", why(&e)),
    })
}

/// The kustomize build of `k` over `input`, in memory.
fn build(input: &str, k: &KustomizePostRenderer) -> Result<Vec<Value>, render::Error> {
    let mut files = MemFiles::new();
    files.insert(INPUT, input.as_bytes().to_vec());
    let mut kustomization = String::new();
    yaml::emit_document(&kustomization_of(k), &mut kustomization);
    files.insert("kustomization.yaml", kustomization.into_bytes());
    render::render(&files, "")
}

/// The kustomization helm-controller writes for `k` (Go's `omitempty` leaving out what is
/// empty), and `sortOptions` saying what its build does without: keep the objects' order.
fn kustomization_of(k: &KustomizePostRenderer) -> Value {
    let mut m = Map::new();
    m.insert(
        "apiVersion".into(),
        "kustomize.config.k8s.io/v1beta1".into(),
    );
    m.insert("kind".into(), "Kustomization".into());
    m.insert("resources".into(), json!([INPUT]));
    if !k.patches.is_empty() {
        m.insert("patches".into(), k.patches.iter().map(patch).collect());
    }
    if !k.images.is_empty() {
        m.insert("images".into(), k.images.iter().map(image).collect());
    }
    m.insert("sortOptions".into(), json!({"order": "fifo"}));
    Value::Object(m)
}

/// A `patches` entry: an empty `target: {}` stays, and selects every object.
fn patch(p: &Patch) -> Value {
    let mut entry = Map::new();
    if !p.patch.is_empty() {
        entry.insert("patch".into(), p.patch.clone().into());
    }
    if let Some(t) = &p.target {
        let fields = [
            ("group", &t.group),
            ("version", &t.version),
            ("kind", &t.kind),
            ("name", &t.name),
            ("namespace", &t.namespace),
            ("labelSelector", &t.label_selector),
            ("annotationSelector", &t.annotation_selector),
        ];
        entry.insert("target".into(), non_empty(&fields));
    }
    Value::Object(entry)
}

/// An `images` entry, one for each of the spec's (helm-controller appends them; it does not
/// merge entries of the same name as kustomize-controller does).
fn image(i: &Image) -> Value {
    non_empty(&[
        ("name", &i.name),
        ("newName", &i.new_name),
        ("newTag", &i.new_tag),
        ("digest", &i.digest),
    ])
}

fn non_empty(fields: &[(&str, &String)]) -> Value {
    fields
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).clone())))
        .collect::<Map<_, _>>()
        .into()
}

/// The field of `k` a failed build is about, and its error: the first patch that fails with
/// those before it, else the first image that fails after all the patches.
fn blame(input: &str, k: &KustomizePostRenderer) -> Option<(String, render::Error)> {
    for i in 0..k.patches.len() {
        let first = KustomizePostRenderer {
            patches: k.patches[..=i].to_vec(),
            images: Vec::new(),
        };
        if let Err(e) = build(input, &first) {
            return Some((format!("patches[{i}]"), e));
        }
    }
    for i in 0..k.images.len() {
        let first = KustomizePostRenderer {
            patches: k.patches.clone(),
            images: k.images[..=i].to_vec(),
        };
        if let Err(e) = build(input, &first) {
            return Some((format!("images[{i}]"), e));
        }
    }
    None
}

/// What went wrong, without the names of the files the build is given in memory.
fn why(e: &render::Error) -> String {
    match e {
        render::Error::Patch {
            target, message, ..
        } => format!("patch failed on {target}: {message}"),
        render::Error::Yaml {
            line,
            column,
            message,
            ..
        } => format!("invalid YAML (line {line}, column {column}): {message}"),
        render::Error::Invalid { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// `entries` set over `o`'s `metadata.<field>` (labels or annotations), made when missing, as
/// kustomize's label and annotation transformers set `metadata` (and nothing else).
pub(super) fn set_metadata<K, V>(
    o: &mut Value,
    field: &str,
    entries: impl IntoIterator<Item = (K, V)>,
) where
    K: Into<String>,
    V: Into<String>,
{
    let mut entries = entries.into_iter().peekable();
    if entries.peek().is_none() {
        return;
    }
    let Some(object) = o.as_object_mut() else {
        return;
    };
    let meta = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    let slot = &mut meta[field];
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(m) = slot {
        for (k, v) in entries {
            m.insert(k.into(), Value::String(v.into()));
        }
    }
}

#[cfg(test)]
mod tests;
