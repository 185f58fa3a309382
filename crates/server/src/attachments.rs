//! Files customers send inside messages (embedded base64) are kept by the server: checked against the
//! workstream's attachment policy, written to the attachments directory, and referred to by id. Agents and
//! webhook receivers get them through signed links that expire, so a link leaked from a transcript stops working.

use std::path::{Path, PathBuf};

use axum::{
    extract::{Path as UrlPath, Query, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use switchboard_domain::{
    Code, Error,
    account::Uploader,
    event::EventType,
    ids::{AttachmentId, ConversationId, OrgId, WorkstreamId},
    message::Attachment,
    setup::AttachmentPolicy,
    text::{HttpUrl, ShortText},
};
use switchboard_store::{attachments as stored, model::Event, setup};

use crate::{AppState, clock::Clock, error::ApiResult};

/// Signs and checks attachment links.
#[derive(Clone)]
pub struct Links {
    key: [u8; 32],
    base_url: String,
    ttl_seconds: u64,
    /// Links expire on the app's clock, as everything else the server times does.
    clock: Clock,
}

impl Links {
    pub fn new(key: [u8; 32], base_url: &str, ttl_seconds: u64, clock: Clock) -> Self {
        Self { key, base_url: base_url.trim_end_matches('/').to_string(), ttl_seconds, clock }
    }

    fn mac(&self, id: AttachmentId, expires: i64) -> Option<String> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(format!("{id}.{expires}").as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    /// The unsigned address of a kept file (works with API credentials).
    pub fn address(&self, id: AttachmentId) -> String {
        format!("{}/v1/attachments/{id}/content", self.base_url)
    }

    /// A link to a kept file that works without credentials until it expires.
    pub fn signed(&self, id: AttachmentId) -> String {
        let expires = self.clock.now().millis() / 1000 + i64::try_from(self.ttl_seconds).unwrap_or(i64::MAX / 2);
        format!("{}?expires={expires}&signature={}", self.address(id), self.mac(id, expires).unwrap_or_default())
    }

    pub fn verify(&self, id: AttachmentId, expires: i64, signature: &str) -> bool {
        let fresh = expires >= self.clock.now().millis() / 1000;
        match self.mac(id, expires) {
            Some(expected) => fresh && subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), signature.as_bytes()).into(),
            None => false,
        }
    }

    /// Replaces the addresses of kept files in a message (as JSON) with signed links.
    pub fn sign_message(&self, message: &mut serde_json::Value) {
        if let Some(list) = message.get_mut("attachments").and_then(|a| a.as_array_mut()) {
            for att in list {
                if let Some(id) = att.get("id").and_then(|i| i.as_str()).and_then(|i| i.parse().ok()) {
                    att["url"] = serde_json::Value::String(self.signed(id));
                }
            }
        }
    }

    /// An event as readers get it (the stream, webhooks, timelines): a message's kept files by signed links, which
    /// open in a browser or a receiver without the API's credentials.
    pub fn sign_event(&self, event: &mut Event) {
        if event.event_type == EventType::MessageCreated.as_str() {
            self.sign_message(&mut event.data);
        }
    }

    /// [`Self::sign_event`] on a copy, made only for an event that has links to sign.
    pub fn signed_event<'a>(&self, event: &'a Event) -> std::borrow::Cow<'a, Event> {
        if event.event_type != EventType::MessageCreated.as_str() {
            return std::borrow::Cow::Borrowed(event);
        }
        let mut signed = event.clone();
        self.sign_event(&mut signed);
        std::borrow::Cow::Owned(signed)
    }

    pub fn sign_attachments(&self, attachments: &mut [Attachment]) {
        for att in attachments {
            if let Some(id) = att.id {
                att.url = HttpUrl::from_stored(self.signed(id));
            }
        }
    }
}

/// An upload decoded from a message, not yet kept.
pub struct Upload {
    pub content_type: String,
    pub name: Option<String>,
    pub bytes: Vec<u8>,
}

pub use switchboard_channels::inbound::decode_embedded;

/// Where kept files live.
#[derive(Clone)]
pub struct Files {
    dir: PathBuf,
}

impl Files {
    pub fn new(data_dir: &Path, configured: &Path) -> Self {
        Self { dir: if configured.is_absolute() { configured.to_path_buf() } else { data_dir.join(configured) } }
    }

