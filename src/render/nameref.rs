//! Name references: after prefixes, suffixes, namespaces and hash suffixes have renamed objects,
//! every field that names another object (a `ConfigMap` in a volume, a Service in an Ingress, an
//! HPA's scaleTargetRef, …) is made to follow, by the rules in [`NameBackRef`].

use serde_json::Value;

use super::fieldspec::{NameBackRef, at, visit};
use super::object::{Gvk, ResId, Resource};

/// What the fix-up needs to know about a possible referral target.
struct Candidate {
    /// Its previous ids only: kustomize matches references against the names an object had
    /// before a transformer touched it, never against an untouched object's current name.
    ids: Vec<ResId>,
    current: ResId,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

/// What it needs to know about the object whose field is being fixed.
struct Referrer<'a> {
    current: ResId,
    /// For a `RoleBinding`: the namespaces its `ServiceAccount` subjects name.
    subject_namespaces: Vec<String>,
    prefixes: &'a [String],
    suffixes: &'a [String],
    role_ref: Option<Gvk>,
}

impl Referrer<'_> {
    /// kustomize's `SubsetThatCouldBeReferencedByResource`: a namespaced object refers only to
    /// cluster-scoped objects, objects in its own namespace, and (a `RoleBinding`) objects in the
    /// namespaces its `ServiceAccount` subjects name.
    fn could_refer_to(&self, c: &Candidate) -> bool {
        !self.current.gvk.is_namespaced()
            || !c.current.gvk.is_namespaced()
            || c.current.effective_namespace() == self.current.effective_namespace()
            || self.subject_namespaces.contains(&c.current.namespace)
    }
}

/// True when the shorter list is the tail of the longer (kustomize's `SameEndingSubSlice`);
/// an empty list matches only an empty one.
fn same_ending(a: &[String], b: &[String]) -> bool {
    let n = a.len().min(b.len());
    if n == 0 {
        return a.len() == b.len();
    }
    a[a.len() - n..] == b[b.len() - n..]
}

/// kustomize's `PrefixesSuffixesEquals`: with `allow_empty`, a side without prefixes (or
/// suffixes) matches any.
fn affixes_match(c: &Candidate, referrer: &Referrer<'_>, allow_empty: bool) -> bool {
    let one = |a: &[String], b: &[String]| {
        (allow_empty && (a.is_empty() || b.is_empty())) || same_ending(a, b)
    };
    one(&c.prefixes, referrer.prefixes) && one(&c.suffixes, referrer.suffixes)
}

