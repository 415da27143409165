//! A Flux HelmRelease rendered as helm-controller renders it: its chart fetched from the
//! HelmRepository (HTTP or OCI), OCIRepository or HelmChart it names, or read from a Git path;
//! its `valuesFrom` ConfigMaps and Secrets read (from the commit's own objects first, then the
//! cluster), the values composed and the chart rendered by Helm's engine ([`crate::helm`]) under
//! the release name and namespace Flux gives it, then post-rendered as helm-controller
//! post-renders it (`postrender`: `spec.postRenderers`, `spec.commonMetadata`, then its origin
//! labels). Its hooks (other than tests) are among the objects, run apart by the daemon as Helm
//! runs them. A chart whose source asks for signature verification (an OCIRepository's
//! `spec.verify`, `spec.chart.spec.verify` of a `type: oci` HelmRepository's chart) is rendered
//! only once its cosign signature is verified. What fledge does not honour yet (keyless
//! verification, `kubeConfig`…) fails the release, naming the field: it is never rendered
//! otherwise than Flux would.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::flux::Id;
use crate::flux::helm::{ChartSource, HelmRelease, HelmRepository, ValuesReference};
use crate::flux::units::ChartSources;
use crate::helm::{Base64, Helm, Layer, Lookup, Rendered, RepositoryAuth, Request};
use crate::net::Secret;
use crate::render::fs::Entry;
use crate::render::{self, Files};

use super::unit::{ClusterData, Deletion, Health, Hold, Mask, SyncUnit};

mod postrender;

/// What rendering a release reads.
pub struct Inputs<'a> {
    /// The repository's files (a chart from a Git path is read here).
    pub files: &'a dyn Files,
    /// The chart sources declared (or why one cannot be read).
    pub sources: &'a ChartSources,
    /// The commit's objects: `valuesFrom` and repository Secrets are read here first.
    pub objects: &'a [Value],
    /// The cluster, for what the commit does not declare.
    pub cluster: &'a dyn ClusterData,
    pub helm: &'a dyn Helm,
}

/// What a release installs.
#[derive(Debug, Clone, Default)]
pub struct Release {
    /// Its objects: the manifest, then its hooks in Helm's order (test hooks left out), as
    /// `helm template --skip-tests` prints them; the manifest's templates post-rendered as
    /// helm-controller post-renders them (its origin labels aside: they are put on when the
    /// release is applied).
    pub objects: Vec<Value>,
    /// What a person should know (an optional `valuesFrom` left out because it could not be
    /// read here).
    pub notices: Vec<String>,
}

/// Why a release cannot be rendered, and whether trying again later may help (what it reads
/// from the cluster or a chart repository may come).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub retry: bool,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for Problem {
    fn from(message: String) -> Self {
        Self {
            message,
            retry: false,
        }
    }
}

impl Problem {
    fn retry(message: String) -> Self {
        Self {
            message,
            retry: true,
        }
    }
}

