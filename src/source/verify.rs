//! Signature verification as Flux's `GitRepository` `spec.verify` does it: the tracked commit,
//! the annotated tag the tracked reference names, or both ([`VerifyMode`]), must carry a valid
//! `OpenPGP` or SSH signature from a key of the verification Secret ([`Verifier`]), or the
//! snapshot is refused.
//!
//! The keys are read as source-controller reads the Secret's data: a key ending in `.sshpub`
//! holds SSH public keys in `authorized_keys` format, every other key (`.asc`, and any other
//! name, Flux's fallback) an armored `OpenPGP` key ring (a binary one is taken too). Verification
//! runs the verifiers Git itself uses — `gpgv` against the key rings, `ssh-keygen -Y verify` (namespace `git`) against the SSH
//! keys — on the signature and signed payload read from the object. The keys stay in memory; the
//! verifiers read them from temporary files removed when the check returns, and no key material
//! appears in an error or a log line (only the Secret's key names do).
//!
//! Refusals name the commit (and tag) and say why with the reason source-controller's
//! `SourceVerified` condition gives it ([`Refusal::reason`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use git2::{ObjectType, Oid, Repository};

use super::{CommitId, Error};

/// Which objects are verified: Flux's `spec.verify.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyMode {
    /// The commit the tracked reference points at (`HEAD`, Flux's default).
    #[default]
    Head,
    /// The annotated tag the tracked reference names (`Tag`): only with a tag or semver range.
    Tag,
    /// Both the tag and the commit it points at (`TagAndHEAD`).
    TagAndHead,
}

impl VerifyMode {
    /// Reads `spec.verify.mode` as Flux's API accepts it (`head`, `HEAD`, `Tag`, `TagAndHEAD`);
    /// no mode is `HEAD`, Flux's default.
    #[must_use]
    pub fn from_flux(mode: Option<&str>) -> Option<Self> {
        match mode.unwrap_or("") {
            "" | "head" | "HEAD" => Some(Self::Head),
            "Tag" => Some(Self::Tag),
            "TagAndHEAD" => Some(Self::TagAndHead),
            _ => None,
        }
    }

    /// Reads `--verify-mode`: Flux's names, in any case.
    #[must_use]
    pub fn from_flag(mode: &str) -> Option<Self> {
        match mode.to_ascii_lowercase().as_str() {
            "head" => Some(Self::Head),
            "tag" => Some(Self::Tag),
            "tagandhead" => Some(Self::TagAndHead),
            _ => None,
        }
    }

    /// Whether the tag object is verified.
    #[must_use]
    pub fn tag(self) -> bool {
        matches!(self, Self::Tag | Self::TagAndHead)
    }

    /// Whether the commit is verified.
    #[must_use]
    pub fn head(self) -> bool {
        matches!(self, Self::Head | Self::TagAndHead)
    }
}

impl std::fmt::Display for VerifyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Head => "HEAD",
            Self::Tag => "Tag",
            Self::TagAndHead => "TagAndHEAD",
        })
    }
}

/// Trusted keys and the mode: what [`super::SourceConfig::verify`] asks of each new commit.
#[derive(Debug, Clone)]
pub struct Verification {
    pub keys: Verifier,
    pub mode: VerifyMode,
}

/// Why a commit was refused; each variant is one of the reasons source-controller gives its
/// `SourceVerified` condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The commit is unsigned, or its signature is bad or from a key not trusted.
    #[error("{0}")]
    Commit(String),
    /// The tag's signature is bad or from a key not trusted.
    #[error("the signature of tag {tag} is not valid: {detail}")]
    Tag { tag: String, detail: String },
    /// The tag is lightweight, or annotated but not signed.
    #[error(
        "tag {tag} is not signed; push a signed annotated tag (`git tag -s`) made with a trusted key"
    )]
    TagUnsigned { tag: String },
    /// The mode verifies a tag, but the tracked reference is not one.
    #[error(
        "verify mode {mode} checks a tag's signature, but the tracked reference is not a tag; track a tag or a semver range, or verify in mode HEAD"
    )]
    NoTag { mode: VerifyMode },
}