    /// Checks an upload against the policy and writes it to disk (synced), returning what the message records
    /// and the row to store with it.
    pub fn keep(
        &self,
        links: &Links,
        org: OrgId,
        conversation: ConversationId,
        policy: &AttachmentPolicy,
        upload: Upload,
        field: &str,
    ) -> Result<(Attachment, stored::NewAttachment), Error> {
        if upload.bytes.len() as u64 > policy.max_bytes {
            return Err(Error::field(
                Code::PayloadTooLarge,
                field,
                format!(
                    "the file has {} bytes; this workstream accepts at most {}",
                    upload.bytes.len(),
                    policy.max_bytes
                ),
            ));
        }
        if !policy.allows_type(&upload.content_type) {
            return Err(Error::field(
                Code::InvalidField,
                field,
                format!("this workstream does not accept `{}` files", upload.content_type),
            ));
        }
        let content_type = ShortText::parse(upload.content_type.clone())
            .map_err(|e| switchboard_domain::text::field_error(&format!("{field}.contentType"), &e))?;
        let name = upload
            .name
            .clone()
            .map(ShortText::parse)
            .transpose()
            .map_err(|e| switchboard_domain::text::field_error(&format!("{field}.name"), &e))?;
        let id = AttachmentId::new();
        let relative = format!("{org}/{id}");
        let path = self.dir.join(&relative);
        write_synced(&path, &upload.bytes).map_err(Error::internal)?;
        let sha256 = hex::encode(Sha256::digest(&upload.bytes));
        let size = upload.bytes.len() as u64;
        let attachment = Attachment {
            content_type,
            url: HttpUrl::from_stored(links.address(id)),
            name,
            id: Some(id),
            size: Some(size),
        };
        let row = stored::NewAttachment {
            id,
            org_id: org,
            conversation_id: conversation,
            content_type: upload.content_type,
            name: upload.name,
            size,
            sha256,
            path: relative,
        };
        Ok((attachment, row))
    }

    fn read(&self, relative: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.dir.join(relative))
    }
}

/// Keeps the files sent into a conversation under its workstream's attachment policy, off the async threads (each
/// is written and synced), and answers each with its position: what the message records, and the row to store in
/// the message's own write. That write appends the message first, then the rows: the message locks the
/// conversation for update before a row (which refers to the conversation) takes a share lock on it; the other
/// order deadlocks with routing's writes on PostgreSQL. `field(i)` names the `i`th upload in an error. Files
/// `from` a side the conversation's channel does not let send them are refused before any is written (the
/// message's write refuses them too, see `conversations::send`).
pub async fn keep_uploads(
    app: &AppState,
    org: OrgId,
    conversation: ConversationId,
    workstream: WorkstreamId,
    from: Option<Uploader>,
    uploads: Vec<(usize, Upload)>,
    field: fn(usize) -> String,
) -> Result<Vec<(usize, Attachment, stored::NewAttachment)>, Error> {
    let Some((first, _)) = uploads.first() else {
        return Ok(Vec::new());
    };
    let first = field(*first);
    let (policy, permissions) = app
        .store
        .read(move |tx| {
            let channel = switchboard_store::conversations::get(tx, org, conversation)?.channel_id;
            let permissions = setup::attachment_permissions(tx, org, channel)?;
            Ok((setup::get_workstream(tx, org, workstream)?.settings.attachments, permissions))
        })
        .await?;
    if let Some(from) = from {
        permissions.check(from, &first)?;
    }
    let (links, files) = (app.links.clone(), app.files.clone());
    tokio::task::spawn_blocking(move || {
        uploads
            .into_iter()
            .map(|(i, upload)| {
                let (attachment, row) = files.keep(&links, org, conversation, &policy, upload, &field(i))?;
                Ok((i, attachment, row))
            })
            .collect()
    })
    .await
    .map_err(Error::internal)?
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    expires: Option<i64>,
    signature: Option<String>,
}

/// `GET /v1/attachments/{id}/content`: the file, for a signed link (no credentials needed) or a caller of the
/// organization that owns it.
pub async fn content(
    State(app): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<LinkQuery>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let not_found = || Error::not_found(Code::AttachmentNotFound);
    let id: AttachmentId = id.parse().map_err(|_| not_found())?;
    let signed = match (q.expires, q.signature.as_deref()) {
        (Some(expires), Some(sig)) => {
            if !app.links.verify(id, expires, sig) {
                return Err(not_found().into());
            }
            true
        }
        _ => false,
    };
    let file = if signed {
        app.store.read(move |tx| stored::file_for_signed_link(tx, id)).await?
    } else {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| Error::new(Code::Unauthenticated, "send a signed link or `Authorization: Bearer`"))?;
        let org = app.auth.authenticate(&app.store, bearer.trim()).await?.org_id;
        app.store.read(move |tx| stored::file(tx, org, id)).await?
    };
    let stored::KeptFile { content_type, name, path, .. } = file.ok_or_else(not_found)?;
    let files = app.files.clone();
    let bytes = tokio::task::spawn_blocking(move || files.read(&path))
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    let disposition = match name {
        Some(n) => format!("attachment; filename=\"{}\"", n.replace(['"', '\\', '\r', '\n'], "_")),
        None => "attachment".to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