/// What `hr` installs, as `helm template` renders it with the same chart and values, and
/// helm-controller post-renders it; `Err` names the field or source.
pub fn render(hr: &HelmRelease, inputs: &Inputs<'_>) -> Result<Release, Problem> {
    let unsupported = hr.unsupported();
    if !unsupported.is_empty() {
        return Err(Problem::from(format!(
            "{} not applied by fledge yet; it refuses the HelmRelease rather than install something else than Flux would",
            unsupported.join(", ")
        )));
    }
    let mut notices = Vec::new();
    let (source, values_files, verify) = chart_source(hr, inputs.sources)?;
    let mut request = Request {
        release_name: hr.release_name(),
        namespace: hr.release_namespace().to_owned(),
        values: hr.spec.values.clone(),
        layers: layers(hr, inputs, &mut notices)?,
        include_crds: hr.include_crds(),
        values_files,
        ..Request::default()
    };
    match source {
        ChartSource::Git { path, .. } => {
            verify.refuse_unless_oci(None)?;
            chart_files(inputs.files, &path, &mut request)?;
        }
        ChartSource::Repository {
            repository,
            chart,
            version,
        } => {
            let repo = declared(&inputs.sources.helm, "HelmRepository", &repository)?;
            let mut auth = auth(repo, inputs)?;
            auth.verify = verify.keys(repo, inputs)?;
            let fetched = inputs
                .helm
                .fetch(repo, &auth, &chart, &version)
                .map_err(Problem::retry)?;
            request.archive = Some(fetched.archive);
        }
        ChartSource::Oci { repository } => {
            let repo = declared(&inputs.sources.oci, "OCIRepository", &repository)?;
            let access = crate::registry::artifact::access(repo, |field, name| {
                secret_of("OCIRepository", &repo.id, field, name, inputs)
            })?;
            let fetched = inputs
                .helm
                .fetch_oci(repo, &access)
                .map_err(Problem::retry)?;
            request.archive = Some(fetched.archive);
        }
        ChartSource::Declared { chart } => {
            return Err(Problem::from(format!(
                "HelmChart {chart}: its source is another HelmChart; a HelmChart's sourceRef is a HelmRepository or a GitRepository"
            )));
        }
    }
    let rendered = rendered(hr, &request, inputs, &mut notices)?;
    let mut objects = objects(&rendered)?;
    if postrender::wanted(hr) {
        objects = postrender::objects(hr, &rendered)?;
    }
    Ok(Release { objects, notices })
}

/// `request` rendered by Helm's engine, each `lookup` answered from the cluster as `hr`'s
/// account reads it (as helm-controller installs); where nothing is read (a build), each
/// answers nothing, as in `helm template`, and a notice names it.
fn rendered(
    hr: &HelmRelease,
    request: &Request,
    inputs: &Inputs<'_>,
    notices: &mut Vec<String>,
) -> Result<Rendered, Problem> {
    let account = hr
        .spec
        .service_account_name
        .as_ref()
        .map(|sa| format!("{}/{sa}", hr.id.namespace));
    let unanswered = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let unread = std::cell::Cell::new(false);
    let lookup = |q: &Lookup| match inputs.cluster.lookup(account.as_deref(), q) {
        Ok(Some(found)) => Ok(found),
        Ok(None) => {
            unanswered.borrow_mut().insert(q.clone());
            Ok(Value::Object(serde_json::Map::new()))
        }
        Err(e) => {
            unread.set(true);
            Err(e)
        }
    };
    let rendered = inputs.helm.render(request, &lookup).map_err(|e| Problem {
        message: format!("Helm could not render the chart: {e}"),
        // A lookup that could not be read may be read later.
        retry: unread.get(),
    })?;
    notices.extend(unanswered.into_inner().into_iter().map(|q| {
        format!(
            "{q} answered nothing (an empty map): this command reads no cluster, as `helm template` reads none; the daemon answers it from the cluster"
        )
    }));
    Ok(rendered)
}

/// Where `hr`'s chart comes from (a HelmChart it names resolved to the chart's own source),
/// and the values files of the chart merged over its `values.yaml`.
fn chart_source(
    hr: &HelmRelease,
    sources: &ChartSources,
) -> Result<(ChartSource, Vec<String>, ChartVerify), String> {
    match hr.chart_source()? {
        ChartSource::Declared { chart } => {
            let c = declared(&sources.declared, "HelmChart", &chart)?;
            let source = c
                .spec
                .source(&c.id.namespace, &format!("HelmChart {}: spec", c.id))?;
            let verify = ChartVerify {
                asker: format!("HelmChart {}", c.id),
                field: "spec.verify",
                value: c.spec.verify.clone(),
            };
            Ok((source, c.spec.values_files.clone(), verify))
        }
        source => {
            let spec = hr.spec.chart.as_ref().map(|c| &c.spec);
            let verify = ChartVerify {
                asker: format!("HelmRelease {}", hr.id),
                field: "spec.chart.spec.verify",
                value: spec.and_then(|s| s.verify.clone()),
            };
            let files = spec.map(|s| s.values_files.clone());
            Ok((source, files.unwrap_or_default(), verify))
        }
    }
}

