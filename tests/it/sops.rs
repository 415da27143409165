//! SOPS decryption against the real thing: documents encrypted by the `sops` CLI (v3.13.3) for
//! keys made by `age-keygen`, decrypted by fledge and by `sops --decrypt`, must give the same
//! bytes; what sops refuses (a changed value, a changed MAC, a value added in clear, the wrong
//! key) fledge refuses too, naming the file and never the plaintext; a build decrypts what
//! Flux's kustomize-controller decrypts.

use std::fmt::Write as _;

use fledge::render::{self, MemFiles, Options};
use fledge::sops::{self, Format, Keys};
use serde_json::{Value, json};

use super::support::sops::{AgeKey, Sops, age_key, or_skip};

/// A small deterministic generator (xorshift), so that a failure names a case that comes back.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.below(items.len() as u64)).unwrap()]
    }
}

/// Every generated secret holds this, so that a leak into a message is easy to find.
const MARK: &str = "s3cr3t";

const STRINGS: &[&str] = &[
    "plain",
    "two words",
    "key: value",
    "- dash",
    "#hash",
    "a #b",
    "quote'single",
    "quote\"double",
    "123",
    "1.5",
    "true",
    "yes",
    "null",
    "~",
    "2026-01-02",
    " leading",
    "trailing ",
    "multi\nline",
    "multi\nline\n",
    "ends\n\n",
    "tab\there",
    "é unicode ü",
    "emoji 🙂",
    "",
    "[flow]",
    "{brace}",
    "*star",
    "&amp",
    "!bang",
    "%pct",
    "@at",
    "`tick",
    "back\\slash",
    "<html>&",
    "0x1F",
    "0777",
    "1_000",
    "-",
    "---",
    "a: b: c",
    "line one\n  indented\nlast",
];

fn scalar(g: &mut Gen) -> Value {
    match g.below(9) {
        0 => json!(i64::try_from(g.below(2_000_000)).unwrap() - 1_000_000),
        1 => {
            let floats = [1.5, -0.25, 1e6, 3.0e-7, 12_345.678, 0.1];
            json!(floats[usize::try_from(g.below(6)).unwrap()])
        }
        2 => json!(g.below(2) == 0),
        3 => Value::Null,
        _ => json!(format!("{MARK}-{}", g.pick(STRINGS))),
    }
}

fn key(g: &mut Gen) -> String {
    let base = g.pick(&[
        "name",
        "data",
        "stringData",
        "token",
        "db.url",
        "a-b",
        "meta",
        "x",
    ]);
    let suffix = g.pick(&["", "", "", "_unencrypted", "_plain", "_secret"]);
    format!("{base}{}{suffix}", g.below(100))
}

fn value(g: &mut Gen, depth: u32) -> Value {
    match g.below(if depth > 2 { 1 } else { 5 }) {
        0 | 1 => scalar(g),
        2 => Value::Array((0..g.below(4)).map(|_| value(g, depth + 1)).collect()),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..g.below(4) {
                m.insert(key(g), value(g, depth + 1));
            }
            Value::Object(m)
        }
    }
}

/// A top-level document: a mapping with a few entries.
fn document(g: &mut Gen) -> Value {
    let mut m = serde_json::Map::new();
    for _ in 0..=g.below(5) {
        m.insert(key(g), value(g, 0));
    }
    Value::Object(m)
}

