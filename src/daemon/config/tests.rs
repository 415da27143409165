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

#[test]
fn validation_reports_every_problem_with_its_flag() {
    let args = RunArgs {
        semver: Some("not a range".into()),
        cluster: Some("minikube".into()),
        metrics_provider: Some("datadog".into()),
        mesh_provider: Some("envoy".into()),
        interval: Some("soon".into()),
        forge: Some("sourcehut".into()),
        password_file: Some("/nonexistent/password".into()),
        ..RunArgs::default()
    };
    let problems = validate(&args, &Environment::default()).unwrap_err().0;
    for flag in [
        "--repo",
        "--semver",
        "--cluster",
        "--metrics-provider",
        "--mesh-provider",
        "--interval",
        "--forge \"sourcehut\"",
        "--forge needs --forge-repo",
        "--forge needs --forge-token-file",
        "--password-file /nonexistent/password",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(flag)),
            "no problem for {flag}: {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 10, "{problems:#?}");
}

#[test]
fn valid_settings_become_domain_types() {
    let env = Environment {
        home: Some("/home/pat".into()),
        vars: [("SLACK_URL".to_owned(), "https://hooks.example/x".to_owned())].into(),
        pid: 7,
        path: None,
    };
    let args = RunArgs {
        repo: Some(format!("file://{}", std::env::temp_dir().display())),
        cluster: Some("sim:/tmp/cluster".into()),
        metrics_provider: Some("sim".into()),
        path: Some("/clusters/prod/".into()),
        write_back: Some(true),
        ..RunArgs::default()
    };
    let c = validate(&args, &env).unwrap();
    assert_eq!(
        c.cluster,
        ClusterChoice::Sim {
            dir: Some("/tmp/cluster".into())
        }
    );
    assert!(matches!(c.metrics, MetricsChoice::Sim));
    assert_eq!(c.path, "clusters/prod");
    assert_eq!(c.listen.to_string(), "127.0.0.1:9797");
    assert_eq!(c.health_listen, None);
    assert_eq!(
        c.webhook_record,
        PathBuf::from("/home/pat/.cache/fledge/webhooks/accepted")
    );
    assert_eq!(c.state_dir, PathBuf::from("/tmp/cluster"));
    assert_eq!(
        c.source.cache_dir,
        PathBuf::from("/home/pat/.cache/fledge/source")
    );
    let out = c.outcomes.unwrap();
    assert_eq!(out.branch, "main");
    assert_eq!(out.status_branch.as_deref(), Some(keys::STATUS_BRANCH));
    assert_eq!(c.global_alerts.len(), 1);
    assert_eq!(c.global_alerts[0].kind, "slack");
    // Namespaces and CRDs are pruned only when allowed, unless the flag says otherwise.
    assert!(!c.prune_guard.destructive);
    let flux_like = RunArgs {
        allow_destructive_prune: Some(true),
        ..args.clone()
    };
    assert!(validate(&flux_like, &env).unwrap().prune_guard.destructive);
    // On a real cluster the simulated metrics model requests over its real routing.
    let kube = RunArgs {
        cluster: Some("kube".into()),
        ..args
    };
    assert!(matches!(
        validate(&kube, &env).unwrap().metrics,
        MetricsChoice::Sim
    ));
}

#[test]
fn a_local_repository_that_does_not_exist_is_named_and_refused() {
    let existing = tempfile::tempdir().unwrap();
    let with = |repo: String| RunArgs {
        repo: Some(repo),
        cluster: Some("sim".into()),
        metrics_provider: Some("sim".into()),
        ..RunArgs::default()
    };
    for missing in ["./no-such-config", "file:///no/such/config.git"] {
        let problems = validate(&with(missing.into()), &Environment::default())
            .unwrap_err()
            .0;
        assert_eq!(
            problems,
            [format!(
                "--repo {missing}: no such directory; a local repository must exist (a remote one is given by its URL: https://, ssh:// or user@host:path)"
            )]
        );
    }
    for fine in [
        existing.path().display().to_string(),
        format!("file://{}", existing.path().display()),
        "https://example.com/org/config.git".into(),
        "git@example.com:org/config.git".into(),
    ] {
        assert!(
            validate(&with(fine.clone()), &Environment::default()).is_ok(),
            "{fine}"
        );
    }
}

/// How a test gives a flag its file (`p`), with any other file it needs (`full`).
type Give = fn(&mut RunArgs, PathBuf, PathBuf);

#[test]
fn every_credential_file_that_is_empty_or_unreadable_is_named_with_its_flag() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, " \n").unwrap();
    let missing = dir.path().join("missing");
    let full = dir.path().join("full");
    std::fs::write(&full, "x").unwrap();
    // Each credential flag with a file that holds nothing, then with one that is not there.
    let flags: [(&str, Give); 14] = [
        ("--password-file", |a, p, _| a.password_file = Some(p)),
        ("--ssh-key-file", |a, p, full| {
            a.ssh_key_file = Some(p);
            a.known_hosts_file = Some(full);
        }),
        ("--known-hosts-file", |a, p, full| {
            a.ssh_key_file = Some(full);
            a.known_hosts_file = Some(p);
        }),
        ("--metrics-token-file", |a, p, _| {
            a.metrics_provider = Some("prometheus".into());
            a.metrics_token_file = Some(p);
        }),
        ("--metrics-basic-auth-file", |a, p, _| {
            a.metrics_provider = Some("prometheus".into());
            a.metrics_basic_auth_file = Some(p);
        }),
        ("--github-webhook-secret-file", |a, p, _| {
            a.github_webhook_secret_file = Some(p);
        }),
        ("--gitea-webhook-secret-file", |a, p, _| {
            a.gitea_webhook_secret_file = Some(p);
        }),
        ("--gitlab-webhook-secret-file", |a, p, _| {
            a.gitlab_webhook_secret_file = Some(p);
        }),
        ("--generic-webhook-secret-file", |a, p, _| {
            a.generic_webhook_secret_file = Some(p);
        }),
        ("--api-token-file", |a, p, _| a.api_token_file = Some(p)),
        ("--forge-token-file", |a, p, _| {
            a.forge = Some("github".into());
            a.forge_repo = Some("org/config".into());
            a.forge_token_file = Some(p);
        }),
        ("--slack-url-file", |a, p, _| a.slack_url_file = Some(p)),
        ("--msteams-url-file", |a, p, _| a.msteams_url_file = Some(p)),
        ("--alert-webhook-url-file", |a, p, _| {
            a.alert_webhook_url_file = Some(p);
        }),
    ];
    for (flag, set) in flags {
        for (file, why) in [(&empty, "the file is empty"), (&missing, "No such file")] {
            let mut args = RunArgs {
                repo: Some("https://example.com/org/config.git".into()),
                cluster: Some("sim".into()),
                metrics_provider: Some("sim".into()),
                ..RunArgs::default()
            };
            set(&mut args, file.clone(), full.clone());
            let problems = validate(&args, &Environment::default()).unwrap_err().0;
            let named = format!("{flag} {}: ", file.display());
            assert!(
                problems
                    .iter()
                    .any(|p| p.starts_with(&named) && p.contains(why)),
                "{flag}: {problems:#?}"
            );
        }
    }
}