/// The signature verification a chart of a HelmRepository or GitRepository asks for: the
/// HelmChart's `spec.verify` (or the HelmRelease's `spec.chart.spec.verify`, the template of
/// the HelmChart helm-controller makes in the repository's namespace).
struct ChartVerify {
    /// `HelmRelease apps/web` or `HelmChart apps/web`.
    asker: String,
    field: &'static str,
    value: Option<Value>,
}

impl ChartVerify {
    /// The Secret of keys asked for; `Err` when what is asked is refused
    /// ([`crate::flux::oci::verify_secret`]), or the chart is not in an OCI registry (`repo`:
    /// its HelmRepository; `None`: a GitRepository).
    fn refuse_unless_oci(&self, repo: Option<&HelmRepository>) -> Result<Option<String>, Problem> {
        let Some(name) = crate::flux::oci::verify_secret(self.value.as_ref(), self.field)
            .map_err(|e| Problem::from(format!("{}: {e}", self.asker)))?
        else {
            return Ok(None);
        };
        let (field, asker) = (self.field, &self.asker);
        match repo {
            Some(r) if r.is_oci() => Ok(Some(name)),
            Some(r) => Err(Problem::from(format!(
                "{asker}: {field}: HelmRepository {} is not `type: oci`, and only charts in OCI registries carry cosign signatures (source-controller fails such a chart's verification as not implemented); fledge refuses it likewise: push the chart to an OCI registry, or drop {field}",
                r.id
            ))),
            None => Err(Problem::from(format!(
                "{asker}: {field}: a chart from a GitRepository carries no cosign signature (source-controller does not verify it); fledge refuses rather than leave the field unread: drop {field}, or verify the GitRepository's commits (its spec.verify)"
            ))),
        }
    }

    /// The public keys of the Secret asked for, read in `repo`'s namespace (the HelmChart's).
    fn keys(
        &self,
        repo: &HelmRepository,
        inputs: &Inputs<'_>,
    ) -> Result<Option<crate::registry::cosign::Keys>, Problem> {
        let Some(name) = self.refuse_unless_oci(Some(repo))? else {
            return Ok(None);
        };
        let (field, asker, ns) = (self.field, &self.asker, &repo.id.namespace);
        let data = read_data("Secret", ns, &name, inputs)
            .map_err(|e| Problem::retry(format!("{asker}: {field}.secretRef: {e}")))?
            .ok_or_else(|| {
                Problem::retry(format!(
                    "{asker}: {field}.secretRef: Secret {ns}/{name} does not exist"
                ))
            })?;
        let keys = crate::registry::cosign::Keys::read(
            &format!("{asker}: {field}"),
            &format!("{ns}/{name}"),
            &data,
        )?;
        Ok(Some(keys))
    }
}

/// The source `id` of `kind` among those declared, or why it cannot be used.
fn declared<'a, T>(
    among: &'a BTreeMap<Id, Result<T, crate::flux::FluxError>>,
    kind: &str,
    id: &Id,
) -> Result<&'a T, String> {
    among
        .get(id)
        .ok_or_else(|| format!("{kind} {id} is declared nowhere in the repository; declare it"))?
        .as_ref()
        .map_err(|e| format!("{kind} {e}"))
}

/// The release's objects from what Helm rendered (test hooks left out: Flux runs them only with
/// `spec.test.enable`).
fn objects(rendered: &Rendered) -> Result<Vec<Value>, String> {
    render::yaml::parse_objects(rendered.template_text(false).as_bytes()).map_err(|e| {
        format!(
            "the chart rendered YAML that cannot be read (line {}, column {}): {}",
            e.line, e.column, e.message
        )
    })
}

