//! A Direct Line channel's two secrets, for administrators: made with the channel, read again (they are sealed, not
//! hashed, as Azure shows them again), and regenerated one at a time so that clients move from one to the other
//! without a gap.

use axum::{
    Json,
    extract::{Path, State},
};
use serde::Serialize;
use switchboard_domain::{
    Code, Error, Timestamp,
    ids::{ChannelId, OrgId},
    role::Role,
    setup::ChannelType,
};
use switchboard_store::{Tx, direct_line as store, setup};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::{
        Principal,
        secrets::{SecretBox, hash, random_token},
    },
    error::ApiResult,
    extract::path_id,
};

/// What a secret starts with, so that one found in a log or a repository is recognized.
const SECRET_PREFIX: &str = "sbdl_";
const SLOTS: [&str; 2] = ["primary", "secondary"];

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_secrets)).routes(routes!(regenerate))
}

/// A new secret, in the clear and as stored (sealed, and its hash).
pub struct NewSecret {
    pub plain: String,
    sealed: String,
    hash: String,
}

impl NewSecret {
    pub fn generate(box_: &SecretBox) -> Result<Self, Error> {
        let plain = random_token(SECRET_PREFIX);
        Ok(Self { sealed: box_.seal(plain.as_bytes())?, hash: hash(&plain), plain })
    }

    fn store(&self, tx: &mut Tx<'_>, org: OrgId, channel: ChannelId, slot: &str, now: Timestamp) -> Result<(), Error> {
        store::set_secret(tx, org, channel, slot, &self.sealed, &self.hash, now)
    }
}

/// A new channel's two secrets, made before its transaction (so that neither is ever saved in the clear, not even
/// in an idempotent response); [`NewSecrets::store`] keeps them in it.
pub struct NewSecrets(NewSecret, NewSecret);

impl NewSecrets {
    pub fn generate(box_: &SecretBox) -> Result<Self, Error> {
        Ok(Self(NewSecret::generate(box_)?, NewSecret::generate(box_)?))
    }

    pub fn store(&self, tx: &mut Tx<'_>, org: OrgId, channel: ChannelId, now: Timestamp) -> Result<(), Error> {
        self.0.store(tx, org, channel, SLOTS[0], now)?;
        self.1.store(tx, org, channel, SLOTS[1], now)
    }

    pub fn shown(&self) -> DirectLineSecrets {
        DirectLineSecrets { primary: Some(self.0.plain.clone()), secondary: Some(self.1.plain.clone()) }
    }
}

/// A Direct Line channel's secrets: `Authorization: Bearer <secret>` on `/v3/directline`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DirectLineSecrets {
    pub primary: Option<String>,
    pub secondary: Option<String>,
}

async fn direct_line_channel(app: &AppState, who: &Principal, raw: &str) -> Result<ChannelId, Error> {
    who.require(&[Role::Admin]).map_err(|e| e.0)?;
    let (org, id) = (who.org_id, path_id::<ChannelId>(raw, Code::ChannelNotFound).map_err(|e| e.0)?);
    let channel = app.store.read(move |tx| setup::get_channel(tx, org, id)).await?;
    if channel.channel_type != ChannelType::DirectLine {
        return Err(Error::new(Code::ChannelNotFound, "no direct_line channel has this id"));
    }
    Ok(id)
}

fn open(app: &AppState, stored: &[store::StoredSecret]) -> Result<DirectLineSecrets, Error> {
    let read = |slot: &str| -> Result<Option<String>, Error> {
        stored
            .iter()
            .find(|s| s.slot == slot)
            .map(|s| String::from_utf8(app.auth.secrets.open(&s.sealed_secret)?).map_err(Error::internal))
            .transpose()
    };
    Ok(DirectLineSecrets { primary: read(SLOTS[0])?, secondary: read(SLOTS[1])? })
}

/// The channel's secrets (administrators only).
#[utoipa::path(get, path = "/v1/channels/{id}/direct-line/secrets", operation_id = "direct_line_get_secrets",
    tag = "setup", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = DirectLineSecrets), (status = 403),
        (status = 404, description = "`channel_not_found`: no direct_line channel has this id")))]
async fn get_secrets(
    State(app): State<AppState>,
    who: Principal,
    Path(raw): Path<String>,
) -> ApiResult<Json<DirectLineSecrets>> {
    let id = direct_line_channel(&app, &who, &raw).await?;
    let org = who.org_id;
    let stored = app.store.read(move |tx| store::secrets(tx, org, id)).await?;
    Ok(Json(open(&app, &stored)?))
}

/// Replaces one of the channel's secrets: the old one stops working at once; the other keeps working. Answers both.
#[utoipa::path(post, path = "/v1/channels/{id}/direct-line/secrets/{slot}/regenerate",
    operation_id = "direct_line_regenerate_secret", tag = "setup", security(("bearer" = [])),
    params(("id" = String, Path), ("slot" = String, Path, description = "`primary` or `secondary`")),
    responses((status = 200, body = DirectLineSecrets), (status = 403),
        (status = 404, description = "`channel_not_found`, or `route_not_found`: no such slot")))]
async fn regenerate(
    State(app): State<AppState>,
    who: Principal,
    Path((raw, slot)): Path<(String, String)>,
) -> ApiResult<Json<DirectLineSecrets>> {
    let id = direct_line_channel(&app, &who, &raw).await?;
    let slot = SLOTS.into_iter().find(|s| *s == slot).ok_or_else(|| {
        Error::new(Code::RouteNotFound, "a Direct Line channel's secrets are `primary` and `secondary`")
    })?;
    let (org, now) = (who.org_id, app.clock.now());
    let secret = NewSecret::generate(&app.auth.secrets)?;
    let stored = app
        .store
        .write(move |tx| {
            secret.store(tx, org, id, slot, now)?;
            store::secrets(tx, org, id)
        })
        .await?;
    Ok(Json(open(&app, &stored)?))
}
