//! Splunk Observability (SignalFx), as Flagger's provider queries it (Flagger 1.38+, through
//! `signalflow-client-go`): the template's query is a SignalFlow program, executed over the
//! SignalFlow WebSocket API (<https://dev.splunk.com/observability/docs/signalflow/messages/>).
//!
//! From `spec.provider.address` (`https://api.<realm>.signalfx.com`) Flagger derives two
//! endpoints by plain text replacement: the stream `wss://stream.<realm>.signalfx.com/v2/signalflow`
//! (its first `http` becomes `ws`, its first `api` becomes `stream`) and the check
//! `https://api.<realm>.signalfx.com/v2/metric?limit=1` (the reverse). fledge does the same:
//!
//! 1. `GET <check>` with the `X-SF-Token` header (Flagger's `IsOnline`): 401/403 is refused
//!    credentials, no answer or 5xx is unreachable;
//! 2. a WebSocket to `<stream>/connect`, the text message
//!    `{"type":"authenticate","token":…}`, and after `authenticated`,
//!    `{"type":"execute","program":…,"channel":"ch-1","start":…,"stop":…,"resolution":0,
//!    "maxDelay":0,"immediate":true,"timezone":""}` over the last 10 metric intervals
//!    (milliseconds);
//! 3. the binary data messages of the channel (a 20-byte header: version, type, flags — bit 0
//!    gzip, bit 1 JSON — and the NUL-padded channel name; then the timestamp, the count and
//!    17-byte points: value type 1 long, 2 double, 3 int, the 8-byte TSID, the 8-byte value)
//!    until the `END_OF_CHANNEL` or `CHANNEL_ABORT` control message.
//!
//! The value is the last point's; points of more than one time series (TSID) are an error, as
//! in Flagger, and none is no data. An `error` message on the channel fails the check; one
//! before `authenticated` is refused credentials. Each step waits at most 5 s (Flagger's
//! timeout), the whole computation at most a minute (its client's read timeout).

use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message};

use super::{Call, MetricError, TIMEOUT};

/// The Secret key Flagger reads.
pub const TOKEN_KEY: &str = "sf_token_key";

/// The channel of the one computation.
const CHANNEL: &str = "ch-1";

/// Flagger looks back this many metric intervals.
const INTERVALS_BACK: u32 = 10;

/// The longest wait for a whole computation (signalflow-client-go's read timeout).
const COMPUTATION_TIMEOUT: Duration = Duration::from_mins(1);

/// The stream and check endpoints Flagger derives from an address, by its text replacements.
#[must_use]
pub fn endpoints(address: &str) -> (String, String) {
    let stream = format!("{address}/v2/signalflow")
        .replacen("http", "ws", 1)
        .replacen("api", "stream", 1);
    let check = format!("{address}/v2/metric?limit=1")
        .replacen("ws", "http", 1)
        .replacen("stream", "api", 1);
    (format!("{stream}/connect"), check)
}

/// The check request (Flagger's `IsOnline`).
pub fn check_call(check: &str, token: &str) -> Result<Call, MetricError> {
    let url = reqwest::Url::parse(check)
        .map_err(|e| MetricError::Failed(format!("splunk check endpoint {check:?}: {e}")))?;
    Ok(Call {
        method: reqwest::Method::GET,
        url,
        headers: vec![("X-SF-Token".into(), token.to_owned())],
        body: None,
        timeout: TIMEOUT,
    })
}

/// The authenticate message.
#[must_use]
pub fn authenticate(token: &str) -> String {
    json!({"type": "authenticate", "token": token}).to_string()
}

/// The execute message for `program` over the last 10 `interval`s before `now`.
#[must_use]
pub fn execute(program: &str, interval: Duration, now: SystemTime) -> String {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let stop = ms(now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default());
    let start = stop - ms(interval * INTERVALS_BACK);
    // Field order as Go marshals signalflow.ExecuteRequest.
    format!(
        r#"{{"type":"execute","program":{},"channel":"{CHANNEL}","start":{start},"stop":{stop},"resolution":0,"maxDelay":0,"immediate":true,"timezone":""}}"#,
        Value::from(program)
    )
}

