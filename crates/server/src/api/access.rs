//! Users (agents, supervisors, admins), API keys and OAuth2 clients. Only admins manage them.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code,
    ids::*,
    role::Role,
    text::{Email, Name},
};
use switchboard_store::{
    access::{self, NewApiKey},
    model::{ApiKey, OAuthClient, Page, User},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::{API_KEY_PREFIX, CLIENT_SECRET_PREFIX, Principal, secrets},
    error::ApiResult,
    extract::{ApiJson, ApiQuery, IdemKey, PageQuery, Written, body, path_id, reveal},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user))
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
        .routes(routes!(create_client, list_clients))
        .routes(routes!(revoke_client))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    pub name: Name,
    #[serde(default)]
    pub email: Option<Email>,
    /// `agent` for people who handle conversations.
    pub role: Role,
}

/// Adds a user. Agents are users with the `agent` role.
#[utoipa::path(post, path = "/v1/users", tag = "access", security(("bearer" = [])), request_body = UserIn,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = User), (status = 409, description = "The email is taken")))]
async fn create_user(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<UserIn>,
) -> ApiResult<Response> {
    who.require(&[Role::Admin])?;
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/users", &input);
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            let user = access::create_user(
                tx,
                org,
                input.name.as_str(),
                input.email.as_ref().map(Email::as_str),
                input.role,
                now,
            )?;
            body(StatusCode::CREATED, user)
        })
        .await?;
    Ok(Written(out).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Only users with this role.
    pub role: Option<Role>,
    #[param(inline)]
    pub limit: Option<crate::extract::PageSize>,
    pub cursor: Option<String>,
}

/// The organization's users. Admins and supervisors list everyone; agents list their colleagues (`role=agent`).
#[utoipa::path(get, path = "/v1/users", tag = "access", security(("bearer" = [])), params(UserQuery),
    responses((status = 200, body = Page<User>)))]
async fn list_users(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<Page<User>>> {
    // Agents see their colleagues, to transfer a conversation to one; the rest of the directory is not theirs.
    let colleagues = who.role == Role::Agent && q.role == Some(Role::Agent);
    if !colleagues {
        who.require(&[Role::Admin, Role::Supervisor])?;
    }
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    let (limit, after, org, role) = (page.limit()?, page.cursor::<UserId>()?, who.org_id, q.role);
    let rows = app.store.read(move |tx| access::list_users(tx, org, role, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |u| u.id.to_string())))
}

#[utoipa::path(get, path = "/v1/users/{id}", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = User), (status = 404)))]
async fn get_user(State(app): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Json<User>> {
    who.require(&[Role::Admin, Role::Supervisor])?;
    let (id, org) = (path_id(&id, Code::UserNotFound)?, who.org_id);
    Ok(Json(app.store.read(move |tx| access::get_user(tx, org, id)).await?))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyIn {
    pub name: Name,
    pub role: Role,
    /// The user the key acts as; required for agents so that they act as themselves.
    #[serde(default)]
    pub user_id: Option<UserId>,
}

/// A new API key, with the secret, which is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The key itself. It is stored only as a hash; a replay of this request returns `null` here.
    pub key: Option<String>,
}

/// Creates an API key. The key is returned once.
#[utoipa::path(post, path = "/v1/api-keys", tag = "access", security(("bearer" = [])), request_body = ApiKeyIn,
    params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, body = CreatedApiKey)))]
