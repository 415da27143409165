//! The built-in transformers: namespace, name prefix and suffix, labels, annotations, images,
//! replicas and value-add. Each changes the objects in place through field specs.

use std::collections::HashMap;

use serde_json::Value;

use super::fieldspec::{Create, FieldSpec, at, split_path, visit};
use super::object::Resource;

/// Runs `f` on every field a spec list reaches in `r`.
fn for_specs(
    r: &mut Resource,
    specs: &[FieldSpec],
    create: Create,
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    let gvk = r.gvk();
    let id = r.id();
    for spec in specs.iter().filter(|s| s.selects(&gvk)) {
        visit(
            &mut r.value,
            spec.segments(),
            spec.create.then_some(create),
            f,
        )
        .map_err(at(&id, spec))?;
    }
    Ok(())
}

/// Adds string pairs to every map the specs reach (labels, annotations, selectors).
pub(crate) fn add_pairs(
    resources: &mut [Resource],
    pairs: &[(String, String)],
    specs: &[FieldSpec],
) -> Result<(), String> {
    if pairs.is_empty() {
        return Ok(());
    }
    for r in resources {
        let desc = r.id().to_string();
        for_specs(r, specs, Create::Map, &mut |v| match v {
            Value::Object(m) => {
                for (k, val) in pairs {
                    m.insert(k.clone(), Value::String(val.clone()));
                }
                Ok(())
            }
            other => Err(format!("{desc}: expected a map, found {other}")),
        })?;
    }
    Ok(())
}

/// The namespace transformer: moves every namespaced object, fixes `RoleBinding` subjects named
/// `default`, and sets the extra namespace fields of the spec list.
pub(crate) fn namespace(
    resources: &mut [Resource],
    ns: &str,
    specs: &[FieldSpec],
) -> Result<(), String> {
    for r in resources {
        let gvk = r.gvk();
        r.store_previous_id();
        if gvk.is_namespaced() {
            r.set_namespace(ns);
        }
        if matches!(gvk.kind.as_str(), "RoleBinding" | "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = r.value.get_mut("subjects")
        {
            for s in subjects.iter_mut().filter(|s| s["name"] == "default") {
                if let Some(m) = s.as_object_mut() {
                    m.insert("namespace".into(), Value::String(ns.into()));
                }
            }
        }
        for spec in specs.iter().filter(|s| s.selects(&gvk)) {
            if spec.path == "metadata/namespace" {
                continue;
            }
            if spec.path == "metadata/name" {
                // Only a core `v1` object's name is the namespace (kustomize's rule): a
                // `Namespace` of another group keeps its name.
                if r.value["apiVersion"] == "v1" {
                    r.set_name(ns);
                }
                continue;
            }
            let segs = spec.segments();
            let id = r.id();
            visit(
                &mut r.value,
                segs,
                spec.create.then_some(Create::Scalar),
                &mut |v| {
                    *v = Value::String(ns.into());
                    Ok(())
                },
            )
            .map_err(at(&id, spec))?;
        }
    }
    Ok(())
}

/// Kinds whose names a prefix or suffix never changes.
fn keeps_name(r: &Resource) -> bool {
    let gvk = r.gvk();
    gvk.kind == "CustomResourceDefinition"
        || gvk.kind == "Namespace"
        || (gvk.kind == "APIService" && gvk.group == "apiregistration.k8s.io")
}

/// Adds a name prefix and/or suffix.
pub(crate) fn prefix_suffix(
    resources: &mut [Resource],
    prefix: &str,
    suffix: &str,
    specs: &[FieldSpec],
) -> Result<(), String> {
    if prefix.is_empty() && suffix.is_empty() {
        return Ok(());
    }
    for r in resources.iter_mut().filter(|r| !keeps_name(r)) {
        let gvk = r.gvk();
        for spec in specs.iter().filter(|s| s.selects(&gvk)) {
            if spec.path == "metadata/name" {
                let name = format!("{prefix}{}{suffix}", r.name());
                r.store_previous_id();
                r.set_name(&name);
                if !prefix.is_empty() {
                    r.prefixes.push(prefix.to_owned());
                }
                if !suffix.is_empty() {
                    r.suffixes.push(suffix.to_owned());
                }
            } else {
                let id = r.id();
                let create = spec.create.then_some(Create::Scalar);
                visit(&mut r.value, spec.segments(), create, &mut |v| {
                    match v {
                        Value::String(s) => *s = format!("{prefix}{s}{suffix}"),
                        // A field the spec created.
                        Value::Null => *v = Value::String(format!("{prefix}{suffix}")),
                        _ => {}
                    }
                    Ok(())
                })
                .map_err(at(&id, spec))?;
            }
        }
    }
    Ok(())
}

/// Sets `spec.replicas` (or the configured fields) of the objects with this name.
pub(crate) fn replicas(
    resources: &mut [Resource],
    name: &str,
    count: i64,
    specs: &[FieldSpec],
) -> Result<(), String> {
    // kustomize refuses an entry that names no object of a kind its specs cover.
    let covered = resources.iter().any(|r| {
        r.all_ids()
            .iter()
            .any(|id| id.name == name && specs.iter().any(|s| s.selects(&id.gvk)))
    });
    if !covered {
        let kinds: Vec<&str> = specs.iter().map(|s| s.kind.as_str()).collect();
        return Err(format!(
            "replicas: no {} named `{name}` (kustomize refuses an entry that matches nothing)",
            kinds.join(", ")
        ));
    }
    for r in resources
        .iter_mut()
        .filter(|r| r.all_ids().iter().any(|id| id.name == name))
    {
        for_specs(r, specs, Create::Scalar, &mut |v| {
            *v = Value::from(count);
            Ok(())
        })?;
    }
    Ok(())
}

/// An `images` entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImageRule {
    pub name: String,
    pub new_name: String,
    pub new_tag: String,
    pub digest: String,
}

