//! Customer records, and matching a customer to one by customer id, email or phone.

use switchboard_domain::{Code, Error, Timestamp, contact::CustomerIn, ids::*};

use crate::{
    events,
    model::Contact,
    params,
    sql::{Row, Tx},
};
use switchboard_domain::event::TypedEvent;

const COLUMNS: &str =
    "id, org_id, customer_id, first_name, last_name, preferred_name, email, phone, created_at, updated_at";

fn from_row(r: &Row) -> Result<Contact, Error> {
    Ok(Contact {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        customer_id: r.opt_string(2)?,
        first_name: r.opt_string(3)?,
        last_name: r.opt_string(4)?,
        preferred_name: r.opt_string(5)?,
        email: r.opt_string(6)?,
        phone: r.opt_string(7)?,
        created_at: r.ts(8)?,
        updated_at: r.ts(9)?,
    })
}

/// A unique violation on contacts can only be the customer id.
fn customer_id_taken(e: Error) -> Error {
    match e.code {
        Code::AlreadyExists => {
            Error::field(Code::AlreadyExists, "customer_id", "a contact with this customer_id exists")
        }
        _ => e,
    }
}

fn opt(v: &Option<impl AsRef<str>>) -> Option<&str> {
    v.as_ref().map(AsRef::as_ref)
}

pub fn create(tx: &mut Tx<'_>, org: OrgId, c: &CustomerIn, now: Timestamp) -> Result<Contact, Error> {
    let contact = Contact {
        id: ContactId::new(),
        org_id: org,
        customer_id: c.customer_id.as_ref().map(|v| v.as_str().to_string()),
        first_name: c.first_name.as_ref().map(|v| v.as_str().to_string()),
        last_name: c.last_name.as_ref().map(|v| v.as_str().to_string()),
        preferred_name: c.preferred_name.as_ref().map(|v| v.as_str().to_string()),
        email: c.email.as_ref().map(|v| v.as_str().to_string()),
        phone: c.phone.as_ref().map(|v| v.as_str().to_string()),
        created_at: now,
        updated_at: now,
    };
    tx.execute(
        &format!("INSERT INTO contacts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
        params![
            contact.id,
            org,
            opt(&contact.customer_id),
            opt(&contact.first_name),
            opt(&contact.last_name),
            opt(&contact.preferred_name),
            opt(&contact.email),
            opt(&contact.phone),
            now,
            now
        ],
    )
    .map_err(customer_id_taken)?;
    events::append_event(tx, org, None, &TypedEvent::ContactCreated(contact.clone()), now)?;
    Ok(contact)
}

pub fn get(tx: &mut Tx<'_>, org: OrgId, id: ContactId) -> Result<Contact, Error> {
    tx.get_in_org("contacts", COLUMNS, id.into(), org, Code::ContactNotFound, from_row)
}

/// Filters for listing contacts; each given one must match.
#[derive(Debug, Default, Clone)]
pub struct ContactFilter {
    pub customer_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

pub fn list(
    tx: &mut Tx<'_>,
    org: OrgId,
    filter: &ContactFilter,
    after: Option<ContactId>,
    limit: usize,
) -> Result<Vec<Contact>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM contacts WHERE org_id = $1
           AND (CAST($2 AS TEXT) IS NULL OR customer_id = $2)
           AND (CAST($3 AS TEXT) IS NULL OR email = $3)
           AND (CAST($4 AS TEXT) IS NULL OR phone = $4)
           AND id > $5 ORDER BY id LIMIT $6"
    );
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    tx.query(
        &sql,
        params![org, filter.customer_id.as_deref(), filter.email.as_deref(), filter.phone.as_deref(), after, limit],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Sets the given fields; fields left out keep their values.
pub fn update(tx: &mut Tx<'_>, org: OrgId, id: ContactId, c: &CustomerIn, now: Timestamp) -> Result<Contact, Error> {
    let n = tx
        .execute(
            "UPDATE contacts SET
               customer_id = COALESCE($3, customer_id), first_name = COALESCE($4, first_name),
               last_name = COALESCE($5, last_name), preferred_name = COALESCE($6, preferred_name),
               email = COALESCE($7, email), phone = COALESCE($8, phone), updated_at = $9
             WHERE id = $1 AND org_id = $2",
            params![
                id,
                org,
                c.customer_id.as_ref().map(|v| v.as_str()),
                c.first_name.as_ref().map(|v| v.as_str()),
                c.last_name.as_ref().map(|v| v.as_str()),
                c.preferred_name.as_ref().map(|v| v.as_str()),
                c.email.as_ref().map(|v| v.as_str()),
                c.phone.as_ref().map(|v| v.as_str()),
                now
            ],
        )
        .map_err(customer_id_taken)?;
    if n == 0 {
        return Err(Error::not_found(Code::ContactNotFound));
    }
    let contact = get(tx, org, id)?;
    events::append_event(tx, org, None, &TypedEvent::ContactUpdated(contact.clone()), now)?;
    Ok(contact)
}

/// The contact this customer is, matched by customer id, then email, then phone; created when none matches.
/// A matched record's stored values win over the request (§1.4), but a customer id it lacks is recorded.
pub fn match_or_create(tx: &mut Tx<'_>, org: OrgId, c: &CustomerIn, now: Timestamp) -> Result<Contact, Error> {
    let probes: [(&str, Option<&str>); 3] = [
        ("customer_id", c.customer_id.as_ref().map(|v| v.as_str())),
        ("email", c.email.as_ref().map(|v| v.as_str())),
        ("phone", c.phone.as_ref().map(|v| v.as_str())),
    ];
    for (column, value) in probes {
        let Some(value) = value else { continue };
        let sql = format!("SELECT {COLUMNS} FROM contacts WHERE org_id = $1 AND {column} = $2 ORDER BY id LIMIT 1");
        if let Some(row) = tx.query_opt(&sql, params![org, value])? {
            let contact = from_row(&row)?;
            if contact.customer_id.is_none()
                && let Some(customer_id) = &c.customer_id
            {
                let patch = CustomerIn { customer_id: Some(customer_id.clone()), ..CustomerIn::default() };
                return update(tx, org, contact.id, &patch, now);
            }
            return Ok(contact);
        }
    }
    create(tx, org, c, now)
}
