//! The pure parts of the senders against the cases in notification-controller's
//! `internal/notifier/util_test.go`.

use super::git::{commit_of, parse_git_address, split_camel_case};

#[test]
fn git_addresses_parse_as_flux_parses_them() {
    for (addr, host, id) in [
        (
            "https://github.com/foo/bar",
            "https://github.com",
            "foo/bar",
        ),
        (
            "https://github.com/foo/bar.git",
            "https://github.com",
            "foo/bar",
        ),
        (
            "ssh://git@github.com/foo/bar.git",
            "https://github.com",
            "foo/bar",
        ),
        (
            "git@github.com:foo/bar.git",
            "https://github.com",
            "foo/bar",
        ),
        (
            "https://gitlab.com/foo/bar/baz",
            "https://gitlab.com",
            "foo/bar/baz",
        ),
        (
            "http://localhost:3000/foo/bar",
            "http://localhost:3000",
            "foo/bar",
        ),
    ] {
        assert_eq!(
            parse_git_address(addr),
            Some((host.to_owned(), id.to_owned())),
            "{addr}"
        );
    }
}

#[test]
fn reasons_split_at_camel_case_as_go_does() {
    for (reason, want) in [
        (
            "ReconciliationSucceeded",
            vec!["Reconciliation", "Succeeded"],
        ),
        ("PDFLoader", vec!["PDF", "Loader"]),
        ("HealthCheckFailed", vec!["Health", "Check", "Failed"]),
        ("v2Ready", vec!["v", "2", "Ready"]),
    ] {
        assert_eq!(split_camel_case(reason), want, "{reason}");
    }
}

#[test]
fn revisions_give_their_commit() {
    let sha1 = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738";
    for rev in [
        format!("main@sha1:{sha1}"),
        format!("feature/x@sha1:{sha1}"),
        format!("main/{sha1}"),
        sha1.to_owned(),
    ] {
        assert_eq!(commit_of(&rev).as_deref(), Some(sha1), "{rev}");
    }
    assert_eq!(commit_of("main@sha1:abc"), None);
}
