//! A HelmRepository's index (`index.yaml`) and charts over HTTP(S) (OCI registries: `oci`), as
//! source-controller fetches them: the newest version meeting the constraint, the archive checked against the
//! index's digest and kept by digest (in memory, and on disk under the cache directory), the
//! index kept for the repository's interval.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use serde::Deserialize;
use sha2::Digest as _;

use super::{Base64, Chart, RepositoryAuth};
use crate::flux::helm::HelmRepository;

/// Fetches indexes and charts.
pub struct Fetcher {
    cache: Option<PathBuf>,
    indexes: Mutex<HashMap<String, (Instant, Arc<Index>)>>,
    charts: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    oci: super::oci::Resolved,
}

/// `index.yaml`: each chart's versions.
#[derive(Debug, Deserialize)]
struct Index {
    #[serde(default)]
    entries: HashMap<String, Vec<Entry>>,
}

#[derive(Debug, Clone, Deserialize)]
struct Entry {
    version: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    digest: Option<String>,
}

impl Fetcher {
    /// Keeps charts under `cache` when given.
    #[must_use]
    pub fn new(cache: Option<PathBuf>) -> Self {
        Self {
            cache,
            indexes: Mutex::default(),
            charts: Mutex::default(),
            oci: super::oci::Resolved::default(),
        }
    }

    /// The chart an OCIRepository follows.
    pub fn fetch_oci(
        &self,
        repo: &crate::flux::oci::OciRepository,
        access: &crate::registry::Access,
    ) -> Result<Chart, String> {
        super::oci::from_oci_repository(&self.oci, repo, access)
    }

    /// The newest chart `name` of `repo` whose version meets `constraint`.
    pub fn fetch(
        &self,
        repo: &HelmRepository,
        auth: &RepositoryAuth,
        name: &str,
        constraint: &str,
    ) -> Result<Chart, String> {
        if repo.is_oci() {
            return super::oci::from_helm_repository(&self.oci, repo, auth, name, constraint);
        }
        let url = repo.spec.url.trim_end_matches('/').to_owned();
        let shown = crate::source::redact(&url);
        let index = self.index(repo, auth, &url)?;
        let versions = index.entries.get(name).ok_or_else(|| {
            format!(
                "HelmRepository {} ({shown}) has no chart named {name:?}",
                repo.id
            )
        })?;
        let wanted = crate::flux::constraint::Constraint::parse(constraint).map_err(|e| {
            format!("spec.chart.spec.version: {constraint:?} is not a semver constraint: {e}")
        })?;
        let entry = versions
            .iter()
            .filter_map(|e| Some((crate::flux::constraint::version(&e.version)?, e)))
            .filter(|(v, _)| wanted.matches(v))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, e)| e.clone())
            .ok_or_else(|| {
                format!(
                    "HelmRepository {} ({shown}): no version of chart {name} meets {constraint:?}",
                    repo.id
                )
            })?;
        let archive = self.archive(repo, auth, &url, &entry)?;
        let digest = format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(archive.as_slice()))
        );
        Ok(Chart {
            name: name.to_owned(),
            version: entry.version,
            digest,
            archive: Base64(archive),
        })
    }

    fn index(
        &self,
        repo: &HelmRepository,
        auth: &RepositoryAuth,
        url: &str,
    ) -> Result<Arc<Index>, String> {
        let key = format!(
            "{url}\n{}",
            auth.basic.as_ref().map_or("", |(u, _)| u.as_str())
        );
        if let Some((at, index)) = self.indexes.lock().map_err(|e| e.to_string())?.get(&key)
            && at.elapsed() < repo.interval()
        {
            return Ok(index.clone());
        }
        let bytes = get(repo, auth, &format!("{url}/index.yaml"), true)?;
        let index: Index = serde_yaml::from_slice(&bytes).map_err(|e| {
            format!(
                "HelmRepository {}: its index.yaml cannot be read: {e}",
                repo.id
            )
        })?;
        let index = Arc::new(index);
        self.indexes
            .lock()
            .map_err(|e| e.to_string())?
            .insert(key, (Instant::now(), index.clone()));
        Ok(index)
    }

    fn archive(
        &self,
        repo: &HelmRepository,
        auth: &RepositoryAuth,
        url: &str,
        entry: &Entry,
    ) -> Result<Arc<Vec<u8>>, String> {
        let digest = entry.digest.clone().filter(|d| d.len() == 64);
        if let Some(d) = &digest {
            if let Some(a) = self.charts.lock().map_err(|e| e.to_string())?.get(d) {
                return Ok(a.clone());
            }
            if let Some(bytes) = self.cached(d) {
                return Ok(self.keep(d, bytes));
            }
        }
        let link = entry.urls.first().ok_or_else(|| {
            format!(
                "HelmRepository {}: version {} of the chart has no URL in index.yaml",
                repo.id, entry.version
            )
        })?;
        let absolute = link.contains("://");
        let full = if absolute {
            link.clone()
        } else {
            format!("{url}/{}", link.trim_start_matches("./"))
        };
        // Credentials go to another host only with `passCredentials`, as Flux does.
        let same_host = !absolute || host(&full) == host(url);
        let bytes = get(repo, auth, &full, same_host || repo.spec.pass_credentials)?;
        let actual = hex::encode(sha2::Sha256::digest(&bytes));
        if let Some(d) = &digest
            && *d != actual
        {
            return Err(format!(
                "HelmRepository {}: the archive of version {} does not match the digest of index.yaml (sha256 {actual}, index {d})",
                repo.id, entry.version
            ));
        }
        if let Some(dir) = &self.cache {
            // A cache that cannot be written costs a download next time, nothing else.
            let _ = std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(dir.join(format!("{actual}.tgz")), &bytes));
        }
        Ok(self.keep(&actual, bytes))
    }

    fn cached(&self, digest: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.cache.as_ref()?.join(format!("{digest}.tgz"))).ok()?;
        (hex::encode(sha2::Sha256::digest(&bytes)) == digest).then_some(bytes)
    }

    fn keep(&self, digest: &str, bytes: Vec<u8>) -> Arc<Vec<u8>> {
        let bytes = Arc::new(bytes);
        if let Ok(mut charts) = self.charts.lock() {
            charts.insert(digest.to_owned(), bytes.clone());
        }
        bytes
    }
}

