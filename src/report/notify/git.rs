//! Commit statuses as notification-controller's forge notifiers post them (`github.go`,
//! `gitlab.go`, `gitea.go`, `bitbucket.go`, `bitbucketserver.go`, `azure_devops.go`): the
//! status id is the commit status id ([`commit_status_id`]), the description the event's
//! reason split at its camel-case boundaries and lower-cased, the state `info` → success and
//! `error` → failure in each forge's words; `Progressing` events are dropped (Gitea posts them
//! as `pending`); the statuses on the commit are read first and an identical newest one is not
//! posted again. The commit comes from the event's revision (`main@sha1:<hex>` → `<hex>`).
//!
//! fledge's own statuses ([`crate::report::forge`]) use their own contexts and states, so the
//! requests are built here to stay identical to Flux's.

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha1::Digest as _;

use super::{Error, Sender, Sent};

/// What Go's `url.PathEscape` and `QueryEscape` leave alone: RFC 3986's unreserved characters
/// (GitLab's project path and status name go into one segment or value each).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}
use crate::flux::notification::event::commit_status_id;
use crate::flux::notification::{Event, ProviderType, Severity};

/// A repository address as Flux's `parseGitAddress` reads it: `https://host[:port]` (ssh
/// becomes https) and the path without its leading `/` and trailing `.git`.
#[must_use]
pub fn parse_git_address(address: &str) -> Option<(String, String)> {
    let (scheme, host, path) = if let Ok(u) = reqwest::Url::parse(address)
        && u.has_host()
    {
        let scheme = if u.scheme() == "ssh" {
            "https"
        } else {
            u.scheme()
        };
        let host = match u.port() {
            Some(p) => format!("{}:{p}", u.host_str()?),
            None => u.host_str()?.to_owned(),
        };
        (scheme.to_owned(), host, u.path().to_owned())
    } else {
        // scp-like `git@host:owner/repo.git`
        let (user_host, path) = address.split_once(':')?;
        let host = user_host.rsplit('@').next()?;
        ("https".to_owned(), host.to_owned(), path.to_owned())
    };
    let id = path.trim_start_matches('/');
    let id = id.strip_suffix(".git").unwrap_or(id);
    Some((format!("{scheme}://{host}"), id.to_owned()))
}

/// Go's `splitCamelcase` as Flux's notifiers use it: runs of lower, upper, digit and other
/// characters, an upper-case run giving its last letter to a following lower-case run.
#[must_use]
pub fn split_camel_case(s: &str) -> Vec<String> {
    let class = |c: char| match c {
        c if c.is_lowercase() => 1,
        c if c.is_uppercase() => 2,
        c if c.is_numeric() => 3,
        _ => 4,
    };
    let mut runs: Vec<Vec<char>> = Vec::new();
    let mut last = 0;
    for c in s.chars() {
        let k = class(c);
        match runs.last_mut() {
            Some(run) if k == last => run.push(c),
            _ => runs.push(vec![c]),
        }
        last = k;
    }
    for i in 0..runs.len().saturating_sub(1) {
        if runs[i][0].is_uppercase() && runs[i + 1][0].is_lowercase() {
            let moved = runs[i].pop().expect("runs are never empty");
            runs[i + 1].insert(0, moved);
        }
    }
    runs.into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| r.into_iter().collect())
        .collect()
}

/// The description of a status: `ReconciliationSucceeded` → `reconciliation succeeded`.
#[must_use]
pub fn description(e: &Event) -> String {
    split_camel_case(&e.reason).join(" ").to_lowercase()
}

/// `kustomization/podinfo`, the name Bitbucket shows.
fn name(e: &Event) -> String {
    let o = &e.involved_object;
    format!("{}/{}", o.kind, o.name).to_lowercase()
}

