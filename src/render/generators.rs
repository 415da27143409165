//! ConfigMap and Secret generators inside a build: generating, and absorbing the result into
//! what the kustomization has accumulated (`behavior: create | merge | replace`).

use serde_json::{Map, Value};

use super::Error;
use super::build::{Acc, Builder};
use super::decrypt;
use super::generate::{self, Kind};
use super::kustomization::{GeneratorArgs, GeneratorOptions};
use super::object::{Origin, Resource};
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
        r.origin = Some(Origin::Builtin {
            configured_in: self.rel(kpath),
            kind: plugin.into(),
        });
        let behavior = if args.behavior.is_empty() {
            "create"
        } else {
            args.behavior.as_str()
        };
        if behavior == "create" {
            return Self::add(acc, r, kpath);
        }
        let i = Self::the_generated(acc, &r, kpath, plugin, &args.name, behavior)?;
        let existing = &mut acc.resources[i];
        match behavior {
            "merge" => {
                for field in ["data", "binaryData"] {
                    if let Some(Value::Object(new)) = r.value.get(field) {
                        let target = existing
                            .value
                            .as_object_mut()
                            .expect("resources are objects")
                            .entry(field)
                            .or_insert_with(|| Value::Object(Map::new()));
                        if let Value::Object(t) = target {
                            t.extend(new.clone());
                        }
                    }
                }
            }
            "replace" => {
                let obj = existing
                    .value
                    .as_object_mut()
                    .expect("resources are objects");
                for field in ["data", "binaryData"] {
                    match r.value.get(field) {
                        Some(v) => obj.insert(field.into(), v.clone()),
                        None => obj.remove(field),
                    };
                }
            }
            other => {
                return Err(Error::invalid(
                    kpath,
                    format!(
                        "{plugin} `{}`: behavior `{other}` is not one of create, merge, replace",
                        args.name
                    ),
                ));
            }
        }
        existing.needs_hash = needs_hash;
        for field in ["labels", "annotations"] {
            let new = r.meta_map(field);
            if !new.is_empty() {
                let meta = existing.metadata_mut();
                let m = meta
                    .entry(field)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = m {
                    m.extend(new);
                }
            }
        }
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
            .filter(|(_, e)| {
                e.all_ids().iter().any(|id| {
                    id.gvk.kind == new_id.gvk.kind
                        && id.name == new_id.name
                        && (new_id.namespace.is_empty()
                            || id.effective_namespace() == new_id.effective_namespace())
                })
            })
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