/// YAML for a value: block style, scalars written as JSON (which YAML reads the same).
fn yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let _ = write!(out, "{pad}{}:", yaml_scalar(&json!(k)));
                match v {
                    Value::Object(i) if !i.is_empty() => {
                        out.push('\n');
                        yaml(v, indent + 2, out);
                    }
                    Value::Array(i) if !i.is_empty() => {
                        out.push('\n');
                        yaml(v, indent + 2, out);
                    }
                    _ => {
                        out.push(' ');
                        yaml(v, 0, out);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                let _ = write!(out, "{pad}-");
                match item {
                    Value::Object(i) if !i.is_empty() => {
                        out.push('\n');
                        yaml(item, indent + 2, out);
                    }
                    Value::Array(i) if !i.is_empty() => {
                        out.push('\n');
                        yaml(item, indent + 2, out);
                    }
                    _ => {
                        out.push(' ');
                        yaml(item, 0, out);
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{}", yaml_scalar(other));
        }
    }
}

/// A scalar as JSON, which YAML reads the same, with the characters a YAML reader refuses raw
/// (DEL, C1 controls, the byte order mark, beyond-BMP characters are fine) escaped.
fn yaml_scalar(v: &Value) -> String {
    let mut out = String::new();
    for c in serde_json::to_string(v).unwrap().chars() {
        if matches!(u32::from(c), 0x7f..=0x9f | 0xfeff | 0x2028 | 0x2029) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// The encryption rules a case uses, as `sops --encrypt` flags.
const RULES: &[&[&str]] = &[
    &[],
    &["--encrypted-regex", "^(data|stringData)"],
    &["--unencrypted-suffix", "_plain"],
    &["--encrypted-suffix", "_secret"],
    &["--unencrypted-regex", "^(meta|name)"],
    &["--mac-only-encrypted", "--encrypted-regex", "^(data|token)"],
];

fn keys_of(key: &AgeKey) -> Keys {
    Keys::from_key_file("key.txt", &key.file).unwrap()
}

/// One encrypted file to decrypt both ways.
struct Case<'a> {
    name: &'a str,
    encrypted: &'a [u8],
    input: Format,
    output: Format,
    /// sops' `--output-type` for `output`.
    out_flag: &'a str,
}

/// fledge's and sops' decryption of a case.
fn both(
    cli: &Sops,
    dir: &std::path::Path,
    key: &AgeKey,
    c: &Case<'_>,
) -> (Result<Vec<u8>, String>, Result<Vec<u8>, String>) {
    let theirs = cli.decrypt(
        dir,
        c.name,
        c.encrypted,
        key,
        &["--output-type", c.out_flag],
    );
    let theirs = if theirs.status.success() {
        Ok(theirs.stdout)
    } else {
        Err(String::from_utf8_lossy(&theirs.stderr).into_owned())
    };
    let ours = sops::decrypt(c.encrypted, c.input, c.output, &keys_of(key))
        .map(sops::Plaintext::into_bytes)
        .map_err(|e| e.to_string());
    (ours, theirs)
}

#[test]
fn decryption_matches_the_sops_cli_byte_for_byte() {
    let Some(cli) = or_skip() else { return };
    let key = age_key();
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen(0x5eed_f00d);
    let mut compared = 0;
    for case in 0..90 {
        let doc = document(&mut g);
        let rules = RULES[case % RULES.len()];
        let (name, plain, input, flag) = match case % 3 {
            0 => {
                let mut y = String::new();
                yaml(&doc, 0, &mut y);
                ("doc.yaml", y.into_bytes(), Format::Yaml, "yaml")
            }
            1 => (
                "doc.json",
                serde_json::to_vec_pretty(&doc).unwrap(),
                Format::Json,
                "json",
            ),
            _ => {
                let mut y = String::new();
                yaml(&doc, 0, &mut y);
                ("doc.yml", y.into_bytes(), Format::Yaml, "json")
            }
        };
        let encrypted = cli.encrypt(dir.path(), name, &plain, &key.recipient, rules);
        let output = if flag == "json" { Format::Json } else { input };
        let (ours, theirs) = both(
            cli,
            dir.path(),
            &key,
            &Case {
                name,
                encrypted: &encrypted,
                input,
                output,
                out_flag: flag,
            },
        );
        let context = || {
            format!(
                "case {case} ({name}, {rules:?}):\n{}\nencrypted:\n{}",
                String::from_utf8_lossy(&plain),
                String::from_utf8_lossy(&encrypted)
            )
        };
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => {
                assert_eq!(
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b),
                    "{}",
                    context()
                );
                compared += 1;
            }
            (Err(a), Err(_)) => assert!(!a.contains(MARK), "{a}"),
            _ => panic!("fledge {ours:?}, sops {theirs:?}\n{}", context()),
        }
        if input == Format::Yaml {
            // As objects: what a build holds, against sops' JSON.
            let theirs = cli.decrypt(
                dir.path(),
                name,
                &encrypted,
                &key,
                &["--output-type", "json"],
            );
            let objects = sops::decrypt_objects(&encrypted, input, &keys_of(&key)).unwrap();
            let theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
            assert_eq!(objects, vec![theirs], "{}", context());
        }
    }
    assert!(compared >= 80, "only {compared} cases compared");
}

