//! Messaging accounts (seed 002): an administrator creates an account (name, kind, method; for the Bot Framework,
//! the Microsoft app id and client secret), validates it, then adds channels to it, each bound to a workstream.
//! Everyone in the organization may read accounts' names, as channels'; their settings and validation only admins
//! and supervisors; their credentials no one. The work is in `switchboard_store::messaging_accounts` and
//! `crate::channels::accounts`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code,
    account::{
        AccountCredentials, AccountMethod, AccountSettings, AttachmentPermissions, ChannelBehaviours, Language,
        MessagingAccount, MessagingAccountView, check_account,
    },
    ids::*,
    record::ChannelView,
    setup::{ChannelSettings, ChannelType},
    text::Name,
};
use switchboard_store::{
    messaging_accounts::{self as accounts, AccountChange, NewAccount},
    model::Page,
    setup::NewChannel,
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::setup::{CONFIGURERS, READERS, SETTINGS_READERS, shown};
use crate::{
    AppState,
    auth::Principal,
    channels::accounts::{self as service},
    error::{ApiError, ApiResult},
    extract::{ApiJson, ApiQuery, IdemKey, PageQuery, Patch, Written, body, path_id},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(get_account, patch_account, delete_account))
        .routes(routes!(list_account_channels, create_account_channel))
        .routes(routes!(validate_account))
}

/// The account as `who` may see it.
fn shown_account(who: &Principal, account: &MessagingAccount) -> MessagingAccountView {
    account.view(SETTINGS_READERS.contains(&who.role))
}

fn account_id(raw: &str) -> Result<MessagingAccountId, ApiError> {
    path_id(raw, Code::MessagingAccountNotFound)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountIn {
    pub name: Name,
    /// The kind of channel the account's channels are: `bot_framework` for the seed's custom channel through
    /// Azure Bot Framework.
    pub kind: ChannelType,
    /// For `bot_framework`: `azure_bot_framework` (the default). Kinds with a single way in have none.
    #[serde(default)]
    pub method: Option<AccountMethod>,
    /// For `bot_framework`: `app_id` (required) and `tenant_id` (single-tenant bots).
    #[serde(default)]
    pub settings: AccountSettings,
    /// For `bot_framework`: `client_secret` (required). Write-only: reads say `credentials_set`.
    #[serde(default)]
    pub credentials: AccountCredentials,
}

/// Creates a messaging account. It starts `unchecked`: `POST …/validate` checks it with its provider.
#[utoipa::path(post, path = "/v1/messaging-accounts", tag = "messaging-accounts", security(("bearer" = [])),
    operation_id = "accounts_create", request_body = AccountIn, params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = MessagingAccountView),
        (status = 400, description = "`invalid_field` (a setting or credential the kind does not use, a method it \
            does not have), `missing_field` (`settings.app_id`, `credentials.client_secret`, `method`), \
            `field_too_long`; `field` names the path")))]
async fn create_account(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<AccountIn>,
) -> ApiResult<Response> {
    who.require(CONFIGURERS)?;
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/messaging-accounts", &input);
    let method = input.method.or_else(|| AccountMethod::default_for(input.kind));
    check_account(input.kind, method, &input.settings, false, Some(&input.credentials))?;
    let new = NewAccount {
        name: input.name.into_inner(),
        kind: input.kind,
        method,
        settings: input.settings,
        sealed_credentials: service::seal(&app, &input.credentials)?,
    };
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            body(StatusCode::CREATED, accounts::create_account(tx, org, new, now)?.view(true))
        })
        .await?;
    Ok(Written(out).into_response())
}

#[utoipa::path(get, path = "/v1/messaging-accounts", tag = "messaging-accounts", security(("bearer" = [])),
    operation_id = "accounts_list", params(PageQuery), responses((status = 200, body = Page<MessagingAccountView>)))]
