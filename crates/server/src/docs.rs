//! `/docs`: the OpenAPI document rendered by Swagger UI, served from files vendored from npm and embedded in
//! the binary, and `/docs/errors`, the catalogue of error codes.

use axum::{
    http::header,
    response::{Html, IntoResponse, Response},
};
use switchboard_domain::Code;

const SWAGGER_JS: &[u8] = include_bytes!("../assets/vendor/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../assets/vendor/swagger-ui/swagger-ui.css");

pub async fn page() -> Html<&'static str> {
    Html(include_str!("../assets/docs.html"))
}

pub async fn swagger_js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript"), (header::CACHE_CONTROL, "public, max-age=86400")], SWAGGER_JS)
        .into_response()
}

pub async fn swagger_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css"), (header::CACHE_CONTROL, "public, max-age=86400")], SWAGGER_CSS)
        .into_response()
}

/// Every stable error code, its status and meaning: the target of each problem's `type`.
pub async fn errors() -> Html<String> {
    let rows: String = Code::ALL
        .iter()
        .map(|c| {
            format!(
                "<tr id=\"{0}\"><td><code>{0}</code></td><td>{1}</td><td>{2}</td></tr>\n",
                c.as_str(),
                c.status(),
                c.title()
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Switchboard error codes</title>\
         <style>body{{font-family:sans-serif;margin:2em}}td{{padding:.2em 1em}}:target{{background:#ffd}}</style></head>\
         <body><h1>Error codes</h1><p>Every error is <code>application/problem+json</code> with a stable <code>code</code>.</p>\
         <table><tr><th>code</th><th>status</th><th>meaning</th></tr>\n{rows}</table></body></html>"
    ))
}
