//! Organizations and who may act in them: users, API keys, OAuth2 clients, and the server's signing keys.

use switchboard_domain::{Code, Error, Timestamp, ids::*, role::Role};

use crate::{
    events,
    model::{ApiKey, OAuthClient, Org, User},
    params,
    sql::{Row, Tx},
};
use switchboard_domain::event::TypedEvent;

pub fn create_org(tx: &mut Tx<'_>, name: &str, now: Timestamp) -> Result<Org, Error> {
    let org = Org { id: OrgId::new(), name: name.to_string(), created_at: now };
    tx.execute(
        "INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)",
        params![org.id, &org.name, org.created_at],
    )?;
    events::append_event(tx, org.id, None, &TypedEvent::OrganizationCreated(org.clone()), org.created_at)?;
    Ok(org)
}

pub fn get_org(tx: &mut Tx<'_>, id: OrgId) -> Result<Org, Error> {
    let row = tx.query_opt("SELECT id, name, created_at FROM orgs WHERE id = $1", params![id])?;
    let row = row.ok_or_else(|| Error::not_found(Code::OrganizationNotFound))?;
    Ok(Org { id: row.parse(0)?, name: row.string(1)?, created_at: row.ts(2)? })
}

fn role(r: &Row, idx: usize) -> Result<Role, Error> {
    r.parse(idx)
}

pub(crate) const USER_COLUMNS: &str = "id, org_id, name, email, role, created_at";

pub(crate) fn user_from_row(r: &Row) -> Result<User, Error> {
    Ok(User {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        name: r.string(2)?,
        email: r.opt_string(3)?,
        role: role(r, 4)?,
        created_at: r.ts(5)?,
    })
}

pub fn create_user(
    tx: &mut Tx<'_>,
    org: OrgId,
    name: &str,
    email: Option<&str>,
    role: Role,
    now: Timestamp,
) -> Result<User, Error> {
    let user = User {
        id: UserId::new(),
        org_id: org,
        name: name.to_string(),
        email: email.map(str::to_string),
        role,
        created_at: now,
    };
    tx.execute(
        "INSERT INTO users (id, org_id, name, email, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        params![user.id, org, &user.name, user.email.as_deref(), role.as_str(), user.created_at],
    )
    .map_err(|e| match e.code {
        Code::AlreadyExists => Error::field(Code::AlreadyExists, "email", "a user with this email already exists"),
        _ => e,
    })?;
    events::append_event(tx, org, None, &TypedEvent::UserCreated(user.clone()), user.created_at)?;
    Ok(user)
}

pub fn get_user(tx: &mut Tx<'_>, org: OrgId, id: UserId) -> Result<User, Error> {
    tx.get_in_org("users", USER_COLUMNS, id.into(), org, Code::UserNotFound, user_from_row)
}

pub fn list_users(
    tx: &mut Tx<'_>,
    org: OrgId,
    role: Option<Role>,
    after: Option<UserId>,
    limit: usize,
) -> Result<Vec<User>, Error> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR role = $2)
         AND id > $3 ORDER BY id LIMIT $4"
    );
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    tx.query(&sql, params![org, role.map(Role::as_str), after, limit])?.iter().map(user_from_row).collect()
}

const KEY_COLUMNS: &str = "id, org_id, name, role, user_id, prefix, created_at, revoked_at";

fn key_from_row(r: &Row) -> Result<ApiKey, Error> {
    Ok(ApiKey {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        name: r.string(2)?,
        role: role(r, 3)?,
        user_id: r.opt_parse(4)?,
        prefix: r.string(5)?,
        created_at: r.ts(6)?,
        revoked_at: r.opt_ts(7)?,
    })
}

pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub role: Role,
    pub user_id: Option<UserId>,
    pub key_hash: &'a str,
    pub prefix: &'a str,
}

pub fn create_api_key(tx: &mut Tx<'_>, org: OrgId, new: NewApiKey<'_>, now: Timestamp) -> Result<ApiKey, Error> {
    if let Some(user) = new.user_id {
        get_user(tx, org, user).map_err(|e| e.at("user_id"))?;
    }
    let key = ApiKey {
        id: ApiKeyId::new(),
        org_id: org,
        name: new.name.to_string(),
        role: new.role,
        user_id: new.user_id,
        prefix: new.prefix.to_string(),
        created_at: now,
        revoked_at: None,
    };
    tx.execute(
        "INSERT INTO api_keys (id, org_id, name, role, user_id, key_hash, prefix, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![key.id, org, &key.name, key.role.as_str(), key.user_id, new.key_hash, &key.prefix, key.created_at],
    )?;
    Ok(key)
}

