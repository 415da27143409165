use super::*;

fn model() -> Model {
    let mut m = Model::default();
    for (k, v) in [
        ("namespace", "prod"),
        ("target", "web"),
        ("interval", "1m"),
        ("ingress", "web"),
        ("service", "web"),
    ] {
        m.functions.insert(k, v.into());
    }
    m.variables.insert("reporter".into(), "source".into());
    m
}

#[test]
fn renders_flaggers_queries() {
    let q = r#"sum(rate(x{namespace="{{ namespace }}",pod=~"{{target}}-.*",reporter="{{ variables.reporter }}"}[{{ interval }}]))"#;
    assert_eq!(
        render(q, &model()).unwrap(),
        r#"sum(rate(x{namespace="prod",pod=~"web-.*",reporter="source"}[1m]))"#
    );
    let q =
        "a\n  {{- $route := printf \"kube_%s__%s_canary\" namespace ingress }}\n  b{{ $route }}";
    assert_eq!(render(q, &model()).unwrap(), "a\n  bkube_prod__web_canary");
}

#[test]
fn unknown_names_are_errors() {
    assert!(
        render("{{ nope }}", &model())
            .unwrap_err()
            .contains("\"nope\" not defined")
    );
    assert!(
        render("{{ variables.missing }}", &model())
            .unwrap_err()
            .contains("templateVariables")
    );
    assert!(
        render("{{ namespace", &model())
            .unwrap_err()
            .contains("unclosed")
    );
}
