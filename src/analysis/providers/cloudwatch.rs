//! Amazon CloudWatch: `GetMetricData` through the Query API, as Flagger's client (the AWS SDK
//! for Go v1) sends it: `POST <endpoint>/` with the form `Action=GetMetricData&Version=2010-08-01`,
//! the template's query (a JSON list of `MetricDataQuery`) flattened as the Query API flattens
//! lists (`MetricDataQueries.member.1.Id`), `StartTime` ten metric intervals back, `EndTime` now
//! and `MaxDatapoints=20`; signed with AWS Signature Version 4 (`aws-sigv4`) for the service
//! `monitoring` in `spec.provider.region`
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html>).
//! The answer is XML; the value is the first value of the first result, none is no data. The
//! endpoint is `https://monitoring.<region>.amazonaws.com` unless `spec.provider.address` names
//! another (Flagger ignores the field here).
//!
//! Credentials, as the AWS SDK's default chain finds them in a pod: the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), a web identity (IRSA:
//! `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE`, exchanged at STS), the container
//! credentials endpoint (ECS, EKS Pod Identity: `AWS_CONTAINER_CREDENTIALS_FULL_URI` or
//! `…_RELATIVE_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`), else the instance
//! metadata service (IMDSv2). The shared credentials file is not read.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use quick_xml::events::Event;
use serde_json::Value;

use super::{Call, MetricError, TIMEOUT, excerpt};

const INTERVALS_BACK: u32 = 10;

/// The endpoint of a region.
#[must_use]
pub fn endpoint(region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://monitoring.{region}.{domain}")
}

/// Flattens a JSON value into Query API parameters under `prefix`.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) -> Result<(), MetricError> {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{prefix}.{k}"), v, out)?;
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}.member.{}", i + 1), v, out)?;
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        Value::Number(n) => out.push((prefix.to_owned(), n.to_string())),
        Value::Bool(b) => out.push((prefix.to_owned(), b.to_string())),
        Value::Null => {}
    }
    Ok(())
}

fn iso8601(t: SystemTime) -> String {
    let secs = super::unix_seconds(t);
    jiff::Timestamp::from_second(secs).map_or_else(
        |_| String::new(),
        |ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// The form body of a GetMetricData request.
pub fn form(query: &str, interval: Duration, now: SystemTime) -> Result<String, MetricError> {
    let queries: Value = serde_json::from_str(query).map_err(|e| {
        MetricError::Failed(format!(
            "the cloudwatch query is not a JSON list of MetricDataQuery: {e}"
        ))
    })?;
    if !queries.is_array() {
        return Err(MetricError::Failed(
            "the cloudwatch query is not a JSON list of MetricDataQuery".into(),
        ));
    }
    let start = now
        .checked_sub(interval * INTERVALS_BACK)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut params = vec![
        ("Action".to_owned(), "GetMetricData".to_owned()),
        ("Version".to_owned(), "2010-08-01".to_owned()),
        ("EndTime".to_owned(), iso8601(now)),
        ("MaxDatapoints".to_owned(), "20".to_owned()),
    ];
    flatten("MetricDataQueries", &queries, &mut params)?;
    params.push(("StartTime".to_owned(), iso8601(start)));
    let mut body =
        reqwest::Url::parse("http://form/").map_err(|e| MetricError::Failed(e.to_string()))?;
    body.query_pairs_mut().extend_pairs(params);
    Ok(body.query().unwrap_or_default().to_owned())
}

/// The signed GetMetricData request.
pub fn call(
    address: &str,
    region: &str,
    credentials: &Credentials,
    body: String,
    now: SystemTime,
) -> Result<Call, MetricError> {
    let url = reqwest::Url::parse(&format!("{}/", address.trim_end_matches('/')))
        .map_err(|e| MetricError::Failed(format!("{address} is not a URL: {e}")))?;
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("monitoring")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| MetricError::Failed(format!("signing the cloudwatch request: {e}")))?
        .into();
    let headers = [("content-type", content_type)];
    let signable = SignableRequest::new(
        "POST",
        url.as_str(),
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| MetricError::Failed(format!("signing the cloudwatch request: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| MetricError::Failed(format!("signing the cloudwatch request: {e}")))?
        .into_parts();
    let mut out = vec![("Content-Type".to_owned(), content_type.to_owned())];
    out.extend(
        instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    Ok(Call {
        method: reqwest::Method::POST,
        url,
        headers: out,
        body: Some(body),
        timeout: TIMEOUT,
    })
}

/// The text of the elements at `path` (element names from the root), in order.
fn texts(body: &[u8], path: &[&str], first_member_only: usize) -> Result<Vec<String>, MetricError> {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut stack: Vec<String> = Vec::new();
    // How many `member`s were opened at depth `first_member_only`.
    let mut members = 0;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                let name: String = e.local_name().as_ref().to_owned();
                if stack.len() == first_member_only && name == "member" {
                    members += 1;
                }
                stack.push(name);
            }
            Ok(Event::End(_)) => {
                stack.pop();
            }
            Ok(Event::Text(t))
                if members <= 1 && stack.iter().map(String::as_str).eq(path.iter().copied()) =>
            {
                // The values read here (numbers, AWS key ids, tokens) hold no entity references.
                out.push(t.xml10_content().trim().to_owned());
            }
            Ok(Event::Eof) => return Ok(out),
            Err(e) => return Err(bad_xml(&e, body)),
            Ok(_) => {}
        }
        buf.clear();
    }
}

fn bad_xml(e: &dyn std::fmt::Display, body: &[u8]) -> MetricError {
    MetricError::Failed(format!(
        "cloudwatch answered unreadable XML ({e}): {}",
        excerpt(body)
    ))
}

/// The value of a GetMetricData answer: the first value of the first result.
pub fn value(body: &[u8]) -> Result<f64, MetricError> {
    let values = texts(
        body,
        &[
            "GetMetricDataResponse",
            "GetMetricDataResult",
            "MetricDataResults",
            "member",
            "Values",
            "member",
        ],
        3,
    )?;
    let Some(first) = values.first() else {
        return Err(MetricError::NoData("cloudwatch returned no values".into()));
    };
    first
        .parse::<f64>()
        .map_err(|e| MetricError::Failed(format!("cloudwatch returned the value {first:?}: {e}")))
}

/// Where the credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`).
    Environment,
    /// IRSA: the role and the token file.
    WebIdentity {
        role_arn: String,
        token_file: String,
        session_name: String,
    },
    /// The container credentials endpoint, with its authorization header if any.
    Container {
        uri: String,
        authorization: Option<String>,
    },
    /// IMDSv2 at this endpoint.
    InstanceMetadata { endpoint: String },
}

/// The first source of the default chain `env` has (`env` reads an environment variable).
pub fn source(env: &dyn Fn(&str) -> Option<String>) -> Result<Source, MetricError> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    if set("AWS_ACCESS_KEY_ID")
        .or_else(|| set("AWS_ACCESS_KEY"))
        .is_some()
    {
        return Ok(Source::Environment);
    }
    if let (Some(role_arn), Some(token_file)) =
        (set("AWS_ROLE_ARN"), set("AWS_WEB_IDENTITY_TOKEN_FILE"))
    {
        let session_name = set("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| "fledge".into());
        return Ok(Source::WebIdentity {
            role_arn,
            token_file,
            session_name,
        });
    }
    let uri = set("AWS_CONTAINER_CREDENTIALS_FULL_URI").or_else(|| {
        set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").map(|p| format!("http://169.254.170.2{p}"))
    });
    if let Some(uri) = uri {
        let authorization = match set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            Some(f) => Some(
                std::fs::read_to_string(&f)
                    .map_err(|e| {
                        MetricError::Failed(format!(
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {f}: {e}"
                        ))
                    })?
                    .trim()
                    .to_owned(),
            ),
            None => set("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        };
        return Ok(Source::Container { uri, authorization });
    }
    if set("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(MetricError::Failed(
            "no AWS credentials: none in the environment (AWS_ACCESS_KEY_ID), no web identity (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE), no container credentials, and the instance metadata service is disabled".into(),
        ));
    }
    Ok(Source::InstanceMetadata {
        endpoint: set("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or_else(|| "http://169.254.169.254".into()),
    })
}

/// The environment's static credentials.
pub fn environment(env: &dyn Fn(&str) -> Option<String>) -> Result<Credentials, MetricError> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    let id = set("AWS_ACCESS_KEY_ID").or_else(|| set("AWS_ACCESS_KEY"));
    let secret = set("AWS_SECRET_ACCESS_KEY").or_else(|| set("AWS_SECRET_KEY"));
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Credentials::new(
            id,
            secret,
            set("AWS_SESSION_TOKEN"),
            None,
            "environment",
        )),
        _ => Err(MetricError::Failed(
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into(),
        )),
    }
}

