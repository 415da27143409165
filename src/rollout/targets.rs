//! The plan stage: from the rendered objects of a commit to what the cluster should hold —
//! plain objects for sync, and release targets (a Canary with the objects it references) for
//! the rollout engine. Pure. The daemon and `fledge plan` both split with [`split`].
//!
//! Objects a Canary references — the target Deployment, its HPA, its Ingress, a Service with
//! the apex name — are applied only through the rollout, so sync never resets what a rollout
//! manages. Canary, MetricTemplate and AlertProvider objects configure fledge and are not
//! applied. A Canary that cannot be used is reported and skipped; the others go on.

mod flux;
pub mod helm;
mod include;
mod unit;

pub use flux::Notifications;
pub use unit::{
    BuildEnv, ClusterData, Deletion, Health, Hold, Mask, NoCluster, Repositories, SyncUnit,
    UnitSource, UnitSourceKind,
};

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::ids::CommitId;
use crate::keys;
use crate::object::{ObjectIndex, ObjectKey, ObjectRef, namespace_or_default, with_namespace};
use crate::release::spec::{
    AlertProvider, METRIC_PROVIDERS_QUERIED, MetricSourceRef, MetricTemplate, Provider, ReleaseKey,
    ReleaseSpec,
};
use crate::release::{ReleaseState, ReleaseTarget};
use crate::release::{is_kind, parse_alert_provider, parse_canary, parse_metric_template};
use crate::render::{self, Files};
use crate::revision::{
    ConfigIndex, ConfigKind, HashKey, Revision, RevisionId, revision_in, spec_revision,
    template_revision,
};

/// What one commit asks for.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// Objects sync applies (and prunes when they disappear).
    pub plain: Vec<Value>,
    /// One per Canary.
    pub releases: BTreeMap<ReleaseKey, ReleaseTarget>,
    pub templates: BTreeMap<(String, String), MetricTemplate>,
    pub alert_providers: BTreeMap<(String, String), AlertProvider>,
    /// Objects in the repository that releases apply (never pruned by sync).
    pub owned: BTreeSet<ObjectKey>,
    /// Canaries (and templates) that cannot be used, with the reason.
    pub problems: Vec<Problem>,
    /// What a person should know of how the commit is synced (Flux objects left out, Flux
    /// fields not followed yet).
    pub notices: Vec<String>,
    /// The sync units, dependencies first: the root path and each Flux Kustomization.
    pub units: Vec<SyncUnit>,
    /// The `spec.verify` of the GitRepository fledge runs on, as the commit declares it, with
    /// that GitRepository's namespace (where its Secret is).
    pub verify: Option<(String, crate::flux::source::Verify)>,
    /// Flux's notification objects of the commit.
    pub notifications: Notifications,
    /// The GitRepository fledge runs on, as the commit names it (`flux-system/flux-system`
    /// when no Kustomization names the root path); `None` for objects split without a build.
    pub repository: Option<crate::flux::Id>,
    /// The image automation objects (ImageRepositories, ImagePolicies,
    /// ImageUpdateAutomations) of the commit.
    pub images: crate::flux::image::Images,
    /// Each Canary's `metadata.labels` (`Null` when it has none), usable or not: a daemon
    /// with a label selector ticks only the releases whose Canary it selects.
    pub canary_labels: BTreeMap<ReleaseKey, Value>,
}

/// A Canary, MetricTemplate or AlertProvider that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The release of a Canary; `None` for templates and providers.
    pub release: Option<ReleaseKey>,
    /// What is wrong, naming the object and the field.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Problem {
    fn of(message: &impl ToString) -> Self {
        Self {
            release: None,
            message: message.to_string(),
        }
    }
}

fn with_ns(o: &Value, ns: &str) -> Value {
    with_namespace(o.clone(), ns)
}

/// Renders `path` of `files` (and the Flux Kustomizations reachable from it) and splits the
/// result. `commit` is the snapshot's commit, used
/// as the commit that brought each revision; the daemon replaces it with the earlier commit
/// when a revision did not change.
pub fn desired(
    files: &dyn Files,
    path: &str,
    commit: &str,
    provider: &Provider,
    key: &HashKey,
    env: &BuildEnv,
) -> Result<Desired, render::Error> {
    let built = flux::build(files, path, env)?;
    let mut d = split(&built.objects, commit, provider, key);
    d.notices.splice(0..0, built.notices);
    d.units = built.units;
    d.verify = built.verify;
    d.notifications = built.notifications;
    d.repository = Some(built.repository);
    d.images = built.images;
    d.owned.extend(built.consumed);
    Ok(d)
}

