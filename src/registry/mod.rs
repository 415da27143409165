//! Container registries: the tags of a repository and the digest of a tag (image automation),
//! and a layer of an artifact (OCI sources: charts, manifests), over the OCI distribution API (oci-client: the registries' token and basic auth,
//! `Link` pagination left to the registry's page size). Credentials come as values: Docker's
//! `config.json` format (`kubernetes.io/dockerconfigjson` Secrets), as image-reflector-controller
//! reads `spec.secretRef`. What an `OCIRepository` follows, and its layer's files: [`artifact`].

pub mod artifact;
pub mod cosign;

use std::time::Duration;

use base64::Engine as _;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;

use crate::net::Secret;

/// How to reach one image repository.
#[derive(Clone, Default)]
pub struct Access {
    /// `username` and `password` for the repository's registry.
    pub basic: Option<(String, Secret)>,
    /// Extra roots to trust (PEM), `ca.crt` of `spec.certSecretRef`.
    pub ca: Option<Vec<u8>>,
    /// Plain HTTP (`spec.insecure`).
    pub insecure: bool,
    pub timeout: Duration,
    /// The public keys an artifact's cosign signature is checked with before it is used
    /// (`spec.verify.secretRef`); `None`: not verified.
    pub verify: Option<cosign::Keys>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("user", &self.basic.as_ref().map(|(u, _)| u))
            .field("insecure", &self.insecure)
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

/// The registry host of `image` as Docker names it (`docker.io` when none is given).
#[must_use]
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.to_owned(),
        _ => "docker.io".to_owned(),
    }
}

/// `image` as Docker spells it in full: `nginx` is `docker.io/library/nginx`, `org/app` is
/// `docker.io/org/app`, `index.docker.io/…` is `docker.io/…`; others are unchanged.
#[must_use]
pub fn normal(image: &str) -> String {
    let image = image
        .strip_prefix("index.docker.io/")
        .map_or_else(|| image.to_owned(), |rest| format!("docker.io/{rest}"));
    if registry_of(&image) != "docker.io" || image.starts_with("docker.io/") {
        return image;
    }
    if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    }
}

/// The credentials a Docker `config.json` (`.dockerconfigjson`) holds for `registry`: under its
/// host, an `https://` URL of it, or (Docker Hub) `https://index.docker.io/v1/`; `username` and
/// `password`, or `auth` (base64 of `user:password`).
pub fn docker_credentials(
    config: &[u8],
    registry: &str,
) -> Result<Option<(String, Secret)>, String> {
    let v: Value = serde_json::from_slice(config)
        .map_err(|e| format!("`.dockerconfigjson` is not JSON: {e}"))?;
    let auths = v["auths"]
        .as_object()
        .ok_or("`.dockerconfigjson` has no `auths`")?;
    let host = |key: &str| {
        let k = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let k = k.split('/').next().unwrap_or(k);
        k == registry
            || (registry == "docker.io" && matches!(k, "index.docker.io" | "registry-1.docker.io"))
    };
    let Some((_, entry)) = auths.iter().find(|(k, _)| host(k)) else {
        return Ok(None);
    };
    if let (Some(u), Some(p)) = (entry["username"].as_str(), entry["password"].as_str()) {
        return Ok(Some((u.to_owned(), Secret::new(p))));
    }
    let Some(auth) = entry["auth"].as_str() else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .map_err(|_| format!("`.dockerconfigjson`: the `auth` of {registry} is not base64"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| format!("`.dockerconfigjson`: the `auth` of {registry} is not text"))?;
    let (u, p) = text.split_once(':').ok_or_else(|| {
        format!("`.dockerconfigjson`: the `auth` of {registry} is not `user:password`")
    })?;
    Ok(Some((u.to_owned(), Secret::new(p))))
}

/// An error reaching a registry: which repository, and why (credentials never shown).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{image}: {message}")]
pub struct Error {
    pub image: String,
    pub message: String,
}

fn client(access: &Access) -> Client {
    crate::net::install_tls();
    let mut config = ClientConfig {
        protocol: if access.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        read_timeout: Some(access.timeout),
        connect_timeout: Some(access.timeout),
        ..ClientConfig::default()
    };
    if let Some(ca) = &access.ca {
        config.extra_root_certificates.push(Certificate {
            encoding: CertificateEncoding::Pem,
            data: ca.clone(),
        });
    }
    Client::new(config)
}

fn auth(access: &Access) -> RegistryAuth {
    match &access.basic {
        Some((u, p)) => RegistryAuth::Basic(u.clone(), p.expose().to_owned()),
        None => RegistryAuth::Anonymous,
    }
}

fn reference(image: &str, tag: &str) -> Result<Reference, Error> {
    format!("{image}:{tag}").parse().map_err(|e| Error {
        image: image.to_owned(),
        message: format!("not an image reference: {e}"),
    })
}

/// The tags of `image` (a repository), every page of them.
pub async fn tags(image: &str, access: &Access) -> Result<Vec<String>, Error> {
    const PAGE: usize = 1000;
    let (client, auth) = (client(access), auth(access));
    let reference = reference(image, "latest")?;
    let mut all: Vec<String> = Vec::new();
    loop {
        let page = tokio::time::timeout(
            access.timeout,
            client.list_tags(
                &reference,
                &auth,
                Some(PAGE),
                all.last().map(String::as_str),
            ),
        )
        .await
        .map_err(|_| Error {
            image: image.to_owned(),
            message: format!(
                "listing tags took longer than {:?} (spec.timeout)",
                access.timeout
            ),
        })?
        .map_err(|e| Error {
            image: image.to_owned(),
            message: format!("listing tags: {}", crate::chain::Chain(&e)),
        })?;
        let n = page.tags.len();
        all.extend(page.tags);
        if n < PAGE {
            return Ok(all);
        }
    }
}

/// The digest of `image:tag`'s manifest (as the registry computes it).
pub async fn digest(image: &str, tag: &str, access: &Access) -> Result<String, Error> {
    let (client, auth) = (client(access), auth(access));
    let reference = reference(image, tag)?;
    tokio::time::timeout(
        access.timeout,
        client.fetch_manifest_digest(&reference, &auth),
    )
    .await
    .map_err(|_| Error {
        image: image.to_owned(),
        message: format!(
            "reading the digest of {tag} took longer than {:?}",
            access.timeout
        ),
    })?
    .map_err(|e| Error {
        image: image.to_owned(),
        message: format!("reading the digest of {tag}: {}", crate::chain::Chain(&e)),
    })
}

/// One layer of an artifact, as pulled.
#[derive(Clone)]
pub struct Pulled {
    /// The manifest's digest (`sha256:…`): what the artifact's revision names.
    pub digest: String,
    pub media_type: String,
    /// The layer's bytes, checked against its digest.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Pulled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {} bytes)",
            self.digest,
            self.media_type,
            self.bytes.len()
        )
    }
}

