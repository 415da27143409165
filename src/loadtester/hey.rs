//! The built-in load generator: a webhook's `hey ...` command (rakyll/hey v0.1.5, the load
//! generator Flagger's tutorials run) parsed as hey parses its arguments and carried out with
//! fledge's HTTP client, so that no `hey` binary is needed.
//!
//! hey's flags are Go's `flag` package: single-dash long names (`-host`, `-disable-keepalive`),
//! `-flag value` or `-flag=value`, bool flags without a value, and parsing stops at the first
//! word that is not a flag (the URL). clap has no single-dash long flags and reads a `-h2` as
//! `-h 2`, so the parser below is written by hand, following `flag.FlagSet.parseOne`.
//!
//! A command that uses shell syntax (`|`, `;`, `$`, redirections) or a hey option the built-in
//! generator does not carry out (`-h2`, `-x`) runs through `sh -c` as Flagger's load tester
//! runs it, so it needs a `hey` binary.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::release::spec::parse_duration;

/// hey's User-Agent, appended to one the command sets.
const HEY_UA: &str = "hey/0.0.1";

/// How many distinct errors a summary keeps.
const MAX_ERRORS: usize = 20;

/// What a background command is to the load tester.
#[derive(Debug)]
pub enum Builtin {
    /// A hey invocation the built-in generator carries out.
    Load(Box<Invocation>),
    /// A hey invocation that hey itself refuses (its usage message).
    Usage(String),
    /// Anything else, run through `sh -c`; for a hey command, why it is not built in.
    Shell(Option<String>),
}

impl Builtin {
    /// Classifies a `cmd` task's command.
    #[must_use]
    pub fn of(command: &str) -> Self {
        let Some(words) = shlex::split(command) else {
            return Self::Shell(None);
        };
        let Some((first, args)) = words.split_first() else {
            return Self::Shell(None);
        };
        if first != "hey" && !first.ends_with("/hey") {
            return Self::Shell(None);
        }
        if let Some(c) = shell_syntax(command) {
            return Self::Shell(Some(format!("the command uses shell syntax ({c:?})")));
        }
        match Invocation::parse(args) {
            Ok(i) => Self::Load(Box::new(i)),
            Err(ParseError::Unsupported(why)) => Self::Shell(Some(why)),
            Err(ParseError::Usage(msg)) => Self::Usage(msg),
        }
    }
}

/// The first character that `sh` would read as more than a word (a pipe, a list, a
/// substitution, a redirection, a comment, a home directory), outside the quotes that make it
/// literal. Glob characters are left out: in a URL (with its `/`) they match no file, so `sh`
/// passes them on as they are.
fn shell_syntax(command: &str) -> Option<char> {
    let mut single = false;
    let mut double = false;
    let mut word_start = true;
    for c in command.chars() {
        if single {
            single = c != '\'';
            continue;
        }
        match c {
            '\'' if !double => single = true,
            '"' => double = !double,
            '$' | '`' | '\\' => return Some(c),
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '\n' if !double => return Some(c),
            '#' | '~' if !double && word_start => return Some(c),
            _ => {}
        }
        word_start = !double && (c == ' ' || c == '\t');
    }
    None
}

/// Why hey's arguments are not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// hey itself would refuse them (exit status 1 and its usage).
    Usage(String),
    /// hey would run them, the built-in generator does not.
    Unsupported(String),
}

/// One run of hey, as its `main` sets it up.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub url: reqwest::Url,
    pub method: reqwest::Method,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Requests in all (`-n`); with a duration, as many as fit.
    pub requests: u64,
    pub concurrency: u64,
    /// Per worker (`-q`); 0 for no limit.
    pub qps: f64,
    /// `-z`; zero for none.
    pub duration: Duration,
    /// `-t` in seconds; 0 for none.
    pub timeout_secs: u64,
    pub disable_keepalive: bool,
    pub disable_redirects: bool,
    pub basic_auth: Option<(String, String)>,
    /// Flags given that change nothing here (`-o csv`, `-cpus`, `-disable-compression`), for a
    /// warning.
    pub without_effect: Vec<String>,
}

