//! Semver constraints as Helm and source-controller read a chart's `version`
//! (Masterminds/semver v3): `||` between alternatives, commas or spaces between comparators
//! that must all hold, `=` `!=` `>` `<` `>=` `<=` `~` `^`, wildcards (`1.2.x`, `*`), hyphen
//! ranges (`1.2 - 1.4.5`); a version with a pre-release is met only by a group of comparators
//! one of which has one (Masterminds/semver v3.5.0's rule).
//! Written here because the semver crate reads Cargo's dialect (no `||`, no hyphen ranges, and
//! another pre-release rule).

use semver::Version;

/// A parsed constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint(Vec<Vec<Comparator>>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    /// The version written, wildcards as `None`.
    parts: [Option<u64>; 3],
    pre: semver::Prerelease,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Tilde,
    Caret,
}

/// A chart's version as Helm reads it: a leading `v` allowed, missing minor or patch as zero.
#[must_use]
pub fn version(text: &str) -> Option<Version> {
    let t = text.trim().trim_start_matches(['v', 'V']);
    if let Ok(v) = Version::parse(t) {
        return Some(v);
    }
    let (core, rest) = t.find(['-', '+']).map_or((t, ""), |i| t.split_at(i));
    let mut parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    parts.resize(3, "0");
    Version::parse(&format!("{}{rest}", parts.join("."))).ok()
}

impl Constraint {
    /// Reads `text`; `Err` says which part is not understood.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut any = Vec::new();
        for alternative in text.split("||") {
            let mut all = Vec::new();
            let normal = alternative.replace(',', " ");
            let tokens: Vec<&str> = normal.split_whitespace().collect();
            let mut i = 0;
            while i < tokens.len() {
                if tokens.get(i + 1) == Some(&"-") && i + 2 < tokens.len() {
                    all.push(Comparator::read(">=", tokens[i])?);
                    all.push(Comparator::read("<=", tokens[i + 2])?);
                    i += 3;
                    continue;
                }
                // An operator written apart from its version (`>= 1.2`).
                let (op, v) =
                    if tokens[i].chars().all(|c| "<>=!~^".contains(c)) && i + 1 < tokens.len() {
                        i += 1;
                        (tokens[i - 1], tokens[i])
                    } else {
                        let t = tokens[i];
                        let split = t.find(|c: char| !"<>=!~^".contains(c)).unwrap_or(t.len());
                        (&t[..split], &t[split..])
                    };
                all.push(Comparator::read(op, v)?);
                i += 1;
            }
            if all.is_empty() {
                all.push(Comparator::read("", "*")?);
            }
            any.push(all);
        }
        Ok(Self(any))
    }

    /// Whether `v` meets it. A pre-release meets a group of comparators only when one of them
    /// names a pre-release (Masterminds/semver v3.5.0, which Helm v4.3.2 and Flux's
    /// controllers build with: the group's `containsPre`).
    #[must_use]
    pub fn matches(&self, v: &Version) -> bool {
        self.0.iter().any(|all| {
            (v.pre.is_empty() || all.iter().any(|c| !c.pre.is_empty()))
                && all.iter().all(|c| c.matches(v))
        })
    }
}

impl Comparator {
    fn read(op: &str, version: &str) -> Result<Self, String> {
        let op = match op {
            "" | "=" | "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" | "=>" => Op::Ge,
            "<=" | "=<" => Op::Le,
            "~" | "~>" => Op::Tilde,
            "^" => Op::Caret,
            other => return Err(format!("unknown operator {other:?}")),
        };
        let t = version.trim_start_matches(['v', 'V']);
        let (core, pre) = match t.split_once('-') {
            Some((c, p)) => (c, p.split('+').next().unwrap_or("")),
            None => (t.split('+').next().unwrap_or(""), ""),
        };
        let mut parts = [None; 3];
        for (i, p) in core.split('.').enumerate() {
            if i > 2 {
                return Err(format!("{version:?} has more than three parts"));
            }
            parts[i] = match p {
                "x" | "X" | "*" => None,
                n => Some(
                    n.parse::<u64>()
                        .map_err(|_| format!("{version:?} is not a version"))?,
                ),
            };
        }
        let pre = semver::Prerelease::new(pre).map_err(|e| format!("{version:?}: {e}"))?;
        Ok(Self { op, parts, pre })
    }

    /// The lowest version the written one stands for (wildcards as zero).
    fn floor(&self) -> Version {
        let [a, b, c] = self.parts;
        let mut v = Version::new(a.unwrap_or(0), b.unwrap_or(0), c.unwrap_or(0));
        v.pre = self.pre.clone();
        v
    }

