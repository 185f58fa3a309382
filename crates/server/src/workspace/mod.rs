//! The web workspace: the pages people work in (sign-in, the agent desktop, the supervisor dashboard, the admin
//! pages), served by every node from files embedded in the binary.
//!
//! Each page is the same small HTML shell; its ES modules (`assets/workspace/`, written against preact and htm,
//! vendored from npm by `scripts/vendor-assets.sh`) read the API with the browser's session cookie. Nothing is
//! built or fetched to run them. See docs/workspace.md.

use std::{collections::HashMap, sync::LazyLock};

use axum::{
    Router,
    extract::Path,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use sha2::{Digest, Sha256};
use switchboard_domain::Code;

use crate::{AppState, error::ApiError};

mod chat;

/// The paths that answer with the shell; the modules decide what each shows, and to whom.
pub const PAGES: &[&str] = &["/", "/login", "/agent", "/supervisor", "/admin"];

const SHELL: &str = include_str!("../../assets/workspace/page.html");

/// Pages run only scripts of their own origin, are never framed, and send their requests only home: text a
/// customer wrote is shown, never executed, even if a rendering path forgets to escape it. Images may come from
/// any https site, as customers' attachments do.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' https: data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'";

macro_rules! assets {
    ($($path:literal => $content_type:literal),* $(,)?) => {
        &[$(($path, $content_type, include_bytes!(concat!("../../assets/", $path)) as &[u8])),*]
    };
}

const ASSET_FILES: &[(&str, &str, &[u8])] = assets! {
    "workspace/app.js" => "text/javascript",
    "workspace/api.js" => "text/javascript",
    "workspace/text.js" => "text/javascript",
    "workspace/login.js" => "text/javascript",
    "workspace/agent.js" => "text/javascript",
    "workspace/stream.js" => "text/javascript",
    "workspace/admin.js" => "text/javascript",
    "workspace/admin/kit.js" => "text/javascript",
    "workspace/admin/setup.js" => "text/javascript",
    "workspace/admin/people.js" => "text/javascript",
    "workspace/admin/webhooks.js" => "text/javascript",
    "workspace/admin/accounts.js" => "text/javascript",
    "workspace/supervisor.js" => "text/javascript",
    "workspace/supervisor.css" => "text/css",
    "workspace/shell.js" => "text/javascript",
    "workspace/view.js" => "text/javascript",
    "workspace/style.css" => "text/css",
    "workspace/chat.js" => "text/javascript",
    "workspace/chat.css" => "text/css",
    "workspace/embed.js" => "text/javascript",
    "vendor/preact/preact.js" => "text/javascript",
    "vendor/preact/hooks.js" => "text/javascript",
    "vendor/preact/htm.js" => "text/javascript",
};

/// A developer editing the pages sets `SWITCHBOARD_WORKSPACE_ASSETS` to the `assets` folder of a checkout, and each
/// request reads that folder's copy of a file this binary embeds: a change shows on reload, with no rebuild.
static ASSETS_FROM_DISK: LazyLock<Option<std::path::PathBuf>> =
    LazyLock::new(|| std::env::var_os("SWITCHBOARD_WORKSPACE_ASSETS").map(Into::into));

struct Asset {
    content_type: &'static str,
    body: &'static [u8],
    /// A strong validator: the files change only with the binary, and a browser revalidates each load.
    etag: HeaderValue,
}

static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    ASSET_FILES
        .iter()
        .map(|&(path, content_type, body)| {
            let digest = Sha256::digest(body);
            let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..12])))
                .unwrap_or(HeaderValue::from_static("\"\""));
            (path, Asset { content_type, body, etag })
        })
        .collect()
});

pub fn router() -> Router<AppState> {
    let pages = PAGES.iter().fold(Router::new(), |router, &path| router.route(path, get(page)));
    pages
        .route("/assets/{*path}", get(asset))
        .route("/chat/embed.js", get(|headers: HeaderMap| asset(Path("workspace/embed.js".into()), headers)))
        .route("/chat/{channel}", get(chat::page))
}

async fn page() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], SHELL).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn asset(Path(path): Path<String>, request: HeaderMap) -> Response {
    let Some(asset) = ASSETS.get(path.as_str()) else {
        return ApiError::new(Code::RouteNotFound, "no such file of the web workspace").into_response();
    };
    if let Some(dir) = ASSETS_FROM_DISK.as_ref() {
        return match std::fs::read(dir.join(&path)) {
            Ok(body) => ([(header::CONTENT_TYPE, asset.content_type), (header::CACHE_CONTROL, "no-store")], body)
                .into_response(),
            Err(error) => ApiError::from(switchboard_domain::Error::internal(error)).into_response(),
        };
    }
    let headers = [
        (header::ETAG, asset.etag.clone()),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    if request.get(header::IF_NONE_MATCH) == Some(&asset.etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, [(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
}
