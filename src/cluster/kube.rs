//! The real cluster through kube-rs: server-side apply with the field manager `fledge` (forced,
//! after a dry run of the whole batch: if any object fails, nothing is applied), Namespaces then
//! CRDs (waited for until Established) then the rest, reads, deletes, and the installation's
//! revision key. Pruning by inventory is [`super::inventory`]'s, over the [`super::Cluster`]
//! trait.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use serde_json::{Value, json};

use crate::keys::{self, FIELD_MANAGER};
use crate::object::{ObjectKey, ObjectRef, split_api_version};

/// Why a cluster operation failed. Each variant names the request (verb and object) and says
/// the server's words in one line: what people read in `fledge status`, alerts and statuses.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server answered with an error.
    #[error("{verb} {object}: {message}")]
    Api {
        verb: &'static str,
        object: String,
        /// The HTTP status code.
        code: u16,
        /// The server's machine-readable reason (`Forbidden`, `NotFound`, `Invalid`, …).
        reason: String,
        /// The server's message (withheld for Secrets: it may quote their data).
        message: String,
    },
    /// The API server could not be reached, or did not answer in time.
    #[error("{verb} {object}: the API server did not answer: {message}")]
    Unreachable {
        verb: &'static str,
        object: String,
        message: String,
    },
    #[error("the dry run refused {} object(s), so nothing was applied: {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    DryRun(Vec<Error>),
    /// The cluster does not serve a kind: its CustomResourceDefinition is not installed.
    #[error(
        "{kind}.{api_version}: the cluster does not serve this kind; install its CustomResourceDefinition{hint}"
    )]
    NoKind {
        kind: String,
        api_version: String,
        hint: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("CustomResourceDefinition {name} was not Established within {timeout:?}")]
    NotEstablished { name: String, timeout: Duration },
}

impl Error {
    /// What kind of failure this is.
    #[must_use]
    pub fn fault(&self) -> super::Fault {
        use super::Fault;
        match self {
            Self::Api { code, reason, .. } => match (*code, reason.as_str()) {
                (404, _) | (_, "NotFound") => Fault::NotFound,
                (403, _) | (_, "Forbidden") => Fault::Forbidden,
                (401, _) | (_, "Unauthorized") => Fault::Unauthorized,
                (409 | 413 | 422, _) | (400, "BadRequest") => Fault::Refused,
                (429 | 502..=504, _) => Fault::Unreachable,
                _ => Fault::Other,
            },
            Self::Unreachable { .. } => Fault::Unreachable,
            Self::DryRun(refused) => refused.first().map_or(Fault::Refused, |e| match e.fault() {
                Fault::Other => Fault::Refused,
                f => f,
            }),
            Self::NoKind { .. } => Fault::NoKind,
            Self::Invalid(_) => Fault::Refused,
            Self::NotEstablished { .. } => Fault::Other,
        }
    }
}

