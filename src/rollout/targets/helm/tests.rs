use super::*;
use crate::render::MemFiles;
use crate::render::source_ignore::SourceIgnored;

#[test]
fn a_charts_files_are_read_from_its_directory() {
    let mut files = MemFiles::new();
    files.insert("apps/release.yaml", b"kind: HelmRelease\n".to_vec());
    files.insert("charts/web/Chart.yaml", b"name: web\n".to_vec());
    files.insert("charts/web/.helmignore", b"*.md\n".to_vec());
    files.insert(
        "charts/web/templates/deployment.yaml",
        b"kind: Deployment\n".to_vec(),
    );
    let ignored = SourceIgnored::new(&files).unwrap();
    let mut request = Request::default();
    chart_files(&ignored, "charts/web", &mut request).unwrap();
    let names: Vec<&str> = request.files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [".helmignore", "Chart.yaml", "templates/deployment.yaml"]
    );
    let mut request = Request::default();
    let e = chart_files(&ignored, "charts/none", &mut request).unwrap_err();
    assert!(e.contains("charts/none is not a chart directory"), "{e}");
}