/// [`desired`] for already rendered objects.
#[must_use]
pub fn split(objects: &[Value], commit: &str, provider: &Provider, key: &HashKey) -> Desired {
    let mut out = Desired::default();
    let invalid = configuration(objects, &mut out);
    let index = ConfigIndex::new(objects);
    let by_name = ObjectIndex::new(objects);
    for o in objects.iter().filter(|o| is_kind(o, "Canary")) {
        out.canary_labels
            .insert(canary_key(o), o["metadata"]["labels"].clone());
        let target = release_target(o, provider, &index, &by_name, key)
            .and_then(|t| templates_usable(t, &out.templates, &invalid));
        match target {
            Ok(mut t) => {
                out.notices.extend(
                    t.spec
                        .unhonoured
                        .iter()
                        .map(|u| format!("Canary {}: {u}", t.spec.key())),
                );
                out.owned.extend(owned_by(&t.spec, &by_name));
                t.commit = Some(CommitId::from(commit));
                out.releases.insert(t.spec.key(), t);
            }
            Err(message) => out.problems.push(Problem {
                release: Some(canary_key(o)),
                message,
            }),
        }
    }
    out.plain = objects
        .iter()
        .filter(|o| {
            !(is_kind(o, "Canary") || is_kind(o, "MetricTemplate") || is_kind(o, "AlertProvider"))
        })
        .filter(|o| {
            let namespaced = with_ns(o, namespace_or_default(o));
            ObjectKey::of(&namespaced).is_none_or(|k| !out.owned.contains(&k))
        })
        .cloned()
        .collect();
    out
}

/// The release, when every MetricTemplate its checks name is in the repository (where fledge
/// reads them) and uses a provider fledge queries: a check fledge cannot run could never
/// pass, and a rollout that can only roll back is refused before it starts.
fn templates_usable(
    t: ReleaseTarget,
    templates: &BTreeMap<(String, String), MetricTemplate>,
    invalid: &BTreeMap<(String, String), String>,
) -> Result<ReleaseTarget, String> {
    for (i, m) in t.spec.analysis.metrics.iter().enumerate() {
        let MetricSourceRef::Template { namespace, name } = &m.source else {
            continue;
        };
        let at = format!(
            "Canary {}: spec.analysis.metrics[{i}].templateRef",
            t.spec.key()
        );
        let key = (namespace.clone(), name.clone());
        if let Some(why) = invalid.get(&key) {
            return Err(format!("{at}: {why}"));
        }
        let Some(template) = templates.get(&key) else {
            return Err(format!(
                "{at}: MetricTemplate {namespace}/{name} is not in the repository"
            ));
        };
        if !METRIC_PROVIDERS_QUERIED.contains(&template.provider_type.as_str()) {
            return Err(format!(
                "{at}: MetricTemplate {namespace}/{name} uses the {} metric provider, which this version of fledge cannot query (it queries {}): every check would fail and the release would roll back; query the same metric from Prometheus, or keep this Canary on Flagger for now",
                template.provider_type,
                METRIC_PROVIDERS_QUERIED.join(", ")
            ));
        }
    }
    Ok(t)
}

