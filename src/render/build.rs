//! The build: a kustomization directory (or a plain folder) → objects, in kustomize's order of
//! operations. Each kustomization is built bottom-up: resources (recursively), configurations,
//! generators, components, then the built-in transformers and `transformers:`; at the top,
//! hash suffixes, name references and vars are fixed, local-config objects dropped, and the
//! result sorted as `kubectl kustomize` sorts it.

use std::collections::HashSet;
use std::fmt::Write as _;

use rayon::prelude::*;
use serde_json::{Map, Value};

use super::decrypt::{self, Decrypt, Options};
use super::fieldspec::TransformerConfig;
use super::fs::{self, Entry, Files};
use super::generate::{self, Kind};
use super::kustomization::{FILE_NAMES, FieldError, Kustomization, SortOptions, Var};
use super::object::{ConfigName, Origin, Resource};
use super::{BUILD_ROOT, BUILD_ROOT_BY_LINK, DisplayPath, Error, nameref, order, replace, yaml};
use crate::object::describe;

/// The scope a kustomization's files must lie in, as errors name it.
fn own_dir(dir: &str) -> String {
    format!(
        "the kustomization's directory `{}`; kustomize's root-only load restriction forbids it",
        DisplayPath::new(dir)
    )
}

/// Renders the kustomization, or the plain manifest folder, at root-relative `dir`. Nothing is
/// decrypted: a SOPS-encrypted input fails the render (see [`render_with`]).
pub fn render(files: &dyn Files, dir: &str) -> Result<Vec<Value>, Error> {
    render_with(files, dir, &Options::default())
}

/// [`render`], with SOPS-encrypted inputs decrypted by `options.decrypt` where Flux's
/// kustomize-controller decrypts them (see [`super::decrypt`]).
pub fn render_with(
    files: &dyn Files,
    dir: &str,
    options: &Options<'_>,
) -> Result<Vec<Value>, Error> {
    let dir = match dir.trim_start_matches("./") {
        "." => "",
        d => d,
    };
    // A directory that is not there renders nothing, which would prune everything.
    if !dir.is_empty() && files.entry(dir) != Some(fs::Entry::Dir) {
        if let Some(link) = files.link_loop(dir) {
            return Err(Error::invalid(
                &link,
                "a symlink loop (its chain of targets comes back to itself); it cannot be read: point it at a file or directory",
            ));
        }
        return Err(Error::NoSuchPath {
            path: DisplayPath::new(dir),
        });
    }
    let mut b = Builder {
        files,
        decrypt: options.decryptor(),
        stack: Vec::new(),
        top: dir.to_owned(),
        origin_annotations: false,
        transformer_annotations: false,
        managed_by_label: false,
        by_config: None,
        top_file: None,
    };
    let (acc, sort) = match b.find_kustomization(dir)? {
        None => (b.plain_dir(dir)?, None),
        Some(kpath) => {
            let k = b.load_kustomization(&kpath)?;
            for m in &k.build_metadata {
                match m.as_str() {
                    "originAnnotations" => b.origin_annotations = true,
                    "transformerAnnotations" => b.transformer_annotations = true,
                    "managedByLabel" => b.managed_by_label = true,
                    other => {
                        return Err(Error::invalid(
                            &kpath,
                            format!(
                                "buildMetadata: unknown option `{other}` (expected originAnnotations, transformerAnnotations or managedByLabel)"
                            ),
                        ));
                    }
                }
            }
            check_sort_options(&kpath, k.sort_options.as_ref())?;
            b.top_file = Some(kpath.clone());
            let sort = k.sort_options.clone();
            // The top kustomization, read and parsed once (a large overlay's parse is costly).
            b.stack.push(dir.to_owned());
            let built = b.build_kustomization(dir, &kpath, &k, Acc::default());
            b.stack.pop();
            let mut acc = built?;
            printable(dir, &acc)?;
            // What kubectl holds once it has written each object as JSON and read it back,
            // before it hashes generated names.
            acc.resources.par_iter_mut().for_each(|r| {
                yaml::stringify_annotations(&mut r.value);
                yaml::as_kubectl_reads(&mut r.value);
            });
            (acc, sort)
        }
    };
    let mut objects = b.finish(acc, sort.as_ref())?;
    decrypt::finish(b.decrypt, dir, &mut objects)?;
    Ok(objects)
}

