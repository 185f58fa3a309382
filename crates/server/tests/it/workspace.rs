//! The web workspace's files as a browser gets them. What the pages do is tested in a real browser
//! (tests/browser, run by scripts/browser-tests.sh).

use std::collections::HashSet;

use reqwest::StatusCode;

use crate::TestApp;

#[tokio::test]
async fn every_page_is_the_shell_under_a_policy_that_runs_only_the_sites_own_scripts() {
    let app = TestApp::spawn().await;
    for path in ["/", "/login", "/agent", "/supervisor", "/admin"] {
        let page = app.http.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        let headers = page.headers().clone();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self';") && policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let body = page.text().await.unwrap();
        assert!(body.contains(r#"<script type="module" src="/assets/workspace/app.js">"#));
        assert!(!body.contains("<script>"), "no inline script: the policy would refuse it");
    }
}

/// Every module a page imports is served, so a file added to assets/workspace but not to the binary's list fails
/// here rather than in a browser.
#[tokio::test]
async fn every_file_of_the_workspace_and_every_module_it_imports_is_served() {
    let app = TestApp::spawn().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/workspace");
    let mut wanted: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".js") || name.ends_with(".css"))
        .map(|name| format!("/assets/workspace/{name}"))
        .collect();
    let mut seen = HashSet::new();
    while let Some(path) = wanted.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let file = app.http.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(file.status(), StatusCode::OK, "{path}");
        let kind = file.headers()["content-type"].to_str().unwrap().to_string();
        let body = file.text().await.unwrap();
        if !path.ends_with(".js") {
            assert_eq!(kind, "text/css");
            continue;
        }
        assert_eq!(kind, "text/javascript", "{path}");
        // Static and dynamic imports: `from './x.js'` and `import('./x.js')`, relative to the importing file.
        let folder = &path[..path.rfind('/').unwrap() + 1];
        for quote in body.split(['\'', '"']).skip(1).step_by(2) {
            if quote.ends_with(".js") && (quote.starts_with("./") || quote.starts_with("../")) {
                let mut parts: Vec<&str> = folder.trim_end_matches('/').split('/').collect();
                for part in quote.split('/') {
                    match part {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        _ => parts.push(part),
                    }
                }
                wanted.push(parts.join("/"));
            }
        }
    }
    assert!(seen.contains("/assets/vendor/preact/hooks.js") && seen.contains("/assets/vendor/preact/preact.js"));
}

#[tokio::test]
async fn a_file_the_browser_has_is_not_sent_again_and_an_unknown_one_is_404() {
    let app = TestApp::spawn().await;
    let url = format!("{}/assets/workspace/app.js", app.base);
    let first = app.http.get(&url).send().await.unwrap();
    let etag = first.headers()["etag"].clone();
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let again = app.http.get(&url).header("if-none-match", etag.clone()).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());
    let changed = app.http.get(&url).header("if-none-match", "\"another\"").send().await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK);

    for path in ["/assets/workspace/nope.js", "/assets/../Cargo.toml", "/assets/vendor/preact/LICENSE-htm"] {
        let missing = app.http.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND, "{path}");
        let problem: serde_json::Value = missing.json().await.unwrap();
        assert_eq!(problem["code"], "route_not_found");
    }
}
