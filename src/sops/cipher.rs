//! The value cipher of sops (`aes/cipher.go`): `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`,
//! AES-256-GCM with a 32-byte nonce, the key path (`a:b:c:`) as additional data.

use std::sync::LazyLock;

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, KeyInit as _, Nonce};
use base64::Engine as _;
use regex::Regex;

/// AES-256-GCM with the 32-byte nonce sops writes (Go's `NewGCMWithNonceSize`).
type Gcm = AesGcm<Aes256, U32>;

/// sops's own pattern, unanchored at the end as sops has it.
static ENCRYPTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")
        .expect("a valid constant pattern")
});

/// A decrypted value, typed as sops recorded it.
pub(super) enum Plain {
    /// `str` (and `bytes`): the bytes as they were, which a binary file need not make UTF-8.
    Str(Vec<u8>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Comment(String),
}

/// Decrypts one value. An empty value is empty, as sops has it. Errors never hold the value.
pub(super) fn decrypt(value: &str, key: &[u8], aad: &str) -> Result<Plain, String> {
    if value.is_empty() {
        return Ok(Plain::Str(Vec::new()));
    }
    let caps = ENCRYPTED
        .captures(value)
        .ok_or("it is not in sops' encrypted format (ENC[AES256_GCM,…]) although sops' rules say it is encrypted")?;
    let b64 = |i: usize, what: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(&caps[i])
            .map_err(|e| format!("its {what} is not base64: {e}"))
    };
    let (data, iv, tag, kind) = (b64(1, "data")?, b64(2, "iv")?, b64(3, "tag")?, &caps[4]);
    if iv.len() != 32 {
        return Err(format!(
            "its iv has {} bytes; sops writes 32 (fledge decrypts sops' AES256_GCM values only)",
            iv.len()
        ));
    }
    let gcm = Gcm::new_from_slice(key).map_err(|_| "the data key is not 32 bytes".to_owned())?;
    let nonce = Nonce::<U32>::try_from(iv.as_slice()).map_err(|_| "bad iv".to_owned())?;
    let mut sealed = data;
    sealed.extend_from_slice(&tag);
    let plain = gcm
        .decrypt(
            &nonce,
            Payload {
                msg: &sealed,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| {
            "AES-GCM authentication failed (the value was changed, moved to another key, or sealed with another data key)".to_owned()
        })?;
    let text =
        || String::from_utf8(plain.clone()).map_err(|_| format!("a {kind} that is not UTF-8"));
    match kind {
        "str" | "bytes" => Ok(Plain::Str(plain)),
        "int" => text()?
            .parse()
            .map(Plain::Int)
            .map_err(|_| "an int that does not parse".to_owned()),
        "float" => text()?
            .parse()
            .map(Plain::Float)
            .map_err(|_| "a float that does not parse".to_owned()),
        "bool" => match text()?.as_str() {
            // Go's strconv.ParseBool.
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Plain::Bool(true)),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Plain::Bool(false)),
            _ => Err("a bool that does not parse".to_owned()),
        },
        "comment" => text().map(Plain::Comment),
        "time" => Err("a timestamp value (type:time), which fledge does not decrypt".to_owned()),
        other => Err(format!("unknown datatype `{other}`")),
    }
}
