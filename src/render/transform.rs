//! The built-in transformers: namespace, name prefix and suffix, labels, annotations, images,
//! replicas and value-add. Each changes the objects in place through field specs.

use serde_json::Value;

use super::fieldspec::{Create, FieldSpec, split_path, visit};
use super::object::Resource;

/// Runs `f` on every field a spec list reaches in `r`.
fn for_specs(
    r: &mut Resource,
    specs: &[FieldSpec],
    create: Create,
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    let gvk = r.gvk();
    for spec in specs.iter().filter(|s| s.selects(&gvk)) {
        let segments = spec.segments();
        visit(&mut r.value, &segments, spec.create.then_some(create), f)?;
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
                r.set_name(ns);
                continue;
            }
            let segs = spec.segments();
            visit::<String>(
                &mut r.value,
                &segs,
                spec.create.then_some(Create::Scalar),
                &mut |v| {
                    *v = Value::String(ns.into());
                    Ok(())
                },
            )?;
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
                r.set_name(&name);
                if !prefix.is_empty() {
                    r.prefixes.push(prefix.to_owned());
                }
                if !suffix.is_empty() {
                    r.suffixes.push(suffix.to_owned());
                }
            } else {
                let segs = spec.segments();
                visit::<String>(&mut r.value, &segs, None, &mut |v| {
                    if let Value::String(s) = v {
                        *s = format!("{prefix}{s}{suffix}");
                    }
                    Ok(())
                })?;
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

fn set_images_in_containers(v: &mut Value, rule: &ImageRule) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if (k == "containers" || k == "initContainers") && child.is_array() {
                    for c in child.as_array_mut().into_iter().flatten() {
                        if let Some(Value::String(img)) = c.get_mut("image")
                            && let Some(new) = rule.apply(img)
                        {
                            *img = new;
                        }
                    }
                }
                set_images_in_containers(child, rule);
            }
        }
        Value::Array(items) => {
            for item in items {
                set_images_in_containers(item, rule);
            }
        }
        _ => {}
    }
}

/// Rewrites images: every `containers`/`initContainers` list anywhere in an object (kustomize's
/// legacy behaviour, which covers custom resources that embed pod specs), plus the spec list.
pub(crate) fn images(
    resources: &mut [Resource],
    rule: &ImageRule,
    specs: &[FieldSpec],
) -> Result<(), String> {
    for r in resources {
        set_images_in_containers(&mut r.value, rule);
        let gvk = r.gvk();
        for spec in specs.iter().filter(|s| s.selects(&gvk)) {
            visit::<String>(&mut r.value, &spec.segments(), None, &mut |v| {
                if let Value::String(img) = v
                    && let Some(new) = rule.apply(img)
                {
                    *img = new;
                }
                Ok(())
            })?;
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
        visit::<String>(&mut r.value, &segs, Some(Create::Scalar), &mut |v| {
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
mod tests {
    use super::*;

    #[test]
    fn image_rules() {
        let rule = ImageRule {
            name: "nginx".into(),
            new_tag: "1.25".into(),
            ..ImageRule::default()
        };
        assert_eq!(rule.apply("nginx").as_deref(), Some("nginx:1.25"));
        assert_eq!(
            rule.apply("nginx:1.0@sha256:abc").as_deref(),
            Some("nginx:1.25")
        );
        assert_eq!(rule.apply("nginxx:1"), None);
        let rule = ImageRule {
            name: "reg:5000/app".into(),
            new_name: "other/app".into(),
            digest: "sha256:d".into(),
            ..ImageRule::default()
        };
        assert_eq!(
            rule.apply("reg:5000/app:1").as_deref(),
            Some("other/app@sha256:d")
        );
    }
}