/// The files of the chart directory at `path` (or the packaged chart there).
fn chart_files(files: &dyn Files, path: &str, request: &mut Request) -> Result<(), String> {
    let missing = || {
        format!(
            "spec.chart.spec.chart: {path} is not a chart directory or packaged chart in the repository"
        )
    };
    match files.entry(path) {
        Some(Entry::File) => {
            let bytes = files.read(path).map_err(|e| format!("{path}: {e}"))?;
            request.archive = Some(Base64(Arc::new(bytes)));
        }
        Some(Entry::Dir) => {
            let mut pending = vec![String::new()];
            while let Some(dir) = pending.pop() {
                let full = join(path, &dir);
                for name in files.list(&full).map_err(|e| format!("{full}: {e}"))? {
                    let rel = join(&dir, &name);
                    match files.entry(&join(path, &rel)) {
                        Some(Entry::Dir) => pending.push(rel),
                        Some(Entry::File) => {
                            let bytes = files
                                .read(&join(path, &rel))
                                .map_err(|e| format!("{rel}: {e}"))?;
                            request.files.insert(rel, Base64(Arc::new(bytes)));
                        }
                        None => {}
                    }
                }
            }
            if !request.files.contains_key("Chart.yaml") {
                return Err(missing());
            }
        }
        None => return Err(missing()),
    }
    Ok(())
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else if name.is_empty() {
        dir.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// The `valuesFrom` references, read as helm-controller reads them: a missing object or key
/// fails the release unless the reference is optional; an optional one that cannot be read
/// here is left out, said in `notices`.
fn layers(
    hr: &HelmRelease,
    inputs: &Inputs<'_>,
    notices: &mut Vec<String>,
) -> Result<Vec<Layer>, Problem> {
    let mut out = Vec::new();
    for (i, r) in hr.spec.values_from.iter().enumerate() {
        let field = format!("spec.valuesFrom[{i}]");
        let data = match read_data(&r.kind, &hr.id.namespace, &r.name, inputs) {
            Ok(d) => d,
            Err(e) if r.optional => {
                notices.push(format!(
                    "HelmRelease {}: {field} is optional and left out: {e}",
                    hr.id
                ));
                continue;
            }
            Err(e) => return Err(Problem::retry(format!("{field}: {e}"))),
        };
        let Some(data) = data else {
            if r.optional {
                continue;
            }
            return Err(Problem::retry(format!(
                "{field}: {} {}/{} does not exist (declare it, or mark the reference optional)",
                r.kind, hr.id.namespace, r.name
            )));
        };
        let Some(text) = data.get(r.key()) else {
            if r.optional {
                continue;
            }
            return Err(Problem::from(format!(
                "{field}: {} {}/{} has no key {:?}",
                r.kind,
                hr.id.namespace,
                r.name,
                r.key()
            )));
        };
        out.push(layer(r, &hr.id.namespace, text.expose()));
    }
    Ok(out)
}

fn layer(r: &ValuesReference, namespace: &str, text: &str) -> Layer {
    Layer {
        source: format!("{} {namespace}/{} key {}", r.kind, r.name, r.key()),
        data: text.to_owned(),
        target_path: r.target_path.clone().filter(|t| !t.is_empty()),
    }
}

/// The data of ConfigMap or Secret `namespace/name` (Secret values decoded): from the commit's
/// objects when it declares the object, else from the cluster; `Ok(None)` when neither has it.
fn read_data(
    kind: &str,
    namespace: &str,
    name: &str,
    inputs: &Inputs<'_>,
) -> Result<Option<BTreeMap<String, Secret>>, String> {
    let declared = inputs.objects.iter().find(|o| {
        o["kind"] == kind
            && o["apiVersion"] == "v1"
            && o["metadata"]["name"] == name
            && crate::object::namespace_or_default(o) == namespace
    });
    let object = match declared {
        Some(o) => {
            if !o["sops"].is_null() {
                return Err(format!(
                    "{kind} {namespace}/{name} is encrypted with SOPS in the repository and cannot be read here; give fledge its key (--sops-age-key-file)"
                ));
            }
            o.clone()
        }
        None => match inputs.cluster.object(kind, namespace, name)? {
            Some(o) => o,
            None => return Ok(None),
        },
    };
    data(kind, &object).map(Some)
}

/// A ConfigMap's `data`, or a Secret's `data` (decoded) and `stringData`.
fn data(kind: &str, o: &Value) -> Result<BTreeMap<String, Secret>, String> {
    use base64::Engine as _;
    let mut out = BTreeMap::new();
    let text = |v: &Value| v.as_str().map(str::to_owned);
    if kind == "ConfigMap" {
        for (k, v) in o["data"].as_object().into_iter().flatten() {
            out.insert(k.clone(), Secret::new(text(v).unwrap_or_default()));
        }
        return Ok(out);
    }
    for (k, v) in o["data"].as_object().into_iter().flatten() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text(v).unwrap_or_default())
            .map_err(|_| format!("Secret key {k:?} is not base64"))?;
        let value =
            String::from_utf8(bytes).map_err(|_| format!("Secret key {k:?} is not UTF-8 text"))?;
        out.insert(k.clone(), Secret::new(value));
    }
    for (k, v) in o["stringData"].as_object().into_iter().flatten() {
        out.insert(k.clone(), Secret::new(text(v).unwrap_or_default()));
    }
    Ok(out)
}