/// The error of a request (`verb` on `object`). The server's message about a Secret is
/// withheld (its reason and the fields it names are kept): a server refusing a Secret's data can
/// quote the data (a typed-patch error prints the value it could not convert).
fn api_error(verb: &'static str, object: &str, secret: bool, e: kube::Error) -> Error {
    match e {
        kube::Error::Api(s) => {
            let message = if secret {
                withheld(&s.message, &s.reason)
            } else if s.message.is_empty() {
                format!("{} ({})", s.reason, s.code)
            } else {
                s.message.clone()
            };
            Error::Api {
                verb,
                object: object.to_owned(),
                code: s.code,
                reason: s.reason.clone(),
                message,
            }
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => Error::Unreachable {
            verb,
            object: object.to_owned(),
            message: crate::chain::Chain(&e).to_string(),
        },
        e => Error::Invalid(format!("{verb} {object}: {}", crate::chain::Chain(&e))),
    }
}

/// What may be said of a server's message about a Secret: the message itself when nothing in it
/// can hold a value (no quoted text past the Secret's own name, no Go value dump: a size or a
/// missing field), else its reason and the data fields it names, never a value.
#[must_use]
pub fn withheld(message: &str, reason: &str) -> String {
    let words = message
        .split_once(" is invalid: ")
        .map_or(message, |(_, w)| w);
    if !words.contains(['"', '\'', '{', '[', '`']) && !words.contains("got ") {
        return message.to_owned();
    }
    let fields = secret_fields(message);
    let reason = if reason.is_empty() { "refused" } else { reason };
    if fields.is_empty() {
        format!("{reason}: the server's message is withheld, as it may quote the Secret's data")
    } else {
        format!(
            "{reason} at {}: the server's message is withheld, as it may quote the Secret's data",
            fields.join(", ")
        )
    }
}

/// The `data`/`stringData` keys a server message names (`.data.token`, `data[token]`).
fn secret_fields(message: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\b(data|stringData)(\.|\[)([-._a-zA-Z0-9]+)")
        .expect("the pattern is valid");
    let mut out: Vec<String> = re
        .captures_iter(message)
        .map(|c| format!("{}.{}", &c[1], &c[3]))
        .collect();
    out.dedup();
    out
}

fn is_secret(obj: &Value) -> bool {
    obj["kind"] == "Secret"
        && split_api_version(obj["apiVersion"].as_str().unwrap_or(""))
            .0
            .is_empty()
}

/// How long one request may wait for the API server's answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Kinds every cluster serves, so that applying them needs no discovery request:
/// (group, version, kind, plural, namespaced).
const BUILTIN: &[(&str, &str, &str, &str, bool)] = &[
    ("", "v1", "Namespace", "namespaces", false),
    ("", "v1", "ConfigMap", "configmaps", true),
    ("", "v1", "Secret", "secrets", true),
    ("", "v1", "Service", "services", true),
    ("", "v1", "ServiceAccount", "serviceaccounts", true),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
    ),
    ("", "v1", "PersistentVolume", "persistentvolumes", false),
    ("", "v1", "Pod", "pods", true),
    ("", "v1", "LimitRange", "limitranges", true),
    ("", "v1", "ResourceQuota", "resourcequotas", true),
    ("apps", "v1", "Deployment", "deployments", true),
    ("apps", "v1", "DaemonSet", "daemonsets", true),
    ("apps", "v1", "StatefulSet", "statefulsets", true),
    ("batch", "v1", "Job", "jobs", true),
    ("batch", "v1", "CronJob", "cronjobs", true),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    (
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        false,
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
    ),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
    ),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    ),
    (
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        false,
    ),
    (
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        false,
    ),
];

/// Resolved kinds (the resource, and whether it is namespaced), by apiVersion and kind.
type Resolved = HashMap<(String, String), (ApiResource, bool)>;

/// A cluster reached through kube-rs. Clones share the connection and the resolved kinds.
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
    /// The configuration the client came from, when known: an impersonating client is made
    /// from it.
    config: Option<Arc<kube::Config>>,
    resources: Arc<Mutex<Resolved>>,
    crd_timeout: Duration,
    /// Watch caches of the kinds it reads and applies, when turned on ([`Self::cached`]).
    cache: Option<Arc<super::cache::Cache>>,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster").finish_non_exhaustive()
    }
}

fn describe(obj: &Value) -> String {
    ObjectKey::of(obj).map_or_else(|| crate::object::describe(obj), |k| k.to_string())
}

/// Forced server-side apply as fledge's field manager, refusing unknown or duplicate fields
/// (`fieldValidation=Strict`, as `kubectl apply` does) rather than dropping them silently.
fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER)
        .force()
        .validation(kube::api::ValidationDirective::Strict)
}

/// How many times taking over the fields set by hand is tried on a fresh read when another
/// writer changed the object in between, as client-go's `RetryOnConflict` tries; the last try
/// goes without the precondition, as kustomize-controller's always goes.
const TAKE_OVER_ATTEMPTS: usize = 4;

