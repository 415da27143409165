//! Sync units: the root path fledge runs on and every Flux Kustomization reachable from it,
//! each built, applied, pruned and reported on its own, in `dependsOn` order.
//!
//! Discovery follows Flux: the root path's objects may hold Kustomizations; each names a path
//! whose objects may hold more. A Kustomization whose path is the root path is the root itself
//! (`flux-system` in a bootstrapped repository): it gives the root its name and settings. Flux's
//! own objects are configuration, never applied: Kustomizations and GitRepositories are read
//! here (a Kustomization naming a GitRepository other than the root's, or an OCIRepository, is
//! built from that source, which the caller fetches); HelmReleases, HelmRepositories and the image
//! automation objects are read and handed to the caller, which makes each HelmRelease a unit of its own; Flux's controllers
//! (`gotk-components.yaml`: objects labelled `app.kubernetes.io/part-of: flux`) are replaced by
//! fledge and skipped; OCIRepositories and HelmCharts are read and handed to the caller too;
//! the objects of Flux kinds fledge does not act on yet (Buckets) are named as unsupported and
//! left out, so they never fail the rest of a sync.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Display;

use serde_json::Value;

use super::helm::{HelmRelease, HelmRepository};
use super::kustomization::normal_path;
use super::oci::{HelmChart, OciRepository};
use super::{FluxError, GitRepository, Id, Kustomization};

/// Flux's API groups: objects of these groups are configuration, never applied.
pub const FLUX_GROUPS: [&str; 6] = [
    "kustomize.toolkit.fluxcd.io",
    "source.toolkit.fluxcd.io",
    "source.extensions.fluxcd.io",
    "helm.toolkit.fluxcd.io",
    "notification.toolkit.fluxcd.io",
    "image.toolkit.fluxcd.io",
];

/// The label Flux's own components carry (`flux install`, `gotk-components.yaml`).
const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "flux");

/// A HelmRelease as read: the release, or its name and why it cannot be used.
pub type ReadRelease = Result<HelmRelease, (Id, FluxError)>;

/// One sync unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Whether it is the root path fledge runs on.
    pub root: bool,
    /// The Kustomization, or `None` for a root path no Kustomization names.
    pub kustomization: Option<Kustomization>,
    /// Its path in the repository (`""` is the root of the repository).
    pub path: String,
    /// What it applies, or why it cannot be built.
    pub build: Build,
    /// The unit (by name) whose objects declare it (`None` for the root): Flux creates a
    /// Kustomization only when that one applies it.
    pub parent: Option<String>,
}

/// What became of a unit's build.
#[derive(Debug, Clone, PartialEq)]
pub enum Build {
    /// Its objects, Flux's own taken out.
    Objects(Vec<Value>),
    /// `spec.suspend`: nothing is built, applied or pruned until it is resumed.
    Suspended,
    /// It cannot be built or must not be applied; the cluster keeps what it applied before.
    Failed(String),
}

impl Unit {
    /// Its name in statuses: `<namespace>/<name>`, or `root` for a root path no Kustomization
    /// names.
    #[must_use]
    pub fn name(&self) -> String {
        self.kustomization
            .as_ref()
            .map_or_else(|| "root".to_owned(), |k| k.id.to_string())
    }

    /// The units it waits for.
    #[must_use]
    pub fn dependencies(&self) -> Vec<Id> {
        self.kustomization
            .as_ref()
            .map(Kustomization::dependencies)
            .unwrap_or_default()
    }
}

/// The sources of charts a repository declares, by name; one that cannot be read is why, and
/// fails only the releases that name it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartSources {
    pub helm: BTreeMap<Id, Result<HelmRepository, FluxError>>,
    pub oci: BTreeMap<Id, Result<OciRepository, FluxError>>,
    /// HelmCharts.
    pub declared: BTreeMap<Id, Result<HelmChart, FluxError>>,
}

impl ChartSources {
    /// The chart sources among `objects` (for `fledge build --charts`, which reads no
    /// Kustomization).
    #[must_use]
    pub fn read(objects: &[Value]) -> Self {
        let mut taken = Taken::default();
        taken.take(objects.to_vec(), &mut Units::default(), None);
        taken.charts
    }
}