/// Splits `registry:5000/app:tag@sha256:…` into name, tag and digest.
fn split_image(image: &str) -> (&str, &str, &str) {
    let (rest, digest) = image.split_once('@').unwrap_or((image, ""));
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].find(':') {
        Some(i) => (&rest[..slash + i], &rest[slash + i + 1..], digest),
        None => (rest, "", digest),
    }
}

impl ImageRule {
    /// The new image string, or `None` when this rule does not apply to `image`.
    #[must_use]
    pub(crate) fn apply(&self, image: &str) -> Option<String> {
        let (name, tag, digest) = split_image(image);
        if name != self.name {
            return None;
        }
        let name = if self.new_name.is_empty() {
            name
        } else {
            &self.new_name
        };
        let (tag, digest) = match (self.new_tag.is_empty(), self.digest.is_empty()) {
            (false, false) => (self.new_tag.as_str(), self.digest.as_str()),
            (false, true) => (self.new_tag.as_str(), ""),
            (true, false) => ("", self.digest.as_str()),
            (true, true) => (tag, digest),
        };
        let mut out = name.to_owned();
        if !tag.is_empty() {
            out.push(':');
            out.push_str(tag);
        }
        if !digest.is_empty() {
            out.push('@');
            out.push_str(digest);
        }
        Some(out)
    }
}

/// Rules in order, indexed by the image name they match.
struct ImageRules<'r> {
    rules: &'r [ImageRule],
    by_name: HashMap<&'r str, Vec<usize>>,
}

impl<'r> ImageRules<'r> {
    fn new(rules: &'r [ImageRule]) -> Self {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            by_name.entry(r.name.as_str()).or_default().push(i);
        }
        Self { rules, by_name }
    }

    /// Applies every rule in order, as running them one after another would (a rule may
    /// rename an image so that a later rule matches it).
    fn rewrite(&self, image: &mut String) {
        let mut next = 0;
        loop {
            let (name, _, _) = split_image(image);
            let Some(&i) = self
                .by_name
                .get(name)
                .and_then(|ids| ids.iter().find(|&&i| i >= next))
            else {
                return;
            };
            if let Some(new) = self.rules[i].apply(image) {
                *image = new;
            }
            next = i + 1;
        }
    }
}

fn set_images_in_containers(v: &mut Value, rules: &ImageRules<'_>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if (k == "containers" || k == "initContainers") && child.is_array() {
                    for c in child.as_array_mut().into_iter().flatten() {
                        if let Some(Value::String(img)) = c.get_mut("image") {
                            rules.rewrite(img);
                        }
                    }
                }
                set_images_in_containers(child, rules);
            }
        }
        Value::Array(items) => {
            for item in items {
                set_images_in_containers(item, rules);
            }
        }
        _ => {}
    }
}

/// Rewrites images: every `containers`/`initContainers` list anywhere in an object (kustomize's
/// legacy behaviour, which covers custom resources that embed pod specs), plus the spec list.
/// The rules apply in order, each to the result of the ones before.
pub(crate) fn images(
    resources: &mut [Resource],
    rules: &[ImageRule],
    specs: &[FieldSpec],
) -> Result<(), String> {
    if rules.is_empty() {
        return Ok(());
    }
    let rules = ImageRules::new(rules);
    for r in resources {
        set_images_in_containers(&mut r.value, &rules);
        let gvk = r.gvk();
        let id = r.id();
        for spec in specs.iter().filter(|s| s.selects(&gvk)) {
            visit(&mut r.value, spec.segments(), None, &mut |v| {
                if let Value::String(img) = v {
                    rules.rewrite(img);
                }
                Ok(())
            })
            .map_err(at(&id, spec))?;
        }
    }
    Ok(())
}

/// kustomize's `ValueAddTransformer`: puts a value into a field, or into one position of a
/// `/`-separated path held in that field.
pub(crate) fn value_add(
    resources: &mut [Resource],
    value: &str,
    field_path: &str,
    position: Option<usize>,
    selected: &dyn Fn(&Resource) -> bool,
) -> Result<(), String> {
    let segs = split_path(field_path);
    let is_namespace = field_path == "metadata/namespace";
    for r in resources.iter_mut().filter(|r| selected(r)) {
        if is_namespace && !r.gvk().is_namespaced() {
            continue;
        }
        visit(&mut r.value, &segs, Some(Create::Scalar), &mut |v| {
            let new = match (position, v.as_str()) {
                (Some(pos), Some(existing)) if !existing.is_empty() => {
                    let mut parts: Vec<&str> = existing.split('/').collect();
                    let at = pos.saturating_sub(1).min(parts.len());
                    parts.insert(at, value);
                    parts.join("/")
                }
                _ => value.to_owned(),
            };
            *v = Value::String(new);
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
