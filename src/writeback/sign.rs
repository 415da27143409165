//! OpenPGP commit signatures, as image-automation-controller v1.2.0 makes them for
//! `spec.git.commit.signingKey` (`type: gpg`): the Secret's `git.asc` holds one ASCII-armored
//! key (the controller refuses several), unlocked with its `passphrase` when it is protected;
//! the commit is signed by a detached, armored, binary-mode signature (go-crypto's
//! `ArmoredDetachSign`: SHA-256, by the newest signing subkey, else the primary key) that Git
//! keeps in the commit's `gpgsig` header.
//!
//! Nothing here prints the key or the passphrase: errors are fixed sentences, never the
//! parser's own words (which may quote packets).

use pgp::composed::{Deserializable as _, DetachedSignature, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SubpacketData};
use pgp::types::{KeyDetails as _, Password, SecretParams, SigningKey};

/// Why a signing key cannot be used; each names what is wrong with the key, not its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is not an ASCII-armored OpenPGP private key")]
    Unreadable,
    #[error("holds {0} keys; image-automation-controller signs with exactly one")]
    Several(usize),
    #[error("holds no private key that can sign (a public key, or a key without a signing key)")]
    NoSigningKey,
    #[error("is protected by a passphrase, and the Secret has no `passphrase`")]
    NoPassphrase,
    #[error("cannot be unlocked with the Secret's `passphrase` (wrong passphrase)")]
    WrongPassphrase,
    #[error("could not sign: {0}")]
    Sign(String),
}

/// Which key of the certificate signs.
#[derive(Clone, Copy)]
enum Which {
    Primary,
    Subkey(usize),
}

/// An unlocked-on-use OpenPGP signing key.
pub struct CommitSigner {
    key: SignedSecretKey,
    which: Which,
    passphrase: Password,
}

impl std::fmt::Debug for CommitSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The fingerprint only: never key material nor the passphrase.
        write!(f, "CommitSigner({})", self.fingerprint())
    }
}

/// The key flags of a binding or self-signature, when it has them.
fn flags(sig: &Signature) -> Option<pgp::packet::KeyFlags> {
    sig.config()?
        .hashed_subpackets()
        .find_map(|p| match &p.data {
            SubpacketData::KeyFlags(f) => Some(f.clone()),
            _ => None,
        })
}

impl CommitSigner {
    /// Reads `git_asc` (one armored private key) and checks that `passphrase` unlocks the key
    /// that will sign.
    pub fn new(git_asc: &[u8], passphrase: Option<&[u8]>) -> Result<Self, KeyError> {
        let public_block = b"-----BEGIN PGP PUBLIC KEY BLOCK-----";
        if git_asc
            .windows(public_block.len())
            .any(|w| w == public_block)
        {
            return Err(KeyError::NoSigningKey);
        }
        let (keys, _) =
            SignedSecretKey::from_armor_many(git_asc).map_err(|_| KeyError::Unreadable)?;
        let mut keys: Vec<SignedSecretKey> = keys
            .collect::<Result<_, _>>()
            .map_err(|_| KeyError::Unreadable)?;
        let key = match keys.len() {
            0 => return Err(KeyError::NoSigningKey),
            1 => keys.remove(0),
            n => return Err(KeyError::Several(n)),
        };
        let which = Self::choose(&key).ok_or(KeyError::NoSigningKey)?;
        let signer = Self {
            key,
            which,
            passphrase: passphrase.map_or_else(Password::empty, Password::from),
        };
        if signer.encrypted() {
            if passphrase.is_none() {
                return Err(KeyError::NoPassphrase);
            }
            signer.sign(b"").map_err(|e| match e {
                KeyError::Sign(_) => KeyError::WrongPassphrase,
                e => e,
            })?;
        }
        Ok(signer)
    }

    /// The key go-crypto signs with: the newest subkey bound for signing, else the primary key
    /// when its self-signature allows signing (or says nothing of it).
    fn choose(key: &SignedSecretKey) -> Option<Which> {
        let newest = key
            .secret_subkeys
            .iter()
            .enumerate()
            .filter(|(_, s)| s.key.algorithm().can_sign())
            .filter(|(_, s)| {
                s.signatures
                    .iter()
                    .any(|b| flags(b).is_some_and(|f| f.sign()))
            })
            .max_by_key(|(_, s)| s.key.created_at())
            .map(|(i, _)| Which::Subkey(i));
        if newest.is_some() {
            return newest;
        }
        let primary_flags: Vec<_> = key
            .details
            .users
            .iter()
            .flat_map(|u| &u.signatures)
            .chain(&key.details.direct_signatures)
            .filter_map(flags)
            .collect();
        let allowed =
            primary_flags.is_empty() || primary_flags.iter().any(pgp::packet::KeyFlags::sign);
        (allowed && key.primary_key.algorithm().can_sign()).then_some(Which::Primary)
    }

    fn encrypted(&self) -> bool {
        let params: &SecretParams = match self.which {
            Which::Primary => self.key.primary_key.secret_params(),
            Which::Subkey(i) => self.key.secret_subkeys[i].key.secret_params(),
        };
        params.is_encrypted()
    }

