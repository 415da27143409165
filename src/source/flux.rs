//! A Flux `GitRepository` other than the one fledge runs on, as a source fledge polls: its
//! URL, the reference it tracks (Flux's precedence: commit, name, semver, tag, branch), its
//! credentials from the Secret `spec.secretRef` names (Flux's keys: `username` and `password`,
//! or `bearerToken`, for https; `identity`, `known_hosts` and `password` for ssh), its
//! `spec.verify` (each new commit checked against the keys of the Secret it names) and its
//! timeout. What fledge
//! cannot honour of it is refused, naming the field: fetching something else than Flux would
//! is never an option.

use std::path::Path;

use serde_json::Value;

use super::auth::{Auth, Secret, SshKeyAuth};
use super::repo::{Reference, SourceConfig};
use super::verify::{Verification, Verifier, VerifyMode};
use crate::flux::GitRepository;
use crate::flux::source::Verify;

/// The keys of a GitRepository's Secret fledge reads; any other is refused by name, as it
/// would change how Flux connects.
const KNOWN_KEYS: [&str; 6] = [
    "username",
    "password",
    "bearerToken",
    "identity",
    "identity.pub",
    "known_hosts",
];

/// The Secrets a GitRepository names, as the API returns them (`None` for one it does not
/// name, or that does not exist).
#[derive(Debug, Default)]
pub struct Secrets {
    /// `spec.secretRef`'s: credentials.
    pub auth: Option<Value>,
    /// `spec.verify.secretRef`'s: the trusted keys.
    pub verify: Option<Value>,
}

/// How to poll `repo`, with the Secrets it names. The error names the field and says what to
/// do.
pub fn config(
    repo: &GitRepository,
    secrets: &Secrets,
    cache_dir: &Path,
) -> Result<SourceConfig, String> {
    unsupported(repo)?;
    let verify = repo
        .spec
        .verify
        .as_ref()
        .map(|v| verification(v, &repo.id.namespace, secrets.verify.as_ref()))
        .transpose()
        .map_err(|e| format!("GitRepository {}: spec.verify: {e}", repo.id))?;
    Ok(SourceConfig {
        url: repo.spec.url.clone(),
        reference: reference(repo)?,
        cache_dir: cache_dir.to_path_buf(),
        auth: auth(repo, secrets.auth.as_ref())?,
        timeout: repo.timeout(),
        verify,
    })
}