/// The units of a commit, dependencies first, and what was noticed on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Units {
    pub units: Vec<Unit>,
    /// Objects left out, each said once: Flux's controllers, Flux kinds not supported yet.
    pub notices: Vec<String>,
    /// Flux objects that cannot be read (their units are not synced).
    pub problems: Vec<FluxError>,
    /// The GitRepository the root Kustomization names, when there is one.
    pub root_source: Option<GitRepository>,
    /// Flux's notification objects (`Provider`, `Alert`, `Receiver`), as written, for the
    /// caller to read.
    pub notifications: Vec<Value>,
    /// The HelmReleases, each with the unit (by name) whose objects declare it; one that
    /// cannot be read is its name and why (its unit fails, not the commit).
    pub helm_releases: Vec<(ReadRelease, String)>,
    /// The chart sources declared.
    pub charts: ChartSources,
    /// The GitRepositories declared.
    pub repositories: BTreeMap<Id, GitRepository>,
    /// The image automation objects, for the daemon's image automation.
    pub images: super::image::Images,
}

/// Where a Kustomization is built from when it is not the repository fledge runs on: another
/// GitRepository, or an OCIRepository (an artifact in a registry), as declared in the
/// repository.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    Git(&'a GitRepository),
    Oci(&'a OciRepository),
}

/// Discovers the units from the root path's objects, building each further Kustomization's
/// path with `build`, given the source it names when that is another than the root's
/// repository (declared in the repository; `None` for the root's own and for an
/// ExternalArtifact) and the GitRepositories declared so far (those its includes may name).
pub fn discover<E: Display>(
    root_path: &str,
    root_objects: Vec<Value>,
    mut build: impl FnMut(
        &Kustomization,
        Option<Origin<'_>>,
        &BTreeMap<Id, GitRepository>,
    ) -> Result<Vec<Value>, E>,
) -> Units {
    let root_path = normal_path(root_path);
    let mut out = Units::default();
    let mut taken = Taken::default();
    let root_objects = taken.take(root_objects, &mut out, None);
    let root = taken
        .kustomizations
        .iter()
        .position(|(k, _)| k.path() == root_path);
    let root_kustomization = root.and_then(|i| taken.kustomizations.remove(i).map(|(k, _)| k));
    out.root_source = root_kustomization
        .as_ref()
        .and_then(|k| taken.repositories.get(&k.source().1).cloned());
    let root_name = root_kustomization
        .as_ref()
        .map_or_else(|| "root".to_owned(), |k| k.id.to_string());
    for (_, parent) in &mut taken.kustomizations {
        *parent = Some(root_name.clone());
    }
    for (_, parent) in &mut out.helm_releases {
        parent.clone_from(&root_name);
    }
    let mut found = vec![Unit {
        parent: None,
        root: true,
        path: root_path,
        build: root_kustomization
            .as_ref()
            .map_or(Build::Objects(root_objects.clone()), |k| {
                if k.spec.suspend {
                    Build::Suspended
                } else {
                    Build::Objects(root_objects.clone())
                }
            }),
        kustomization: root_kustomization,
    }];
    let mut seen: BTreeSet<Id> = found
        .iter()
        .filter_map(|u| u.kustomization.as_ref().map(|k| k.id.clone()))
        .collect();
    // Without a Kustomization naming the root path, the repository is the one `flux bootstrap`
    // names `flux-system`.
    let root_repo = found[0].kustomization.as_ref().map_or_else(
        || Id {
            namespace: "flux-system".to_owned(),
            name: "flux-system".to_owned(),
        },
        |k| k.source().1,
    );
    while let Some((k, parent)) = taken.kustomizations.pop_front() {
        if !seen.insert(k.id.clone()) {
            continue;
        }
        let (git, oci) = match k.source() {
            ("GitRepository", id) if id != root_repo => {
                (taken.repositories.get(&id).cloned(), None)
            }
            ("OCIRepository", id) => (None, taken.charts.oci.get(&id).cloned()),
            _ => (None, None),
        };
        let origin = match (&git, &oci) {
            (Some(r), _) => Some(Origin::Git(r)),
            (_, Some(Ok(r))) => Some(Origin::Oci(r)),
            _ => None,
        };
        let outcome = match refusal(&k, &root_repo, git.is_some(), oci.as_ref()) {
            Some(why) => Build::Failed(why),
            None if k.spec.suspend => Build::Suspended,
            None => match build(&k, origin, &taken.repositories) {
                Ok(objects) => Build::Objects(taken.take(objects, &mut out, Some(&k.id))),
                Err(e) => Build::Failed(e.to_string()),
            },
        };
        found.push(Unit {
            parent,
            root: false,
            path: k.path(),
            kustomization: Some(k),
            build: outcome,
        });
    }
    out.units = order(found, &mut out.problems);
    out.charts = taken.charts;
    out.repositories = taken.repositories;
    out
}