/// The commit of a revision: after the last `:`, else the last `/` segment, else all of it;
/// 40 (SHA-1) or 64 (SHA-256) characters.
#[must_use]
pub fn commit_of(revision: &str) -> Option<String> {
    let hash = match revision.rsplit_once(':') {
        Some((_, h)) => h,
        None => revision.rsplit('/').next().unwrap_or(revision),
    };
    matches!(hash.len(), 40 | 64).then(|| hash.to_owned())
}

/// The repository id split into `n` parts, or why not.
fn parts(s: &Sender, n: usize) -> Result<(String, Vec<String>), String> {
    let (host, id) = parse_git_address(s.address.expose())
        .ok_or_else(|| "the address is not a Git repository address".to_owned())?;
    let comp: Vec<String> = id.split('/').map(str::to_owned).collect();
    if comp.len() != n {
        return Err(format!("invalid repository id {id:?}"));
    }
    Ok((host, comp))
}

/// What Flux's constructors check of the address: its shape for the type.
pub(crate) fn check_address(s: &Sender) -> Result<(), String> {
    match s.kind {
        ProviderType::GitHub | ProviderType::Gitea | ProviderType::Bitbucket => {
            parts(s, 2).map(|_| ())
        }
        ProviderType::AzureDevOps => parts(s, 4).map(|_| ()),
        ProviderType::BitbucketServer => bitbucket_server_url(s.address.expose()).map(|_| ()),
        _ => parse_git_address(s.address.expose())
            .map(|_| ())
            .ok_or_else(|| "the address is not a Git repository address".to_owned()),
    }
}

/// What Flux's constructors check of the credentials: those the type needs.
pub(crate) fn check_credentials(s: &Sender) -> Result<(), String> {
    let what = match s.kind {
        ProviderType::BitbucketServer => {
            let basic = s.creds.username.is_some() && s.creds.password.is_some();
            if s.creds.token.is_none() && !basic {
                return Err(
                    "invalid credentials, expected to be one of username/password or API Token"
                        .into(),
                );
            }
            return Ok(());
        }
        ProviderType::Bitbucket if !s.token().is_empty() => return basic_from_token(s).map(|_| ()),
        ProviderType::AzureDevOps if s.token().is_empty() => {
            return Err("azure devops token cannot be empty (a `token` key in the Secret; managed identity is not supported by fledge)".into());
        }
        k => k.name(),
    };
    if s.token().is_empty() {
        return Err(format!(
            "{what} token cannot be empty (a `token` key in the Secret)"
        ));
    }
    Ok(())
}

/// Bitbucket Cloud's token is `<user>:<password>`.
fn basic_from_token(s: &Sender) -> Result<String, String> {
    let t = s.token();
    let comp: Vec<&str> = t.split(':').collect();
    if comp.len() != 2 {
        return Err("invalid token format, expected to be <user>:<password>".into());
    }
    Ok(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(t)
    ))
}

/// `https://host/ctx/scm/PROJ/repo.git` → `https://host/ctx/rest/api/latest/projects/PROJ/repos/repo/commits`.
fn bitbucket_server_url(address: &str) -> Result<String, String> {
    let mut u =
        reqwest::Url::parse(address).map_err(|_| "could not parse git address".to_owned())?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "could not parse git address: unsupported scheme type in address: {}. Must be http or https",
            u.scheme()
        ));
    }
    let path = u.path().to_owned();
    let path = path.strip_suffix(".git").unwrap_or(&path);
    let i = path.rfind("/scm/").ok_or(
        "could not parse git address: supplied provider address is not http(s) git clone url",
    )?;
    let comp: Vec<&str> = path[i + 5..].split('/').collect();
    let [project, repo] = comp[..] else {
        return Err(format!(
            "could not parse git address: invalid repository id {:?}",
            &path[i + 5..]
        ));
    };
    u.set_path(&format!(
        "{}/rest/api/latest/projects/{project}/repos/{repo}/commits",
        &path[..i]
    ));
    u.set_query(None);
    Ok(u.to_string())
}

