//! The records of files the server keeps; the bytes live in the attachments directory.

use switchboard_domain::{Error, Timestamp, ids::*};

use crate::{params, sql::Tx};

/// A kept file, recorded in the transaction of the message that carries it.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub id: AttachmentId,
    pub org_id: OrgId,
    pub conversation_id: ConversationId,
    pub content_type: String,
    pub name: Option<String>,
    pub size: u64,
    pub sha256: String,
    /// Relative to the attachments directory.
    pub path: String,
}

pub fn insert(tx: &mut Tx<'_>, a: &NewAttachment, now: Timestamp) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO attachments (id, org_id, conversation_id, content_type, name, size, sha256, path, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        params![
            a.id,
            a.org_id,
            a.conversation_id,
            &a.content_type,
            a.name.as_deref(),
            i64::try_from(a.size).unwrap_or(i64::MAX),
            &a.sha256,
            &a.path,
            now
        ],
    )?;
    Ok(())
}

/// What serving a kept file needs.
#[derive(Debug, Clone)]
pub struct KeptFile {
    pub org_id: OrgId,
    pub content_type: String,
    pub name: Option<String>,
    /// Relative to the attachments directory.
    pub path: String,
}

const FILE: &str = "SELECT org_id, content_type, name, path FROM attachments WHERE id = $1";

fn file_from_row(r: &crate::sql::Row) -> Result<KeptFile, Error> {
    Ok(KeptFile { org_id: r.parse(0)?, content_type: r.string(1)?, name: r.opt_string(2)?, path: r.string(3)? })
}

/// A kept file of the organization (none for another organization's).
pub fn file(tx: &mut Tx<'_>, org: OrgId, id: AttachmentId) -> Result<Option<KeptFile>, Error> {
    tx.query_opt(&format!("{FILE} AND org_id = $2"), params![id, org])?.as_ref().map(file_from_row).transpose()
}

/// A kept file named by a signed link: the link's signature, checked by the caller, is what entitles the bearer to
/// it, and the link names no organization to scope by.
pub fn file_for_signed_link(tx: &mut Tx<'_>, id: AttachmentId) -> Result<Option<KeptFile>, Error> {
    tx.query_opt(FILE, params![id])?.as_ref().map(file_from_row).transpose()
}
