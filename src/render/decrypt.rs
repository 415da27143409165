//! SOPS decryption inside a build, where Flux's kustomize-controller decrypts: manifests that
//! carry `sops` metadata, the files of `secretGenerator` entries (`files:` by their key's name,
//! `envs:` as dotenv unless named otherwise) and `patches[].path` files that hold a SOPS
//! marker, and, after the build, a Secret's `data` values that hold a whole SOPS document.
//!
//! The decryptor is an edge behind [`Decrypt`] (a [`crate::sops::Keys`] is one), handed in
//! through [`Options`]; without one, anything encrypted fails the build, naming its file and
//! object: ciphertext is never rendered as if it were the value.
//!
//! Where fledge differs from Flux, on purpose: a manifest is decrypted when its file is read,
//! with the MAC checked (Flux decrypts after the build, without the MAC, because kustomize's
//! transformers change the object by then), so a file changed after it was encrypted is
//! refused; a patch or replacement that touches encrypted fields sees the plaintext (in Flux
//! it sees ciphertext, and decryption fails).

use base64::Engine as _;
use serde_json::Value;

use super::{DisplayPath, Error};
use crate::object::describe;
use crate::sops::{self, Format, Keys, Plaintext};

/// The annotation that keeps Flux from decrypting an object.
pub const DECRYPT_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/decrypt";

/// What a build asks of a decryptor. Errors never hold plaintext.
/// `Sync`: the independent parts of a build run on every core, each decrypting what it reads.
pub trait Decrypt: Sync {
    /// A whole document of `input` format, written as `output`.
    fn decrypt(
        &self,
        bytes: &[u8],
        input: Format,
        output: Format,
    ) -> Result<Plaintext, sops::Error>;
    /// A YAML (or JSON) stream of encrypted objects, each decrypted.
    fn decrypt_objects(&self, bytes: &[u8], input: Format) -> Result<Vec<Value>, sops::Error>;
}

impl Decrypt for Keys {
    fn decrypt(
        &self,
        bytes: &[u8],
        input: Format,
        output: Format,
    ) -> Result<Plaintext, sops::Error> {
        sops::decrypt(bytes, input, output, self)
    }

    fn decrypt_objects(&self, bytes: &[u8], input: Format) -> Result<Vec<Value>, sops::Error> {
        sops::decrypt_objects(bytes, input, self)
    }
}

/// How a build runs beyond its files. The default decrypts nothing: an encrypted input is an
/// error.
#[derive(Clone, Copy, Default)]
pub struct Options<'a> {
    pub decrypt: Option<&'a dyn Decrypt>,
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("decrypt", &self.decrypt.map(|_| "…"))
            .finish()
    }
}

static NO_KEYS: std::sync::LazyLock<Keys> = std::sync::LazyLock::new(Keys::new);

impl Options<'_> {
    pub(super) fn decryptor(&self) -> &dyn Decrypt {
        self.decrypt.unwrap_or(&*NO_KEYS)
    }
}

/// Whether an object opts out of decryption, as Flux reads the annotation.
pub(super) fn disabled(object: &Value) -> bool {
    object["metadata"]["annotations"][DECRYPT_ANNOTATION]
        .as_str()
        .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
}

/// A manifest file's documents, decrypted where they carry SOPS metadata. `docs` are what the
/// file parsed to; the file is decrypted whole (sops' MAC covers every document of it).
pub(super) fn objects(
    d: &dyn Decrypt,
    path: &str,
    bytes: &[u8],
    docs: Vec<Value>,
) -> Result<Vec<Value>, Error> {
    let encrypted = docs.iter().filter(|v| sops::is_encrypted(v)).count();
    if encrypted == 0 || docs.iter().all(|v| !sops::is_encrypted(v) || disabled(v)) {
        return Ok(docs);
    }
    if encrypted < docs.len() {
        return Err(Error::invalid(
            path,
            "mixes SOPS-encrypted and plain documents; sops encrypts a file whole: keep the encrypted objects in a file of their own",
        ));
    }
    let format = match Format::for_path(path) {
        Format::Json => Format::Json,
        _ => Format::Yaml,
    };
    let names: Vec<String> = docs.iter().map(encrypted_name).collect();
    let out = d
        .decrypt_objects(bytes, format)
        .map_err(|e| Error::invalid(path, format!("{}: {e}", names.join(", "))))?;
    Ok(out
        .into_iter()
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
        .collect())
}

/// An encrypted object as errors name it: kind and name where they are in clear.
fn encrypted_name(v: &Value) -> String {
    let clear = |v: &Value, none: &str| match v.as_str() {
        Some(s) if !s.starts_with("ENC[") => s.to_owned(),
        Some(_) => "(encrypted)".to_owned(),
        None => none.to_owned(),
    };
    format!(
        "{} {}",
        clear(&v["kind"], "<no kind>"),
        clear(&v["metadata"]["name"], "<no name>")
    )
}

/// A generator's or patch's file, decrypted in `format` when it holds that format's SOPS
/// marker (as Flux decides), else as it is.
pub(super) fn file(
    d: &dyn Decrypt,
    path: &str,
    bytes: Vec<u8>,
    format: Format,
) -> Result<Vec<u8>, Error> {
    if !sops::contains(&bytes, format.marker()) {
        return Ok(bytes);
    }
    d.decrypt(&bytes, format, format)
        .map(Plaintext::into_bytes)
        .map_err(|e| Error::invalid(path, format!("{format} file encrypted with SOPS: {e}")))
}

/// After the build: a Secret's `data` values that hold a whole SOPS document are decrypted
/// (format from the marker, written in the format its key names), as Flux does; any object
/// still carrying SOPS metadata is refused.
pub(super) fn finish(d: &dyn Decrypt, top: &str, objects: &mut [Value]) -> Result<(), Error> {
    for o in objects.iter_mut() {
        if disabled(o) {
            continue;
        }
        if sops::is_encrypted(o) {
            return Err(Error::invalid(
                top,
                format!(
                    "{} still carries SOPS metadata after the build (it came from a generator or transformer, not a file fledge decrypts): decrypt it at its source",
                    describe(o)
                ),
            ));
        }
        if o["kind"] != "Secret" {
            continue;
        }
        let what = describe(o);
        let Some(data) = o.get_mut("data").and_then(Value::as_object_mut) else {
            continue;
        };
        for (key, value) in data.iter_mut() {
            let Some(bytes) = value
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            else {
                continue;
            };
            let Some(input) = Format::detect(&bytes) else {
                continue;
            };
            let plain = d
                .decrypt(&bytes, input, Format::for_path(key))
                .map_err(|e| Error::Invalid {
                    path: DisplayPath::new(top),
                    message: format!(
                        "{what}, data `{key}` (a {input} document encrypted with SOPS): {e}"
                    ),
                })?;
            *value =
                Value::String(base64::engine::general_purpose::STANDARD.encode(plain.as_bytes()));
        }
    }
    Ok(())
}