/// The MetricTemplates and AlertProviders that configure the releases; the templates that
/// cannot be read, with why.
fn configuration(objects: &[Value], out: &mut Desired) -> BTreeMap<(String, String), String> {
    let mut invalid = BTreeMap::new();
    for o in objects {
        if is_kind(o, "MetricTemplate") {
            match parse_metric_template(o) {
                Ok(t) => {
                    out.templates
                        .insert((t.namespace.clone(), t.name.clone()), t);
                }
                Err(e) => {
                    let key = (
                        namespace_or_default(o).to_owned(),
                        o["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                    invalid.insert(key, e.to_string());
                    out.problems.push(Problem::of(&e));
                }
            }
        } else if is_kind(o, "AlertProvider") {
            match parse_alert_provider(o) {
                Ok(p) => {
                    out.alert_providers
                        .insert((p.namespace.clone(), p.name.clone()), p);
                }
                Err(e) => out.problems.push(Problem::of(&e)),
            }
        }
    }
    invalid
}

/// The release of a Canary object, as [`ReleaseSpec::key`] names it.
fn canary_key(canary: &Value) -> ReleaseKey {
    ReleaseKey::new(
        namespace_or_default(canary),
        canary["metadata"]["name"].as_str().unwrap_or(""),
    )
}

/// The release target of a Canary: its spec, the target and its revision, the configs, HPA and
/// Ingress it references; or why there is none.
pub(crate) fn release_target(
    canary: &Value,
    provider: &Provider,
    index: &ConfigIndex<'_>,
    by_name: &ObjectIndex<'_>,
    key: &HashKey,
) -> Result<ReleaseTarget, String> {
    let spec = parse_canary(canary, provider).map_err(|e| e.to_string())?;
    let ns = spec.namespace.clone();
    let Some(target) = target_of(&spec, by_name) else {
        return Err(format!(
            "Canary {}: spec.targetRef: {} {ns}/{} is not in the repository",
            spec.key(),
            spec.target.kind,
            spec.target.name
        ));
    };
    let target = with_ns(target, &ns);
    // Knative keeps each revision it creates as it was: only the template makes one (Flagger
    // tracks no ConfigMaps or Secrets for Knative Services).
    let revision = if spec.provider == Provider::Knative {
        template_revision(&target)
    } else if spec.target.kind == "Service" {
        // Flagger's ServiceController tracks the Service's spec.
        Ok(spec_revision(&target))
    } else {
        revision_in(&target, index, None, key)
    }
    .map_err(|e| format!("Canary {}: {e}", spec.key()))?;
    let configs: Vec<Value> = revision
        .configs
        .iter()
        .filter_map(|c| {
            let kind = match c.kind {
                ConfigKind::ConfigMap => "ConfigMap",
                ConfigKind::Secret => "Secret",
            };
            by_name.get(kind, &ns, &c.name).map(|o| with_ns(o, &ns))
        })
        .collect();
    let autoscaler = spec
        .autoscaler
        .as_ref()
        .and_then(|a| by_name.get(&a.kind, &ns, &a.name))
        .map(|o| with_ns(o, &ns));
    let ingress = spec
        .ingress
        .as_ref()
        .and_then(|i| by_name.get("Ingress", &ns, &i.name))
        .map(|o| with_ns(o, &ns));
    let route = spec
        .route
        .as_ref()
        .and_then(|r| by_name.get(&r.kind, &ns, &r.name))
        .map(|o| with_ns(o, &ns));
    Ok(ReleaseTarget {
        spec,
        target,
        revision,
        configs,
        autoscaler,
        ingress,
        route,
        commit: None,
        known_good: false,
        primary_source: None,
    })
}

/// A Canary's target among the rendered objects: a Knative Service by its API group too.
fn target_of<'a>(spec: &ReleaseSpec, by_name: &ObjectIndex<'a>) -> Option<&'a Value> {
    let (ns, t) = (spec.namespace.as_str(), &spec.target);
    if t.is_knative_service() {
        let (group, _) = crate::object::split_api_version(&t.api_version);
        by_name.get_in(group, &t.kind, ns, &t.name)
    } else {
        by_name.get(&t.kind, ns, &t.name)
    }
}

/// The rendered objects a Canary takes over, which sync must leave to the rollout: the target,
/// its autoscaler and Ingress, and a Service with the apex name (replaced by the generated one,
/// as Flagger does); of a Knative Service, only the target.
fn owned_by(spec: &ReleaseSpec, by_name: &ObjectIndex<'_>) -> Vec<ObjectKey> {
    let ns = spec.namespace.as_str();
    if spec.provider == Provider::Knative {
        return target_of(spec, by_name)
            .and_then(|obj| ObjectKey::of(&with_ns(obj, ns)))
            .into_iter()
            .collect();
    }
    let mut refs = vec![(spec.target.kind.as_str(), spec.target.name.as_str())];
    if let Some(a) = &spec.autoscaler {
        refs.push((a.kind.as_str(), a.name.as_str()));
    }
    if let Some(i) = &spec.ingress {
        refs.push(("Ingress", i.name.as_str()));
    }
    refs.push(("Service", spec.service.name.as_str()));
    refs.into_iter()
        .filter_map(|(kind, name)| by_name.get(kind, ns, name))
        .filter_map(|obj| ObjectKey::of(&with_ns(obj, ns)))
        .collect()
}

