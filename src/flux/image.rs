//! Flux's image automation objects (`image.toolkit.fluxcd.io/v1`): `ImageRepository` (a
//! registry repository whose tags are scanned), `ImagePolicy` (which tag is the latest) and
//! `ImageUpdateAutomation` (which files of which branch the latest tags are written to).
//!
//! The choice of the latest tag is here and pure, as image-reflector-controller v1.2.0 makes it
//! (`internal/policy`): the exclusion list first (`^.*\.sig$` when none is given), then
//! `filterTags` (a Go regular expression; `extract` expands `$name` groups), then the policy —
//! `semver` (Masterminds constraints, tags of exactly three dot-separated parts, the highest
//! by precedence), `alphabetical` and `numerical` (`asc` takes the last in order, `desc` the
//! first). fledge adds one rule of its own: a tag whose canary failed (recorded in Git under
//! `.fledge/failed/`) is never chosen, until a person deletes its record.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::constraint::{Constraint, version};
use super::kustomization::LocalRef;
use super::{FluxError, Id, duration, duration_or, interval_and_timeout, read_spec};

/// The API group of the image automation objects.
pub const GROUP: &str = "image.toolkit.fluxcd.io";

/// The tags image-reflector-controller leaves out when `spec.exclusionList` is empty (cosign's
/// signatures).
const DEFAULT_EXCLUSION: &str = r"^.*\.sig$";

/// An `ImageRepository`.
#[derive(Debug, Clone)]
pub struct ImageRepository {
    /// The object as written (what equality compares).
    object: Value,
    pub id: Id,
    /// `spec.image`: the repository, registry host included (`docker.io/library/` implied as
    /// the Docker CLI implies it).
    pub image: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// `spec.secretRef`: a `kubernetes.io/dockerconfigjson` Secret in the same namespace.
    pub secret: Option<String>,
    /// `spec.certSecretRef`: `ca.crt`, `tls.crt`, `tls.key`.
    pub cert_secret: Option<String>,
    /// `spec.insecure`: plain HTTP.
    pub insecure: bool,
    pub exclusion: Vec<Regex>,
    pub suspend: bool,
}

/// Which tag an `ImagePolicy` takes.
#[derive(Debug, Clone)]
pub enum Choice {
    SemVer(Constraint),
    /// `descending`: the first in order rather than the last.
    Alphabetical {
        descending: bool,
    },
    Numerical {
        descending: bool,
    },
}

/// `spec.digestReflectionPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reflect {
    Never,
    IfNotPresent,
    Always,
}

/// An `ImagePolicy`.
#[derive(Debug, Clone)]
pub struct ImagePolicy {
    /// The object as written (what equality compares).
    object: Value,
    pub id: Id,
    pub labels: BTreeMap<String, String>,
    /// `spec.imageRepositoryRef` (its namespace defaults to the policy's).
    pub repository: Id,
    pub choice: Choice,
    /// `spec.filterTags`: the pattern, and `extract` (empty: the tag itself).
    pub filter: Option<(Regex, String)>,
    pub reflect: Reflect,
    pub suspend: bool,
}

/// An `ImageUpdateAutomation`.
#[derive(Debug, Clone)]
pub struct ImageUpdateAutomation {
    /// The object as written (what equality compares).
    object: Value,
    pub id: Id,
    /// `spec.sourceRef`: the GitRepository whose branch is updated.
    pub source: Id,
    /// `spec.git.checkout.ref.branch`; `None`: the GitRepository's own branch.
    pub checkout: Option<String>,
    /// `spec.git.push.branch`; `None`: the checkout branch.
    pub push: Option<String>,
    /// `spec.git.push.refspec`: a second push after the branch's.
    pub refspec: Option<Refspec>,
    /// `spec.git.push.options`, as sent (`key=value`, by key).
    pub push_options: Vec<String>,
    /// `spec.git.commit.signingKey.secretRef.name` (`type: gpg`): the Secret, in the
    /// automation's namespace, whose `git.asc` (and `passphrase`) signs the commits.
    pub signing_key: Option<String>,
    pub author_name: String,
    pub author_email: String,
    /// `spec.git.commit.messageTemplate` (a Go template), and its values.
    pub message_template: Option<String>,
    pub template_values: BTreeMap<String, String>,
    pub interval: Duration,
    /// `spec.policySelector`; `None` selects every policy of the namespace.
    pub selector: Option<kube::core::Selector>,
    /// `spec.update.path`, normalised (`""` is the repository's root).
    pub path: String,
    pub suspend: bool,
}