/// `spec.verify` as source-controller reads it: its mode, and the keys of the Secret its
/// `secretRef` names in `namespace` (`secret`; `None` when it does not exist).
pub fn verification(
    verify: &Verify,
    namespace: &str,
    secret: Option<&Value>,
) -> Result<Verification, String> {
    let name = &verify.secret_ref.name;
    let secret = secret.ok_or_else(|| {
        format!("secretRef: Secret {namespace}/{name} does not exist; create it with the trusted public keys")
    })?;
    let data = crate::object::secret_bytes(secret)?;
    let keys = Verifier::from_secret_data(data.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
        .map_err(|e| format!("Secret {namespace}/{name}: {e}"))?;
    let mode = VerifyMode::from_flux(verify.mode.as_deref())
        .ok_or_else(|| format!("mode {:?} is not HEAD, Tag or TagAndHEAD", verify.mode))?;
    Ok(Verification { keys, mode })
}

/// The fields of a GitRepository that fledge does not follow on a further source.
fn unsupported(repo: &GitRepository) -> Result<(), String> {
    let s = &repo.spec;
    let set: Vec<&str> = [
        (
            "spec.provider",
            s.provider.as_deref().is_some_and(|p| p != "generic"),
        ),
        ("spec.serviceAccountName", s.service_account_name.is_some()),
        ("spec.proxySecretRef", s.proxy_secret_ref.is_some()),
        ("spec.recurseSubmodules", s.recurse_submodules),
        ("spec.sparseCheckout", !s.sparse_checkout.is_empty()),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(f, _)| *f)
    .collect();
    if set.is_empty() {
        return Ok(());
    }
    Err(format!(
        "GitRepository {}: {} not followed by fledge for a repository other than the one it runs on; remove it, or sync that repository with a fledge of its own",
        repo.id,
        set.join(", ")
    ))
}

/// `spec.ref` with Flux's precedence (`master` when none is set).
fn reference(repo: &GitRepository) -> Result<Reference, String> {
    let r = repo.spec.reference.clone().unwrap_or_default();
    let set = |v: Option<String>| v.filter(|s| !s.is_empty());
    if let Some(c) = set(r.commit) {
        return super::repo::full_commit(&c)
            .map(Reference::Commit)
            .ok_or_else(|| format!("GitRepository {}: spec.ref.commit `{c}` is not a commit id (give the full 40-character SHA-1)", repo.id));
    }
    if let Some(n) = set(r.name) {
        return Ok(Reference::Name(n));
    }
    if let Some(v) = set(r.semver) {
        return semver::VersionReq::parse(&v)
            .map(Reference::Semver)
            .map_err(|e| {
                format!(
                    "GitRepository {}: spec.ref.semver `{v}` is not a range: {e}",
                    repo.id
                )
            });
    }
    if let Some(t) = set(r.tag) {
        return Ok(Reference::Tag(t));
    }
    Ok(Reference::Branch(
        set(r.branch).unwrap_or_else(|| "master".to_owned()),
    ))
}

/// The credentials of `spec.secretRef`, read as source-controller reads them.
fn auth(repo: &GitRepository, secret: Option<&Value>) -> Result<Auth, String> {
    let Some(secret) = secret else {
        return Ok(Auth::None);
    };
    let origin = format!(
        "Secret {}/{}",
        repo.id.namespace,
        secret["metadata"]["name"].as_str().unwrap_or_default()
    );
    let fail = |why: String| format!("GitRepository {}: spec.secretRef: {origin}: {why}", repo.id);
    let data = crate::object::secret_bytes(secret).map_err(&fail)?;
    let unknown: Vec<&str> = data
        .keys()
        .map(String::as_str)
        .filter(|k| !KNOWN_KEYS.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(fail(format!(
            "{} not read by fledge (it reads {}); without them it would connect otherwise than Flux",
            unknown.join(", "),
            KNOWN_KEYS.join(", ")
        )));
    }
    let text = |key: &str| -> Result<Option<String>, String> {
        data.get(key)
            .map(|v| {
                String::from_utf8(v.clone()).map_err(|_| fail(format!("{key} is not UTF-8 text")))
            })
            .transpose()
    };
    // Over http(s) a bearer token wins over a username and password, as fluxcd/pkg/git reads
    // the Secret (over ssh it is not read).
    let url = &repo.spec.url;
    let http = url.starts_with("https://") || url.starts_with("http://");
    if let Some(token) = text("bearerToken")?.filter(|_| http) {
        let authority = url.split("://").nth(1).unwrap_or("").split('/').next();
        if authority.is_some_and(|a| a.contains('@')) {
            return Err(fail(
                "has a bearerToken and the URL carries credentials: basic auth and a bearer token cannot be set at the same time".to_owned(),
            ));
        }
        return Ok(Auth::Bearer(Secret::new(token)));
    }
    if let Some(identity) = text("identity")? {
        let known_hosts = text("known_hosts")?.ok_or_else(|| {
            fail(
                "has an identity but no known_hosts: add the host's keys (`ssh-keyscan <host>`)"
                    .to_owned(),
            )
        })?;
        return Ok(Auth::SshKey(SshKeyAuth {
            private_key: Secret::new(identity),
            passphrase: text("password")?.map(Secret::new),
            known_hosts,
            origin,
        }));
    }
    match (text("username")?, text("password")?) {
        (Some(username), Some(password)) => Ok(Auth::Basic {
            username,
            password: Secret::new(password),
        }),
        (None, None) => Ok(Auth::None),
        _ => Err(fail(
            "holds one of username and password: give both (a token goes in password)".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests;
