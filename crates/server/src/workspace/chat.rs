//! The customer chat page, `/chat/{channel}`: a page of its own (no session, no workspace shell) that a website
//! shows in an iframe (`/chat/embed.js` adds it). The page is ours and talks only to this server; which sites may
//! frame it is the channel's `allowed_origins`, told to the browser by `frame-ancestors`. See docs/chat.md.

use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::AppState;

const PAGE: &str = "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>Chat</title>
<link rel=\"stylesheet\" href=\"/assets/workspace/chat.css\">
<script type=\"module\" src=\"/assets/workspace/chat.js\"></script>
</head>
<body>
<div id=\"app\"></div>
<noscript>This chat needs JavaScript.</noscript>
</body>
</html>
";

const NOT_FOUND: &str = "<!doctype html>
<html lang=\"en\">
<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>Chat not found</title><link rel=\"stylesheet\" href=\"/assets/workspace/chat.css\"></head>
<body><main class=\"chat\"><h1>Chat not found</h1><p>There is no chat at this address.</p></main></body>
</html>
";

/// As the workspace's pages (only our scripts, styles and connections), except whom it may be framed by: this
/// site and the channel's allowed origins.
fn policy(frame_ancestors: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; \
         frame-ancestors {frame_ancestors}; base-uri 'none'; form-action 'self'"
    )
}

fn html(status: StatusCode, body: &'static str, frame_ancestors: &str) -> Response {
    let mut response = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&policy(frame_ancestors)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The chat page of a live_chat channel; a page saying there is none for any other id.
pub async fn page(State(app): State<AppState>, Path(channel): Path<String>) -> Response {
    let Ok(channel) = crate::api::live_chat_channel(&app, &channel).await else {
        return html(StatusCode::NOT_FOUND, NOT_FOUND, "'none'");
    };
    // Origins were parsed when the channel was saved: scheme, host and port only, so none can add a directive.
    let mut ancestors = vec!["'self'"];
    ancestors.extend(channel.settings.allowed_origins.iter().map(|o| o.as_str()));
    html(StatusCode::OK, PAGE, &ancestors.join(" "))
}
