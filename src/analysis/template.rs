//! The part of Go's `text/template` that Flagger's metric queries use (flagger-spec §6.3):
//! zero-argument functions (`{{ namespace }}`), `{{ variables.key }}`, `printf`, variable
//! assignment (`{{- $x := … }}`), string literals and the `{{-`/`-}}` trim markers. Anything
//! else is an error naming the action, like Go's `missingkey=error`. Hand-written because the
//! Rust ports of Go templates are unmaintained and this subset is small.

use std::collections::BTreeMap;

/// The values a query can use.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// `name`, `namespace`, `target`, `service`, `ingress`, `route`, `interval`.
    pub functions: BTreeMap<&'static str, String>,
    /// `metrics[].templateVariables`.
    pub variables: BTreeMap<String, String>,
}

/// Renders `text`; the error names the action that failed.
pub fn render(text: &str, model: &Model) -> Result<String, String> {
    let mut out = String::new();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let mut literal = &rest[..start];
        let after = &rest[start + 2..];
        let trim_left = after.starts_with('-') && after[1..].starts_with(char::is_whitespace);
        if trim_left {
            literal = literal.trim_end();
        }
        out.push_str(literal);
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed action at {:?}", truncate(&rest[start..])))?;
        let mut action = &after[..end];
        if trim_left {
            action = &action[1..];
        }
        let trim_right =
            action.ends_with('-') && action[..action.len() - 1].ends_with(char::is_whitespace);
        if trim_right {
            action = &action[..action.len() - 1];
        }
        rest = &after[end + 2..];
        if trim_right {
            rest = rest.trim_start();
        }
        let action = action.trim();
        if action.starts_with("/*") {
            continue;
        }
        if let Some((var, expr)) = action.split_once(":=") {
            let var = var.trim();
            if !var.starts_with('$') {
                return Err(format!("{{{{ {action} }}}}: {var} is not a variable"));
            }
            let value =
                eval(expr.trim(), model, &vars).map_err(|e| format!("{{{{ {action} }}}}: {e}"))?;
            vars.insert(var.to_owned(), value);
        } else {
            out.push_str(
                &eval(action, model, &vars).map_err(|e| format!("{{{{ {action} }}}}: {e}"))?,
            );
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn truncate(s: &str) -> &str {
    s.char_indices().nth(40).map_or(s, |(i, _)| &s[..i])
}

/// Splits an expression into words, keeping quoted strings whole.
fn words(expr: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.peek().copied() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' || c == '`' {
            chars.next();
            let mut s = String::from("\"");
            loop {
                match chars.next() {
                    None => return Err("unterminated string".into()),
                    Some('\\') if c == '"' => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(other) => s.push(other),
                        None => return Err("unterminated string".into()),
                    },
                    Some(q) if q == c => break,
                    Some(other) => s.push(other),
                }
            }
            out.push(s);
        } else {
            let mut w = String::new();
            while let Some(c) = chars.peek().copied() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(w);
        }
    }
    Ok(out)
}

fn value(word: &str, model: &Model, vars: &BTreeMap<String, String>) -> Result<String, String> {
    if let Some(s) = word.strip_prefix('"') {
        return Ok(s.to_owned());
    }
    if word.starts_with('$') {
        return vars
            .get(word)
            .cloned()
            .ok_or_else(|| format!("undefined variable {word}"));
    }
    if let Some(key) = word.strip_prefix("variables.") {
        return model.variables.get(key).cloned().ok_or_else(|| {
            format!("map has no entry for key {key:?} (set it in the metric's templateVariables)")
        });
    }
    if word.chars().all(|c| c.is_ascii_digit()) {
        return Ok(word.to_owned());
    }
    model
        .functions
        .get(word)
        .cloned()
        .ok_or_else(|| format!("function {word:?} not defined"))
}

fn eval(expr: &str, model: &Model, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let w = words(expr)?;
    match w.first().map(String::as_str) {
        None => Err("empty action".into()),
        Some("printf") => {
            let fmt = w
                .get(1)
                .and_then(|f| f.strip_prefix('"'))
                .ok_or("printf needs a format string")?;
            let args = w[2..]
                .iter()
                .map(|a| value(a, model, vars))
                .collect::<Result<Vec<_>, _>>()?;
            printf(fmt, &args)
        }
        Some(_) if w.len() == 1 => value(&w[0], model, vars),
        Some(f) => Err(format!("{f} takes no arguments")),
    }
}

fn printf(fmt: &str, args: &[String]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s' | 'v' | 'd') => out.push_str(args.next().ok_or("printf: missing argument")?),
            Some(other) => return Err(format!("printf: verb %{other} is not supported")),
            None => return Err("printf: format ends with %".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