/// The values of hey's flags, as Go's `flag` package leaves them.
#[derive(Debug)]
struct Flags {
    strings: BTreeMap<&'static str, String>,
    ints: BTreeMap<&'static str, i64>,
    q: f64,
    z: Duration,
    bools: BTreeMap<&'static str, bool>,
    headers: Vec<String>,
}

const STRING_FLAGS: [&str; 11] = ["m", "h", "d", "D", "A", "T", "a", "host", "U", "o", "x"];
const INT_FLAGS: [&str; 4] = ["c", "n", "t", "cpus"];
const BOOL_FLAGS: [&str; 4] = [
    "h2",
    "disable-compression",
    "disable-keepalive",
    "disable-redirects",
];

impl Flags {
    fn defaults() -> Self {
        Self {
            strings: [("m", "GET"), ("T", "text/html")]
                .into_iter()
                .map(|(k, v)| (k, v.to_owned()))
                .collect(),
            ints: [("c", 50), ("n", 200), ("t", 20)].into_iter().collect(),
            q: 0.0,
            z: Duration::ZERO,
            bools: BTreeMap::new(),
            headers: Vec::new(),
        }
    }

    fn string(&self, name: &str) -> &str {
        self.strings.get(name).map_or("", String::as_str)
    }

    /// Parses the flags, as `flag.FlagSet.Parse`; returns the words after them.
    fn parse(args: &[String]) -> Result<(Self, &[String]), ParseError> {
        let mut flags = Self::defaults();
        let mut rest = args;
        while let Some((word, tail)) = rest.split_first() {
            if word.len() < 2 || !word.starts_with('-') {
                break;
            }
            rest = tail;
            let name = if let Some(long) = word.strip_prefix("--") {
                if long.is_empty() {
                    break;
                }
                long
            } else {
                &word[1..]
            };
            if name.is_empty() || name.starts_with(['-', '=']) {
                return Err(usage(&format!("bad flag syntax: {word}")));
            }
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (name, None),
            };
            if let Some(&b) = BOOL_FLAGS.iter().find(|f| **f == name) {
                let v = match value {
                    None => true,
                    Some(v) => go_bool(&v).ok_or_else(|| {
                        usage(&format!(
                            "invalid boolean value {v:?} for -{name}: parse error"
                        ))
                    })?,
                };
                flags.bools.insert(b, v);
                continue;
            }
            let value = if let Some(v) = value {
                v
            } else {
                let Some((v, tail)) = rest.split_first() else {
                    return Err(usage(&format!("flag needs an argument: -{name}")));
                };
                rest = tail;
                v.clone()
            };
            flags.set(name, value)?;
        }
        Ok((flags, rest))
    }

    fn set(&mut self, name: &str, value: String) -> Result<(), ParseError> {
        let invalid =
            |what: &str| usage(&format!("invalid value {value:?} for flag -{name}: {what}"));
        if name == "H" {
            self.headers.push(value);
        } else if name == "q" {
            self.q = value.parse().map_err(|_| invalid("parse error"))?;
        } else if name == "z" {
            self.z = go_duration(&value).ok_or_else(|| invalid("parse error"))?;
        } else if let Some(&f) = INT_FLAGS.iter().find(|f| **f == name) {
            self.ints
                .insert(f, go_int(&value).ok_or_else(|| invalid("parse error"))?);
        } else if let Some(&f) = STRING_FLAGS.iter().find(|f| **f == name) {
            self.strings.insert(f, value);
        } else {
            return Err(usage(&format!("flag provided but not defined: -{name}")));
        }
        Ok(())
    }
}

fn usage(msg: &str) -> ParseError {
    ParseError::Usage(msg.to_owned())
}

/// `strconv.ParseInt(s, 0, 64)`: a sign, then decimal, `0x`, `0o`, `0b` or a leading-zero octal,
/// with `_` between digits.
fn go_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b.to_owned())
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b.to_owned())
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b.to_owned())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_owned())
    } else {
        (10, lower.clone())
    };
    if body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let v = i64::from_str_radix(&body.replace('_', ""), radix).ok()?;
    Some(if negative { -v } else { v })
}

