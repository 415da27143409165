//! `helm`: the Helm edge — charts fetched from a Flux `HelmRepository` (its `index.yaml` over
//! HTTP(S), or an OCI registry; basic auth and TLS from the Secrets the caller reads) or an
//! `OCIRepository` and rendered by Helm's own
//! engine (`fledge-helm`, built from `engine/helm` over `helm.sh/helm/v4`), spoken to over
//! stdin and stdout.
//!
//! Why a helper process and not the `helm` CLI or WebAssembly: the helper is Helm's library
//! called as helm-controller calls it (an install in client-only dry-run mode), so values are
//! composed with Helm's own parsers and the hooks come back apart from the manifest with their
//! events and weights, which `helm template`'s text does not keep; it reads no file, network or
//! cluster, so a chart is rendered from the bytes fledge gives it and nothing else (a chart's
//! `lookup` is asked of fledge over the same pipes, and answered from the cluster as fledge's
//! account, or the release's, reads it); and `cargo build` needs no Go. Without it, a HelmRelease fails with an error that says how to get it.
//!
//! Not here: which chart a HelmRelease names and with which values (`flux::helm`, and the plan
//! stage, which reads the values' ConfigMaps and Secrets), applying (sync).

pub mod engine;
pub mod hooks;
mod oci;
mod repository;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::flux::helm::HelmRepository;
use crate::net::Secret;

pub use engine::{ENV, Engine, PROGRAM};
pub use repository::Fetcher;

/// What Helm's engine is asked to render.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The chart's files by path below its directory (a chart from Git)…
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub files: std::collections::BTreeMap<String, Base64>,
    /// …or the packaged chart (from a repository).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<Base64>,
    /// `spec.chart.spec.valuesFiles`: files of the chart merged over its `values.yaml`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    pub release_name: String,
    pub namespace: String,
    /// `spec.values`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<serde_json::Value>,
    /// `spec.valuesFrom`, read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Layer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
    #[serde(rename = "includeCRDs")]
    pub include_crds: bool,
    pub is_upgrade: bool,
}

/// Bytes sent as base64 (Go's `[]byte` in JSON).
#[derive(Clone, PartialEq, Eq)]
pub struct Base64(pub Arc<Vec<u8>>);

impl std::fmt::Debug for Base64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

impl Serialize for Base64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(self.0.as_slice()))
    }
}

/// One `valuesFrom` reference's text, and where it was read (for errors).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    pub source: String,
    pub data: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
}

/// One call of a chart's `lookup`, with Helm's arguments: the object `name` of a kind (in
/// `namespace` where the kind is namespaced), or without a name every object of the kind (in
/// `namespace`, or in all namespaces for `""`) as a list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lookup {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "lookup \"{}\" \"{}\" \"{}\" \"{}\"",
            self.api_version, self.kind, self.namespace, self.name
        )
    }
}

/// What Helm's engine rendered.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Rendered {
    #[serde(default)]
    pub chart: Option<ChartMeta>,
    pub manifest: String,
    #[serde(default)]
    pub hooks: Vec<Hook>,
    #[serde(default)]
    pub notes: String,
}

/// The chart rendered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartMeta {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub app_version: String,
}

/// One hook of a release, in Helm's order.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub manifest: String,
    pub events: Vec<String>,
    pub weight: i64,
    #[serde(default)]
    pub delete_policies: Vec<String>,
}

impl Hook {
    /// Whether it only runs for `helm test`.
    #[must_use]
    pub fn is_test(&self) -> bool {
        self.events
            .iter()
            .all(|e| e == "test" || e == "test-success")
    }
}

impl Rendered {
    /// The text `helm template` prints for the same release: the manifest, then each hook
    /// under its `# Source:` line (test hooks only with `tests`).
    #[must_use]
    pub fn template_text(&self, tests: bool) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{}\n", self.manifest.trim());
        for h in self.hooks.iter().filter(|h| tests || !h.is_test()) {
            let _ = write!(out, "---\n# Source: {}\n{}\n", h.path, h.manifest);
        }
        out
    }
}

/// A chart fetched from a repository.
#[derive(Debug, Clone)]
pub struct Chart {
    pub name: String,
    pub version: String,
    /// `sha256:<hex>` of the archive.
    pub digest: String,
    pub archive: Base64,
}

/// Credentials and TLS for a HelmRepository, read from its Secrets by the caller.
#[derive(Debug, Clone, Default)]
pub struct RepositoryAuth {
    /// `spec.secretRef`: `username` and `password`.
    pub basic: Option<(String, Secret)>,
    /// `ca.crt` of `spec.certSecretRef` (or of `spec.secretRef`, as Flux reads it).
    pub ca: Option<Vec<u8>>,
    /// `tls.crt` and `tls.key`: a client certificate.
    pub identity: Option<(Vec<u8>, Secret)>,
    /// The public keys a chart's cosign signature is checked with before it is used
    /// (`spec.chart.spec.verify.secretRef`, or a HelmChart's `spec.verify.secretRef`; charts of
    /// `type: oci` repositories only).
    pub verify: Option<crate::registry::cosign::Keys>,
}

/// The commit message of an image update, as [`engine::Engine::message`] renders it: the
/// template (empty: Flux's default message), the ImageUpdateAutomation, each change, and
/// `spec.git.commit.messageTemplateValues`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRequest {
    pub template: String,
    pub automation_object: NamespacedName,
    pub changes: Vec<MessageChange>,
    pub values: BTreeMap<String, String>,
}

