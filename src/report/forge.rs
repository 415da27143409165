//! Commit statuses on the forge, so a release's progress shows on the commit and its pull
//! request: GitHub, GitLab, Gitea/Forgejo and Bitbucket Cloud, each called as its API documents
//! (../shared/forge-apis.md). Context `fledge/<cluster>/<namespace>/<name>`; descriptions at
//! most 140 characters; a status equal to the last one posted for the same commit and context
//! is not posted again (checked in memory, and on the forge for the first post of a context).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use sha1::Digest as _;

use crate::daemon::ReleaseView;
use crate::source::Secret;

/// Which forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    GitHub,
    GitLab,
    Gitea,
    Bitbucket,
}

impl ForgeKind {
    /// `github`, `gitlab`, `gitea` (also `forgejo`), `bitbucket`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "github" => Self::GitHub,
            "gitlab" => Self::GitLab,
            "gitea" | "forgejo" => Self::Gitea,
            "bitbucket" => Self::Bitbucket,
            _ => return None,
        })
    }
}

/// Where statuses go.
#[derive(Debug, Clone)]
pub struct ForgeConfig {
    pub kind: ForgeKind,
    /// API base: `https://api.github.com`, `https://gitlab.com`, `https://gitea.example.com`,
    /// `https://api.bitbucket.org`.
    pub api: String,
    /// `owner/repo` (GitHub, Gitea), the project path or id (GitLab), `workspace/slug`
    /// (Bitbucket).
    pub repo: String,
    pub token: Secret,
    /// The cluster's name in the status context.
    pub cluster: String,
    /// A link for readers (a dashboard); optional.
    pub target_url: Option<String>,
}

/// The three states fledge reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Success,
    Failure,
}

/// One status to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    pub sha: String,
    pub context: String,
    pub state: State,
    pub description: String,
}

/// Why posting failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{forge}: {url}: {message}")]
    Http {
        forge: &'static str,
        url: String,
        message: String,
    },
}

/// Cuts `s` to at most `n` characters, ending with `…` when cut.
#[must_use]
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    out
}

/// The status a release's view asks for; `None` when there is nothing to report.
#[must_use]
pub fn status_of(v: &ReleaseView, cluster: &str) -> Option<CommitStatus> {
    let sha = v.source_commit.clone()?;
    let checks = format!("{}/{} failed checks", v.failed_checks, v.threshold);
    let progress = if v.max_iterations > 0 {
        format!(
            "{} iteration {}/{}",
            v.strategy, v.iterations, v.max_iterations
        )
    } else {
        format!("canary {}%", v.canary_weight)
    };
    let (state, description) = match v.phase.as_str() {
        "Progressing" => (State::Pending, format!("{progress} · {checks}")),
        "Waiting" => (
            State::Pending,
            "waiting for approval (confirm-rollout)".into(),
        ),
        "WaitingPromotion" => (
            State::Pending,
            format!("{progress} · waiting for promotion approval · {checks}"),
        ),
        "Promoting" => (
            State::Pending,
            "analysis passed · primary rolling out".into(),
        ),
        "Finalising" => (State::Pending, "traffic back on the primary".into()),
        "Succeeded" if v.fast_rollback => (
            State::Success,
            "promoted without analysis (fast rollback)".into(),
        ),
        "Succeeded" => (State::Success, format!("promoted · {checks}")),
        "Initialized" => (
            State::Success,
            "initialized: the primary serves this revision".into(),
        ),
        "Failed" => (State::Failure, format!("rolled back · {}", v.message)),
        _ => return None,
    };
    Some(CommitStatus {
        sha,
        context: format!("fledge/{cluster}/{}/{}", v.namespace, v.name),
        state,
        description: truncate(&description, 140),
    })
}

/// Posts commit statuses to one repository.
#[derive(Debug)]
pub struct Forge {
    config: ForgeConfig,
    client: reqwest::Client,
    /// The last status posted per (sha, context).
    posted: Mutex<HashMap<(String, String), (State, String)>>,
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Forge {
    #[must_use]
    pub fn new(config: ForgeConfig) -> Self {
        Self {
            config,
            client: crate::analysis::prometheus::http_client(Duration::from_secs(10), false),
            posted: Mutex::new(HashMap::new()),
        }
    }

    fn name(&self) -> &'static str {
        match self.config.kind {
            ForgeKind::GitHub => "github",
            ForgeKind::GitLab => "gitlab",
            ForgeKind::Gitea => "gitea",
            ForgeKind::Bitbucket => "bitbucket",
        }
    }

    fn base(&self) -> &str {
        self.config.api.trim_end_matches('/')
    }