/// The data of the Secret `name` that the `kind` source `source` names in `field` (in the
/// source's namespace); one that cannot be read or does not exist yet is tried again.
fn secret_of(
    kind: &str,
    source: &Id,
    field: &str,
    name: &str,
    inputs: &Inputs<'_>,
) -> Result<BTreeMap<String, Secret>, Problem> {
    let ns = &source.namespace;
    read_data("Secret", ns, name, inputs)
        .map_err(|e| Problem::retry(format!("{kind} {source}: {field}: {e}")))?
        .ok_or_else(|| {
            Problem::retry(format!(
                "{kind} {source}: {field}: Secret {ns}/{name} does not exist"
            ))
        })
}

/// The credentials and TLS of `repo`, from its Secrets (`secretRef`: `username`, `password`,
/// and, as Flux still reads them there, TLS keys; `certSecretRef`: `ca.crt`, `tls.crt`,
/// `tls.key`).
fn auth(repo: &HelmRepository, inputs: &Inputs<'_>) -> Result<RepositoryAuth, Problem> {
    let read = |field: &str, name: &str| secret_of("HelmRepository", &repo.id, field, name, inputs);
    let mut auth = RepositoryAuth::default();
    let mut tls = None;
    if let Some(r) = &repo.spec.secret_ref {
        let d = read("spec.secretRef", &r.name)?;
        if let (Some(u), Some(p)) = (d.get("username"), d.get("password")) {
            auth.basic = Some((u.expose().to_owned(), p.clone()));
        } else if let Some(config) = d.get(".dockerconfigjson") {
            // An OCI repository's login, as Docker keeps it.
            let host = repo.spec.url.trim_start_matches("oci://");
            auth.basic = docker_login(config, host)
                .map_err(|e| format!("HelmRepository {}: spec.secretRef: {e}", repo.id))?;
        }
        tls = Some(d);
    }
    if let Some(r) = &repo.spec.cert_secret_ref {
        tls = Some(read("spec.certSecretRef", &r.name)?);
    }
    if let Some(d) = tls {
        auth.ca = d.get("ca.crt").map(|c| c.expose().as_bytes().to_vec());
        if let (Some(c), Some(k)) = (d.get("tls.crt"), d.get("tls.key")) {
            auth.identity = Some((c.expose().as_bytes().to_vec(), k.clone()));
        }
    }
    Ok(auth)
}

/// The login for the registry of `image` in a `.dockerconfigjson`.
fn docker_login(config: &Secret, image: &str) -> Result<Option<(String, Secret)>, String> {
    let registry = crate::registry::registry_of(image);
    crate::registry::docker_credentials(config.expose().as_bytes(), &registry)
}