/// Why a Kustomization is not synced at all, when it is not: fledge refuses what it would do
/// with other rights or elsewhere than Flux would. `declared`: its GitRepository, when another
/// than the root's, is declared in the repository (fledge fetches those); `oci`: the
/// OCIRepository it names as read, when the repository declares it.
fn refusal(
    k: &Kustomization,
    root_repo: &Id,
    declared: bool,
    oci: Option<&Result<OciRepository, FluxError>>,
) -> Option<String> {
    let (kind, source) = k.source();
    // An ExternalArtifact is built from an ArtifactGenerator of the commit, or fails saying so.
    match (kind, oci) {
        ("ExternalArtifact", _) | ("OCIRepository", Some(Ok(_))) => {}
        ("GitRepository", _) if &source == root_repo || declared => {}
        ("GitRepository" | "OCIRepository", None) => {
            return Some(format!(
                "spec.sourceRef: {kind} {source} is declared nowhere in the repository; declare it (fledge fetches the {kind}s the repository declares, as Flux applies them)"
            ));
        }
        ("OCIRepository", Some(Err(e))) => {
            return Some(format!("spec.sourceRef: OCIRepository {e}"));
        }
        _ => {
            return Some(format!(
                "spec.sourceRef: {kind} {source} is not followed by fledge yet (it fetches GitRepositories, OCIRepositories and ExternalArtifacts)"
            ));
        }
    }
    if let Some(Ok(r)) = oci
        && !r.unsupported().is_empty()
    {
        return Some(format!(
            "spec.sourceRef: OCIRepository {source}: {} not honoured by fledge yet; it refuses the repository rather than fetch something else than Flux would",
            r.unsupported().join(", ")
        ));
    }
    if k.spec.kube_config.is_some() {
        return Some(
            "spec.kubeConfig: applying to another cluster is not supported; fledge applies to the cluster it runs in (remove the field, or run fledge in that cluster)".to_owned(),
        );
    }
    None
}

/// What [`discover`] takes out of a build: Flux's objects.
#[derive(Default)]
struct Taken {
    /// Each with the unit that declares it (`None` until the root's name is known).
    kustomizations: VecDeque<(Kustomization, Option<String>)>,
    repositories: BTreeMap<Id, GitRepository>,
    charts: ChartSources,
    controllers_noticed: bool,
}

