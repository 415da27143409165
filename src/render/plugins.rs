//! `transformers:` and `generators:` entries: kustomize's builtin plugin configs
//! (`apiVersion: builtin`), run with the same code as the kustomization fields they mirror.
//! Exec, container and Go plugins are refused.

use serde_json::Value;

use super::build::{Acc, Builder};
use super::fieldspec::FieldSpec;
use super::generate::Kind;
use super::kustomization::{GeneratorArgs, PatchEntry, Selector, scalar_string, string_map};
use super::patch::apply_untargeted_smp;
use super::replace;
use super::selector::Matcher;
use super::transform::{self, ImageRule};
use super::{DisplayPath, Error};

impl Builder<'_> {
    pub(super) fn run_generator_config(
        &self,
        acc: &mut Acc,
        dir: &str,
        kpath: &str,
        config: &Value,
    ) -> Result<(), Error> {
        let kind = config["kind"].as_str().unwrap_or("");
        check_builtin(kpath, config)?;
        let gen_kind = match kind {
            "ConfigMapGenerator" => Kind::ConfigMap,
            "SecretGenerator" => Kind::Secret,
            other => {
                return Err(Error::Unsupported {
                    path: DisplayPath::new(kpath),
                    field: format!("generators ({other})"),
                    hint: "only the builtin ConfigMapGenerator and SecretGenerator are supported"
                        .into(),
                });
            }
        };
        let mut fields = config.as_object().cloned().unwrap_or_default();
        let meta = fields.remove("metadata").unwrap_or(Value::Null);
        fields.remove("apiVersion");
        fields.remove("kind");
        // kustomize's generator plugins take the inline `name` and `namespace` first and fall
        // back to the config's own metadata.
        for field in ["name", "namespace"] {
            if fields
                .get(field)
                .is_none_or(|v| v.as_str().is_none_or(str::is_empty))
                && let Some(v) = meta.get(field)
            {
                fields.insert(field.into(), v.clone());
            }
        }
        let args: GeneratorArgs = serde_json::from_value(Value::Object(fields))
            .map_err(|e| Error::invalid(kpath, format!("{kind}: {e}")))?;
        self.generate(acc, dir, kpath, gen_kind, &args, None)
    }

    pub(super) fn run_transformer_config(
        &mut self,
        acc: &mut Acc,
        dir: &str,
        kpath: &str,
        config: &Value,
    ) -> Result<(), Error> {
        check_builtin(kpath, config)?;
        let kind = config["kind"].as_str().unwrap_or("").to_owned();
        let specs = |field: &str| -> Result<Vec<FieldSpec>, Error> {
            match config.get(field) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(v) => serde_json::from_value(v.clone())
                    .map_err(|e| Error::invalid(kpath, format!("{kind}.{field}: {e}"))),
            }
        };
        let map = |field: &str| -> Vec<(String, String)> {
            config
                .get(field)
                .and_then(Value::as_object)
                .map(string_map)
                .unwrap_or_default()
        };
        let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
        match kind.as_str() {
            "AnnotationsTransformer" => {
                let (pairs, fs) = (map("annotations"), specs("fieldSpecs")?);
                self.tracked(acc, kpath, &kind, |rs| {
                    transform::add_pairs(rs, &pairs, &fs)
                })
            }
            "LabelTransformer" => {
                let (pairs, fs) = (map("labels"), specs("fieldSpecs")?);
                self.tracked(acc, kpath, &kind, |rs| {
                    transform::add_pairs(rs, &pairs, &fs)
                })
            }
            "NamespaceTransformer" => {
                let ns = s(&config["metadata"]["namespace"]);
                let fs = specs("fieldSpecs")?;
                self.tracked(acc, kpath, &kind, |rs| transform::namespace(rs, &ns, &fs))
            }
            "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
                let (p, sfx) = (s(&config["prefix"]), s(&config["suffix"]));
                let fs = specs("fieldSpecs")?;
                self.tracked(acc, kpath, &kind, |rs| {
                    transform::prefix_suffix(rs, &p, &sfx, &fs)
                })
            }
            "ImageTagTransformer" => {
                let t = &config["imageTag"];
                let rule = ImageRule {
                    name: s(&t["name"]),
                    new_name: s(&t["newName"]),
                    new_tag: scalar_string(&t["newTag"]),
                    digest: s(&t["digest"]),
                };
                let fs = specs("fieldSpecs")?;
                self.tracked(acc, kpath, &kind, |rs| {
                    transform::images(rs, std::slice::from_ref(&rule), &fs)
                })
            }
            "ReplicaCountTransformer" => {
                let r = &config["replica"];
                let (name, count) = (s(&r["name"]), r["count"].as_i64().unwrap_or(0));
                let fs = specs("fieldSpecs")?;
                self.tracked(acc, kpath, &kind, |rs| {
                    transform::replicas(rs, &name, count, &fs)
                })
            }
            "PatchTransformer" | "PatchJson6902Transformer" => {
                self.patch_transformer(acc, dir, kpath, &kind, config)
            }
            "PatchStrategicMergeTransformer" => self.smp_transformer(acc, dir, kpath, config),
            "ReplacementTransformer" => {
                let entries: Vec<Value> = config["replacements"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let specs = self.replacement_specs(dir, kpath, &entries)?;
                self.tracked(acc, kpath, &kind, |rs| {
                    for spec in &specs {
                        replace::replacement(rs, spec)?;
                    }
                    Ok(())
                })
            }
            "ValueAddTransformer" => self.value_add_transformer(acc, dir, kpath, config),
            other => Err(Error::Unsupported {
                path: DisplayPath::new(kpath),
                field: format!("transformers ({other})"),
                hint: "only kustomize's builtin transformers are supported; plugins are not".into(),
            }),
        }
    }

    /// A `PatchTransformer` or `PatchJson6902Transformer` config: one patch entry.
    fn patch_transformer(
        &mut self,
        acc: &mut Acc,
        dir: &str,
        kpath: &str,
        kind: &str,
        config: &Value,
    ) -> Result<(), Error> {
        let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
        let json_only = kind == "PatchJson6902Transformer";
        let entry = PatchEntry {
            path: config.get("path").map(text),
            patch: config
                .get(if json_only { "jsonOp" } else { "patch" })
                .map(text),
            target: config
                .get("target")
                .map(|t| serde_json::from_value(t.clone()))
                .transpose()
                .map_err(|e| Error::invalid(kpath, format!("{kind}.target: {e}")))?,
            options: config
                .get("options")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        };
        self.apply_patch_entry(acc, dir, kpath, &entry, json_only, &mut None)?;
        Self::check_unique(acc, kpath, kind)
    }

    /// A `PatchStrategicMergeTransformer` config: its `paths` and inline `patches`, in order.
    fn smp_transformer(
        &mut self,
        acc: &mut Acc,
        dir: &str,
        kpath: &str,
        config: &Value,
    ) -> Result<(), Error> {
        const KIND: &str = "PatchStrategicMergeTransformer";
        let mut patches = Vec::new();
        for p in config["paths"].as_array().into_iter().flatten() {
            patches.extend(self.smp_patches(dir, kpath, p.as_str().unwrap_or(""))?);
        }
        if let Some(inline) = config.get("patches").and_then(Value::as_str) {
            let docs = Self::parse_objects(kpath, inline.as_bytes())?;
            patches.extend(
                docs.into_iter()
                    .map(|d| (format!("{} (inline patch)", DisplayPath::new(kpath)), d)),
            );
        }
        self.tracked(acc, kpath, KIND, |rs| {
            let mut lookup = None;
            for (source, p) in &patches {
                apply_untargeted_smp(rs, &mut lookup, p).map_err(|m| format!("{source}: {m}"))?;
            }
            Ok(())
        })
    }

    /// A `ValueAddTransformer` config: its value (or the directory's name) at each target.
    fn value_add_transformer(
        &mut self,
        acc: &mut Acc,
        dir: &str,
        kpath: &str,
        config: &Value,
    ) -> Result<(), Error> {
        const KIND: &str = "ValueAddTransformer";
        let value = match config.get("value").and_then(Value::as_str) {
            Some(v) => v.to_owned(),
            None => dir.rsplit('/').next().unwrap_or(dir).to_owned(),
        };
        for t in config["targets"].as_array().into_iter().flatten() {
            let selector: Option<Selector> = t
                .get("selector")
                .map(|v| serde_json::from_value(v.clone()))
                .transpose()
                .map_err(|e| {
                    Error::invalid(kpath, format!("ValueAddTransformer.targets.selector: {e}"))
                })?;
            let matcher = selector
                .as_ref()
                .map(Matcher::new)
                .transpose()
                .map_err(|m| Error::invalid(kpath, m))?;
            let field = t["fieldPath"].as_str().unwrap_or("").to_owned();
            let position = t["filePathPosition"]
                .as_u64()
                .and_then(|p| usize::try_from(p).ok());
            self.tracked(acc, kpath, KIND, |rs| {
                transform::value_add(rs, &value, &field, position, &|r| {
                    matcher.as_ref().is_none_or(|m| m.matches(r))
                })
            })?;
        }
        Ok(())
    }
}

fn check_builtin(kpath: &str, config: &Value) -> Result<(), Error> {
    let api = config["apiVersion"].as_str().unwrap_or("");
    if api == "builtin" {
        return Ok(());
    }
    Err(Error::Unsupported {
        path: DisplayPath::new(kpath),
        field: format!(
            "plugin {} {}",
            api,
            config["kind"].as_str().unwrap_or("<no kind>")
        ),
        hint: "exec, container and Go plugins are not supported; use apiVersion: builtin configs"
            .into(),
    })
}
