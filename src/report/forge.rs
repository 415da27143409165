//! Commit statuses on the forge, so a release's progress shows on the commit and its pull
//! request: GitHub, GitLab, Gitea/Forgejo and Bitbucket Cloud, each called as its REST API
//! documents its commit statuses. Context `fledge/<cluster>/<namespace>/<name>`; descriptions at
//! most 140 characters; a status equal to the last one posted for the same commit and context
//! is not posted again (checked in memory, and on the forge for the first post of a context).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use sha1::Digest as _;

use crate::net::Secret;
use crate::net::http_client;
use crate::release::ReleaseView;
use crate::report::sync::{SyncReason, SyncStatus};

/// Which forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    GitHub,
    GitLab,
    Gitea,
    Bitbucket,
}

impl ForgeKind {
    /// The API of the forge's public service (GitHub, GitLab.com, Codeberg, Bitbucket Cloud).
    #[must_use]
    pub fn public_api(self) -> &'static str {
        match self {
            Self::GitHub => "https://api.github.com",
            Self::GitLab => "https://gitlab.com",
            Self::Gitea => "https://codeberg.org",
            Self::Bitbucket => "https://api.bitbucket.org",
        }
    }

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
    /// fledge cannot act on the release (a refused or forbidden request, an unreachable API
    /// server): not the change's failure, and it clears.
    Error,
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

/// The status of the sync: `success` once the commit synced whole, else `failure` with the
/// reason beside the message; `None` before any commit was seen.
#[must_use]
pub fn sync_status_of(s: &SyncStatus, cluster: &str) -> Option<CommitStatus> {
    let sha = s.commit.as_ref()?;
    let (state, description) = if s.ready {
        (State::Success, "synced".to_owned())
    } else {
        (State::Failure, format!("{}: {}", s.reason, s.message))
    };
    Some(CommitStatus {
        sha: sha.to_string(),
        context: format!("fledge/{cluster}/sync"),
        state,
        description: truncate(&description, 140),
    })
}

/// The status of each Flux Kustomization of the sync on the commit it last tried, as Flux's
/// notification-controller posts one per Kustomization: `success` when ready, `pending` while
/// it waits for a dependency, `failure` with the reason otherwise (a suspended one posts none).
#[must_use]
pub fn unit_statuses_of(s: &SyncStatus, cluster: &str) -> Vec<CommitStatus> {
    s.units
        .iter()
        .filter(|u| u.name != "root" && u.reason != SyncReason::Suspended)
        .filter_map(|u| {
            let sha = u.last_attempted_revision.as_ref()?;
            let (state, description) = match u.reason {
                _ if u.ready => (State::Success, "synced".to_owned()),
                SyncReason::DependencyNotReady | SyncReason::Progressing => {
                    (State::Pending, format!("{}: {}", u.reason, u.message))
                }
                _ => (State::Failure, format!("{}: {}", u.reason, u.message)),
            };
            Some(CommitStatus {
                sha: sha.to_string(),
                context: format!("fledge/{cluster}/kustomization/{}", u.name),
                state,
                description: truncate(&description, 140),
            })
        })
        .collect()
}