/// The releases whose Canary the commit breaks, with why: they are held as they were.
#[must_use]
pub fn held(d: &Desired) -> BTreeMap<ReleaseKey, String> {
    d.problems
        .iter()
        .filter_map(|p| p.release.clone().map(|r| (r, p.message.clone())))
        .collect()
}

/// For each plain object that a held release may have taken over, the live object whose
/// existence says it did: a Deployment's, DaemonSet's, Service's, HPA's or ScaledObject's
/// `-primary`, an Ingress's `-canary`, a Knative Service itself (when [`is_evidence`] says so),
/// in the namespace of a held release. (A broken Canary
/// cannot say what it owns, so what the rollout made says it instead.)
#[must_use]
pub fn ownership_evidence(
    d: &Desired,
    held: &BTreeMap<ReleaseKey, String>,
) -> Vec<(ObjectKey, ObjectRef)> {
    let namespaces: BTreeSet<&str> = held.keys().map(ReleaseKey::namespace).collect();
    d.plain
        .iter()
        .filter_map(|o| {
            let key = ObjectKey::of(o).filter(|k| namespaces.contains(k.namespace.as_str()))?;
            let sibling = match key.kind.as_str() {
                // A Knative Service is its own evidence ([`is_evidence`]).
                "Service" if key.group == KNATIVE_GROUP => key.name.clone(),
                "Deployment"
                | "DaemonSet"
                | "Service"
                | "HorizontalPodAutoscaler"
                | "ScaledObject" => keys::primary(&key.name),
                "Ingress" => format!("{}-canary", key.name),
                _ => return None,
            };
            let api = o["apiVersion"].as_str().unwrap_or("");
            let evidence = ObjectRef::new(api, &key.kind, &key.namespace, &sibling);
            Some((key, evidence))
        })
        .collect()
}

/// The API group of Knative Serving.
const KNATIVE_GROUP: &str = "serving.knative.dev";

/// Whether a live evidence object says a release took its object over: a Knative Service when
/// it names a primary revision (the knative router's annotation), anything else by existing.
#[must_use]
pub fn is_evidence(live: &Value) -> bool {
    let knative = live["apiVersion"]
        .as_str()
        .is_some_and(|a| a.starts_with("serving.knative.dev/"));
    !knative || live["metadata"]["annotations"][keys::KNATIVE_PRIMARY_REVISION].is_string()
}

/// Keeps with their held release the objects of `candidates` whose evidence is not known to be
/// absent (it exists, or the cluster could not tell): they move from the plain objects to the
/// owned ones, neither applied nor pruned by sync. Returns them.
pub fn hold(
    d: &mut Desired,
    candidates: &[(ObjectKey, ObjectRef)],
    absent: &BTreeSet<ObjectRef>,
) -> Vec<ObjectKey> {
    let keep: BTreeSet<&ObjectKey> = candidates
        .iter()
        .filter(|(_, evidence)| !absent.contains(evidence))
        .map(|(k, _)| k)
        .collect();
    let (owned, plain): (Vec<Value>, Vec<Value>) = std::mem::take(&mut d.plain)
        .into_iter()
        .partition(|o| ObjectKey::of(o).is_some_and(|k| keep.contains(&k)));
    d.plain = plain;
    let owned: Vec<ObjectKey> = owned.iter().filter_map(ObjectKey::of).collect();
    d.owned.extend(owned.iter().cloned());
    owned
}

/// The commit that brought a release's revision: the one recorded earlier for the same revision
/// (this run's, else the persisted state's: the canary's or the primary's, recorded under this
/// hashing scheme or the previous one), else `commit`, the commit being applied. A commit that
/// changes nothing for a release does not take over its record.
#[must_use]
pub fn bringing_commit(
    revision: &Revision,
    commit: &CommitId,
    earlier: Option<&(RevisionId, CommitId)>,
    persisted: Option<&ReleaseState>,
) -> CommitId {
    let is = |r: Option<&RevisionId>| r.is_some_and(|r| revision.is(r));
    let prior = match earlier {
        Some((r, c)) if revision.is(r) => Some(c.clone()),
        Some(_) => None,
        None => persisted.and_then(|s| {
            if is(s.canary_revision.as_ref()) {
                s.source_commit.clone()
            } else if is(s.primary_revision.as_ref()) {
                s.primary_commit.clone()
            } else {
                None
            }
        }),
    };
    prior.unwrap_or_else(|| commit.clone())
}

#[cfg(test)]
mod tests;
