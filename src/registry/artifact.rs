//! The artifact a Flux `OCIRepository` follows, as source-controller v1.9.6 fetches it
//! (`internal/controller/ocirepository_controller.go`): which tag or digest (`spec.ref`: a digest,
//! else the highest tag in a semver range that `semverFilter` keeps, else a tag, `latest` when
//! none is given), the manifest's digest and the artifact's revision (`<tag>@sha256:<digest>`, or
//! the digest alone when a digest is followed), how the registry is reached (`spec.secretRef`,
//! `spec.certSecretRef`, `spec.insecure`), and the files of a layer as fluxcd/pkg/tar's `Untar`
//! extracts them. Shared by the Helm edge (a chart's layer) and the daemon (a Kustomization's
//! files); what is fetched when, and what is kept, is theirs. An artifact whose OCIRepository
//! sets `spec.verify` is pulled only once its cosign signature is verified
//! ([`super::cosign`]).
//!
//! Extraction is in memory and follows `Untar` as source-controller calls it
//! (`WithMaxUntarSize(-1)`, `WithSkipSymlinks()`), and as kustomize-controller calls it on a
//! copied layer: symlinks are left out; an entry whose name is absolute, holds a backslash or
//! climbs out (`..`) fails the whole layer, as does a device, a pipe or a hard link, each named.

use std::collections::BTreeMap;
use std::io::Read as _;

use super::{Access, Pulled};
use crate::flux::oci::{Follow, OciRepository, highest};
use crate::net::Secret;
use crate::render::MemFiles;

/// Where an artifact stands in its registry: the repository, the tag followed (none when a
/// digest is), and the manifest's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// `<host>/<repository>`.
    pub image: String,
    pub tag: Option<String>,
    /// `sha256:<hex>`.
    pub digest: String,
}

impl Revision {
    /// The artifact's revision as source-controller writes it: `<tag>@sha256:<hex>`, or the
    /// digest alone when a digest is followed.
    #[must_use]
    pub fn flux(&self) -> String {
        match &self.tag {
            Some(tag) => format!("{tag}@{}", self.digest),
            None => self.digest.clone(),
        }
    }
}

/// An artifact's files, as the source-controller artifact a Kustomization is built from holds
/// them.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub revision: Revision,
    /// The layer's media type.
    pub media_type: String,
    pub files: MemFiles,
}

/// Why `repo` is refused outright: the fields it sets that fledge does not honour.
pub fn refused(repo: &OciRepository) -> Result<(), String> {
    let unsupported = repo.unsupported();
    if unsupported.is_empty() {
        return Ok(());
    }
    Err(format!(
        "OCIRepository {}: {} not honoured by fledge yet; it refuses the repository rather than fetch something else than Flux would",
        repo.id,
        unsupported.join(", ")
    ))
}

/// `repo`'s repository (`<host>/<path>`), or why its URL is not one.
pub fn image(repo: &OciRepository) -> Result<String, String> {
    repo.image()
        .map(str::to_owned)
        .ok_or_else(|| format!("OCIRepository {}: spec.url is not oci://", repo.id))
}

/// The tag (or `sha256:` digest) `follow` names in `image` today: a semver range is resolved
/// among the repository's tags.
pub async fn resolve(
    repo: &OciRepository,
    image: &str,
    follow: &Follow,
    access: &Access,
) -> Result<String, String> {
    match follow {
        Follow::Digest(d) => Ok(d.clone()),
        Follow::Tag(t) => Ok(t.clone()),
        Follow::Semver {
            range,
            written,
            filter,
        } => {
            let tags = super::tags(image, access)
                .await
                .map_err(|e| format!("OCIRepository {}: {e}", repo.id))?;
            highest(tags.iter().map(String::as_str), range, filter.as_ref()).ok_or_else(|| {
                format!(
                    "OCIRepository {}: no tag of {image} is in the range {written:?} (spec.ref.semver)",
                    repo.id
                )
            })
        }
    }
}

/// Where `repo` stands now: the tag it follows resolved and its manifest's digest (asked of
/// the registry; a followed digest is its own).
pub async fn revision(repo: &OciRepository, access: &Access) -> Result<Revision, String> {
    refused(repo)?;
    let image = image(repo)?;
    let follow = repo.follows().map_err(|e| format!("OCIRepository {e}"))?;
    let at = resolve(repo, &image, &follow, access).await?;
    if matches!(follow, Follow::Digest(_)) {
        return Ok(Revision {
            image,
            tag: None,
            digest: at,
        });
    }
    let digest = super::digest(&image, &at, access)
        .await
        .map_err(|e| format!("OCIRepository {}: {e}", repo.id))?;
    Ok(Revision {
        image,
        tag: Some(at),
        digest,
    })
}

/// Checks the cosign signature of `image@digest` with the keys of `access.verify` (nothing to
/// check without them): what is not verified is not pulled.
pub async fn verified(image: &str, digest: &str, access: &Access) -> Result<(), String> {
    match &access.verify {
        Some(keys) => super::cosign::verify(image, digest, access, keys)
            .await
            .map(drop),
        None => Ok(()),
    }
}

/// Pulls one layer of `image` at `at` (a tag or a digest), as [`super::pull`] does, once its
/// signature is verified when `access.verify` asks for it: the tag is resolved to its digest
/// first, and the digest verified is the one pulled, as source-controller verifies and pulls
/// a chart.
pub async fn pull_verified(
    image: &str,
    at: &str,
    access: &Access,
    media_type: Option<&str>,
) -> Result<Pulled, String> {
    let shown = |e: super::Error| e.to_string();
    let at = if access.verify.is_some() && !at.starts_with("sha256:") {
        super::digest(image, at, access).await.map_err(shown)?
    } else {
        at.to_owned()
    };
    verified(image, &at, access).await?;
    super::pull(image, &at, access, media_type)
        .await
        .map_err(shown)
}

