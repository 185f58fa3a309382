//! Customer records.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use switchboard_domain::{
    Code, Error,
    contact::CustomerIn,
    ids::ContactId,
    role::Role,
    text::{Email, Phone},
};
use switchboard_store::{
    contacts::{self, ContactFilter},
    model::{Contact, Page},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::Principal,
    error::ApiResult,
    extract::{ApiJson, ApiQuery, IdemKey, PageQuery, Written, body, path_id},
};

const WRITERS: &[Role] = &[Role::Admin, Role::Supervisor, Role::Integration];
const READERS: &[Role] = &[Role::Admin, Role::Supervisor, Role::Integration, Role::Agent];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_contact, list_contacts)).routes(routes!(get_contact, update_contact))
}

#[utoipa::path(post, path = "/v1/contacts", tag = "contacts", security(("bearer" = [])), request_body = CustomerIn,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Contact), (status = 409, description = "The customer_id is taken")))]
async fn create_contact(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<CustomerIn>,
) -> ApiResult<Response> {
    who.require(WRITERS)?;
    if input.is_empty() {
        return Err(Error::new(Code::MissingField, "give at least one of customer_id, names, email or phone").into());
    }
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/contacts", &input);
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| body(StatusCode::CREATED, contacts::create(tx, org, &input, now)?))
        .await?;
    Ok(Written(out).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    pub customer_id: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    #[param(inline)]
    pub limit: Option<crate::extract::PageSize>,
    pub cursor: Option<String>,
}

/// Lists contacts, optionally only those matching a customer id, email or phone (normalized like stored values).
#[utoipa::path(get, path = "/v1/contacts", tag = "contacts", security(("bearer" = [])), params(ContactQuery),
    responses((status = 200, body = Page<Contact>)))]
async fn list_contacts(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> ApiResult<Json<Page<Contact>>> {
    who.require(READERS)?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    let (limit, after, org) = (page.limit()?, page.cursor::<ContactId>()?, who.org_id);
    let filter = ContactFilter {
        customer_id: q.customer_id,
        email: q.email.map(|e| e.as_str().to_string()),
        phone: q.phone.map(|p| p.as_str().to_string()),
    };
    let rows = app.store.read(move |tx| contacts::list(tx, org, &filter, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |c| c.id.to_string())))
}

#[utoipa::path(get, path = "/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Contact), (status = 404)))]
async fn get_contact(State(app): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Json<Contact>> {
    who.require(READERS)?;
    let (id, org) = (path_id(&id, Code::ContactNotFound)?, who.org_id);
    Ok(Json(app.store.read(move |tx| contacts::get(tx, org, id)).await?))
}

/// Sets the fields given; the others keep their values.
#[utoipa::path(patch, path = "/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])), request_body = CustomerIn,
    params(("id" = String, Path)),
    responses((status = 200, body = Contact), (status = 404), (status = 409, description = "The customer_id is taken")))]
async fn update_contact(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CustomerIn>,
) -> ApiResult<Json<Contact>> {
    who.require(WRITERS)?;
    let (id, org) = (path_id(&id, Code::ContactNotFound)?, who.org_id);
    let now = app.clock.now();
    Ok(Json(app.store.write(move |tx| contacts::update(tx, org, id, &input, now)).await?))
}