/// `spec.git.push.refspec`, as image-automation-controller v1.2.0 can push it: the source is a
/// local branch by its full name (`refs/heads/<branch>`: go-git pushes only the hash references
/// of the clone, so `HEAD` or a short name push nothing there), the destination a full ref name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refspec {
    /// The branch of `refs/heads/<branch>`.
    pub source_branch: String,
    /// The remote ref written.
    pub dst: String,
}

impl Refspec {
    /// Reads a refspec, refusing what fledge does not push: a forced one (`+`), a deletion, a
    /// pattern, a source that is not `refs/heads/<branch>` or a destination not under `refs/`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with('+') {
            return Err(format!(
                "`{text}`: a `+` refspec forces the push, and fledge never force-pushes (a shared branch would lose commits); remove the `+`"
            ));
        }
        let Some((src, dst)) = text.split_once(':') else {
            return Err(format!(
                "`{text}`: must be `<source>:<destination>`, as `refs/heads/auto:refs/heads/auto`"
            ));
        };
        if src.is_empty() {
            return Err(format!(
                "`{text}`: an empty source deletes the destination; fledge does not delete refs"
            ));
        }
        if text.contains('*') {
            return Err(format!(
                "`{text}`: patterns (`*`) are not supported; name one branch"
            ));
        }
        if dst.contains(':') {
            return Err(format!("`{text}`: must hold exactly one `:`"));
        }
        let Some(branch) = src.strip_prefix("refs/heads/").filter(|b| !b.is_empty()) else {
            return Err(format!(
                "`{text}`: the source must be a branch by its full name (`refs/heads/<push branch>`); image-automation-controller pushes nothing from `{src}` (go-git resolves only full names of the clone's branches), so fledge refuses it"
            ));
        };
        if !dst.starts_with("refs/") || dst.len() <= "refs/".len() {
            return Err(format!(
                "`{text}`: the destination must be a full ref name (`refs/heads/<branch>`, `refs/for/<branch>`)"
            ));
        }
        Ok(Self {
            source_branch: branch.to_owned(),
            dst: dst.to_owned(),
        })
    }
}

/// The image automation objects of a commit; one that cannot be read is its name and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Images {
    pub repositories: BTreeMap<Id, Result<ImageRepository, FluxError>>,
    pub policies: BTreeMap<Id, Result<ImagePolicy, FluxError>>,
    pub automations: BTreeMap<Id, Result<ImageUpdateAutomation, FluxError>>,
}

impl Images {
    /// Reads `object` if it is one of the image automation kinds; `false` when it is not.
    pub fn take(&mut self, object: &Value) -> bool {
        let kind = object["kind"].as_str().unwrap_or("");
        let Ok(id) = Id::of(object, kind) else {
            return false;
        };
        match kind {
            "ImageRepository" => {
                self.repositories.insert(id, ImageRepository::parse(object));
            }
            "ImagePolicy" => {
                self.policies.insert(id, ImagePolicy::parse(object));
            }
            "ImageUpdateAutomation" => {
                self.automations
                    .insert(id, ImageUpdateAutomation::parse(object));
            }
            _ => return false,
        }
        true
    }

    /// Whether the commit declares no image automation at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.repositories.is_empty() && self.policies.is_empty() && self.automations.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepositorySpec {
    image: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    secret_ref: Option<LocalRef>,
    #[serde(default)]
    cert_secret_ref: Option<LocalRef>,
    #[serde(default)]
    proxy_secret_ref: Option<LocalRef>,
    #[serde(default)]
    service_account_name: Option<String>,
    #[serde(default)]
    access_from: Option<Value>,
    #[serde(default)]
    exclusion_list: Vec<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    suspend: bool,
}

