//! Cases ported from Flux: `fluxcd/pkg/envsubst` v1.7.1 `eval_test.go` (as JSON) and
//! `fluxcd/pkg/kustomize` v1.35.7 `kustomize_varsub_test.go` (its testdata), Apache-2.0, under
//! `tests/data/flux/`; and the reading back of the substituted text as Flux reads it.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::envsubst::{self, EvalError};
use super::*;
use crate::render::flux::{self, FluxOverlay};
use crate::render::{DiskFiles, yaml};

fn data(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/flux")
        .join(rel)
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn flux_envsubst_expand_table() {
    let table: Value =
        serde_json::from_str(&std::fs::read_to_string(data("envsubst/eval_test.json")).unwrap())
            .unwrap();
    for case in table["TestExpand"].as_array().unwrap() {
        let params: BTreeMap<String, String> =
            serde_json::from_value(case["params"].clone()).unwrap();
        let input = case["input"].as_str().unwrap();
        let got = envsubst::eval(input, &|n| Some(params.get(n).cloned().unwrap_or_default()));
        assert_eq!(
            got.as_deref(),
            Ok(case["output"].as_str().unwrap()),
            "{input}"
        );
    }
    for case in table["TestExpandStrict"].as_array().unwrap() {
        let params: BTreeMap<String, String> =
            serde_json::from_value(case["params"].clone()).unwrap();
        let input = case["input"].as_str().unwrap();
        let got = envsubst::eval(input, &|n| params.get(n).cloned());
        if case.get("error").is_some() {
            assert!(matches!(got, Err(EvalError::NotSet(_))), "{input}: {got:?}");
        } else {
            assert_eq!(
                got.as_deref(),
                Ok(case["output"].as_str().unwrap()),
                "{input}"
            );
        }
    }
}

#[test]
fn envsubst_quirks() {
    let vars = map(&[("a", "x"), ("e", "")]);
    let eval = |t: &str| envsubst::eval(t, &|n| Some(vars.get(n).cloned().unwrap_or_default()));
    // `$$` is one dollar anywhere in text; `$${a}` is the literal expression.
    assert_eq!(eval("$${a} $$a $a ${a}").unwrap(), "${a} $a $a x");
    assert_eq!(eval("$$${a}").unwrap(), "$x");
    // Every "default" operator means: the default when empty.
    for op in [":=", "=", ":-", ":?", ":+"] {
        assert_eq!(eval(&format!("${{e{op}d}}")).unwrap(), "d", "{op}");
        assert_eq!(eval(&format!("${{a{op}d}}")).unwrap(), "x", "{op}");
    }
    // Without the colon only `=` is an operator.
    for op in ["-", "?", "+"] {
        assert_eq!(
            eval(&format!("${{a{op}d}}")),
            Err(EvalError::Parse(envsubst::ParseError::MissingClosingBrace)),
            "{op}"
        );
    }
    // Names may hold Unicode letters and start with a digit; a dot ends nothing.
    assert_eq!(eval("${1a}").unwrap(), "");
    assert_eq!(
        envsubst::eval("${a.b}", &|_| Some(String::new())),
        Err(EvalError::Parse(envsubst::ParseError::MissingClosingBrace))
    );
    assert_eq!(
        envsubst::eval("${}", &|_| Some(String::new())),
        Err(EvalError::Parse(envsubst::ParseError::VariableName))
    );
    // A default may hold an expression; in strict mode its unset variable is an error.
    let strict = |t: &str| envsubst::eval(t, &|n| vars.get(n).cloned());
    assert_eq!(strict("${e:=${a}}").unwrap(), "x");
    assert_eq!(
        strict("${a:=${nope}}"),
        Err(EvalError::NotSet("nope".into()))
    );
}

fn cm(data: &[(&str, &str)]) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>()})
}

fn inline(pairs: &[(&str, &str)]) -> PostBuild {
    PostBuild {
        substitute: map(pairs),
        ..PostBuild::default()
    }
}

