use super::*;
use serde_json::json;

fn emit(v: &Value) -> String {
    emit_stream([v])
}

#[test]
fn quotes_only_what_would_read_back_differently() {
    let v = json!({"a": "true", "b": "8080", "c": "", "d": "plain text", "e": "#34577c",
                   "f": ">=1.0.0", "g": "yes", "h": "1.5", "i": "v1.2", "j": "a: b",
                   "k": "2020-01-01", "l": "1:20", "m": "-", "n": "- x"});
    assert_eq!(
        emit(&v),
        "a: \"true\"\nb: \"8080\"\nc: \"\"\nd: plain text\ne: '#34577c'\nf: '>=1.0.0'\n\
         g: \"yes\"\nh: \"1.5\"\ni: v1.2\nj: 'a: b'\nk: \"2020-01-01\"\nl: \"1:20\"\nm: '-'\n\"n\": '- x'\n"
    );
}

#[test]
fn block_layout_matches_kustomize() {
    let v = json!({"spec": {"containers": [{"name": "a", "args": ["x", "y"]}], "empty": {}, "list": []},
                   "nested": [["a", "b"], {"k": 1}]});
    assert_eq!(
        emit(&v),
        "nested:\n- - a\n  - b\n- k: 1\nspec:\n  containers:\n  - args:\n    - x\n    - \"y\"\n    name: a\n  empty: {}\n  list: []\n"
    );
}

#[test]
fn multiline_strings_use_literal_blocks() {
    let v = json!({"a": "x\ny\n", "b": "x\ny", "c": "x\n\n", "d": "trailing \nspace"});
    assert_eq!(
        emit(&v),
        "a: |\n  x\n  y\nb: |-\n  x\n  y\nc: |+\n  x\n\nd: \"trailing \\nspace\"\n"
    );
}

#[test]
fn long_scalars_fold_at_eighty_columns() {
    let long = "word ".repeat(30).trim_end().to_owned();
    let v = json!({"plain": long, "quoted": format!("{long}: x")});
    let text = emit(&v);
    assert!(text.lines().all(|l| l.len() <= 86), "{text}");
    assert_eq!(parse_one(text.as_bytes()).unwrap(), v);
}

#[test]
fn round_trip_preserves_values() {
    let v = json!({"a": ["1", 1, 1.5, true, null, "null", "it's", "tab\there", "ünïcode"]});
    let text = emit(&v);
    assert_eq!(parse_one(text.as_bytes()).unwrap(), v);
}

#[test]
fn syntax_errors_have_positions() {
    let e = parse_documents(b"a: b\nc: [d\n").unwrap_err();
    assert!(e.line >= 2, "{e:?}");
}

#[test]
fn collection_keys_are_refused_where_they_stand() {
    for (text, line, column, what) in [
        ("a:\n  [x, y]: 1\n", 2, 3, "a sequence"),
        ("a:\n  ? - x\n    - y\n  : 1\n", 2, 5, "a sequence"),
        ("a: 1\n{b: c}: 1\n", 2, 1, "a mapping"),
        ("- b: 1\n  ? c: d\n  : 1\n", 2, 5, "a mapping"),
        ("a:\n  !tag [x]: 1\n", 2, 3, "custom tag `!tag`"),
        ("a:\n  !tag x: 1\n", 2, 3, "custom tag `!tag`"),
    ] {
        let e = parse_documents(text.as_bytes()).unwrap_err();
        assert_eq!((e.line, e.column), (line, column), "{text:?}: {e:?}");
        assert!(
            e.message
                .contains(&format!("{what} cannot be a mapping key"))
                || e.message.contains(&format!("cannot carry the {what}")),
            "{text:?}: {e:?}"
        );
    }
    // As values, collections (tagged or not) are what they always were.
    assert_eq!(
        parse_one(b"a: !tag [x]\nb: {c: d}\n").unwrap(),
        json!({"a": ["x"], "b": {"c": "d"}})
    );
}

#[test]
fn binary_scalars_are_decoded_as_kubectl_decodes_them() {
    let doc = parse_one(
        b"a: !!binary aGVsbG8=\nb: !!binary |\n  aGVs\n  bG8=\nc: &x !!binary /w==\nd: *x\ne: !!binary [aGk=]\nf: !<tag:yaml.org,2002:binary> 8J+Y\n",
    )
    .unwrap();
    assert_eq!(
        doc,
        json!({"a": "hello", "b": "hello", "c": "\u{fffd}", "d": "\u{fffd}", "e": ["aGk="],
               "f": "\u{fffd}\u{fffd}\u{fffd}"})
    );
    // The second document's scalars are found in the second document.
    let docs = parse_documents(b"a: b\n---\nc: [1, !!binary aGk=]\n").unwrap();
    assert_eq!(docs, [json!({"a": "b"}), json!({"c": [1, "hi"]})]);
    for (text, line, column) in [
        (&b"a: 1\nb: !!binary aGk\n"[..], 2, 4),
        (b"a:\n  !!binary aGk=: 1\n", 2, 3),
    ] {
        let e = parse_documents(text).unwrap_err();
        assert_eq!((e.line, e.column), (line, column), "{e:?}");
        assert!(e.message.contains("!!binary"), "{e:?}");
    }
}

#[test]
fn characters_beyond_the_basic_plane_are_escaped_as_kubectl_writes_them() {
    let v = json!({"plain": "😀", "key 😀": "x", "multi": "a 😀\nb\n"});
    assert_eq!(
        emit(&v),
        "\"key \\U0001F600\": x\nmulti: \"a \\U0001F600\\nb\\n\"\nplain: \"\\U0001F600\"\n"
    );
    assert_eq!(parse_one(emit(&v).as_bytes()).unwrap(), v);
}

