use super::*;

#[test]
fn join_normalises_and_refuses_escape() {
    assert_eq!(join("a/b", "../c/./d.yaml").as_deref(), Some("a/c/d.yaml"));
    assert_eq!(join("", "x").as_deref(), Some("x"));
    assert_eq!(join("a", "../..").as_deref(), None);
    assert_eq!(join("a", "/etc/passwd"), None);
}

#[test]
fn within() {
    assert!(is_within("a/b", "a"));
    assert!(!is_within("ab/c", "a"));
    assert!(is_within("x", ""));
}

#[test]
fn mem_files_list_dirs() {
    let mut m = MemFiles::new();
    m.insert("a/x.yaml", "1");
    m.insert("a/b/y.yaml", "2");
    assert_eq!(m.entry("a"), Some(Entry::Dir));
    assert_eq!(m.entry("a/x.yaml"), Some(Entry::File));
    assert_eq!(m.entry("b"), None);
    assert_eq!(m.list("a").unwrap(), vec!["b", "x.yaml"]);
}

#[test]
fn mem_files_read_symlinks_as_a_checkout_does_and_mark_those_that_leave() {
    let mut m = MemFiles::new();
    m.insert("base/cm.yaml", "cm");
    m.insert("base/deep/x.yaml", "x");
    m.link(&[
        ("app/cm.yaml".into(), "../base/cm.yaml".into()),
        ("app/chain.yaml".into(), "cm.yaml".into()),
        ("app/base".into(), "../base".into()),
        ("app/passwd.yaml".into(), "/etc/passwd".into()),
        ("app/up.yaml".into(), "../../x.yaml".into()),
        ("app/dangling.yaml".into(), "nothing.yaml".into()),
    ]);
    assert_eq!(m.read("app/cm.yaml").unwrap(), b"cm");
    assert_eq!(m.read("app/chain.yaml").unwrap(), b"cm");
    assert_eq!(m.read("app/base/deep/x.yaml").unwrap(), b"x");
    for out in ["app/passwd.yaml", "app/up.yaml"] {
        assert_eq!(m.entry(out), None);
        assert!(m.leaves_root(out), "{out}");
    }
    assert!(!m.leaves_root("app/dangling.yaml"));
    // kustomize's root-only rule looks through links, as on disk.
    assert!(!m.really_within("app/cm.yaml", "app"));
    assert!(!m.really_within("app/chain.yaml", "app"));
    assert!(m.really_within("app/base/deep/x.yaml", "app/base"));
    assert!(!m.really_within("app/base/deep/x.yaml", "app"));
    assert!(m.really_within("base/cm.yaml", "base"));
    assert_eq!(m.entry("app/dangling.yaml"), None);
    // Listed, so that a plain folder says what it cannot read.
    assert_eq!(
        m.list("app").unwrap(),
        ["base", "chain.yaml", "cm.yaml", "passwd.yaml", "up.yaml"]
    );
}

#[test]
fn symlink_loops_are_named_in_a_git_tree_as_on_disk() {
    let links = [
        ("self.yaml", "self.yaml"),
        ("a.yaml", "b.yaml"),
        ("b.yaml", "a.yaml"),
        ("d1", "d2"),
        ("d2", "d1"),
        ("via.yaml", "d1/x.yaml"),
        ("ok", "real"),
        ("dangling.yaml", "none.yaml"),
    ];
    let mut m = MemFiles::new();
    m.insert("real/x.yaml", "x");
    m.link(
        &links
            .iter()
            .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
            .collect::<Vec<_>>(),
    );
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("real")).unwrap();
    std::fs::write(t.path().join("real/x.yaml"), "x").unwrap();
    for (p, target) in links {
        std::os::unix::fs::symlink(target, t.path().join(p)).unwrap();
    }
    let d = DiskFiles::new(t.path()).unwrap();
    for files in [&m as &dyn Files, &d] {
        for (path, link) in [
            ("self.yaml", "self.yaml"),
            ("a.yaml", "a.yaml"),
            ("d1", "d1"),
            ("d1/x.yaml", "d1"),
            ("via.yaml", "via.yaml"),
        ] {
            assert_eq!(files.entry(path), None, "{path}");
            assert_eq!(files.link_loop(path).as_deref(), Some(link), "{path}");
        }
        for fine in ["ok/x.yaml", "real/x.yaml", "dangling.yaml", "nothing.yaml"] {
            assert_eq!(files.link_loop(fine), None, "{fine}");
        }
        // Listed, so that a plain folder says what it cannot read.
        assert!(files.list("").unwrap().contains(&"self.yaml".to_owned()));
    }
}

#[test]
fn one_render_from_the_filesystem_root_tells_how_far_the_root_must_widen() {
    let t = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let p = t.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("base/kustomization.yaml", "resources: [cm.yaml]\n");
    write(
        "base/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
    );
    write(
        "overlays/prod/kustomization.yaml",
        "resources: [../../base]\n",
    );
    let prod = t.path().join("overlays/prod").canonicalize().unwrap();
    let rel = prod.to_str().unwrap().trim_start_matches('/');
    let render = || {
        let files = DiskFiles::widening_from(&prod).unwrap();
        let objects = crate::render::render(&files, rel).unwrap();
        (objects.len(), files.widening().unwrap().levels())
    };
    assert_eq!(render(), (1, Some(2)));

    // A file that a symlink takes above the directory its name is in: a narrower root answers
    // "not there", so one render cannot tell what the loop would have made.
    write(
        "elsewhere/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n",
    );
    write(
        "overlays/prod/kustomization.yaml",
        "resources: [../../base, link.yaml]\n",
    );
    std::os::unix::fs::symlink(
        t.path().join("elsewhere/cm.yaml"),
        t.path().join("overlays/prod/link.yaml"),
    )
    .unwrap();
    let files = DiskFiles::widening_from(&prod).unwrap();
    let _ = crate::render::render(&files, rel);
    assert_eq!(files.widening().unwrap().levels(), None);
}
