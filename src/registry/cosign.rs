//! cosign signatures of OCI artifacts, checked with public keys as source-controller v1.9.6
//! checks them (`spec.verify.provider: cosign` with a `secretRef`;
//! `internal/oci/cosign/cosign.go`): offline, the transparency log ignored (`Offline`,
//! `IgnoreTlog`), each `*.pub` value of the Secret a PEM public key. The signatures are those
//! `cosign sign` stores beside the artifact: the manifest tagged `sha256-<hex>.sig` in the same
//! repository, one layer per signature, whose blob is the signed payload (cosign's simple
//! signing JSON) and whose annotation `dev.cosignproject.cosign/signature` is the base64
//! signature over it. The artifact is verified when any key verifies any signature.
//!
//! The keys are those cosign loads (`cryptoutils.UnmarshalPEMToPublicKey`, then
//! `signature.LoadVerifier(key, SHA256)`): a `PUBLIC KEY` (PKIX) holding an ECDSA P-256 or
//! P-384 key (what `cosign generate-key-pair` writes is P-256; SHA-256 over the payload, an
//! ASN.1 signature, or for P-256 IEEE P1363 when it is not one), an RSA key (PKCS #1 v1.5, SHA-256,
//! 2048 to 8192 bits) or an Ed25519 key; or an `RSA PUBLIC KEY` (PKCS #1). P-521 keys are
//! refused by name.
//!
//! Where fledge is stricter than source-controller, on purpose: the payload must name this
//! artifact (`critical.image.docker-manifest-digest`, as `cosign verify` checks it;
//! source-controller sets no claim verifier, so a signature copied from another artifact passes
//! there); a signature that carries a certificate (a keyless signature, or `--certificate`) is
//! not taken, since its certificate's validity is what source-controller checks next; a
//! `*.pub` value that is not a key fails the verification (source-controller stops at it too,
//! in its map's random order). cosign v3's signature bundles (OCI referrers) are not read.
//!
//! Written over ring (fledge's TLS provider) rather than sigstore-rs, whose cosign verifier
//! brings its Fulcio, Rekor and OAuth clients and a TLS stack of its own for the keyless
//! verification that cannot be done offline.

use std::collections::BTreeMap;

use base64::Engine as _;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciManifest;
use ring::signature as sig;
use serde_json::Value;

use super::{Access, Error};
use crate::net::Secret;

/// The annotation of a signature layer holding its base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The annotation of a signature layer holding the signer's certificate.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";

/// A public key's algorithm, as cosign's verifier for it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    P256,
    P384,
    Rsa,
    Ed25519,
}

/// One public key of the Secret, by its key in the Secret.
#[derive(Clone, PartialEq, Eq)]
struct PublicKey {
    name: String,
    algorithm: Algorithm,
    /// What ring reads: the uncompressed point (ECDSA), PKCS #1 `RSAPublicKey` (RSA), or the
    /// 32 bytes (Ed25519).
    bytes: Vec<u8>,
}

/// The trusted keys of one `verify.secretRef`, and who asked for them (for errors).
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    /// `OCIRepository flux-system/app: spec.verify`: who verifies, and by which field.
    pub asker: String,
    /// `flux-system/cosign-keys`: the Secret.
    pub secret: String,
    trusted: Vec<PublicKey>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.secret, self.names())
    }
}

