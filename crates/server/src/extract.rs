//! Request extractors that turn every malformed input into an error with a stable code and the failing path.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use switchboard_domain::{
    Code, Error, limits,
    text::{coded, split_coded},
};
use switchboard_store::{Body, IdempotencyKey, Outcome};

use crate::{auth::Principal, error::ApiError};

/// A JSON body: `application/json`, at most 1 MiB, unknown fields refused by the target type.
pub struct ApiJson<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(|m| m.eq_ignore_ascii_case("application/json") || m.ends_with("+json"))
}

/// Maps a serde failure at `path` to its code: syntax → invalid_json, unknown or missing field, or the code a
/// validated type put at the front of its message.
pub fn json_error(path: &str, err: &serde_json::Error) -> Error {
    use serde_json::error::Category;
    let msg = err.to_string();
    // serde_json appends " at line L column C"; the path says where more usefully.
    let msg = msg.rsplit_once(" at line ").map_or(msg.as_str(), |(m, _)| m);
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            return Error::new(Code::InvalidJson, format!("the body is not valid JSON: {err}"));
        }
        Category::Data => {}
    }
    let at = |field: String| if path.is_empty() || path == "." { field } else { format!("{path}.{field}") };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        // The path already ends at the unknown key.
        let name = rest.split('`').next().unwrap_or_default().to_string();
        let field = if path.is_empty() || path == "." { name } else { path.to_string() };
        return Error::field(Code::UnknownField, field.clone(), format!("`{field}` is not a field of this request"));
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default().to_string();
        let field = at(name);
        return Error::field(Code::MissingField, field.clone(), format!("`{field}` is required"));
    }
    let field = if path.is_empty() || path == "." { "body".to_string() } else { path.to_string() };
    match split_coded(msg) {
        Some((code, detail)) => Error::field(code, field.clone(), format!("`{field}` {detail}")),
        None => Error::field(Code::InvalidField, field.clone(), format!("`{field}`: {msg}")),
    }
}

/// Parses a request body: one JSON object, nothing after it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    // Every endpoint takes an object. A struct would also accept an array, member by member in declaration order,
    // so `[]` would be an empty patch and `["x"]` a new name: anything but an object is refused before it is read.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde::de::IgnoredAny::deserialize(&mut *de).and_then(|_| de.end()) {
            Ok(()) => Error::new(Code::InvalidBody, "the body must be a JSON object"),
            Err(e) => json_error("", &e),
        });
    }
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| json_error(&e.path().to_string(), e.inner()))?;
    // A second value after the object is not JSON, and would otherwise be ignored.
    de.end().map_err(|e| json_error("", &e))?;
    Ok(value)
}

fn body_rejection(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(Code::PayloadTooLarge, "the body is larger than this endpoint accepts")
    } else {
        ApiError::new(Code::InvalidBody, e.body_text())
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(Code::UnsupportedMediaType, "send the body as `Content-Type: application/json`"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        Ok(ApiJson(parse_json(&bytes)?))
    }
}

/// A file sent as the whole request body: its bytes, and its type from `Content-Type` (required; a file of no
/// stated type cannot be checked against a workstream's policy or shown).
pub struct ApiFile {
    pub content_type: String,
    pub bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for ApiFile {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
            .filter(|v| v.contains('/'))
            .ok_or_else(|| {
                ApiError(Error::field(Code::MissingField, "Content-Type", "send the file's type as `Content-Type`"))
            })?;
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        if bytes.is_empty() {
            return Err(ApiError(Error::field(Code::InvalidBody, "body", "the file is empty")));
        }
        Ok(ApiFile { content_type, bytes })
    }
}

/// Query parameters, refused with `invalid_query` when they do not parse.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.inner().to_string();
            match split_coded(&inner) {
                Some((code, detail)) => ApiError(Error::field(code, field.clone(), format!("`{field}` {detail}"))),
                None => ApiError(Error::field(Code::InvalidQuery, field, format!("invalid query: {inner}"))),
            }
        })
    }
}

/// Parses an id from the path. An id that cannot exist is simply not found.
pub fn path_id<T: std::str::FromStr>(raw: &str, not_found: Code) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError(Error::not_found(not_found)))
}