impl PartialEq for ImageRepository {
    fn eq(&self, other: &Self) -> bool {
        self.object == other.object
    }
}

impl ImageRepository {
    /// Reads an `image.toolkit.fluxcd.io/v1` ImageRepository (`v1beta2` has the same fields).
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        let (id, spec): (Id, RepositorySpec) =
            read_spec(object, "ImageRepository", GROUP, &["v1", "v1beta2"])?;
        let refuse = |field: &str, why: &str| Err(id.error(field, why.to_owned()));
        if spec.proxy_secret_ref.is_some() {
            return refuse(
                "spec.proxySecretRef",
                "fledge does not scan registries through a proxy yet; remove the field or reach the registry directly",
            );
        }
        if spec.service_account_name.is_some() {
            return refuse(
                "spec.serviceAccountName",
                "fledge does not read image pull secrets from a service account yet; name the Secret in spec.secretRef",
            );
        }
        if spec.access_from.is_some() {
            return refuse(
                "spec.accessFrom",
                "fledge does not read cross-namespace access lists; put the ImagePolicy in the ImageRepository's namespace",
            );
        }
        if let Some(p) = spec.provider.as_deref().filter(|p| *p != "generic") {
            return refuse(
                "spec.provider",
                &format!(
                    "`{p}`: fledge authenticates to registries with the Secret in spec.secretRef only (provider `generic`); cloud identities are not supported yet"
                ),
            );
        }
        if spec.image.contains(['@', ' ']) || spec.image.is_empty() {
            return refuse(
                "spec.image",
                "must name an image repository without a tag or digest (`ghcr.io/org/app`)",
            );
        }
        let patterns = if spec.exclusion_list.is_empty() {
            vec![DEFAULT_EXCLUSION.to_owned()]
        } else {
            spec.exclusion_list.clone()
        };
        let exclusion = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Regex::new(p)
                    .map_err(|e| id.error(&format!("spec.exclusionList[{i}]"), e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        interval_and_timeout(&id, spec.interval.as_deref(), spec.timeout.as_deref())?;
        let interval = duration_or(spec.interval.as_deref(), Duration::from_secs(600));
        Ok(Self {
            image: spec.image,
            interval,
            // Flux: the timeout defaults to the interval.
            timeout: duration_or(spec.timeout.as_deref(), interval),
            secret: spec.secret_ref.map(|r| r.name),
            cert_secret: spec.cert_secret_ref.map(|r| r.name),
            insecure: spec.insecure,
            exclusion,
            suspend: spec.suspend,
            object: object.clone(),
            id,
        })
    }

    /// The tags of a scan that policies choose from: those no exclusion pattern matches.
    #[must_use]
    pub fn kept<'a>(&self, tags: &'a [String]) -> Vec<&'a str> {
        tags.iter()
            .filter(|t| !self.exclusion.iter().any(|r| r.is_match(t)))
            .map(String::as_str)
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicySpec {
    image_repository_ref: NamespacedRef,
    policy: PolicyChoice,
    #[serde(default)]
    filter_tags: Option<TagFilter>,
    #[serde(default)]
    digest_reflection_policy: Option<String>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    suspend: bool,
}

#[derive(Deserialize)]
struct NamespacedRef {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
struct PolicyChoice {
    #[serde(default)]
    semver: Option<SemVerChoice>,
    #[serde(default)]
    alphabetical: Option<OrderChoice>,
    #[serde(default)]
    numerical: Option<OrderChoice>,
}

#[derive(Deserialize)]
struct SemVerChoice {
    range: String,
}

#[derive(Deserialize)]
struct OrderChoice {
    #[serde(default)]
    order: Option<String>,
}

#[derive(Deserialize)]
struct TagFilter {
    #[serde(default)]
    pattern: String,
    #[serde(default)]
    extract: String,
}

/// `asc` (the default) or `desc`, in any case, as Flux reads it.
fn descending(id: &Id, field: &str, order: Option<&str>) -> Result<bool, FluxError> {
    match order.map(str::to_ascii_uppercase).as_deref() {
        None | Some("" | "ASC") => Ok(false),
        Some("DESC") => Ok(true),
        Some(_) => Err(id.error(field, "must be `asc` or `desc`")),
    }
}

impl PartialEq for ImagePolicy {
    fn eq(&self, other: &Self) -> bool {
        self.object == other.object
    }
}

impl ImagePolicy {
    /// Reads an `image.toolkit.fluxcd.io/v1` ImagePolicy (`v1beta2` has the same fields).
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        let (id, spec): (Id, PolicySpec) =
            read_spec(object, "ImagePolicy", GROUP, &["v1", "v1beta2"])?;
        let p = &spec.policy;
        let choice = match (&p.semver, &p.alphabetical, &p.numerical) {
            (Some(s), None, None) => Choice::SemVer(
                Constraint::parse(&s.range).map_err(|e| id.error("spec.policy.semver.range", e))?,
            ),
            (None, Some(a), None) => Choice::Alphabetical {
                descending: descending(&id, "spec.policy.alphabetical.order", a.order.as_deref())?,
            },
            (None, None, Some(n)) => Choice::Numerical {
                descending: descending(&id, "spec.policy.numerical.order", n.order.as_deref())?,
            },
            _ => {
                return Err(id.error(
                    "spec.policy",
                    "must hold exactly one of `semver`, `alphabetical`, `numerical`",
                ));
            }
        };
        let filter = match spec.filter_tags {
            None => None,
            Some(f) => Some((
                Regex::new(&f.pattern)
                    .map_err(|e| id.error("spec.filterTags.pattern", e.to_string()))?,
                f.extract,
            )),
        };
        let reflect = match spec.digest_reflection_policy.as_deref() {
            None | Some("Never") => Reflect::Never,
            Some("IfNotPresent") => Reflect::IfNotPresent,
            Some("Always") => Reflect::Always,
            Some(other) => {
                return Err(id.error(
                    "spec.digestReflectionPolicy",
                    format!("`{other}`: must be Never, IfNotPresent or Always"),
                ));
            }
        };
        if let Some(i) = &spec.interval {
            duration(&id, "spec.interval", i)?;
        }
        let labels =
            serde_json::from_value(object["metadata"]["labels"].clone()).unwrap_or_default();
        Ok(Self {
            repository: Id {
                namespace: spec
                    .image_repository_ref
                    .namespace
                    .unwrap_or_else(|| id.namespace.clone()),
                name: spec.image_repository_ref.name,
            },
            choice,
            filter,
            reflect,
            suspend: spec.suspend,
            labels,
            object: object.clone(),
            id,
        })
    }