async fn create_api_key(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<ApiKeyIn>,
) -> ApiResult<Response> {
    who.require(&[Role::Admin])?;
    if input.role == Role::Agent && input.user_id.is_none() {
        return Err(switchboard_domain::Error::field(
            Code::MissingField,
            "user_id",
            "an agent's key must name the agent (`user_id`)",
        )
        .into());
    }
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/api-keys", &input);
    let secret = secrets::random_token(API_KEY_PREFIX);
    let hash = secrets::hash(&secret);
    let prefix: String = secret.chars().take(12).collect();
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            let api_key = access::create_api_key(
                tx,
                org,
                NewApiKey {
                    name: input.name.as_str(),
                    role: input.role,
                    user_id: input.user_id,
                    key_hash: &hash,
                    prefix: &prefix,
                },
                now,
            )?;
            body(StatusCode::CREATED, CreatedApiKey { api_key, key: None })
        })
        .await?;
    // The secret goes to the caller but never into the saved idempotent response.
    Ok(Written(reveal(out, "key", secret)?).into_response())
}

#[utoipa::path(get, path = "/v1/api-keys", tag = "access", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<ApiKey>)))]
async fn list_api_keys(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ApiKey>>> {
    who.require(&[Role::Admin])?;
    let (limit, after, org) = (page.limit()?, page.cursor::<ApiKeyId>()?, who.org_id);
    let rows = app.store.read(move |tx| access::list_api_keys(tx, org, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |k| k.id.to_string())))
}

/// Revokes an API key at once on this node, and within `auth_cache_seconds` on others.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ApiKey), (status = 404)))]
async fn revoke_api_key(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiKey>> {
    who.require(&[Role::Admin])?;
    let (id, org) = (path_id(&id, Code::ApiKeyNotFound)?, who.org_id);
    let now = app.clock.now();
    let key = app.store.write(move |tx| access::revoke_api_key(tx, org, id, now)).await?;
    app.auth.forget();
    Ok(Json(key))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientIn {
    pub name: Name,
    /// Usually `integration`.
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: OAuthClient,
    /// Use as `client_id` at `POST /oauth2/token`.
    pub client_id: ClientId,
    /// Shown only here; a replay of this request returns `null`.
    pub client_secret: Option<String>,
}

/// Registers an OAuth2 client for the client-credentials grant. Agents act through their own keys, not clients.
#[utoipa::path(post, path = "/v1/clients", tag = "access", security(("bearer" = [])), request_body = ClientIn,
    params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, body = CreatedClient)))]
async fn create_client(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<ClientIn>,
) -> ApiResult<Response> {
    who.require(&[Role::Admin])?;
    if input.role == Role::Agent {
        return Err(
            switchboard_domain::Error::field(Code::InvalidField, "role", "a client cannot act as an agent").into()
        );
    }
    if input.role == Role::Bot {
        return Err(
            switchboard_domain::Error::field(Code::InvalidField, "role", "bots are added at POST /v1/bots").into()
        );
    }
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/clients", &input);
    let secret = secrets::random_token(CLIENT_SECRET_PREFIX);
    let hash = secrets::hash(&secret);
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            let client = access::create_client(tx, org, input.name.as_str(), input.role, &hash, now)?;
            body(StatusCode::CREATED, CreatedClient { client_id: client.id, client, client_secret: None })
        })
        .await?;
    Ok(Written(reveal(out, "client_secret", secret)?).into_response())
}

#[utoipa::path(get, path = "/v1/clients", tag = "access", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<OAuthClient>)))]
async fn list_clients(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<OAuthClient>>> {
    who.require(&[Role::Admin])?;
    let (limit, after, org) = (page.limit()?, page.cursor::<ClientId>()?, who.org_id);
    let rows = app.store.read(move |tx| access::list_clients(tx, org, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |c| c.id.to_string())))
}

/// Revokes a client; its tokens stop working at once.
#[utoipa::path(delete, path = "/v1/clients/{id}", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = OAuthClient), (status = 404)))]
async fn revoke_client(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<OAuthClient>> {
    who.require(&[Role::Admin])?;
    let (id, org) = (path_id(&id, Code::ClientNotFound)?, who.org_id);
    let now = app.clock.now();
    let client = app.store.write(move |tx| access::revoke_client(tx, org, id, now)).await?;
    app.auth.forget();
    Ok(Json(client))
}
