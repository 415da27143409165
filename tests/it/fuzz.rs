//! No input makes the renderer panic: arbitrary bytes, mutated corpus files, arbitrary patches.
//! And the emitter writes every value so that it reads back the same.

use std::path::Path;

use fledge::render::{self, MemFiles, smp, yaml};
use proptest::prelude::*;
use serde_json::Value;

use super::data_dir;

fn load_tree(dir: &Path, prefix: &str, into: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if p.is_dir() {
            load_tree(&p, &rel, into);
        } else if name != "expected.yaml" && name != "expected.stderr" {
            into.push((rel, std::fs::read(&p).unwrap()));
        }
    }
}

/// Every corpus case as (entry dir, files).
/// A case's entry directory and its files.
type Case = (String, Vec<(String, Vec<u8>)>);

fn corpus_cases() -> Vec<Case> {
    let corpus = data_dir().join("kustomize-corpus");
    let table = std::fs::read_to_string(corpus.join("cases.tsv")).unwrap();
    table
        .lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let mut files = Vec::new();
            load_tree(&corpus.join(cols[0]), "", &mut files);
            let entry = if cols[1] == "." {
                String::new()
            } else {
                cols[1].to_owned()
            };
            (entry, files)
        })
        .collect()
}

fn mem(files: &[(String, Vec<u8>)]) -> MemFiles {
    let mut m = MemFiles::new();
    for (p, c) in files {
        m.insert(p, c.clone());
    }
    m
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    DuplicateLine { at: usize },
    Truncate { at: usize },
}

fn mutate(data: &mut Vec<u8>, m: &Mutation) {
    let n = data.len().max(1);
    match m {
        Mutation::Replace { at, bytes } => {
            let at = at % n;
            for (i, b) in bytes.iter().enumerate() {
                if let Some(slot) = data.get_mut(at + i) {
                    *slot = *b;
                }
            }
        }
        Mutation::Delete { at, len } => {
            let at = (at % n).min(data.len());
            let end = (at + len).min(data.len());
            data.drain(at..end);
        }
        Mutation::DuplicateLine { at } => {
            let at = (at % n).min(data.len());
            let start = data[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let end = data[at..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(data.len(), |i| at + i + 1);
            let line = data[start..end].to_vec();
            data.splice(end..end, line);
        }
        Mutation::Truncate { at } => data.truncate(at % n),
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (
            any::<usize>(),
            proptest::collection::vec(
                prop_oneof![
                    Just(b' '),
                    Just(b'\n'),
                    Just(b':'),
                    Just(b'-'),
                    Just(b'['),
                    Just(b'{'),
                    Just(b'"'),
                    Just(b'$'),
                    any::<u8>()
                ],
                1..6
            )
        )
            .prop_map(|(at, bytes)| Mutation::Replace { at, bytes }),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<usize>().prop_map(|at| Mutation::DuplicateLine { at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(k in proptest::collection::vec(any::<u8>(), 0..300),
                                   r in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = yaml::parse_documents(&k);
        let mut m = MemFiles::new();
        m.insert("kustomization.yaml", k);
        m.insert("r.yaml", r.clone());
        let _ = render::render(&m, "");
        let mut plain = MemFiles::new();
        plain.insert("x/r.yaml", r);
        let _ = render::render(&plain, "x");
    }

    #[test]
    fn yaml_shaped_input_never_panics(k in "(resources|patches|namespace|namePrefix|images|replacements|vars|configMapGenerator|components|labels)(: |:\n- |:\n  - )[a-z.:/\\[\\]{}$ -]{0,40}\n") {
        let mut m = MemFiles::new();
        m.insert("kustomization.yaml", k.into_bytes());
        m.insert("a.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n".to_vec());
        let _ = render::render(&m, "");
    }

    #[test]
    fn arbitrary_patches_never_panic(target in json_value(3), patch in json_value(3)) {
        let mut t = target.clone();
        let _ = smp::apply(&mut t, &patch, "apps", "Deployment");
        let mut t = target;
        let _ = smp::apply(&mut t, &patch, "example.com", "Thing");
    }

    #[test]
    fn emitted_yaml_reads_back_identically(v in json_value(4)) {
        let doc = match v { Value::Object(_) | Value::Array(_) => v, other => Value::Array(vec![other]) };
        let text = yaml::emit_stream([&doc]);
        let back = yaml::parse_documents(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        prop_assert_eq!(back, vec![doc.clone()], "{}", text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_corpus_files_never_panic(case in any::<prop::sample::Index>(), file in any::<prop::sample::Index>(),
                                        muts in proptest::collection::vec(mutation(), 1..4)) {
        static CASES: std::sync::OnceLock<Vec<Case>> = std::sync::OnceLock::new();
        let cases = CASES.get_or_init(corpus_cases);
        let (entry, files) = &cases[case.index(cases.len())];
        let mut files = files.clone();
        let i = file.index(files.len());
        for m in &muts {
            mutate(&mut files[i].1, m);
        }
        let _ = render::render(&mem(&files), entry);
    }
}

pub(super) fn json_value(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("true"),
            Just("yes"),
            Just("no"),
            Just("~"),
            Just("null"),
            Just("1.0"),
            Just("0x1F"),
            Just("1e3"),
            Just("- a"),
            Just("a: b"),
            Just("#x"),
            Just("x #y"),
            Just(" lead"),
            Just("trail "),
            Just("a\nb"),
            Just("a\n"),
            Just("\n"),
            Just("a\n\n"),
            Just("tab\t"),
            Just("'q'"),
            Just("\"dq\""),
            Just("2001-01-01"),
            Just("1:30"),
            Just("*x"),
            Just("&y"),
            Just("!t"),
            Just("%p"),
            Just("@a"),
            Just("`b"),
            Just("<<"),
            Just("a: "),
            Just("line \n next"),
            Just(" "),
            Just("-"),
            Just("?"),
            Just(":"),
            Just("[x]"),
            Just("{}"),
            Just("é ü ✓"),
            Just("\u{85}"),
            Just("\u{feff}x"),
            Just("a\r\nb"),
            Just("\u{7}")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
        "[a-z ]{70,140}".prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            // No key `<<`: the reader (serde_yaml, which keeps no quoting) takes it as a YAML
            // 1.1 merge key however it is quoted; Kubernetes objects have no such key.
            proptest::collection::btree_map("[a-z$./ -]{0,8}|true|1|-|\\PC{0,4}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().filter(|(k, _)| k != "<<").collect())),
        ]
    })
}
