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