#[test]
fn substituted_text_is_read_back_as_flux_reads_it() {
    let obj = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": "${n}", "a": "${on}", "b": "${oct}", "c": "${under}",
                 "d": "${float}", "e": "\"${n}\"", "f": "${big}", "g": "${ts}", "h": "${null}",
                 "i": "x-${n}", "j": "${exp}", "k": 1.5},
    });
    // The emitter writes `replicas: ${n}` unquoted; substitution happens on that text.
    let pb = inline(&[
        ("n", "3"),
        ("on", "on"),
        ("oct", "0777"),
        ("under", "1_000"),
        ("float", "2.0"),
        ("big", "12345678901234567890"),
        ("ts", "2001-12-14"),
        ("null", "~"),
        ("exp", "1e3"),
    ]);
    let out = substitute(vec![obj], &pb).unwrap();
    let s = &out[0]["spec"];
    assert_eq!(s["replicas"], json!(3));
    assert_eq!(s["a"], json!(true));
    assert_eq!(s["b"], json!(511));
    assert_eq!(s["c"], json!(1000));
    assert_eq!(s["d"], json!(2));
    assert_eq!(s["e"], json!("\"3\""), "a string stays a string");
    // Through float64, as kyaml reads JSON.
    assert_eq!(s["f"], json!(12_345_678_901_234_567_000_u64));
    assert_eq!(s["g"], json!("2001-12-14"));
    assert_eq!(s["h"], Value::Null);
    assert_eq!(s["i"], json!("x-3"));
    assert_eq!(s["j"], json!(1000));
    assert_eq!(s["k"], json!(1.5));
}

#[test]
fn sources_in_order_then_inline_and_line_breaks_removed() {
    let obj = cm(&[("a", "${a}"), ("b", "${b}"), ("c", "${c}")]);
    let pb = PostBuild {
        substitute: map(&[("c", "inline")]),
        substitute_from: vec![
            Source {
                kind: SourceKind::ConfigMap,
                name: "first".into(),
                optional: false,
                data: Some(map(&[("a", "first"), ("b", "first"), ("c", "first")])),
            },
            Source {
                kind: SourceKind::Secret,
                name: "second".into(),
                optional: false,
                data: Some(map(&[("b", "sec\nond")])),
            },
            Source {
                kind: SourceKind::ConfigMap,
                name: "absent".into(),
                optional: true,
                data: None,
            },
        ],
        ..PostBuild::default()
    };
    let out = substitute(vec![obj.clone()], &pb).unwrap();
    assert_eq!(
        out[0]["data"],
        json!({"a": "first", "b": "second", "c": "inline"})
    );
    assert_eq!(
        secret_values(&pb).into_iter().collect::<Vec<_>>(),
        ["second"]
    );

    let mut missing = pb.clone();
    missing.substitute_from[2].optional = false;
    let e = substitute(vec![obj.clone()], &missing).unwrap_err();
    assert!(
        matches!(&e, Error::MissingSource { kind: "ConfigMap", name } if name == "absent"),
        "{e}"
    );
    // Flux loads the sources for each object it substitutes: none, no error.
    assert!(substitute(Vec::new(), &missing).unwrap().is_empty());
}

#[test]
fn invalid_names_strict_mode_and_no_values_in_errors() {
    let obj = cm(&[("a", "${a}"), ("u", "${undefined}")]);
    let e = substitute(vec![obj.clone()], &inline(&[("a", "1"), ("bad-name", "x")])).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidName { name, .. } if name == "bad-name"),
        "{e}"
    );
    let secret = PostBuild {
        substitute_from: vec![Source {
            kind: SourceKind::Secret,
            name: "s".into(),
            optional: false,
            data: Some(map(&[("a", "hunter2")])),
        }],
        ..PostBuild::default()
    };
    let e = substitute(vec![obj.clone()], &secret).unwrap_err();
    assert_eq!(
        e,
        Error::NotSet {
            object: "ConfigMap c".into(),
            variable: "undefined".into()
        }
    );
    assert!(!e.to_string().contains("hunter2"));
    // A value that breaks the YAML is named by position, never quoted.
    let broken = PostBuild {
        substitute_from: vec![Source {
            kind: SourceKind::Secret,
            name: "s".into(),
            optional: false,
            data: Some(map(&[("a", "hunter2: [")])),
        }],
        strict: false,
        ..PostBuild::default()
    };
    let e = substitute(vec![obj.clone()], &broken).unwrap_err();
    assert!(matches!(e, Error::Yaml { .. }), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    // Not strict: an unset variable is empty.
    let mut lax = inline(&[("a", "1")]);
    lax.strict = false;
    let out = substitute(vec![obj], &lax).unwrap();
    assert_eq!(out[0]["data"]["u"], Value::Null);
}

