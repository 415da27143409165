use super::*;

#[test]
fn porcelain_outcomes() {
    let ok = "To /srv/r.git\n \tabc:refs/heads/main\t0123..4567\nDone\n";
    assert_eq!(
        parse_porcelain(ok, "refs/heads/main"),
        Some(PushResult::Accepted)
    );
    let nff = "To /srv/r.git\n!\tabc:refs/heads/main\t[rejected] (fetch first)\nDone\n";
    assert_eq!(
        parse_porcelain(nff, "refs/heads/main"),
        Some(PushResult::NonFastForward)
    );
    let hook = "To /srv/r.git\n!\tabc:refs/heads/main\t[remote rejected] (pre-receive hook declined)\nDone\n";
    assert_eq!(
        parse_porcelain(hook, "refs/heads/main"),
        Some(PushResult::Rejected(
            "[remote rejected] (pre-receive hook declined)".into()
        ))
    );
    assert_eq!(parse_porcelain(ok, "refs/heads/other"), None);
    let locked = "To /srv/r.git\n!\tabc:refs/heads/main\t[remote rejected] (cannot lock ref 'refs/heads/main': is at 1 but expected 2)\nDone\n";
    assert_eq!(
        parse_porcelain(locked, "refs/heads/main"),
        Some(PushResult::NonFastForward)
    );
}
