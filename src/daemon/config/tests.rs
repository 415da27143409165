use super::*;

#[test]
fn the_config_file_fills_every_setting_the_flags_leave_unset() {
    let cm: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/config.yaml"))
            .unwrap(),
    )
    .unwrap();
    let text = cm["data"]["config.yaml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, text).unwrap();
    let file: RunArgs = serde_yaml::from_str(text).unwrap();
    let flags = RunArgs {
        config: Some(path.clone()),
        branch: Some("release".into()),
        ..RunArgs::default()
    };
    let merged = flags.merged().unwrap();
    // Flags win; everything else is the file's, forge and cluster name included.
    assert_eq!(merged.branch.as_deref(), Some("release"));
    assert_eq!(merged.forge.as_deref(), Some("github"));
    assert_eq!(merged.cluster_name.as_deref(), Some("production"));
    assert_eq!(
        merged,
        RunArgs {
            config: Some(path),
            branch: Some("release".into()),
            ..file
        }
    );
}