#[test]
fn opt_out_and_no_variables() {
    let mut obj = cm(&[("a", "${a:=d}")]);
    let none = PostBuild::default();
    assert_eq!(substitute(vec![obj.clone()], &none).unwrap()[0], obj);
    let always = PostBuild {
        strategy: Strategy::Always,
        ..PostBuild::default()
    };
    assert_eq!(
        substitute(vec![obj.clone()], &always).unwrap()[0]["data"]["a"],
        "d"
    );
    obj["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/substitute": "disabled"});
    assert_eq!(substitute(vec![obj.clone()], &always).unwrap()[0], obj);
}

/// The objects Flux's own test builds from a testdata directory, substituted.
fn flux_case(dir: &str, pb: &PostBuild) -> Result<String, Error> {
    let files = DiskFiles::new(&data("pkg-kustomize")).unwrap();
    let overlay = FluxOverlay {
        post_build: Some(pb.clone()),
        ..FluxOverlay::default()
    };
    match flux::build(&files, dir, &overlay) {
        Ok(objects) => Ok(yaml::emit_stream(&objects)),
        Err(crate::render::Error::PostBuild { cause, .. }) => Err(cause),
        Err(e) => panic!("{dir}: {e}"),
    }
}

/// `testdata/configmap.yaml`'s data.
fn app_vars() -> Source {
    Source {
        kind: SourceKind::ConfigMap,
        name: "app-vars".into(),
        optional: false,
        data: Some(map(&[
            ("prometheus_scrape", "\"true\""),
            ("prometheus_port", "\"9797\""),
            ("image", "nginx:1.21.4"),
        ])),
    }
}

#[test]
fn flux_kustomization_varsub() {
    // kustomization_varsub.yaml
    let pb = PostBuild {
        substitute: map(&[("cluster_env", "prod"), ("cluster_region", "eu-central-1")]),
        substitute_from: vec![app_vars()],
        ..PostBuild::default()
    };
    let expected =
        std::fs::read_to_string(data("pkg-kustomize/kustomization_varsub_expected.yaml")).unwrap();
    assert_eq!(flux_case("resources", &pb).unwrap(), expected);

    let strict = flux_case("varsubstrict", &pb).unwrap_err();
    assert!(matches!(strict, Error::NotSet { .. }), "{strict}");
    let lax = PostBuild {
        strict: false,
        ..pb
    };
    flux_case("varsubstrict", &lax).unwrap();
}

#[test]
fn flux_kustomization_varsub_always() {
    // kustomization_varsub_novars.yaml: no postBuild variables at all.
    let none = PostBuild::default();
    let text = flux_case("varsubalways", &none).unwrap();
    assert!(text.contains("${cluster_env:=dev}"), "{text}");
    assert!(text.contains("${cluster_region:=eu-central-1}"), "{text}");
    let always = PostBuild {
        strategy: Strategy::Always,
        ..PostBuild::default()
    };
    let text = flux_case("varsubalways", &always).unwrap();
    assert!(!text.contains("${"), "{text}");
    assert!(text.contains("environment: dev"), "{text}");
    assert!(text.contains("region: eu-central-1"), "{text}");
}

#[test]
fn flux_kustomization_varsub_strict_empty_values() {
    // kustomization_varsub_empty.yaml, configmap_empty.yaml, secret_empty.yaml
    let pb = PostBuild {
        substitute: map(&[("empty_inline", "")]),
        substitute_from: vec![
            Source {
                kind: SourceKind::ConfigMap,
                name: "app-vars-empty".into(),
                optional: false,
                data: Some(map(&[("empty_cm", "")])),
            },
            Source {
                kind: SourceKind::Secret,
                name: "app-vars-empty".into(),
                optional: false,
                data: Some(map(&[("empty_secret", "")])),
            },
        ],
        ..PostBuild::default()
    };
    let text = flux_case("varsubstrictempty", &pb).unwrap();
    assert!(!text.contains("${"), "{text}");
    for l in [
        "from-inline: null",
        "from-configmap: null",
        "from-secret: null",
    ] {
        assert!(text.contains(l), "{text}");
    }
    // kustomization_varsub_dummy.yaml: the same as omitting them, not strict.
    let dummy = PostBuild {
        substitute: map(&[("dummy", "x")]),
        strict: false,
        ..PostBuild::default()
    };
    assert_eq!(flux_case("varsubstrictempty", &dummy).unwrap(), text);
}