/// Posts the commit status for `e`.
pub(crate) async fn post(s: &Sender, e: &Event) -> Result<Sent, Error> {
    let progressing = e.reason == "Progressing";
    if progressing && s.kind != ProviderType::Gitea {
        return Ok(Sent::Skipped(
            "Progressing events are not posted as commit statuses",
        ));
    }
    let revision = e
        .revision()
        .ok_or_else(|| s.fail("missing revision metadata"))?;
    let sha = commit_of(revision).ok_or_else(|| {
        s.fail(format!(
            "failed to extract commit hash from '{revision}' revision"
        ))
    })?;
    let id = commit_status_id(&s.provider_uid, e);
    let st = Status {
        sha,
        id,
        description: description(e),
        error: e.severity == Severity::Error,
        progressing,
    };
    match s.kind {
        ProviderType::GitHub => github(s, &st).await,
        ProviderType::GitLab => gitlab(s, &st).await,
        ProviderType::Gitea => gitea(s, &st).await,
        ProviderType::Bitbucket => bitbucket(s, &st, e).await,
        ProviderType::BitbucketServer => bitbucket_server(s, &st, e).await,
        _ => azure_devops(s, &st, e).await,
    }
}

/// One status to post.
struct Status {
    sha: String,
    id: String,
    description: String,
    error: bool,
    progressing: bool,
}

/// One request to the forge: Bitbucket Server's notifier is tried again as the chat ones are
/// (go-retryablehttp in notification-controller); the other forges' clients do not retry.
async fn call(
    s: &Sender,
    what: &str,
    method: Method,
    url: &str,
    headers: &[(String, String)],
    body: Option<Vec<u8>>,
) -> Result<(StatusCode, String), Error> {
    if s.kind == ProviderType::BitbucketServer {
        s.call_retrying(what, method, url, headers, body).await
    } else {
        s.call(what, method, url, headers, body).await
    }
}

