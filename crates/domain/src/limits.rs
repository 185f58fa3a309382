//! Limits from the documented system (`contact-center-spec.md` §1.4, §1.5) and our own where it is silent.

/// Context variables per conversation (§1.4).
pub const MAX_CONTEXT_VARIABLES: usize = 100;
/// Characters in a message's text (§1.5).
pub const MAX_MESSAGE_TEXT: usize = 6_000;
/// Characters in customer fields: customer id, names, email, phone (§1.4).
pub const MAX_CUSTOMER_FIELD: usize = 200;
/// Characters in a sender name, attachment name or content type (§1.5).
pub const MAX_SHORT_FIELD: usize = 256;
/// Characters in a context variable's name. The reference is silent; Dataverse schema names stop at 100.
pub const MAX_VARIABLE_NAME: usize = 100;
/// Characters in a context variable's value. The reference is silent; 4,000 matches Dataverse text fields.
pub const MAX_VARIABLE_VALUE: usize = 4_000;
/// Attachments on one message.
pub const MAX_ATTACHMENTS: usize = 10;
/// Characters in an attachment URL.
pub const MAX_URL: usize = 2_048;
/// Characters in an object name (workstream, queue, channel, user, key).
pub const MAX_NAME: usize = 200;
/// Characters in an Idempotency-Key (Stripe's limit).
pub const MAX_IDEMPOTENCY_KEY: usize = 255;
/// Bytes in one request body.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Default and maximum page sizes of native list endpoints.
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 250;