/// The failing status of the commit signature verification refused, under the sync's context;
/// `None` when none was.
#[must_use]
pub fn refused_status_of(s: &SyncStatus, cluster: &str) -> Option<CommitStatus> {
    let sha = s.refused_commit.as_ref()?;
    Some(CommitStatus {
        sha: sha.to_string(),
        context: format!("fledge/{cluster}/sync"),
        state: State::Failure,
        description: truncate(&format!("VerificationFailed: {}", s.message), 140),
    })
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
    if let Some(e) = &v.error {
        return Some(CommitStatus {
            sha: sha.to_string(),
            context: format!("fledge/{cluster}/{}/{}", v.namespace, v.name),
            state: State::Error,
            description: truncate(
                &format!("fledge cannot act ({}): {}", e.reason, e.message),
                140,
            ),
        });
    }
    let (state, description) = match v.phase.as_str() {
        _ if v.halted.is_some() && v.phase != "Failed" && v.phase != "Succeeded" => (
            State::Pending,
            format!("halted · {}", v.halted.as_deref().unwrap_or("")),
        ),
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
        "Failed" => match &v.last_failed_check {
            // Why, in the few characters a commit status has.
            Some(f) => (
                State::Failure,
                format!("{}: rolled back · {} · {checks}", v.reason, f.summary()),
            ),
            None => (
                State::Failure,
                format!("{}: rolled back · {}", v.reason, v.message),
            ),
        },
        _ => return None,
    };
    Some(CommitStatus {
        sha: sha.to_string(),
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

/// Everything but RFC 3986's unreserved characters is percent-encoded (a GitLab project path
/// and a status context go into one path segment each).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn percent(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

impl Forge {
    #[must_use]
    pub fn new(config: ForgeConfig) -> Self {
        Self {
            config,
            client: http_client(Duration::from_secs(10), false),
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
            (ForgeKind::Bitbucket, State::Failure | State::Error) => "FAILED",
            // GitLab has a real "running" state, and refuses pending → pending.
            (ForgeKind::GitLab, State::Pending) => "running",
            (ForgeKind::GitLab, State::Failure | State::Error) => "failed",
            (_, State::Pending) => "pending",
            (_, State::Success) => "success",
            (_, State::Failure) => "failure",
            (_, State::Error) => "error",
        }
    }

    fn bitbucket_key(context: &str) -> String {
        hex::encode(sha1::Sha1::digest(context.as_bytes()))
    }

    /// The headers every call to the forge carries: its auth, and GitHub's API version.
    fn headers(&self) -> Vec<(&'static str, String)> {
        let tok = self.config.token.expose();
        match self.config.kind {
            ForgeKind::GitHub => vec![
                ("Accept", "application/vnd.github+json".into()),
                ("X-GitHub-Api-Version", "2022-11-28".into()),
                ("Authorization", format!("Bearer {tok}")),
            ],
            ForgeKind::Gitea => vec![("Authorization", format!("token {tok}"))],
            ForgeKind::GitLab => vec![("PRIVATE-TOKEN", tok.to_owned())],
            ForgeKind::Bitbucket => vec![("Authorization", format!("Bearer {tok}"))],
        }
    }

    /// The request that posts `s`: method POST, URL, headers, JSON body.
    #[must_use]
    pub fn request(&self, s: &CommitStatus) -> (String, Vec<(&'static str, String)>, Value) {
        let state = self.state_word(s.state);
        let (base, repo, sha) = (self.base(), &self.config.repo, &s.sha);
        let (url, body) = match self.config.kind {
            ForgeKind::Bitbucket => (
                format!("{base}/2.0/repositories/{repo}/commit/{sha}/statuses/build"),
                json!({"key": Self::bitbucket_key(&s.context), "state": state, "name": s.context,
                       "url": self.config.target_url.clone().unwrap_or_else(|| "https://bitbucket.org".into()),
                       "description": s.description}),
            ),
            kind => {
                let (url, context_field) = match kind {
                    ForgeKind::GitHub => (format!("{base}/repos/{repo}/statuses/{sha}"), "context"),
                    ForgeKind::Gitea => (
                        format!("{base}/api/v1/repos/{repo}/statuses/{sha}"),
                        "context",
                    ),
                    _ => (
                        format!("{base}/api/v4/projects/{}/statuses/{sha}", percent(repo)),
                        "name",
                    ),
                };
                let mut body = json!({"state": state, "description": s.description});
                body[context_field] = json!(s.context);
                if let Some(u) = &self.config.target_url {
                    body["target_url"] = json!(u);
                }
                (url, body)
            }
        };
        (url, self.headers(), body)
    }

    /// The newest status the forge holds for (sha, context), for dedupe after a restart.
    async fn remote_latest(&self, s: &CommitStatus) -> Option<(String, String)> {
        let (base, repo, sha) = (self.base(), &self.config.repo, &s.sha);
        let url = match self.config.kind {
            ForgeKind::GitHub => format!("{base}/repos/{repo}/commits/{sha}/statuses?per_page=50"),
            ForgeKind::Gitea => format!("{base}/api/v1/repos/{repo}/commits/{sha}/statuses"),
            ForgeKind::GitLab => format!(
                "{base}/api/v4/projects/{}/repository/commits/{sha}/statuses?name={}",
                percent(repo),
                percent(&s.context)
            ),
            ForgeKind::Bitbucket => format!(
                "{base}/2.0/repositories/{repo}/commit/{sha}/statuses/build/{}",
                Self::bitbucket_key(&s.context)
            ),
        };
        let mut req = self.client.get(&url);
        for (k, v) in self.headers() {
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

#[cfg(test)]
mod tests;