/// `objects` with each HelmRelease replaced by the objects it installs, for `fledge build
/// --charts`: HelmRepositories and values from `objects`, charts from Git read in `files`;
/// what a person should know goes into `notices`.
pub fn expand(
    objects: &[Value],
    files: &dyn Files,
    helm: &dyn Helm,
    notices: &mut Vec<String>,
) -> Result<Vec<Value>, String> {
    let sources = ChartSources::read(objects);
    let inputs = Inputs {
        files,
        sources: &sources,
        objects,
        cluster: &super::NoCluster,
        helm,
    };
    let mut out = Vec::new();
    for o in objects {
        let is_release = o["kind"] == "HelmRelease"
            && o["apiVersion"]
                .as_str()
                .is_some_and(|a| a.starts_with("helm.toolkit.fluxcd.io/"));
        if !is_release {
            out.push(o.clone());
            continue;
        }
        let hr = HelmRelease::parse(o).map_err(|e| format!("HelmRelease {e}"))?;
        let release = render(&hr, &inputs).map_err(|e| format!("HelmRelease {}: {e}", hr.id))?;
        notices.extend(release.notices);
        out.extend(release.objects);
    }
    Ok(out)
}

/// The prefix of a HelmRelease unit's name (`HelmRelease/<namespace>/<name>`): a Kustomization
/// and a HelmRelease may share a namespace and name.
pub const UNIT_PREFIX: &str = "HelmRelease/";

/// What a HelmRelease unit is built from, beyond the release itself.
pub(super) struct UnitInputs<'a> {
    pub inputs: Inputs<'a>,
    /// The GitRepository fledge runs on: a chart read from a path of another one is fetched.
    pub root_repository: &'a Id,
    pub git: &'a BTreeMap<Id, crate::flux::GitRepository>,
    pub further: &'a dyn super::Repositories,
}