/// A page size, 1 to [`limits::MAX_PAGE_SIZE`]: checked when the query is parsed, and documented from the same
/// constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "usize")]
pub struct PageSize(usize);

impl PageSize {
    pub fn get(self) -> usize {
        self.0
    }
}

impl TryFrom<usize> for PageSize {
    type Error = String;
    fn try_from(n: usize) -> Result<Self, String> {
        if (1..=limits::MAX_PAGE_SIZE).contains(&n) {
            Ok(Self(n))
        } else {
            Err(coded(Code::InvalidQuery, format_args!("must be between 1 and {}, got {n}", limits::MAX_PAGE_SIZE)))
        }
    }
}

impl utoipa::PartialSchema for PageSize {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(limits::MAX_PAGE_SIZE as u32))
            .default(Some(limits::DEFAULT_PAGE_SIZE.into()))
            .into()
    }
}

impl utoipa::ToSchema for PageSize {}

/// `?limit=&cursor=` on list endpoints.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (default 50).
    #[param(inline)]
    pub limit: Option<PageSize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<usize, ApiError> {
        Ok(self.limit.map_or(limits::DEFAULT_PAGE_SIZE, PageSize::get))
    }

    /// The cursor decoded as the id type the list is ordered by.
    pub fn cursor<T: std::str::FromStr>(&self) -> Result<Option<T>, ApiError> {
        self.cursor.as_deref().map(|c| c.parse().map_err(|_| invalid_cursor())).transpose()
    }

    /// The cursor of a list ordered by position (a conversation's log, the event feed): where to continue.
    pub fn position(&self) -> Result<i64, ApiError> {
        match self.cursor::<i64>()? {
            Some(n) if n < 0 => Err(invalid_cursor()),
            Some(n) => Ok(n),
            None => Ok(0),
        }
    }
}

fn invalid_cursor() -> ApiError {
    ApiError(Error::field(Code::InvalidCursor, "cursor", "this cursor was not issued by this list"))
}

/// The `Idempotency-Key` header, when the client sent one.
pub struct IdemKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdemKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(raw) = parts.headers.get("idempotency-key") else { return Ok(IdemKey(None)) };
        let key = raw.to_str().ok().filter(|k| {
            (1..=limits::MAX_IDEMPOTENCY_KEY).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
        });
        match key {
            Some(k) => Ok(IdemKey(Some(k.to_string()))),
            None => Err(ApiError(Error::field(
                Code::InvalidIdempotencyKey,
                "Idempotency-Key",
                format!("the key must be 1 to {} visible ASCII characters", limits::MAX_IDEMPOTENCY_KEY),
            ))),
        }
    }
}

impl IdemKey {
    /// Scopes the key to the caller and fingerprints the request (route and canonical body), so that the same key
    /// with another request is told apart from a retry.
    pub fn scoped(&self, principal: &Principal, route: &str, body: &impl Serialize) -> Option<IdempotencyKey> {
        let key = self.0.as_ref()?;
        let mut hash = Sha256::new();
        hash.update(route.as_bytes());
        hash.update([0]);
        hash.update(serde_json::to_vec(body).unwrap_or_default());
        Some(IdempotencyKey {
            principal: principal.label(),
            key: key.clone(),
            fingerprint: hex::encode(hash.finalize()),
        })
    }
}

/// A write's response: its status and body, marked when it is the saved response to an earlier request.
pub struct Written<R>(pub Outcome<R>);

impl<R: Serialize> IntoResponse for Written<R> {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::OK);
        let json = match self.0.body {
            Body::Value(v) => serde_json::to_vec(&v),
            Body::Json(s) => Ok(s.into_bytes()),
        };
        let Ok(json) = json else {
            return ApiError(Error::internal("serializing a response failed")).into_response();
        };
        let mut response = (status, [(header::CONTENT_TYPE, "application/json")], json).into_response();
        if self.0.replayed {
            response.headers_mut().insert("idempotent-replayed", header::HeaderValue::from_static("true"));
        }
        response
    }
}