/// Takes over what was set by hand on `obj` (see [`super::takeover`]), `stored` being what the
/// server would store of it. The patch carries the `resourceVersion` it was computed from, so
/// that the managed-fields entries of a concurrent write are not overwritten: when one came in
/// between (a controller writing a Deployment's status through a rollout), the patch is computed
/// again from a fresh dry run. A writer that wins every time (a loop) does not hold the sync
/// back: the last try replaces the entries unconditionally, as fluxcd/pkg/ssa does, which at
/// worst leaves the fields of that one concurrent write unowned until its writer writes again.
async fn take_over_fields(
    api: &Api<DynamicObject>,
    name: &str,
    obj: &Value,
    mut stored: Value,
) -> Result<(), Error> {
    let refused = |verb, e| api_error(verb, &describe(obj), is_secret(obj), e);
    for attempt in 1..=TAKE_OVER_ATTEMPTS {
        let Some(mut patch) = super::takeover::patch(obj, &stored, FIELD_MANAGER) else {
            return Ok(());
        };
        let last = attempt == TAKE_OVER_ATTEMPTS;
        if last {
            patch["metadata"]
                .as_object_mut()
                .map(|m| m.remove("resourceVersion"));
        }
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 && !last => {
                let fresh = api
                    .patch(name, &apply_params().dry_run(), &Patch::Apply(obj))
                    .await
                    .map_err(|e| refused("dry-run apply", e))?;
                stored = serde_json::to_value(fresh).map_err(|e| Error::Invalid(e.to_string()))?;
            }
            Err(e) => return Err(refused("take over the fields set by hand on", e)),
        }
    }
    Ok(())
}

/// The order objects are applied in: Namespaces, then CRDs, then everything else.
fn apply_order(obj: &Value) -> u8 {
    match obj["kind"].as_str() {
        Some("Namespace") => 0,
        Some("CustomResourceDefinition") => 1,
        _ => 2,
    }
}