impl Refusal {
    /// source-controller's reason for it on the `SourceVerified` condition.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Commit(_) => "InvalidCommitSignature",
            Self::Tag { .. } => "InvalidTagSignature",
            Self::TagUnsigned { .. } => "InvalidGitObject",
            Self::NoTag { .. } => "InvalidVerificationMode",
        }
    }
}

/// One entry of the verification Secret: its key (shown in errors) and its data (never shown).
#[derive(Clone)]
struct Entry {
    name: String,
    data: Vec<u8>,
}

/// Trusted keys, as a Flux verification Secret holds them. A signature passes when a key of its
/// kind verifies it.
#[derive(Clone, Default)]
pub struct Verifier {
    /// `OpenPGP` key rings, binary (as `gpgv` reads them).
    openpgp: Vec<Entry>,
    /// `allowed_signers` lines made from the `.sshpub` entries' keys.
    ssh_signers: String,
    /// The names of the `.sshpub` entries.
    ssh_names: Vec<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pgp: Vec<&str> = self.openpgp.iter().map(|e| e.name.as_str()).collect();
        f.debug_struct("Verifier")
            .field("openpgp", &pgp)
            .field("ssh", &self.ssh_names)
            // The keys themselves are left out: only the Secret's entry names are shown.
            .finish_non_exhaustive()
    }
}

/// The principal the SSH keys are trusted under in the `allowed_signers` file built from them.
const PRINCIPAL: &str = "fledge";
/// The data key suffix of SSH public keys in Flux's verification Secret.
const SSH_SUFFIX: &str = ".sshpub";

impl Verifier {
    /// Reads a Secret's `data` (decoded) as source-controller does: `*.sshpub` entries hold SSH
    /// public keys (`authorized_keys` lines), every other entry an `OpenPGP` key ring. The
    /// error names the entry (and the line) that holds no key, or says the Secret holds none;
    /// it never quotes the data. (source-controller skips an entry it cannot read when another
    /// one can be read; here every entry must be, so that a mistyped key shows at once.)
    pub fn from_secret_data<'a>(
        data: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, String> {
        let mut v = Self::default();
        for (name, bytes) in data {
            if name.ends_with(SSH_SUFFIX) {
                v.add_ssh(name, bytes)?;
            } else if !bytes.iter().all(u8::is_ascii_whitespace) {
                let entry = Entry {
                    name: name.to_owned(),
                    data: bytes.to_vec(),
                };
                // Converted here once, so that a key ring that cannot be read is named now.
                let data = binary_key_ring(&entry)?;
                v.openpgp.push(Entry { data, ..entry });
            }
        }
        if v.openpgp.is_empty() && v.ssh_names.is_empty() {
            return Err("holds no key: give OpenPGP key rings as *.asc entries and SSH public keys as *.sshpub entries".into());
        }
        Ok(v)
    }

    /// Reads the keys from `path`: a file, whose name says what it holds as a Secret's key
    /// does, or a directory (a mounted Secret) whose files are the Secret's entries. Names
    /// starting with `.` are skipped (a mounted Secret's `..data` links).
    pub fn from_path(path: &Path) -> Result<Self, String> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
        let mut entries = BTreeMap::new();
        if path.is_dir() {
            let dir = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
            for item in dir {
                let p = item.map_err(|e| format!("{}: {e}", path.display()))?.path();
                match name(&p) {
                    Some(n) if !n.starts_with('.') && p.is_file() => {
                        entries.insert(n, read(&p)?);
                    }
                    _ => {}
                }
            }
        } else {
            entries.insert(name(path).unwrap_or_default(), read(path)?);
        }
        Self::from_secret_data(entries.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The programs verification runs for these keys: `gpgv` for `OpenPGP` keys,
    /// `ssh-keygen` for SSH keys.
    #[must_use]
    pub fn programs(&self) -> Vec<&'static str> {
        let mut p = Vec::new();
        if !self.openpgp.is_empty() {
            p.push("gpgv");
        }
        if !self.ssh_names.is_empty() {
            p.push("ssh-keygen");
        }
        p
    }