/// Pulls the artifact at `revision` (by its digest, so that a tag moved meanwhile is not
/// mixed in), once its signature is verified when `spec.verify` asks for it, and reads the
/// layer `repo` selects as files.
pub async fn fetch(
    repo: &OciRepository,
    revision: Revision,
    access: &Access,
) -> Result<Artifact, String> {
    verified(&revision.image, &revision.digest, access).await?;
    let layer = repo.layer();
    let pulled = super::pull(
        &revision.image,
        &revision.digest,
        access,
        layer.media_type.as_deref(),
    )
    .await
    .map_err(|e| format!("OCIRepository {}: {e}", repo.id))?;
    let files = untar(&pulled).map_err(|e| {
        format!(
            "OCIRepository {}: the layer of {}@{} ({}): {e}",
            repo.id, revision.image, revision.digest, pulled.media_type
        )
    })?;
    Ok(Artifact {
        revision,
        media_type: pulled.media_type,
        files,
    })
}

/// The files of a gzipped tarball layer, as fluxcd/pkg/tar's `Untar` writes them with symlinks
/// skipped and no size limit.
pub fn untar(pulled: &Pulled) -> Result<MemFiles, String> {
    if pulled.bytes.get(..2) != Some(&[0x1f, 0x8b]) {
        return Err(
            "it is not a gzipped tarball, and a Kustomization is built from one (push the manifests with `flux push artifact`, or select their layer with spec.layerSelector.mediaType)".to_owned(),
        );
    }
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(pulled.bytes.as_slice()));
    let mut files = MemFiles::new();
    let entries = archive
        .entries()
        .map_err(|e| format!("not a tarball: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("not a tarball: {e}"))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_pax_global_extensions() {
            continue;
        }
        let path = relative(&name)?;
        if kind.is_dir() {
            continue;
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            return Err(format!(
                "entry {name:?} is a {}, which an artifact may not hold (only files, directories and symlinks, which are skipped)",
                kind_name(kind)
            ));
        }
        let mut contents = Vec::new();
        entry
            .read_to_end(&mut contents)
            .map_err(|e| format!("entry {name:?}: {e}"))?;
        if let Some(path) = path {
            files.insert(&path, contents);
        }
    }
    Ok(files)
}

/// `name` as a path below the artifact's root (`None` for the root itself), or why it is
/// refused: fluxcd/pkg/tar refuses an empty name, a backslash, a leading `/` and `../`;
/// fledge refuses any `..` part.
fn relative(name: &str) -> Result<Option<String>, String> {
    let invalid = name.is_empty()
        || name.contains('\\')
        || name.starts_with('/')
        || name.split('/').any(|p| p == "..");
    if invalid {
        return Err(format!(
            "entry {name:?} is absolute or leaves the artifact; fledge refuses it, as Flux's untar does"
        ));
    }
    let parts: Vec<&str> = name
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "named pipe",
        _ => "special entry",
    }
}

/// How to reach `repo`'s registry, from its Secrets as source-controller reads them
/// (`spec.secretRef`: a `kubernetes.io/dockerconfigjson` Secret; `spec.certSecretRef`:
/// `ca.crt`), and the public keys its artifact is verified with (`spec.verify.secretRef`:
/// each `*.pub`); `read(field, name)` is the data of the Secret `name` that `field` names.
pub fn access<E: From<String>>(
    repo: &OciRepository,
    read: impl Fn(&str, &str) -> Result<BTreeMap<String, Secret>, E>,
) -> Result<Access, E> {
    let ns = &repo.id.namespace;
    let mut access = Access {
        insecure: repo.spec.insecure,
        timeout: repo.timeout(),
        ..Access::default()
    };
    if let Some(r) = &repo.spec.secret_ref {
        let d = read("spec.secretRef", &r.name)?;
        let config = d.get(".dockerconfigjson").ok_or_else(|| {
            format!(
                "OCIRepository {}: spec.secretRef: Secret {ns}/{} has no .dockerconfigjson (make it with `kubectl create secret docker-registry`)",
                repo.id, r.name
            )
        })?;
        let registry = super::registry_of(repo.image().unwrap_or_default());
        access.basic = super::docker_credentials(config.expose().as_bytes(), &registry)
            .map_err(|e| format!("OCIRepository {}: spec.secretRef: {e}", repo.id))?;
    }
    if let Some(r) = &repo.spec.cert_secret_ref {
        let d = read("spec.certSecretRef", &r.name)?;
        if d.contains_key("tls.crt") {
            return Err(E::from(format!(
                "OCIRepository {}: spec.certSecretRef: client certificates (tls.crt, tls.key) are not used by fledge yet",
                repo.id
            )));
        }
        access.ca = d.get("ca.crt").map(|c| c.expose().as_bytes().to_vec());
    }
    if let Some(name) = repo.verify_secret() {
        let d = read("spec.verify.secretRef", &name)?;
        let asker = format!("OCIRepository {}: spec.verify", repo.id);
        access.verify = Some(super::cosign::Keys::read(
            &asker,
            &format!("{ns}/{name}"),
            &d,
        )?);
    }
    Ok(access)
}

/// Runs `f` to completion on a runtime of its own, on a thread of its own: callers are
/// blocking code, in or out of an async runtime.
pub fn block_on<T: Send>(f: impl Future<Output = T> + Send) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(f))
                .map_err(|e| e.to_string())
        })
        .join()
        .unwrap_or_else(|_| Err("the fetch failed".to_owned()))
    })
}

#[cfg(test)]
mod tests;
