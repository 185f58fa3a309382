//! Messaging accounts: the provider registrations channels are added to (seed 002). Credentials arrive sealed by
//! the server's secret key and are kept as they came; no read of this module serializes them.

use switchboard_domain::{
    Code, Error, Timestamp,
    account::ValidationState,
    account::{AccountMethod, AccountSettings, AccountValidation, MAX_CHANNELS_PER_ACCOUNT, MessagingAccount},
    event::{Deleted, TypedEvent},
    ids::*,
    setup::ChannelType,
};

use crate::{
    events,
    model::Channel,
    params,
    setup::{CHANNEL_COLUMNS, channel_from_row, lock, to_json},
    sql::{Row, Tx},
};

const COLUMNS: &str = "id, org_id, name, kind, method, settings, credentials, validation_state, validation_reason, \
     validated_at, created_at, updated_at";

fn from_row(r: &Row) -> Result<MessagingAccount, Error> {
    let sealed_credentials = r.opt_string(6)?;
    Ok(MessagingAccount {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        name: r.string(2)?,
        kind: r.enumeration(3, ChannelType::parse)?,
        method: r
            .opt_string(4)?
            .map(|m| AccountMethod::parse(&m).ok_or_else(|| bad_column("method", &m)))
            .transpose()?,
        settings: r.json(5)?,
        credentials_set: sealed_credentials.is_some(),
        validation: AccountValidation {
            state: r.enumeration(7, ValidationState::parse)?,
            reason: r.opt_string(8)?,
            checked_at: r.opt_ts(9)?,
        },
        created_at: r.ts(10)?,
        updated_at: r.ts(11)?,
        sealed_credentials,
    })
}

fn bad_column(column: &str, value: &str) -> Error {
    Error::internal(format!("messaging_accounts.{column} holds `{value}`"))
}

/// An account to create; `sealed_credentials` is already encrypted (`None`: the kind needs none).
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub kind: ChannelType,
    pub method: Option<AccountMethod>,
    pub settings: AccountSettings,
    pub sealed_credentials: Option<String>,
}

pub fn create_account(tx: &mut Tx<'_>, org: OrgId, new: NewAccount, now: Timestamp) -> Result<MessagingAccount, Error> {
    let a = MessagingAccount {
        id: MessagingAccountId::new(),
        org_id: org,
        name: new.name,
        kind: new.kind,
        method: new.method,
        settings: new.settings,
        credentials_set: new.sealed_credentials.is_some(),
        validation: AccountValidation::unchecked(),
        created_at: now,
        updated_at: now,
        sealed_credentials: new.sealed_credentials,
    };
    tx.execute(
        &format!("INSERT INTO {TABLE} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, $9, $10)"),
        params![
            a.id,
            org,
            &a.name,
            a.kind.as_str(),
            a.method.map(AccountMethod::as_str),
            to_json(&a.settings)?,
            a.sealed_credentials.as_deref(),
            a.validation.state.as_str(),
            now,
            now
        ],
    )?;
    events::append_event(tx, org, None, &TypedEvent::MessagingAccountCreated(a.clone()), now)?;
    Ok(a)
}

const TABLE: &str = "messaging_accounts";

/// The account a channel created without one gets: of its kind, named after it, with nothing set.
pub(crate) fn create_account_of_channel(
    tx: &mut Tx<'_>,
    org: OrgId,
    kind: ChannelType,
    channel_name: &str,
    now: Timestamp,
) -> Result<MessagingAccount, Error> {
    let new = NewAccount {
        name: channel_name.into(),
        kind,
        method: AccountMethod::default_for(kind),
        settings: AccountSettings::default(),
        sealed_credentials: None,
    };
    create_account(tx, org, new, now)
}