/// `time.ParseDuration`, where a negative duration counts as none (hey only asks `> 0`).
fn go_duration(s: &str) -> Option<Duration> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let d = if rest == "0" {
        Duration::ZERO
    } else {
        parse_duration(rest)?
    };
    Some(if negative { Duration::ZERO } else { d })
}

fn header_regex() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"^((?-u:[\w-])+):\s*(.+)").expect("a valid regex"))
}

fn auth_regex() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"^(.+):([^\s].+)").expect("a valid regex"))
}

impl Invocation {
    /// hey's arguments (after `hey`), checked as hey's `main` checks them.
    ///
    /// # Errors
    ///
    /// What hey would refuse, or what the built-in generator does not carry out.
    pub fn parse(args: &[String]) -> Result<Self, ParseError> {
        let (flags, rest) = Flags::parse(args)?;
        let Some(url) = rest.first() else {
            return Err(usage("hey needs a URL: hey [options...] <url>"));
        };
        if rest.len() > 1 {
            return Err(ParseError::Unsupported(format!(
                "words after the URL ({:?}) that hey ignores",
                &rest[1..]
            )));
        }
        for (flag, what) in [("h2", "HTTP/2 (-h2)")] {
            if flags.bools.get(flag).copied().unwrap_or(false) {
                return Err(ParseError::Unsupported(what.to_owned()));
            }
        }
        if !flags.string("x").is_empty() {
            return Err(ParseError::Unsupported("a proxy (-x)".to_owned()));
        }
        if !flags.string("h").is_empty() {
            return Err(usage("Flag '-h' is deprecated, please use '-H' instead."));
        }
        let (requests, concurrency) = counts(&flags)?;
        let url = reqwest::Url::parse(url).map_err(|e| usage(&format!("parse {url:?}: {e}")))?;
        let method = reqwest::Method::from_bytes(flags.string("m").to_uppercase().as_bytes())
            .map_err(|_| usage(&format!("net/http: invalid method {:?}", flags.string("m"))))?;
        let body = match flags.string("D") {
            "" => flags.string("d").as_bytes().to_vec(),
            file => std::fs::read(file).map_err(|e| usage(&format!("open {file}: {e}")))?,
        };
        let basic_auth = match flags.string("a") {
            "" => None,
            a => {
                let m = auth_regex().captures(a).ok_or_else(|| {
                    usage(&format!("could not parse the provided input; input = {a}"))
                })?;
                Some((m[1].to_owned(), m[2].to_owned()))
            }
        };
        Ok(Self {
            url,
            method,
            headers: headers(&flags)?,
            body,
            requests,
            concurrency,
            qps: flags.q,
            duration: flags.z,
            timeout_secs: u64::try_from(*flags.ints.get("t").unwrap_or(&20)).unwrap_or(0),
            disable_keepalive: flags
                .bools
                .get("disable-keepalive")
                .copied()
                .unwrap_or(false),
            disable_redirects: flags
                .bools
                .get("disable-redirects")
                .copied()
                .unwrap_or(false),
            basic_auth,
            without_effect: without_effect(args),
        })
    }
}

/// The flags in `args` that the built-in generator accepts without effect: `-o` (its summary
/// goes to the log), `-cpus` (a Go scheduler setting), `-disable-compression` (fledge never
/// asks for compression).
fn without_effect(args: &[String]) -> Vec<String> {
    args.iter()
        .filter(|a| {
            let name = a.trim_start_matches('-');
            let name = name.split_once('=').map_or(name, |(n, _)| n);
            a.starts_with('-') && ["o", "cpus", "disable-compression"].contains(&name)
        })
        .cloned()
        .collect()
}