/// kustomize's checks of `sortOptions`: given, it needs `order` `legacy` or `fifo`, and
/// `legacySortOptions` only with `legacy`.
fn check_sort_options(kpath: &str, sort: Option<&SortOptions>) -> Result<(), Error> {
    let Some(s) = sort else {
        return Ok(());
    };
    match s.order.as_str() {
        "legacy" => Ok(()),
        "fifo" if s.legacy_sort_options.is_none() => Ok(()),
        "fifo" => Err(Error::invalid(
            kpath,
            "sortOptions: `legacySortOptions` is set but `order` is fifo, not legacy",
        )),
        other => Err(Error::invalid(
            kpath,
            format!("sortOptions.order is `{other}`: it must be `legacy` or `fifo`"),
        )),
    }
}

/// Refuses an object with a character kubectl kustomize cannot print (a plain folder is not
/// kustomize's, and any YAML reader takes it escaped).
fn printable(top: &str, acc: &Acc) -> Result<(), Error> {
    let Some((r, (field, c))) = acc
        .resources
        .par_iter()
        .find_map_first(|r| yaml::unprintable_character(&r.value).map(|found| (r, found)))
    else {
        return Ok(());
    };
    let from = match &r.origin {
        Some(Origin::File(f)) => format!(" (from {f})"),
        Some(Origin::Builtin {
            configured_in,
            kind,
            ..
        }) => {
            format!(" (from the {kind} of {configured_in})")
        }
        None => String::new(),
    };
    Err(Error::invalid(
        top,
        format!(
            "{}{from}: `{field}` holds U+{:04X}, which kubectl kustomize cannot print (a control character, or a line break in a key); leave it out of the text",
            describe(&r.value),
            u32::from(c)
        ),
    ))
}

pub(super) struct Builder<'a> {
    pub(super) files: &'a dyn Files,
    /// Decrypts SOPS-encrypted inputs (or refuses them, given no keys).
    pub(super) decrypt: &'a dyn Decrypt,
    /// Kustomization directories being built, outermost first (for cycle detection).
    stack: Vec<String>,
    top: String,
    origin_annotations: bool,
    pub(super) transformer_annotations: bool,
    managed_by_label: bool,
    /// While a `generators:`/`transformers:` config runs: where it was read from, and its name.
    by_config: Option<(String, ConfigName)>,
    /// The top kustomization file, which errors of the last steps name.
    top_file: Option<String>,
}

/// What a kustomization hands to the one that includes it.
#[derive(Default)]
pub(super) struct Acc {
    pub(super) resources: Vec<Resource>,
    /// Field specs from `configurations:` here and below, added to the defaults.
    pub(super) config: TransformerConfig,
    pub(super) vars: Vec<Var>,
    /// The current ids of `resources`, for the duplicate check; `None` after a transformer
    /// may have renamed something (rebuilt on the next add).
    pub(super) ids: Option<HashSet<IdKey>>,
}

/// What one `resources` entry (or one entry of a plain folder) gives, before it is added: a
/// manifest file's objects, or what a directory builds.
enum Loaded {
    Objects(String, Vec<Resource>),
    Built(Box<Acc>),
}

/// An id as the duplicate check compares it: group, kind, effective namespace, name.
type IdKey = (String, String, String, String);

pub(super) fn id_key(r: &Resource) -> IdKey {
    let id = r.current_ref();
    (
        id.group.to_owned(),
        id.kind.to_owned(),
        id.effective_namespace().to_owned(),
        id.name.to_owned(),
    )
}

fn is_remote(reference: &str) -> bool {
    reference.contains("://")
        || reference.starts_with("git@")
        || reference.contains("?ref=")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"]
            .iter()
            .any(|h| reference.starts_with(h))
}

fn field_error(kpath: &str, e: FieldError) -> Error {
    let path = DisplayPath::new(kpath);
    match e {
        FieldError::Unsupported { field, hint } => Error::Unsupported {
            path,
            field,
            hint: hint.to_owned(),
        },
        FieldError::Unknown { field } => Error::UnknownField { path, field },
        FieldError::Invalid { message } => Error::Invalid { path, message },
    }
}

