use serde::{Deserialize, Serialize};

use crate::text::{CustomerField, Email, Phone};

/// What a caller knows about a customer. A contact is matched by customer id first, then email, then phone;
/// when one matches, its stored values win over the request (§1.4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    /// The caller's own id for the customer; also the persistent-conversation key.
    #[serde(default)]
    pub customer_id: Option<CustomerField>,
    #[serde(default)]
    pub first_name: Option<CustomerField>,
    #[serde(default)]
    pub last_name: Option<CustomerField>,
    /// The name shown to agents.
    #[serde(default)]
    pub preferred_name: Option<CustomerField>,
    #[serde(default)]
    pub email: Option<Email>,
    #[serde(default)]
    pub phone: Option<Phone>,
}

impl CustomerIn {
    pub fn is_empty(&self) -> bool {
        *self == CustomerIn::default()
    }
}