    fn state_word(&self, s: State) -> &'static str {
        match (self.config.kind, s) {
            (ForgeKind::Bitbucket, State::Pending) => "INPROGRESS",
            (ForgeKind::Bitbucket, State::Success) => "SUCCESSFUL",
            (ForgeKind::Bitbucket, State::Failure) => "FAILED",
            // GitLab has a real "running" state, and refuses pending → pending.
            (ForgeKind::GitLab, State::Pending) => "running",
            (ForgeKind::GitLab, State::Failure) => "failed",
            (_, State::Pending) => "pending",
            (_, State::Success) => "success",
            (_, State::Failure) => "failure",
        }
    }

    fn bitbucket_key(context: &str) -> String {
        hex::encode(sha1::Sha1::digest(context.as_bytes()))
    }

    /// The request that posts `s`: method POST, URL, headers, JSON body.
    #[must_use]
    pub fn request(&self, s: &CommitStatus) -> (String, Vec<(&'static str, String)>, Value) {
        let tok = self.config.token.expose();
        let state = self.state_word(s.state);
        let url_field = self.config.target_url.clone();
        match self.config.kind {
            ForgeKind::GitHub => {
                let mut body =
                    json!({"state": state, "description": s.description, "context": s.context});
                if let Some(u) = url_field {
                    body["target_url"] = json!(u);
                }
                (
                    format!(
                        "{}/repos/{}/statuses/{}",
                        self.base(),
                        self.config.repo,
                        s.sha
                    ),
                    vec![
                        ("Accept", "application/vnd.github+json".into()),
                        ("X-GitHub-Api-Version", "2022-11-28".into()),
                        ("Authorization", format!("Bearer {tok}")),
                    ],
                    body,
                )
            }
            ForgeKind::Gitea => {
                let mut body =
                    json!({"state": state, "description": s.description, "context": s.context});
                if let Some(u) = url_field {
                    body["target_url"] = json!(u);
                }
                (
                    format!(
                        "{}/api/v1/repos/{}/statuses/{}",
                        self.base(),
                        self.config.repo,
                        s.sha
                    ),
                    vec![("Authorization", format!("token {tok}"))],
                    body,
                )
            }
            ForgeKind::GitLab => {
                let mut body =
                    json!({"state": state, "description": s.description, "name": s.context});
                if let Some(u) = url_field {
                    body["target_url"] = json!(u);
                }
                (
                    format!(
                        "{}/api/v4/projects/{}/statuses/{}",
                        self.base(),
                        percent(&self.config.repo),
                        s.sha
                    ),
                    vec![("PRIVATE-TOKEN", tok.to_owned())],
                    body,
                )
            }
            ForgeKind::Bitbucket => (
                format!(
                    "{}/2.0/repositories/{}/commit/{}/statuses/build",
                    self.base(),
                    self.config.repo,
                    s.sha
                ),
                vec![("Authorization", format!("Bearer {tok}"))],
                json!({"key": Self::bitbucket_key(&s.context), "state": state, "name": s.context,
                       "url": url_field.unwrap_or_else(|| "https://bitbucket.org".into()),
                       "description": s.description}),
            ),
        }
    }

    /// The newest status the forge holds for (sha, context), for dedupe after a restart.
    async fn remote_latest(&self, s: &CommitStatus) -> Option<(String, String)> {
        let tok = self.config.token.expose();
        let (url, headers): (String, Vec<(&str, String)>) = match self.config.kind {
            ForgeKind::GitHub => (
                format!(
                    "{}/repos/{}/commits/{}/statuses?per_page=50",
                    self.base(),
                    self.config.repo,
                    s.sha
                ),
                vec![
                    ("Accept", "application/vnd.github+json".into()),
                    ("X-GitHub-Api-Version", "2022-11-28".into()),
                    ("Authorization", format!("Bearer {tok}")),
                ],
            ),
            ForgeKind::Gitea => (
                format!(
                    "{}/api/v1/repos/{}/commits/{}/statuses",
                    self.base(),
                    self.config.repo,
                    s.sha
                ),
                vec![("Authorization", format!("token {tok}"))],
            ),
            ForgeKind::GitLab => (
                format!(
                    "{}/api/v4/projects/{}/repository/commits/{}/statuses?name={}",
                    self.base(),
                    percent(&self.config.repo),
                    s.sha,
                    percent(&s.context)
                ),
                vec![("PRIVATE-TOKEN", tok.to_owned())],
            ),
            ForgeKind::Bitbucket => (
                format!(
                    "{}/2.0/repositories/{}/commit/{}/statuses/build/{}",
                    self.base(),
                    self.config.repo,
                    s.sha,
                    Self::bitbucket_key(&s.context)
                ),
                vec![("Authorization", format!("Bearer {tok}"))],
            ),
        };
        let mut req = self.client.get(&url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let body: Value = req
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?
            .json()
            .await
            .ok()?;
        let entry = match body {
            Value::Array(list) => list
                .into_iter()
                .find(|e| e["context"] == s.context.as_str() || e["name"] == s.context.as_str())?,
            one @ Value::Object(_) => one,
            _ => return None,
        };
        Some((
            entry["state"]
                .as_str()
                .or_else(|| entry["status"].as_str())?
                .to_owned(),
            entry["description"].as_str().unwrap_or("").to_owned(),
        ))
    }

    /// Posts `s` unless the same state and description were posted last; true when posted.
    pub async fn post(&self, s: &CommitStatus) -> Result<bool, Error> {
        let key = (s.sha.clone(), s.context.clone());
        let known = self
            .posted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        match known {
            Some((state, desc)) if state == s.state && desc == s.description => return Ok(false),
            Some(_) => {}
            None => {
                if let Some((state, desc)) = self.remote_latest(s).await
                    && state.eq_ignore_ascii_case(self.state_word(s.state))
                    && desc == s.description
                {
                    self.remember(key, s);
                    return Ok(false);
                }
            }
        }
        let (url, headers, body) = self.request(s);
        let mut req = self.client.post(&url).json(&body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let err = |message: String| Error::Http {
            forge: self.name(),
            url: url.clone(),
            message,
        };
        let resp = req.send().await.map_err(|e| err(e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            // GitLab refuses a transition to the state a status already has.
            if self.config.kind == ForgeKind::GitLab && text.contains("Cannot transition status") {
                self.remember(key, s);
                return Ok(false);
            }
            return Err(err(format!(
                "HTTP {status}: {}",
                truncate(text.trim(), 300)
            )));
        }
        self.remember(key, s);
        Ok(true)
    }

    fn remember(&self, key: (String, String), s: &CommitStatus) {
        self.posted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, (s.state, s.description.clone()));
    }
}
