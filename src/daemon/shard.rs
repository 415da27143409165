//! Shards, as Flux's controllers split their objects (`--watch-label-selector`): a daemon given
//! a label selector syncs only the Flux Kustomizations and HelmReleases whose own labels (in
//! Git) match it, and ticks only the releases whose Canary's labels match. The root path is
//! like flux-system's own Kustomization, which carries no label: it belongs to a shard whose
//! selector matches an empty label set (the default shard, `!sharding.fluxcd.io/key`).
//!
//! What another shard owns is split off the commit ([`Shard::split`]) but still counts as
//! declared: this shard never applies it, and never prunes or retires it either.
//!
//! Pure: parses and matches, connects to nothing.

use std::collections::{BTreeMap, BTreeSet};

use kube::core::{Expression, Selector, SelectorExt as _};
use serde_json::Value;

use crate::release::spec::ReleaseKey;
use crate::rollout::targets::{Desired, SyncUnit};

/// The label Flux's shards are selected by.
pub const SHARD_KEY: &str = "sharding.fluxcd.io/key";

/// This daemon's shard: the selector, as given and parsed, and the shard's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// The selector as given (`--watch-label-selector`).
    pub text: String,
    selector: Selector,
    /// The name its Lease, root inventory and Releases' owner label carry; `None` for the
    /// default shard, which keeps the names of a daemon without shards.
    pub name: Option<String>,
}

/// What another shard owns of a commit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Foreign {
    pub units: Vec<SyncUnit>,
    pub releases: BTreeSet<ReleaseKey>,
}

impl Shard {
    /// The shard of `selector`, named `name` or else by the one value it requires of
    /// [`SHARD_KEY`]; a selector that does not say which shard it is and is not the default
    /// one (which requires that the key is absent) needs a name.
    pub fn new(selector: &str, name: Option<&str>) -> Result<Self, String> {
        let parsed =
            parse(selector).map_err(|e| format!("--watch-label-selector {selector:?}: {e}"))?;
        let named = name.map(ToOwned::to_owned).or_else(|| shard_value(&parsed));
        let default = parsed
            .clone()
            .into_iter()
            .any(|e| e == Expression::DoesNotExist(SHARD_KEY.into()));
        if named.is_none() && !default {
            return Err(format!(
                "--watch-label-selector {selector:?} names no shard (`{SHARD_KEY}=NAME`, or `!{SHARD_KEY}` for the default shard): give --shard-name, which names its Lease and root inventory"
            ));
        }
        if let Some(n) = &named
            && !is_dns_label(n)
        {
            return Err(format!(
                "shard name {n:?} (from --shard-name or --watch-label-selector) must be lower-case letters, digits and '-', at most 40 characters: it names the shard's Lease and inventory"
            ));
        }
        Ok(Self {
            text: selector.to_owned(),
            selector: parsed,
            name: named,
        })
    }

    /// Whether an object with `labels` (its `metadata.labels`, or `Null`) is this shard's.
    #[must_use]
    pub fn selects(&self, labels: &Value) -> bool {
        let labels: BTreeMap<String, String> = labels
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        self.selector.matches(&labels)
    }

    /// Whether `unit` is this shard's: the root path has no labels.
    #[must_use]
    pub fn owns(&self, unit: &SyncUnit) -> bool {
        self.selects(&unit.declared["metadata"]["labels"])
    }

    /// `name` with this shard's name appended (`fledge-leader-shard1`), or as it is for the
    /// default shard.
    #[must_use]
    pub fn suffixed(&self, name: &str) -> String {
        match &self.name {
            Some(n) => format!("{name}-{n}"),
            None => name.to_owned(),
        }
    }

    /// Takes what another shard owns out of `d`: its units, its releases (and their
    /// problems). The root unit keeps this shard's own inventory.
    pub fn split(&self, d: &mut Desired) -> Foreign {
        let (own, units): (Vec<SyncUnit>, Vec<SyncUnit>) = std::mem::take(&mut d.units)
            .into_iter()
            .partition(|u| self.owns(u));
        d.units = own;
        for u in d.units.iter_mut().filter(|u| u.root) {
            u.inventory = self.suffixed(&u.inventory);
        }
        let theirs = |k: &ReleaseKey| !self.selects(d.canary_labels.get(k).unwrap_or(&Value::Null));
        let releases: BTreeSet<ReleaseKey> = d
            .canary_labels
            .keys()
            .filter(|k| theirs(k))
            .cloned()
            .collect();
        d.releases.retain(|k, _| !releases.contains(k));
        d.problems
            .retain(|p| p.release.as_ref().is_none_or(|k| !releases.contains(k)));
        d.images.automations.retain(|_, a| match a {
            Ok(a) => self.selects(a.labels()),
            Err(_) => self.selects(&Value::Null),
        });
        Foreign { units, releases }
    }
}

