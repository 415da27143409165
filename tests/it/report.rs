//! Forge and alert clients against a local HTTP server that checks each request as the
//! vendor documents it: method, path, headers, auth and body; dedupe and truncation.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use fledge::release::spec::Severity;
use fledge::report::alerts::{self, Alert, Notifier, Target};
use fledge::report::forge::{
    CommitStatus, Forge, ForgeConfig, ForgeKind, State as St, status_of, truncate,
};
use fledge::source::Secret;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A server that records every request and answers GETs with `listing`.
async fn server(listing: Value, post_status: StatusCode, post_body: &'static str) -> (String, Log) {
    let log: Log = Arc::default();
    let l2 = log.clone();
    let app = Router::new()
        .fallback(move |State(()): State<()>, req: Request| {
            let log = l2.clone();
            let listing = listing.clone();
            async move {
                let (parts, body) = req.into_parts();
                let bytes: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                let seen = Seen {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().unwrap_or("").to_owned(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                        .collect(),
                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                };
                let get = seen.method == "GET";
                log.lock().unwrap().push(seen);
                if get {
                    (StatusCode::OK, listing.to_string())
                } else {
                    (post_status, post_body.to_owned())
                }
            }
        })
        .with_state(());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(axum::serve(l, app).into_future());
    (base, log)
}

fn config(kind: ForgeKind, api: &str, repo: &str) -> ForgeConfig {
    ForgeConfig {
        kind,
        api: api.into(),
        repo: repo.into(),
        token: Secret::new("t0ken"),
        cluster: "prod".into(),
        target_url: Some("https://dash.example.com".into()),
    }
}

fn status(state: St, description: &str) -> CommitStatus {
    CommitStatus {
        sha: "abc123".into(),
        context: "fledge/prod/shop/web".into(),
        state,
        description: description.into(),
    }
}

#[tokio::test]
async fn github_gitea_gitlab_and_bitbucket_requests_as_documented() {
    let cases = [
        (
            ForgeKind::GitHub,
            "org/config",
            "/repos/org/config/statuses/abc123",
            "Authorization",
            "Bearer t0ken",
            "pending",
            "context",
        ),
        (
            ForgeKind::Gitea,
            "org/config",
            "/api/v1/repos/org/config/statuses/abc123",
            "Authorization",
            "token t0ken",
            "pending",
            "context",
        ),
        (
            ForgeKind::GitLab,
            "group/config",
            "/api/v4/projects/group%2Fconfig/statuses/abc123",
            "PRIVATE-TOKEN",
            "t0ken",
            "running",
            "name",
        ),
        (
            ForgeKind::Bitbucket,
            "ws/config",
            "/2.0/repositories/ws/config/commit/abc123/statuses/build",
            "Authorization",
            "Bearer t0ken",
            "INPROGRESS",
            "name",
        ),
    ];
    for (kind, repo, path, auth_header, auth, pending, context_field) in cases {
        let (base, log) = server(json!([]), StatusCode::CREATED, "{}").await;
        let forge = Forge::new(config(kind, &base, repo));
        assert!(
            forge
                .post(&status(St::Pending, "canary 30% · 1/5 failed checks"))
                .await
                .unwrap()
        );
        assert!(
            !forge
                .post(&status(St::Pending, "canary 30% · 1/5 failed checks"))
                .await
                .unwrap(),
            "{kind:?}: a duplicate is not posted"
        );
        assert!(forge.post(&status(St::Success, "promoted")).await.unwrap());
        let seen = log.lock().unwrap().clone();
        let posts: Vec<&Seen> = seen.iter().filter(|s| s.method == "POST").collect();
        assert_eq!(posts.len(), 2, "{kind:?}: {seen:#?}");
        let p = posts[0];
        // GitLab's path is percent-encoded in the request line.
        assert_eq!(p.path.replace("%2f", "%2F"), path, "{kind:?}");
        assert_eq!(p.header(auth_header), Some(auth), "{kind:?}");
        assert_eq!(p.body["state"], pending, "{kind:?}");
        assert_eq!(p.body[context_field], "fledge/prod/shop/web", "{kind:?}");
        assert_eq!(p.body["description"], "canary 30% · 1/5 failed checks");
        if kind == ForgeKind::GitHub {
            assert_eq!(p.header("Accept"), Some("application/vnd.github+json"));
            assert_eq!(p.header("X-GitHub-Api-Version"), Some("2022-11-28"));
            assert_eq!(p.body["target_url"], "https://dash.example.com");
        }
        if kind == ForgeKind::Bitbucket {
            let key = p.body["key"].as_str().unwrap();
            assert_eq!(key.len(), 40, "Bitbucket keys are at most 40 characters");
            assert_eq!(posts[1].body["state"], "SUCCESSFUL");
        }
        assert_eq!(p.header("content-type"), Some("application/json"));
    }
}

#[tokio::test]
async fn the_forges_own_latest_status_prevents_a_repost_after_a_restart() {
    let listing = json!([{"context": "fledge/prod/shop/web", "state": "pending", "description": "canary 10% · 0/5 failed checks"},
                         {"context": "other", "state": "failure", "description": "x"}]);
    let (base, log) = server(listing, StatusCode::CREATED, "{}").await;
    let forge = Forge::new(config(ForgeKind::GitHub, &base, "org/config"));
    assert!(
        !forge
            .post(&status(St::Pending, "canary 10% · 0/5 failed checks"))
            .await
            .unwrap()
    );
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/repos/org/config/commits/abc123/statuses");
    assert_eq!(seen[0].query, "per_page=50");
}

#[tokio::test]
async fn gitlab_refusing_a_same_state_transition_is_not_an_error() {
    let (base, _) = server(
        json!([]),
        StatusCode::BAD_REQUEST,
        r#"{"message":"Cannot transition status via :run from :running"}"#,
    )
    .await;
    let forge = Forge::new(config(ForgeKind::GitLab, &base, "group/config"));
    assert!(
        !forge
            .post(&status(St::Pending, "canary 20%"))
            .await
            .unwrap()
    );
    let (base, _) = server(json!([]), StatusCode::UNAUTHORIZED, "bad token").await;
    let forge = Forge::new(config(ForgeKind::Gitea, &base, "org/config"));
    let e = forge
        .post(&status(St::Pending, "x"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("401") && !e.contains("t0ken"), "{e}");
}

#[test]
fn descriptions_are_cut_to_140_characters_and_views_map_to_states() {
    let long = "é".repeat(300);
    let t = truncate(&long, 140);
    assert_eq!(t.chars().count(), 140);
    assert!(t.ends_with('…'));
    let view = |phase: &str| fledge::release::ReleaseView {
        namespace: "shop".into(),
        name: "web".into(),
        target: "web".into(),
        strategy: "canary".into(),
        phase: phase.into(),
        canary_weight: 30,
        max_weight: 50,
        failed_checks: 1,
        threshold: 5,
        iterations: 0,
        max_iterations: 0,
        canary_revision: Some("r".into()),
        primary_revision: None,
        source_commit: Some("abc".into()),
        last_transition_time: String::new(),
        message: long.clone(),
        fast_rollback: false,
        last_failed_check: None,
        reason: fledge::release::state::ReleaseReason::Progressing,
        halted: None,
        error: None,
    };
    let s = status_of(&view("Progressing"), "prod").unwrap();
    assert_eq!(
        (s.state, s.description.as_str(), s.context.as_str()),
        (
            St::Pending,
            "canary 30% · 1/5 failed checks",
            "fledge/prod/shop/web"
        )
    );
    assert_eq!(
        status_of(&view("Succeeded"), "prod").unwrap().state,
        St::Success
    );
    let failed = status_of(&view("Failed"), "prod").unwrap();
    assert_eq!(failed.state, St::Failure);
    assert_eq!(failed.description.chars().count(), 140);
}

#[tokio::test]
async fn alerts_use_flaggers_payloads() {
    let alert = Alert {
        object: "web.shop".into(),
        message: "Failed checks threshold reached 5".into(),
        severity: Severity::Error,
        fields: vec![("Target".into(), "Deployment/web.shop".into())],
    };
    for kind in ["slack", "discord", "rocket", "msteams", "gchat", "generic"] {
        let (base, log) = server(json!([]), StatusCode::OK, "ok").await;
        let target = Target {
            kind: kind.into(),
            address: format!("{base}/hook"),
            token: Some("tok".into()),
            channel: "ops".into(),
            username: "fledge".into(),
            proxy: None,
        };
        Notifier::default().send(&target, &alert).await.unwrap();
        let seen = log.lock().unwrap()[0].clone();
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.header("Authorization"), Some("Bearer tok"));
        let b = &seen.body;
        match kind {
            "slack" | "discord" | "rocket" => {
                assert_eq!(
                    seen.path,
                    if kind == "discord" {
                        "/hook/slack"
                    } else {
                        "/hook"
                    }
                );
                assert_eq!(
                    (
                        b["channel"].as_str(),
                        b["username"].as_str(),
                        b["icon_emoji"].as_str()
                    ),
                    (Some("ops"), Some("fledge"), Some(":rocket:"))
                );
                let a = &b["attachments"][0];
                assert_eq!(
                    a["color"],
                    if kind == "rocket" {
                        "#FF0000"
                    } else {
                        "danger"
                    }
                );
                assert_eq!(
                    (a["author_name"].as_str(), a["text"].as_str()),
                    (Some("web.shop"), Some("Failed checks threshold reached 5"))
                );
                assert_eq!(
                    a["fields"][0],
                    json!({"title": "Target", "value": "Deployment/web.shop", "short": false})
                );
            }
            "msteams" => {
                assert_eq!(
                    (
                        b["@type"].as_str(),
                        b["themeColor"].as_str(),
                        b["summary"].as_str()
                    ),
                    (Some("MessageCard"), Some("FF0000"), Some("web.shop"))
                );
                assert_eq!(
                    b["sections"][0]["facts"][0],
                    json!({"name": "Target", "value": "Deployment/web.shop"})
                );
            }
            "gchat" => {
                assert_eq!(b["cards"][0]["header"]["subtitle"], "web.shop");
                assert!(
                    b["cards"][0]["sections"][1]["widgets"][0]["textParagraph"]["text"]
                        .as_str()
                        .unwrap()
                        .starts_with("Target<br>")
                );
            }
            _ => assert_eq!(b["severity"], "error"),
        }
    }
    // Severity routing: info hears everything, error only errors, no severity hears nothing.
    assert!(alerts::receives(Some(Severity::Info), Severity::Warn));
    assert!(!alerts::receives(Some(Severity::Error), Severity::Warn));
    assert!(alerts::receives(Some(Severity::Warn), Severity::Error));
    assert!(!alerts::receives(None, Severity::Error));
    // A failing endpoint is an error that does not show the address (it holds the secret).
    let target = Target {
        kind: "slack".into(),
        address: "http://127.0.0.1:1/T000/B000/secret".into(),
        token: None,
        channel: "c".into(),
        username: "u".into(),
        proxy: None,
    };
    let e = Notifier::default().send(&target, &alert).await.unwrap_err();
    assert!(!e.contains("secret"), "{e}");
}

#[tokio::test]
async fn alerts_go_through_the_providers_proxy() {
    let (proxy, log) = server(json!([]), StatusCode::OK, "ok").await;
    let alert = Alert {
        object: "web.shop".into(),
        message: "Canary is waiting for approval.".into(),
        severity: Severity::Warn,
        fields: Vec::new(),
    };
    // The address does not resolve: only the proxy can deliver it.
    let mut target = Target {
        kind: "slack".into(),
        address: "http://hooks.slack.invalid/services/T0/B0/x".into(),
        token: None,
        channel: "ops".into(),
        username: "fledge".into(),
        proxy: None,
    };
    assert!(Notifier::default().send(&target, &alert).await.is_err());
    assert!(log.lock().unwrap().is_empty());
    target.proxy = Some(proxy);
    Notifier::default().send(&target, &alert).await.unwrap();
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.header("host"), Some("hooks.slack.invalid"));
    assert_eq!(seen.path, "/services/T0/B0/x");
    assert_eq!(seen.body["channel"], "ops");
    // A proxy that is not a URL is an error naming neither it nor the address.
    target.proxy = Some("http://user:pw@[bad".into());
    let e = Notifier::default().send(&target, &alert).await.unwrap_err();
    assert!(e.starts_with("slack alert: proxy"), "{e}");
    assert!(!e.contains("pw"), "{e}");
}