/// Pulls one layer of the artifact `image` at `at` (a tag, or a `sha256:` digest): the first
/// layer of `media_type`, or the first layer when `None`, as source-controller selects it. An
/// index (a multi-platform image) is refused: artifacts are single manifests.
pub async fn pull(
    image: &str,
    at: &str,
    access: &Access,
    media_type: Option<&str>,
) -> Result<Pulled, Error> {
    let fail = |message: String| Error {
        image: image.to_owned(),
        message,
    };
    let reference: Reference = if at.starts_with("sha256:") {
        format!("{image}@{at}").parse()
    } else {
        format!("{image}:{at}").parse()
    }
    .map_err(|e| fail(format!("not an artifact reference: {e}")))?;
    let (client, auth) = (client(access), auth(access));
    let late = || {
        fail(format!(
            "pulling {at} took longer than {:?} (spec.timeout)",
            access.timeout
        ))
    };
    let (manifest, digest) =
        tokio::time::timeout(access.timeout, client.pull_manifest(&reference, &auth))
            .await
            .map_err(|_| late())?
            .map_err(|e| {
                fail(format!(
                    "reading the manifest of {at}: {}",
                    crate::chain::Chain(&e)
                ))
            })?;
    let oci_client::manifest::OciManifest::Image(manifest) = manifest else {
        return Err(fail(format!(
            "{at} is an image index, not an artifact (OCI sources are single manifests)"
        )));
    };
    let layer = manifest
        .layers
        .iter()
        .find(|l| media_type.is_none_or(|m| l.media_type == m))
        .ok_or_else(|| {
            fail(match media_type {
                Some(m) => {
                    format!("{at} has no layer of media type {m} (spec.layerSelector.mediaType)")
                }
                None => format!("{at} has no layer"),
            })
        })?;
    let mut bytes = Vec::new();
    tokio::time::timeout(
        access.timeout,
        client.pull_blob(&reference, layer, &mut bytes),
    )
    .await
    .map_err(|_| late())?
    .map_err(|e| {
        fail(format!(
            "pulling the layer of {at}: {}",
            crate::chain::Chain(&e)
        ))
    })?;
    Ok(Pulled {
        digest,
        media_type: layer.media_type.clone(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_of_an_image_is_its_first_part_when_that_is_a_host() {
        assert_eq!(registry_of("ghcr.io/org/app"), "ghcr.io");
        assert_eq!(registry_of("127.0.0.1:5000/app"), "127.0.0.1:5000");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(registry_of("org/app"), "docker.io");
        assert_eq!(registry_of("nginx"), "docker.io");
        assert_eq!(normal("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(normal("org/app:1"), "docker.io/org/app:1");
        assert_eq!(normal("index.docker.io/org/app:1"), "docker.io/org/app:1");
        assert_eq!(normal("ghcr.io/org/app:1"), "ghcr.io/org/app:1");
    }

    #[test]
    fn docker_credentials_are_found_by_host_in_either_form() {
        let config = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "aHViOnB3"},
            "ghcr.io": {"username": "me", "password": "token"},
            "https://reg.example.com:5000/v2/": {"auth": "dTpwOnc="}}}"#;
        let get = |r| {
            docker_credentials(config, r)
                .unwrap()
                .map(|(u, p)| (u, p.expose().to_owned()))
        };
        assert_eq!(get("docker.io"), Some(("hub".into(), "pw".into())));
        assert_eq!(get("ghcr.io"), Some(("me".into(), "token".into())));
        assert_eq!(
            get("reg.example.com:5000"),
            Some(("u".into(), "p:w".into()))
        );
        assert_eq!(get("quay.io"), None);
        assert!(docker_credentials(b"{}", "x").is_err());
    }
}