async fn list_accounts(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<MessagingAccountView>>> {
    who.require(READERS)?;
    let (limit, after, org) = (page.limit()?, page.cursor::<MessagingAccountId>()?, who.org_id);
    let rows = app.store.read(move |tx| accounts::list_accounts(tx, org, after, limit + 1)).await?;
    let rows = rows.iter().map(|a| shown_account(&who, a)).collect();
    Ok(Json(Page::from_rows(rows, limit, |a| a.id.to_string())))
}

#[utoipa::path(get, path = "/v1/messaging-accounts/{id}", tag = "messaging-accounts", security(("bearer" = [])),
    operation_id = "accounts_get", params(("id" = String, Path)),
    responses((status = 200, body = MessagingAccountView), (status = 404, description = "`messaging_account_not_found`")))]
async fn get_account(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<MessagingAccountView>> {
    who.require(READERS)?;
    let (id, org) = (account_id(&id)?, who.org_id);
    let account = app.store.read(move |tx| accounts::get_account(tx, org, id)).await?;
    Ok(Json(shown_account(&who, &account)))
}

/// A JSON merge patch (RFC 7396) of an account: fields left out keep their value, `settings` merges member by
/// member. `credentials` given replace the credentials whole (they cannot be read back to be merged into), left
/// out keep them. New settings or credentials make the account `unchecked` again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    #[serde(default)]
    #[schema(value_type = Option<Name>)]
    pub name: Patch<Name>,
    #[serde(default)]
    #[schema(value_type = Option<AccountSettings>)]
    pub settings: Patch<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    #[schema(value_type = Option<AccountCredentials>)]
    pub credentials: Patch<AccountCredentials>,
    /// Refused: the account's channels are of its kind.
    #[serde(default)]
    #[schema(ignore)]
    pub kind: Patch<serde::de::IgnoredAny>,
    /// Refused: the account's channels were set up at the provider by this method.
    #[serde(default)]
    #[schema(ignore)]
    pub method: Patch<serde::de::IgnoredAny>,
}

/// Changes an account's name, settings or credentials.
#[utoipa::path(patch, path = "/v1/messaging-accounts/{id}", tag = "messaging-accounts", security(("bearer" = [])),
    operation_id = "accounts_patch", params(("id" = String, Path)), request_body = AccountPatch,
    responses((status = 200, body = MessagingAccountView),
        (status = 400, description = "`invalid_field`, `missing_field`, `unknown_field` (also `kind` and `method`, \
            which cannot change)"),
        (status = 404, description = "`messaging_account_not_found`")))]
async fn patch_account(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<AccountPatch>,
) -> ApiResult<Json<MessagingAccountView>> {
    who.require(CONFIGURERS)?;
    let (id, org) = (account_id(&id)?, who.org_id);
    patch.kind.fixed("kind", "the account's channels are of its kind")?;
    patch.method.fixed("method", "the account's channels were set up at the provider by it")?;
    let credentials = match patch.credentials {
        Patch::Keep => None,
        Patch::Remove => Some(AccountCredentials::default()),
        Patch::Set(c) => Some(c),
    };
    // Sealed before the write, which must not wait on the cipher; refused values are sealed for nothing.
    let sealed = credentials.as_ref().map(|c| service::seal(&app, c)).transpose()?;
    let (name, settings) = (patch.name, patch.settings);
    let now = app.clock.now();
    let account = app
        .store
        .write(move |tx| {
            accounts::update_account(tx, org, id, now, |current| {
                let name = name.required("name", Name::from_stored(current.name.clone()))?.into_inner();
                let settings: AccountSettings = settings.merge("settings", &current.settings)?;
                check_account(current.kind, current.method, &settings, current.credentials_set, credentials.as_ref())?;
                Ok(AccountChange { name, settings, sealed_credentials: sealed })
            })
        })
        .await?;
    Ok(Json(account.view(true)))
}

/// Deletes an account that has no channels.
#[utoipa::path(delete, path = "/v1/messaging-accounts/{id}", tag = "messaging-accounts", security(("bearer" = [])),
    operation_id = "accounts_delete", params(("id" = String, Path)),
    responses((status = 204), (status = 404, description = "`messaging_account_not_found`"),
        (status = 409, description = "`in_use`: the account has channels")))]
