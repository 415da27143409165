//! The tests' OCI registry (`support::registry`): images pushed with skopeo are listed and
//! resolved as the distribution API answers them, each tag its own image.

use crate::support::registry;

#[tokio::test]
async fn pushed_tags_are_listed_with_their_own_digests() {
    let Some(registry) = registry::or_skip().await else {
        return;
    };
    let first = registry.push_image("app/web", "1.0.0").await;
    let second = registry.push_image("app/web", "1.1.0").await;
    assert_eq!(registry.tags("app/web").await, ["1.0.0", "1.1.0"]);
    assert_eq!(registry.digest("app/web", "1.0.0").await, first);
    assert_eq!(registry.digest("app/web", "1.1.0").await, second);
    assert_ne!(first, second, "each tag is an image of its own");
    // The same image pushed again has the same digest (the layout is reproducible).
    assert_eq!(registry.push_image("app/web", "1.0.0").await, first);
    assert!(registry.addr().starts_with("127.0.0.1:"));
}