impl Keys {
    /// The `*.pub` values of `data`, the Secret `secret`, read as cosign reads them; `Err`
    /// names the value that is not a key it verifies with, or says there is none.
    pub fn read(
        asker: &str,
        secret: &str,
        data: &BTreeMap<String, Secret>,
    ) -> Result<Self, String> {
        let keys = data
            .iter()
            // As Go's `strings.HasSuffix(k, ".pub")`: case counts (`KEY.PUB` is not a key).
            .filter(|(k, _)| k.strip_suffix(".pub").is_some())
            .map(|(name, pem)| {
                public_key(name, pem.expose().as_bytes())
                    .map_err(|e| format!("{asker}: Secret {secret}: {name}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(format!(
                "{asker}: Secret {secret} holds no public key (a value whose key ends in .pub, as `cosign generate-key-pair` writes cosign.pub)"
            ));
        }
        Ok(Self {
            asker: asker.to_owned(),
            secret: secret.to_owned(),
            trusted: keys,
        })
    }

    /// The keys' names in the Secret (`cosign.pub, other.pub`).
    #[must_use]
    pub fn names(&self) -> String {
        self.trusted
            .iter()
            .map(|k| k.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What tells these keys apart from others (a cache key): their names and bytes.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        for k in &self.trusted {
            h.update(k.name.as_bytes());
            h.update([0]);
            h.update(&k.bytes);
        }
        hex::encode(h.finalize())
    }
}

const EC_PUBLIC_KEY: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.132.0.35");
const RSA: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ED25519: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.101.112");

/// A PEM public key as cosign's `UnmarshalPEMToPublicKey` reads it: the first PEM block, a
/// `PUBLIC KEY` (PKIX) or an `RSA PUBLIC KEY` (PKCS #1).
fn public_key(name: &str, text: &[u8]) -> Result<PublicKey, String> {
    let block = pem::parse(text).map_err(|e| format!("not a PEM public key ({e})"))?;
    let key = |algorithm, bytes: &[u8]| PublicKey {
        name: name.to_owned(),
        algorithm,
        bytes: bytes.to_vec(),
    };
    match block.tag() {
        "RSA PUBLIC KEY" => return Ok(key(Algorithm::Rsa, block.contents())),
        "PUBLIC KEY" => {}
        other => {
            return Err(format!(
                "a PEM {other:?} block, not a public key (cosign reads PUBLIC KEY and RSA PUBLIC KEY)"
            ));
        }
    }
    let info = spki::SubjectPublicKeyInfoRef::try_from(block.contents())
        .map_err(|e| format!("not a PKIX public key ({e})"))?;
    let bits = info
        .subject_public_key
        .as_bytes()
        .ok_or("the public key is not a whole number of bytes")?;
    match info.algorithm.oid {
        EC_PUBLIC_KEY => match info.algorithm.parameters_oid() {
            Ok(P256) => Ok(key(Algorithm::P256, bits)),
            Ok(P384) => Ok(key(Algorithm::P384, bits)),
            Ok(P521) => Err(
                "an ECDSA P-521 key, which fledge does not verify with (use P-256, what `cosign generate-key-pair` makes)".to_owned(),
            ),
            _ => Err("an ECDSA key of a curve cosign does not verify with".to_owned()),
        },
        RSA => Ok(key(Algorithm::Rsa, bits)),
        ED25519 => Ok(key(Algorithm::Ed25519, bits)),
        other => Err(format!(
            "a public key of algorithm {other}, which cosign does not verify signatures with"
        )),
    }
}

impl PublicKey {
    /// Whether `signature` is this key's over `payload`, as sigstore's verifier for the key
    /// checks it (ECDSA: ASN.1 when it reads as a DER sequence, else IEEE P1363, which ring
    /// verifies for P-256 only).
    fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        let der = signature.first() == Some(&0x30);
        let algorithm: &dyn sig::VerificationAlgorithm = match (self.algorithm, der) {
            (Algorithm::P256, true) => &sig::ECDSA_P256_SHA256_ASN1,
            (Algorithm::P256, false) => &sig::ECDSA_P256_SHA256_FIXED,
            (Algorithm::P384, true) => &sig::ECDSA_P384_SHA256_ASN1,
            (Algorithm::P384, false) => return false,
            (Algorithm::Rsa, _) => &sig::RSA_PKCS1_2048_8192_SHA256,
            (Algorithm::Ed25519, _) => &sig::ED25519,
        };
        sig::UnparsedPublicKey::new(algorithm, &self.bytes)
            .verify(payload, signature)
            .is_ok()
    }
}

/// One signature, as its layer in the `.sig` manifest holds it.
#[derive(Debug, Clone, Default)]
pub struct Signature {
    /// The layer's blob: the signed payload.
    pub payload: Vec<u8>,
    /// `dev.cosignproject.cosign/signature`.
    pub signature: Option<String>,
    /// Whether it carries `dev.sigstore.cosign/certificate`.
    pub certificate: bool,
}

/// The key of `keys` that verifies `s` as a signature of the artifact `digest`, or why none
/// does.
pub fn check<'k>(s: &Signature, digest: &str, keys: &'k Keys) -> Result<&'k str, String> {
    let b64 = s
        .signature
        .as_deref()
        .ok_or_else(|| format!("it has no {SIGNATURE_ANNOTATION} annotation"))?;
    if s.certificate {
        return Err(
            "it carries a certificate (a keyless signature, or one made with --certificate), which fledge does not verify".to_owned(),
        );
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| "its signature is not base64".to_owned())?;
    let key = keys
        .trusted
        .iter()
        .find(|k| k.verifies(&s.payload, &raw))
        .ok_or_else(|| format!("no key of {} verifies it", keys.names()))?;
    let claim: Value = serde_json::from_slice(&s.payload)
        .map_err(|e| format!("its payload is not cosign's JSON ({e})"))?;
    let signed = claim["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .unwrap_or_default();
    if signed != digest {
        return Err(format!(
            "{} verifies it, but it signs {signed:?}, another artifact (critical.image.docker-manifest-digest)",
            key.name
        ));
    }
    Ok(&key.name)
}

