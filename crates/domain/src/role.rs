use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// What a principal may do within its organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Configures the organization: channels, workstreams, queues, users, keys.
    Admin,
    /// Watches and steers live work: reads everything, transfers and closes conversations.
    Supervisor,
    /// Handles the conversations assigned to them.
    Agent,
    /// A system integrating with Switchboard: starts conversations, sends customer messages.
    Integration,
    /// A channel's bot calling back through Switchboard's Connector API (`/bot-connector`); nothing under `/v1`.
    Bot,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
            Role::Integration => "integration",
            Role::Bot => "bot",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "supervisor" => Ok(Role::Supervisor),
            "agent" => Ok(Role::Agent),
            "integration" => Ok(Role::Integration),
            "bot" => Ok(Role::Bot),
            other => Err(format!("unknown role `{other}` (expected admin, supervisor, agent, integration or bot)")),
        }
    }
}