/// `-n` and `-c` as hey checks them.
fn counts(flags: &Flags) -> Result<(u64, u64), ParseError> {
    let n = flags.ints.get("n").copied().unwrap_or(200);
    let c = flags.ints.get("c").copied().unwrap_or(50);
    if flags.z > Duration::ZERO {
        if c <= 0 {
            return Err(usage("-c cannot be smaller than 1."));
        }
        // hey's `math.MaxInt32` requests: as many as fit in the duration.
        return Ok((u64::from(i32::MAX.unsigned_abs()), c.unsigned_abs()));
    }
    if n <= 0 || c <= 0 {
        return Err(usage("-n and -c cannot be smaller than 1."));
    }
    if n < c {
        return Err(usage("-n cannot be less than -c."));
    }
    Ok((n.unsigned_abs(), c.unsigned_abs()))
}

/// The request headers hey sends: Content-Type, then `-H`, `-A`, `-host`, User-Agent.
fn headers(flags: &Flags) -> Result<HeaderMap, ParseError> {
    fn put(h: &mut HeaderMap, name: &str, value: &str) -> Result<(), ParseError> {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| usage(&format!("invalid header name {name:?}")))?;
        let v = HeaderValue::from_str(value)
            .map_err(|_| usage(&format!("invalid value for header {name}")))?;
        h.insert(n, v);
        Ok(())
    }
    let mut h = HeaderMap::new();
    put(&mut h, "Content-Type", flags.string("T"))?;
    for header in &flags.headers {
        let m = header_regex().captures(header).ok_or_else(|| {
            usage(&format!(
                "could not parse the provided input; input = {header}"
            ))
        })?;
        put(&mut h, &m[1], &m[2])?;
    }
    if !flags.string("A").is_empty() {
        put(&mut h, "Accept", flags.string("A"))?;
    }
    if !flags.string("host").is_empty() {
        put(&mut h, "Host", flags.string("host"))?;
    }
    let mut ua = match h.get("user-agent").and_then(|v| v.to_str().ok()) {
        Some(ua) if !ua.is_empty() => format!("{ua} {HEY_UA}"),
        _ => HEY_UA.to_owned(),
    };
    if !flags.string("U").is_empty() {
        ua = format!("{} {HEY_UA}", flags.string("U"));
    }
    put(&mut h, "User-Agent", &ua)?;
    Ok(h)
}

/// A load run's failure before any request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot build the HTTP client for {url}")]
    Client {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

/// What a run did, as hey's summary reports it.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub total: Duration,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<String, u64>,
    fastest: Option<Duration>,
    slowest: Duration,
    latency_sum: Duration,
}

impl Summary {
    /// Requests made, answered or not.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.errors.values().sum::<u64>()
    }

    fn record(&mut self, latency: Duration, outcome: Result<u16, String>) {
        self.fastest = Some(self.fastest.map_or(latency, |f| f.min(latency)));
        self.slowest = self.slowest.max(latency);
        self.latency_sum += latency;
        match outcome {
            Ok(status) => *self.statuses.entry(status).or_default() += 1,
            Err(e) => {
                if self.errors.len() < MAX_ERRORS || self.errors.contains_key(&e) {
                    *self.errors.entry(e).or_default() += 1;
                } else {
                    *self.errors.entry("(other errors)".to_owned()).or_default() += 1;
                }
            }
        }
    }

    fn merge(&mut self, other: Self) {
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.fastest = match (self.fastest, other.fastest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.slowest = self.slowest.max(other.slowest);
        self.latency_sum += other.latency_sum;
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.requests();
        writeln!(f, "Summary:")?;
        writeln!(f, "  Total:\t{:.4} secs", self.total.as_secs_f64())?;
        writeln!(f, "  Slowest:\t{:.4} secs", self.slowest.as_secs_f64())?;
        let fastest = self.fastest.unwrap_or_default().as_secs_f64();
        writeln!(f, "  Fastest:\t{fastest:.4} secs")?;
        let count = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        let average = (self.latency_sum / count).as_secs_f64();
        writeln!(f, "  Average:\t{average:.4} secs")?;
        #[expect(clippy::cast_precision_loss, reason = "a rate for people to read")]
        let rate = n as f64 / self.total.as_secs_f64().max(f64::EPSILON);
        writeln!(f, "  Requests/sec:\t{rate:.4}")?;
        writeln!(f, "\nStatus code distribution:")?;
        for (status, count) in &self.statuses {
            writeln!(f, "  [{status}]\t{count} responses")?;
        }
        if !self.errors.is_empty() {
            writeln!(f, "\nError distribution:")?;
            for (e, count) in &self.errors {
                writeln!(f, "  [{count}]\t{e}")?;
            }
        }
        Ok(())
    }
}