/// The sync unit of `hr`, declared by unit `parent`, and the objects it applies: its own
/// inventory, status, `dependsOn` (other HelmReleases), suspend and timeout, as helm-controller
/// reconciles a HelmRelease; what cannot be rendered or applied holds it, naming why.
pub(super) fn unit(
    read: &crate::flux::units::ReadRelease,
    parent: &str,
    u: &UnitInputs<'_>,
) -> (SyncUnit, Vec<Value>) {
    let hr = match read {
        Ok(hr) => hr,
        Err((id, e)) => return (unreadable(id, parent, e), Vec::new()),
    };
    let name = format!("{UNIT_PREFIX}{}", hr.id);
    let mut unit = SyncUnit {
        inventory: inventory_name(&hr.id),
        root: false,
        path: hr
            .spec
            .chart
            .as_ref()
            .map(|c| c.spec.chart.clone())
            .unwrap_or_default(),
        keys: std::collections::BTreeSet::new(),
        depends_on: hr
            .dependencies()
            .iter()
            .map(|d| format!("{UNIT_PREFIX}{d}"))
            .collect(),
        prune: true,
        force: hr.raw_spec["upgrade"]["force"] == true,
        ignore: hr.raw_spec["driftDetection"]["ignore"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        deletion: Deletion::Delete { always: false },
        interval: Some(hr.interval()),
        retry_interval: None,
        timeout: hr.timeout(),
        health: Health {
            all: !waits_not(hr),
            ..Health::default()
        },
        hold: None,
        mask: Mask::default(),
        service_account: hr
            .spec
            .service_account_name
            .as_ref()
            .map(|sa| format!("{}/{sa}", hr.id.namespace)),
        source: None,
        parent: Some(parent.to_owned()),
        declared: hr.object(),
        ready_exprs: BTreeMap::new(),
        name,
    };
    if hr.spec.suspend {
        unit.hold = Some(Hold::Suspended);
        return (unit, Vec::new());
    }
    match build(hr, u) {
        Ok(release) => {
            let namespace = hr.release_namespace();
            let objects = release
                .objects
                .into_iter()
                .map(|o| placed(o, hr, namespace))
                .collect();
            (unit, objects)
        }
        Err(why) => {
            unit.hold = Some(why);
            (unit, Vec::new())
        }
    }
}

/// The unit of a HelmRelease that cannot be read: failed, naming the field.
fn unreadable(id: &Id, parent: &str, e: &crate::flux::FluxError) -> SyncUnit {
    SyncUnit {
        name: format!("{UNIT_PREFIX}{id}"),
        root: false,
        path: String::new(),
        inventory: inventory_name(id),
        keys: std::collections::BTreeSet::new(),
        depends_on: Vec::new(),
        prune: true,
        force: false,
        ignore: Vec::new(),
        deletion: Deletion::Delete { always: false },
        interval: None,
        retry_interval: None,
        timeout: std::time::Duration::from_secs(300),
        health: Health::default(),
        hold: Some(Hold::Failed(format!("{}: {}", e.path, e.message))),
        mask: Mask::default(),
        service_account: None,
        source: None,
        parent: Some(parent.to_owned()),
        declared: Value::Null,
        ready_exprs: BTreeMap::new(),
    }
}

/// Renders `hr`, its chart read from the repository fledge runs on or from the further
/// GitRepository it names.
fn build(hr: &HelmRelease, u: &UnitInputs<'_>) -> Result<Release, Hold> {
    let fetched;
    let mut inputs = Inputs { ..u.inputs };
    if let Ok((ChartSource::Git { repository, .. }, _, _)) = chart_source(hr, u.inputs.sources)
        && &repository != u.root_repository
    {
        let repo = u.git.get(&repository).ok_or_else(|| {
            Hold::Failed(format!(
                "spec.chart.spec.sourceRef: GitRepository {repository} is declared nowhere in the repository; declare it"
            ))
        })?;
        fetched = u.further.tree(repo).map_err(|e| {
            Hold::Unreadable(format!(
                "spec.chart.spec.sourceRef: {e}; nothing of this HelmRelease is applied until it can be fetched"
            ))
        })?;
        inputs.files = &fetched.files;
    }
    // What the cluster holds may come: a missing values source or a chart repository that
    // cannot be reached is tried again.
    render(hr, &inputs).map_err(|p| {
        if p.retry {
            Hold::Unreadable(p.message)
        } else {
            Hold::Failed(p.message)
        }
    })
}

/// `disableWait` on install and upgrade: helm-controller then does not wait for the objects.
fn waits_not(hr: &HelmRelease) -> bool {
    let s = &hr.raw_spec;
    s["install"]["disableWait"] == true && s["upgrade"]["disableWait"] == true
}

/// `o` as helm-controller applies it: helm-controller's origin labels on it unless it is a hook
/// (its last post-renderer, so they win over a `commonMetadata` label of the same key), and the release
/// namespace when it has none and its kind is a namespaced built-in kind (Helm puts it on after
/// the post-renderers, asking the cluster for every kind; fledge knows the built-in ones and
/// leaves a custom kind as the chart wrote it).
fn placed(mut o: Value, hr: &HelmRelease, namespace: &str) -> Value {
    use crate::flux::helm::{ORIGIN_NAME, ORIGIN_NAMESPACE};
    let api = o["apiVersion"].as_str().unwrap_or("").to_owned();
    let kind = o["kind"].as_str().unwrap_or("").to_owned();
    let group = api.split_once('/').map_or("", |(g, _)| g);
    let built_in = !group.contains('.') || group.ends_with(".k8s.io");
    let gvk = crate::render::object::Gvk::from_api_version(&api, &kind);
    if built_in && gvk.is_namespaced() && o["metadata"]["namespace"].is_null() {
        o["metadata"]["namespace"] = namespace.into();
    }
    if crate::helm::hooks::is_hook(&o) {
        // helm-controller post-renders the manifest only: its hooks get no origin labels.
        return o;
    }
    let origin = [
        (ORIGIN_NAME, hr.id.name.as_str()),
        (ORIGIN_NAMESPACE, hr.id.namespace.as_str()),
    ];
    postrender::set_metadata(&mut o, "labels", origin);
    o
}

/// A HelmRelease's inventory ConfigMap: named after it, apart from Kustomizations' (or after a
/// digest when that is too long).
fn inventory_name(id: &Id) -> String {
    use sha2::Digest as _;
    let full = format!(
        "{}-helm.{}.{}",
        crate::keys::INVENTORY,
        id.namespace,
        id.name
    );
    if full.len() <= 253 {
        return full;
    }
    let digest = hex::encode(sha2::Sha256::digest(id.to_string().as_bytes()));
    format!("{}-helm.{}", crate::keys::INVENTORY, &digest[..32])
}

#[cfg(test)]
mod tests;
