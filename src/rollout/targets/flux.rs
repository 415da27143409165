//! A commit's Flux Kustomizations, built into the one sync the daemon runs: the root path and
//! every Kustomization reachable from it ([`crate::flux::units`]), their objects together,
//! Flux's own objects kept out of the apply.
//!
//! What one sync cannot honour is refused or said, never ignored: a unit that does not build,
//! is suspended, or uses a field that changes what it applies and that fledge does not apply
//! yet fails the commit's sync, naming the unit and the field (the cluster keeps the last good
//! commit, nothing is pruned); `dependsOn`, `wait`, `healthChecks` and `timeout` are named in a
//! notice, as fledge applies all units at once (definitions first) without waiting for health.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::flux::kustomization::Kustomization;
use crate::flux::units::{self, Build, Unit};
use crate::object::ObjectKey;
use crate::render::{self, Files};

/// The objects of every unit of `path`, what a person should know of them, and the keys of the
/// Flux objects taken out (configuration, never applied nor pruned).
pub(super) struct Built {
    pub objects: Vec<Value>,
    pub notices: Vec<String>,
    pub consumed: BTreeSet<ObjectKey>,
}

/// Renders `path` and the Kustomizations reachable from it.
pub(super) fn build(files: &dyn Files, path: &str) -> Result<Built, render::Error> {
    let root = render::render(files, path)?;
    let consumed = root
        .iter()
        .filter(|o| is_flux(o))
        .filter_map(ObjectKey::of)
        .collect();
    let found = units::discover(path, root, |k: &Kustomization| {
        unsupported(k).map_or_else(|| render::render(files, &k.path()), Err)
    });
    if let Some(p) = found.problems.first() {
        return Err(render::Error::invalid(path, format!("Flux {p}")));
    }
    let mut objects = Vec::new();
    let mut notices = found.notices;
    for u in found.units {
        notices.extend(notice(&u));
        let name = u.name();
        match u.build {
            Build::Objects(o) => objects.extend(o),
            Build::Suspended => {
                return Err(render::Error::invalid(
                    &u.path,
                    format!(
                        "Flux Kustomization {name}: spec.suspend is true; fledge syncs all Kustomizations of a commit together and cannot leave one as it is yet: resume it, or remove it from the path"
                    ),
                ));
            }
            Build::Failed(why) => {
                return Err(render::Error::invalid(
                    &u.path,
                    format!("Flux Kustomization {name}: {why}"),
                ));
            }
        }
    }
    Ok(Built {
        objects,
        notices,
        consumed,
    })
}

fn is_flux(o: &Value) -> bool {
    let api = o["apiVersion"].as_str().unwrap_or("");
    units::FLUX_GROUPS
        .iter()
        .any(|g| api.split_once('/').is_some_and(|(group, _)| group == *g))
}

/// A field of `k` that would change what it applies and that one sync cannot honour yet.
fn unsupported(k: &Kustomization) -> Option<render::Error> {
    let s = &k.spec;
    let set = [
        ("spec.prune: false", !s.prune),
        ("spec.targetNamespace", s.target_namespace.is_some()),
        ("spec.namePrefix", s.name_prefix.is_some()),
        ("spec.nameSuffix", s.name_suffix.is_some()),
        ("spec.commonMetadata", s.common_metadata.is_some()),
        ("spec.patches", !s.patches.is_empty()),
        ("spec.images", !s.images.is_empty()),
        ("spec.components", !s.components.is_empty()),
        ("spec.postBuild", s.post_build.is_some()),
        ("spec.decryption", s.decryption.is_some()),
        ("spec.force", s.force),
        ("spec.ignore", !s.ignore.is_empty()),
        ("spec.buildMetadata", !s.build_metadata.is_empty()),
        ("spec.deletionPolicy", s.deletion_policy.is_some()),
    ];
    let fields: Vec<&str> = set.iter().filter(|(_, on)| *on).map(|(f, _)| *f).collect();
    (!fields.is_empty()).then(|| {
        render::Error::invalid(
            &k.path(),
            format!(
                "{} not applied by fledge yet; it refuses the Kustomization rather than apply something else than Flux would",
                fields.join(", ")
            ),
        )
    })
}

/// What a unit asks that the one sync does not do, said once per commit.
fn notice(u: &Unit) -> Option<String> {
    let k = u.kustomization.as_ref()?;
    let s = &k.spec;
    let asked: Vec<&str> = [
        ("dependsOn", !s.depends_on.is_empty()),
        ("wait", s.wait),
        ("healthChecks", !s.health_checks.is_empty()),
        ("healthCheckExprs", !s.health_check_exprs.is_empty()),
        ("timeout", s.timeout.is_some()),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(f, _)| *f)
    .collect();
    (!asked.is_empty()).then(|| {
        format!(
            "Flux Kustomization {}: {} not followed yet: fledge applies every Kustomization of the commit in one sync (definitions first) and does not wait for health",
            k.id,
            asked.join(", ")
        )
    })
}
