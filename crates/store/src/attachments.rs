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

pub fn insert(tx: &mut Tx<'_>, a: &NewAttachment) -> Result<(), Error> {
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
            Timestamp::now()
        ],
    )?;
    Ok(())
}
