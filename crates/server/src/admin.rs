//! Operations an operator runs from the command line, straight against the store.

use serde::Serialize;
use switchboard_domain::{
    Code, Error, Timestamp,
    ids::*,
    role::Role,
    text::{Email, Name},
};
use switchboard_store::{
    Store,
    access::{self, NewApiKey},
    model::{OAuthClient, Org, User},
    sign_in,
};

use crate::auth::{API_KEY_PREFIX, CLIENT_SECRET_PREFIX, passwords, secrets};

fn parsed<T>(r: Result<T, String>, field: &str) -> Result<T, Error> {
    r.map_err(|m| switchboard_domain::text::field_error(field, &m))
}

#[derive(Debug, Serialize)]
pub struct CreatedOrg {
    pub org_id: OrgId,
    /// An admin API key; shown once.
    pub api_key: String,
}

/// A new organization and an admin API key for it.
pub async fn create_org(store: &Store, name: &str, now: Timestamp) -> Result<(Org, CreatedOrg), Error> {
    let name = parsed(Name::parse(name), "name")?;
    let secret = secrets::random_token(API_KEY_PREFIX);
    let hash = secrets::hash(&secret);
    let prefix: String = secret.chars().take(12).collect();
    let org = store
        .write(move |tx| {
            let org = access::create_org(tx, name.as_str(), now)?;
            access::create_api_key(
                tx,
                org.id,
                NewApiKey { name: "admin", role: Role::Admin, user_id: None, key_hash: &hash, prefix: &prefix },
                now,
            )?;
            Ok(org)
        })
        .await?;
    let out = CreatedOrg { org_id: org.id, api_key: secret };
    Ok((org, out))
}

#[derive(Debug, Serialize)]
pub struct CreatedClient {
    pub client_id: ClientId,
    pub client_secret: String,
    pub role: Role,
}

pub async fn create_client(
    store: &Store,
    org: OrgId,
    name: &str,
    role: Role,
    now: Timestamp,
) -> Result<(OAuthClient, CreatedClient), Error> {
    if role == Role::Agent {
        return Err(Error::field(Code::InvalidField, "role", "a client cannot act as an agent"));
    }
    let name = parsed(Name::parse(name), "name")?;
    let secret = secrets::random_token(CLIENT_SECRET_PREFIX);
    let hash = secrets::hash(&secret);
    let client = store
        .write(move |tx| {
            access::get_org(tx, org)?;
            access::create_client(tx, org, name.as_str(), role, &hash, now)
        })
        .await?;
    let out = CreatedClient { client_id: client.id, client_secret: secret, role };
    Ok((client, out))
}

#[derive(Debug, Serialize)]
pub struct CreatedUser {
    pub user_id: UserId,
    pub name: String,
    pub role: Role,
    /// An API key acting as this user; shown once.
    pub api_key: String,
}

/// A user (an agent, supervisor or admin) and an API key that acts as them; with a password, they can also sign
/// in from a browser.
pub async fn create_user(
    store: &Store,
    org: OrgId,
    name: &str,
    email: Option<&str>,
    role: Role,
    password: Option<String>,
    now: Timestamp,
) -> Result<(User, CreatedUser), Error> {
    if role == Role::Integration {
        return Err(Error::field(Code::InvalidField, "role", "integrations are clients, not users"));
    }
    let name = parsed(Name::parse(name), "name")?;
    let email = email.map(|e| parsed(Email::parse(e), "email")).transpose()?;
    if password.is_some() && email.is_none() {
        return Err(Error::field(Code::MissingField, "email", "a user signs in with their email: give one"));
    }
    let password_hash = match password {
        Some(p) => Some(passwords::hash(passwords::Password::parse(p, "password")?).await?),
        None => None,
    };
    let secret = secrets::random_token(API_KEY_PREFIX);
    let hash = secrets::hash(&secret);
    let prefix: String = secret.chars().take(12).collect();
    let user = store
        .write(move |tx| {
            access::get_org(tx, org)?;
            let user = access::create_user(tx, org, name.as_str(), email.as_ref().map(Email::as_str), role, now)?;
            if let Some(hash) = &password_hash {
                sign_in::set_password(tx, org, user.id, hash)?;
            }
            let key_name = format!("{} ({role})", user.name);
            access::create_api_key(
                tx,
                org,
                NewApiKey { name: &key_name, role, user_id: Some(user.id), key_hash: &hash, prefix: &prefix },
                now,
            )?;
            Ok(user)
        })
        .await?;
    let out = CreatedUser { user_id: user.id, name: user.name.clone(), role, api_key: secret };
    Ok((user, out))
}
