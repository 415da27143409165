//! A commit's Flux Kustomizations, built into the one sync the daemon runs: the root path and
//! every Kustomization reachable from it ([`crate::flux::units`]), their objects together,
//! Flux's own objects kept out of the apply.
//!
//! Each Kustomization's path is built as Flux builds it (`render::flux`: its generator, its
//! overlay fields, `postBuild.substitute`). What one sync cannot honour is refused or said,
//! never ignored: a unit that does not build, is suspended, or uses a field that changes what
//! it applies and that fledge does not apply yet fails the commit's sync, naming the unit and
//! the field (the cluster keeps the last good commit, nothing is pruned); `dependsOn`, `wait`, `healthChecks` and `timeout` are named in a
//! notice, as fledge applies all units at once (definitions first) without waiting for health.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::flux::kustomization::{Kustomization, Spec};
use crate::flux::units::{self, Build, Unit};
use crate::object::ObjectKey;
use crate::render::flux::FluxOverlay;
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
        if let Some(why) = unsupported(k, &NOT_YET) {
            return Err(why);
        }
        // `substituteFrom` is refused above: nothing is looked up.
        let overlay = FluxOverlay::from_spec(&k.raw_spec, true, &|_, _| None)?;
        render::flux::build(files, &k.path(), &overlay)
    });
    // The root path is rendered as `fledge build` renders it: what would shape it differently
    // is refused.
    let root_unit = found.units.first().and_then(|u| u.kustomization.as_ref());
    if let Some(why) = root_unit.and_then(|k| unsupported(k, &NOT_YET_AT_ROOT)) {
        return Err(why);
    }
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

/// The fields that would change what a Kustomization applies and that fledge does not apply
/// yet, with whether a spec sets them.
type Field = (&'static str, fn(&Spec) -> bool);
type Fields = [Field];

const NOT_YET: [Field; 6] = [
    ("spec.prune: false", |s| !s.prune),
    ("spec.postBuild.substituteFrom", |s| {
        s.post_build
            .as_ref()
            .is_some_and(|p| !p.substitute_from.is_empty())
    }),
    ("spec.decryption", |s| s.decryption.is_some()),
    ("spec.force", |s| s.force),
    ("spec.ignore", |s| !s.ignore.is_empty()),
    ("spec.deletionPolicy", |s| s.deletion_policy.is_some()),
];

/// At the root, also what shapes a build (the root path is rendered as `fledge build` does).
const NOT_YET_AT_ROOT: [Field; 14] = [
    NOT_YET[0],
    NOT_YET[1],
    NOT_YET[2],
    NOT_YET[3],
    NOT_YET[4],
    NOT_YET[5],
    ("spec.targetNamespace", |s| s.target_namespace.is_some()),
    ("spec.namePrefix", |s| s.name_prefix.is_some()),
    ("spec.nameSuffix", |s| s.name_suffix.is_some()),
    ("spec.commonMetadata", |s| s.common_metadata.is_some()),
    ("spec.patches", |s| !s.patches.is_empty()),
    ("spec.images", |s| !s.images.is_empty()),
    ("spec.components", |s| !s.components.is_empty()),
    ("spec.postBuild", |s| s.post_build.is_some()),
];

/// A field of `k` among `fields` that it sets.
fn unsupported(k: &Kustomization, fields: &Fields) -> Option<render::Error> {
    let set: Vec<&str> = fields
        .iter()
        .filter(|(_, on)| on(&k.spec))
        .map(|(f, _)| *f)
        .collect();
    (!set.is_empty()).then(|| {
        render::Error::invalid(
            &k.path(),
            format!(
                "{} not applied by fledge yet; it refuses the Kustomization rather than apply something else than Flux would",
                set.join(", ")
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
