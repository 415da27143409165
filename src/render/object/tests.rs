use super::*;
use serde_json::json;

#[test]
fn gvk_parsing_and_selection() {
    let g = Gvk::from_api_version("apps/v1", "Deployment");
    assert_eq!(g.group, "apps");
    assert_eq!(g.api_version(), "apps/v1");
    assert!(g.is_selected_by(&Gvk {
        kind: "Deployment".into(),
        ..Gvk::default()
    }));
    assert!(!g.is_selected_by(&Gvk {
        group: "batch".into(),
        ..Gvk::default()
    }));
    assert_eq!(Gvk::from_api_version("v1", "Service").group, "");
}

#[test]
fn rename_keeps_history() {
    let mut r =
        Resource::new(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}));
    r.store_previous_id();
    r.set_name("p-a");
    r.store_previous_id();
    r.set_namespace("ns");
    assert_eq!(r.original_id().name, "a");
    assert_eq!(r.all_ids().len(), 3);
    assert!(r.id().same_as(&ResId {
        gvk: r.gvk(),
        namespace: "ns".into(),
        name: "p-a".into()
    }));
}
