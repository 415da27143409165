use super::*;

/// A gzipped tarball of `entries`: (name, type, contents or link target).
fn layer(entries: &[(&str, tar::EntryType, &str)]) -> Pulled {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        let body: &[u8] = if kind.is_file() { data.as_bytes() } else { &[] };
        h.set_size(body.len() as u64);
        if kind.is_symlink() || kind.is_hard_link() {
            h.set_link_name(data).unwrap();
        }
        // Written as is: `append_data` would refuse the names the tests need.
        let raw = &mut h.as_old_mut().name;
        raw.fill(0);
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, body).unwrap();
    }
    let tarball = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tarball).unwrap();
    Pulled {
        digest: "sha256:00".into(),
        media_type: "application/vnd.cncf.flux.content.v1.tar+gzip".into(),
        bytes: gz.finish().unwrap(),
    }
}

use tar::EntryType::{Directory, Fifo, Link, Regular, Symlink};

#[test]
fn files_and_directories_are_read_and_symlinks_left_out_as_flux_untars_them() {
    let files = untar(&layer(&[
        (".", Directory, ""),
        ("./deploy/", Directory, ""),
        ("./deploy/app.yaml", Regular, "kind: ConfigMap\n"),
        (
            "kustomization.yaml",
            Regular,
            "resources: [deploy/app.yaml]\n",
        ),
        ("deploy/link.yaml", Symlink, "app.yaml"),
        ("deploy/app.yaml", Regular, "kind: Secret\n"),
    ]))
    .unwrap();
    let read: Vec<(&str, &[u8])> = files.iter().collect();
    assert_eq!(
        read,
        [
            ("deploy/app.yaml", b"kind: Secret\n".as_slice()),
            (
                "kustomization.yaml",
                b"resources: [deploy/app.yaml]\n".as_slice()
            ),
        ]
    );
}

#[test]
fn entries_that_leave_the_artifact_or_are_not_files_are_refused_by_name() {
    for (name, kind, why) in [
        ("/etc/passwd", Regular, "absolute or leaves"),
        ("../up.yaml", Regular, "absolute or leaves"),
        ("a/../../up.yaml", Regular, "absolute or leaves"),
        ("a\\b.yaml", Regular, "absolute or leaves"),
        ("hard.yaml", Link, "hard link"),
        ("pipe", Fifo, "named pipe"),
    ] {
        let e = untar(&layer(&[
            ("ok.yaml", Regular, "a: 1\n"),
            (name, kind, "ok.yaml"),
        ]))
        .unwrap_err();
        assert!(
            e.contains(&format!("{name:?}")) && e.contains(why),
            "{name}: {e}"
        );
    }
}

#[test]
fn a_layer_that_is_not_a_gzipped_tarball_is_refused_saying_what_to_push() {
    let pulled = Pulled {
        digest: "sha256:00".into(),
        media_type: "application/octet-stream".into(),
        bytes: b"kind: ConfigMap\n".to_vec(),
    };
    let e = untar(&pulled).unwrap_err();
    assert!(
        e.contains("not a gzipped tarball") && e.contains("flux push artifact"),
        "{e}"
    );
}

#[test]
fn the_revision_is_the_tag_at_the_digest_or_the_digest_followed() {
    let tagged = Revision {
        image: "r.example/app".into(),
        tag: Some("1.2.0".into()),
        digest: "sha256:ab".into(),
    };
    assert_eq!(tagged.flux(), "1.2.0@sha256:ab");
    let pinned = Revision {
        tag: None,
        ..tagged
    };
    assert_eq!(pinned.flux(), "sha256:ab");
}

#[test]
fn credentials_come_from_the_docker_config_and_the_ca_from_ca_crt() {
    let repo = OciRepository::parse(&serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "app", "namespace": "apps"},
        "spec": {"url": "oci://r.example/app", "interval": "1m",
                 "secretRef": {"name": "login"}, "certSecretRef": {"name": "ca"}},
    }))
    .unwrap();
    let read = |field: &str, name: &str| -> Result<BTreeMap<String, Secret>, String> {
        Ok(match (field, name) {
            ("spec.secretRef", "login") => BTreeMap::from([(
                ".dockerconfigjson".to_owned(),
                Secret::new(r#"{"auths":{"r.example":{"username":"u","password":"p"}}}"#),
            )]),
            _ => BTreeMap::from([("ca.crt".to_owned(), Secret::new("PEM"))]),
        })
    };
    let a = access(&repo, read).unwrap();
    assert_eq!(a.basic.as_ref().map(|(u, _)| u.as_str()), Some("u"));
    assert_eq!(a.ca.as_deref(), Some(b"PEM".as_slice()));
    let none =
        |_: &str, _: &str| -> Result<BTreeMap<String, Secret>, String> { Ok(BTreeMap::new()) };
    let e = access(&repo, none).unwrap_err();
    assert!(e.contains("apps/login has no .dockerconfigjson"), "{e}");
}
