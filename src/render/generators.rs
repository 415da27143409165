//! ConfigMap and Secret generators inside a build: generating, and absorbing the result into
//! what the kustomization has accumulated (`behavior: create | merge | replace`).

use serde_json::{Map, Value};

use super::Error;
use super::build::{Acc, Builder};
use super::decrypt;
use super::generate::{self, Kind};
use super::kustomization::{GeneratorArgs, GeneratorOptions};
use super::object::Resource;
use crate::sops::Format;

/// A generator's files, read (and, for a secretGenerator, decrypted) through the build.
struct Src<'b, 'c> {
    b: &'b Builder<'c>,
    dir: &'b str,
    kpath: &'b str,
    /// Flux decrypts the sources of secretGenerator entries only.
    secret: bool,
}
impl generate::Source for Src<'_, '_> {
    fn read(&self, reference: &str) -> Result<Vec<u8>, String> {
        let path = self
            .b
            .file_in(self.dir, self.kpath, reference)
            .map_err(|e| e.to_string())?;
        self.b.read(&path).map_err(|e| e.to_string())
    }

    fn read_as(&self, reference: &str, format: Format) -> Result<Vec<u8>, String> {
        let bytes = self.read(reference)?;
        if !self.secret {
            return Ok(bytes);
        }
        let path = self
            .b
            .file_in(self.dir, self.kpath, reference)
            .map_err(|e| e.to_string())?;
        decrypt::file(self.b.decrypt, &path, bytes, format).map_err(|e| e.to_string())
    }
}

impl Builder<'_> {
    pub(super) fn generate(
        &self,
        acc: &mut Acc,
        dir: &str,
        kpath: &str,
        kind: Kind,
        args: &GeneratorArgs,
        global: Option<&GeneratorOptions>,
    ) -> Result<(), Error> {
        let plugin = match kind {
            Kind::ConfigMap => "ConfigMapGenerator",
            Kind::Secret => "SecretGenerator",
        };
        let (obj, needs_hash) = generate::generate(
            kind,
            args,
            global,
            &Src {
                b: self,
                dir,
                kpath,
                secret: kind == Kind::Secret,
            },
        )
        .map_err(|m| Error::invalid(kpath, format!("{plugin} `{}`: {m}", args.name)))?;
        let mut r = Resource::new(obj);
        r.needs_hash = needs_hash;
        r.origin = Some(self.builtin_origin(kpath, plugin));
        let behavior = if args.behavior.is_empty() {
            "create"
        } else {
            args.behavior.as_str()
        };
        if behavior == "create" {
            return Self::add(acc, r, kpath);
        }
        if !matches!(behavior, "merge" | "replace") {
            return Err(Error::invalid(
                kpath,
                format!(
                    "{plugin} `{}`: behavior `{behavior}` is not one of create, merge, replace",
                    args.name
                ),
            ));
        }
        let i = Self::the_generated(acc, &r, kpath, plugin, &args.name, behavior)?;
        merge_generated(&mut acc.resources[i], r, behavior == "merge");
        Ok(())
    }

    /// The one accumulated object a `merge` or `replace` generator changes.
    fn the_generated(
        acc: &Acc,
        r: &Resource,
        kpath: &str,
        plugin: &str,
        name: &str,
        behavior: &str,
    ) -> Result<usize, Error> {
        let new_id = r.id();
        let found: Vec<usize> = acc
            .resources
            .iter()
            .enumerate()
            // kustomize's `Equals` on any id the object has had: group, version, kind, name
            // and effective namespace.
            .filter(|(_, e)| e.all_ids().iter().any(|id| id.same_as(&new_id)))
            .map(|(i, _)| i)
            .collect();
        match found.as_slice() {
            [i] => Ok(*i),
            [] => Err(Error::invalid(
                kpath,
                format!(
                    "{plugin} `{name}` has behavior `{behavior}` but there is no {} `{name}` to {behavior}",
                    new_id.gvk.kind
                ),
            )),
            many => {
                let ids: Vec<String> = many
                    .iter()
                    .map(|&i| acc.resources[i].id().to_string())
                    .collect();
                Err(Error::invalid(
                    kpath,
                    format!(
                        "{plugin} `{name}` with behavior `{behavior}` matches more than one object: {}; set its namespace or merge in each variant",
                        ids.join(", ")
                    ),
                ))
            }
        }
    }
}

/// kustomize's `appendReplaceOrMerge`: the generated object `new` takes the place of `old`,
/// with `old`'s name, namespace and history; labels and annotations are merged (the new win),
/// and with `merge` the data too. The name hash stays only when both asked for one; the origin
/// is the new generator's for `replace`, the old object's for `merge`.
fn merge_generated(old: &mut Resource, mut new: Resource, merge: bool) {
    let mut fields = vec!["labels", "annotations"];
    if merge {
        fields.extend(["data", "binaryData"]);
    }
    for field in fields {
        let from_old = if matches!(field, "labels" | "annotations") {
            old.meta_map(field)
        } else {
            old.value[field].as_object().cloned().unwrap_or_default()
        };
        if from_old.is_empty() {
            continue;
        }
        let holder = if matches!(field, "labels" | "annotations") {
            new.metadata_mut()
        } else {
            new.value
                .as_object_mut()
                .expect("generated objects are objects")
        };
        let slot = holder
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = slot {
            let mut merged = from_old;
            merged.extend(std::mem::take(m));
            *m = merged;
        }
    }
    let name = old.name().to_owned();
    let namespace = old.namespace().to_owned();
    new.set_name(&name);
    if namespace.is_empty() {
        new.metadata_mut().remove("namespace");
    } else {
        new.set_namespace(&namespace);
    }
    new.needs_hash = old.needs_hash && new.needs_hash;
    new.prev_ids = std::mem::take(&mut old.prev_ids);
    new.prefixes = std::mem::take(&mut old.prefixes);
    new.suffixes = std::mem::take(&mut old.suffixes);
    new.ref_vars = std::mem::take(&mut old.ref_vars);
    new.transformations = std::mem::take(&mut old.transformations);
    if merge {
        new.origin = old.origin.take();
    }
    *old = new;
}