    /// The latest of `tags` (an image repository's tags after its exclusion list) by this
    /// policy, leaving out those in `refused` (tags whose canary failed): the original tag, as
    /// image-reflector-controller reports it in `status.latestRef.tag`. `Ok(None)` when no tag
    /// qualifies; an error where Flux's policy fails (a numerical policy over a tag that is not
    /// a number).
    pub fn latest(
        &self,
        tags: &[&str],
        refused: &BTreeSet<String>,
    ) -> Result<Option<String>, String> {
        // filterTags: each kept tag under its extracted name (the last of equal names wins,
        // as Flux's map does).
        let mut names: BTreeMap<String, &str> = BTreeMap::new();
        for &t in tags.iter().filter(|t| !refused.contains(**t)) {
            match &self.filter {
                None => {
                    names.insert(t.to_owned(), t);
                }
                Some((re, extract)) => {
                    if let Some(c) = re.captures(t) {
                        let name = if extract.is_empty() {
                            t.to_owned()
                        } else {
                            let mut out = String::new();
                            c.expand(extract, &mut out);
                            out
                        };
                        names.insert(name, t);
                    }
                }
            }
        }
        let chosen = self.choose(names.keys().map(String::as_str))?;
        Ok(chosen.and_then(|c| names.get(c.as_str()).map(|t| (*t).to_owned())))
    }

