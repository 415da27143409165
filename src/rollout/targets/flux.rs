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

use std::cell::RefCell;
use std::sync::Arc;

use serde_json::Value;
use sha2::Digest as _;

use crate::flux::artifact::ArtifactGenerator;
use crate::flux::kustomization::{Kustomization, Spec};
use crate::flux::notification::{Alert, Provider, Receiver};
use crate::flux::oci::OciRepository;
use crate::flux::units::{self, Build, Origin, Unit};
use crate::flux::{GitRepository, Id};
use crate::keys;
use crate::object::ObjectKey;
use crate::registry::artifact::Artifact;
use crate::render::flux::FluxOverlay;
use crate::render::source_ignore::SourceIgnored;
use crate::render::varsub::{self, SourceKind};
use crate::render::{self, Files, Options};
use crate::sops::Keys;

use super::include;
use super::unit::{BuildEnv, Deletion, Health, Hold, Mask, SyncUnit, UnitSource, UnitSourceKind};

/// The objects of every unit of `path`, the units, what a person should know of them, and the
/// keys of the Flux objects taken out (configuration, never applied nor pruned).
pub(super) struct Built {
    /// Flux's notification objects of the commit.
    pub notifications: Notifications,
    /// The root repository's `spec.verify`, with the repository's namespace.
    pub verify: Option<(String, crate::flux::source::Verify)>,
    /// The GitRepository the root names.
    pub repository: Id,
    /// The image automation objects of every unit.
    pub images: crate::flux::image::Images,
    pub objects: Vec<Value>,
    pub units: Vec<SyncUnit>,
    pub notices: Vec<String>,
    pub consumed: BTreeSet<ObjectKey>,
}