/// The value `selector` requires of [`SHARD_KEY`], when it requires exactly one.
fn shard_value(selector: &Selector) -> Option<String> {
    selector.clone().into_iter().find_map(|e| match e {
        Expression::Equal(k, v) if k == SHARD_KEY => Some(v),
        Expression::In(k, vs) if k == SHARD_KEY && vs.len() == 1 => vs.into_iter().next(),
        _ => None,
    })
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Parses a label selector as Kubernetes writes one (`labels.Parse`): requirements separated
/// by commas, each `key`, `!key`, `key=value`, `key==value`, `key!=value`,
/// `key in (v1,v2)` or `key notin (v1,v2)`. kube-core matches selectors but parses only the
/// structured `LabelSelector`, not this text form, and no well-kept crate parses it: written
/// here, into kube-core's [`Expression`]s, which do the matching.
pub fn parse(text: &str) -> Result<Selector, String> {
    let mut out = Vec::new();
    for part in requirements(text)? {
        out.push(requirement(part.trim())?);
    }
    if out.is_empty() {
        return Err("an empty selector selects everything; give none instead".into());
    }
    Ok(out.into_iter().collect())
}

/// `text` split at the commas outside parentheses.
fn requirements(text: &str) -> Result<Vec<&str>, String> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0u32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' if depth == 0 => depth = 1,
            '(' => return Err("nested '('".into()),
            ')' if depth == 1 => depth = 0,
            ')' => return Err("')' without '('".into()),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("'(' without ')'".into());
    }
    parts.push(&text[start..]);
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    Ok(parts)
}

fn requirement(r: &str) -> Result<Expression, String> {
    if r.is_empty() {
        return Err("an empty requirement (two commas, or a trailing one)".into());
    }
    if let Some(key) = r.strip_prefix('!') {
        return Ok(Expression::DoesNotExist(key_of(key.trim())?));
    }
    for (op, neg) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((k, v)) = r.split_once(op) {
            let (k, v) = (key_of(k.trim())?, value_of(v.trim())?);
            return Ok(if neg {
                Expression::NotEqual(k, v)
            } else {
                Expression::Equal(k, v)
            });
        }
    }
    let mut words = r.splitn(2, char::is_whitespace);
    let key = key_of(words.next().unwrap_or_default())?;
    let Some(rest) = words.next().map(str::trim) else {
        return Ok(Expression::Exists(key));
    };
    let (op, set) = rest
        .split_once(char::is_whitespace)
        .or_else(|| rest.find('(').map(|i| (&rest[..i], &rest[i..])))
        .ok_or_else(|| format!("{r:?}: expected `in (…)` or `notin (…)` after the key"))?;
    let set = set
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("{r:?}: the values must be in parentheses"))?;
    let values = set
        .split(',')
        .map(|v| value_of(v.trim()))
        .collect::<Result<BTreeSet<String>, String>>()?;
    match op.trim() {
        "in" => Ok(Expression::In(key, values)),
        "notin" => Ok(Expression::NotIn(key, values)),
        other => Err(format!(
            "{r:?}: unknown operator {other:?} (=, ==, !=, in, notin, ! before a key)"
        )),
    }
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters (alphanumerics, `-`, `_`, `.`, beginning and ending alphanumeric).
fn key_of(k: &str) -> Result<String, String> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    });
    if !prefix_ok || name.is_empty() || !is_label_text(name) {
        return Err(format!("{k:?} is not a label key"));
    }
    Ok(k.to_owned())
}

/// A label value: empty, or as a key's name.
fn value_of(v: &str) -> Result<String, String> {
    if v.is_empty() || is_label_text(v) {
        Ok(v.to_owned())
    } else {
        Err(format!("{v:?} is not a label value"))
    }
}

fn is_label_text(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests;