    /// The signing key's fingerprint, as `gpg` prints it.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        match self.which {
            Which::Primary => self.key.primary_key.fingerprint(),
            Which::Subkey(i) => self.key.secret_subkeys[i].key.fingerprint(),
        }
        .to_string()
        .to_uppercase()
    }

    /// A detached, ASCII-armored signature over `payload` (a commit as Git hashes it, without
    /// its `gpgsig` header).
    pub fn sign(&self, payload: &[u8]) -> Result<String, KeyError> {
        match self.which {
            Which::Primary => self.sign_with(&self.key.primary_key, payload),
            Which::Subkey(i) => self.sign_with(&self.key.secret_subkeys[i].key, payload),
        }
    }

    fn sign_with(&self, key: &impl SigningKey, payload: &[u8]) -> Result<String, KeyError> {
        // go-crypto's default hash, or a stronger one where the key's curve asks for it.
        let hash = match key.hash_alg() {
            h @ (HashAlgorithm::Sha384 | HashAlgorithm::Sha512) => h,
            _ => HashAlgorithm::Sha256,
        };
        let sig = DetachedSignature::sign_binary_data(
            rand_core::OsRng,
            key,
            &self.passphrase,
            hash,
            payload,
        )
        .map_err(|e| KeyError::Sign(e.to_string()))?;
        sig.to_armored_string(pgp::composed::ArmorOptions::default())
            .map_err(|e| KeyError::Sign(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use pgp::composed::{ArmorOptions, KeyType, SecretKeyParamsBuilder, SignedPublicKey};

    use super::*;

    /// An armored Ed25519 key, signing by its primary key when `sign`, protected by
    /// `passphrase` when given.
    fn key(sign: bool, passphrase: Option<&str>) -> (String, SignedPublicKey) {
        let mut params = SecretKeyParamsBuilder::default();
        params
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(sign)
            .primary_user_id("Bot <bot@example.com>".into())
            .passphrase(passphrase.map(str::to_owned));
        let key = params.build().unwrap().generate(rand_core::OsRng).unwrap();
        let public = key.to_public_key();
        (
            key.to_armored_string(ArmorOptions::default()).unwrap(),
            public,
        )
    }

    #[test]
    fn a_signature_verifies_with_the_public_key_over_the_payload_only() {
        let (armored, public) = key(true, None);
        let signer = CommitSigner::new(armored.as_bytes(), None).unwrap();
        let payload = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nmessage\n";
        let text = signer.sign(payload).unwrap();
        assert!(text.starts_with("-----BEGIN PGP SIGNATURE-----"), "{text}");
        let (sig, _) = DetachedSignature::from_string(&text).unwrap();
        sig.verify(&public, payload).unwrap();
        assert!(sig.verify(&public, b"another payload").is_err());
        assert_eq!(
            format!("{signer:?}"),
            format!("CommitSigner({})", signer.fingerprint())
        );
    }

    #[test]
    fn a_protected_key_needs_its_passphrase_and_a_wrong_one_is_named() {
        let (armored, public) = key(true, Some("correct horse"));
        let k = armored.as_bytes();
        assert_eq!(
            CommitSigner::new(k, None).unwrap_err(),
            KeyError::NoPassphrase
        );
        let e = CommitSigner::new(k, Some(b"nope-7731")).unwrap_err();
        assert_eq!(e, KeyError::WrongPassphrase);
        assert!(!e.to_string().contains("nope-7731"), "{e}");
        let signer = CommitSigner::new(k, Some(b"correct horse")).unwrap();
        let (sig, _) = DetachedSignature::from_string(&signer.sign(b"x").unwrap()).unwrap();
        sig.verify(&public, b"x").unwrap();
        assert!(!format!("{signer:?}").contains("correct"));
    }

    #[test]
    fn a_key_that_cannot_sign_two_keys_and_a_public_key_are_refused() {
        let (certify_only, public) = key(false, None);
        assert_eq!(
            CommitSigner::new(certify_only.as_bytes(), None).unwrap_err(),
            KeyError::NoSigningKey
        );
        // Two keys in one armored block, as `gpg --armor --export-secret-keys a b` writes them.
        let (a, _) = key(true, None);
        let (b, _) = key(true, None);
        let keys: Vec<SignedSecretKey> = [a, b]
            .iter()
            .map(|k| SignedSecretKey::from_string(k).unwrap().0)
            .collect();
        let mut both = Vec::new();
        pgp::armor::write(
            &keys,
            pgp::armor::BlockType::PrivateKey,
            &mut both,
            None,
            true,
        )
        .unwrap();
        assert_eq!(
            CommitSigner::new(&both, None).unwrap_err(),
            KeyError::Several(2)
        );
        let public = public.to_armored_string(ArmorOptions::default()).unwrap();
        assert_eq!(
            CommitSigner::new(public.as_bytes(), None).unwrap_err(),
            KeyError::NoSigningKey
        );
    }

    #[test]
    fn what_is_not_an_armored_private_key_is_refused_without_quoting_it() {
        let e = CommitSigner::new(b"not a key at all", None).unwrap_err();
        assert_eq!(e, KeyError::Unreadable);
        assert!(!e.to_string().contains("not a key"));
        let signature = "-----BEGIN PGP SIGNATURE-----\n\nwx0=\n-----END PGP SIGNATURE-----\n";
        assert_eq!(
            CommitSigner::new(signature.as_bytes(), None).unwrap_err(),
            KeyError::Unreadable
        );
    }
}