/// Renders `path` and the Kustomizations reachable from it.
pub(super) fn build(files: &dyn Files, path: &str, env: &BuildEnv) -> Result<Built, render::Error> {
    let root_options = Options {
        decrypt: env.keys.as_deref().map(|k| k as &dyn render::Decrypt),
    };
    let root = render::render_with(files, path, &root_options)?;
    let consumed = root
        .iter()
        .filter(|o| is_flux(o))
        .filter_map(ObjectKey::of)
        .collect();
    let included = root_includes(files, &root, path, env)?;
    let files: &dyn Files = included.as_ref().map_or(files, |m| m as &dyn Files);
    let source = Source::of(files, &root, path)?;
    let mut masks: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut sources: BTreeMap<String, UnitSource> = BTreeMap::new();
    let mut unreadable = BTreeSet::new();
    let mut found = units::discover(path, root, |k: &Kustomization, further, declared| {
        let mut from = None;
        let further = further.map(|r| (r, declared));
        let built = build_unit(&source, k, further, env, &mut from);
        if let Some(from) = from {
            sources.insert(k.id.to_string(), from);
        }
        match built {
            Ok((objects, mask)) => {
                masks.insert(k.id.to_string(), mask);
                Ok(objects)
            }
            Err(UnitError::Unreadable(e)) => {
                unreadable.insert(k.id.to_string());
                Err(e)
            }
            Err(UnitError::Render(e)) => Err(e),
        }
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
    let root_verify = found.root_source.as_ref().and_then(|r| {
        let v = r.spec.verify.clone()?;
        Some((r.id.namespace.clone(), v))
    });
    let mut objects = Vec::new();
    let mut notices = std::mem::take(&mut found.notices);
    let mut units = Vec::new();
    let mut owner: BTreeMap<ObjectKey, String> = BTreeMap::new();
    for u in std::mem::take(&mut found.units) {
        let mut unit = sync_unit(&u);
        unit.mask = Mask(masks.remove(&unit.name).unwrap_or_default());
        unit.source = sources.remove(&unit.name);
        if let (true, Some(Hold::Failed(why))) = (unreadable.contains(&unit.name), &unit.hold) {
            unit.hold = Some(Hold::Unreadable(why.clone()));
        }
        let declared = match u.build {
            Build::Objects(o) => o,
            _ => Vec::new(),
        };
        place(
            unit,
            declared,
            &mut owner,
            &mut objects,
            &mut units,
            &mut notices,
        );
    }
    // Each HelmRelease, once the objects whose ConfigMaps and Secrets its values may name are
    // known.
    for (hr, parent) in &found.helm_releases {
        let (unit, declared) = helm_unit(hr, parent, &source, &found, &objects, env);
        place(
            unit,
            declared,
            &mut owner,
            &mut objects,
            &mut units,
            &mut notices,
        );
    }
    let notifications = Notifications::read(&found.notifications, &mut notices);
    Ok(Built {
        notifications,
        images: found.images.clone(),
        repository: source.repository.clone(),
        verify: root_verify,
        objects,
        units,
        notices,
        consumed,
    })
}

/// The unit of a HelmRelease, and what it applies.
fn helm_unit(
    hr: &crate::flux::units::ReadRelease,
    parent: &str,
    source: &Source<'_>,
    found: &units::Units,
    objects: &[Value],
    env: &BuildEnv,
) -> (SyncUnit, Vec<Value>) {
    let inputs = super::helm::UnitInputs {
        inputs: super::helm::Inputs {
            files: &source.files,
            sources: &found.charts,
            objects,
            cluster: env.cluster.as_ref(),
            helm: env.helm.as_ref(),
        },
        root_repository: &source.repository,
        git: &found.repositories,
        further: env.repositories.as_ref(),
    };
    super::helm::unit(hr, parent, &inputs)
}

/// Adds `unit` with the objects it declares; an object another unit declared first stays
/// that one's, said in `notices`.
fn place(
    mut unit: SyncUnit,
    declared: Vec<Value>,
    owner: &mut BTreeMap<ObjectKey, String>,
    objects: &mut Vec<Value>,
    units: &mut Vec<SyncUnit>,
    notices: &mut Vec<String>,
) {
    for object in declared {
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
    units.push(unit);
}

/// Builds one Kustomization as Flux does: its `substituteFrom` sources and decryption keys read
/// from the cluster (a source that cannot be read fails it: substituting without it would apply
/// something else), from `further` when it names another GitRepository than the root's or an
/// OCIRepository (its commit or revision goes into `from`, built or not); returns its objects
/// and the Secret values it substituted, to be masked in anything reported.
fn build_unit(
    source: &Source<'_>,
    k: &Kustomization,
    further: Option<(Origin<'_>, &BTreeMap<Id, GitRepository>)>,
    env: &BuildEnv,
    from: &mut Option<UnitSource>,
) -> Result<(Vec<Value>, BTreeSet<String>), UnitError> {
    let unreadable = RefCell::new(Vec::new());
    let absent = RefCell::new(BTreeSet::new());
    let resolve = |kind: SourceKind, name: &str| {
        let kind_name = match kind {
            SourceKind::ConfigMap => "ConfigMap",
            SourceKind::Secret => "Secret",
        };
        let read = env
            .cluster
            .object(kind_name, &k.id.namespace, name)
            .and_then(|o| o.map(|o| data_of(kind, &o)).transpose());
        let data = read.unwrap_or_else(|e| {
            unreadable.borrow_mut().push(e);
            None
        });
        if data.is_none() {
            absent.borrow_mut().insert((kind_name, name.to_owned()));
        }
        data
    };
    // A required source that does not exist yet (a dependency may make it) is waited for.
    let required_absent = || {
        k.spec
            .post_build
            .iter()
            .flat_map(|p| &p.substitute_from)
            .any(|r| !r.optional && absent.borrow().contains(&(r.kind.as_str(), r.name.clone())))
    };
    let overlay = FluxOverlay::from_spec(&k.raw_spec, true, &resolve).map_err(|e| {
        if required_absent() {
            UnitError::Unreadable(e)
        } else {
            UnitError::Render(e)
        }
    })?;
    if let Some(e) = unreadable.borrow().first() {
        return Err(UnitError::Unreadable(render::Error::invalid(
            &k.path(),
            format!(
                "spec.postBuild.substituteFrom: {e}; nothing of this Kustomization is applied until it can be read"
            ),
        )));
    }
    let mask = overlay
        .post_build
        .as_ref()
        .map(varsub::secret_values)
        .unwrap_or_default();
    let keys = decryption_keys(k, env).map_err(UnitError::Unreadable)?;
    let options = Options {
        decrypt: keys.as_deref().map(|k| k as &dyn render::Decrypt),
    };
    let (artifact, fetched, composed, pulled, ignored);
    let tree: &dyn Files = match (k.source(), further) {
        (("ExternalArtifact", id), _) => {
            artifact = source.artifact(&id, &k.path())?;
            &artifact
        }
        (_, Some((Origin::Git(repo), declared))) => {
            fetched = env
                .repositories
                .tree(repo)
                .map_err(|e| not_fetched(k, &e))?;
            *from = Some(git_source(repo, &fetched.commit));
            let fetch = |r: &GitRepository| env.repositories.tree(r);
            composed = include::with_includes(&fetched.files, repo, declared, &fetch)
                .map_err(|e| not_fetched(k, &e))?;
            let files: &dyn Files = composed.as_ref().map_or(&fetched.files, |m| m);
            ignored = SourceIgnored::with(files, repo.spec.ignore.as_deref())?;
            &ignored
        }
        (_, Some((Origin::Oci(repo), _))) => {
            let (got, unit_source) = oci_artifact(k, repo, env)?;
            (pulled, *from) = (got, Some(unit_source));
            // An extracted layer is archived by source-controller with the `.sourceignore` rules
            // it holds; a copied one is the artifact as pushed.
            if repo.layer().extract {
                ignored = SourceIgnored::new(&pulled.files)?;
                &ignored
            } else {
                &pulled.files
            }
        }
        _ => &source.files,
    };
    let objects = render::flux::build_with(tree, &k.path(), &overlay, &options).map_err(|e| {
        if required_absent() {
            UnitError::Unreadable(e)
        } else {
            UnitError::Render(e)
        }
    })?;
    Ok((objects, mask))
}

/// A further GitRepository at `commit`.
fn git_source(repo: &GitRepository, commit: &crate::ids::CommitId) -> UnitSource {
    UnitSource {
        kind: UnitSourceKind::GitRepository,
        repository: repo.id.clone(),
        tracks: repo.tracks(),
        commit: commit.clone(),
    }
}

/// The artifact the OCIRepository `repo` follows, fetched for `k`, and the unit's source at
/// its revision.
fn oci_artifact(
    k: &Kustomization,
    repo: &OciRepository,
    env: &BuildEnv,
) -> Result<(Arc<Artifact>, UnitSource), UnitError> {
    let artifact = env
        .repositories
        .artifact(repo)
        .map_err(|e| not_fetched(k, &e))?;
    let source = UnitSource {
        kind: UnitSourceKind::OciRepository,
        repository: repo.id.clone(),
        tracks: repo.tracks(),
        commit: artifact.revision.flux().into(),
    };
    Ok((artifact, source))
}

/// A unit whose further source cannot be had: nothing of it is applied until it can be.
fn not_fetched(k: &Kustomization, e: &str) -> UnitError {
    UnitError::Unreadable(render::Error::invalid(
        &k.path(),
        format!(
            "spec.sourceRef: {e}; nothing of this Kustomization is applied until it can be fetched"
        ),
    ))
}

/// The repository fledge runs on with the includes of the GitRepository the root Kustomization
/// names (those GitRepositories declared in the root path), as source-controller's artifact
/// has them; `None` when it includes nothing. The root path itself is rendered before: an
/// include into it is refused, naming it, as are submodules and a sparse checkout.
fn root_includes(
    files: &dyn Files,
    root: &[Value],
    path: &str,
    env: &BuildEnv,
) -> Result<Option<crate::render::MemFiles>, render::Error> {
    let (_, Some(repo)) = root_repository(root, path) else {
        return Ok(None);
    };
    let fail = |e: String| render::Error::invalid(path, e);
    // What would make source-controller's artifact other than the repository's files.
    let spec = &repo.spec;
    for (field, set) in [
        ("spec.recurseSubmodules", spec.recurse_submodules),
        ("spec.sparseCheckout", !spec.sparse_checkout.is_empty()),
    ] {
        if set {
            return Err(fail(format!(
                "GitRepository {}: {field} is not followed by fledge (it reads the whole repository, without submodules); remove it",
                repo.id
            )));
        }
    }
    let root_path = crate::flux::kustomization::normal_path(path);
    let inside = |to: &str| {
        root_path.is_empty() || to == root_path || to.starts_with(&format!("{root_path}/"))
    };
    if let Some(to) = include::targets(&repo)
        .map_err(|e| fail(format!("GitRepository {}: {e}", repo.id)))?
        .into_iter()
        .find(|to| inside(to))
    {
        return Err(fail(format!(
            "GitRepository {}: spec.include puts files at `{to}`, in the root path fledge renders before it includes anything; include them elsewhere and point a Kustomization at them",
            repo.id
        )));
    }
    let declared: BTreeMap<Id, GitRepository> =
        of_kind(root, crate::flux::source::GROUP, "GitRepository")
            .filter_map(|o| GitRepository::parse(o).ok())
            .map(|r| (r.id.clone(), r))
            .collect();
    let fetch = |r: &GitRepository| env.repositories.tree(r);
    include::with_includes(files, &repo, &declared, &fetch).map_err(fail)
}

/// The GitRepository the root Kustomization names (`flux-system/flux-system` when none does),
/// and its object when the root path declares it.
fn root_repository(root: &[Value], path: &str) -> (Id, Option<GitRepository>) {
    let root_path = crate::flux::kustomization::normal_path(path);
    let repository = of_kind(root, crate::flux::kustomization::GROUP, "Kustomization")
        .filter_map(|o| Kustomization::parse(o).ok())
        .find(|k| k.path() == root_path)
        .map_or_else(
            || Id {
                namespace: "flux-system".to_owned(),
                name: "flux-system".to_owned(),
            },
            |k| k.source().1,
        );
    let object = of_kind(root, crate::flux::source::GROUP, "GitRepository")
        .filter_map(|o| GitRepository::parse(o).ok())
        .find(|r| r.id == repository);
    (repository, object)
}

/// The repository fledge runs on as source-controller serves it (its GitRepository's
/// `spec.ignore` and the `.sourceignore` files applied), and the ArtifactGenerators of the
/// commit that split it into ExternalArtifacts (source-watcher's).
struct Source<'a> {
    files: SourceIgnored<'a>,
    repository: Id,
    generators: Vec<ArtifactGenerator>,
}

impl<'a> Source<'a> {
    /// Read from the root path's objects: the GitRepository the root Kustomization names
    /// (`flux-system/flux-system` when none does), and the generators.
    fn of(files: &'a dyn Files, root: &[Value], path: &str) -> Result<Self, render::Error> {
        let (repository, object) = root_repository(root, path);
        let ignore = object.and_then(|r| r.spec.ignore);
        let generators = of_kind(root, "source.extensions.fluxcd.io", "ArtifactGenerator")
            .map(ArtifactGenerator::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| render::Error::invalid(path, e.to_string()))?;
        Ok(Self {
            files: SourceIgnored::with(files, ignore.as_deref())?,
            repository,
            generators,
        })
    }

    /// The files of the ExternalArtifact `id`, as its ArtifactGenerator copies them from the
    /// repository (read as it is: source-watcher applies no ignore rules to an artifact).
    fn artifact(&self, id: &Id, path: &str) -> Result<crate::render::MemFiles, UnitError> {
        let a = self
            .generators
            .iter()
            .find_map(|g| g.produces(id))
            .ok_or_else(|| {
                render::Error::invalid(
                    path,
                    format!("spec.sourceRef: no ArtifactGenerator of this commit produces ExternalArtifact {id}"),
                )
            })?;
        a.files(&self.repository, &self.files)
            .map_err(|e| UnitError::Render(render::Error::invalid(path, e.to_string())))
    }
}

/// Why a Kustomization did not build: its inputs, or what it reads from the cluster.
enum UnitError {
    Render(render::Error),
    Unreadable(render::Error),
}

impl From<render::Error> for UnitError {
    fn from(e: render::Error) -> Self {
        Self::Render(e)
    }
}

/// The keys `spec.decryption` asks for: those of the Secret it names, else fledge's own.
fn decryption_keys(k: &Kustomization, env: &BuildEnv) -> Result<Option<Arc<Keys>>, render::Error> {
    let Some(d) = &k.spec.decryption else {
        return Ok(None);
    };
    let fail = |why: String| render::Error::invalid(&k.path(), format!("spec.decryption: {why}"));
    if d.provider != "sops" {
        return Err(fail(format!(
            "provider {:?} is not one Flux knows (sops)",
            d.provider
        )));
    }
    if d.service_account_name.is_some() {
        return Err(fail(
            "serviceAccountName (keys from a cloud KMS through workload identity) is not supported: name a Secret holding age keys in secretRef".to_owned(),
        ));
    }
    let Some(r) = &d.secret_ref else {
        return env.keys.clone().map(Some).ok_or_else(|| {
            fail("names no Secret (secretRef) and fledge was given no --sops-age-key-file: give it one of the two".to_owned())
        });
    };
    let secret = env
        .cluster
        .object("Secret", &k.id.namespace, &r.name)
        .map_err(|e| fail(format!("secretRef: {e}")))?
        .ok_or_else(|| {
            fail(format!(
                "secretRef: Secret {}/{} does not exist; create it with the age keys (sops-age key *.agekey)",
                k.id.namespace, r.name
            ))
        })?;
    Keys::from_secret(&secret)
        .map(|keys| Some(Arc::new(keys)))
        .map_err(|e| fail(format!("secretRef: {e}")))
}

/// A ConfigMap's data, or a Secret's decoded (values must be UTF-8, as Flux reads them).
fn data_of(kind: SourceKind, o: &Value) -> Result<BTreeMap<String, String>, String> {
    if kind == SourceKind::ConfigMap {
        let data = o["data"].as_object().into_iter().flatten();
        return Ok(data
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect());
    }
    let what = crate::object::describe(o);
    crate::object::secret_bytes(o)?
        .into_iter()
        .map(|(k, v)| {
            String::from_utf8(v)
                .map(|text| (k.clone(), text))
                .map_err(|_| format!("{what}: the value of {k:?} is not UTF-8 text"))
        })
        .collect()
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
    let hold = match k.map(|k| crate::object::health::compile(&k.spec.health_check_exprs)) {
        Some(Err(e)) if hold.is_none() => Some(Hold::Failed(format!("spec.healthCheckExprs: {e}"))),
        _ => hold,
    };
    let (ready_exprs, hold) = ready_exprs(k, hold);
    let hold = match spec.map(|s| crate::cluster::drift::compile(&s.ignore)) {
        Some(Err(e)) if hold.is_none() => Some(Hold::Failed(e)),
        _ => hold,
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
        force: spec.is_some_and(|s| s.force),
        ignore: spec.map(|s| s.ignore.clone()).unwrap_or_default(),
        deletion,
        interval: k.map(Kustomization::interval),
        retry_interval: k.map(Kustomization::retry_interval),
        timeout: k.map_or(Duration::from_secs(300), Kustomization::timeout),
        health: k.map(health).unwrap_or_default(),
        hold,
        mask: Mask::default(),
        service_account: k.and_then(|k| {
            let sa = k.spec.service_account_name.as_ref()?;
            Some(format!("{}/{sa}", k.id.namespace))
        }),
        source: None,
        parent: u.parent.clone(),
        declared: k.map_or(Value::Null, Kustomization::object),
        ready_exprs,
        name,
    }
}

/// The `readyExpr` of each dependency that has one, by the dependency's unit name; one that
/// does not parse holds the unit (Flux stalls the Kustomization on it).
fn ready_exprs(
    k: Option<&Kustomization>,
    hold: Option<Hold>,
) -> (BTreeMap<String, String>, Option<Hold>) {
    let Some(k) = k else {
        return (BTreeMap::new(), hold);
    };
    let mut exprs = BTreeMap::new();
    let mut hold = hold;
    for (i, (d, id)) in k.spec.depends_on.iter().zip(k.dependencies()).enumerate() {
        let Some(expr) = d.ready_expr.as_ref().filter(|e| !e.is_empty()) else {
            continue;
        };
        if let Err(e) = crate::object::health::Condition::parse(expr)
            && hold.is_none()
        {
            hold = Some(Hold::Failed(format!("spec.dependsOn[{i}].readyExpr: {e}")));
        }
        exprs.insert(id.to_string(), expr.clone());
    }
    (exprs, hold)
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

/// Flux's `Provider`, `Alert` and `Receiver` objects of a commit: where events about its
/// Kustomizations go, and which webhooks make fledge fetch the repository.
#[derive(Debug, Clone, Default)]
pub struct Notifications {
    pub providers: Vec<Provider>,
    pub alerts: Vec<Alert>,
    pub receivers: Vec<Receiver>,
}

impl Notifications {
    /// Reads each object; one that cannot be used is said in `notices`, naming it and the
    /// field, and left out (it fails nothing else), as are its warnings.
    fn read(objects: &[Value], notices: &mut Vec<String>) -> Self {
        let mut out = Self::default();
        for o in objects {
            let read = match o["kind"].as_str() {
                Some("Provider") => Provider::parse(o).map(|p| {
                    notices.extend(p.warnings.iter().cloned());
                    out.providers.push(p);
                }),
                Some("Alert") => Alert::parse(o).map(|a| out.alerts.push(a)),
                _ => Receiver::parse(o).map(|r| {
                    notices.extend(r.warnings.iter().cloned());
                    out.receivers.push(r);
                }),
            };
            if let Err(e) = read {
                notices.push(format!("{e}; left out"));
            }
        }
        out
    }
}

/// The objects of `objects` of `kind` in API group `group` (any version).
fn of_kind<'a>(
    objects: &'a [Value],
    group: &'a str,
    kind: &'a str,
) -> impl Iterator<Item = &'a Value> {
    objects.iter().filter(move |o| {
        o["kind"] == kind
            && o["apiVersion"]
                .as_str()
                .is_some_and(|a| a.split_once('/').is_some_and(|(g, _)| g == group))
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

/// At the root, what shapes a build (the root path is rendered as `fledge build` does).
/// (`spec.decryption` is honoured there: the root path rendered, so what it holds decrypted with
/// `--sops-age-key-file`, or nothing in it is encrypted.)
const NOT_YET_AT_ROOT: [Field; 8] = [
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
