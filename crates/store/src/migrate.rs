//! Schema migrations: numbered SQL files per backend, embedded in the binary, applied in order, once.

use switchboard_domain::{Error, Timestamp};

use crate::{
    params,
    sql::{Backend, Tx},
};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core",
        sqlite: include_str!("../migrations/sqlite/0001_core.sql"),
        postgres: include_str!("../migrations/postgres/0001_core.sql"),
    },
    Migration {
        version: 2,
        name: "delivery",
        sqlite: include_str!("../migrations/sqlite/0002_delivery.sql"),
        postgres: include_str!("../migrations/postgres/0002_delivery.sql"),
    },
    Migration {
        version: 3,
        name: "routing",
        sqlite: include_str!("../migrations/sqlite/0003_routing.sql"),
        postgres: include_str!("../migrations/postgres/0003_routing.sql"),
    },
    Migration {
        version: 4,
        name: "lifecycle",
        sqlite: include_str!("../migrations/sqlite/0004_lifecycle.sql"),
        postgres: include_str!("../migrations/postgres/0004_lifecycle.sql"),
    },
    Migration {
        version: 5,
        name: "routing_config",
        sqlite: include_str!("../migrations/sqlite/0005_routing_config.sql"),
        postgres: include_str!("../migrations/postgres/0005_routing_config.sql"),
    },
    Migration {
        version: 6,
        name: "overflow",
        sqlite: include_str!("../migrations/sqlite/0006_overflow.sql"),
        postgres: include_str!("../migrations/postgres/0006_overflow.sql"),
    },
    Migration {
        version: 7,
        name: "queue_wait",
        sqlite: include_str!("../migrations/sqlite/0007_queue_wait.sql"),
        postgres: include_str!("../migrations/postgres/0007_queue_wait.sql"),
    },
    Migration {
        version: 8,
        name: "leases",
        sqlite: include_str!("../migrations/sqlite/0008_leases.sql"),
        postgres: include_str!("../migrations/postgres/0008_leases.sql"),
    },
    Migration {
        version: 9,
        name: "updated_at",
        sqlite: include_str!("../migrations/sqlite/0009_updated_at.sql"),
        postgres: include_str!("../migrations/postgres/0009_updated_at.sql"),
    },
    Migration {
        version: 10,
        name: "agent_attributes",
        sqlite: include_str!("../migrations/sqlite/0010_agent_attributes.sql"),
        postgres: include_str!("../migrations/postgres/0010_agent_attributes.sql"),
    },
    Migration {
        version: 11,
        name: "profile_reset",
        sqlite: include_str!("../migrations/sqlite/0011_profile_reset.sql"),
        postgres: include_str!("../migrations/postgres/0011_profile_reset.sql"),
    },
    Migration {
        version: 12,
        name: "queue_updated_at",
        sqlite: include_str!("../migrations/sqlite/0012_queue_updated_at.sql"),
        postgres: include_str!("../migrations/postgres/0012_queue_updated_at.sql"),
    },
    Migration {
        version: 13,
        name: "assigned_events",
        sqlite: include_str!("../migrations/sqlite/0013_assigned_events.sql"),
        postgres: include_str!("../migrations/postgres/0013_assigned_events.sql"),
    },
    Migration {
        version: 14,
        name: "sign_in",
        sqlite: include_str!("../migrations/sqlite/0014_sign_in.sql"),
        postgres: include_str!("../migrations/postgres/0014_sign_in.sql"),
    },
    Migration {
        version: 15,
        name: "analytics",
        sqlite: include_str!("../migrations/sqlite/0015_analytics.sql"),
        postgres: include_str!("../migrations/postgres/0015_analytics.sql"),
    },
    Migration {
        version: 17,
        name: "quick_replies",
        sqlite: include_str!("../migrations/sqlite/0017_quick_replies.sql"),
        postgres: include_str!("../migrations/postgres/0017_quick_replies.sql"),
    },
    Migration {
        version: 18,
        name: "messaging_accounts",
        sqlite: include_str!("../migrations/sqlite/0018_messaging_accounts.sql"),
        postgres: include_str!("../migrations/postgres/0018_messaging_accounts.sql"),
    },
    Migration {
        version: 19,
        name: "reply_addresses",
        sqlite: include_str!("../migrations/sqlite/0019_reply_addresses.sql"),
        postgres: include_str!("../migrations/postgres/0019_reply_addresses.sql"),
    },
    Migration {
        version: 20,
        name: "direct_line",
        sqlite: include_str!("../migrations/sqlite/0020_direct_line.sql"),
        postgres: include_str!("../migrations/postgres/0020_direct_line.sql"),
    },
    Migration {
        version: 22,
        name: "bots",
        sqlite: include_str!("../migrations/sqlite/0022_bots.sql"),
        postgres: include_str!("../migrations/postgres/0022_bots.sql"),
    },
    Migration {
        version: 23,
        name: "default_presence",
        sqlite: include_str!("../migrations/sqlite/0023_default_presence.sql"),
        postgres: include_str!("../migrations/postgres/0023_default_presence.sql"),
    },
    Migration {
        version: 24,
        name: "phone",
        sqlite: include_str!("../migrations/sqlite/0024_phone.sql"),
        postgres: include_str!("../migrations/postgres/0024_phone.sql"),
    },
    Migration {
        version: 25,
        name: "provider_messages",
        sqlite: include_str!("../migrations/sqlite/0025_provider_messages.sql"),
        postgres: include_str!("../migrations/postgres/0025_provider_messages.sql"),
    },
    Migration {
        version: 26,
        name: "early_statuses",
        sqlite: include_str!("../migrations/sqlite/0026_early_statuses.sql"),
        postgres: include_str!("../migrations/postgres/0026_early_statuses.sql"),
    },
    Migration {
        version: 28,
        name: "message_templates",
        sqlite: include_str!("../migrations/sqlite/0028_message_templates.sql"),
        postgres: include_str!("../migrations/postgres/0028_message_templates.sql"),
    },
    Migration {
        version: 29,
        name: "outbound_configs",
        sqlite: include_str!("../migrations/sqlite/0029_outbound_configs.sql"),
        postgres: include_str!("../migrations/postgres/0029_outbound_configs.sql"),
    },
];

pub fn run(tx: &mut Tx<'_>) -> Result<usize, Error> {
    if tx.backend() == Backend::Postgres {
        // Nodes starting together must not both apply the same migration.
        tx.execute("SELECT pg_advisory_xact_lock(7368720)", params![])?;
    }
    tx.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )?;
    // Each version not yet applied, not only those above the highest: migrations written side by side may land
    // out of number order, and a database that already has a later one must still get the earlier.
    let done = tx
        .query("SELECT version FROM schema_migrations", params![])?
        .iter()
        .map(|r| r.i64(0))
        .collect::<Result<std::collections::HashSet<i64>, Error>>()?;
    let mut applied = 0;
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        tx.batch(match tx.backend() {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        })?;
        // The wall clock, not the app's: when an operator's database changed is operational history, not
        // contact-center time, and migrations run before any clock is chosen.
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            params![m.version, m.name, Timestamp::now()],
        )?;
        applied += 1;
    }
    Ok(applied)
}