/// STS's `AssumeRoleWithWebIdentity` request, a Query API form as the SDK posts it (unsigned:
/// the token is the proof).
pub fn web_identity_call(
    sts: &str,
    role_arn: &str,
    session_name: &str,
    token: &str,
) -> Result<Call, MetricError> {
    let url = reqwest::Url::parse(&format!("{}/", sts.trim_end_matches('/')))
        .map_err(|e| MetricError::Failed(format!("{sts} is not a URL: {e}")))?;
    let mut form =
        reqwest::Url::parse("http://form/").map_err(|e| MetricError::Failed(e.to_string()))?;
    form.query_pairs_mut()
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", role_arn)
        .append_pair("RoleSessionName", session_name)
        .append_pair("WebIdentityToken", token);
    Ok(Call {
        method: reqwest::Method::POST,
        url,
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )],
        body: Some(form.query().unwrap_or_default().to_owned()),
        timeout: TIMEOUT,
    })
}

/// The credentials of an `AssumeRoleWithWebIdentity` answer.
pub fn web_identity_credentials(body: &[u8]) -> Result<Credentials, MetricError> {
    let field = |name: &str| -> Result<String, MetricError> {
        texts(
            body,
            &[
                "AssumeRoleWithWebIdentityResponse",
                "AssumeRoleWithWebIdentityResult",
                "Credentials",
                name,
            ],
            usize::MAX,
        )?
        .into_iter()
        .next()
        .ok_or_else(|| MetricError::Failed(format!("STS answered without Credentials.{name}")))
    };
    Ok(Credentials::new(
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        Some(field("SessionToken")?),
        None,
        "web identity",
    ))
}

/// The credentials of a container or instance metadata answer (JSON).
pub fn json_credentials(body: &[u8]) -> Result<Credentials, MetricError> {
    let v: Value = super::json("the AWS credentials endpoint", body)?;
    let field = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| MetricError::Failed(format!("the AWS credentials endpoint sent no {k}")))
    };
    Ok(Credentials::new(
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        v["Token"].as_str().map(str::to_owned),
        None,
        "credentials endpoint",
    ))
}

/// The STS endpoint of a region (`AWS_ENDPOINT_URL_STS` overrides it, as the SDKs read it).
#[must_use]
pub fn sts_endpoint(region: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    env("AWS_ENDPOINT_URL_STS")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"))
}

/// A GET with headers, for the credential endpoints.
#[must_use]
pub fn get(url: reqwest::Url, headers: Vec<(String, String)>) -> Call {
    Call {
        method: reqwest::Method::GET,
        url,
        headers,
        body: None,
        timeout: TIMEOUT,
    }
}