impl Taken {
    /// The objects to apply; Flux's own are read (Kustomizations, GitRepositories) or named
    /// and left out.
    fn take(&mut self, objects: Vec<Value>, out: &mut Units, parent: Option<&Id>) -> Vec<Value> {
        let mut apply = Vec::new();
        let mut unsupported: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for o in objects {
            if o["metadata"]["labels"][PART_OF.0] == PART_OF.1 {
                if !self.controllers_noticed {
                    self.controllers_noticed = true;
                    out.notices.push("Flux's own components (labelled app.kubernetes.io/part-of: flux, as gotk-components.yaml holds them) are skipped: fledge does their work".to_owned());
                }
                continue;
            }
            let api = o["apiVersion"].as_str().unwrap_or("");
            let group = api.split_once('/').map_or("", |(g, _)| g);
            if !FLUX_GROUPS.contains(&group) {
                apply.push(o);
                continue;
            }
            let kind = o["kind"].as_str().unwrap_or("");
            match (group, kind) {
                ("kustomize.toolkit.fluxcd.io", "Kustomization") => {
                    match Kustomization::parse(&o) {
                        Ok(k) => self
                            .kustomizations
                            .push_back((k, parent.map(ToString::to_string))),
                        Err(e) => out.problems.push(e),
                    }
                }
                ("source.toolkit.fluxcd.io", "GitRepository") => match GitRepository::parse(&o) {
                    Ok(r) => {
                        self.repositories.insert(r.id.clone(), r);
                    }
                    Err(e) => out.problems.push(e),
                },
                ("helm.toolkit.fluxcd.io", "HelmRelease") => {
                    let parent = parent.map(ToString::to_string).unwrap_or_default();
                    match (HelmRelease::parse(&o), Id::of(&o, "HelmRelease")) {
                        (Ok(r), _) => out.helm_releases.push((Ok(r), parent)),
                        (Err(e), Ok(id)) => out.helm_releases.push((Err((id, e)), parent)),
                        (Err(e), Err(_)) => out.problems.push(e),
                    }
                }
                ("source.toolkit.fluxcd.io", "HelmRepository") => {
                    keep(&mut self.charts.helm, &o, kind, HelmRepository::parse, out);
                }
                ("source.toolkit.fluxcd.io", "OCIRepository") => {
                    keep(&mut self.charts.oci, &o, kind, OciRepository::parse, out);
                }
                ("source.toolkit.fluxcd.io", "HelmChart") => {
                    keep(&mut self.charts.declared, &o, kind, HelmChart::parse, out);
                }
                ("notification.toolkit.fluxcd.io", "Provider" | "Alert" | "Receiver") => {
                    out.notifications.push(o);
                }
                (
                    "image.toolkit.fluxcd.io",
                    "ImageRepository" | "ImagePolicy" | "ImageUpdateAutomation",
                ) => match Id::of(&o, kind) {
                    Ok(_) => {
                        out.images.take(&o);
                    }
                    Err(e) => out.problems.push(e),
                },
                // Read by the caller, which builds the ExternalArtifacts it declares.
                ("source.extensions.fluxcd.io", "ArtifactGenerator") => {}
                _ => unsupported
                    .entry(kind.to_owned())
                    .or_default()
                    .push(format!(
                        "{}/{}",
                        crate::object::namespace_or_default(&o),
                        o["metadata"]["name"].as_str().unwrap_or("")
                    )),
            }
        }
        for (kind, names) in unsupported {
            out.notices.push(format!(
                "{kind} {} left out: fledge does not act on Flux's {kind} yet",
                names.join(", ")
            ));
        }
        apply
    }
}

/// Keeps the source `o` (a `kind`) read by `parse` under its name, or why it cannot be read
/// (it fails only what names it); one without a name is a problem of the commit.
fn keep<T>(
    into: &mut BTreeMap<Id, Result<T, FluxError>>,
    o: &Value,
    kind: &str,
    parse: impl Fn(&Value) -> Result<T, FluxError>,
    out: &mut Units,
) {
    match (parse(o), Id::of(o, kind)) {
        (read, Ok(id)) => {
            into.insert(id, read);
        }
        (_, Err(e)) => out.problems.push(e),
    }
}

/// The units with every dependency before its dependants (the discovery order otherwise); a
/// unit in a `dependsOn` cycle fails, naming the cycle.
fn order(units: Vec<Unit>, problems: &mut Vec<FluxError>) -> Vec<Unit> {
    let names: Vec<Option<Id>> = units
        .iter()
        .map(|u| u.kustomization.as_ref().map(|k| k.id.clone()))
        .collect();
    let index: BTreeMap<&Id, usize> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.as_ref().map(|n| (n, i)))
        .collect();
    let deps: Vec<Vec<usize>> = units
        .iter()
        .map(|u| {
            u.dependencies()
                .iter()
                .filter_map(|d| index.get(d).copied())
                .collect()
        })
        .collect();
    let mut placed = vec![false; units.len()];
    let mut sequence = Vec::new();
    loop {
        let ready: Vec<usize> = (0..units.len())
            .filter(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]))
            .collect();
        if ready.is_empty() {
            break;
        }
        for i in ready {
            placed[i] = true;
            sequence.push(i);
        }
    }
    let cyclic: Vec<usize> = (0..units.len()).filter(|&i| !placed[i]).collect();
    let cycle_names: Vec<String> = cyclic
        .iter()
        .filter_map(|&i| names[i].as_ref().map(ToString::to_string))
        .collect();
    let mut slots: Vec<Option<Unit>> = units.into_iter().map(Some).collect();
    let mut out: Vec<Unit> = sequence
        .into_iter()
        .filter_map(|i| slots[i].take())
        .collect();
    for i in cyclic {
        if let Some(mut u) = slots[i].take() {
            let why = format!(
                "spec.dependsOn: a cycle among {}; no unit of it is synced until it is broken",
                cycle_names.join(", ")
            );
            if let Some(k) = &u.kustomization {
                problems.push(k.id.error("spec.dependsOn", why.clone()));
            }
            u.build = Build::Failed(why);
            out.push(u);
        }
    }
    out
}