/// One data point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub tsid: i64,
    pub value: f64,
}

/// Where a computation stands after a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Keep reading.
    More,
    /// Authenticated: send the execute message.
    Authenticated,
    /// The channel ended.
    Done,
}

/// A computation's messages, read as signalflow-client-go reads them.
#[derive(Debug, Default)]
pub struct Reader {
    authenticated: bool,
    points: Vec<Point>,
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

impl Reader {
    /// Reads a text (JSON) message.
    pub fn text(&mut self, text: &str) -> Result<Step, MetricError> {
        let m: Value = serde_json::from_str(text).map_err(|e| {
            MetricError::Failed(format!(
                "splunk sent a text message that is not JSON ({e}): {}",
                super::excerpt(text.as_bytes())
            ))
        })?;
        let ours = m["channel"].as_str() == Some(CHANNEL);
        match m["type"].as_str().unwrap_or("") {
            "authenticated" => {
                self.authenticated = true;
                Ok(Step::Authenticated)
            }
            "error" => {
                let said = format!(
                    "{} {}",
                    m["error"]
                        .as_i64()
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                    m["message"].as_str().unwrap_or("")
                );
                let said = said.trim();
                if !self.authenticated {
                    return Err(MetricError::Denied {
                        address: String::new(),
                        message: format!(
                            "SignalFlow refused the token: {said}: check sf_token_key in the template's Secret"
                        ),
                    });
                }
                Err(MetricError::Failed(format!(
                    "error executing query: SignalFlow answered {said}"
                )))
            }
            "control-message"
                if ours
                    && matches!(
                        m["event"].as_str(),
                        Some("END_OF_CHANNEL" | "CHANNEL_ABORT")
                    ) =>
            {
                Ok(Step::Done)
            }
            _ => Ok(Step::More),
        }
    }

    /// Reads a binary (data) message.
    pub fn binary(&mut self, msg: &[u8]) -> Result<Step, MetricError> {
        let bad = |why: &str| MetricError::Failed(format!("splunk sent a bad data message: {why}"));
        if msg.len() <= 20 {
            return Err(bad(&format!("{} bytes, not more than 20", msg.len())));
        }
        let flags = msg[2];
        let name = &msg[4..20];
        let channel = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
        let mut body = msg[20..].to_vec();
        if flags & 1 != 0 {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut plain)
                .map_err(|e| bad(&format!("gzip: {e}")))?;
            body = plain;
        }
        if flags & 2 != 0 {
            return Err(bad("a JSON-encoded binary message"));
        }
        if channel != CHANNEL.as_bytes() {
            return Ok(Step::More);
        }
        if body.len() < 12 {
            return Err(bad("no data header"));
        }
        let count = u32::from_be_bytes([body[8], body[9], body[10], body[11]]) as usize;
        let points = &body[12..];
        if points.len() < count * 17 {
            return Err(bad(&format!("{count} points announced, fewer sent")));
        }
        for p in points.chunks_exact(17).take(count) {
            let raw = be_u64(&p[9..17]);
            #[allow(clippy::cast_possible_wrap, clippy::cast_precision_loss)]
            let value = match p[0] {
                1 => raw as i64 as f64,
                2 => f64::from_bits(raw),
                3 => f64::from(i32::from_be_bytes([p[9], p[10], p[11], p[12]])),
                // A type the client does not know has no value (Flagger drops it).
                _ => continue,
            };
            #[allow(clippy::cast_possible_wrap)]
            let tsid = be_u64(&p[1..9]) as i64;
            self.points.push(Point { tsid, value });
        }
        Ok(Step::More)
    }

    /// The computation's value: the last point; more than one time series is an error.
    pub fn value(&self) -> Result<f64, MetricError> {
        let Some(last) = self.points.last() else {
            return Err(MetricError::NoData(
                "SignalFlow returned no data points".into(),
            ));
        };
        if self.points.iter().any(|p| p.tsid != last.tsid) {
            return Err(MetricError::Failed(
                "invalid response: the SignalFlow program returned more than one time series (multiple values returned); publish one".into(),
            ));
        }
        Ok(last.value)
    }
}