/// The account a new channel of `channel_type` joins, if it may: an account of that kind in the organization,
/// with fewer than [`MAX_CHANNELS_PER_ACCOUNT`] channels. The account's row is locked (PostgreSQL) so that two
/// channels added at once count each other.
pub(crate) fn room_for_channel(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: MessagingAccountId,
    channel_type: ChannelType,
) -> Result<MessagingAccount, Error> {
    let account = get_locked(tx, org, id).map_err(|e| e.at("account_id"))?;
    if account.kind != channel_type {
        return Err(Error::field(
            Code::InvalidField,
            "channel_type",
            format!("the account is a {} account; its channels are of that type, not {channel_type}", account.kind),
        ));
    }
    if count_channels(tx, org, id)? >= MAX_CHANNELS_PER_ACCOUNT {
        return Err(Error::new(
            Code::TooManyChannels,
            format!("a messaging account holds at most {MAX_CHANNELS_PER_ACCOUNT} channels"),
        ));
    }
    Ok(account)
}

fn get_locked(tx: &mut Tx<'_>, org: OrgId, id: MessagingAccountId) -> Result<MessagingAccount, Error> {
    let sql = format!("SELECT {COLUMNS} FROM {TABLE} WHERE id = $1 AND org_id = $2{}", lock(tx));
    from_row(&tx.query_opt(&sql, params![id, org])?.ok_or_else(|| Error::not_found(Code::MessagingAccountNotFound))?)
}

pub fn count_channels(tx: &mut Tx<'_>, org: OrgId, id: MessagingAccountId) -> Result<usize, Error> {
    let n = tx
        .query_one("SELECT COUNT(*) FROM channels WHERE org_id = $1 AND account_id = $2", params![org, id])?
        .i64(0)?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

pub fn get_account(tx: &mut Tx<'_>, org: OrgId, id: MessagingAccountId) -> Result<MessagingAccount, Error> {
    tx.get_in_org(TABLE, COLUMNS, id.into(), org, Code::MessagingAccountNotFound, from_row)
}

pub fn list_accounts(
    tx: &mut Tx<'_>,
    org: OrgId,
    after: Option<MessagingAccountId>,
    limit: usize,
) -> Result<Vec<MessagingAccount>, Error> {
    tx.list_in_org(TABLE, COLUMNS, org, after, limit, from_row)
}

/// The account `channel_id` belongs to, sealed credentials included: what the code that talks to the channel's
/// provider (the Bot Framework's connector) signs in with.
pub fn account_of_channel(tx: &mut Tx<'_>, org: OrgId, channel_id: ChannelId) -> Result<MessagingAccount, Error> {
    let sql = format!(
        "SELECT {} FROM {TABLE} a JOIN channels c ON c.account_id = a.id WHERE c.id = $1 AND c.org_id = $2",
        COLUMNS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ")
    );
    from_row(&tx.query_opt(&sql, params![channel_id, org])?.ok_or_else(|| Error::not_found(Code::ChannelNotFound))?)
}

/// The method of each of the organization's accounts that has one: how its channels' providers reach them, which
/// a channel's messaging endpoint depends on.
pub fn methods(
    tx: &mut Tx<'_>,
    org: OrgId,
) -> Result<std::collections::HashMap<MessagingAccountId, AccountMethod>, Error> {
    let mut out = std::collections::HashMap::new();
    for r in
        tx.query("SELECT id, method FROM messaging_accounts WHERE org_id = $1 AND method IS NOT NULL", params![org])?
    {
        if let Some(method) = r.opt_string(1)?.as_deref().and_then(AccountMethod::parse) {
            out.insert(r.parse(0)?, method);
        }
    }
    Ok(out)
}

/// A page of an account's channels, in id order.
pub fn list_account_channels(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: MessagingAccountId,
    after: Option<ChannelId>,
    limit: usize,
) -> Result<Vec<Channel>, Error> {
    get_account(tx, org, id)?;
    let sql = format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels WHERE org_id = $1 AND account_id = $2 AND id > $3 ORDER BY id LIMIT $4"
    );
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    tx.query(&sql, params![org, id, after, limit])?.iter().map(channel_from_row).collect()
}