#[test]
fn dotenv_and_binary_files_decrypt_as_sops_decrypts_them() {
    let Some(cli) = or_skip() else { return };
    let key = age_key();
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen(0xd07e_0b1a);
    for case in 0..12 {
        let mut env = String::new();
        for i in 0..=g.below(6) {
            if g.below(4) == 0 {
                let _ = writeln!(env, "# a comment {i}");
            }
            let v = g.pick(&["plain", "two words", "a=b", "multi\\nline", "", "é", "'q'"]);
            let _ = writeln!(env, "KEY_{i}{}={MARK}-{v}", g.pick(&["", "_unencrypted"]));
        }
        let encrypted = cli.encrypt(
            dir.path(),
            "app.env",
            env.as_bytes(),
            &key.recipient,
            RULES[case % 3],
        );
        let case_env = Case {
            name: "app.env",
            encrypted: &encrypted,
            input: Format::Dotenv,
            output: Format::Dotenv,
            out_flag: "dotenv",
        };
        let (ours, theirs) = both(cli, dir.path(), &key, &case_env);
        assert_eq!(ours.unwrap(), theirs.unwrap(), "case {case}:\n{env}");

        let mut bin: Vec<u8> = (0..g.below(300))
            .map(|_| u8::try_from(g.below(256)).unwrap())
            .collect();
        bin.extend_from_slice(MARK.as_bytes());
        let encrypted = cli.encrypt(dir.path(), "tls.key", &bin, &key.recipient, &[]);
        let case_bin = Case {
            name: "tls.key",
            encrypted: &encrypted,
            input: Format::Binary,
            output: Format::Binary,
            out_flag: "binary",
        };
        let (ours, theirs) = both(cli, dir.path(), &key, &case_bin);
        assert_eq!(ours.unwrap(), theirs.unwrap(), "binary case {case}");
        assert_eq!(
            sops::decrypt(&encrypted, Format::Binary, Format::Binary, &keys_of(&key))
                .unwrap()
                .into_bytes(),
            bin
        );
    }
}

/// `text` with the first occurrence of `from` replaced.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` not in:\n{text}");
    text.replacen(from, to, 1)
}

#[test]
fn tampered_files_are_refused_as_sops_refuses_them() {
    let Some(cli) = or_skip() else { return };
    let key = age_key();
    let dir = tempfile::tempdir().unwrap();
    let plain = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\ntype: Opaque\nstringData:\n  password: {MARK}-pw\n  user: {MARK}-user\n"
    );
    let encrypted = cli.encrypt(
        dir.path(),
        "secret.yaml",
        plain.as_bytes(),
        &key.recipient,
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    let text = String::from_utf8(encrypted).unwrap();
    let data_at = text.find("data:").unwrap() + "data:".len();
    let (value_start, mac_start) = (
        text[data_at..].find("ENC[AES256_GCM,data:").unwrap() + data_at,
        text.find("mac: ENC[").unwrap(),
    );
    let c = char::from(text.as_bytes()[value_start + 22]);
    let flipped = if c == 'A' { 'B' } else { 'A' };
    let tampered = [
        // A changed ciphertext.
        format!(
            "{}{flipped}{}",
            &text[..value_start + 22],
            &text[value_start + 23..]
        ),
        // A changed MAC: another value's ciphertext in its place.
        {
            let other = &text[value_start..];
            let other = &other[..=other.find(']').unwrap()];
            let mac_end = mac_start + text[mac_start..].find(']').unwrap() + 1;
            format!("{}mac: {other}{}", &text[..mac_start], &text[mac_end..])
        },
        // A value added in clear where sops' rules say values are encrypted.
        replace_once(
            &text,
            "stringData:\n",
            &format!("stringData:\n    extra: {MARK}-clear\n"),
        ),
        // A value added in clear where they are not: only the MAC tells.
        replace_once(
            &text,
            "namespace: prod\n",
            "namespace: prod\n    labels:\n        added: by-hand\n",
        ),
        // A value changed in clear.
        replace_once(&text, "name: db", "name: other"),
    ];
    for (i, t) in tampered.iter().enumerate() {
        let theirs = cli.decrypt(dir.path(), "secret.yaml", t.as_bytes(), &key, &[]);
        assert!(
            !theirs.status.success(),
            "sops took tampered file {i}:\n{t}"
        );
        let ours = sops::decrypt(t.as_bytes(), Format::Yaml, Format::Yaml, &keys_of(&key))
            .map(|p| String::from_utf8_lossy(p.as_bytes()).into_owned());
        let e = ours
            .expect_err(&format!("fledge took tampered file {i}:\n{t}"))
            .to_string();
        assert!(
            !e.contains(MARK),
            "tampered file {i}: the error shows plaintext: {e}"
        );

        // Through a build: refused, naming the file and the object.
        let mut files = MemFiles::new();
        files.insert("app/kustomization.yaml", "resources:\n- secret.yaml\n");
        files.insert("app/secret.yaml", t.as_bytes());
        let keys = keys_of(&key);
        let e = render::render_with(
            &files,
            "app",
            &Options {
                decrypt: Some(&keys),
            },
        )
        .expect_err("a tampered file fails the build")
        .to_string();
        assert!(e.starts_with("app/secret.yaml: "), "{e}");
        assert!(e.contains("Secret db") || e.contains("Secret other"), "{e}");
        assert!(!e.contains(MARK), "{e}");
    }
}