#[test]
fn the_health_listener_needs_an_address_of_its_own() {
    let args = RunArgs {
        repo: Some("https://example.com/org/config.git".into()),
        cluster: Some("kube".into()),
        metrics_provider: Some("sim".into()),
        health_listen: Some("0.0.0.0:9797".parse().unwrap()),
        ..RunArgs::default()
    };
    let problems = validate(&args, &Environment::default()).unwrap_err().0;
    assert_eq!(
        problems,
        [
            "--health-listen 0.0.0.0:9797 is --listen's address; give it an address of its own (deploy/ uses 0.0.0.0:9440)"
        ]
    );
    let apart = RunArgs {
        health_listen: Some("0.0.0.0:9440".parse().unwrap()),
        ..args
    };
    let c = validate(&apart, &Environment::default()).unwrap();
    assert_eq!(c.health_listen, Some("0.0.0.0:9440".parse().unwrap()));
}

#[test]
fn verify_flags_become_a_verification_and_their_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("ci.sshpub");
    std::fs::write(&keys, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGt1 ci\n").unwrap();
    let with = |mode: Option<&str>, keys: Option<PathBuf>, tag: Option<&str>| RunArgs {
        repo: Some("https://example.com/org/config.git".into()),
        cluster: Some("sim".into()),
        metrics_provider: Some("sim".into()),
        verify_mode: mode.map(str::to_owned),
        verify_keys: keys,
        tag: tag.map(str::to_owned),
        ..RunArgs::default()
    };
    let problems = |a: &RunArgs| validate(a, &Environment::default()).unwrap_err().0;

    let c = validate(
        &with(Some("TagAndHEAD"), Some(keys.clone()), Some("v1")),
        &Environment::default(),
    )
    .unwrap();
    let v = c.source.verify.expect("verification set");
    assert_eq!(v.mode, VerifyMode::TagAndHead);
    assert_eq!(
        format!("{:?}", v.keys),
        "Verifier { openpgp: [], ssh: [\"ci.sshpub\"], .. }"
    );
    let c = validate(
        &with(None, Some(keys.clone()), None),
        &Environment::default(),
    )
    .unwrap();
    assert_eq!(
        c.source.verify.unwrap().mode,
        VerifyMode::Head,
        "Flux's default"
    );
    assert!(
        validate(&with(None, None, None), &Environment::default())
            .unwrap()
            .source
            .verify
            .is_none()
    );

    assert_eq!(
        problems(&with(Some("head"), None, None)),
        ["--verify-mode needs --verify-keys (the trusted keys)"]
    );
    assert_eq!(
        problems(&with(Some("sometimes"), Some(keys.clone()), None)),
        ["--verify-mode \"sometimes\" is not a mode: give head, tag or tagandhead"]
    );
    let p = problems(&with(Some("tag"), Some(keys), None));
    assert!(
        p[0].starts_with("--verify-mode tag checks the signature of the tag tracked"),
        "{p:?}"
    );
    let p = problems(&with(None, Some("/nonexistent/keys".into()), None));
    assert!(
        p[0].starts_with("--verify-keys /nonexistent/keys: "),
        "{p:?}"
    );
}
