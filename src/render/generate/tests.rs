use super::*;

struct NoFiles;
impl Source for NoFiles {
    fn read(&self, r: &str) -> Result<Vec<u8>, String> {
        Err(format!("{r}: no files here"))
    }
}

#[test]
fn configmap_hash_matches_kustomize() {
    // From kustomize's configGeneration example: these literals hash to 5276h4th55 (the
    // suffix the example asserts), whatever the ConfigMap's name.
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "staging-the-map-v1"},
        "data": {"altGreeting": "Have a pineapple!", "enableRisky": "true"}});
    assert_eq!(name_hash(&obj), "5276h4th55");
}

#[test]
fn literals_and_options() {
    let args = GeneratorArgs {
        name: "cm".into(),
        literals: vec!["a=1".into(), "b=\"quoted\"".into()],
        options: Some(GeneratorOptions {
            disable_name_suffix_hash: Some(true),
            ..GeneratorOptions::default()
        }),
        ..GeneratorArgs::default()
    };
    let (obj, hash) = generate(Kind::ConfigMap, &args, None, &NoFiles).unwrap();
    assert!(!hash);
    assert_eq!(obj["data"], json!({"a": "1", "b": "quoted"}));
    let dup = GeneratorArgs {
        literals: vec!["a=1".into(), "a=2".into()],
        ..args
    };
    assert!(generate(Kind::ConfigMap, &dup, None, &NoFiles).is_err());
}

#[test]
fn secrets_are_base64() {
    let args = GeneratorArgs {
        name: "s".into(),
        literals: vec!["password=hunter2".into()],
        ..GeneratorArgs::default()
    };
    let (obj, hash) = generate(Kind::Secret, &args, None, &NoFiles).unwrap();
    assert!(hash);
    assert_eq!(obj["data"]["password"], "aHVudGVyMg==");
    assert_eq!(obj["type"], "Opaque");
}

#[test]
fn env_files() {
    let parsed = parse_env("# c\n\nA=1\n  B=x=y\n", "f.env").unwrap();
    assert_eq!(
        parsed,
        vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
    );
    assert_eq!(
        parse_env("NOVALUE\n", "f.env").unwrap(),
        vec![("NOVALUE".into(), String::new())]
    );
    assert!(parse_env("BAD KEY=1\n", "f.env").is_err());
}