#[test]
fn a_wrong_key_or_no_key_is_refused_naming_the_file() {
    let Some(cli) = or_skip() else { return };
    let (key, wrong) = (age_key(), age_key());
    let dir = tempfile::tempdir().unwrap();
    let plain = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {MARK}\n"
    );
    let encrypted = cli.encrypt(
        dir.path(),
        "secret.yaml",
        plain.as_bytes(),
        &key.recipient,
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    let theirs = cli.decrypt(dir.path(), "secret.yaml", &encrypted, &wrong, &[]);
    assert!(
        !theirs.status.success(),
        "sops decrypted with the wrong key"
    );

    let mut files = MemFiles::new();
    files.insert("app/kustomization.yaml", "resources:\n- secret.yaml\n");
    files.insert("app/secret.yaml", encrypted.clone());
    let wrong_keys = keys_of(&wrong);
    let e = render::render_with(
        &files,
        "app",
        &Options {
            decrypt: Some(&wrong_keys),
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("app/secret.yaml: Secret db: "), "{e}");
    assert!(
        e.contains(&key.recipient),
        "names the recipient the file is sealed for: {e}"
    );
    assert!(!e.contains(MARK), "{e}");

    for e in [
        render::render(&files, "app").unwrap_err().to_string(),
        render::render_with(
            &files,
            "app",
            &Options {
                decrypt: Some(&Keys::new()),
            },
        )
        .unwrap_err()
        .to_string(),
    ] {
        assert!(e.starts_with("app/secret.yaml: Secret db: "), "{e}");
        assert!(
            e.contains("encrypted with SOPS") && e.contains("give fledge the key"),
            "{e}"
        );
        assert!(!e.contains(MARK), "{e}");
    }

    // Flux's opt-out leaves the object as it is.
    let disabled = replace_once(
        &String::from_utf8(encrypted).unwrap(),
        "name: db\n",
        "name: db\n    annotations:\n        kustomize.toolkit.fluxcd.io/decrypt: Disabled\n",
    );
    files.insert("app/secret.yaml", disabled);
    let out = render::render(&files, "app").unwrap();
    assert!(sops::is_encrypted(&out[0]), "{out:?}");
}

/// A repository that uses every place Flux decrypts, in two copies: one encrypted, one where
/// each encrypted file is replaced by `sops --decrypt`'s output (what Flux holds once it has
/// decrypted the files in place).
#[test]
fn a_build_decrypts_what_flux_decrypts() {
    let Some(cli) = or_skip() else { return };
    let key = age_key();
    let dir = tempfile::tempdir().unwrap();
    let plain = flux_repo_files();
    let kustomization = "resources:\n- secret.yaml\n- whole.yaml\n- deploy.yaml\n- embedded.yaml\nsecretGenerator:\n- name: gen\n  envs:\n  - app.env\n  files:\n  - config.json\n  - tls.key\n  - settings.yaml\n- name: renamed\n  files:\n  - creds.json=config.json\npatches:\n- path: patch.yaml\n";
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: app\n        image: nginx\n        envFrom:\n        - secretRef:\n            name: gen\n";
    let (mut encrypted, mut decrypted) = (MemFiles::new(), MemFiles::new());
    for files in [&mut encrypted, &mut decrypted] {
        files.insert("app/kustomization.yaml", kustomization);
        files.insert("app/deploy.yaml", deploy);
    }
    let mut both_copies: Vec<(&str, Vec<u8>, Vec<u8>)> = Vec::new();
    for (path, text, rules) in &plain {
        let name = path.rsplit('/').next().unwrap();
        let enc = cli.encrypt(dir.path(), name, text.as_bytes(), &key.recipient, rules);
        let out = cli.decrypt(dir.path(), name, &enc, &key, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        both_copies.push((*path, enc.clone(), out.stdout.clone()));
        encrypted.insert(path, enc);
        decrypted.insert(path, out.stdout);
    }
    // A Secret whose data values are whole encrypted files (Flux decrypts these after the
    // build): each copy holds its own bytes of them.
    let b64 = |b: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let embedded = |second: bool| {
        let of = |p: &str| {
            let c = both_copies.iter().find(|c| c.0 == p).unwrap();
            b64(if second { &c.2 } else { &c.1 })
        };
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: embedded\ndata:\n  creds.json: {}\n  app.env: {}\n",
            of("app/config.json"),
            of("app/app.env")
        )
    };
    encrypted.insert("app/embedded.yaml", embedded(false));
    decrypted.insert("app/embedded.yaml", embedded(true));
    let keys = keys_of(&key);
    let ours = render::render_with(
        &encrypted,
        "app",
        &Options {
            decrypt: Some(&keys),
        },
    )
    .unwrap();
    let want = render::render(&decrypted, "app").unwrap();
    assert_eq!(ours, want);
    let text = serde_json::to_string(&ours).unwrap();
    assert!(
        !text.contains("ENC["),
        "ciphertext left in the build: {text}"
    );
    assert!(
        !text.contains("\"sops\""),
        "sops metadata left in the build: {text}"
    );

    // Without keys the same build fails, naming the file, and never renders ciphertext.
    let e = render::render(&encrypted, "app").unwrap_err().to_string();
    assert!(
        e.contains("app/secret.yaml") && e.contains("give fledge the key"),
        "{e}"
    );
}

#[test]
fn keys_come_from_a_flux_decryption_secret() {
    let Some(cli) = or_skip() else { return };
    let (key, other) = (age_key(), age_key());
    let dir = tempfile::tempdir().unwrap();
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "sops-age", "namespace": "flux-system"},
        "data": {"other.agekey": b64(&other.file), "identity.agekey": b64(&key.file), "README": b64("not a key")}});
    let keys = Keys::from_secret(&secret).unwrap();
    assert_eq!(keys.recipients().len(), 2);
    let shown = format!("{keys:?}");
    assert!(!shown.contains("AGE-SECRET-KEY"), "{shown}");
    let enc = cli.encrypt(
        dir.path(),
        "a.json",
        format!("{{\"k\": \"{MARK}\"}}").as_bytes(),
        &key.recipient,
        &[],
    );
    let plain = sops::decrypt(&enc, Format::Json, Format::Json, &keys).unwrap();
    assert!(format!("{plain:?}").starts_with("Plaintext("));

    let bad = json!({"metadata": {"name": "s", "namespace": "n"}, "data": {"x.agekey": b64("AGE-SECRET-KEY-1SHORT\n")}});
    let e = Keys::from_secret(&bad).unwrap_err().to_string();
    assert!(e.starts_with("Secret n/s, entry x.agekey: line 1"), "{e}");
    assert!(!e.contains("SHORT"), "{e}");
}