/// A byte stream a WebSocket runs over: TCP, or TLS over TCP.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Connects to the stream endpoint (`ws://` or `wss://`, verified against the platform's roots).
async fn connect(
    stream: &str,
) -> Result<tokio_tungstenite::WebSocketStream<Box<dyn Io>>, MetricError> {
    let unreachable = |message: String| MetricError::Unreachable {
        address: stream.to_owned(),
        message,
    };
    let url = reqwest::Url::parse(stream)
        .map_err(|e| MetricError::Failed(format!("splunk stream endpoint {stream:?}: {e}")))?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let tls = match url.scheme() {
        "wss" => true,
        "ws" => false,
        other => {
            return Err(MetricError::Failed(format!(
                "splunk stream endpoint {stream:?}: scheme {other:?} is not ws or wss (spec.provider.address should be https://api.<realm>.signalfx.com)"
            )));
        }
    };
    let port = url
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let io: Box<dyn Io> = if tls {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = <rustls::ClientConfig as rustls_platform_verifier::ConfigVerifierExt>::with_platform_verifier()
            .map_err(|e| MetricError::Failed(format!("TLS: {e}")))?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| MetricError::Failed(format!("TLS name {host:?}: {e}")))?;
        Box::new(
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| unreachable(format!("TLS: {e}")))?,
        )
    } else {
        Box::new(tcp)
    };
    let (ws, _) = tokio_tungstenite::client_async(stream, io)
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(r) if matches!(r.status().as_u16(), 401 | 403) => {
                MetricError::Denied {
                    address: stream.to_owned(),
                    message: format!(
                        "HTTP {}: check sf_token_key in the template's Secret",
                        r.status()
                    ),
                }
            }
            e => unreachable(format!("WebSocket: {e}")),
        })?;
    Ok(ws)
}

/// Runs `program` over the stream endpoint with `token`.
pub async fn compute(
    stream: &str,
    token: &str,
    program: &str,
    interval: Duration,
) -> Result<f64, MetricError> {
    let step = |what: &'static str| {
        move |_| MetricError::Unreachable {
            address: stream.to_owned(),
            message: format!("no {what} within {}s", TIMEOUT.as_secs()),
        }
    };
    let broken = |e: tungstenite::Error| MetricError::Unreachable {
        address: stream.to_owned(),
        message: format!("WebSocket: {e}"),
    };
    let mut ws = tokio::time::timeout(TIMEOUT, connect(stream))
        .await
        .map_err(step("connection"))??;
    tokio::time::timeout(TIMEOUT, ws.send(Message::text(authenticate(token))))
        .await
        .map_err(step("authentication sent"))?
        .map_err(broken)?;
    let mut reader = Reader::default();
    let read = async {
        loop {
            let Some(msg) = tokio::time::timeout(TIMEOUT, ws.next())
                .await
                .map_err(step("message"))?
            else {
                return Err(MetricError::Unreachable {
                    address: stream.to_owned(),
                    message: "the connection closed before the computation ended".into(),
                });
            };
            let result = match msg.map_err(broken)? {
                Message::Text(t) => reader.text(t.as_str()),
                Message::Binary(b) => reader.binary(&b),
                Message::Close(_) => Err(MetricError::Unreachable {
                    address: stream.to_owned(),
                    message: "the connection closed before the computation ended".into(),
                }),
                _ => Ok(Step::More),
            };
            match result.map_err(|e| match e {
                MetricError::Denied { message, .. } => MetricError::Denied {
                    address: stream.to_owned(),
                    message,
                },
                e => e,
            })? {
                Step::More => {}
                Step::Authenticated => {
                    let execute = execute(program, interval, SystemTime::now());
                    ws.send(Message::text(execute)).await.map_err(broken)?;
                }
                Step::Done => return Ok(()),
            }
        }
    };
    tokio::time::timeout(COMPUTATION_TIMEOUT, read)
        .await
        .map_err(|_| MetricError::Unreachable {
            address: stream.to_owned(),
            message: format!(
                "the computation did not end within {}s",
                COMPUTATION_TIMEOUT.as_secs()
            ),
        })??;
    let _ = ws.close(None).await;
    reader.value()
}