/// The tag cosign stores the signatures of the artifact `digest` under: `sha256-<hex>.sig`.
#[must_use]
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// Verifies the artifact `image@digest` with `keys`: `Ok` names the key that verified it;
/// `Err` says, for each signature found, why it was not taken (or that none was found),
/// naming the field that asked and the artifact.
pub async fn verify(
    image: &str,
    digest: &str,
    access: &Access,
    keys: &Keys,
) -> Result<String, String> {
    let fail = |why: String| {
        format!(
            "{}: the artifact {image}@{digest} is not verified: {why}; it is not applied",
            keys.asker
        )
    };
    let signatures = signatures(image, digest, access)
        .await
        .map_err(|e| fail(e.message))?;
    if signatures.is_empty() {
        return Err(fail(format!(
            "it has no cosign signature (no tag {} in {image}; sign it with `cosign sign --key`, which stores its signatures there)",
            signature_tag(digest)
        )));
    }
    let mut why = Vec::new();
    for (i, s) in signatures.iter().enumerate() {
        match check(s, digest, keys) {
            Ok(key) => return Ok(key.to_owned()),
            Err(e) => why.push(format!("signature {}: {e}", i + 1)),
        }
    }
    Err(fail(format!(
        "no signature of it verifies with the public keys of Secret {} ({})",
        keys.secret,
        why.join("; ")
    )))
}

/// The signatures stored for `image@digest` (none when its `.sig` tag is missing).
async fn signatures(image: &str, digest: &str, access: &Access) -> Result<Vec<Signature>, Error> {
    let fail = |message: String| Error {
        image: image.to_owned(),
        message,
    };
    let tag = signature_tag(digest);
    let reference = super::reference(image, &tag)?;
    let (client, auth) = (super::client(access), super::auth(access));
    let late = || {
        fail(format!(
            "reading the signatures ({tag}) took longer than {:?} (spec.timeout)",
            access.timeout
        ))
    };
    let pulled = tokio::time::timeout(access.timeout, client.pull_manifest(&reference, &auth))
        .await
        .map_err(|_| late())?;
    let manifest = match pulled {
        Ok((OciManifest::Image(m), _)) => m,
        Ok(_) => {
            return Err(fail(format!(
                "{tag} is an image index, not cosign's signatures"
            )));
        }
        Err(e) if missing(&e) => return Ok(Vec::new()),
        Err(e) => {
            return Err(fail(format!(
                "reading the signatures ({tag}): {}",
                crate::chain::Chain(&e)
            )));
        }
    };
    let mut out = Vec::new();
    for layer in &manifest.layers {
        let mut payload = Vec::new();
        tokio::time::timeout(
            access.timeout,
            client.pull_blob(&reference, layer, &mut payload),
        )
        .await
        .map_err(|_| late())?
        .map_err(|e| {
            fail(format!(
                "pulling a signature ({tag}): {}",
                crate::chain::Chain(&e)
            ))
        })?;
        let annotations = layer.annotations.clone().unwrap_or_default();
        out.push(Signature {
            payload,
            signature: annotations.get(SIGNATURE_ANNOTATION).cloned(),
            certificate: annotations
                .get(CERTIFICATE_ANNOTATION)
                .is_some_and(|c| !c.is_empty()),
        });
    }
    Ok(out)
}

/// Whether `e` says the manifest is not there.
fn missing(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NotFound
            )
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
