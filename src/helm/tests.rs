use super::*;

fn hook(path: &str, events: &[&str]) -> Hook {
    Hook {
        name: path.to_owned(),
        kind: "Pod".to_owned(),
        path: path.to_owned(),
        manifest: format!("kind: Pod\nmetadata:\n  name: {path}"),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        weight: 0,
        delete_policies: Vec::new(),
    }
}

#[test]
fn template_text_is_helm_templates_stream() {
    let r = Rendered {
        chart: None,
        manifest: "---\n# Source: c/templates/a.yaml\nkind: A\n\n".to_owned(),
        hooks: vec![
            hook("c/templates/t.yaml", &["test"]),
            hook("c/templates/j.yaml", &["pre-install", "pre-upgrade"]),
        ],
        notes: String::new(),
    };
    assert!(r.hooks[0].is_test() && !r.hooks[1].is_test());
    assert_eq!(
        r.template_text(false),
        "---\n# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/j.yaml\nkind: Pod\nmetadata:\n  name: c/templates/j.yaml\n"
    );
    assert!(
        r.template_text(true)
            .contains("# Source: c/templates/t.yaml")
    );
}
