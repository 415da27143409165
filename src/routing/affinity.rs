//! Session affinity (`analysis.sessionAffinity`), as Flagger 1.44's istio and gatewayapi
//! routers pin clients: while the canary has traffic, its responses set a cookie, and requests
//! carrying it go to the canary only (with `primaryCookieName`, the primary's responses set
//! another, for one analysis interval, and requests carrying that stay on the primary); once
//! the canary's traffic is back to zero, requests carrying a cookie of that run have it expired.
//!
//! Flagger draws each cookie's value at random and keeps it in the Canary's status; fledge
//! derives it from the revision under analysis ([`cookie_value`]), so it is the same across
//! ticks and restarts without being stored.

use std::fmt::Write as _;

use serde_json::Value;

use super::{RouteInput, cookie_value};

/// A cookie: its name and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cookie {
    pub(super) name: String,
    pub(super) value: String,
}

impl Cookie {
    /// The regular expression a request's `Cookie` header must match to carry this cookie
    /// (Flagger's `.*<name>.*<value>.*`).
    pub(super) fn pattern(&self) -> String {
        format!(".*{}.*{}.*", self.name, self.value)
    }

    /// The `Set-Cookie` value that expires it.
    pub(super) fn expired(&self) -> String {
        format!("{}={}; Max-Age=-1", self.name, self.value)
    }
}

/// What a router pins, for a release with `sessionAffinity`.
#[derive(Debug, Clone)]
pub(crate) enum Pinning<'a> {
    /// The canary has traffic: its cookie (set for `maxAge`), and the primary's when
    /// `primaryCookieName` is set (set for one analysis interval).
    Active {
        affinity: &'a Value,
        canary: Cookie,
        primary: Option<Cookie>,
        interval: u64,
    },
    /// No traffic on the canary after a run: the cookie of that run, to expire.
    Idle { expire: Cookie },
}

/// The `Set-Cookie` value for `cookie`, set for `max_age` seconds with the affinity's
/// attributes, in the order Flagger's `BuildCookie` writes them.
pub(crate) fn set_cookie(affinity: &Value, cookie: &Cookie, max_age: i64) -> String {
    let mut out = format!("{}={}; Max-Age={max_age}", cookie.name, cookie.value);
    if let Some(d) = affinity["domain"].as_str().filter(|d| !d.is_empty()) {
        let _ = write!(out, "; Domain={d}");
    }
    if affinity["httpOnly"] == true {
        out.push_str("; HttpOnly");
    }
    if affinity["partitioned"] == true {
        out.push_str("; Partitioned");
    }
    if let Some(p) = affinity["path"].as_str().filter(|p| !p.is_empty()) {
        let _ = write!(out, "; Path={p}");
    }
    if let Some(s) = affinity["sameSite"].as_str().filter(|s| !s.is_empty()) {
        let _ = write!(out, "; SameSite={s}");
    }
    if affinity["secure"] == true {
        out.push_str("; Secure");
    }
    out
}

/// The cookie Flagger's `cookieName` (default `flagger-cookie`) names for a revision.
fn canary_cookie(affinity: &Value, revision: &str) -> Cookie {
    Cookie {
        name: affinity["cookieName"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or("flagger-cookie")
            .to_owned(),
        value: cookie_value(revision),
    }
}

/// What `input`'s router pins, when the release has `sessionAffinity`.
pub(crate) fn pinning<'a>(input: &RouteInput<'a>) -> Option<Pinning<'a>> {
    let spec = input.spec;
    let affinity = spec.analysis.session_affinity.as_ref()?;
    let revision = input.canary_revision;
    if input.weights.canary == 0 {
        // Before any run, the split alone, as Flagger's routes stand after initialisation.
        return input.canary_ran.then(|| Pinning::Idle {
            expire: canary_cookie(affinity, revision),
        });
    }
    let primary = affinity["primaryCookieName"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(|name| Cookie {
            name: name.to_owned(),
            value: cookie_value(&format!("{revision}/primary")),
        });
    Some(Pinning::Active {
        affinity,
        canary: canary_cookie(affinity, revision),
        primary,
        interval: spec.analysis.interval.as_secs(),
    })
}

/// `maxAge`, default a day, as Flagger's `GetMaxAge`.
pub(crate) fn max_age(affinity: &Value) -> i64 {
    affinity["maxAge"]
        .as_i64()
        .filter(|a| *a != 0)
        .unwrap_or(86_400)
}
