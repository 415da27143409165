//! Chat messages and the generic forwarders, each body built as notification-controller's
//! notifier builds it (`slack.go`, `discord.go`, `rocket.go`, `teams.go`, `google_chat.go`,
//! `forwarder.go`). Metadata fields come in key order (Go's map order is random).

use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Error, Sender, Sent};
use crate::flux::notification::{Event, ProviderType, Severity};

/// `kustomization/podinfo.flux-system`, as the chat notifiers name the object.
fn object_name(e: &Event) -> String {
    let o = &e.involved_object;
    format!("{}/{}.{}", o.kind.to_lowercase(), o.name, o.namespace)
}

/// Slack's attachment, shared by Slack, Discord (its Slack-compatible endpoint) and Rocket.Chat.
fn attachment(e: &Event, color: &str) -> Value {
    let fields: Vec<Value> = e
        .metadata
        .iter()
        .map(|(k, v)| json!({"title": k, "value": v, "short": false}))
        .collect();
    json!({"color": color, "author_name": object_name(e), "text": e.message,
           "mrkdwn_in": ["text"], "fields": fields})
}

/// The body Slack (`channel`, `username` defaulting to the reporting controller), Discord (no
/// channel) or Rocket.Chat (no default username, its own colours) receives.
#[must_use]
pub fn slack_like(
    kind: ProviderType,
    e: &Event,
    channel: Option<&str>,
    username: Option<&str>,
) -> Value {
    let error = e.severity == Severity::Error;
    let (channel, username, color) = match kind {
        ProviderType::Rocket => (
            channel.unwrap_or(""),
            username.unwrap_or(""),
            if error { "#FF0000" } else { "#0076D7" },
        ),
        ProviderType::Discord => (
            "",
            username.unwrap_or(&e.reporting_controller),
            if error { "danger" } else { "good" },
        ),
        _ => (
            channel.unwrap_or(""),
            username.unwrap_or(&e.reporting_controller),
            if error { "danger" } else { "good" },
        ),
    };
    json!({"channel": channel, "username": username, "icon_url": "", "icon_emoji": "",
           "attachments": [attachment(e, color)]})
}

/// Microsoft Teams: an Adaptive Card (1.4) for workflow webhooks; the legacy MessageCard for
/// an address on `*.webhook.office.com` (the deprecated Office 365 connector).
#[must_use]
pub fn msteams(e: &Event, legacy_connector: bool) -> Value {
    let name = object_name(e);
    if legacy_connector {
        let facts: Vec<Value> = e
            .metadata
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        let color = if e.severity == Severity::Error {
            "FF0000"
        } else {
            "0076D7"
        };
        return json!({"@type": "MessageCard", "@context": "http://schema.org/extensions",
            "themeColor": color, "summary": name,
            "sections": [{"activityTitle": e.message, "activitySubtitle": name, "facts": facts}]});
    }
    let mut message = json!({"type": "TextBlock", "text": e.message, "wrap": true});
    if e.severity == Severity::Error {
        message["color"] = json!("attention");
    }
    // `summary` first, then the rest by key.
    let summary = e
        .metadata
        .get("summary")
        .map(|v| json!({"title": "summary", "value": v}));
    let facts: Vec<Value> = summary
        .into_iter()
        .chain(
            e.metadata
                .iter()
                .filter(|(k, _)| *k != "summary")
                .map(|(k, v)| json!({"title": k, "value": v})),
        )
        .collect();
    let mut fact_set = json!({"type": "FactSet"});
    if !facts.is_empty() {
        fact_set["facts"] = json!(facts);
    }
    let title = json!({"type": "TextBlock", "text": name, "size": "large", "weight": "bolder", "wrap": true});
    json!({"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": [{"type": "Container", "items": [title, message, fact_set]}],
            "msteams": {"width": "Full"}}}]})
}