/// A namespace and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NamespacedName {
    pub namespace: String,
    pub name: String,
}

/// One setter's change, in one object of one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageChange {
    pub file: String,
    /// `apiVersion`, `kind`, `name`, `namespace`.
    pub object: BTreeMap<&'static str, String>,
    pub old_value: String,
    pub new_value: String,
    pub setter: String,
}

/// Helm: charts fetched and rendered. The daemon and `fledge build --charts` use [`Local`];
/// [`NoHelm`] refuses, saying why.
pub trait Helm: Send + Sync {
    /// The newest chart `name` of `repo` whose version meets `version` (a semver
    /// constraint, `*` for any).
    fn fetch(
        &self,
        repo: &HelmRepository,
        auth: &RepositoryAuth,
        name: &str,
        version: &str,
    ) -> Result<Chart, String>;
    /// The chart an OCIRepository follows (`spec.chartRef`).
    fn fetch_oci(
        &self,
        repo: &crate::flux::oci::OciRepository,
        access: &crate::registry::Access,
    ) -> Result<Chart, String>;
    /// Renders a release with Helm's engine, each `lookup` of the chart answered by `lookup`
    /// (see [`engine::Engine::render`]).
    fn render(
        &self,
        request: &Request,
        lookup: &dyn Fn(&Lookup) -> Result<serde_json::Value, String>,
    ) -> Result<Rendered, String>;
    /// The cluster's `.Capabilities` for the renders that follow: its version and API versions
    /// (see [`Capabilities`]). Without any, Helm's defaults are rendered with, as by
    /// `helm template`.
    fn set_capabilities(&self, capabilities: Capabilities) {
        let _ = capabilities;
    }
}

/// What a chart's `.Capabilities` say of the cluster it is rendered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capabilities {
    /// Read from the cluster's discovery: `gitVersion`, and each group version and
    /// `group/version/Kind` it serves.
    Discovered {
        kube_version: String,
        api_versions: Vec<String>,
    },
    /// The cluster's could not be read (why): a release is not rendered with Helm's defaults
    /// instead, since a chart that branches on them would install something else.
    Unknown(String),
}

/// No Helm: a HelmRelease fails, saying so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHelm;

impl Helm for NoHelm {
    fn fetch(
        &self,
        repo: &HelmRepository,
        _: &RepositoryAuth,
        _: &str,
        _: &str,
    ) -> Result<Chart, String> {
        Err(format!(
            "HelmRepository {} is fetched by the daemon and by `fledge build --charts`, not by this command",
            repo.id
        ))
    }

    fn fetch_oci(
        &self,
        repo: &crate::flux::oci::OciRepository,
        _: &crate::registry::Access,
    ) -> Result<Chart, String> {
        Err(format!(
            "OCIRepository {} is fetched by the daemon and by `fledge build --charts`, not by this command",
            repo.id
        ))
    }

    fn render(
        &self,
        _: &Request,
        _: &dyn Fn(&Lookup) -> Result<serde_json::Value, String>,
    ) -> Result<Rendered, String> {
        Err(
            "charts are rendered by the daemon and by `fledge build --charts`, not by this command"
                .to_owned(),
        )
    }
}

/// Charts fetched over the network (cached by digest) and rendered by the engine found on
/// this machine.
pub struct Local {
    pub engine: Result<Engine, String>,
    pub fetcher: Fetcher,
    /// The cluster's capabilities, once the daemon read them.
    capabilities: std::sync::RwLock<Option<Capabilities>>,
}

impl Local {
    /// The engine where [`Engine::locate`] finds it (`explicit` first), and a fetcher caching
    /// charts under `cache` (in memory only when `None`).
    #[must_use]
    pub fn new(explicit: Option<PathBuf>, cache: Option<PathBuf>) -> Self {
        Self {
            engine: Engine::locate(explicit),
            fetcher: Fetcher::new(cache),
            capabilities: std::sync::RwLock::new(None),
        }
    }
}

impl Helm for Local {
    fn fetch(
        &self,
        repo: &HelmRepository,
        auth: &RepositoryAuth,
        name: &str,
        version: &str,
    ) -> Result<Chart, String> {
        self.fetcher.fetch(repo, auth, name, version)
    }

    fn fetch_oci(
        &self,
        repo: &crate::flux::oci::OciRepository,
        access: &crate::registry::Access,
    ) -> Result<Chart, String> {
        self.fetcher.fetch_oci(repo, access)
    }

    fn render(
        &self,
        request: &Request,
        lookup: &dyn Fn(&Lookup) -> Result<serde_json::Value, String>,
    ) -> Result<Rendered, String> {
        let engine = self.engine.as_ref().map_err(Clone::clone)?;
        let known = self.capabilities.read().map_or(None, |c| c.clone());
        match known {
            None => engine.render(request, lookup),
            Some(Capabilities::Unknown(why)) => Err(format!(
                "the cluster's API versions, which the chart's .Capabilities read, could not be discovered ({why}); tried again at the next commit or interval"
            )),
            Some(Capabilities::Discovered {
                kube_version,
                api_versions,
            }) => {
                let mut request = request.clone();
                request.kube_version.get_or_insert(kube_version);
                request.api_versions.extend(api_versions);
                engine.render(&request, lookup)
            }
        }
    }

    fn set_capabilities(&self, capabilities: Capabilities) {
        if let Ok(mut c) = self.capabilities.write() {
            *c = Some(capabilities);
        }
    }
}

#[cfg(test)]
mod tests;