#[test]
fn yaml_comments_decrypt_as_values_and_are_not_dropped_silently() {
    let Some(cli) = or_skip() else { return };
    let key = age_key();
    let dir = tempfile::tempdir().unwrap();
    let plain = format!(
        "# top comment\napiVersion: v1\nkind: Secret\nmetadata:\n  name: c # inline\nstringData:\n  # about the password\n  password: {MARK}\n"
    );
    let enc = cli.encrypt(dir.path(), "s.yaml", plain.as_bytes(), &key.recipient, &[]);
    let theirs = cli.decrypt(dir.path(), "s.yaml", &enc, &key, &["--output-type", "json"]);
    let theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
    let ours = sops::decrypt_objects(&enc, Format::Yaml, &keys_of(&key)).unwrap();
    assert_eq!(ours, vec![theirs]);
    let e = sops::decrypt(&enc, Format::Yaml, Format::Yaml, &keys_of(&key))
        .unwrap_err()
        .to_string();
    assert!(e.contains("comments"), "{e}");
}

/// Every string of the generator, as a value under encrypted and clear keys and as a key, in a
/// YAML stream of two documents and in JSON: the scalar styles of sops' YAML writer and the
/// escapes of its JSON writer.
#[test]
fn every_kind_of_string_is_written_as_sops_writes_it() {
    let Some(cli) = or_skip() else { return };
    let key = age_key();
    let dir = tempfile::tempdir().unwrap();
    let doc = every_string();
    let mut stream = String::new();
    yaml(&doc, 0, &mut stream);
    stream.push_str("---\nsecond: document\nlist: [a, {b: c}]\n");
    for (name, plain, input, flag) in [
        (
            "all.yaml",
            stream.clone().into_bytes(),
            Format::Yaml,
            "yaml",
        ),
        (
            "all.json",
            serde_json::to_vec_pretty(&doc).unwrap(),
            Format::Json,
            "json",
        ),
    ] {
        for rules in [&[][..], &["--encrypted-regex", "^data$"][..]] {
            let encrypted = cli.encrypt(dir.path(), name, &plain, &key.recipient, rules);
            let (ours, theirs) = both(
                cli,
                dir.path(),
                &key,
                &Case {
                    name,
                    encrypted: &encrypted,
                    input,
                    output: input,
                    out_flag: flag,
                },
            );
            let text = String::from_utf8_lossy(&encrypted).into_owned();
            let (ours, theirs) = (
                ours.unwrap_or_else(|e| panic!("{name} {rules:?}: {e}\n{text}")),
                theirs.unwrap(),
            );
            let (a, b) = (
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
            );
            for (la, lb) in a.lines().zip(b.lines()) {
                assert_eq!(la, lb, "{name} {rules:?}: first differing line");
            }
            assert_eq!(a, b, "{name} {rules:?}");
        }
    }
}