/// Google Chat: a card with the object, the reporting controller, the message (red for an
/// error) and a section of metadata when there is any.
#[must_use]
pub fn google_chat(e: &Event) -> Value {
    let text = if e.severity == Severity::Error {
        format!("<font color=\"#ff0000\">{}</font>", e.message)
    } else {
        e.message.clone()
    };
    let mut sections = vec![
        json!({"header": "", "widgets": [{"textParagraph": {"text": text}, "keyValue": null}]}),
    ];
    if !e.metadata.is_empty() {
        let widgets: Vec<Value> = e.metadata.iter().map(|(k, v)| json!({"textParagraph": null,
            "keyValue": {"topLabel": k, "content": v, "contentMultiline": false, "bottomLabel": null, "icon": null}})).collect();
        sections.push(json!({"header": "", "widgets": widgets}));
    }
    json!({"cards": [{"header": {"title": object_name(e), "subtitle": e.reporting_controller,
        "imageUrl": null, "imageStyle": null}, "sections": sections}]})
}

/// `sha256=<hex HMAC-SHA256 of body keyed with key>`, the `X-Signature` of `generic-hmac`.
#[must_use]
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut m =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// The Discord address with `/slack` appended (its Slack-compatible endpoint) unless it ends so.
fn discord_url(address: &str) -> String {
    if address.ends_with("/slack") {
        return address.to_owned();
    }
    match reqwest::Url::parse(address) {
        Ok(mut u) => {
            let path = format!("{}/slack", u.path().trim_end_matches('/'));
            u.set_path(&path);
            u.to_string()
        }
        Err(_) => format!("{address}/slack"),
    }
}

/// A request to send: URL, headers beyond `Content-Type`, body.
type Outgoing = (String, Vec<(String, String)>, Vec<u8>);

/// The URL, extra headers and body a chat Provider sends for `e`.
fn request(s: &Sender, e: &Event) -> Result<Outgoing, Error> {
    let address = s.address.expose().to_owned();
    let (channel, username) = (s.channel.as_deref(), s.username.as_deref());
    let mut headers = Vec::new();
    let (url, body) = match s.kind {
        ProviderType::Slack => {
            if !s.token().is_empty() {
                headers.push(("Authorization".into(), format!("Bearer {}", s.token())));
            }
            (address, slack_like(s.kind, e, channel, username))
        }
        ProviderType::Discord => (
            discord_url(&address),
            slack_like(s.kind, e, channel, username),
        ),
        ProviderType::Rocket => (address, slack_like(s.kind, e, channel, username)),
        ProviderType::MsTeams => {
            let host = reqwest::Url::parse(&address)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned));
            let legacy = host.is_some_and(|h| h.ends_with(".webhook.office.com"));
            (address, msteams(e, legacy))
        }
        ProviderType::GoogleChat => (address, google_chat(e)),
        _ => return generic(s, e, address),
    };
    let bytes = serde_json::to_vec(&body).map_err(|err| s.fail(err.to_string()))?;
    Ok((url, headers, bytes))
}

/// The generic forwarders: the event as JSON, `gotk-component`, the Secret's `headers`, and for
/// `generic-hmac` the body's signature.
fn generic(s: &Sender, e: &Event, address: String) -> Result<Outgoing, Error> {
    let body = serde_json::to_vec(e).map_err(|err| s.fail(err.to_string()))?;
    let mut headers = vec![("gotk-component".to_owned(), e.reporting_controller.clone())];
    for (k, v) in &s.creds.headers {
        headers.push((k.clone(), v.expose().to_owned()));
    }
    if s.kind == ProviderType::GenericHmac {
        headers.push(("X-Signature".into(), signature(s.token().as_bytes(), &body)));
    }
    Ok((address, headers, body))
}

/// Posts `e` to a chat or generic Provider.
pub(crate) async fn post(s: &Sender, e: &Event) -> Result<Sent, Error> {
    if e.metadata
        .get("commit_status")
        .is_some_and(|v| v == "update")
    {
        return Ok(Sent::Skipped(
            "commit status update events go to forges only",
        ));
    }
    let (url, mut headers, body) = request(s, e)?;
    headers.insert(0, ("Content-Type".into(), "application/json".into()));
    let (status, text) = s
        .call_retrying("post", Method::POST, &url, &headers, Some(body))
        .await?;
    if !status.is_success() {
        return Err(s.refused("post", status, &text));
    }
    // chat.postMessage answers 200 with `ok: false` on errors.
    if s.kind == ProviderType::Slack && url == "https://slack.com/api/chat.postMessage" {
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if v["ok"] != true {
            return Err(s.fail(format!(
                "Slack responded with error: {}",
                v["error"].as_str().unwrap_or("")
            )));
        }
    }
    Ok(Sent::Posted)
}