#[test]
fn characters_kubectl_cannot_print_are_found_with_their_field() {
    let v = json!({"spec": {"ok": "tab\there \u{85} \u{a0} ✓", "args": ["a", "b\u{7f}"]}});
    assert_eq!(
        unprintable_character(&v),
        Some(("spec.args[1]".to_owned(), '\u{7f}'))
    );
    let v = json!({"data": {"k\u{fffe}": "v"}});
    assert_eq!(
        unprintable_character(&v),
        Some(("data.k\u{fffe}".to_owned(), '\u{fffe}'))
    );
    assert_eq!(
        unprintable_character(&json!({"a": ["\u{84}x"]})).map(|f| f.1),
        Some('\u{84}')
    );
    assert_eq!(
        unprintable_character(&json!({"a": "\u{85}\u{10ffff}"})),
        None
    );
}

#[test]
fn objects_refuse_keys_that_read_as_numbers_booleans_or_null() {
    for (text, line, what) in [
        ("a:\n  x: 1\n  1: v\n", 3, "a number (1)"),
        ("a:\n- true: v\n", 2, "a boolean (true)"),
        ("a:\n  ~: v\n", 2, "null (~)"),
        ("a:\n  0x10: v\n", 2, "a number (16)"),
    ] {
        let e = parse_objects(text.as_bytes()).unwrap_err();
        assert_eq!(e.line, line, "{text:?}: {e:?}");
        assert!(
            e.message
                .contains(&format!("reads as {what}, not a string")),
            "{e:?}"
        );
        // Elsewhere (a JSON 6902 patch's values, a kustomization) such a key is read as text.
        assert!(parse_documents(text.as_bytes()).is_ok());
    }
    // Quoted, or words YAML 1.2 reads as strings, they are strings (the empty one too).
    let doc =
        parse_objects(b"a:\n  \"1\": v\n  'true': v\n  yes: v\n  '~': v\n  \"\": v\n").unwrap();
    assert_eq!(
        doc,
        [json!({"a": {"1": "v", "true": "v", "yes": "v", "~": "v", "": "v"}})]
    );
}

#[test]
fn keys_are_in_kubectls_order_with_digits_by_value() {
    let v = json!({"item10": 1, "item2": 2, "443": 3, "80": 4, "a1b": 5, "a01b": 6, "B": 7,
                   "a": 8, "_x": 9, "-1": 10, "1.5": 11, "1.10": 12, "z": 13});
    let keys: Vec<String> = emit(&v)
        .lines()
        .map(|l| l.split(':').next().unwrap().trim_matches('"').to_owned())
        .collect();
    assert_eq!(
        keys,
        [
            "-1", "_x", "1.5", "1.10", "80", "443", "B", "a", "a1b", "a01b", "item2", "item10", "z"
        ]
    );
}

#[test]
fn nel_is_folded_as_kubectl_reads_it_back() {
    let mut v = json!({"one": "a\u{85}b", "spaced": "a \u{85}  b", "two": "a\u{85}\u{85}b",
                       "lead": "\u{85}a", "tab": "a\tb\u{85} c"});
    // The emitter writes what it is given, so that it reads back.
    assert_eq!(parse_one(emit(&v).as_bytes()).unwrap(), v);
    as_kubectl_reads(&mut v);
    assert_eq!(
        emit(&v),
        "lead: ' a'\none: a b\nspaced: a b\ntab: \"a\\tb c\"\ntwo: |-\n  a\n  b\n"
    );
    let mut generated = json!({"data": {"A": "one\u{85}two"}});
    as_kubectl_reads(&mut generated);
    assert_eq!(generated, json!({"data": {"A": "one two"}}));
    // In a key it cannot be read back at all.
    assert_eq!(
        unprintable_character(&json!({"a": {"k\u{85}": "v"}})),
        Some(("a.k\u{85}".to_owned(), '\u{85}'))
    );
}

#[test]
fn long_or_multiline_keys_are_written_after_a_question_mark() {
    let long = "k".repeat(129);
    let v = json!({&long: {"a": 1}, "a\nb": ["x"], "j".repeat(128): "fits"});
    assert_eq!(
        emit(&v),
        format!(
            "? |-\n  a\n  b\n: - x\n{}: fits\n? {long}\n: a: 1\n",
            "j".repeat(128)
        )
    );
    assert_eq!(parse_one(emit(&v).as_bytes()).unwrap(), v);
    // A quoted key longer than a line is never folded (it used to fold to an endless indent).
    let quoted = format!("tab\t{}", " word".repeat(20));
    let v = json!({&quoted: 1});
    assert_eq!(
        emit(&v),
        format!("\"{}\": 1\n", quoted.replace('\t', "\\t"))
    );
}

#[test]
fn a_block_scalar_at_the_end_of_the_input_is_read_with_its_tags() {
    // The tag reader (libyaml-safer) panicked on a block scalar without a final line break.
    assert_eq!(parse_one(b"a: |\n   !").unwrap(), json!({"a": "!"}));
    assert_eq!(
        parse_one(b"a: !!binary |\n  aGk=").unwrap(),
        json!({"a": "hi"})
    );
}

#[test]
fn a_document_starting_with_a_character_from_u_f000_reads_back() {
    // The first byte is 0xEF, as in a byte order mark; the `!` makes the tag reader run too.
    for v in [json!({"\u{fffc}!": null}), json!({"\u{f000}": "x!"})] {
        let text = emit(&v);
        assert_eq!(parse_documents(text.as_bytes()).unwrap(), vec![v], "{text}");
    }
}