fn host(url: &str) -> Option<String> {
    reqwest::Url::parse(url).ok().map(|u| {
        format!(
            "{}:{:?}",
            u.host_str().unwrap_or(""),
            u.port_or_known_default()
        )
    })
}

/// GETs `url` with the repository's TLS settings (and its credentials when `credentials`), on
/// a thread of its own: callers are blocking code, in or out of an async runtime.
fn get(
    repo: &HelmRepository,
    auth: &RepositoryAuth,
    url: &str,
    credentials: bool,
) -> Result<Vec<u8>, String> {
    let shown = crate::source::redact(url);
    let client = client(repo, auth)?;
    let mut request = client.get(url);
    if credentials && let Some((user, password)) = &auth.basic {
        request = request.basic_auth(user, Some(password.expose()));
    }
    let id = repo.id.clone();
    super::oci::block_on(async {
        let response = request.send().await.map_err(|e| {
            format!(
                "HelmRepository {id}: GET {shown}: {}",
                crate::chain::Chain(&e)
            )
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HelmRepository {id}: GET {shown}: {status}"));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("HelmRepository {id}: GET {shown}: {e}"))?;
        Ok(body.to_vec())
    })?
}

fn client(repo: &HelmRepository, auth: &RepositoryAuth) -> Result<reqwest::Client, String> {
    let mut builder = crate::net::http_client_builder(
        repo.timeout().max(Duration::from_secs(1)),
        repo.spec.insecure,
    );
    if let Some(ca) = &auth.ca {
        for cert in reqwest::Certificate::from_pem_bundle(ca)
            .map_err(|e| format!("HelmRepository {}: ca.crt is not PEM: {e}", repo.id))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some((cert, key)) = &auth.identity {
        let mut pem = cert.clone();
        pem.push(b'\n');
        pem.extend_from_slice(key.expose().as_bytes());
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
            format!(
                "HelmRepository {}: tls.crt and tls.key are not a PEM certificate and key: {e}",
                repo.id
            )
        })?;
        builder = builder.identity(identity);
    }
    builder
        .build()
        .map_err(|e| format!("HelmRepository {}: {e}", repo.id))
}
