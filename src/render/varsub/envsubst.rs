//! `${var}` expressions as Flux's post-build substitution reads them: a port of
//! `github.com/fluxcd/pkg/envsubst` v1.7.1 (the library kustomize-controller v1.9.6 uses, a fork
//! of drone/envsubst), scanner, parser and functions, quirks included:
//!
//! - only `${…}` is an expression; a bare `$var` is text, and `$$` anywhere in text is one `$`
//!   (so `$${var}` is the literal `${var}`);
//! - `:=`, `=`, `:-`, `:?` and `:+` all mean "the default when the value is empty" (no
//!   assignment, no error, no alternate value), and `${var-x}`, `${var?x}`, `${var+x}` are
//!   errors ("missing closing brace");
//! - a name is letters, digits (Unicode) and `_`, and may start with a digit;
//! - `${#var}`, `${var,}`, `${var,,}`, `${var^}`, `${var^^}`, `${var:pos:len}`, `${var#pat}`,
//!   `${var##pat}`, `${var%pat}`, `${var%%pat}`, `${var/a/b}`, `${var//a/b}`, `${var/#a/b}`,
//!   `${var/%a/b}`, on bytes as Go's strings are.
//!
//! Hand-rolled because the substitution must match Flux's byte for byte; no Rust crate
//! implements this dialect.

use super::glob;

/// Why an expression could not be read (Flux's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseError {
    BadSubstitution,
    MissingClosingBrace,
    VariableName,
    FuncSubstitution,
    DefaultFunction,
}

impl ParseError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::BadSubstitution => "bad substitution",
            Self::MissingClosingBrace => "missing closing brace",
            Self::VariableName => "unable to parse variable name",
            Self::FuncSubstitution => "unable to parse substitution within function",
            Self::DefaultFunction => "unable to parse default function",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Func {
        param: String,
        name: String,
        args: Vec<Node>,
    },
    List(Vec<Node>),
}

/// Scanner modes.
const SCAN_IDENT: u8 = 1;
const SCAN_LBRACK: u8 = 2;
const SCAN_RBRACK: u8 = 4;
const SCAN_ESCAPE: u8 = 8;

/// Characters an escape applies to.
const DOLLAR: u8 = 1;
const BACKSLASH: u8 = 2;
const ESCAPE_ALL: u8 = DOLLAR | BACKSLASH;

/// Go's `rune(0)`, which is also what a NUL in the text reads as.
const EOF: char = '\0';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Illegal,
    Eof,
    Ident,
    Lbrack,
    Rbrack,
}

type Accept = fn(char, usize) -> bool;

struct Scanner {
    buf: String,
    pos: usize,
    start: usize,
    width: usize,
    mode: u8,
    escape_chars: u8,
    accept: Accept,
}

impl Scanner {
    fn read(&mut self) -> char {
        let Some(c) = self.buf[self.pos..].chars().next() else {
            self.width = 0;
            return EOF;
        };
        self.width = c.len_utf8();
        self.pos += self.width;
        c
    }

    fn unread(&mut self) {
        self.pos -= self.width;
    }

    /// Drops the (one-byte) character before `pos`.
    fn skip(&mut self) {
        self.buf.remove(self.pos - 1);
    }

    fn peek(&mut self) -> char {
        let c = self.read();
        self.unread();
        c
    }

    fn string(&self) -> String {
        self.buf[self.start..self.pos].to_owned()
    }

    fn scan(&mut self) -> Token {
        self.start = self.pos;
        let r = self.read();
        if r == EOF {
            Token::Eof
        } else if self.scan_lbrack(r) {
            Token::Lbrack
        } else if self.scan_rbrack(r) {
            Token::Rbrack
        } else if self.scan_ident(r) {
            Token::Ident
        } else {
            Token::Illegal
        }
    }

    fn scan_ident(&mut self, r: char) -> bool {
        if self.mode & SCAN_IDENT == 0 {
            return false;
        }
        if self.scan_escaped(r) {
            self.skip();
        } else if !(self.accept)(r, self.pos - self.start) {
            return false;
        }
        loop {
            let r = self.read();
            if r == EOF {
                self.unread();
                break;
            }
            if self.scan_lbrack(r) {
                self.unread();
                self.unread();
                break;
            }
            if self.scan_escaped(r) {
                self.skip();
                continue;
            }
            if !(self.accept)(r, self.pos - self.start) {
                self.unread();
                break;
            }
        }
        true
    }

