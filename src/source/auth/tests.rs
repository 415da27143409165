use super::*;

#[test]
fn secrets_and_urls_never_print_credentials() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
    assert_eq!(
        redact("https://bot:tok3n@example.com/org/repo.git"),
        "https://bot:***@example.com/org/repo.git"
    );
    assert_eq!(
        redact("https://tok3n@example.com/r"),
        "https://***@example.com/r"
    );
    assert_eq!(redact("ssh://git@example.com/r"), "ssh://git@example.com/r");
    assert_eq!(redact("/local/path"), "/local/path");
    assert!(
        !RedactedUrl::new("https://u:p@h/x")
            .to_string()
            .contains(":p@")
    );
}

#[test]
fn known_hosts_matching() {
    let key = b"\x00\x00\x00\x0bssh-ed25519keybytes";
    let b64 = base64::engine::general_purpose::STANDARD.encode(key);
    let text = format!(
        "# comment\n[127.0.0.1]:2222 ssh-ed25519 {b64}\nexample.com,other ssh-ed25519 {b64}\n"
    );
    assert_eq!(
        check_host_key(&text, "127.0.0.1", 2222, key),
        HostKeyCheck::Trusted
    );
    assert_eq!(
        check_host_key(&text, "127.0.0.1", 2222, b"other"),
        HostKeyCheck::Mismatch
    );
    assert_eq!(
        check_host_key(&text, "127.0.0.1", 22, key),
        HostKeyCheck::Unknown
    );
    assert_eq!(
        check_host_key(&text, "other", 22, key),
        HostKeyCheck::Trusted
    );
    // Hashed entry for "example.org" (salt and HMAC-SHA1 computed as ssh-keygen -H does).
    let salt = b"0123456789abcdef0123";
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
    mac.update(b"example.org");
    let hash = mac.finalize().into_bytes();
    let e = base64::engine::general_purpose::STANDARD;
    let hashed = format!(
        "|1|{}|{} ssh-ed25519 {b64}\n",
        e.encode(salt),
        e.encode(hash)
    );
    assert_eq!(
        check_host_key(&hashed, "example.org", 22, key),
        HostKeyCheck::Trusted
    );
    assert_eq!(
        check_host_key(&hashed, "example.net", 22, key),
        HostKeyCheck::Unknown
    );
}

#[test]
fn ssh_urls() {
    assert_eq!(
        ssh_host_port("ssh://git@127.0.0.1:2222/srv/repo.git"),
        Some(("127.0.0.1".into(), 2222))
    );
    assert_eq!(
        ssh_host_port("git@github.com:org/repo.git"),
        Some(("github.com".into(), 22))
    );
    assert_eq!(ssh_host_port("https://github.com/org/repo"), None);
}

#[test]
fn an_empty_credential_file_is_an_error_not_an_empty_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webhook-secret");
    for empty in ["", "\n", "  \t\r\n"] {
        std::fs::write(&path, empty).unwrap();
        let e = Secret::from_file(&path).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{empty:?}");
        assert!(e.to_string().contains("empty"), "{e}");
    }
    std::fs::write(&path, " s3cret\n").unwrap();
    assert_eq!(Secret::from_file(&path).unwrap().expose(), "s3cret");
    let missing = Secret::from_file(&dir.path().join("nothing")).unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
}