/// A JSON GET: the answer's status and body.
async fn get(
    s: &Sender,
    url: &str,
    headers: &[(String, String)],
) -> Result<(StatusCode, Value), Error> {
    let (status, text) = call(s, "list statuses", Method::GET, url, headers, None).await?;
    if !status.is_success() && status != StatusCode::NOT_FOUND {
        return Err(s.refused("list statuses", status, &text));
    }
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// A JSON POST that must succeed.
async fn create(
    s: &Sender,
    url: &str,
    headers: &[(String, String)],
    body: &Value,
) -> Result<Sent, Error> {
    let mut h = headers.to_vec();
    if !h.iter().any(|(k, _)| k == "Content-Type") {
        h.push(("Content-Type".into(), "application/json".into()));
    }
    let bytes = serde_json::to_vec(body).map_err(|err| s.fail(err.to_string()))?;
    let (status, text) = call(s, "create status", Method::POST, url, &h, Some(bytes)).await?;
    if !status.is_success() {
        return Err(s.refused("create status", status, &text));
    }
    Ok(Sent::Posted)
}

/// The newest entry with `context` decides (GitHub, Gitea, Azure DevOps): a duplicate when it
/// has the same state (under `state_key`: Gitea answers `status`) and description. Entries
/// missing a field are passed over.
fn newest_is_same(
    list: &Value,
    ctx: impl Fn(&Value) -> Option<String>,
    (id, state_key): (&str, &str),
    state: &str,
    desc: &str,
) -> bool {
    let entries = list.as_array().map_or(&[][..], Vec::as_slice);
    for e in entries {
        let (Some(c), Some(st), Some(d)) =
            (ctx(e), e[state_key].as_str(), e["description"].as_str())
        else {
            continue;
        };
        if c == id {
            return st == state && d == desc;
        }
    }
    false
}

async fn github(s: &Sender, st: &Status) -> Result<Sent, Error> {
    let (host, comp) = parts(s, 2).map_err(|m| s.fail(m))?;
    let api = if host == "https://github.com" {
        "https://api.github.com".to_owned()
    } else {
        format!("{host}/api/v3")
    };
    let repo = format!("{api}/repos/{}/{}", comp[0], comp[1]);
    let headers = vec![
        (
            "Accept".to_owned(),
            "application/vnd.github.v3+json".to_owned(),
        ),
        ("X-GitHub-Api-Version".to_owned(), "2022-11-28".to_owned()),
        ("Authorization".to_owned(), format!("Bearer {}", s.token())),
    ];
    let state = if st.error { "failure" } else { "success" };
    let (_, list) = get(
        s,
        &format!("{repo}/commits/{}/statuses?per_page=50", st.sha),
        &headers,
    )
    .await?;
    let ctx = |e: &Value| e["context"].as_str().map(str::to_owned);
    if newest_is_same(&list, ctx, (&st.id, "state"), state, &st.description) {
        return Ok(Sent::Skipped("the same status is already the newest"));
    }
    let body = json!({"state": state, "description": st.description, "context": st.id});
    create(s, &format!("{repo}/statuses/{}", st.sha), &headers, &body).await
}

async fn gitlab(s: &Sender, st: &Status) -> Result<Sent, Error> {
    let (host, id) = parse_git_address(s.address.expose())
        .ok_or_else(|| s.fail("the address is not a Git repository address"))?;
    let project = format!("{host}/api/v4/projects/{}", escape(&id));
    let headers = vec![
        ("Accept".to_owned(), "application/json".to_owned()),
        ("PRIVATE-TOKEN".to_owned(), s.token().to_owned()),
    ];
    let state = if st.error { "failed" } else { "success" };
    let name = escape(&st.id);
    let (_, list) = get(
        s,
        &format!(
            "{project}/repository/commits/{}/statuses?name={name}",
            st.sha
        ),
        &headers,
    )
    .await?;
    let dupe = list.as_array().is_some_and(|l| {
        l.iter().any(|e| {
            e["sha"] == st.sha.as_str()
                && e["status"] == state
                && e["description"] == st.description.as_str()
                && e["name"] == st.id.as_str()
        })
    });
    if dupe {
        return Ok(Sent::Skipped("the same status is already on the commit"));
    }
    let body = json!({"state": state, "name": st.id, "description": st.description});
    create(
        s,
        &format!("{project}/statuses/{}", st.sha),
        &headers,
        &body,
    )
    .await
}

async fn gitea(s: &Sender, st: &Status) -> Result<Sent, Error> {
    let (host, comp) = parts(s, 2).map_err(|m| s.fail(m))?;
    let repo = format!("{host}/api/v1/repos/{}/{}", comp[0], comp[1]);
    // The Gitea SDK sends its JSON content type on every call, GETs included.
    let headers = vec![
        ("Authorization".to_owned(), format!("token {}", s.token())),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    let state = match (st.progressing, st.error) {
        (true, _) => "pending",
        (_, true) => "failure",
        _ => "success",
    };
    let (_, list) = get(
        s,
        &format!("{repo}/commits/{}/statuses?limit=50&page=1", st.sha),
        &headers,
    )
    .await?;
    let ctx = |e: &Value| {
        e["context"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    };
    if newest_is_same(&list, ctx, (&st.id, "status"), state, &st.description) {
        return Ok(Sent::Skipped("the same status is already the newest"));
    }
    let body =
        json!({"state": state, "target_url": "", "description": st.description, "context": st.id});
    create(s, &format!("{repo}/statuses/{}", st.sha), &headers, &body).await
}

async fn bitbucket(s: &Sender, st: &Status, e: &Event) -> Result<Sent, Error> {
    let (_, comp) = parts(s, 2).map_err(|m| s.fail(m))?;
    let auth = basic_from_token(s).map_err(|m| s.fail(m))?;
    let headers = vec![("Authorization".to_owned(), auth)];
    let key = hex::encode(sha1::Sha1::digest(st.id.as_bytes()));
    let state = if st.error { "FAILED" } else { "SUCCESSFUL" };
    let base = format!(
        "{}/repositories/{}/{}/commit/{}/statuses/build",
        s.bitbucket_api, comp[0], comp[1], st.sha
    );
    let (found, old) = get(s, &format!("{base}/{key}"), &headers).await?;
    if found.is_success() && old["state"] == state && old["description"] == st.description.as_str()
    {
        return Ok(Sent::Skipped("the same status is already on the commit"));
    }
    let body = json!({"key": key, "url": "https://bitbucket.org", "state": state, "name": name(e), "description": st.description});
    create(s, &base, &headers, &body).await
}

async fn bitbucket_server(s: &Sender, st: &Status, e: &Event) -> Result<Sent, Error> {
    let url = format!(
        "{}/{}/builds",
        bitbucket_server_url(s.address.expose()).map_err(|m| s.fail(m))?,
        st.sha
    );
    let auth = match (&s.creds.token, &s.creds.username, &s.creds.password) {
        (Some(t), _, _) => format!("Bearer {}", t.expose()),
        (None, Some(u), Some(p)) => {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{}", p.expose()))
            )
        }
        _ => return Err(s.fail("no credentials")),
    };
    let headers = vec![
        ("Authorization".to_owned(), auth),
        ("x-atlassian-token".to_owned(), "no-check".to_owned()),
        ("x-requested-with".to_owned(), "XMLHttpRequest".to_owned()),
    ];
    let key = hex::encode(sha1::Sha1::digest(st.id.as_bytes()));
    let state = if st.error { "FAILED" } else { "SUCCESSFUL" };
    let shown = format!("{} [{}]", name(e), st.description);
    let (found, old) = get(s, &format!("{url}?key={key}"), &headers).await?;
    let same = old["key"] == key.as_str()
        && old["state"] == state
        && old["description"] == st.description.as_str()
        && old["name"] == shown.as_str();
    if found == StatusCode::OK && same {
        return Ok(Sent::Skipped(
            "the same build status is already on the commit",
        ));
    }
    let body = json!({"description": st.description, "key": key, "name": shown, "state": state, "url": s.address.expose()});
    create(s, &url, &headers, &body).await
}

async fn azure_devops(s: &Sender, st: &Status, e: &Event) -> Result<Sent, Error> {
    let (host, comp) = parts(s, 4).map_err(|m| s.fail(m))?;
    let url = format!(
        "{host}/{}/{}/_apis/git/repositories/{}/commits/{}/statuses",
        comp[0], comp[1], comp[3], st.sha
    );
    let auth = base64::engine::general_purpose::STANDARD.encode(format!(":{}", s.token()));
    // The Azure DevOps SDK names the API version in `Accept`, not in the query.
    let headers = vec![
        ("Authorization".to_owned(), format!("Basic {auth}")),
        (
            "Accept".to_owned(),
            "application/json;api-version=6.0".to_owned(),
        ),
    ];
    let state = if st.error { "error" } else { "succeeded" };
    let genre = e
        .metadata
        .get("summary")
        .map_or_else(|| "fluxcd".to_owned(), |sum| format!("fluxcd:{sum}"));
    let (_, list) = get(s, &url, &headers).await?;
    let ctx = |v: &Value| {
        (v["context"]["genre"] == genre.as_str())
            .then(|| v["context"]["name"].as_str().map(str::to_owned))
            .flatten()
    };
    let entries = list["value"].clone();
    if newest_is_same(&entries, ctx, (&st.id, "state"), state, &st.description) {
        return Ok(Sent::Skipped("the same status is already the newest"));
    }
    let body = json!({"state": state, "description": st.description, "context": {"genre": genre, "name": st.id}});
    let mut post = headers;
    post.push((
        "Content-Type".into(),
        "application/json;charset=utf-8".into(),
    ));
    create(s, &url, &post, &body).await
}
