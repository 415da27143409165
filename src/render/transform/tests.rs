use super::*;

#[test]
fn image_rules() {
    let rule = ImageRule {
        name: "nginx".into(),
        new_tag: "1.25".into(),
        ..ImageRule::default()
    };
    assert_eq!(rule.apply("nginx").as_deref(), Some("nginx:1.25"));
    assert_eq!(
        rule.apply("nginx:1.0@sha256:abc").as_deref(),
        Some("nginx:1.25")
    );
    assert_eq!(rule.apply("nginxx:1"), None);
    let rule = ImageRule {
        name: "reg:5000/app".into(),
        new_name: "other/app".into(),
        digest: "sha256:d".into(),
        ..ImageRule::default()
    };
    assert_eq!(
        rule.apply("reg:5000/app:1").as_deref(),
        Some("other/app@sha256:d")
    );
}