/// A document with every string of the generator and more, as values (in encrypted and clear
/// places) and as keys, and numbers of each form.
fn every_string() -> Value {
    let mut extra: Vec<String> = STRINGS.iter().map(|s| (*s).to_owned()).collect();
    extra.extend(
        [
            "\u{85}nel",
            "nbsp\u{a0}x",
            "ctl\u{1}x",
            "del\u{7f}",
            "bom\u{feff}",
            "ls\u{2028}",
            "zero\u{0}",
            "\ttab first",
            "a\n b",
            "a \nb",
            "\nlead",
            " \n",
            "x:",
            "x: ",
            "?x",
            ":x",
            "- ",
            "-x",
            "1e3",
            "+1",
            ".5",
            "0b101",
            "0o17",
            "1:20",
            "2001-12-14t21:59:43.10-05:00",
            "On",
            "off",
            "Null",
            "NULL",
            ".inf",
            "-.Inf",
            ".nan",
            "<<",
            "=",
            "a'b\"c",
            "😀😀",
            "tab\tand\nline",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    let values = Value::Array(extra.iter().map(|s| json!(s)).collect());
    // Left in clear, a multi-line value that starts with a space or a line break is written by
    // go-yaml with an indentation indicator only go-yaml reads back the same (see docs/sops.md).
    let clear = Value::Array(
        extra
            .iter()
            .filter(|s| {
                !(s.starts_with([' ', '\n']) && s.trim_start_matches([' ', '\n']).contains('\n'))
            })
            .filter(|s| !(s.starts_with([' ', '\n']) && s.contains('\n')))
            .map(|s| json!(s))
            .collect(),
    );
    let keyed: serde_json::Map<String, Value> = extra
        .iter()
        // A key with a line break is written as a complex key, which fledge refuses; sops
        // cannot read back the `<<` key it writes.
        .filter(|s| !s.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']) && *s != "<<")
        .enumerate()
        .map(|(i, s)| ((*s).clone(), json!(i)))
        .collect();
    let doc = json!({"data": values, "plain_unencrypted": clear, "keys": keyed,
        // (-0.0 left in clear does not survive sops itself: it writes `-0`, which reads as 0.)
        "numbers": [0, 1e21, 1e-7, 123_456_789.0, 9_007_199_254_740_993_i64, -1.5e300, 0.000_001]});
    doc
}

/// The encrypted files of [`a_build_decrypts_what_flux_decrypts`]: path, plaintext, sops flags.
fn flux_repo_files() -> Vec<(&'static str, String, &'static [&'static str])> {
    let regex: &'static [&'static str] = &["--encrypted-regex", "^(data|stringData)$"];
    vec![
        (
            "app/secret.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n  password: {MARK}-pw\n  url: \"postgres://u:{MARK}@db:5432/x\"\n"
            ),
            regex,
        ),
        (
            "app/whole.yaml",
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: whole\ndata:\n  note: {MARK}-note\n"
            ),
            &[],
        ),
        (
            "app/app.env",
            format!("# generator env\nPASSWORD={MARK}-env\nEMPTY=\nMULTI=a\\nb\n"),
            &[],
        ),
        (
            "app/config.json",
            format!(
                "{{\n  \"token\": \"{MARK}-json\",\n  \"n\": 3,\n  \"nested\": {{\"on\": true}}\n}}\n"
            ),
            &[],
        ),
        (
            "app/tls.key",
            format!("-----BEGIN KEY-----\n{MARK}-bin\n-----END KEY-----\n"),
            &[],
        ),
        (
            "app/settings.yaml",
            format!("level: 3\nsecret: {MARK}-settings\nlist:\n  - a\n  - b: c\n"),
            &[],
        ),
        (
            "app/patch.yaml",
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    metadata:\n      annotations:\n        token: {MARK}-patch\n"
            ),
            &["--encrypted-regex", "^annotations$"],
        ),
    ]
}

