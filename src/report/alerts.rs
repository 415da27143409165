//! Alerts with Flagger's payloads (flagger-spec §7): Slack, Microsoft Teams, Discord,
//! Rocket.Chat, Google Chat, and a generic JSON webhook. Routing by severity as Flagger does
//! it: an entry of severity `info` receives everything, `warn` receives warnings and errors,
//! `error` only errors (an entry without a severity receives nothing, as in Flagger); a Canary
//! without `analysis.alerts` goes to the daemon's global notifier.

use crate::object::ObjectRef;
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tracing::warn;

use crate::cluster::Cluster;
use crate::net::{http_client, http_client_builder};
use crate::object::secret_field;
use crate::release::ReleaseTarget;
use crate::release::spec::{AlertProvider, ReleaseSpec, Severity, Strategy};

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// `<name>.<namespace>` of the Canary.
    pub object: String,
    pub message: String,
    pub severity: Severity,
    /// (title, value) pairs shown with the message.
    pub fields: Vec<(String, String)>,
}

/// Where alerts go: a provider type and its resolved address (and token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `slack`, `msteams`, `discord`, `rocket`, `gchat`, `generic`.
    pub kind: String,
    pub address: String,
    pub token: Option<String>,
    pub channel: String,
    pub username: String,
    /// HTTP proxy to post through (AlertProvider `spec.proxy`, `--slack-proxy-url`).
    pub proxy: Option<String>,
}

impl Target {
    /// A target from an AlertProvider whose address is known.
    #[must_use]
    pub fn of(p: &AlertProvider, address: String, token: Option<String>) -> Self {
        Self {
            kind: p.provider_type.clone(),
            address,
            token,
            channel: p.channel.clone(),
            username: p.username.clone(),
            proxy: p.proxy.clone(),
        }
    }
}

/// Whether an alert entry of severity `entry` receives an alert of severity `alert`.
#[must_use]
pub fn receives(entry: Option<Severity>, alert: Severity) -> bool {
    entry.is_some_and(|e| alert >= e)
}

/// The targets of an alert of `severity` for a release: its `analysis.alerts` entries that
/// receive that severity, each resolved through its AlertProvider (the address and token from
/// the provider's Secret when it names one), or `global` when the release has no entries.
pub async fn targets_for(
    cluster: &impl Cluster,
    t: &ReleaseTarget,
    providers: &BTreeMap<(String, String), AlertProvider>,
    global: &[Target],
    severity: Severity,
) -> Vec<Target> {
    if t.spec.analysis.alerts.is_empty() {
        return global.to_vec();
    }
    let mut out = Vec::new();
    for a in &t.spec.analysis.alerts {
        if !receives(a.severity, severity) {
            continue;
        }
        let Some(p) = providers.get(&(a.provider_namespace.clone(), a.provider_name.clone()))
        else {
            warn!(release = %t.spec.name, provider = %a.provider_name, "alert provider not in the repository");
            continue;
        };
        let (mut address, mut token) = (p.address.clone(), None);
        if let Some(secret) = &p.secret_ref
            && let Ok(Some(s)) = cluster
                .get(&ObjectRef::new("v1", "Secret", &p.namespace, secret))
                .await
        {
            if let Some(a) = secret_field(&s, "address") {
                address = Some(a);
            }
            token = secret_field(&s, "token");
        }
        if let Some(addr) = address {
            out.push(Target::of(p, addr, token));
        } else {
            warn!(provider = %p.name, "alert provider has no address");
        }
    }
    out
}

/// Flagger's detail fields for a release.
#[must_use]
pub fn details(spec: &ReleaseSpec, cluster: Option<&str>) -> Vec<(String, String)> {
    let mut f = Vec::new();
    if let Some(c) = cluster {
        f.push(("Cluster".into(), c.to_owned()));
    }
    f.push((
        "Target".into(),
        format!(
            "{}/{}.{}",
            spec.target.kind, spec.target.name, spec.namespace
        ),
    ));
    f.push((
        "Failed checks threshold".into(),
        spec.analysis.threshold.to_string(),
    ));
    f.push((
        "Progress deadline".into(),
        format!("{}s", spec.progress_deadline.as_secs()),
    ));
    let a = &spec.analysis;
    let routing = match spec.strategy() {
        Strategy::Ab => "A/B Testing".to_owned(),
        Strategy::Bluegreen | Strategy::Mirror => "Blue/Green".to_owned(),
        Strategy::Canary if !a.step_weights.is_empty() => format!(
            "Weight steps: {} max: {}",
            a.step_weights
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(","),
            spec.max_weight()
        ),
        Strategy::Canary => {
            format!("Weight step: {} max: {}", a.step_weight, a.max_weight)
        }
    };
    f.push(("Traffic routing".into(), routing));
    f
}