/// What may change on an account: its name, settings and credentials. Its kind and method may not: its channels
/// are of its kind.
#[derive(Debug, Clone)]
pub struct AccountChange {
    pub name: String,
    pub settings: AccountSettings,
    /// `Some`: new credentials, already sealed (`Some(None)` removes them); `None` keeps them.
    pub sealed_credentials: Option<Option<String>>,
}

/// Changes an account to what `change` makes of the current one (seen locked) and records
/// `messaging_account.updated`. New settings or credentials make the account `unchecked` again: what was
/// validated is no longer what is set. A change that changes nothing writes and records nothing.
pub fn update_account(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: MessagingAccountId,
    now: Timestamp,
    change: impl FnOnce(&MessagingAccount) -> Result<AccountChange, Error>,
) -> Result<MessagingAccount, Error> {
    let current = get_locked(tx, org, id)?;
    let AccountChange { name, settings, sealed_credentials } = change(&current)?;
    let checked_changed = settings != current.settings || sealed_credentials.is_some();
    if name == current.name && !checked_changed {
        return Ok(current);
    }
    let sealed = sealed_credentials.unwrap_or_else(|| current.sealed_credentials.clone());
    let validation = if checked_changed { AccountValidation::unchecked() } else { current.validation.clone() };
    let a = MessagingAccount {
        name,
        settings,
        credentials_set: sealed.is_some(),
        sealed_credentials: sealed,
        validation,
        updated_at: now,
        ..current
    };
    tx.execute(
        "UPDATE messaging_accounts SET name = $3, settings = $4, credentials = $5, validation_state = $6,
         validation_reason = $7, validated_at = $8, updated_at = $9 WHERE id = $1 AND org_id = $2",
        params![
            id,
            org,
            &a.name,
            to_json(&a.settings)?,
            a.sealed_credentials.as_deref(),
            a.validation.state.as_str(),
            a.validation.reason.as_deref(),
            a.validation.checked_at,
            now
        ],
    )?;
    events::append_event(tx, org, None, &TypedEvent::MessagingAccountUpdated(a.clone()), now)?;
    Ok(a)
}

/// Records what a validation found, if the account is still as it was validated (`checked`: its settings and
/// sealed credentials then); a change made meanwhile leaves it `unchecked` and this answers the current account.
pub fn set_validation(
    tx: &mut Tx<'_>,
    org: OrgId,
    checked: &MessagingAccount,
    validation: AccountValidation,
    now: Timestamp,
) -> Result<MessagingAccount, Error> {
    let current = get_locked(tx, org, checked.id)?;
    if (&current.settings, &current.sealed_credentials) != (&checked.settings, &checked.sealed_credentials) {
        return Ok(current);
    }
    let a = MessagingAccount { validation, updated_at: now, ..current };
    tx.execute(
        "UPDATE messaging_accounts SET validation_state = $3, validation_reason = $4, validated_at = $5,
         updated_at = $6 WHERE id = $1 AND org_id = $2",
        params![a.id, org, a.validation.state.as_str(), a.validation.reason.as_deref(), a.validation.checked_at, now],
    )?;
    events::append_event(tx, org, None, &TypedEvent::MessagingAccountUpdated(a.clone()), now)?;
    Ok(a)
}

/// Deletes an account that has no channels (`in_use` otherwise: remove or move its channels first) and records
/// `messaging_account.deleted`.
pub fn delete_account(tx: &mut Tx<'_>, org: OrgId, id: MessagingAccountId, now: Timestamp) -> Result<(), Error> {
    get_locked(tx, org, id)?;
    let channels = count_channels(tx, org, id)?;
    if channels > 0 {
        return Err(Error::new(
            Code::InUse,
            format!("the account has {channels} channel(s); an account is deleted once it has none"),
        ));
    }
    tx.execute("DELETE FROM messaging_accounts WHERE id = $1 AND org_id = $2", params![id, org])?;
    events::append_event(tx, org, None, &TypedEvent::MessagingAccountDeleted(Deleted { id: id.uuid() }), now)?;
    Ok(())
}