    fn scan_lbrack(&mut self, r: char) -> bool {
        if self.mode & SCAN_LBRACK == 0 {
            return false;
        }
        if r == '$' {
            if self.read() == '{' {
                return true;
            }
            self.unread();
        }
        false
    }

    fn scan_rbrack(&self, r: char) -> bool {
        self.mode & SCAN_RBRACK != 0 && r == '}'
    }

    fn scan_escaped(&mut self, r: char) -> bool {
        if self.mode & SCAN_ESCAPE == 0 {
            return false;
        }
        if r == '$' && self.escape_chars & DOLLAR != 0 && self.peek() == '$' {
            return true;
        }
        r == '\\' && self.escape_chars & BACKSLASH != 0 && matches!(self.peek(), '/' | '\\')
    }
}

fn accept_rune(_: char, _: usize) -> bool {
    true
}
fn accept_ident(r: char, _: usize) -> bool {
    // Go's unicode.IsLetter / IsDigit.
    r.is_alphabetic() || r.is_numeric() || r == '_'
}
fn accept_colon(r: char, _: usize) -> bool {
    r == ':'
}
fn accept_one_hash(r: char, i: usize) -> bool {
    r == '#' && i == 1
}
fn accept_not_closing(r: char, _: usize) -> bool {
    r != '}'
}
fn accept_hash_func(r: char, i: usize) -> bool {
    r == '#' && i < 3
}
fn accept_percent_func(r: char, i: usize) -> bool {
    r == '%' && i < 3
}
fn accept_default_func(r: char, i: usize) -> bool {
    (i == 1 && r == ':') || (i == 2 && matches!(r, '=' | '-' | '?' | '+'))
}
fn accept_replace_func(r: char, i: usize) -> bool {
    (i == 1 && r == '/') || (i == 2 && matches!(r, '/' | '#' | '%'))
}
fn accept_one_equal(r: char, i: usize) -> bool {
    i == 1 && r == '='
}
fn accept_one_colon(r: char, i: usize) -> bool {
    i == 1 && r == ':'
}
fn reject_colon_close(r: char, _: usize) -> bool {
    r != ':' && r != '}'
}
fn accept_slash(r: char, _: usize) -> bool {
    r == '/'
}
fn accept_not_slash(r: char, _: usize) -> bool {
    r != '/'
}
fn accept_casing_func(r: char, i: usize) -> bool {
    matches!(r, ',' | '^') && i < 3
}

struct Parser {
    s: Scanner,
}

/// Parses a template. `None` is the empty template.
fn parse(text: &str) -> Result<Option<Node>, ParseError> {
    let mut p = Parser {
        s: Scanner {
            buf: text.to_owned(),
            pos: 0,
            start: 0,
            width: 0,
            mode: 0,
            escape_chars: 0,
            accept: accept_rune,
        },
    };
    p.parse_any()
}

fn list(left: Node, right: Option<Node>) -> Node {
    match right {
        None => left,
        Some(right) => Node::List(vec![left, right]),
    }
}

impl Parser {
    fn parse_any(&mut self) -> Result<Option<Node>, ParseError> {
        self.s.accept = accept_rune;
        self.s.mode = SCAN_IDENT | SCAN_LBRACK | SCAN_ESCAPE;
        self.s.escape_chars = DOLLAR;
        match self.s.scan() {
            Token::Ident => {
                let left = Node::Text(self.s.string());
                let right = self.parse_any()?;
                Ok(Some(list(left, right)))
            }
            Token::Eof => Ok(None),
            Token::Lbrack => {
                let left = self.parse_func()?;
                let right = self.parse_any()?;
                Ok(Some(list(left, right)))
            }
            Token::Illegal | Token::Rbrack => Err(ParseError::BadSubstitution),
        }
    }