/// The live key with this hash, in any organization: the lookup behind every API-key request.
pub fn find_api_key(tx: &mut Tx<'_>, key_hash: &str) -> Result<Option<ApiKey>, Error> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
    tx.query_opt(&sql, params![key_hash])?.as_ref().map(key_from_row).transpose()
}

pub fn list_api_keys(tx: &mut Tx<'_>, org: OrgId, after: Option<ApiKeyId>, limit: usize) -> Result<Vec<ApiKey>, Error> {
    tx.list_in_org("api_keys", KEY_COLUMNS, org, after, limit, key_from_row)
}

pub fn revoke_api_key(tx: &mut Tx<'_>, org: OrgId, id: ApiKeyId, now: Timestamp) -> Result<ApiKey, Error> {
    tx.execute(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND revoked_at IS NULL",
        params![now, id, org],
    )?;
    tx.get_in_org("api_keys", KEY_COLUMNS, id.into(), org, Code::ApiKeyNotFound, key_from_row)
}

const CLIENT_COLUMNS: &str = "id, org_id, name, role, created_at, revoked_at";

fn client_from_row(r: &Row) -> Result<OAuthClient, Error> {
    Ok(OAuthClient {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        name: r.string(2)?,
        role: role(r, 3)?,
        created_at: r.ts(4)?,
        revoked_at: r.opt_ts(5)?,
    })
}

pub fn create_client(
    tx: &mut Tx<'_>,
    org: OrgId,
    name: &str,
    role: Role,
    secret_hash: &str,
    now: Timestamp,
) -> Result<OAuthClient, Error> {
    let client = OAuthClient {
        id: ClientId::new(),
        org_id: org,
        name: name.to_string(),
        role,
        created_at: now,
        revoked_at: None,
    };
    tx.execute(
        "INSERT INTO oauth_clients (id, org_id, name, role, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        params![client.id, org, &client.name, role.as_str(), secret_hash, client.created_at],
    )?;
    Ok(client)
}

/// A live client and its secret's hash, for the token endpoint.
pub fn find_client(tx: &mut Tx<'_>, id: ClientId) -> Result<Option<(OAuthClient, String)>, Error> {
    let sql = format!("SELECT {CLIENT_COLUMNS}, secret_hash FROM oauth_clients WHERE id = $1 AND revoked_at IS NULL");
    match tx.query_opt(&sql, params![id])? {
        Some(r) => Ok(Some((client_from_row(&r)?, r.string(6)?))),
        None => Ok(None),
    }
}

pub fn list_clients(
    tx: &mut Tx<'_>,
    org: OrgId,
    after: Option<ClientId>,
    limit: usize,
) -> Result<Vec<OAuthClient>, Error> {
    tx.list_in_org("oauth_clients", CLIENT_COLUMNS, org, after, limit, client_from_row)
}

pub fn revoke_client(tx: &mut Tx<'_>, org: OrgId, id: ClientId, now: Timestamp) -> Result<OAuthClient, Error> {
    tx.execute(
        "UPDATE oauth_clients SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND revoked_at IS NULL",
        params![now, id, org],
    )?;
    tx.get_in_org("oauth_clients", CLIENT_COLUMNS, id.into(), org, Code::ClientNotFound, client_from_row)
}

/// A signing key as stored: the private key sealed with the deployment's secret key.
#[derive(Debug, Clone)]
pub struct StoredSigningKey {
    pub kid: String,
    pub sealed_private_key: String,
    pub public_jwk: String,
    pub created_at: Timestamp,
}

pub fn signing_keys(tx: &mut Tx<'_>) -> Result<Vec<StoredSigningKey>, Error> {
    tx.query(
        "SELECT kid, private_key, public_jwk, created_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at",
        params![],
    )?
    .iter()
    .map(|r| {
        Ok(StoredSigningKey {
            kid: r.string(0)?,
            sealed_private_key: r.string(1)?,
            public_jwk: r.string(2)?,
            created_at: r.ts(3)?,
        })
    })
    .collect()
}

/// Adds a key unless one exists already (several nodes may start at once); returns the live keys.
pub fn ensure_signing_key(tx: &mut Tx<'_>, candidate: StoredSigningKey) -> Result<Vec<StoredSigningKey>, Error> {
    if tx.backend() == crate::sql::Backend::Postgres {
        // Serializes first start across nodes so that exactly one key is created.
        tx.execute("SELECT pg_advisory_xact_lock(7368721)", params![])?;
    }
    if signing_keys(tx)?.is_empty() {
        tx.execute(
            "INSERT INTO signing_keys (kid, private_key, public_jwk, created_at) VALUES ($1, $2, $3, $4)",
            params![&candidate.kid, &candidate.sealed_private_key, &candidate.public_jwk, candidate.created_at],
        )?;
    }
    signing_keys(tx)
}