    fn add_ssh(&mut self, name: &str, bytes: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(bytes);
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // An authorized_keys line may start with options; the key is the type and the
            // base64 after it.
            let words: Vec<&str> = line.split_whitespace().collect();
            let key = words
                .iter()
                .position(|w| is_ssh_key_type(w))
                .and_then(|at| Some((words[at], *words.get(at + 1)?)));
            let Some((kind, base64)) = key else {
                return Err(format!(
                    "{name} line {}: not an SSH public key (`ssh-ed25519 AAAA…`, as in authorized_keys)",
                    i + 1
                ));
            };
            let _ = writeln!(
                self.ssh_signers,
                "{PRINCIPAL} namespaces=\"git\" {kind} {base64}"
            );
        }
        self.ssh_names.push(name.to_owned());
        Ok(())
    }

    /// Checks what `mode` asks of `commit`, reached through the tag object `tag` (name and id)
    /// when the tracked reference is a tag. Returns what was verified with which key, as
    /// source-controller's condition message says it.
    pub(crate) fn check(
        &self,
        repo: &Repository,
        mode: VerifyMode,
        commit: Oid,
        tag: Option<(&str, Oid)>,
    ) -> Result<String, Error> {
        let refuse = |refusal| Error::Unverified {
            commit: CommitId::from(commit),
            refusal,
        };
        let mut verified = Vec::new();
        if mode.tag() {
            let (name, id) = tag.ok_or_else(|| refuse(Refusal::NoTag { mode }))?;
            let unsigned = || refuse(Refusal::TagUnsigned { tag: name.into() });
            let (signature, payload) = tag_signature(repo, id).ok_or_else(unsigned)?;
            let key = self.signed_by(&signature, &payload).map_err(|detail| {
                refuse(Refusal::Tag {
                    tag: name.into(),
                    detail,
                })
            })?;
            verified.push(format!("tag '{name}@{id}' with key '{key}'"));
        }
        if mode.head() {
            let (signature, payload) = repo.extract_signature(&commit, None).map_err(|_| {
                refuse(Refusal::Commit(
                    "the commit is not signed; sign it (`git commit -S`) with a trusted key and push it"
                        .into(),
                ))
            })?;
            let signature = String::from_utf8_lossy(&signature).into_owned();
            let key = self
                .signed_by(&signature, &payload)
                .map_err(|e| refuse(Refusal::Commit(e)))?;
            verified.push(format!("commit '{commit}' with key '{key}'"));
        }
        Ok(format!("verified signature of {}", verified.join(" and ")))
    }

    /// The key that made `signature` over `payload`, or why none of the trusted ones did.
    fn signed_by(&self, signature: &str, payload: &[u8]) -> Result<String, String> {
        if signature.starts_with(SSH_ARMOR) {
            if self.ssh_names.is_empty() {
                return Err(format!(
                    "SSH signature, but no SSH public keys are trusted (Secret entries ending in {SSH_SUFFIX})"
                ));
            }
            verify_ssh(&self.ssh_signers, signature, payload)
        } else if signature.starts_with(PGP_ARMOR) {
            if self.openpgp.is_empty() {
                return Err(
                    "OpenPGP signature, but no OpenPGP keys are trusted (Secret entries ending in .asc)"
                        .into(),
                );
            }
            verify_openpgp(&self.openpgp, signature, payload)
        } else {
            Err("unsupported signature type (neither OpenPGP nor SSH)".into())
        }
    }
}

const SSH_ARMOR: &str = "-----BEGIN SSH SIGNATURE-----";
const PGP_ARMOR: &str = "-----BEGIN PGP SIGNATURE-----";

fn is_ssh_key_type(word: &str) -> bool {
    ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"]
        .iter()
        .any(|p| word.starts_with(p))
}