async fn delete_account(State(app): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    who.require(CONFIGURERS)?;
    let (id, org, now) = (account_id(&id)?, who.org_id, app.clock.now());
    app.store.write(move |tx| accounts::delete_account(tx, org, id, now)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the account with its provider and records the result: for `bot_framework`, a token request with the
/// app id and client secret; kinds with no provider to ask are valid when their settings are complete. The answer
/// is the account with its `validation`. A provider that refuses, or does not answer, makes it `invalid` with the
/// reason.
#[utoipa::path(post, path = "/v1/messaging-accounts/{id}/validate", tag = "messaging-accounts",
    security(("bearer" = [])), operation_id = "accounts_validate", params(("id" = String, Path)),
    responses((status = 200, body = MessagingAccountView), (status = 404, description = "`messaging_account_not_found`")))]
async fn validate_account(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<MessagingAccountView>> {
    who.require(CONFIGURERS)?;
    let (id, org) = (account_id(&id)?, who.org_id);
    let account = app.store.read(move |tx| accounts::get_account(tx, org, id)).await?;
    let credentials = service::open(&app, &account)?;
    let validation = service::validate(&app, &account, credentials).await.at(app.clock.now());
    let now = app.clock.now();
    let account = app.store.write(move |tx| accounts::set_validation(tx, org, &account, validation, now)).await?;
    Ok(Json(account.view(true)))
}

#[utoipa::path(get, path = "/v1/messaging-accounts/{id}/channels", tag = "messaging-accounts",
    security(("bearer" = [])), operation_id = "accounts_list_channels", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Page<ChannelView>), (status = 404, description = "`messaging_account_not_found`")))]
async fn list_account_channels(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ChannelView>>> {
    who.require(READERS)?;
    let (id, org) = (account_id(&id)?, who.org_id);
    let (limit, after) = (page.limit()?, page.cursor::<ChannelId>()?);
    let (rows, methods) = app
        .store
        .read(move |tx| {
            Ok((accounts::list_account_channels(tx, org, id, after, limit + 1)?, accounts::methods(tx, org)?))
        })
        .await?;
    let rows = rows.iter().map(|c| shown(&app, &who, c, &methods)).collect();
    Ok(Json(Page::from_rows(rows, limit, |c| c.id.to_string())))
}

/// A channel added to an account: its type is the account's kind.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountChannelIn {
    pub name: Name,
    /// Where the channel's conversations go.
    pub workstream_id: WorkstreamId,
    /// BCP 47; `en-US` by default.
    #[serde(default)]
    pub language: Language,
    #[serde(default)]
    pub behaviours: ChannelBehaviours,
    /// Who may send files; both by default.
    #[serde(default)]
    pub attachments: AttachmentPermissions,
    /// The channel type's own settings, as on `POST /v1/channels`.
    #[serde(default)]
    pub settings: ChannelSettings,
}

/// Adds a channel to the account (at most 100), bound to a workstream. The answer has the channel's
/// `messaging_endpoint_url`, to paste into the provider's console.
#[utoipa::path(post, path = "/v1/messaging-accounts/{id}/channels", tag = "messaging-accounts",
    security(("bearer" = [])), operation_id = "accounts_create_channel", request_body = AccountChannelIn,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ChannelView),
        (status = 400, description = "`invalid_field` (a language that is not BCP 47, a behaviour this server does \
            not have, a setting the type does not use); `field` names the path"),
        (status = 404, description = "`messaging_account_not_found`; `workstream_not_found` with `field`"),
        (status = 409, description = "`too_many_channels`: the account has 100")))]
async fn create_account_channel(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AccountChannelIn>,
) -> ApiResult<Response> {
    who.require(CONFIGURERS)?;
    let (id, org) = (account_id(&id)?, who.org_id);
    let key = idem.scoped(&who, "POST /v1/messaging-accounts/{id}/channels", &(id, &input));
    let kind = app.store.read(move |tx| accounts::get_account(tx, org, id)).await?.kind;
    let new = NewChannel {
        account_id: Some(id),
        channel_type: kind,
        name: input.name.into_inner(),
        workstream_id: input.workstream_id,
        settings: input.settings,
        language: input.language,
        behaviours: input.behaviours,
        attachments: input.attachments,
    };
    super::setup::create_and_answer(&app, org, key, new).await
}