impl Invocation {
    fn client(&self) -> Result<reqwest::Client, Error> {
        // hey's `-t 0` is no timeout; a year stands for it (reqwest takes a duration).
        let timeout = match self.timeout_secs {
            0 => Duration::from_secs(365 * 24 * 3600),
            t => Duration::from_secs(t),
        };
        let idle = if self.disable_keepalive {
            0
        } else {
            usize::try_from(self.concurrency.min(500)).unwrap_or(500)
        };
        // hey skips certificate checks (`InsecureSkipVerify: true`); so does its stand-in.
        crate::net::http_client_builder(timeout, true)
            .pool_max_idle_per_host(idle)
            .redirect(if self.disable_redirects {
                reqwest::redirect::Policy::none()
            } else {
                reqwest::redirect::Policy::limited(10)
            })
            .build()
            .map_err(|source| Error::Client {
                url: self.url.to_string(),
                source,
            })
    }

    /// Makes the requests, as hey's workers do: `-c` workers, each making its share of `-n`
    /// (or requests until `-z` has passed), each at most `-q` a second.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built.
    pub async fn run(&self) -> Result<Summary, Error> {
        let client = self.client()?;
        let stop = CancellationToken::new();
        let start = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        let per_worker = self.requests / self.concurrency;
        for _ in 0..self.concurrency {
            let (client, this, stop) = (client.clone(), self.clone(), stop.clone());
            workers.spawn(async move { this.worker(&client, per_worker, &stop).await });
        }
        let timed = self.duration > Duration::ZERO;
        let deadline = tokio::time::sleep(self.duration);
        tokio::pin!(deadline);
        let mut summary = Summary::default();
        loop {
            tokio::select! {
                done = workers.join_next() => match done {
                    Some(Ok(s)) => summary.merge(s),
                    Some(Err(e)) => tracing::warn!(error = %e, "a load worker failed"),
                    None => break,
                },
                // hey's `-z`: workers stop before their next request once it has passed.
                () = &mut deadline, if timed && !stop.is_cancelled() => stop.cancel(),
            }
        }
        summary.total = start.elapsed();
        Ok(summary)
    }

    async fn worker(&self, client: &reqwest::Client, n: u64, stop: &CancellationToken) -> Summary {
        let mut summary = Summary::default();
        let mut throttle = (self.qps > 0.0).then(|| {
            // hey's ticker: `time.Duration(1e6/QPS) * time.Microsecond`, first tick one period
            // in; a tick missed while a request ran is taken at once, the rest dropped.
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "Go's conversion of the float period to whole microseconds"
            )]
            let period = Duration::from_micros(((1e6 / self.qps) as u64).max(1));
            let mut t = tokio::time::interval_at(Instant::now() + period, period);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            t
        });
        for _ in 0..n {
            if stop.is_cancelled() {
                break;
            }
            if let Some(t) = &mut throttle {
                t.tick().await;
            }
            let began = Instant::now();
            let outcome = self.request(client).await;
            summary.record(began.elapsed(), outcome);
        }
        summary
    }

    async fn request(&self, client: &reqwest::Client) -> Result<u16, String> {
        let mut req = client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone());
        if let Some((user, password)) = &self.basic_auth {
            req = req.basic_auth(user, Some(password));
        }
        if !self.body.is_empty() {
            req = req.body(self.body.clone());
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| crate::chain::Chain(&e).to_string())?;
        let status = resp.status().as_u16();
        // The body is read to its end and dropped, as hey does.
        while let Some(_chunk) = resp
            .chunk()
            .await
            .map_err(|e| crate::chain::Chain(&e).to_string())?
        {}
        Ok(status)
    }
}

