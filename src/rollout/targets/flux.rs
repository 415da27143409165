//! A commit's Flux Kustomizations as sync units: the root path and every Kustomization
//! reachable from it ([`crate::flux::units`]), each with the keys of the objects it declares, its
//! dependencies and its settings, so that the daemon applies, prunes and reports each on its own.
//!
//! Each Kustomization's path is built as Flux builds it (`render::flux`: its generator, its
//! overlay fields, `postBuild.substitute`). What fledge cannot honour is refused, never
//! ignored: a Kustomization that does not build, or that uses a field that changes what it
//! applies and that fledge does not apply yet, is a failed unit naming the field (the cluster
//! keeps what it applied before, nothing of it is pruned); the others go on. At the root, what
//! would shape its build differently fails the whole commit, as the root is rendered as
//! `fledge build` renders it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use sha2::Digest as _;

use crate::flux::kustomization::{Kustomization, Spec};
use crate::flux::units::{self, Build, Unit};
use crate::keys;
use crate::object::ObjectKey;
use crate::render::flux::FluxOverlay;
use crate::render::source_ignore::SourceIgnored;
use crate::render::{self, Files};

/// The objects of every unit of `path`, the units, what a person should know of them, and the
/// keys of the Flux objects taken out (configuration, never applied nor pruned).
pub(super) struct Built {
    pub objects: Vec<Value>,
    pub units: Vec<SyncUnit>,
    pub notices: Vec<String>,
    pub consumed: BTreeSet<ObjectKey>,
}

/// One Kustomization (or the root path no Kustomization names) as the daemon syncs it: its own
/// inventory, prune guard and status.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncUnit {
    /// `root`, or the Kustomization's `<namespace>/<name>`.
    pub name: String,
    /// Whether it is the root path fledge runs on.
    pub root: bool,
    /// Its path in the repository.
    pub path: String,
    /// The name of its inventory ConfigMap (the root path keeps fledge's one inventory).
    pub inventory: String,
    /// What it declares, by key (Canaries and other configuration included).
    pub keys: BTreeSet<ObjectKey>,
    /// The units (by name) that must be ready before it is applied.
    pub depends_on: Vec<String>,
    /// `spec.prune`: whether what it dropped is deleted.
    pub prune: bool,
    /// `spec.deletionPolicy`: what becomes of its objects once it is removed from the repository.
    pub deletion: Deletion,
    /// `spec.interval`, when a Kustomization sets it: how often it is applied again.
    pub interval: Option<Duration>,
    /// `spec.retryInterval` (else the interval): how soon a failure is tried again.
    pub retry_interval: Option<Duration>,
    /// `spec.timeout`: how long it may take to become healthy.
    pub timeout: Duration,
    /// What it waits for before it is ready.
    pub health: Health,
    /// Why it is not applied at all, when it is not.
    pub hold: Option<Hold>,
}

/// What a removed unit's objects become (`spec.deletionPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted when the unit prunes (`MirrorPrune`, Flux's default), or always (`Delete`,
    /// `WaitForTermination`).
    Delete { always: bool },
    /// Left in the cluster (`Orphan`).
    Orphan,
}

impl Deletion {
    /// The policy's name in `spec.deletionPolicy`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delete { always: false } => "MirrorPrune",
            Self::Delete { always: true } => "Delete",
            Self::Orphan => "Orphan",
        }
    }

    /// The policy named `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "MirrorPrune" => Some(Self::Delete { always: false }),
            "Delete" | "WaitForTermination" => Some(Self::Delete { always: true }),
            "Orphan" => Some(Self::Orphan),
            _ => None,
        }
    }
}

/// What a unit waits for before it is ready (`wait`, `healthChecks`, `healthCheckExprs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// `spec.wait`: every object it applies.
    pub all: bool,
    /// `spec.healthChecks`.
    pub checks: Vec<crate::object::ObjectRef>,
    /// `spec.healthCheckExprs`, as written.
    pub exprs: Vec<Value>,
}

impl Health {
    /// Whether anything is waited for.
    #[must_use]
    pub fn waits(&self) -> bool {
        self.all || !self.checks.is_empty()
    }
}

/// Why a unit is not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// `spec.suspend`: nothing is applied or pruned until it is resumed.
    Suspended,
    /// It cannot be built, or must not be applied: why, naming the field.
    Failed(String),
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
        let source = SourceIgnored::new(files)?;
        render::flux::build(&source, &k.path(), &overlay)
    });
    // The root path is rendered as `fledge build` renders it: what would shape it differently
    // is refused.
    let root_unit = found.units.iter().find(|u| u.root);
    if let Some(why) = root_unit
        .and_then(|u| u.kustomization.as_ref())
        .and_then(|k| unsupported(k, &NOT_YET_AT_ROOT))
    {
        return Err(why);
    }
    if let Some(p) = found.problems.first() {
        return Err(render::Error::invalid(path, format!("Flux {p}")));
    }
    let mut objects = Vec::new();
    let mut notices = found.notices;
    let mut units = Vec::new();
    let mut owner: BTreeMap<ObjectKey, String> = BTreeMap::new();
    for u in found.units {
        notices.extend(notice(&u));
        let mut unit = sync_unit(&u);
        if let Build::Objects(o) = u.build {
            for object in o {
                let Some(key) = ObjectKey::of(&object) else {
                    objects.push(object);
                    continue;
                };
                if let Some(first) = owner.get(&key) {
                    notices.push(format!(
                        "{key} is declared by both {first} and {}: {first} applies it",
                        unit.name
                    ));
                    continue;
                }
                owner.insert(key.clone(), unit.name.clone());
                unit.keys.insert(key);
                objects.push(object);
            }
        }
        units.push(unit);
    }
    Ok(Built {
        objects,
        units,
        notices,
        consumed,
    })
}