    fn parse_func(&mut self) -> Result<Node, ParseError> {
        self.s.escape_chars = ESCAPE_ALL;
        if self.s.peek() == '#' {
            return self.parse_len_func();
        }
        self.s.accept = accept_ident;
        self.s.mode = SCAN_IDENT;
        let name = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return Err(ParseError::VariableName),
        };
        match self.s.peek() {
            ':' => return self.parse_default_or_substr(name),
            '=' => return self.parse_default_func(name),
            ',' | '^' => return self.parse_casing_func(name),
            '/' => return self.parse_replace_func(name),
            '#' => return self.parse_remove_func(name, accept_hash_func),
            '%' => return self.parse_remove_func(name, accept_percent_func),
            _ => {}
        }
        self.s.accept = accept_ident;
        self.s.mode = SCAN_RBRACK;
        match self.s.scan() {
            Token::Rbrack => Ok(Node::Func {
                param: name,
                name: String::new(),
                args: Vec::new(),
            }),
            _ => Err(ParseError::MissingClosingBrace),
        }
    }

    fn parse_param(&mut self, accept: Accept, mode: u8) -> Result<Node, ParseError> {
        self.s.accept = accept;
        self.s.mode = mode | SCAN_LBRACK;
        match self.s.scan() {
            Token::Lbrack => self.parse_func(),
            Token::Ident | Token::Rbrack => Ok(Node::Text(self.s.string())),
            Token::Illegal | Token::Eof => Err(ParseError::FuncSubstitution),
        }
    }

    fn parse_default_or_substr(&mut self, name: String) -> Result<Node, ParseError> {
        self.s.read();
        let r = self.s.peek();
        self.s.unread();
        if matches!(r, '=' | '-' | '?' | '+') {
            self.parse_default_func(name)
        } else {
            self.parse_substr_func(name)
        }
    }

    /// Scans the function's operator with `accept`.
    fn operator(&mut self, accept: Accept, error: ParseError) -> Result<String, ParseError> {
        self.s.accept = accept;
        self.s.mode = SCAN_IDENT;
        match self.s.scan() {
            Token::Ident => Ok(self.s.string()),
            _ => Err(error),
        }
    }

    fn parse_substr_func(&mut self, param: String) -> Result<Node, ParseError> {
        let name = self.operator(accept_one_colon, ParseError::BadSubstitution)?;
        let mut args = vec![self.parse_param(reject_colon_close, SCAN_IDENT)?];
        self.s.accept = accept_colon;
        self.s.mode = SCAN_IDENT | SCAN_RBRACK;
        match self.s.scan() {
            Token::Rbrack => return Ok(Node::Func { param, name, args }),
            Token::Ident => {}
            _ => return Err(ParseError::BadSubstitution),
        }
        args.push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
        self.consume_rbrack()?;
        Ok(Node::Func { param, name, args })
    }

    fn parse_remove_func(&mut self, param: String, accept: Accept) -> Result<Node, ParseError> {
        let name = self.operator(accept, ParseError::BadSubstitution)?;
        let args = vec![self.parse_param(accept_not_closing, SCAN_IDENT)?];
        self.consume_rbrack()?;
        Ok(Node::Func { param, name, args })
    }

    fn parse_replace_func(&mut self, param: String) -> Result<Node, ParseError> {
        let name = self.operator(accept_replace_func, ParseError::BadSubstitution)?;
        let mut args = vec![self.parse_param(accept_not_slash, SCAN_IDENT | SCAN_ESCAPE)?];
        self.s.accept = accept_slash;
        self.s.mode = SCAN_IDENT;
        if self.s.scan() != Token::Ident {
            return Err(ParseError::BadSubstitution);
        }
        if self.s.peek() == '}' {
            self.consume_rbrack()?;
            return Ok(Node::Func { param, name, args });
        }
        args.push(self.parse_param(accept_not_closing, SCAN_IDENT | SCAN_ESCAPE)?);
        self.consume_rbrack()?;
        Ok(Node::Func { param, name, args })
    }

    fn parse_default_func(&mut self, param: String) -> Result<Node, ParseError> {
        let accept: Accept = if self.s.peek() == '=' {
            accept_one_equal
        } else {
            accept_default_func
        };
        let name = self.operator(accept, ParseError::DefaultFunction)?;
        let mut args = Vec::new();
        loop {
            if self.s.peek() == '}' {
                self.consume_rbrack()?;
                return Ok(Node::Func { param, name, args });
            }
            args.push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
        }
    }

    fn parse_casing_func(&mut self, param: String) -> Result<Node, ParseError> {
        let name = self.operator(accept_casing_func, ParseError::BadSubstitution)?;
        self.consume_rbrack()?;
        Ok(Node::Func {
            param,
            name,
            args: Vec::new(),
        })
    }

    fn parse_len_func(&mut self) -> Result<Node, ParseError> {
        let name = self.operator(accept_one_hash, ParseError::BadSubstitution)?;
        self.s.accept = accept_ident;
        self.s.mode = SCAN_IDENT;
        let param = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return Err(ParseError::BadSubstitution),
        };
        self.consume_rbrack()?;
        Ok(Node::Func {
            param,
            name,
            args: Vec::new(),
        })
    }

    fn consume_rbrack(&mut self) -> Result<(), ParseError> {
        self.s.mode = SCAN_RBRACK;
        if self.s.scan() == Token::Rbrack {
            Ok(())
        } else {
            Err(ParseError::BadSubstitution)
        }
    }
}