/// `strconv.ParseBool`: what Go's flags (and Flagger's load tester, for `returnCmdOutput` and
/// `logCmdOutput`) accept as a boolean.
#[must_use]
pub fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        shlex::split(s).unwrap()
    }

    #[test]
    fn tutorial_invocations_parse() {
        let Builtin::Load(i) = Builtin::of("hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/")
        else {
            panic!("built in")
        };
        assert_eq!(i.duration, Duration::from_secs(60));
        assert!((i.qps - 10.0).abs() < f64::EPSILON);
        assert_eq!(i.concurrency, 2);
        assert_eq!(i.url.as_str(), "http://podinfo-canary.test:9898/");
        assert_eq!(i.headers["content-type"], "text/html");
        assert_eq!(i.headers["user-agent"], "hey/0.0.1");

        let i = Invocation::parse(&words(
            "-n 30 -c=3 -m post -d '{test: 2}' -H 'Cookie: type=insider' -H X-A:b -T application/json -A text/plain -host app.example.com -U me -a u:pw --disable-redirects http://x/",
        ))
        .unwrap();
        assert_eq!((i.requests, i.concurrency), (30, 3));
        assert_eq!(i.method, reqwest::Method::POST);
        assert_eq!(i.body, b"{test: 2}");
        assert_eq!(i.headers["cookie"], "type=insider");
        assert_eq!(i.headers["x-a"], "b");
        assert_eq!(i.headers["content-type"], "application/json");
        assert_eq!(i.headers["accept"], "text/plain");
        assert_eq!(i.headers["host"], "app.example.com");
        assert_eq!(i.headers["user-agent"], "me hey/0.0.1");
        assert_eq!(i.basic_auth, Some(("u".into(), "pw".into())));
        assert!(i.disable_redirects);
        assert!(i.without_effect.is_empty());

        let i = Invocation::parse(&words("-o csv -cpus=2 -z 1s http://x/")).unwrap();
        assert_eq!(i.without_effect, ["-o", "-cpus=2"]);
    }

    #[test]
    fn what_hey_refuses_and_what_runs_through_sh() {
        for (args, msg) in [
            ("-n 1 -c 2 http://x/", "-n cannot be less than -c."),
            ("-c 0 -z 1s http://x/", "-c cannot be smaller than 1."),
            ("-q", "flag needs an argument: -q"),
            ("-zz 1s http://x/", "flag provided but not defined: -zz"),
            (
                "-z 1 http://x/",
                "invalid value \"1\" for flag -z: parse error",
            ),
            ("-z 1s", "hey needs a URL: hey [options...] <url>"),
            (
                "-H nocolon http://x/",
                "could not parse the provided input; input = nocolon",
            ),
        ] {
            assert_eq!(
                Invocation::parse(&words(args)).unwrap_err(),
                ParseError::Usage(msg.into()),
                "{args}"
            );
        }
        for cmd in [
            "hey -z 1m http://x/ | tee out",
            "hey -z 1m http://x/; echo done",
            "hey -z 1m http://$HOST/",
            "hey -h2 -z 1m http://x/",
            "hey -x proxy:8080 http://x/",
        ] {
            assert!(matches!(Builtin::of(cmd), Builtin::Shell(Some(_))), "{cmd}");
        }
        assert!(matches!(
            Builtin::of("curl http://x/"),
            Builtin::Shell(None)
        ));
        assert!(matches!(
            Builtin::of("hey -z 1m -m POST -d 'a;b|c' \"http://x/?q=1&r=2\""),
            Builtin::Load(_)
        ));
    }

    #[test]
    fn go_numbers() {
        assert_eq!(go_int("0x10"), Some(16));
        assert_eq!(go_int("010"), Some(8));
        assert_eq!(go_int("1_000"), Some(1000));
        assert_eq!(go_int("-3"), Some(-3));
        assert_eq!(go_int("1.5"), None);
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("0"), Some(Duration::ZERO));
        assert_eq!(go_duration("-1s"), Some(Duration::ZERO));
        assert_eq!(go_duration("5"), None);
    }
}