/// kustomize's `selectReferral`. `with_namespace`: the reference is an object with a name
/// and a namespace, so several candidates are one only when both agree.
fn select<'c>(
    old: &str,
    candidates: &[&'c Candidate],
    referrer: &Referrer<'_>,
    role_ref_path: bool,
    with_namespace: bool,
) -> Result<Option<&'c Candidate>, String> {
    let mut found: Vec<&Candidate> = candidates
        .iter()
        .copied()
        .filter(|c| c.ids.iter().any(|id| id.name == old) && referrer.could_refer_to(c))
        .collect();
    if role_ref_path && let Some(gvk) = &referrer.role_ref {
        found.retain(|c| c.ids.iter().any(|id| id.gvk.is_selected_by(gvk)));
    }
    if referrer.current.gvk.is_namespaced() {
        found.retain(|c| {
            !c.current.gvk.is_namespaced()
                || c.current.gvk.kind == "ServiceAccount"
                || c.current.effective_namespace() == referrer.current.effective_namespace()
        });
    }
    if found.len() == 1 {
        return Ok(Some(found[0]));
    }
    found.retain(|c| affixes_match(c, referrer, true));
    if found.len() > 1 {
        found.retain(|c| affixes_match(c, referrer, false));
    }
    let first = match found.as_slice() {
        [] => return Ok(None),
        [one] => return Ok(Some(one)),
        [first, ..] => *first,
    };
    let same = |c: &&Candidate| {
        c.current.name == first.current.name
            && (!with_namespace || c.current.namespace == first.current.namespace)
    };
    if found.iter().all(same) {
        return Ok(Some(first));
    }
    Err(format!(
        "{}: the name `{old}` could refer to any of {}; kustomize refuses to guess",
        referrer.current,
        found
            .iter()
            .map(|c| c.current.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Rewrites every name reference in `resources` to the current name of what it refers to.
pub(crate) fn fix(resources: &mut [Resource], rules: &[NameBackRef]) -> Result<(), String> {
    for r in resources.iter().filter(|r| r.kind() == "RoleBinding") {
        check_subject_namespaces(r)?;
    }
    let all: Vec<Candidate> = resources
        .iter()
        .filter(|r| !r.prev_ids.is_empty())
        .map(|r| Candidate {
            ids: r.prev_ids.clone(),
            current: r.id(),
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
        })
        .collect();
    for rule in rules {
        let target = rule.gvk();
        let candidates: Vec<&Candidate> = all
            .iter()
            .filter(|c| c.ids.iter().any(|id| id.gvk.is_selected_by(&target)))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        for r in resources.iter_mut() {
            let gvk = r.gvk();
            let specs: Vec<_> = rule
                .field_specs
                .iter()
                .filter(|s| s.selects(&gvk))
                .collect();
            if specs.is_empty() {
                continue;
            }
            let role_ref = r.value.get("roleRef").map(|rr| Gvk {
                group: rr["apiGroup"].as_str().unwrap_or("").to_owned(),
                version: String::new(),
                kind: rr["kind"].as_str().unwrap_or("").to_owned(),
            });
            let prefixes = r.prefixes.clone();
            let suffixes = r.suffixes.clone();
            let subject_namespaces = if gvk.kind == "RoleBinding" {
                r.value["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["kind"] == "ServiceAccount")
                    .filter_map(|s| s["namespace"].as_str().map(str::to_owned))
                    .collect()
            } else {
                Vec::new()
            };
            let referrer = Referrer {
                current: r.id(),
                subject_namespaces,
                prefixes: &prefixes,
                suffixes: &suffixes,
                role_ref,
            };
            for spec in specs {
                let role_ref_path = spec.path.ends_with("roleRef/name");
                visit(&mut r.value, spec.segments(), None, &mut |node| {
                    set(node, &candidates, &referrer, role_ref_path)
                })
                .map_err(at(&referrer.current, spec))?;
            }
        }
    }
    Ok(())
}

/// kustomize refuses a `RoleBinding` whose `ServiceAccount` subject has a `namespace` that is
/// not a string (`namespace:` left blank reads as null).
fn check_subject_namespaces(r: &Resource) -> Result<(), String> {
    let subjects = r.value["subjects"].as_array().into_iter().flatten();
    for s in subjects.filter(|s| s["kind"] == "ServiceAccount") {
        if let Some(ns) = s.get("namespace")
            && !ns.is_string()
        {
            return Err(format!(
                "{}: the ServiceAccount subject `{}` has `namespace: {ns}`, not a string; give the namespace or leave the field out",
                r.id(),
                s["name"].as_str().unwrap_or("")
            ));
        }
    }
    Ok(())
}

fn set(
    node: &mut Value,
    candidates: &[&Candidate],
    referrer: &Referrer<'_>,
    role_ref_path: bool,
) -> Result<(), String> {
    match node {
        Value::String(old) => {
            if let Some(c) = select(old, candidates, referrer, role_ref_path, false)? {
                old.clone_from(&c.current.name);
            }
            Ok(())
        }
        Value::Object(map) => {
            let old = match map.get("name") {
                Some(Value::String(n)) => n.clone(),
                Some(_) => return Ok(()),
                None => {
                    return Err(format!(
                        "{}: a reference without a `name` ({}); kustomize refuses it",
                        referrer.current,
                        Value::Object(map.clone())
                    ));
                }
            };
            let scoped: Vec<&Candidate>;
            let pool = match map.get("namespace").and_then(Value::as_str) {
                Some(ns) => {
                    // kustomize groups candidates by effective namespace (`default` for none;
                    // cluster-scoped objects in no group), original first, then current.
                    let in_ns =
                        |id: &ResId| id.gvk.is_namespaced() && id.effective_namespace() == ns;
                    let by_original: Vec<&Candidate> = candidates
                        .iter()
                        .copied()
                        .filter(|c| in_ns(&c.ids[0]))
                        .collect();
                    scoped = if by_original.is_empty() {
                        candidates
                            .iter()
                            .copied()
                            .filter(|c| in_ns(&c.current))
                            .collect()
                    } else {
                        by_original
                    };
                    &scoped[..]
                }
                None => candidates,
            };
            if let Some(c) = select(&old, pool, referrer, role_ref_path, true)? {
                map.insert("name".into(), Value::String(c.current.name.clone()));
                if !c.current.namespace.is_empty() {
                    map.insert(
                        "namespace".into(),
                        Value::String(c.current.namespace.clone()),
                    );
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for item in items {
                set(item, candidates, referrer, role_ref_path)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