/// Comment rules: dotenv files keep their comments and decrypt as sops decrypts them; in YAML,
/// whose comments fledge's reader does not see, they are refused by name.
#[test]
fn comment_rules_decrypt_in_dotenv_and_are_refused_in_yaml() {
    let Some(cli) = or_skip() else { return };
    let key = age_key();
    let dir = tempfile::tempdir().unwrap();
    let env = format!("A={MARK}-a\n# sops:enc\nB={MARK}-b\nC={MARK}-c\n");
    for rules in [
        &["--encrypted-comment-regex", "sops:enc"][..],
        &["--unencrypted-comment-regex", "sops:enc"][..],
    ] {
        let encrypted = cli.encrypt(dir.path(), "c.env", env.as_bytes(), &key.recipient, rules);
        let case = Case {
            name: "c.env",
            encrypted: &encrypted,
            input: Format::Dotenv,
            output: Format::Dotenv,
            out_flag: "dotenv",
        };
        let (ours, theirs) = both(cli, dir.path(), &key, &case);
        assert_eq!(ours.unwrap(), theirs.unwrap(), "{rules:?}");
    }
    let yaml_doc = format!("a: {MARK}\n# sops:enc\nb: {MARK}\n");
    let encrypted = cli.encrypt(
        dir.path(),
        "c.yaml",
        yaml_doc.as_bytes(),
        &key.recipient,
        &["--encrypted-comment-regex", "sops:enc"],
    );
    let e = sops::decrypt(&encrypted, Format::Yaml, Format::Json, &keys_of(&key))
        .unwrap_err()
        .to_string();
    assert!(e.contains("encrypted_comment_regex"), "{e}");
}
