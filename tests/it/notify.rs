//! Flux notification Providers and Receivers against local HTTP servers standing in for the
//! SaaS endpoints: each request is checked as notification-controller v1.7.5's notifier makes it
//! (method, path, query, headers, body), HMACs are recomputed here with the `hmac` crate, and
//! Receivers verify real signatures over payloads shaped as GitHub, GitLab and Bitbucket
//! document them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::StatusCode;
use base64::Engine as _;
use fledge::flux::notification::{Event, InvolvedObject, Provider, Receiver, Severity};
use fledge::report::notify::{ProviderSecrets, Sender, Sent};
use fledge::source::Secret;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

const SHA: &str = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738";
const UID: &str = "0c9c2e41-d2f9-4f9b-9c41-2a0b4f0e5b7f";
const STATUS_ID: &str = "kustomization/podinfo/0c9c2e41";

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    raw: Vec<u8>,
}

impl Seen {
    fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
    fn body(&self) -> Value {
        serde_json::from_slice(&self.raw).unwrap_or(Value::Null)
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;
type Answer = Arc<dyn Fn(&str, &str) -> (StatusCode, String) + Send + Sync>;

/// A server that records every request and answers with `answer(method, path)`.
async fn server(answer: Answer) -> (String, Log) {
    let log: Log = Arc::default();
    let l2 = log.clone();
    let app = Router::new().fallback(move |req: Request| {
        let (log, answer) = (l2.clone(), answer.clone());
        async move {
            let (parts, body) = req.into_parts();
            let raw: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or("").to_owned(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
                raw: raw.to_vec(),
            };
            let reply = answer(&seen.method, &seen.path);
            log.lock().unwrap().push(seen);
            reply
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(axum::serve(l, app).into_future());
    (base, log)
}

fn ok(listing: &'static str) -> Answer {
    Arc::new(move |m, _| {
        if m == "GET" {
            (StatusCode::OK, listing.into())
        } else {
            (StatusCode::CREATED, "{}".into())
        }
    })
}

fn provider(kind: &str, extra: &Value) -> Provider {
    let mut spec = json!({"type": kind});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    Provider::parse(
        &json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": {"name": kind, "namespace": "flux-system"}, "spec": spec}),
    )
    .unwrap()
}

/// A Secret as the cluster returns it.
fn secret(data: &[(&str, &str)]) -> Value {
    let enc = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let data: BTreeMap<&str, String> = data.iter().map(|(k, v)| (*k, enc(v))).collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data})
}

fn event(severity: Severity, reason: &str) -> Event {
    Event {
        involved_object: InvolvedObject {
            kind: "Kustomization".into(),
            namespace: "flux-system".into(),
            name: "podinfo".into(),
            api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
            ..InvolvedObject::default()
        },
        severity,
        timestamp: "2026-01-02T15:04:05Z".into(),
        message: "Applied revision: main@sha1:5394cb7".into(),
        reason: reason.into(),
        metadata: BTreeMap::from([
            ("revision".to_owned(), format!("main@sha1:{SHA}")),
            ("summary".to_owned(), "prod".to_owned()),
        ]),
        reporting_controller: "kustomize-controller".into(),
        reporting_instance: None,
    }
}

async fn send(p: &Provider, secret_obj: Option<&Value>, e: &Event) -> Sent {
    let s = ProviderSecrets {
        secret: secret_obj,
        ..ProviderSecrets::default()
    };
    Sender::new(p, &s, UID).unwrap().post(e).await.unwrap()
}

fn hmac_sha256(key: &[u8], body: &[u8]) -> String {
    let mut m = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

#[tokio::test]
async fn slack_gets_an_attachment_with_the_bearer_token_and_sorted_fields() {
    let (base, log) = server(ok("")).await;
    let p = provider(
        "slack",
        &json!({"channel": "#ops", "address": format!("{base}/services/T/B/X")}),
    );
    let sec = secret(&[("token", "xoxb-1")]);
    assert_eq!(
        send(&p, Some(&sec), &event(Severity::Error, "HealthCheckFailed")).await,
        Sent::Posted
    );
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/services/T/B/X")
    );
    assert_eq!(seen.header("Content-Type"), Some("application/json"));
    assert_eq!(seen.header("Authorization"), Some("Bearer xoxb-1"));
    assert_eq!(
        seen.body(),
        json!({"channel": "#ops", "username": "kustomize-controller", "icon_url": "", "icon_emoji": "",
            "attachments": [{"color": "danger", "author_name": "kustomization/podinfo.flux-system",
                "text": "Applied revision: main@sha1:5394cb7", "mrkdwn_in": ["text"],
                "fields": [{"title": "revision", "value": format!("main@sha1:{SHA}"), "short": false},
                           {"title": "summary", "value": "prod", "short": false}]}]})
    );
}

#[tokio::test]
async fn discord_rocket_teams_and_google_chat_get_their_bodies() {
    let (base, log) = server(ok("")).await;
    let e = event(Severity::Info, "ReconciliationSucceeded");
    let hook = format!("{base}/api/webhooks/1/tok");
    let sec = secret(&[("address", &hook)]);
    for kind in ["discord", "rocket", "msteams", "googlechat"] {
        let p = provider(kind, &json!({"username": "flux"}));
        assert_eq!(send(&p, Some(&sec), &e).await, Sent::Posted, "{kind}");
    }
    let seen = log.lock().unwrap().clone();
    assert_eq!(
        seen[0].path, "/api/webhooks/1/tok/slack",
        "discord posts to its Slack-compatible endpoint"
    );
    assert_eq!(seen[0].body()["channel"], "");
    assert_eq!(seen[0].body()["username"], "flux");
    assert_eq!(seen[0].body()["attachments"][0]["color"], "good");
    assert_eq!(seen[1].path, "/api/webhooks/1/tok");
    assert_eq!(seen[1].body()["attachments"][0]["color"], "#0076D7");
    let card = &seen[2].body()["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let items = &card["content"]["body"][0]["items"];
    assert_eq!(items[0]["text"], "kustomization/podinfo.flux-system");
    assert_eq!(
        items[2]["facts"][0],
        json!({"title": "summary", "value": "prod"}),
        "summary first"
    );
    assert_eq!(card["content"]["version"], "1.4");
    let gchat = seen[3].body();
    assert_eq!(
        gchat["cards"][0]["header"],
        json!({"title": "kustomization/podinfo.flux-system",
        "subtitle": "kustomize-controller", "imageUrl": null, "imageStyle": null})
    );
    assert_eq!(
        gchat["cards"][0]["sections"][1]["widgets"][1]["keyValue"]["topLabel"],
        "summary"
    );
}

#[tokio::test]
async fn generic_hmac_signs_the_exact_body_and_a_receiver_accepts_it() {
    let (base, log) = server(ok("")).await;
    let sec = secret(&[
        ("address", &format!("{base}/hook")),
        ("token", "s3cret"),
        (
            "headers",
            "X-Team: ops\nAuthorization: Bearer abc\nContent-Type: application/cloudevents+json\n",
        ),
    ]);
    let e = event(Severity::Info, "ReconciliationSucceeded");
    assert_eq!(
        send(&provider("generic-hmac", &json!({})), Some(&sec), &e).await,
        Sent::Posted
    );
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.header("gotk-component"), Some("kustomize-controller"));
    assert_eq!(seen.header("X-Team"), Some("ops"));
    assert_eq!(seen.header("Authorization"), Some("Bearer abc"));
    let types: Vec<_> = seen
        .headers
        .iter()
        .filter(|(k, _)| k == "content-type")
        .collect();
    assert_eq!(
        types.len(),
        1,
        "the Secret's header replaces the default, as Go's Header.Set does"
    );
    assert_eq!(
        seen.header("Content-Type"),
        Some("application/cloudevents+json")
    );
    let want = format!("sha256={}", hmac_sha256(b"s3cret", &seen.raw));
    assert_eq!(seen.header("X-Signature"), Some(want.as_str()));
    assert_eq!(
        seen.body()["involvedObject"],
        json!({"kind": "Kustomization", "namespace": "flux-system",
        "name": "podinfo", "apiVersion": "kustomize.toolkit.fluxcd.io/v1"})
    );
    assert_eq!(seen.body()["severity"], "info");
    assert_eq!(seen.body()["reportingController"], "kustomize-controller");
    // A generic-hmac Receiver with the same token takes what the Provider sent.
    let r = receiver("generic-hmac", &json!({}));
    let h = seen.headers.clone();
    assert!(r.verify(&Secret::new("s3cret"), &h, &seen.raw).is_ok());
    assert!(r.verify(&Secret::new("other"), &h, &seen.raw).is_err());
}

#[tokio::test]
async fn github_posts_one_status_and_skips_duplicates_and_progressing() {
    let (base, log) = server(ok("[]")).await;
    let p = provider("github", &json!({"address": format!("{base}/org/app.git")}));
    let sec = secret(&[("token", "ghp_1")]);
    assert_eq!(
        send(
            &p,
            Some(&sec),
            &event(Severity::Info, "ReconciliationSucceeded")
        )
        .await,
        Sent::Posted
    );
    let seen = log.lock().unwrap().clone();
    assert_eq!(
        (
            seen[0].method.as_str(),
            seen[0].path.as_str(),
            seen[0].query.as_str()
        ),
        (
            "GET",
            format!("/api/v3/repos/org/app/commits/{SHA}/statuses").as_str(),
            "per_page=50"
        )
    );
    assert_eq!(
        (seen[1].method.as_str(), seen[1].path.as_str()),
        (
            "POST",
            format!("/api/v3/repos/org/app/statuses/{SHA}").as_str()
        )
    );
    assert_eq!(seen[1].header("Authorization"), Some("Bearer ghp_1"));
    assert_eq!(
        seen[1].body(),
        json!({"state": "success", "context": STATUS_ID, "description": "reconciliation succeeded"})
    );

    let listing = r#"[{"context":"kustomization/podinfo/0c9c2e41","state":"failure","description":"health check failed"}]"#;
    let (base, log) = server(ok(listing)).await;
    let p = provider("github", &json!({"address": format!("{base}/org/app")}));
    let sent = send(&p, Some(&sec), &event(Severity::Error, "HealthCheckFailed")).await;
    assert!(matches!(sent, Sent::Skipped(_)));
    assert!(matches!(
        send(&p, Some(&sec), &event(Severity::Info, "Progressing")).await,
        Sent::Skipped(_)
    ));
    assert_eq!(log.lock().unwrap().len(), 1, "only the listing was read");
}

#[tokio::test]
async fn gitlab_and_gitea_post_in_their_words() {
    let (base, log) = server(ok("[]")).await;
    let sec = secret(&[("token", "glpat-1")]);
    let gl = provider(
        "gitlab",
        &json!({"address": format!("{base}/group/sub/app.git")}),
    );
    send(
        &gl,
        Some(&sec),
        &event(Severity::Error, "HealthCheckFailed"),
    )
    .await;
    let gt = provider("gitea", &json!({"address": format!("{base}/org/app")}));
    send(&gt, Some(&sec), &event(Severity::Info, "Progressing")).await;
    let seen = log.lock().unwrap().clone();
    assert_eq!(
        seen[0].path,
        format!("/api/v4/projects/group%2Fsub%2Fapp/repository/commits/{SHA}/statuses")
    );
    assert_eq!(seen[0].query, "name=kustomization%2Fpodinfo%2F0c9c2e41");
    assert_eq!(
        seen[1].path,
        format!("/api/v4/projects/group%2Fsub%2Fapp/statuses/{SHA}")
    );
    assert_eq!(seen[1].header("PRIVATE-TOKEN"), Some("glpat-1"));
    assert_eq!(
        seen[1].body(),
        json!({"state": "failed", "name": STATUS_ID, "description": "health check failed"})
    );
    assert_eq!(
        seen[3].path,
        format!("/api/v1/repos/org/app/statuses/{SHA}")
    );
    assert_eq!(seen[3].header("Authorization"), Some("token glpat-1"));
    assert_eq!(
        seen[3].body(),
        json!({"state": "pending", "target_url": "", "description": "progressing", "context": STATUS_ID})
    );
}

#[tokio::test]
async fn bitbucket_cloud_and_server_and_azure_devops_post_build_statuses() {
    let answer: Answer = Arc::new(|m, _| {
        if m == "GET" {
            (StatusCode::NOT_FOUND, String::new())
        } else {
            (StatusCode::OK, "{}".into())
        }
    });
    let (base, log) = server(answer).await;
    let e = event(Severity::Info, "ReconciliationSucceeded");
    let key = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(STATUS_ID.as_bytes()));
    let bb = provider(
        "bitbucket",
        &json!({"address": "https://bitbucket.org/ws/app.git"}),
    );
    let sec = secret(&[("token", "user:app-pass")]);
    let s = ProviderSecrets {
        secret: Some(&sec),
        ..ProviderSecrets::default()
    };
    let sender = Sender::new(&bb, &s, UID)
        .unwrap()
        .with_bitbucket_api(&format!("{base}/2.0"));
    assert_eq!(sender.post(&e).await.unwrap(), Sent::Posted);
    let bbs = provider(
        "bitbucketserver",
        &json!({"address": format!("{base}/ctx/scm/PROJ/app.git")}),
    );
    send(
        &bbs,
        Some(&secret(&[("username", "u"), ("password", "p")])),
        &e,
    )
    .await;
    let ado = provider(
        "azuredevops",
        &json!({"address": format!("{base}/org/proj/_git/app")}),
    );
    send(&ado, Some(&secret(&[("token", "pat")])), &e).await;
    let seen = log.lock().unwrap().clone();
    let basic = |s: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    };
    assert_eq!(
        seen[0].path,
        format!("/2.0/repositories/ws/app/commit/{SHA}/statuses/build/{key}")
    );
    assert_eq!(
        seen[1].path,
        format!("/2.0/repositories/ws/app/commit/{SHA}/statuses/build")
    );
    assert_eq!(
        seen[1].header("Authorization"),
        Some(basic("user:app-pass").as_str())
    );
    assert_eq!(
        seen[1].body(),
        json!({"key": key, "url": "https://bitbucket.org", "state": "SUCCESSFUL",
        "name": "kustomization/podinfo", "description": "reconciliation succeeded"})
    );
    let builds = format!("/ctx/rest/api/latest/projects/PROJ/repos/app/commits/{SHA}/builds");
    assert_eq!(
        (seen[2].path.as_str(), seen[2].query.as_str()),
        (builds.as_str(), format!("key={key}").as_str())
    );
    assert_eq!(seen[3].path, builds);
    assert_eq!(seen[3].header("Authorization"), Some(basic("u:p").as_str()));
    assert_eq!(seen[3].header("x-atlassian-token"), Some("no-check"));
    assert_eq!(
        seen[3].body()["name"],
        "kustomization/podinfo [reconciliation succeeded]"
    );
    assert_eq!(
        seen[3].body()["url"],
        format!("{base}/ctx/scm/PROJ/app.git")
    );
    let statuses = format!("/org/proj/_apis/git/repositories/app/commits/{SHA}/statuses");
    assert_eq!(
        (seen[5].path.as_str(), seen[5].query.as_str()),
        (statuses.as_str(), "")
    );
    assert_eq!(
        seen[5].header("Accept"),
        Some("application/json;api-version=6.0")
    );
    assert_eq!(
        seen[5].header("Content-Type"),
        Some("application/json;charset=utf-8")
    );
    assert_eq!(
        seen[5].header("Authorization"),
        Some(basic(":pat").as_str())
    );
    assert_eq!(
        seen[5].body(),
        json!({"state": "succeeded", "description": "reconciliation succeeded",
        "context": {"genre": "fluxcd:prod", "name": STATUS_ID}})
    );
}

#[tokio::test]
async fn a_failing_endpoint_is_an_error_that_names_the_provider_not_the_address() {
    let answer: Answer = Arc::new(|_, _| (StatusCode::FORBIDDEN, "invalid_token".into()));
    let (base, _log) = server(answer).await;
    let p = provider("slack", &json!({}));
    let sec = secret(&[("address", &format!("{base}/services/T/B/SECRETPATH"))]);
    let s = ProviderSecrets {
        secret: Some(&sec),
        ..ProviderSecrets::default()
    };
    let err = Sender::new(&p, &s, UID)
        .unwrap()
        .post(&event(Severity::Info, "X"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("flux-system/slack") && err.contains("403"),
        "{err}"
    );
    assert!(!err.contains("SECRETPATH"), "{err}");
    let gh = provider("github", &json!({"address": "https://github.com/o/r"}));
    let err = Sender::new(&gh, &ProviderSecrets::default(), UID)
        .unwrap_err()
        .to_string();
    assert!(err.contains("token"), "{err}");
}

fn receiver(kind: &str, extra: &Value) -> Receiver {
    let mut spec = json!({"type": kind, "resources": [{"kind": "GitRepository", "name": "flux-system"}],
                          "secretRef": {"name": "webhook-token"}});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    Receiver::parse(
        &json!({"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
        "metadata": {"name": kind, "namespace": "flux-system"}, "spec": spec}),
    )
    .unwrap()
}

fn headers(h: &[(&str, &str)]) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A push event shaped as GitHub documents it (trimmed).
const GITHUB_PUSH: &str = r#"{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"5394cb7f48332b2de7c17dd8b8384bbc84b7e738","repository":{"id":1296269,"full_name":"octocat/Hello-World"},"pusher":{"name":"octocat","email":"octocat@github.com"},"sender":{"login":"octocat"}}"#;
const GITHUB_PING: &str = r#"{"zen":"Design for failure.","hook_id":12345678,"hook":{"type":"Repository","id":12345678,"events":["push"],"active":true}}"#;

#[test]
fn github_receivers_check_the_signature_and_the_event() {
    let token = Secret::new("it's-a-secret");
    let r = receiver("github", &json!({"events": ["push"]}));
    let sig256 = format!(
        "sha256={}",
        hmac_sha256(b"it's-a-secret", GITHUB_PUSH.as_bytes())
    );
    let push = headers(&[
        ("Content-Type", "application/json"),
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", &sig256),
    ]);
    assert_eq!(
        r.verify(&token, &push, GITHUB_PUSH.as_bytes())
            .unwrap()
            .event
            .as_deref(),
        Some("push")
    );
    assert!(
        r.verify(&Secret::new("wrong"), &push, GITHUB_PUSH.as_bytes())
            .is_err()
    );
    assert!(r.verify(&token, &push, b"{}").is_err(), "another body");
    // The older SHA-1 header alone still verifies.
    let mut m = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(b"it's-a-secret").unwrap();
    m.update(GITHUB_PING.as_bytes());
    let sig1 = format!("sha1={}", hex::encode(m.finalize().into_bytes()));
    let ping = headers(&[
        ("content-type", "application/json"),
        ("x-github-event", "ping"),
        ("x-hub-signature", &sig1),
    ]);
    let err = r.verify(&token, &ping, GITHUB_PING.as_bytes()).unwrap_err();
    assert!(
        err.to_string().contains("\"ping\" is not authorised"),
        "{err}"
    );
    let any = receiver("github", &json!({}));
    assert_eq!(
        any.verify(&token, &ping, GITHUB_PING.as_bytes())
            .unwrap()
            .event
            .as_deref(),
        Some("ping")
    );
    let unsigned = headers(&[
        ("Content-Type", "application/json"),
        ("X-GitHub-Event", "push"),
    ]);
    assert!(r.verify(&token, &unsigned, GITHUB_PUSH.as_bytes()).is_err());
    assert!(
        !r.verify(&token, &unsigned, GITHUB_PUSH.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("it's-a-secret")
    );
}

#[test]
fn github_form_encoded_payloads_are_signed_over_the_raw_body() {
    let token = Secret::new("tok");
    let body = format!(
        "payload={}",
        percent_encoding::utf8_percent_encode(GITHUB_PUSH, percent_encoding::NON_ALPHANUMERIC)
    );
    let sig = format!("sha256={}", hmac_sha256(b"tok", body.as_bytes()));
    let h = headers(&[
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", &sig),
    ]);
    assert!(
        receiver("github", &json!({}))
            .verify(&token, &h, body.as_bytes())
            .is_ok()
    );
    let xml = headers(&[("Content-Type", "text/xml"), ("X-Hub-Signature-256", &sig)]);
    assert!(
        receiver("github", &json!({}))
            .verify(&token, &xml, body.as_bytes())
            .is_err()
    );
}

/// A push hook shaped as GitLab documents it (trimmed).
const GITLAB_PUSH: &str = r#"{"object_kind":"push","event_name":"push","ref":"refs/heads/main","checkout_sha":"5394cb7f48332b2de7c17dd8b8384bbc84b7e738","project":{"id":15,"path_with_namespace":"group/app"}}"#;

#[test]
fn gitlab_receivers_compare_the_token_and_filter_events_without_case() {
    let token = Secret::new("glsecret");
    let r = receiver("gitlab", &json!({"events": ["Push Hook"]}));
    let h = |t: &str, ev: &str| headers(&[("X-Gitlab-Token", t), ("X-Gitlab-Event", ev)]);
    assert!(
        r.verify(&token, &h("glsecret", "push hook"), GITLAB_PUSH.as_bytes())
            .is_ok()
    );
    assert!(
        r.verify(
            &token,
            &h("glsecret", "Tag Push Hook"),
            GITLAB_PUSH.as_bytes()
        )
        .is_err()
    );
    assert!(
        r.verify(&token, &h("nope", "Push Hook"), GITLAB_PUSH.as_bytes())
            .is_err()
    );
}

#[test]
fn bitbucket_receivers_check_the_hub_signature_and_event_key() {
    let token = Secret::new("bbsecret");
    let body = r#"{"eventKey":"repo:refs_changed","date":"2026-01-02T15:04:05+0000","repository":{"slug":"app","project":{"key":"PROJ"}}}"#;
    let sig = format!("sha256={}", hmac_sha256(b"bbsecret", body.as_bytes()));
    let h = headers(&[
        ("Content-Type", "application/json; charset=utf-8"),
        ("X-Event-Key", "repo:refs_changed"),
        ("X-Hub-Signature", &sig),
    ]);
    let r = receiver("bitbucket", &json!({"events": ["repo:refs_changed"]}));
    assert_eq!(
        r.verify(&token, &h, body.as_bytes())
            .unwrap()
            .event
            .as_deref(),
        Some("repo:refs_changed")
    );
    let suspended = receiver("bitbucket", &json!({"suspend": true}));
    let refused = suspended.verify(&token, &h, body.as_bytes()).unwrap_err();
    assert_eq!(refused.http_status(), 503);
    let bad = r
        .verify(&Secret::new("other"), &h, body.as_bytes())
        .unwrap_err();
    assert_eq!(bad.http_status(), 400);
    assert!(
        receiver("generic", &json!({}))
            .verify(&token, &[], b"anything")
            .is_ok()
    );
}

/// Where Azure DevOps says its commit statuses are (the SDK asks `OPTIONS <org>/_apis` first),
/// with the route template its REST reference documents.
const AZURE_LOCATIONS: &str = r#"{"count":1,"value":[{"id":"428dd4fb-fda5-4722-af02-9313b80305da","area":"git","resourceName":"statuses","routeTemplate":"{project}/_apis/{area}/repositories/{repositoryId}/commits/{commitId}/{resource}","resourceVersion":1,"minVersion":"1.0","maxVersion":"6.0","releasedVersion":"6.0"}]}"#;

/// What the fake forge answers both senders: Gitea's version, no existing status (an empty
/// listing, or 404 for Bitbucket's single-status reads), and success for every POST.
fn forge_answer() -> Answer {
    Arc::new(|m, path| match m {
        "OPTIONS" if path.ends_with("/_apis") => (StatusCode::OK, AZURE_LOCATIONS.into()),
        "GET" if path.contains("/_apis/git/") => {
            (StatusCode::OK, r#"{"count":0,"value":[]}"#.into())
        }
        "GET" if path.ends_with("/api/v1/version") => {
            (StatusCode::OK, r#"{"version":"1.22.0"}"#.into())
        }
        "GET" if path.contains("/statuses/build/") || path.ends_with("/builds") => {
            (StatusCode::NOT_FOUND, "{}".into())
        }
        "GET" => (StatusCode::OK, "[]".into()),
        _ => (StatusCode::CREATED, "{}".into()),
    })
}

/// The parts of a request both must agree on: method, path, query, JSON body, and the headers
/// fledge claims to send as Flux does.
fn comparable(s: &Seen) -> (String, String, String, Value, Vec<(String, String)>) {
    let keep = [
        "content-type",
        "authorization",
        "private-token",
        "gotk-component",
        "x-team",
        "accept",
        "x-github-api-version",
        "x-atlassian-token",
        "x-requested-with",
    ];
    let mut headers: Vec<(String, String)> = s
        .headers
        .iter()
        .filter(|(k, _)| keep.contains(&k.to_lowercase().as_str()))
        // reqwest's default `Accept`, where Go's client sends none.
        .filter(|(k, v)| !(k.eq_ignore_ascii_case("accept") && v == "*/*"))
        .map(|(k, v)| (k.to_lowercase(), v.clone()))
        .collect();
    headers.sort();
    (
        s.method.clone(),
        s.path.clone(),
        s.query.clone(),
        s.body(),
        headers,
    )
}

/// A Provider's type, the path of its address, its Secret's data.
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const CASES: [Case; 13] = [
    ("slack", "/services/T/B/X", &[("token", "xoxb-1")]),
    ("discord", "/api/webhooks/1/tok", &[]),
    ("rocket", "/hooks/abc", &[]),
    ("msteams", "/workflows/abc", &[]),
    ("googlechat", "/v1/spaces/A/messages", &[]),
    ("generic", "/hook", &[("headers", "X-Team: ops\n")]),
    ("generic-hmac", "/hook", &[("token", "k3y")]),
    ("github", "/org/app.git", &[("token", "ghp_1")]),
    ("gitlab", "/group/app.git", &[("token", "glpat-1")]),
    ("gitea", "/org/app.git", &[("token", "gt-1")]),
    ("bitbucket", "/ws/app.git", &[("token", "user:pass")]),
    (
        "bitbucketserver",
        "/scm/PROJ/app.git",
        &[("token", "bbs-1")],
    ),
    ("azuredevops", "/org/proj/_git/app", &[("token", "pat")]),
];

/// The requests Flux's notifier makes for `case`, on a server of their own.
async fn flux_requests(
    answer: Answer,
    flux: &'static std::path::Path,
    case: Case,
    event: &Event,
) -> (String, Vec<Seen>) {
    let (kind, path, data) = case;
    let (base, log) = server(answer).await;
    let get = |k: &str| data.iter().find(|(n, _)| *n == k).map_or("", |(_, v)| *v);
    let headers: BTreeMap<String, String> =
        serde_yaml::from_str(get("headers")).unwrap_or_default();
    let request = json!({"type": kind, "url": format!("{base}{path}"), "token": get("token"),
        "channel": "#ops", "headers": headers, "commitStatus": STATUS_ID, "event": event});
    let bb_api = format!("{base}/2.0");
    let said = tokio::task::spawn_blocking(move || {
        super::support::ncnotify::send(flux, &request, &[("BITBUCKET_API_BASE_URL", &bb_api)])
    })
    .await
    .unwrap();
    assert_eq!(said, None, "{kind}: Flux failed");
    // fledge does not ask Gitea for its version, nor Azure DevOps for its routes, first.
    let seen = log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| !s.path.ends_with("/api/v1/version") && s.method != "OPTIONS")
        .cloned()
        .collect();
    (base, seen)
}

/// The requests fledge's sender makes for `case`, on a server of their own.
async fn fledge_requests(answer: Answer, case: Case, event: &Event) -> (String, Vec<Seen>) {
    let (kind, path, data) = case;
    let (base, log) = server(answer).await;
    let p = provider(
        kind,
        &json!({"channel": "#ops", "address": format!("{base}{path}")}),
    );
    let sec = secret(data);
    let secrets = ProviderSecrets {
        secret: Some(&sec),
        ..ProviderSecrets::default()
    };
    let sender = Sender::new(&p, &secrets, UID)
        .unwrap()
        .with_bitbucket_api(&format!("{base}/2.0"));
    sender.post(event).await.unwrap();
    let seen = log.lock().unwrap().clone();
    (base, seen)
}

#[tokio::test]
async fn each_provider_sends_what_notification_controller_sends() {
    let Some(flux) = super::support::ncnotify::or_skip() else {
        return;
    };
    let mut failed = event(Severity::Error, "HealthCheckFailed");
    // One metadata key: Go ranges over maps in random order.
    failed.metadata = BTreeMap::from([("revision".to_owned(), format!("main@sha1:{SHA}"))]);
    let progressing = Event {
        severity: Severity::Info,
        reason: "Progressing".into(),
        ..failed.clone()
    };
    for (case, event) in CASES
        .iter()
        .flat_map(|c| [(*c, &failed), (*c, &progressing)])
    {
        compare(flux, forge_answer, case, event).await;
    }
}

/// Sends `event` for `case` through Flux's notifier and fledge's sender, each to a server
/// answering as `answer` does, and asserts they made the same requests; the requests made.
async fn compare(
    flux: &'static std::path::Path,
    answer: fn() -> Answer,
    case: Case,
    event: &Event,
) -> Vec<Seen> {
    let kind = case.0;
    let (flux_base, theirs) = flux_requests(answer(), flux, case, event).await;
    let (base, ours) = fledge_requests(answer(), case, event).await;
    let why = &event.reason;
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{kind} {why}: {ours:#?}\n{theirs:#?}"
    );
    for (o, t) in ours.iter().zip(&theirs) {
        let (mut a, b) = (comparable(o), comparable(t));
        // Bitbucket Server's status `url` is the Provider's address: each its own server's.
        a.3 = serde_json::from_str(&a.3.to_string().replace(&base, &flux_base)).unwrap();
        assert_eq!(a, b, "{kind} {why}");
    }
    if kind == "generic-hmac" {
        for s in ours.iter().chain(&theirs) {
            let want = format!("sha256={}", hmac_sha256(b"k3y", &s.raw));
            assert_eq!(s.header("X-Signature"), Some(want.as_str()));
        }
    }
    ours
}

/// A forge whose newest status for the commit is already the one about to be posted
/// (`HealthCheckFailed`, an error), in each forge's listing shape.
fn same_status_answer() -> Answer {
    Arc::new(|m, path| {
        let key = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(STATUS_ID.as_bytes()));
        let desc = "health check failed";
        let body = match (m, path) {
            ("OPTIONS", _) => AZURE_LOCATIONS.to_owned(),
            (_, p) if p.contains("/_apis/git/") => json!({"count": 1, "value": [{"state": "error",
                "description": desc, "context": {"genre": "fluxcd", "name": STATUS_ID}}]}).to_string(),
            (_, p) if p.contains("/api/v4/") => json!([{"sha": SHA, "status": "failed",
                "description": desc, "name": STATUS_ID}]).to_string(),
            (_, p) if p.contains("/statuses/build/") => json!({"key": key, "state": "FAILED",
                "description": desc, "name": "kustomization/podinfo", "url": "https://bitbucket.org"}).to_string(),
            (_, p) if p.ends_with("/builds") => json!({"key": key, "state": "FAILED", "description": desc,
                "name": format!("kustomization/podinfo [{desc}]")}).to_string(),
            (_, p) if p.ends_with("/api/v1/version") => r#"{"version":"1.22.0"}"#.to_owned(),
            // Gitea names the state `status` in its answers.
            (_, p) if p.contains("/api/v1/") => json!([{"context": STATUS_ID, "status": "failure",
                "description": desc}]).to_string(),
            _ => json!([{"context": STATUS_ID, "state": "failure", "description": desc}]).to_string(),
        };
        (
            if m == "POST" {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            body,
        )
    })
}

#[tokio::test]
async fn forges_skip_a_status_equal_to_the_newest_as_notification_controller_does() {
    let Some(flux) = super::support::ncnotify::or_skip() else {
        return;
    };
    let mut failed = event(Severity::Error, "HealthCheckFailed");
    failed.metadata = BTreeMap::from([("revision".to_owned(), format!("main@sha1:{SHA}"))]);
    for case in CASES.iter().skip(7) {
        let ours = compare(flux, same_status_answer, *case, &failed).await;
        assert!(
            ours.iter().all(|s| s.method == "GET"),
            "{}: {ours:#?}",
            case.0
        );
    }
}

fn mac<M: Mac + KeyInit>(key: &[u8], body: &[u8]) -> String {
    let mut m = <M as KeyInit>::new_from_slice(key).unwrap();
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// A webhook request to check: Receiver type, content type, signature header and value, body.
type Webhook = (&'static str, &'static str, &'static str, String, String);

const KEY: &[u8] = b"it's-a-secret";

fn form_body() -> String {
    let encoded =
        percent_encoding::utf8_percent_encode(GITHUB_PUSH, percent_encoding::NON_ALPHANUMERIC);
    format!("payload={encoded}")
}

/// GitHub deliveries: signed right, signed over another body, in other content types, unsigned,
/// malformed.
fn github_cases() -> Vec<Webhook> {
    let json = GITHUB_PUSH.to_owned();
    let s256 = |b: &str| format!("sha256={}", hmac_sha256(KEY, b.as_bytes()));
    let gh = "X-Hub-Signature-256";
    let upper = s256(&json).to_uppercase().replace("SHA256", "sha256");
    let md5 = format!("md5={}", hmac_sha256(KEY, json.as_bytes()));
    let sha1 = format!("sha1={}", mac::<Hmac<sha1::Sha1>>(KEY, json.as_bytes()));
    let j = "application/json";
    vec![
        ("github", j, gh, s256(&json), json.clone()),
        ("github", j, "X-Hub-Signature", sha1, json.clone()),
        ("github", j, gh, s256("{}"), json.clone()),
        ("github", j, gh, upper, json.clone()),
        (
            "github",
            "Application/JSON; charset=utf-8",
            gh,
            s256(&json),
            json.clone(),
        ),
        (
            "github",
            "application/x-www-form-urlencoded",
            gh,
            s256(&form_body()),
            form_body(),
        ),
        ("github", "text/plain", gh, s256(&json), json.clone()),
        ("github", j, gh, String::new(), json.clone()),
        ("github", j, gh, "sha256".into(), json.clone()),
        ("github", j, gh, md5, json.clone()),
        ("github", j, gh, "sha256=zz".into(), json),
    ]
}

/// Bitbucket and generic-hmac deliveries.
fn other_cases() -> Vec<Webhook> {
    let json = GITHUB_PUSH.to_owned();
    let s1 = |b: &str| format!("sha1={}", mac::<Hmac<sha1::Sha1>>(KEY, b.as_bytes()));
    let s256 = |b: &str| format!("sha256={}", hmac_sha256(KEY, b.as_bytes()));
    let s512 = format!("sha512={}", mac::<Hmac<sha2::Sha512>>(KEY, json.as_bytes()));
    let j = "application/json";
    vec![
        ("bitbucket", j, "X-Hub-Signature", s256(&json), json.clone()),
        ("bitbucket", j, "X-Hub-Signature", s1("other"), json.clone()),
        ("generic-hmac", j, "X-Signature", s512, json.clone()),
        (
            "generic-hmac",
            "text/plain",
            "X-Signature",
            s1(&json),
            json.clone(),
        ),
        (
            "generic-hmac",
            j,
            "X-Signature",
            s256("other"),
            json.clone(),
        ),
        ("generic-hmac", j, "X-Signature", String::new(), json),
    ]
}

#[tokio::test]
async fn receivers_accept_and_refuse_what_notification_controller_does() {
    let Some(flux) = super::support::ncnotify::or_skip() else {
        return;
    };
    let token = "it's-a-secret";
    for (kind, ct, header, sig, body) in github_cases().into_iter().chain(other_cases()) {
        let mut h = vec![("Content-Type", ct)];
        if !sig.is_empty() {
            h.push((header, &sig));
        }
        let request = json!({"verify": {"type": kind, "token": token,
            "headers": h.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>(),
            "body": base64::engine::general_purpose::STANDARD.encode(&body)}});
        let theirs = tokio::task::spawn_blocking(move || {
            super::support::ncnotify::send(flux, &request, &[])
        })
        .await
        .unwrap();
        let ours =
            receiver(kind, &json!({})).verify(&Secret::new(token), &headers(&h), body.as_bytes());
        assert_eq!(
            ours.is_ok(),
            theirs.is_none(),
            "{kind} {ct} {header}={sig}: fledge {ours:?}, Flux {theirs:?}"
        );
    }
}

#[tokio::test]
async fn the_proxy_secret_routes_the_request_with_its_credentials() {
    let (proxy, log) = server(ok("")).await;
    let p = provider(
        "slack",
        &json!({"address": "http://hooks.example.invalid/services/T/B/X",
        "proxySecretRef": {"name": "proxy"}}),
    );
    let px = secret(&[("address", &proxy), ("username", "u"), ("password", "p")]);
    let s = ProviderSecrets {
        proxy: Some(&px),
        ..ProviderSecrets::default()
    };
    let sent = Sender::new(&p, &s, UID)
        .unwrap()
        .post(&event(Severity::Info, "X"))
        .await
        .unwrap();
    assert_eq!(sent, Sent::Posted);
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/services/T/B/X");
    assert_eq!(seen.header("Host"), Some("hooks.example.invalid"));
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("u:p")
    );
    assert_eq!(seen.header("Proxy-Authorization"), Some(basic.as_str()));
}

#[tokio::test]
async fn deliver_reads_the_provider_secrets_from_the_cluster_and_sends() {
    use fledge::cluster::{Cluster, SimHandle, sim::SimCluster};
    use fledge::flux::notification::Alert;
    use fledge::report::notify::deliver::{deliver, receiver_token};
    let (base, log) = server(ok("[]")).await;
    let cluster = SimHandle::new(SimCluster::new(std::time::Duration::ZERO));
    let mut hook = secret(&[("address", &format!("{base}/hook")), ("token", "k3y")]);
    hook["metadata"] = json!({"name": "hook", "namespace": "flux-system"});
    let mut webhook = secret(&[("token", "rcv")]);
    webhook["metadata"] = json!({"name": "webhook-token", "namespace": "flux-system"});
    cluster.apply(&[hook, webhook]).await.unwrap();
    let providers = [
        provider("generic-hmac", &json!({"secretRef": {"name": "hook"}})),
        provider("slack", &json!({"secretRef": {"name": "absent"}})),
    ];
    let alert = |provider: &str| {
        Alert::parse(&json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": {"name": provider, "namespace": "flux-system"},
            "spec": {"providerRef": {"name": provider}, "eventSources": [{"kind": "Kustomization", "name": "*"}],
                     "eventMetadata": {"cluster": "prod-eu"}}}))
        .unwrap()
    };
    let alerts = [alert("generic-hmac"), alert("slack"), alert("missing")];
    let out = deliver(
        &cluster,
        &alerts,
        &providers,
        &event(Severity::Info, "ReconciliationSucceeded"),
        "cluster-1",
    )
    .await;
    assert_eq!(out.len(), 3);
    assert!(
        matches!(out[0].result, Ok(Sent::Posted)),
        "{:?}",
        out[0].result
    );
    let err = out[1].result.as_ref().unwrap_err().to_string();
    assert!(
        err.contains("flux-system/slack")
            && err.contains("spec.secretRef")
            && err.contains("absent"),
        "{err}"
    );
    let err = out[2].result.as_ref().unwrap_err().to_string();
    assert!(err.contains("spec.providerRef.name"), "{err}");
    assert_eq!(out[2].alert.name, "missing");
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(
        seen.body()["metadata"]["cluster"],
        "prod-eu",
        "the Alert's eventMetadata reaches the Provider"
    );
    let want = format!("sha256={}", hmac_sha256(b"k3y", &seen.raw));
    assert_eq!(seen.header("X-Signature"), Some(want.as_str()));
    let r = receiver("github", &json!({}));
    let token = receiver_token(&cluster, &r).await.unwrap();
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        b"rcvgithubflux-system",
    ));
    assert_eq!(r.webhook_path(&token), format!("/hook/{digest}"));
}

#[tokio::test]
async fn a_chat_provider_is_tried_again_after_a_server_error_as_notification_controller_does() {
    let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let b = busy.clone();
    let answer: Answer = Arc::new(move |_, path| match path {
        // Busy once, then fine.
        "/flaky" if b.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 => {
            (StatusCode::SERVICE_UNAVAILABLE, "busy".into())
        }
        "/unimplemented" => (StatusCode::NOT_IMPLEMENTED, String::new()),
        _ => (StatusCode::OK, "ok".into()),
    });
    let (base, log) = server(answer).await;
    let post = |path: &str| {
        let sec = secret(&[("address", &format!("{base}{path}"))]);
        async move {
            let s = ProviderSecrets {
                secret: Some(&sec),
                ..ProviderSecrets::default()
            };
            Sender::new(&provider("generic", &json!({})), &s, UID)
                .unwrap()
                .post(&event(Severity::Info, "X"))
                .await
        }
    };
    assert_eq!(post("/flaky").await.unwrap(), Sent::Posted);
    let tries = |path: &str| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .count()
    };
    assert_eq!(tries("/flaky"), 2, "503, then tried again");
    // 501 is not tried again (go-retryablehttp's default policy).
    assert!(post("/unimplemented").await.is_err());
    assert_eq!(tries("/unimplemented"), 1);
}