/// The status and value a write answers with.
pub fn body<R>(status: StatusCode, value: R) -> Result<(u16, R), Error> {
    Ok((status.as_u16(), value))
}

/// Adds a secret to a written object's response, unless it is a replay (secrets are never saved for replays).
pub fn reveal<R: Serialize>(
    out: Outcome<R>,
    field: &str,
    secret: impl Into<serde_json::Value>,
) -> Result<Outcome<serde_json::Value>, Error> {
    let mut value: serde_json::Value = match out.body {
        Body::Value(v) => serde_json::to_value(v).map_err(Error::internal)?,
        Body::Json(s) => serde_json::from_str(&s).map_err(Error::internal)?,
    };
    if !out.replayed {
        value[field] = secret.into();
    }
    Ok(Outcome { status: out.status, body: Body::Value(value), replayed: out.replayed })
}

/// A JSON body that may be left out entirely (actions whose fields are all optional).
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty = req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v == "0")
            || (!req.headers().contains_key(header::CONTENT_TYPE)
                && !req.headers().contains_key(header::TRANSFER_ENCODING)
                && !req.headers().contains_key(header::CONTENT_LENGTH));
        if empty {
            return Ok(OptionalJson(T::default()));
        }
        ApiJson::<T>::from_request(req, state).await.map(|ApiJson(v)| OptionalJson(v))
    }
}

/// One member of a JSON merge patch (RFC 7396): left out keeps the value, `null` removes it, anything else
/// replaces it. Give the field `#[serde(default)]` so that leaving it out is `Keep`.
#[derive(Debug, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Remove,
    Set(T),
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Patch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(d)?.map_or(Patch::Remove, Patch::Set))
    }
}

impl<T> Patch<T> {
    /// The new value of a member that cannot be removed, refused like a create that leaves it out.
    pub fn required(self, field: &str, current: T) -> Result<T, Error> {
        match self {
            Patch::Keep => Ok(current),
            Patch::Set(v) => Ok(v),
            Patch::Remove => {
                Err(Error::field(Code::MissingField, field, format!("`{field}` is required and cannot be removed")))
            }
        }
    }

    /// The new value of a member that may be absent.
    pub fn optional(self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Keep => current,
            Patch::Remove => None,
            Patch::Set(v) => Some(v),
        }
    }

    /// Refuses any change of a member fixed at creation, as a field this request does not accept, saying why.
    pub fn fixed(&self, field: &str, why: &str) -> Result<(), Error> {
        match self {
            Patch::Keep => Ok(()),
            Patch::Remove | Patch::Set(_) => {
                Err(Error::field(Code::UnknownField, field, format!("`{field}` cannot change after creation: {why}")))
            }
        }
    }
}

impl Patch<serde_json::Map<String, serde_json::Value>> {
    /// Merges this patch into `current` (objects merge member by member, `null` brings back a member's default)
    /// and parses the result as the create path would, errors named by their full path under `field`.
    pub fn merge<T: Serialize + DeserializeOwned>(self, field: &str, current: &T) -> Result<T, Error> {
        let mut value = serde_json::to_value(current).map_err(Error::internal)?;
        match self {
            Patch::Keep => {}
            Patch::Remove => value = serde_json::Value::Object(serde_json::Map::new()),
            Patch::Set(patch) => merge(&mut value, serde_json::Value::Object(patch)),
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let inner = e.path().to_string();
            let path = if inner.is_empty() || inner == "." { field.to_string() } else { format!("{field}.{inner}") };
            json_error(&path, e.inner())
        })
    }
}

/// RFC 7396 §2: a patch object merges into an object member by member, `null` removing; anything else replaces.
fn merge(target: &mut serde_json::Value, patch: serde_json::Value) {
    use serde_json::Value;
    let Value::Object(members) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(object) = target {
        for (name, value) in members {
            if value.is_null() {
                object.remove(&name);
            } else {
                merge(object.entry(name).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn merge_follows_rfc_7396() {
        // The examples of RFC 7396 appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (mut target, patch, expect) in cases {
            super::merge(&mut target, patch.clone());
            assert_eq!(target, expect, "{patch}");
        }
    }
}