    /// The latest of `names` by the policy alone.
    fn choose<'a>(&self, names: impl Iterator<Item = &'a str>) -> Result<Option<String>, String> {
        Ok(match &self.choice {
            Choice::SemVer(c) => names
                // fluxcd/pkg/version: exactly three dot-separated parts, then Masterminds.
                .filter(|n| n.splitn(3, '.').count() == 3)
                .filter_map(|n| Some((version(n)?, n)))
                .filter(|(v, _)| c.matches(v))
                .fold(
                    None,
                    |best: Option<(semver::Version, &str)>, (v, n)| match best {
                        Some((b, bn)) if v.cmp_precedence(&b) != std::cmp::Ordering::Greater => {
                            Some((b, bn))
                        }
                        _ => Some((v, n)),
                    },
                )
                .map(|(_, n)| n.to_owned()),
            Choice::Alphabetical { descending } => {
                let mut all: Vec<&str> = names.collect();
                all.sort_unstable();
                let pick = if *descending { all.first() } else { all.last() };
                pick.map(|n| (*n).to_owned())
            }
            Choice::Numerical { descending } => {
                let mut best: Option<(f64, &str)> = None;
                for n in names {
                    // Go's ParseFloat: Rust's reads the same decimal and exponent forms.
                    let v = n.parse::<f64>().map_err(|_| {
                        format!("failed to parse invalid numeric value '{n}' (filter the tags with spec.filterTags so that only numbers remain)")
                    })?;
                    let better =
                        best.is_none_or(|(b, _)| if *descending { v <= b } else { v >= b });
                    if better {
                        best = Some((v, n));
                    }
                }
                best.map(|(_, n)| n.to_owned())
            }
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AutomationSpec {
    source_ref: SourceRef,
    #[serde(default)]
    git: Option<GitSpec>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    policy_selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    #[serde(default)]
    update: Option<UpdateSpec>,
    #[serde(default)]
    suspend: bool,
}

#[derive(Deserialize)]
struct SourceRef {
    #[serde(default)]
    kind: Option<String>,
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GitSpec {
    #[serde(default)]
    checkout: Option<Checkout>,
    commit: CommitSpec,
    #[serde(default)]
    push: Option<PushSpec>,
}

#[derive(Deserialize)]
struct Checkout {
    #[serde(rename = "ref")]
    reference: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitSpec {
    author: Author,
    #[serde(default)]
    signing_key: Option<SigningKeySpec>,
    #[serde(default)]
    message_template: Option<String>,
    #[serde(default)]
    message_template_values: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigningKeySpec {
    secret_ref: LocalRef,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Author {
    #[serde(default)]
    name: Option<String>,
    email: String,
}

#[derive(Deserialize)]
struct PushSpec {
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    refspec: Option<String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct UpdateSpec {
    #[serde(default)]
    strategy: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

/// `spec.git.commit.signingKey`: the Secret of an OpenPGP key (`type: gpg`, the default).
fn signing_key(id: &Id, key: Option<SigningKeySpec>) -> Result<Option<String>, FluxError> {
    Ok(match key {
        None => None,
        Some(k) => match k.kind.as_deref() {
            None | Some("" | "gpg") => Some(k.secret_ref.name),
            Some("ssh") => {
                return Err(id.error(
                    "spec.git.commit.signingKey.type",
                    "`ssh`: fledge signs with OpenPGP keys only (`gpg`, the default); use an OpenPGP key in `git.asc`",
                ));
            }
            Some(other) => {
                return Err(id.error(
                    "spec.git.commit.signingKey.type",
                    format!("`{other}`: must be `gpg` or `ssh`"),
                ));
            }
        },
    })
}

/// `spec.git.push.refspec` and `spec.git.push.options` (`key=value`, as go-git sends them).
fn push_settings(id: &Id, push: &PushSpec) -> Result<(Option<Refspec>, Vec<String>), FluxError> {
    let refspec = match push.refspec.as_deref() {
        None | Some("") => None,
        Some(r) => Some(Refspec::parse(r).map_err(|e| id.error("spec.git.push.refspec", e))?),
    };
    let mut push_options = Vec::new();
    for (k, v) in &push.options {
        if k.is_empty() || k.contains(['\n', '\0']) || v.contains(['\n', '\0']) {
            return Err(id.error(
                &format!("spec.git.push.options.{k}"),
                "a push option has a non-empty key, and neither key nor value holds a line break",
            ));
        }
        // go-git sends each option as `key=value`, an empty value included.
        push_options.push(format!("{k}={v}"));
    }
    Ok((refspec, push_options))
}

impl PartialEq for ImageUpdateAutomation {
    fn eq(&self, other: &Self) -> bool {
        self.object == other.object
    }
}

impl ImageUpdateAutomation {
    /// Its `metadata.labels` as written (`Null` when it has none).
    #[must_use]
    pub fn labels(&self) -> &Value {
        &self.object["metadata"]["labels"]
    }

    /// Reads an `image.toolkit.fluxcd.io/v1` ImageUpdateAutomation (`v1beta2` has the same
    /// fields).
    pub fn parse(object: &Value) -> Result<Self, FluxError> {
        let (id, spec): (Id, AutomationSpec) =
            read_spec(object, "ImageUpdateAutomation", GROUP, &["v1", "v1beta2"])?;
        if spec
            .source_ref
            .kind
            .as_deref()
            .is_some_and(|k| k != "GitRepository")
        {
            return Err(id.error("spec.sourceRef.kind", "must be GitRepository"));
        }
        let Some(git) = spec.git else {
            return Err(id.error(
                "spec.git",
                "is required: fledge needs spec.git.commit.author to commit as",
            ));
        };
        let signing_key = signing_key(&id, git.commit.signing_key)?;
        let checkout = match git.checkout {
            None => None,
            Some(c) => match (c.reference.get("branch"), c.reference.len()) {
                (Some(b), 1) => Some(b.clone()),
                _ => {
                    return Err(id.error(
                        "spec.git.checkout.ref",
                        "fledge checks out a branch only (`branch:`), as it writes to branches",
                    ));
                }
            },
        };
        let push = git.push.unwrap_or(PushSpec {
            branch: None,
            refspec: None,
            options: BTreeMap::new(),
        });
        let (refspec, push_options) = push_settings(&id, &push)?;
        let update = spec.update.unwrap_or(UpdateSpec {
            strategy: None,
            path: None,
        });
        if update.strategy.as_deref().is_some_and(|s| s != "Setters") {
            return Err(id.error("spec.update.strategy", "must be `Setters`"));
        }
        let selector = match spec.policy_selector {
            None => None,
            Some(s) => Some(
                kube::core::Selector::try_from(s)
                    .map_err(|e| id.error("spec.policySelector", e.to_string()))?,
            ),
        };
        if let Some(i) = &spec.interval {
            duration(&id, "spec.interval", i)?;
        }
        let path = super::kustomization::normal_path(update.path.as_deref().unwrap_or("."));
        if path.split('/').any(|s| s == "..") {
            return Err(id.error("spec.update.path", "must stay inside the repository"));
        }
        Ok(Self {
            source: Id {
                namespace: spec
                    .source_ref
                    .namespace
                    .unwrap_or_else(|| id.namespace.clone()),
                name: spec.source_ref.name,
            },
            checkout,
            push: push.branch.filter(|b| !b.is_empty()),
            refspec,
            push_options,
            signing_key,
            author_name: git.commit.author.name.unwrap_or_default(),
            author_email: git.commit.author.email,
            message_template: git.commit.message_template.filter(|t| !t.is_empty()),
            template_values: git.commit.message_template_values,
            interval: duration_or(spec.interval.as_deref(), Duration::from_secs(600)),
            selector,
            path,
            suspend: spec.suspend,
            object: object.clone(),
            id,
        })
    }

    /// Whether it updates with `policy`: a policy of its namespace its selector selects.
    #[must_use]
    pub fn selects(&self, policy: &ImagePolicy) -> bool {
        use kube::core::SelectorExt as _;
        policy.id.namespace == self.id.namespace
            && self
                .selector
                .as_ref()
                .is_none_or(|s| s.matches(&policy.labels))
    }
}

#[cfg(test)]
#[path = "image/tests.rs"]
mod tests;
