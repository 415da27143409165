//! Cases after image-automation-controller v1.2.0's `internal/update` tests: each setter
//! form, quoting, files without the token, and what is left alone.

use super::*;

fn setters() -> Setters {
    let mut s = Setters::default();
    s.add("apps", "app", "ghcr.io/org/app", "1.2.0", None);
    s.add(
        "apps",
        "pinned",
        "ghcr.io/org/pinned",
        "2.0.0",
        Some("sha256:abc"),
    );
    s
}

#[test]
fn each_setter_form_sets_its_part_and_nothing_else_on_the_line_moves() {
    let text = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: app # not a marker
  namespace: apps
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "apps:app"}
        - name: side
          image: "ghcr.io/org/app:1.0.0"   # {"$imagepolicy": "apps:app"}
---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: app
    newName: ghcr.io/org/app # {"$imagepolicy": "apps:app:name"}
    newTag: '1.0.0' # {"$imagepolicy": "apps:app:tag"}
    digest: sha256:old # {"$imagepolicy": "apps:pinned:digest"}
  - name: pinned
    newTag: 1.0 # {"$imagepolicy": "apps:pinned:tag"}
"#;
    let u = apply(text, &setters()).unwrap().unwrap();
    let want = text
        .replace(
            "image: ghcr.io/org/app:1.0.0 #",
            "image: ghcr.io/org/app:1.2.0 #",
        )
        .replace(
            "image: \"ghcr.io/org/app:1.0.0\"   #",
            "image: \"ghcr.io/org/app:1.2.0\"   #",
        )
        .replace("newTag: '1.0.0' #", "newTag: '1.2.0' #")
        .replace("digest: sha256:old #", "digest: sha256:abc #")
        .replace("newTag: 1.0 #", "newTag: 2.0.0 #");
    assert_eq!(u.text, want);
    let setters: Vec<&str> = u.changes.iter().map(|c| c.setter.as_str()).collect();
    assert_eq!(
        setters,
        [
            "apps:app",
            "apps:app",
            "apps:app:tag",
            "apps:pinned:digest",
            "apps:pinned:tag"
        ]
    );
    assert_eq!(u.changes[0].object.kind, "Deployment");
    assert_eq!(u.changes[0].object.namespace, "apps");
    assert_eq!(u.changes[2].object.kind, "Kustomization");
    assert_eq!(
        (u.changes[0].old.as_str(), u.changes[0].new.as_str()),
        ("ghcr.io/org/app:1.0.0", "ghcr.io/org/app:1.2.0")
    );
}

#[test]
fn a_plain_value_yaml_would_read_as_a_number_is_double_quoted() {
    let mut s = Setters::default();
    s.add("apps", "app", "x/app", "1.10", None);
    let text = "tag: 1.9.0 # {\"$imagepolicy\": \"apps:app:tag\"}\n";
    let u = apply(text, &s).unwrap().unwrap();
    assert_eq!(
        u.text,
        "tag: \"1.10\" # {\"$imagepolicy\": \"apps:app:tag\"}\n"
    );
    s.add("apps", "app", "x/app", "v1.10", None);
    let u = apply(text, &s).unwrap().unwrap();
    assert_eq!(
        u.text,
        "tag: v1.10 # {\"$imagepolicy\": \"apps:app:tag\"}\n"
    );
}

#[test]
fn unknown_policies_unchanged_values_and_files_without_the_token_are_left_alone() {
    let s = setters();
    assert_eq!(
        apply("image: a:1 # {\"$imagepolicy\": \"other:app\"}\n", &s),
        Ok(None)
    );
    assert_eq!(
        apply(
            "image: ghcr.io/org/app:1.2.0 # {\"$imagepolicy\": \"apps:app\"}\n",
            &s
        ),
        Ok(None)
    );
    assert_eq!(apply("image: a:1 # $imagepolicy apps:app\n", &s), Ok(None));
    // The marker must follow the scalar on its own line.
    let text = "image: a:1\n# {\"$imagepolicy\": \"apps:app\"}\n";
    assert_eq!(apply(text, &s), Ok(None));
}

#[test]
fn a_file_that_does_not_parse_is_an_error_and_only_yaml_files_are_examined() {
    let e = apply(
        "a: [\nimage: x # {\"$imagepolicy\": \"apps:app\"}\n",
        &setters(),
    );
    assert!(e.is_err());
    assert!(examined("apps/deploy.yaml") && examined("x.yml") && examined("a/Kustomization"));
    assert!(!examined("README.md") && !examined("values.json"));
}