impl<'a> Builder<'a> {
    /// A builder for one independent part of this build (a `resources` entry), run beside the
    /// others: the same files, options and stack of kustomizations being built.
    fn fork(&self) -> Builder<'a> {
        Builder {
            files: self.files,
            decrypt: self.decrypt,
            stack: self.stack.clone(),
            top: self.top.clone(),
            origin_annotations: self.origin_annotations,
            transformer_annotations: self.transformer_annotations,
            managed_by_label: self.managed_by_label,
            by_config: self.by_config.clone(),
            top_file: self.top_file.clone(),
        }
    }

    /// `load` on each item, in parallel on the available cores when there is more than one,
    /// the results in the items' order. Loading an item reads and builds only below it and
    /// changes nothing shared, so adding the results in order makes what one thread makes, and
    /// the first error in that order is the one a sequential build meets first.
    fn each<I, T>(
        &mut self,
        items: &[I],
        load: impl Fn(&mut Builder<'a>, &I) -> Result<T, Error> + Sync,
    ) -> Vec<Result<T, Error>>
    where
        I: Sync,
        T: Send,
    {
        if items.len() < 2 {
            return items.iter().map(|i| load(self, i)).collect();
        }
        let this = &*self;
        items
            .par_iter()
            .map(|i| load(&mut this.fork(), i))
            .collect()
    }

    fn find_kustomization(&self, dir: &str) -> Result<Option<String>, Error> {
        let found: Vec<String> = FILE_NAMES
            .iter()
            .filter_map(|n| fs::join(dir, n))
            .filter(|p| self.files.entry(p) == Some(Entry::File))
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.into_iter().next()),
            _ => Err(Error::invalid(
                dir,
                format!("more than one kustomization file: {}", found.join(", ")),
            )),
        }
    }

    pub(super) fn read(&self, path: &str) -> Result<Vec<u8>, Error> {
        self.files.read(path).map_err(|source| Error::Read {
            path: DisplayPath::new(path),
            source,
        })
    }

    pub(super) fn parse(path: &str, bytes: &[u8]) -> Result<Vec<Value>, Error> {
        yaml::parse_documents(bytes).map_err(|e| Error::Yaml {
            path: DisplayPath::new(path),
            line: e.line,
            column: e.column,
            message: e.message,
        })
    }

    /// Parses Kubernetes objects (manifests, strategic-merge patches): keys must be strings.
    pub(super) fn parse_objects(path: &str, bytes: &[u8]) -> Result<Vec<Value>, Error> {
        // Annotations as kustomize reads them in a manifest (a strategic-merge patch file is
        // read as one: a null annotation stays, as its text).
        yaml::parse_resources(bytes).map_err(|e| Error::Yaml {
            path: DisplayPath::new(path),
            line: e.line,
            column: e.column,
            message: e.message,
        })
    }

    fn load_kustomization(&self, kpath: &str) -> Result<Kustomization, Error> {
        let bytes = self.read(kpath)?;
        let mut docs = yaml::parse_kustomization(&bytes).map_err(|e| Error::Yaml {
            path: DisplayPath::new(kpath),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        let doc = match docs.len() {
            0 => {
                return Err(Error::invalid(
                    kpath,
                    "the kustomization file is empty (kustomize refuses it): list at least `resources`",
                ));
            }
            1 => docs.remove(0),
            _ => {
                return Err(Error::invalid(
                    kpath,
                    "a kustomization file holds one YAML document",
                ));
            }
        };
        Kustomization::from_value(doc).map_err(|e| field_error(kpath, e))
    }

    /// A path relative to the top kustomization, as kustomize writes it in origin annotations.
    pub(super) fn rel(&self, path: &str) -> String {
        let from: Vec<&str> = self.top.split('/').filter(|s| !s.is_empty()).collect();
        let to: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
        let mut parts: Vec<&str> = vec![".."; from.len() - common];
        parts.extend(&to[common..]);
        parts.join("/")
    }

    /// [`fs::join`], noted for the widening of `fledge build`'s root (see [`super::widen`]):
    /// `leaving` when a `None` fails the render at once with a "leaves the build root" error.
    pub(super) fn join(&self, dir: &str, reference: &str, leaving: bool) -> Option<String> {
        if let Some(w) = self.files.widening() {
            w.joined(dir, reference, leaving);
        }
        fs::join(dir, reference)
    }

    /// Resolves a file a kustomization names; it must lie within the kustomization's directory.
    pub(super) fn file_in(&self, dir: &str, kpath: &str, reference: &str) -> Result<String, Error> {
        if is_remote(reference) {
            return Err(Error::Remote {
                path: DisplayPath::new(kpath),
                reference: reference.to_owned(),
            });
        }
        let path = self
            .join(dir, reference, true)
            .ok_or_else(|| Error::OutsideRoot {
                path: DisplayPath::new(kpath),
                reference: reference.to_owned(),
                scope: BUILD_ROOT.into(),
            })?;
        if !self.files.really_within(&path, dir) {
            return Err(Error::OutsideRoot {
                path: DisplayPath::new(kpath),
                reference: reference.to_owned(),
                scope: own_dir(dir),
            });
        }
        match self.files.entry(&path) {
            Some(Entry::File) => Ok(path),
            Some(Entry::Dir) => Err(Error::invalid(
                kpath,
                format!("`{reference}` is a directory, not a file"),
            )),
            None => Err(self.missing(kpath, reference, Some(&path))),
        }
    }

    /// Loads the objects in a manifest file (`List` kinds expanded).
    fn load_objects(&self, path: &str) -> Result<Vec<Resource>, Error> {
        let bytes = self.read(path)?;
        let docs = Self::parse_objects(path, &bytes)?;
        let mut out = Vec::new();
        for doc in decrypt::objects(self.decrypt, path, &bytes, docs)? {
            self.expand_object(path, doc, &mut out)?;
        }
        Ok(out)
    }

    fn expand_object(&self, path: &str, doc: Value, out: &mut Vec<Resource>) -> Result<(), Error> {
        let Value::Object(map) = &doc else {
            return Err(Error::invalid(
                path,
                "expected a Kubernetes object (a YAML mapping)",
            ));
        };
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() {
            return Err(Error::invalid(
                path,
                format!("object without `kind`: {}", describe(&doc)),
            ));
        }
        if kind.ends_with("List")
            && let Some(items) = map.get("items").and_then(Value::as_array)
        {
            for item in items.clone() {
                self.expand_object(path, item, out)?;
            }
            return Ok(());
        }
        for field in ["name", "namespace"] {
            let v = &doc["metadata"][field];
            if !v.is_null() && !v.is_string() {
                // YAML reads `name: 123` or `name: true` as a number or a boolean; Kubernetes
                // wants a string.
                return Err(Error::invalid(
                    path,
                    format!(
                        "{kind} `metadata.{field}` is {v}, not a string: quote it (`{field}: \"{}\"`)",
                        v.to_string().trim_matches('"')
                    ),
                ));
            }
        }
        if doc["metadata"]["name"].as_str().is_none_or(str::is_empty) {
            return Err(Error::invalid(
                path,
                format!("{kind} without `metadata.name`"),
            ));
        }
        let mut r = Resource::new(doc);
        r.origin = Some(Origin::File(self.rel(path)));
        out.push(r);
        Ok(())
    }

    pub(super) fn add(acc: &mut Acc, r: Resource, path: &str) -> Result<(), Error> {
        let Acc { resources, ids, .. } = acc;
        let ids = ids.get_or_insert_with(|| resources.iter().map(id_key).collect());
        let key = id_key(&r);
        if ids.contains(&key) {
            let id = r.id();
            let existing = resources.iter().find(|e| e.id().same_as(&id));
            let other = match existing.and_then(|e| e.origin.as_ref()) {
                Some(Origin::File(f)) => f.clone(),
                Some(Origin::Builtin {
                    configured_in,
                    kind,
                    ..
                }) => format!("{kind} in {configured_in}"),
                None => "another resource".into(),
            };
            return Err(Error::Duplicate {
                path: DisplayPath::new(path),
                id: id.to_string(),
                other,
            });
        }
        ids.insert(key);
        resources.push(r);
        Ok(())
    }

    fn merge_acc(acc: &mut Acc, sub: Acc, path: &str) -> Result<(), Error> {
        for r in sub.resources {
            Self::add(acc, r, path)?;
        }
        acc.config
            .merge(&sub.config)
            .map_err(|m| Error::invalid(path, m))?;
        for v in sub.vars {
            add_var(acc, v, path)?;
        }
        Ok(())
    }

    /// The error for a reference `kpath` makes to `path`, where nothing usable is: it is (or
    /// lies below) a symlink loop, it leaves the root through a symlink, or it is missing.
    pub(super) fn missing(&self, kpath: &str, reference: &str, path: Option<&str>) -> Error {
        if let Some(link) = path.and_then(|p| self.files.link_loop(p)) {
            return Error::LinkLoop {
                path: DisplayPath::new(kpath),
                reference: reference.to_owned(),
                link: DisplayPath::new(&link),
            };
        }
        if path.is_some_and(|p| self.files.leaves_root(p)) {
            return Error::OutsideRoot {
                path: DisplayPath::new(kpath),
                reference: reference.to_owned(),
                scope: BUILD_ROOT_BY_LINK.into(),
            };
        }
        Error::Missing {
            path: DisplayPath::new(kpath),
            reference: reference.to_owned(),
        }
    }

    /// Every `*.yaml`/`*.yml` below `dir`, in path order (Flux's behaviour for plain folders),
    /// and each sub-directory with its own kustomization built as one, not descended into (as
    /// Flux's generator lists it: the `flux-system` directory of a bootstrap layout).
    fn plain_dir(&mut self, dir: &str) -> Result<Acc, Error> {
        let mut acc = Acc::default();
        let mut files = Vec::new();
        self.collect_yaml(dir, &mut files)?;
        let loaded = self.each(&files, |b, f| {
            if b.files.entry(f) == Some(Entry::Dir) {
                Ok(Loaded::Built(Box::new(b.build_dir(f, None)?)))
            } else {
                Ok(Loaded::Objects(f.clone(), b.load_objects(f)?))
            }
        });
        for (f, loaded) in files.iter().zip(loaded) {
            match loaded? {
                Loaded::Objects(_, objects) => {
                    for r in objects {
                        Self::add(&mut acc, r, f)?;
                    }
                }
                Loaded::Built(sub) => Self::merge_acc(&mut acc, *sub, f)?,
            }
        }
        Ok(acc)
    }

    fn collect_yaml(&self, dir: &str, out: &mut Vec<String>) -> Result<(), Error> {
        let names = self.files.list(dir).map_err(|source| Error::Read {
            path: DisplayPath::new(dir),
            source,
        })?;
        for name in names {
            if name.starts_with('.') {
                continue;
            }
            let path = fs::join(dir, &name).expect("a child name never leaves the root");
            match self.files.entry(&path) {
                Some(Entry::Dir) if self.find_kustomization(&path)?.is_some() => out.push(path),
                Some(Entry::Dir) => self.collect_yaml(&path, out)?,
                Some(Entry::File) if is_yaml_name(&name) => {
                    out.push(path);
                }
                // Said, not skipped: the folder's author meant it to be read.
                None if self.files.link_loop(&path).is_some() => {
                    return Err(Error::invalid(
                        &path,
                        "a symlink loop (its chain of targets comes back to itself); it cannot be read: point it at a file or directory",
                    ));
                }
                None if self.files.leaves_root(&path) => {
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

    fn build_dir(&mut self, dir: &str, component: Option<Acc>) -> Result<Acc, Error> {
        let kpath = self
            .find_kustomization(dir)?
            .ok_or_else(|| Error::NoKustomization {
                path: DisplayPath::new(dir),
            })?;
        if let Some(i) = self.stack.iter().position(|d| d == dir) {
            let mut chain: Vec<String> = self.stack[i..]
                .iter()
                .map(|d| DisplayPath::new(d).to_string())
                .collect();
            chain.push(DisplayPath::new(dir).to_string());
            return Err(Error::Cycle {
                path: DisplayPath::new(&kpath),
                chain: chain.join(" → "),
            });
        }
        let k = self.load_kustomization(&kpath)?;
        let is_component = component.is_some();
        if is_component && k.kind != "Component" {
            return Err(Error::invalid(
                &kpath,
                "listed under `components:` but its kind is not Component",
            ));
        }
        // A Component built as the entry is built as a kustomization, as kustomize does.
        if !is_component && k.kind == "Component" && !self.stack.is_empty() {
            return Err(Error::invalid(
                &kpath,
                "is a Component: list it under `components:`, not `resources:`",
            ));
        }
        self.stack.push(dir.to_owned());
        let result = self.build_kustomization(dir, &kpath, &k, component.unwrap_or_default());
        self.stack.pop();
        result
    }

    fn build_kustomization(
        &mut self,
        dir: &str,
        kpath: &str,
        k: &Kustomization,
        mut acc: Acc,
    ) -> Result<Acc, Error> {
        let entries: Vec<&String> = k.resources.iter().chain(&k.bases).collect();
        for loaded in self.each(&entries, |b, e| b.load_entry(dir, kpath, e)) {
            match loaded? {
                Loaded::Objects(path, objects) => {
                    for r in objects {
                        Self::add(&mut acc, r, &path)?;
                    }
                }
                Loaded::Built(sub) => Self::merge_acc(&mut acc, *sub, kpath)?,
            }
        }
        for c in &k.configurations {
            let path = self.file_in(dir, kpath, c)?;
            let bytes = self.read(&path)?;
            for doc in Self::parse(&path, &bytes)? {
                // kustomize takes a field left empty (`images:`) as no specs.
                let mut doc = doc;
                if let Value::Object(m) = &mut doc {
                    m.retain(|_, v| !v.is_null());
                }
                let tc: TransformerConfig = serde_json::from_value(doc).map_err(|e| {
                    Error::invalid(&path, format!("invalid transformer configuration: {e}"))
                })?;
                // Within one file too, as kustomize merges each into an empty set.
                TransformerConfig::default()
                    .merge(&tc)
                    .and_then(|()| acc.config.merge(&tc))
                    .map_err(|m| Error::invalid(&path, m))?;
            }
        }
        let global = k.generator_options.as_ref();
        for g in &k.config_map_generator {
            self.generate(&mut acc, dir, kpath, Kind::ConfigMap, g, global)?;
        }
        for g in &k.secret_generator {
            self.generate(&mut acc, dir, kpath, Kind::Secret, g, global)?;
        }
        for g in &k.generators {
            for (config, at) in self.plugin_configs(dir, kpath, g)? {
                self.with_config(&config, at, |b| {
                    b.run_generator_config(&mut acc, dir, kpath, &config)
                })?;
            }
        }
        for c in &k.components {
            let path = self.join(dir, c, true).ok_or_else(|| Error::OutsideRoot {
                path: DisplayPath::new(kpath),
                reference: c.clone(),
                scope: BUILD_ROOT.into(),
            })?;
            if self.files.entry(&path) != Some(Entry::Dir) {
                return Err(self.missing(kpath, c, Some(&path)));
            }
            acc = self.build_dir(&path, Some(acc))?;
        }
        self.builtin_transformers(&mut acc, dir, kpath, k)?;
        for t in &k.transformers {
            for (config, at) in self.plugin_configs(dir, kpath, t)? {
                self.with_config(&config, at, |b| {
                    b.run_transformer_config(&mut acc, dir, kpath, &config)
                })?;
            }
        }
        for v in &k.vars {
            tie_var(&mut acc, v, kpath)?;
            add_var(&mut acc, v.clone(), kpath)?;
        }
        Ok(acc)
    }

    /// Reads or builds one `resources` entry of the kustomization at `kpath`.
    fn load_entry(&mut self, dir: &str, kpath: &str, entry: &str) -> Result<Loaded, Error> {
        if is_remote(entry) {
            return Err(Error::Remote {
                path: DisplayPath::new(kpath),
                reference: entry.to_owned(),
            });
        }
        let path = self
            .join(dir, entry, true)
            .ok_or_else(|| Error::OutsideRoot {
                path: DisplayPath::new(kpath),
                reference: entry.to_owned(),
                scope: BUILD_ROOT.into(),
            })?;
        match self.files.entry(&path) {
            Some(Entry::File) => {
                if !self.files.really_within(&path, dir) {
                    return Err(Error::OutsideRoot {
                        path: DisplayPath::new(kpath),
                        reference: entry.to_owned(),
                        scope: own_dir(dir),
                    });
                }
                let objects = self.load_objects(&path)?;
                Ok(Loaded::Objects(path, objects))
            }
            Some(Entry::Dir) => Ok(Loaded::Built(Box::new(self.build_dir(&path, None)?))),
            None => Err(self.missing(kpath, entry, Some(&path))),
        }
    }

    /// Loads `transformers:`/`generators:` entries: a file, a kustomization directory whose
    /// output is the configs, or inline YAML; each config with where it was read from (relative
    /// to the top, as origin annotations name it).
    pub(super) fn plugin_configs(
        &mut self,
        dir: &str,
        kpath: &str,
        entry: &str,
    ) -> Result<Vec<(Value, String)>, Error> {
        let joined = self.join(dir, entry, false);
        let with =
            |docs: Vec<Value>, at: String| docs.into_iter().map(|d| (d, at.clone())).collect();
        if let Some(path) = &joined {
            match self.files.entry(path) {
                Some(Entry::File) => {
                    let path = self.file_in(dir, kpath, entry)?;
                    let bytes = self.read(&path)?;
                    return Ok(with(Self::parse(&path, &bytes)?, self.rel(&path)));
                }
                Some(Entry::Dir) => {
                    let sub = self.build_dir(path, None)?;
                    let here = self.rel(kpath);
                    return Ok(sub
                        .resources
                        .into_iter()
                        .map(|r| {
                            let at = match &r.origin {
                                Some(Origin::File(f)) => f.clone(),
                                Some(Origin::Builtin { configured_in, .. }) => {
                                    configured_in.clone()
                                }
                                None => here.clone(),
                            };
                            (r.value, at)
                        })
                        .collect());
                }
                None => {}
            }
        }
        if entry.contains('\n') || entry.contains(": ") {
            return Ok(with(Self::parse(kpath, entry.as_bytes())?, self.rel(kpath)));
        }
        Err(self.missing(kpath, entry, joined.as_deref()))
    }

    /// Runs `f` with the origin of generator or transformer config `config` (read from `at`)
    /// in force, so that what it makes or changes names that config.
    fn with_config<T>(
        &mut self,
        config: &Value,
        at: String,
        f: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
        self.by_config = Some((
            at,
            ConfigName {
                name: text(&config["metadata"]["name"]),
                namespace: text(&config["metadata"]["namespace"]),
            },
        ));
        let out = f(self);
        self.by_config = None;
        out
    }

    /// The origin a built-in generator or transformer `kind` configured in `kpath` records.
    pub(super) fn builtin_origin(&self, kpath: &str, kind: &str) -> Origin {
        match &self.by_config {
            Some((at, by)) => Origin::Builtin {
                configured_in: at.clone(),
                kind: kind.to_owned(),
                by: Some(by.clone()),
            },
            None => Origin::Builtin {
                configured_in: self.rel(kpath),
                kind: kind.to_owned(),
                by: None,
            },
        }
    }

    /// The top-level steps: hash suffixes, name references, vars, local configs, order.
    fn finish(&self, mut acc: Acc, sort: Option<&SortOptions>) -> Result<Vec<Value>, Error> {
        let top = self.top_file.clone().unwrap_or_else(|| self.top.clone());
        let config = Self::config(&acc).map_err(|m| Error::invalid(&top, m))?;
        for r in acc.resources.iter_mut().filter(|r| r.needs_hash) {
            let hash = generate::name_hash(&r.value);
            let name = format!("{}-{hash}", r.name());
            r.store_previous_id();
            r.set_name(&name);
        }
        nameref::fix(&mut acc.resources, &config.name_reference)
            .map_err(|m| Error::invalid(&top, m))?;
        replace::resolve_vars(&mut acc.resources, &acc.vars, &config.var_reference)
            .map_err(|m| Error::invalid(&top, m))?;
        for r in &mut acc.resources {
            yaml::stringify_annotations(&mut r.value);
        }
        acc.resources.retain(|r| {
            r.value["metadata"]["annotations"]["config.kubernetes.io/local-config"] != "true"
        });
        match sort {
            Some(s) if s.order == "fifo" => {}
            _ => {
                let legacy = sort.and_then(|s| s.legacy_sort_options.as_ref());
                order::legacy_sort(
                    &mut acc.resources,
                    legacy.map(|l| l.order_first.as_slice()),
                    legacy.map(|l| l.order_last.as_slice()),
                );
            }
        }
        Ok(acc
            .resources
            .into_iter()
            .map(|mut r| {
                self.annotate(&mut r);
                r.value
            })
            .collect())
    }

    fn annotate(&self, r: &mut Resource) {
        let origin = r.origin.clone();
        let transformations = std::mem::take(&mut r.transformations);
        let meta = r.metadata_mut();
        if self.origin_annotations
            && let Some(o) = origin
        {
            let text = match &o {
                Origin::File(path) => format!("path: {path}\n"),
                Origin::Builtin { .. } => origin_text(&o, ""),
            };
            insert_annotation(meta, "config.kubernetes.io/origin", text);
        }
        if self.transformer_annotations && !transformations.is_empty() {
            let mut text = String::new();
            for t in &transformations {
                if matches!(t, Origin::Builtin { .. }) {
                    let body = origin_text(t, "  ");
                    text.push_str("- ");
                    text.push_str(&body[2..]);
                }
            }
            insert_annotation(meta, "alpha.config.kubernetes.io/transformations", text);
        }
        if self.managed_by_label {
            let labels = meta
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(l) = labels {
                l.insert(
                    "app.kubernetes.io/managed-by".into(),
                    Value::String(format!("fledge-v{}", env!("CARGO_PKG_VERSION"))),
                );
            }
        }
    }
}

/// A built-in origin as kustomize writes it (`configuredIn`, then `configuredBy` with the
/// config object's name and namespace when it has them), each line indented by `pad`.
fn origin_text(o: &Origin, pad: &str) -> String {
    let Origin::Builtin {
        configured_in,
        kind,
        by,
    } = o
    else {
        return String::new();
    };
    let mut text = format!(
        "{pad}configuredIn: {configured_in}\n{pad}configuredBy:\n{pad}  apiVersion: builtin\n{pad}  kind: {kind}\n"
    );
    if let Some(by) = by {
        for (k, v) in [("name", &by.name), ("namespace", &by.namespace)] {
            if !v.is_empty() {
                let _ = writeln!(text, "{pad}  {k}: {v}");
            }
        }
    }
    text
}

/// Patches and replacements can replace a whole document; what comes out must still be an
/// object with a kind and a name.
pub(super) fn ensure_objects(rs: &[Resource]) -> Result<(), String> {
    for r in rs {
        if !r.value.is_object() {
            return Err(format!(
                "a change turned {} into something that is not an object",
                r.original_id()
            ));
        }
        if r.kind().is_empty() || r.name().is_empty() {
            return Err(format!(
                "a change removed the kind or name of {}",
                r.original_id()
            ));
        }
    }
    Ok(())
}

fn is_yaml_name(name: &str) -> bool {
    std::path::Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

fn insert_annotation(meta: &mut Map<String, Value>, key: &str, text: String) {
    let ann = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(a) = ann {
        a.insert(key.into(), Value::String(text));
    }
}

/// Ties a var to the one object it names (by any id the object has had), as kustomize's
/// `MergeVars` does where the var is declared: the value is read from that object at the end.
fn tie_var(acc: &mut Acc, v: &Var, path: &str) -> Result<(), Error> {
    let o = &v.objref;
    let gvk = o.gvk();
    let ns = if o.namespace.is_empty() {
        None
    } else {
        Some(o.namespace.as_str())
    };
    let names = |id: super::object::IdRef<'_>| {
        id.group == gvk.group
            && id.version == gvk.version
            && id.kind == gvk.kind
            && id.name == o.name
            && ns.is_none_or(|ns| id.effective_namespace() == ns)
    };
    let matched: Vec<usize> = (0..acc.resources.len())
        .filter(|&i| acc.resources[i].id_refs().any(names))
        .collect();
    match matched.as_slice() {
        [] => Ok(()),
        [i] => {
            acc.resources[*i].ref_vars.push(v.name.clone());
            Ok(())
        }
        more => Err(Error::invalid(
            path,
            format!(
                "var `{}`: {} objects are {} {} (kustomize cannot tell which); give `objref.namespace`",
                v.name,
                more.len(),
                o.kind,
                o.name
            ),
        )),
    }
}

fn add_var(acc: &mut Acc, v: Var, path: &str) -> Result<(), Error> {
    if acc.vars.iter().any(|x| x.name == v.name) {
        return Err(Error::invalid(
            path,
            format!("var `{}` is declared twice", v.name),
        ));
    }
    acc.vars.push(v);
    Ok(())
}