    /// The first version above every version the written one stands for, with its wildcards
    /// (`1.2.x` → `1.3.0-0`); `None` for `*`.
    fn ceiling(&self, keep: usize) -> Option<Version> {
        let [major, minor, _] = self.parts;
        match (keep, major, minor) {
            (_, None, _) => None,
            (2.., Some(major), Some(minor)) => {
                Version::parse(&format!("{major}.{}.0-0", minor + 1)).ok()
            }
            (_, Some(major), _) => Version::parse(&format!("{}.0.0-0", major + 1)).ok(),
        }
    }

    fn wild(&self) -> usize {
        self.parts.iter().position(Option::is_none).unwrap_or(3)
    }

    fn matches(&self, v: &Version) -> bool {
        let floor = self.floor();
        let wild = self.wild();
        let within = |v: &Version| v >= &floor && self.ceiling(wild).is_none_or(|c| v < &c);
        match self.op {
            Op::Eq if wild < 3 => within(v),
            Op::Eq => v == &floor,
            Op::Ne if wild < 3 => !within(v),
            Op::Ne => v != &floor,
            Op::Gt if wild < 3 => self.ceiling(wild).is_some_and(|c| v >= &c),
            Op::Gt => v > &floor,
            Op::Ge => v >= &floor,
            Op::Lt => v < &floor,
            Op::Le if wild < 3 => self.ceiling(wild).is_none_or(|c| v < &c),
            Op::Le => v <= &floor,
            // `~1.2.3` and `~1.2`: the same minor; `~1`: the same major.
            Op::Tilde => {
                v >= &floor
                    && self
                        .ceiling(if wild <= 1 { 1 } else { 2 })
                        .is_none_or(|c| v < &c)
            }
            // `^1.2.3`: the same major; `^0.2.3`: the same minor; `^0.0.3`: that patch.
            Op::Caret => {
                let [major, minor, patch] = self.parts;
                let ceiling = match (major, minor, patch) {
                    (None, _, _) => None,
                    (Some(0), Some(0), Some(patch)) if wild == 3 => {
                        Version::parse(&format!("0.0.{}-0", patch + 1)).ok()
                    }
                    (Some(0), Some(minor), _) if wild >= 2 => {
                        Version::parse(&format!("0.{}.0-0", minor + 1)).ok()
                    }
                    (Some(major), _, _) => Version::parse(&format!("{}.0.0-0", major + 1)).ok(),
                };
                v >= &floor && ceiling.is_none_or(|c| v < &c)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meets(c: &str, v: &str) -> bool {
        Constraint::parse(c).unwrap().matches(&version(v).unwrap())
    }

    #[test]
    fn reads_helm_constraints() {
        assert!(meets("*", "6.14.1"));
        assert!(!meets("*", "6.15.0-rc.1"));
        assert!(meets(">=1.0.0-alpha", "6.14.1"));
        assert!(meets(">=1.0.0-alpha", "6.15.0-rc.1"));
        assert!(meets("6.x", "6.14.1") && !meets("6.x", "7.0.0"));
        assert!(meets("~6.14.0", "6.14.9") && !meets("~6.14.0", "6.15.0"));
        assert!(meets("^6.1", "6.14.1") && !meets("^6.1", "7.0.0") && !meets("^6.1", "6.0.9"));
        assert!(meets("^0.2.3", "0.2.9") && !meets("^0.2.3", "0.3.0"));
        assert!(meets(">=6.0.0 <6.14.0", "6.13.5") && !meets(">=6.0.0, <6.14.0", "6.14.0"));
        assert!(meets("1.2 - 1.4.5", "1.4.5") && !meets("1.2 - 1.4.5", "1.4.6"));
        assert!(
            meets("<5 || >=6.14", "6.14.1")
                && meets("<5 || >=6.14", "4.0.0")
                && !meets("<5 || >=6.14", "5.1.0")
        );
        assert!(meets("6.14.1", "v6.14.1") && !meets("!=6.14.1", "6.14.1"));
        assert!(meets(">6.13.x", "6.14.0") && !meets(">6.13.x", "6.13.9"));
        // One comparator with a pre-release lets pre-releases into its whole group, not into
        // the other alternatives.
        assert!(meets(">=6.5.0-0 <7.0.0", "7.0.0-alpha") && !meets(">=6.5.0-0 <7.0.0", "7.0.0"));
        assert!(!meets(">=6.5.0-0 <6.6.0 || >=7", "7.1.0-rc.1"));
        assert!(Constraint::parse("6.14.q").is_err());
    }
}