/// The URL and JSON body for an alert to a target (Flagger's formats).
#[must_use]
pub fn payload(t: &Target, a: &Alert) -> (String, Value) {
    let error = a.severity == Severity::Error;
    let slack = |good: &str, bad: &str| {
        json!({
            "channel": t.channel,
            "username": t.username,
            "icon_url": "",
            "icon_emoji": ":rocket:",
            "attachments": [{
                "color": if error { bad } else { good },
                "author_name": a.object,
                "text": a.message,
                "mrkdwn_in": ["text"],
                "fields": a.fields.iter().map(|(k, v)| json!({"title": k, "value": v, "short": false})).collect::<Vec<_>>(),
            }],
        })
    };
    match t.kind.as_str() {
        "slack" => (t.address.clone(), slack("good", "danger")),
        "discord" => {
            let url = if t.address.trim_end_matches('/').ends_with("/slack") {
                t.address.clone()
            } else {
                format!("{}/slack", t.address.trim_end_matches('/'))
            };
            (url, slack("good", "danger"))
        }
        "rocket" => (t.address.clone(), slack("#0076D7", "#FF0000")),
        "msteams" => (
            t.address.clone(),
            json!({
                "@type": "MessageCard",
                "@context": "http://schema.org/extensions",
                "themeColor": if error { "FF0000" } else { "0076D7" },
                "summary": a.object,
                "sections": [{
                    "activityTitle": a.message,
                    "activitySubtitle": a.object,
                    "facts": a.fields.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
                }],
            }),
        ),
        "gchat" => {
            let mut sections = vec![
                json!({"widgets": [{"textParagraph": {"text": format!("<font color=#848484><strong>{}</strong></font>", a.message)}}]}),
            ];
            for (k, v) in &a.fields {
                sections.push(json!({"widgets": [{"textParagraph": {"text": format!("{k}<br><font color=#848484><strong>{v}</strong></font>")}}]}));
            }
            (
                t.address.clone(),
                json!({"cards": [{"header": {"title": "Flagger", "subtitle": a.object, "imageUrl": "https://flagger.app/favicon.png"},
                                  "sections": sections}]}),
            )
        }
        _ => (
            t.address.clone(),
            json!({
                "object": a.object,
                "message": a.message,
                "severity": a.severity,
                "fields": a.fields.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
            }),
        ),
    }
}

const ALERT_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends alerts (5 s timeout, as Flagger).
#[derive(Debug, Clone)]
pub struct Notifier {
    client: reqwest::Client,
}

impl Default for Notifier {
    fn default() -> Self {
        Self {
            client: http_client(ALERT_TIMEOUT, false),
        }
    }
}

impl Notifier {
    /// Posts one alert; non-2xx is an error naming the provider type (never the address,
    /// which holds the webhook's secret).
    pub async fn send(&self, t: &Target, a: &Alert) -> Result<(), String> {
        let (url, body) = payload(t, a);
        let client = match &t.proxy {
            None => self.client.clone(),
            // Alerts are rare: a client per proxied alert keeps nothing around.
            Some(proxy) => reqwest::Proxy::all(proxy)
                .and_then(|p| http_client_builder(ALERT_TIMEOUT, false).proxy(p).build())
                // The proxy URL may hold credentials: never in the message.
                .map_err(|e| format!("{} alert: proxy: {}", t.kind, e.without_url()))?,
        };
        let mut req = client.post(&url).json(&body);
        if let Some(tok) = &t.token {
            req = req.bearer_auth(tok);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{} alert: {}", t.kind, e.without_url()))?;
        if !resp.status().is_success() {
            return Err(format!("{} alert: HTTP {}", t.kind, resp.status()));
        }
        Ok(())
    }
}