/// The unit `u` is, its objects not counted yet.
fn sync_unit(u: &Unit) -> SyncUnit {
    let name = u.name();
    let k = u.kustomization.as_ref();
    let spec = k.map(|k| &k.spec);
    let hold = match &u.build {
        Build::Objects(_) => None,
        Build::Suspended => Some(Hold::Suspended),
        Build::Failed(why) => Some(Hold::Failed(why.clone())),
    };
    let deletion = spec.and_then(|s| s.deletion_policy.as_deref());
    let (deletion, hold) = match deletion.map(|d| (d, Deletion::parse(d))) {
        None => (Deletion::Delete { always: false }, hold),
        Some((_, Some(d))) => (d, hold),
        Some((d, None)) => (
            Deletion::Delete { always: false },
            Some(Hold::Failed(format!(
                "spec.deletionPolicy: {d:?} is not one of MirrorPrune, Delete, WaitForTermination, Orphan"
            ))),
        ),
    };
    SyncUnit {
        inventory: inventory_name(u.root, &name),
        root: u.root,
        path: u.path.clone(),
        keys: BTreeSet::new(),
        depends_on: u.dependencies().iter().map(ToString::to_string).collect(),
        prune: spec.is_none_or(|s| s.prune),
        deletion,
        interval: k.map(Kustomization::interval),
        retry_interval: k.map(Kustomization::retry_interval),
        timeout: k.map_or(Duration::from_secs(300), Kustomization::timeout),
        health: k.map(health).unwrap_or_default(),
        hold,
        name,
    }
}

/// What `k` waits for: its health checks, each defaulting to its own namespace.
fn health(k: &Kustomization) -> Health {
    let s = &k.spec;
    Health {
        all: s.wait,
        checks: s
            .health_checks
            .iter()
            .map(|c| {
                crate::object::ObjectRef::new(
                    c.api_version.as_deref().unwrap_or("v1"),
                    &c.kind,
                    c.namespace.as_deref().unwrap_or(&k.id.namespace),
                    &c.name,
                )
            })
            .collect(),
        exprs: s.health_check_exprs.clone(),
    }
}

/// The inventory ConfigMap of a unit: the root path keeps fledge's one inventory (so that an
/// upgrade finds what it applied before); a Kustomization has its own, named after it (a
/// namespace holds no dot, so the name is unique), or after a digest when that is too long.
fn inventory_name(root: bool, name: &str) -> String {
    if root {
        return keys::INVENTORY.to_owned();
    }
    let full = format!("{}.{}", keys::INVENTORY, name.replacen('/', ".", 1));
    if full.len() <= 253 {
        return full;
    }
    let digest = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    format!("{}.{}", keys::INVENTORY, &digest[..32])
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

const NOT_YET: [Field; 4] = [
    ("spec.postBuild.substituteFrom", |s| {
        s.post_build
            .as_ref()
            .is_some_and(|p| !p.substitute_from.is_empty())
    }),
    ("spec.decryption", |s| s.decryption.is_some()),
    ("spec.force", |s| s.force),
    ("spec.ignore", |s| !s.ignore.is_empty()),
];

/// At the root, also what shapes a build (the root path is rendered as `fledge build` does).
const NOT_YET_AT_ROOT: [Field; 12] = [
    NOT_YET[0],
    NOT_YET[1],
    NOT_YET[2],
    NOT_YET[3],
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

/// What a unit asks that fledge does not follow yet, said once per commit.
fn notice(u: &Unit) -> Option<String> {
    let k = u.kustomization.as_ref()?;
    let s = &k.spec;
    let asked: Vec<&str> = [
        (
            "dependsOn[].readyExpr",
            s.depends_on.iter().any(|d| d.ready_expr.is_some()),
        ),
        ("wait", s.wait),
        ("healthChecks", !s.health_checks.is_empty()),
        ("healthCheckExprs", !s.health_check_exprs.is_empty()),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(f, _)| *f)
    .collect();
    (!asked.is_empty()).then(|| {
        format!(
            "Flux Kustomization {}: {} not followed yet: fledge counts a Kustomization ready once its objects are applied, without waiting for their health",
            k.id,
            asked.join(", ")
        )
    })
}