/// An annotated tag's signature and the payload it signs: the tag object up to the last line
/// that opens a signature, as Git splits it (`parse_signed_buffer` in gpg-interface.c). `None`
/// for a lightweight tag (`tag` is then a commit) or an unsigned one.
fn tag_signature(repo: &Repository, tag: Oid) -> Option<(String, Vec<u8>)> {
    let odb = repo.odb().ok()?;
    let object = odb.read(tag).ok()?;
    if object.kind() != ObjectType::Tag {
        return None;
    }
    let data = object.data();
    let mut start = None;
    let mut offset = 0;
    for line in data.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(PGP_ARMOR.as_bytes()) || line.starts_with(SSH_ARMOR.as_bytes()) {
            start = Some(offset);
        }
        offset += line.len();
    }
    let start = start?;
    Some((
        String::from_utf8_lossy(&data[start..]).into_owned(),
        data[..start].to_vec(),
    ))
}

fn temp_file(contents: &[u8]) -> Result<tempfile::NamedTempFile, String> {
    let write = || {
        let mut f = tempfile::NamedTempFile::new()?;
        f.write_all(contents)?;
        f.flush()?;
        Ok::<_, std::io::Error>(f)
    };
    write().map_err(|e| format!("cannot write a temporary file: {e}"))
}

/// What a verifier printed.
struct Ran {
    ok: bool,
    stdout: Vec<u8>,
    stderr: String,
}

fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<Ran, String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program} (is it installed?): {e}"))?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data)
            .map_err(|e| format!("{program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    Ok(Ran {
        ok: out.status.success(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

/// Verifies with `ssh-keygen -Y verify`; the key's SHA256 fingerprint, as Flux reports it.
fn verify_ssh(signers: &str, signature: &str, payload: &[u8]) -> Result<String, String> {
    let signers = temp_file(signers.as_bytes())?;
    let sig = temp_file(signature.as_bytes())?;
    let out = run(
        Command::new("ssh-keygen")
            .args(["-Y", "verify", "-n", "git", "-I", PRINCIPAL, "-f"])
            .arg(signers.path())
            .arg("-s")
            .arg(sig.path()),
        Some(payload),
    )?;
    if !out.ok {
        return Err(format!(
            "the SSH signature is not from a trusted key, or does not match: {}",
            out.stderr.lines().last().unwrap_or("").trim()
        ));
    }
    // "Good "git" signature for fledge with ED25519 key SHA256:…"
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or("an SSH key")
        .to_owned())
}

/// Verifies with `gpgv` against every key ring; the signing primary key's id, as Flux
/// reports it.
fn verify_openpgp(rings: &[Entry], signature: &str, payload: &[u8]) -> Result<String, String> {
    let home = tempfile::tempdir().map_err(|e| format!("cannot make a directory: {e}"))?;
    let mut files = Vec::new();
    for ring in rings {
        files.push(temp_file(&ring.data)?);
    }
    let sig = temp_file(signature.as_bytes())?;
    let data = temp_file(payload)?;
    let mut cmd = Command::new("gpgv");
    cmd.arg("--homedir")
        .arg(home.path())
        .args(["--status-fd", "1"]);
    for f in &files {
        cmd.arg("--keyring").arg(f.path());
    }
    let out = run(cmd.arg(sig.path()).arg(data.path()), None)?;
    // VALIDSIG <fingerprint> … <primary key fingerprint>
    let status = String::from_utf8_lossy(&out.stdout);
    let primary = status
        .lines()
        .find_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
        .and_then(|l| l.split_whitespace().last());
    match primary {
        Some(fpr) if out.ok => Ok(fpr[fpr.len().saturating_sub(16)..].to_owned()),
        _ => Err(format!(
            "the OpenPGP signature is not from a trusted key, or does not match: {}",
            out.stderr.lines().last().unwrap_or("").trim()
        )),
    }
}

/// `gpgv` reads binary key rings; an armored one is converted first.
fn binary_key_ring(ring: &Entry) -> Result<Vec<u8>, String> {
    if !ring.data.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Ok(ring.data.clone());
    }
    dearmor(&ring.data).ok_or_else(|| {
        format!(
            "the OpenPGP key ring {} cannot be read; give an armored export (`gpg --armor --export`)",
            ring.name
        )
    })
}

/// The first armored block's data (RFC 4880 §6.2), as Flux reads a key ring with
/// `openpgp.ReadArmoredKeyRing`. Undone here rather than with `gpg --dearmor`, so that only
/// `gpgv` is needed at run time; the checksum line is left out, and a corrupt key ring is
/// refused by `gpgv`, which checks every packet.
fn dearmor(text: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = text
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN PGP"));
    lines.next()?;
    let body: String = lines
        // Armor headers (`Comment: …`) and the blank line after them.
        .skip_while(|l| l.is_empty() || l.contains(": "))
        .take_while(|l| !l.starts_with('=') && !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()
        .filter(|b| !b.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_as_flux_and_the_flag_spell_them() {
        for (flux, mode) in [
            (None, VerifyMode::Head),
            (Some(""), VerifyMode::Head),
            (Some("head"), VerifyMode::Head),
            (Some("HEAD"), VerifyMode::Head),
            (Some("Tag"), VerifyMode::Tag),
            (Some("TagAndHEAD"), VerifyMode::TagAndHead),
        ] {
            assert_eq!(VerifyMode::from_flux(flux), Some(mode), "{flux:?}");
            assert_eq!(VerifyMode::from_flag(&mode.to_string()), Some(mode));
        }
        // Flux's CRD enum is case-sensitive; the flag is not.
        assert_eq!(VerifyMode::from_flux(Some("tag")), None);
        assert_eq!(
            VerifyMode::from_flag("TAGANDHEAD"),
            Some(VerifyMode::TagAndHead)
        );
        assert_eq!(
            (VerifyMode::Tag.head(), VerifyMode::Tag.tag()),
            (false, true)
        );
    }

    #[test]
    fn armor_is_undone_with_or_without_headers_and_the_checksum_left_out() {
        let with_headers = "junk\n-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: a key\n\nAAEC\nAwQ=\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n";
        assert_eq!(dearmor(with_headers.as_bytes()), Some(vec![0, 1, 2, 3, 4]));
        let bare =
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nAAECAwQ=\n-----END PGP PUBLIC KEY BLOCK-----";
        assert_eq!(dearmor(bare.as_bytes()), Some(vec![0, 1, 2, 3, 4]));
        assert_eq!(dearmor(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n!!\n"), None);
    }

    #[test]
    fn ssh_entries_take_options_and_comments_and_name_a_bad_line() {
        let v = Verifier::from_secret_data([(
            "ci.sshpub",
            b"# ci\nno-pty ssh-ed25519 AAAAC3Nz ci@example\n\necdsa-sha2-nistp256 AAAAE2Vj\n"
                .as_slice(),
        )])
        .unwrap();
        assert_eq!(
            v.ssh_signers,
            "fledge namespaces=\"git\" ssh-ed25519 AAAAC3Nz\nfledge namespaces=\"git\" ecdsa-sha2-nistp256 AAAAE2Vj\n"
        );
        assert_eq!(v.programs(), ["ssh-keygen"]);
        let err = Verifier::from_secret_data([("a.sshpub", b"ssh-rsa".as_slice())]).unwrap_err();
        assert_eq!(
            err,
            "a.sshpub line 1: not an SSH public key (`ssh-ed25519 AAAA…`, as in authorized_keys)"
        );
        // Empty entries are no key ring; an armored one that is not base64 is named.
        let err = Verifier::from_secret_data([("a.asc", b" \n".as_slice())]).unwrap_err();
        assert!(err.starts_with("holds no key"), "{err}");
        let bad = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!\n".as_slice();
        let err = Verifier::from_secret_data([("b.asc", bad)]).unwrap_err();
        assert!(
            err.starts_with("the OpenPGP key ring b.asc cannot be read"),
            "{err}"
        );
    }
}
