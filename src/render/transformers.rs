//! Running a kustomization's transformers: the built-in fields (patches, namespace, prefix and
//! suffix, labels, annotations, replicas, images, replacements) in kustomize's order, with the
//! bookkeeping every change shares (transformer annotations, object checks, id uniqueness).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;

use serde_json::Value;

use super::build::{Acc, Builder, ensure_objects, id_key};
use super::fieldspec::{FieldSpec, TransformerConfig};
use super::fs::{self, Entry};
use super::kustomization::{Kustomization, PatchEntry, string_map};
use super::object::Resource;
use super::patch::{Identity, Lookup, apply_patch, apply_untargeted_smp, describe_selector};
use super::transform::{self, ImageRule};
use super::{DisplayPath, Error, replace, yaml};

impl Builder<'_> {
    /// Runs `f` over the resources, recording which ones it changed when
    /// `buildMetadata: [transformerAnnotations]` asks for it.
    pub(super) fn tracked(
        &self,
        acc: &mut Acc,
        kpath: &str,
        plugin: &str,
        f: impl FnOnce(&mut Vec<Resource>) -> Result<(), String>,
    ) -> Result<(), Error> {
        self.tracked_with(acc, kpath, plugin, true, f)
    }

    /// [`Self::tracked`]; with `check_all` false the change vouches for the objects itself
    /// (patches check the objects they touched, which keeps thousands of patches fast).
    fn tracked_with(
        &self,
        acc: &mut Acc,
        kpath: &str,
        plugin: &str,
        check_all: bool,
        f: impl FnOnce(&mut Vec<Resource>) -> Result<(), String>,
    ) -> Result<(), Error> {
        acc.ids = None;
        f(&mut acc.resources)
            .and_then(|()| {
                if check_all {
                    ensure_objects(&acc.resources)
                } else {
                    Ok(())
                }
            })
            .map_err(|m| Error::invalid(kpath, m))?;
        if check_all {
            Self::check_unique(acc, kpath, plugin)?;
        }
        self.note_transformation(acc, kpath, plugin);
        Ok(())
    }

    /// Records a run of transformer `plugin` on every object (kustomize notes each transformer
    /// that runs on every object it is handed, changed or not).
    pub(super) fn note_transformation(&self, acc: &mut Acc, kpath: &str, plugin: &str) {
        if !self.transformer_annotations {
            return;
        }
        let origin = self.builtin_origin(kpath, plugin);
        for r in &mut acc.resources {
            r.transformations.push(origin.clone());
        }
    }

    /// Fails when a change gave two objects the same id (kustomize: "… produces ID conflict"),
    /// and leaves the id set ready for the next add.
    pub(super) fn check_unique(acc: &mut Acc, kpath: &str, plugin: &str) -> Result<(), Error> {
        let mut ids = HashSet::with_capacity(acc.resources.len());
        for r in &acc.resources {
            if !ids.insert(id_key(r)) {
                return Err(Error::invalid(
                    kpath,
                    format!("{plugin} gives two objects the same id: {}", r.id()),
                ));
            }
        }
        acc.ids = Some(ids);
        Ok(())
    }

    /// The field specs in force: kustomize's defaults plus any `configurations:` seen.
    pub(super) fn config(acc: &Acc) -> Result<Cow<'static, TransformerConfig>, String> {
        static DEFAULTS: LazyLock<TransformerConfig> = LazyLock::new(TransformerConfig::defaults);
        if acc.config.is_empty() {
            Ok(Cow::Borrowed(&DEFAULTS))
        } else {
            // kustomize merges the defaults into the configured specs, not the other way round:
            // a configured `metadata/name` for one kind replaces the default for every kind.
            let mut c = acc.config.clone();
            c.merge(&DEFAULTS)?;
            Ok(Cow::Owned(c))
        }
    }

    pub(super) fn builtin_transformers(
        &self,
        acc: &mut Acc,
        dir: &str,
        kpath: &str,
        k: &Kustomization,
    ) -> Result<(), Error> {
        let config = Self::config(acc).map_err(|m| Error::invalid(kpath, m))?;
        if !k.patches_strategic_merge.is_empty() {
            let mut patches = Vec::new();
            for entry in &k.patches_strategic_merge {
                patches.extend(self.smp_patches(dir, kpath, entry)?);
            }
            self.tracked(acc, kpath, "PatchStrategicMergeTransformer", |rs| {
                let mut lookup = None;
                for (source, p) in &patches {
                    apply_untargeted_smp(rs, &mut lookup, p)
                        .map_err(|m| format!("{source}: {m}"))?;
                }
                Ok(())
            })?;
        }
        let mut lookup = None;
        for entry in &k.patches {
            self.apply_patch_entry(acc, dir, kpath, entry, false, &mut lookup)?;
        }
        Self::check_unique(acc, kpath, "PatchTransformer")?;
        if !k.namespace.is_empty() {
            self.tracked(acc, kpath, "NamespaceTransformer", |rs| {
                transform::namespace(rs, &k.namespace, &config.namespace)
            })?;
        }
        if !k.name_prefix.is_empty() {
            self.tracked(acc, kpath, "PrefixTransformer", |rs| {
                transform::prefix_suffix(rs, &k.name_prefix, "", &config.name_prefix)
            })?;
        }
        if !k.name_suffix.is_empty() {
            self.tracked(acc, kpath, "SuffixTransformer", |rs| {
                transform::prefix_suffix(rs, "", &k.name_suffix, &config.name_suffix)
            })?;
        }
        self.label_transformers(acc, kpath, k, &config)?;
        if !k.common_annotations.is_empty() {
            self.tracked(acc, kpath, "AnnotationsTransformer", |rs| {
                transform::add_pairs(
                    rs,
                    &string_map(&k.common_annotations),
                    &config.common_annotations,
                )
            })?;
        }
        // Names have changed since the `patches` step: start a fresh lookup.
        let mut lookup = None;
        for entry in &k.patches_json6902 {
            self.apply_patch_entry(acc, dir, kpath, entry, true, &mut lookup)?;
        }
        Self::check_unique(acc, kpath, "PatchJson6902Transformer")?;
        if !k.replicas.is_empty() {
            self.tracked(acc, kpath, "ReplicaCountTransformer", |rs| {
                for r in &k.replicas {
                    transform::replicas(rs, &r.name, r.count, &config.replicas)?;
                }
                Ok(())
            })?;
            // One transformer per entry, as in kustomize.
            for _ in 1..k.replicas.len() {
                self.note_transformation(acc, kpath, "ReplicaCountTransformer");
            }
        }
        if !k.images.is_empty() || !k.image_tags.is_empty() {
            let rules: Vec<ImageRule> = k
                .images
                .iter()
                .chain(&k.image_tags)
                .map(|i| ImageRule {
                    name: i.name.clone(),
                    new_name: i.new_name.clone(),
                    new_tag: i.new_tag.clone(),
                    digest: i.digest.clone(),
                })
                .collect();
            self.tracked(acc, kpath, "ImageTagTransformer", |rs| {
                transform::images(rs, &rules, &config.images)
            })?;
            for _ in 1..rules.len() {
                self.note_transformation(acc, kpath, "ImageTagTransformer");
            }
        }
        if !k.replacements.is_empty() {
            let specs = self.replacement_specs(dir, kpath, &k.replacements)?;
            self.tracked(acc, kpath, "ReplacementTransformer", |rs| {
                for spec in &specs {
                    replace::replacement(rs, spec)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// `labels` and `commonLabels`: kustomize runs one label transformer per `labels` entry,
    /// and one for `commonLabels`.
    fn label_transformers(
        &self,
        acc: &mut Acc,
        kpath: &str,
        k: &Kustomization,
        config: &TransformerConfig,
    ) -> Result<(), Error> {
        if k.labels.is_empty() && k.common_labels.is_empty() {
            return Ok(());
        }
        self.tracked(acc, kpath, "LabelTransformer", |rs| {
            for l in &k.labels {
                let mut specs = if l.include_selectors {
                    config.common_labels.clone()
                } else if l.include_templates {
                    config.template_labels.clone()
                } else {
                    vec![FieldSpec::new("", "", "metadata/labels", true)]
                };
                specs.extend(l.fields.iter().cloned());
                specs.extend(config.labels.iter().cloned());
                transform::add_pairs(rs, &string_map(&l.pairs), &specs)?;
            }
            transform::add_pairs(rs, &string_map(&k.common_labels), &config.common_labels)
        })?;
        // kustomize runs one label transformer per `labels` entry, and one for
        // `commonLabels`.
        for _ in &k.labels {
            self.note_transformation(acc, kpath, "LabelTransformer");
        }
        Ok(())
    }

    /// `replacements:` entries: `{path: file}` or an inline replacement.
    pub(super) fn replacement_specs(
        &self,
        dir: &str,
        kpath: &str,
        entries: &[Value],
    ) -> Result<Vec<Value>, Error> {
        let mut out = Vec::new();
        for e in entries {
            match e.get("path").and_then(Value::as_str) {
                Some(p) if e.as_object().is_some_and(|m| m.len() == 1) => {
                    let path = self.file_in(dir, kpath, p)?;
                    let bytes = self.read(&path)?;
                    for doc in Self::parse(&path, &bytes)? {
                        match doc {
                            Value::Array(items) => out.extend(items),
                            other => out.push(other),
                        }
                    }
                }
                _ => out.push(e.clone()),
            }
        }
        Ok(out)
    }

    /// Strategic-merge patches from a `patchesStrategicMerge` entry (a file or inline YAML),
    /// each with the name of where it came from.
    pub(super) fn smp_patches(
        &self,
        dir: &str,
        kpath: &str,
        entry: &str,
    ) -> Result<Vec<(String, Value)>, Error> {
        let as_file = self
            .join(dir, entry, false)
            .filter(|p| self.files.entry(p) == Some(Entry::File));
        let (source, docs) = match as_file {
            Some(_) => {
                let path = self.file_in(dir, kpath, entry)?;
                let bytes = self.read(&path)?;
                let docs = Self::parse_objects(&path, &bytes)?;
                (path, docs)
            }
            None if entry.contains('\n') || entry.contains(": ") => (
                format!("{} (inline patch)", DisplayPath::new(kpath)),
                Self::parse_objects(kpath, entry.as_bytes())?,
            ),
            None => {
                return Err(self.missing(kpath, entry, fs::join(dir, entry).as_deref()));
            }
        };
        Ok(docs.into_iter().map(|d| (source.clone(), d)).collect())
    }

    /// A `patches` (or, with `json_only`, `patchesJson6902`) entry.
    pub(super) fn apply_patch_entry(
        &self,
        acc: &mut Acc,
        dir: &str,
        kpath: &str,
        entry: &PatchEntry,
        json_only: bool,
        lookup: &mut Option<Lookup>,
    ) -> Result<(), Error> {
        let (source, text) = match (&entry.path, &entry.patch) {
            (Some(p), None) => {
                let path = self.file_in(dir, kpath, p)?;
                let mut bytes = self.read(&path)?;
                // Flux decrypts the files of `patches` (not of `patchesJson6902`).
                if !json_only {
                    let format = crate::sops::Format::for_path(&path);
                    bytes = super::decrypt::file(self.decrypt, &path, bytes, format)?;
                }
                (path, bytes)
            }
            // kustomize trims an inline patch; one left empty is no patch.
            (None, Some(inline)) if inline.trim().is_empty() => {
                return Err(Error::invalid(
                    kpath,
                    "a patch entry's `patch` is empty; give the patch, or a `path`",
                ));
            }
            (None, Some(inline)) => (
                format!("{} (inline patch)", DisplayPath::new(kpath)),
                inline.as_bytes().to_vec(),
            ),
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    kpath,
                    "a patch has both `path` and `patch`; give one",
                ));
            }
            (None, None) => {
                return Err(Error::invalid(
                    kpath,
                    "a patch has neither `path` nor `patch`",
                ));
            }
        };
        let docs = yaml::parse_patches(&text).map_err(|e| Error::Yaml {
            path: DisplayPath::new(&source),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        let plugin = if json_only {
            "PatchJson6902Transformer"
        } else {
            "PatchTransformer"
        };
        let json_ops = match docs.as_slice() {
            [Value::Array(ops)] => Some(ops.clone()),
            _ if json_only => {
                return Err(Error::invalid(
                    &source,
                    "a patchesJson6902 patch must be a list of JSON patch operations",
                ));
            }
            // A strategic-merge patch is an object: kubectl refuses a key that is not a string
            // (a JSON 6902 patch's values may have one).
            _ => {
                yaml::check_objects(&docs, &text).map_err(|e| Error::Yaml {
                    path: DisplayPath::new(&source),
                    line: e.line,
                    column: e.column,
                    message: e.message,
                })?;
                None
            }
        };
        let target = entry.target.clone();
        let allow = Identity {
            allow_name_change: entry.options.get("allowNameChange") == Some(&Value::Bool(true)),
            allow_kind_change: entry.options.get("allowKindChange") == Some(&Value::Bool(true)),
        };
        self.tracked_with(acc, kpath, plugin, false, |rs| {
            apply_patch(
                rs,
                lookup,
                &source,
                json_ops.as_deref(),
                &docs,
                target.as_ref(),
                allow,
            )
        })
        .map_err(|e| match e {
            Error::Invalid { message, .. } => Error::Patch {
                path: DisplayPath(source.clone()),
                target: target
                    .as_ref()
                    .map_or_else(|| "its target".to_owned(), describe_selector),
                message,
            },
            other => other,
        })
    }
}