/// Why an evaluation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EvalError {
    Parse(ParseError),
    /// Strict mode: a variable without a default operator is not set.
    NotSet(String),
}

/// Substitutes every `${…}` of `text`. `lookup` gives a variable's value, or `None` when it
/// is not set (which, without a default operator, is an error: non-strict callers answer
/// `Some("")`).
pub(crate) fn eval(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, EvalError> {
    let Some(root) = parse(text).map_err(EvalError::Parse)? else {
        return Ok(String::new());
    };
    let mut out = Vec::new();
    eval_node(&root, lookup, &mut out)?;
    // The functions work on bytes, as Go's strings do; a function that cut a character in two
    // leaves what Go would then refuse to read as YAML.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn eval_node(
    node: &Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Vec<u8>,
) -> Result<(), EvalError> {
    match node {
        Node::Text(t) => out.extend_from_slice(t.as_bytes()),
        Node::List(nodes) => {
            for n in nodes {
                eval_node(n, lookup, out)?;
            }
        }
        Node::Func { param, name, args } => {
            let mut values = Vec::with_capacity(args.len());
            for a in args {
                let mut buf = Vec::new();
                eval_node(a, lookup, &mut buf)?;
                values.push(buf);
            }
            let value = match lookup(param) {
                Some(v) => v,
                None if is_default_op(name) => String::new(),
                None => return Err(EvalError::NotSet(param.clone())),
            };
            out.extend(apply(name, value.as_bytes(), &values));
        }
    }
    Ok(())
}

fn is_default_op(name: &str) -> bool {
    matches!(name, "-" | "+" | "=" | "?" | ":-" | ":+" | ":=" | ":?")
}

/// Flux's `lookupFunc` and the function it picks.
fn apply(name: &str, s: &[u8], args: &[Vec<u8>]) -> Vec<u8> {
    match name {
        "," => first_char(s, char::to_lowercase),
        ",," => String::from_utf8_lossy(s).to_lowercase().into_bytes(),
        "^" => first_char(s, char::to_uppercase),
        "^^" => String::from_utf8_lossy(s).to_uppercase().into_bytes(),
        "#" if args.is_empty() => s.len().to_string().into_bytes(),
        "#" => trim_shortest(s, args),
        "##" => trim_longest(s, args),
        "%" => reversed(&trim_shortest(&reversed(s), &reversed_args(args))),
        "%%" => reversed(&trim_longest(&reversed(s), &reversed_args(args))),
        ":" => substr(s, args),
        "/#" => replace_prefix(s, args),
        "/%" => replace_suffix(s, args),
        "/" => replace(s, args, Some(1)),
        "//" => replace(s, args, None),
        _ => {
            if s.is_empty() && !args.is_empty() {
                args.concat()
            } else {
                s.to_vec()
            }
        }
    }
}

fn first_char<I: Iterator<Item = char>>(s: &[u8], f: fn(char) -> I) -> Vec<u8> {
    let text = String::from_utf8_lossy(s);
    let mut chars = text.chars();
    match chars.next() {
        None => Vec::new(),
        Some(c) => {
            let mut out: String = f(c).collect();
            out.push_str(chars.as_str());
            out.into_bytes()
        }
    }
}

/// Go's `strconv.Atoi`.
fn atoi(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn substr(s: &[u8], args: &[Vec<u8>]) -> Vec<u8> {
    let Some(first) = args.first() else {
        return s.to_vec();
    };
    let Some(mut pos) = atoi(first) else {
        return s.to_vec();
    };
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    if pos < 0 {
        pos = (len + pos).max(0);
    }
    let at = |i: i64| usize::try_from(i).unwrap_or(0);
    let Some(second) = args.get(1) else {
        return if pos < len {
            s[at(pos)..].to_vec()
        } else {
            Vec::new()
        };
    };
    let Some(length) = atoi(second) else {
        return s.to_vec();
    };
    if length < 0 {
        let end = len + length;
        if end < pos {
            return Vec::new();
        }
        // Go slices past a negative end would panic; Flux's `end < pos` check rules it out
        // only for pos >= 0, which holds here.
        return s[at(pos)..at(end)].to_vec();
    }
    if pos.saturating_add(length) >= len {
        return if pos < len {
            s[at(pos)..].to_vec()
        } else {
            Vec::new()
        };
    }
    s[at(pos)..at(pos + length)].to_vec()
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from);
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Go's `strings.Replace(s, old, new, n)` (`None` for every occurrence).
fn go_replace(s: &[u8], old: &[u8], new: &[u8], n: Option<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut start = 0;
    let mut done = 0;
    while n.is_none_or(|n| done < n) {
        if old.is_empty() {
            // Go inserts `new` before each UTF-8 sequence and at the end.
            if start > s.len() {
                break;
            }
            out.extend_from_slice(new);
            if start == s.len() {
                start += 1;
                break;
            }
            let w = std::str::from_utf8(&s[start..])
                .ok()
                .and_then(|t| t.chars().next())
                .map_or(1, char::len_utf8);
            out.extend_from_slice(&s[start..start + w]);
            start += w;
            done += 1;
            continue;
        }
        let Some(i) = find(s, old, start) else {
            break;
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(new);
        start = i + old.len();
        done += 1;
    }
    if start <= s.len() {
        out.extend_from_slice(&s[start..]);
    }
    out
}

fn replace(s: &[u8], args: &[Vec<u8>], n: Option<usize>) -> Vec<u8> {
    match args {
        [] => s.to_vec(),
        [old] => go_replace(s, old, b"", n),
        [old, new, ..] => go_replace(s, old, new, n),
    }
}

fn replace_prefix(s: &[u8], args: &[Vec<u8>]) -> Vec<u8> {
    match args {
        [old, new] if s.starts_with(old) => go_replace(s, old, new, Some(1)),
        _ => s.to_vec(),
    }
}

fn replace_suffix(s: &[u8], args: &[Vec<u8>]) -> Vec<u8> {
    match args {
        [old, new] if s.ends_with(old) => [&s[..s.len() - old.len()], new.as_slice()].concat(),
        _ => s.to_vec(),
    }
}

/// Go's `reverse`: by runes (invalid bytes become U+FFFD).
fn reversed(s: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(s)
        .chars()
        .rev()
        .collect::<String>()
        .into_bytes()
}

fn reversed_args(args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    args.first().map(|a| vec![reversed(a)]).unwrap_or_default()
}

fn trim_shortest(s: &[u8], args: &[Vec<u8>]) -> Vec<u8> {
    let Some(pattern) = args.first() else {
        return s.to_vec();
    };
    let mut shortest: Option<usize> = None;
    for i in 0..s.len() {
        match glob::matches(pattern, &s[..s.len() - i]) {
            Err(_) => return s.to_vec(),
            Ok(true) => shortest = Some(s.len() - i),
            Ok(false) => {}
        }
    }
    match shortest {
        // Go's TrimPrefix of the matched prefix (an empty match leaves `s`).
        Some(n) if n > 0 => s[n..].to_vec(),
        _ => s.to_vec(),
    }
}

fn trim_longest(s: &[u8], args: &[Vec<u8>]) -> Vec<u8> {
    let Some(pattern) = args.first() else {
        return s.to_vec();
    };
    for i in 0..s.len() {
        match glob::matches(pattern, &s[..s.len() - i]) {
            Err(_) => return s.to_vec(),
            Ok(true) => return s[s.len() - i..].to_vec(),
            Ok(false) => {}
        }
    }
    s.to_vec()
}