impl KubeCluster {
    /// Wraps a client (from kubeconfig, in-cluster config, or a test double).
    #[must_use]
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            config: None,
            resources: Arc::default(),
            crd_timeout: Duration::from_mins(1),
            cache: None,
        }
    }

    /// The same cluster, reading through watch caches and applying only what changed (see
    /// [`super::cache`]): what the daemon uses, so that releases at rest send no requests.
    #[must_use]
    pub fn cached(self) -> Self {
        Self {
            cache: Some(Arc::new(super::cache::Cache::new(self.client.clone()))),
            ..self
        }
    }

    /// The same cluster, every request made as the ServiceAccount `namespace/name` (Kubernetes
    /// impersonation, as Flux's `serviceAccountName` does it: the user
    /// `system:serviceaccount:<namespace>:<name>`), so that it can do only what that account
    /// may. fledge's own account needs the `impersonate` verb on `serviceaccounts`.
    pub fn impersonating(&self, namespace: &str, name: &str) -> Result<Self, Error> {
        let Some(config) = &self.config else {
            return Err(Error::Invalid(
                "this client was not made from a configuration; it cannot impersonate".to_owned(),
            ));
        };
        let mut config = (**config).clone();
        config.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:{name}"));
        config.auth_info.impersonate_groups = None;
        let client = kube::Client::try_from(config).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(Self {
            client,
            config: None,
            resources: self.resources.clone(),
            crd_timeout: self.crd_timeout,
            // The caches are read as fledge's own account: an account acting for a tenant
            // reads what it may read itself.
            cache: None,
        })
    }

    /// Whether this client's user may `verb` the `resource` (plural) of `group` in `namespace`,
    /// as the API server's authorizer answers a SelfSubjectAccessReview (for an impersonating
    /// client: the impersonated account).
    pub async fn allowed(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: &str,
    ) -> Result<bool, Error> {
        use k8s_openapi::api::authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_owned()),
                    group: Some(group.to_owned()),
                    resource: Some(resource.to_owned()),
                    namespace: Some(namespace.to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let api: kube::Api<SelfSubjectAccessReview> = kube::Api::all(self.client.clone());
        let what = format!("{verb} {resource}.{group} in {namespace}");
        let answer = api
            .create(&kube::api::PostParams::default(), &review)
            .await
            .map_err(|e| api_error("review access", &what, false, e))?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }

    /// The kube-rs client (for what fledge does with the API beyond objects: leases).
    #[must_use]
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A client from a kubeconfig file (`path`, else `KUBECONFIG` or `~/.kube/config`), with an
    /// optional context, or else the in-cluster service account.
    pub async fn connect(path: Option<&Path>, context: Option<&str>) -> Result<Self, Error> {
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_owned),
            ..Default::default()
        };
        let mut config = if let Some(p) = path {
            let file = kube::config::Kubeconfig::read_from(p)
                .map_err(|e| Error::Invalid(format!("kubeconfig {}: {e}", p.display())))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| Error::Invalid(format!("kubeconfig {}: {e}", p.display())))?
        } else {
            match kube::Config::from_kubeconfig(&options).await {
                Ok(c) => c,
                Err(_) if context.is_none() => kube::Config::incluster().map_err(|e| {
                    Error::Invalid(format!("no kubeconfig and not in a cluster: {e}"))
                })?,
                Err(e) => return Err(Error::Invalid(format!("kubeconfig: {e}"))),
            }
        };
        // A stalled API server must fail a request, not hang the reconciler: kube sets no read
        // timeout by default.
        config.read_timeout = Some(REQUEST_TIMEOUT);
        let client =
            kube::Client::try_from(config.clone()).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(Self {
            config: Some(Arc::new(config)),
            ..Self::new(client)
        })
    }

    /// The API resource for an apiVersion and kind: built-ins from a table, others by discovery
    /// (cached; a kind not found is looked up again next time, as a CRD may have just appeared).
    async fn resource(&self, api_version: &str, kind: &str) -> Result<(ApiResource, bool), Error> {
        let cache_key = (api_version.to_owned(), kind.to_owned());
        if let Some(r) = self
            .resources
            .lock()
            .ok()
            .and_then(|m| m.get(&cache_key).cloned())
        {
            return Ok(r);
        }
        let (group, version) = split_api_version(api_version);
        let resolved = if let Some((_, _, _, plural, namespaced)) = BUILTIN
            .iter()
            .find(|(g, v, k, _, _)| *g == group && *v == version && *k == kind)
        {
            (
                ApiResource {
                    group: group.to_owned(),
                    version: version.to_owned(),
                    api_version: api_version.to_owned(),
                    kind: kind.to_owned(),
                    plural: (*plural).to_owned(),
                },
                *namespaced,
            )
        } else {
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let (ar, caps) = kube::discovery::pinned_kind(&self.client, &gvk)
                .await
                .map_err(|e| match e {
                    kube::Error::Api(s) if s.code == 404 => Error::NoKind {
                        kind: kind.to_owned(),
                        api_version: api_version.to_owned(),
                        hint: if group == "fledge.dev" {
                            " (kubectl apply -k deploy installs fledge's)"
                        } else {
                            ""
                        },
                    },
                    e => api_error("discover", &format!("{kind}.{api_version}"), false, e),
                })?;
            (ar, caps.scope == Scope::Namespaced)
        };
        if let Ok(mut m) = self.resources.lock() {
            m.insert(cache_key, resolved.clone());
        }
        Ok(resolved)
    }

    async fn api_for(&self, obj: &Value) -> Result<(Api<DynamicObject>, String), Error> {
        let api_version = obj["apiVersion"]
            .as_str()
            .ok_or_else(|| Error::Invalid(format!("{}: no apiVersion", describe(obj))))?;
        let kind = obj["kind"]
            .as_str()
            .ok_or_else(|| Error::Invalid(format!("{}: no kind", describe(obj))))?;
        let name = obj["metadata"]["name"]
            .as_str()
            .ok_or_else(|| Error::Invalid(format!("{}: no name", describe(obj))))?;
        let (ar, namespaced) = self.resource(api_version, kind).await?;
        let api = if namespaced {
            let ns = obj["metadata"]["namespace"].as_str().unwrap_or("default");
            Api::namespaced_with(self.client.clone(), ns, &ar)
        } else {
            Api::all_with(self.client.clone(), &ar)
        };
        Ok((api, name.to_owned()))
    }

    /// Applies `objects` with server-side apply, in two stages as Flux's kustomize-controller
    /// does: first the definitions the rest may need (Namespaces, CRDs; each CRD waited for until
    /// Established), then everything else. Each stage is dry-run whole first: if any object is
    /// refused, nothing of that stage is applied and every refusal is reported. (Objects in a
    /// Namespace, or of a kind, that the batch itself creates cannot be dry-run before it exists;
    /// a refused second stage leaves the first applied, which deletes nothing.)
    pub async fn apply(&self, objects: &[Value]) -> Result<Vec<Value>, Error> {
        self.apply_staged(objects, false).await
    }

    /// [`Self::apply`] of objects from Git: what was set on each by hand is taken over first
    /// (see [`super::takeover`]).
    pub async fn apply_from_git(&self, objects: &[Value]) -> Result<Vec<Value>, Error> {
        self.apply_staged(objects, true).await
    }

    async fn apply_staged(&self, objects: &[Value], take_over: bool) -> Result<Vec<Value>, Error> {
        let (definitions, rest): (Vec<&Value>, Vec<&Value>) =
            objects.iter().partition(|o| apply_order(o) < 2);
        let mut ordered = definitions;
        ordered.sort_by_key(|o| apply_order(o));
        let mut applied = self.apply_stage(&ordered, take_over).await?;
        applied.extend(self.apply_stage(&rest, take_over).await?);
        Ok(applied)
    }

    /// Asks the API server whether it would accept `objects` as they are (server-side apply,
    /// strict field validation, dry run): every refusal, or nothing. Nothing is changed.
    pub async fn dry_run(&self, objects: &[&Value]) -> Result<(), Error> {
        let (_, changed) = self.unchanged_each(objects, false).await;
        self.dry_run_each(&changed).await.map(|_| ())
    }

    /// For each of `objects`, the live object when applying it again would change nothing
    /// ([`Self::unchanged`]) and, with `take_over`, nothing set on it by hand is to be taken
    /// over; and the objects that must be sent.
    async fn unchanged_each<'a>(
        &self,
        objects: &[&'a Value],
        take_over: bool,
    ) -> (Vec<Option<Value>>, Vec<&'a Value>) {
        let mut kept = Vec::with_capacity(objects.len());
        let mut send = Vec::new();
        for obj in objects {
            let live = self.unchanged(obj).await.filter(|live| {
                !take_over || super::takeover::patch(obj, live, FIELD_MANAGER).is_none()
            });
            if live.is_none() {
                send.push(*obj);
            }
            kept.push(live);
        }
        (kept, send)
    }

    /// The live object, when `obj` is what this client last applied and the live object still
    /// holds it (see [`super::cache`]): applying it again would change nothing.
    async fn unchanged(&self, obj: &Value) -> Option<Value> {
        let cache = self.cache.as_ref()?;
        let (ar, namespaced) = self
            .resource(obj["apiVersion"].as_str()?, obj["kind"].as_str()?)
            .await
            .ok()?;
        cache.unchanged(&ar, namespaced, obj).await
    }

    /// Tells the cache what the API server answered a write of `obj` with.
    async fn wrote(&self, obj: &Value, stored: &Value, applied: bool) {
        let Some(cache) = &self.cache else { return };
        let (Some(api_version), Some(kind)) = (obj["apiVersion"].as_str(), obj["kind"].as_str())
        else {
            return;
        };
        let Ok((ar, namespaced)) = self.resource(api_version, kind).await else {
            return;
        };
        if applied {
            cache.applied(&ar, namespaced, obj, stored);
        } else {
            cache.wrote(&ar, namespaced, stored);
        }
    }

    /// [`Self::dry_run`], with what the server would store of each object.
    async fn dry_run_each(&self, objects: &[&Value]) -> Result<Vec<Value>, Error> {
        let mut stored = Vec::new();
        let mut refused = Vec::new();
        for obj in objects {
            let (api, name) = match self.api_for(obj).await {
                Ok(a) => a,
                Err(e) if e.fault() == super::Fault::Unreachable => return Err(e),
                Err(e) => {
                    refused.push(e);
                    continue;
                }
            };
            let params = apply_params().dry_run();
            match api.patch(&name, &params, &Patch::Apply(*obj)).await {
                Ok(o) => {
                    let o = serde_json::to_value(o).map_err(|e| Error::Invalid(e.to_string()))?;
                    stored.push(o);
                }
                Err(e) => {
                    let e = api_error("dry-run apply", &describe(obj), is_secret(obj), e);
                    // A server that does not answer is not a refusal; asking on is pointless.
                    if e.fault() == super::Fault::Unreachable {
                        return Err(e);
                    }
                    refused.push(e);
                }
            }
        }
        if refused.is_empty() {
            Ok(stored)
        } else {
            Err(Error::DryRun(refused))
        }
    }

    /// Dry-runs `objects`, then applies them in order (each CRD waited for until Established),
    /// with `take_over` each after fledge took over what was set on it by hand.
    async fn apply_stage(&self, objects: &[&Value], take_over: bool) -> Result<Vec<Value>, Error> {
        // What this client applied last, still held by the live object, is not sent again.
        let (kept, send) = self.unchanged_each(objects, take_over).await;
        let stored = self.dry_run_each(&send).await?;
        let mut applied = Vec::new();
        for (obj, stored) in send.iter().zip(&stored) {
            let (api, name) = self.api_for(obj).await?;
            if take_over {
                take_over_fields(&api, &name, obj, stored.clone()).await?;
            }
            let result = api
                .patch(&name, &apply_params(), &Patch::Apply(*obj))
                .await
                .map_err(|e| api_error("apply", &describe(obj), is_secret(obj), e))?;
            if obj["kind"] == "CustomResourceDefinition" {
                self.wait_established(&name).await?;
            }
            let result = serde_json::to_value(result).map_err(|e| Error::Invalid(e.to_string()))?;
            self.wrote(obj, &result, true).await;
            applied.push(result);
        }
        let mut applied = applied.into_iter();
        Ok(kept
            .into_iter()
            .map(|k| k.or_else(|| applied.next()).unwrap_or(Value::Null))
            .collect())
    }

    /// Writes an object's `status` through the status subresource (server-side apply).
    pub async fn apply_status(&self, obj: &Value) -> Result<Value, Error> {
        let (api, name) = self.api_for(obj).await?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let result = api
            .patch_status(&name, &params, &Patch::Apply(obj))
            .await
            .map_err(|e| api_error("apply status", &describe(obj), false, e))?;
        let result = serde_json::to_value(result).map_err(|e| Error::Invalid(e.to_string()))?;
        self.wrote(obj, &result, false).await;
        Ok(result)
    }

    async fn wait_established(&self, name: &str) -> Result<(), Error> {
        let probe = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": name}});
        let (api, _) = self.api_for(&probe).await?;
        let deadline = tokio::time::Instant::now() + self.crd_timeout;
        loop {
            let crd = api.get_opt(name).await.map_err(|e| {
                api_error("get", &format!("CustomResourceDefinition {name}"), false, e)
            })?;
            let established = crd
                .and_then(|c| serde_json::to_value(c).ok())
                .is_some_and(|c| {
                    c["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|cond| cond["type"] == "Established" && cond["status"] == "True")
                });
            if established {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::NotEstablished {
                    name: name.to_owned(),
                    timeout: self.crd_timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The live object, if it exists.
    pub async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, Error> {
        if let Some(cache) = &self.cache {
            let (ar, namespaced) = self.resource(&object.api_version, &object.kind).await?;
            if let Some(found) = cache
                .get(&ar, namespaced, &object.namespace, &object.name)
                .await
            {
                return Ok(found);
            }
        }
        let (api, name) = self.api_for(&object.stub()).await?;
        let obj = api
            .get_opt(&name)
            .await
            .map_err(|e| api_error("get", &object.to_string(), false, e))?;
        obj.map(|o| serde_json::to_value(o).map_err(|e| Error::Invalid(e.to_string())))
            .transpose()
    }

    /// Objects of a kind in a namespace (every namespace for `""`), optionally filtered by a
    /// label selector.
    pub async fn list_labelled(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        labels: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        if let (Some(cache), None) = (&self.cache, labels) {
            let (ar, _) = self.resource(api_version, kind).await?;
            if let Some(found) = cache.list(&ar, namespace).await {
                return Ok(found);
            }
        }
        let probe = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "-", "namespace": namespace}});
        let (api, _) = if namespace.is_empty() {
            // Every namespace.
            let (ar, _) = self.resource(api_version, kind).await?;
            (
                Api::<DynamicObject>::all_with(self.client.clone(), &ar),
                String::new(),
            )
        } else {
            self.api_for(&probe).await?
        };
        let mut params = ListParams::default();
        if let Some(l) = labels {
            params = params.labels(l);
        }
        let list = api
            .list(&params)
            .await
            .map_err(|e| api_error("list", &format!("{kind} in {namespace}"), false, e))?;
        // The API server leaves kind and apiVersion out of a list's items; put them back, so
        // that every object fledge reads names its kind (as the simulated cluster's do).
        list.items
            .into_iter()
            .map(|o| {
                let mut v = serde_json::to_value(o).map_err(|e| Error::Invalid(e.to_string()))?;
                v["apiVersion"] = json!(api_version);
                v["kind"] = json!(kind);
                Ok(v)
            })
            .collect()
    }

    /// Helm's `lookup`, read as Helm's engine reads it (`pkg/engine/lookup_func.go`): the kind
    /// found by discovery (an unknown kind is an error), the namespace used where the kind is
    /// namespaced and one is given; the object `name` (`{}` when there is none), or without a
    /// name every object of the kind as a list whose items name their kind, as Helm's dynamic
    /// client gives them.
    pub async fn lookup(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, Error> {
        let (ar, namespaced) = self.resource(api_version, kind).await?;
        let api = if namespaced && !namespace.is_empty() {
            Api::<DynamicObject>::namespaced_with(self.client.clone(), namespace, &ar)
        } else {
            Api::<DynamicObject>::all_with(self.client.clone(), &ar)
        };
        let what = format!("{kind} {namespace}/{name}");
        let to_value = |o: DynamicObject| -> Result<Value, Error> {
            let mut v = serde_json::to_value(o).map_err(|e| Error::Invalid(e.to_string()))?;
            v["apiVersion"] = json!(api_version);
            v["kind"] = json!(kind);
            Ok(v)
        };
        if !name.is_empty() {
            let got = api
                .get_opt(name)
                .await
                .map_err(|e| api_error("get", &what, false, e))?;
            return got.map_or_else(|| Ok(json!({})), to_value);
        }
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| api_error("list", &what, false, e))?;
        let items = list
            .items
            .into_iter()
            .map(to_value)
            .collect::<Result<Vec<_>, _>>()?;
        let version = list.metadata.resource_version.unwrap_or_default();
        Ok(super::lookup_list(api_version, kind, &version, items))
    }

    /// The kinds the cluster serves that can be listed (discovery of every group, at its
    /// preferred version).
    pub async fn kinds(&self) -> Result<Vec<(String, String)>, Error> {
        let discovery = kube::discovery::Discovery::new(self.client.clone())
            .run()
            .await
            .map_err(|e| api_error("discover", "the cluster's kinds", false, e))?;
        Ok(discovery
            .groups()
            .flat_map(kube::discovery::ApiGroup::recommended_resources)
            .filter(|(_, caps)| caps.supports_operation(kube::discovery::verbs::LIST))
            .map(|(ar, _)| (ar.api_version, ar.kind))
            .collect())
    }

    /// What Helm's `.Capabilities` read from the cluster, as Helm's `GetVersionSet` reads
    /// them: the server's version (`gitVersion`), and every group version it serves with each
    /// of its kinds (`apps/v1`, `apps/v1/Deployment`), sorted.
    pub async fn capabilities(&self) -> Result<(String, Vec<String>), Error> {
        let version = self
            .client
            .apiserver_version()
            .await
            .map_err(|e| api_error("get", "/version", false, e))?;
        let discovery = kube::discovery::Discovery::new(self.client.clone())
            .run()
            .await
            .map_err(|e| api_error("discover", "the cluster's API versions", false, e))?;
        let mut set = std::collections::BTreeSet::new();
        for group in discovery.groups() {
            for v in group.versions() {
                let gv = if group.name().is_empty() {
                    v.to_owned()
                } else {
                    format!("{}/{v}", group.name())
                };
                for (ar, _) in group.versioned_resources(v) {
                    set.insert(format!("{gv}/{}", ar.kind));
                }
                set.insert(gv);
            }
        }
        Ok((version.git_version, set.into_iter().collect()))
    }

    /// A GET of `path` (with its query string) beyond objects, such as an aggregated API's.
    pub async fn get_raw(&self, path: &str) -> Result<Value, Error> {
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| Error::Invalid(format!("GET {path}: {e}")))?;
        self.client
            .request::<Value>(request)
            .await
            .map_err(|e| api_error("get", path, false, e))
    }

    /// Deletes an object, its dependents in the background.
    pub async fn delete(&self, object: &ObjectRef) -> Result<(), Error> {
        let (api, name) = self.api_for(&object.stub()).await?;
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(api_error("delete", &object.to_string(), false, e)),
        }
        if let Some(cache) = &self.cache {
            let (ar, namespaced) = self.resource(&object.api_version, &object.kind).await?;
            cache.deleted(&ar, namespaced, &object.namespace, &object.name);
        }
        Ok(())
    }

    /// The installation's revision key, kept in a cluster Secret; made (32 random bytes) on
    /// first start. Revision ids computed with it cannot be used to test guesses of Secret data.
    pub async fn revision_key(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<crate::revision::HashKey, Error> {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        if let Some(secret) = self
            .get(&ObjectRef::new("v1", "Secret", namespace, name))
            .await?
        {
            let key = secret["data"]["key"]
                .as_str()
                .and_then(|k| engine.decode(k).ok())
                .filter(|k| k.len() >= 16)
                .ok_or_else(|| {
                    Error::Invalid(format!("Secret {namespace}/{name} has no usable `key`"))
                })?;
            return Ok(crate::revision::HashKey::new(key));
        }
        let key: [u8; 32] = rand::random();
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": {keys::MANAGED_BY.0: keys::MANAGED_BY.1}},
            "data": {"key": engine.encode(key)}});
        let (api, secret_name) = self.api_for(&secret).await?;
        api.patch(
            &secret_name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(&secret),
        )
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => Error::Invalid(format!(
                "namespace {namespace} does not exist: create it (kubectl apply -k deploy creates fledge-system) or name another with --namespace"
            )),
            e => api_error("apply", &format!("Secret {namespace}/{name}"), true, e),
        })?;
        Ok(crate::revision::HashKey::new(key.to_vec()))
    }
}
