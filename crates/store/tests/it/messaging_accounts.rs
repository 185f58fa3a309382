//! Messaging accounts in the store: every channel has one, channels made before accounts got one of their own
//! kind from the migration, an account holds a bounded number of channels, and one with channels stays.

use switchboard_domain::{
    Code, Timestamp,
    account::{AccountMethod, AccountSettings, MAX_CHANNELS_PER_ACCOUNT},
    ids::*,
    setup::{ChannelType, Distribution, WorkstreamType},
    text::ShortText,
};
use switchboard_store::{
    Store, access,
    messaging_accounts::{self as accounts, NewAccount},
    params,
    setup::{self, NewChannel, WorkstreamChange},
    sql::Backend,
};

crate::conformance!(
    channels_made_before_accounts_get_one_of_their_own_kind,
    an_account_holds_channels_of_its_kind_up_to_the_limit,
);

async fn org_and_workstream(store: &Store) -> (OrgId, WorkstreamId) {
    store
        .write(|tx| {
            let org = access::create_org(tx, "acme", Timestamp::now())?;
            let ws = setup::create_workstream(
                tx,
                org.id,
                WorkstreamType::Messaging,
                WorkstreamChange {
                    name: "Chat".into(),
                    distribution: Distribution::Push,
                    fallback_queue_id: None,
                    settings: Default::default(),
                },
                Timestamp::now(),
            )?;
            Ok((org.id, ws.id))
        })
        .await
        .unwrap()
}

/// The statements of the migration that give channels their accounts, run again on a channel written as the
/// server wrote channels before accounts existed.
async fn channels_made_before_accounts_get_one_of_their_own_kind(store: &Store) {
    let (org, ws) = org_and_workstream(store).await;
    let migration = match store.backend() {
        Backend::Sqlite => include_str!("../../migrations/sqlite/0018_messaging_accounts.sql"),
        Backend::Postgres => include_str!("../../migrations/postgres/0018_messaging_accounts.sql"),
    };
    let backfill = &migration[migration.find("INSERT INTO messaging_accounts").unwrap()..];
    let backfill = backfill[..backfill.find("CREATE INDEX").unwrap()].to_string();
    let (web, bot) = (ChannelId::new(), ChannelId::new());
    store
        .write(move |tx| {
            for (id, ty, name) in [(web, "messaging_api", "Web"), (bot, "bot_framework", "Teams bot")] {
                tx.execute(
                    "INSERT INTO channels (id, org_id, channel_type, name, workstream_id, created_at, settings, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, '{}', $6)",
                    params![id, org, ty, name, ws, Timestamp::from_millis(1_000)],
                )?;
            }
            tx.batch(&backfill)
        })
        .await
        .unwrap();
    for (id, kind, name, method) in [
        (web, ChannelType::MessagingApi, "Web", None),
        (bot, ChannelType::BotFramework, "Teams bot", Some(AccountMethod::AzureBotFramework)),
    ] {
        let (channel, account) = store
            .read(move |tx| Ok((setup::get_channel(tx, org, id)?, accounts::account_of_channel(tx, org, id)?)))
            .await
            .unwrap();
        assert_eq!(channel.account_id, account.id);
        assert_eq!((account.kind, account.name.as_str(), account.method), (kind, name, method));
        assert!(!account.credentials_set);
        assert_eq!(channel.language.as_str(), "en-US");
        assert!(channel.attachments.customers && channel.attachments.agents);
        assert!(channel.behaviours.wait_time_message && !channel.behaviours.post_conversation_survey);
    }
    // Run again, the statements touch no channel that has its account.
    let count = store
        .read(move |tx| tx.query_one("SELECT COUNT(*) FROM messaging_accounts WHERE org_id = $1", params![org])?.i64(0))
        .await
        .unwrap();
    assert_eq!(count, 2);
}

async fn an_account_holds_channels_of_its_kind_up_to_the_limit(store: &Store) {
    let (org, ws) = org_and_workstream(store).await;
    let account = store
        .write(move |tx| {
            let new = NewAccount {
                name: "Contoso bot".into(),
                kind: ChannelType::BotFramework,
                method: Some(AccountMethod::AzureBotFramework),
                settings: AccountSettings {
                    app_id: Some(ShortText::from_stored("app".into())),
                    tenant_id: None,
                    ..Default::default()
                },
                sealed_credentials: Some("sealed".into()),
            };
            accounts::create_account(tx, org, new, Timestamp::now())
        })
        .await
        .unwrap();
    let new = move |ty: ChannelType, i: usize| NewChannel {
        account_id: Some(account.id),
        channel_type: ty,
        name: format!("Bot {i}"),
        workstream_id: ws,
        settings: Default::default(),
        language: Default::default(),
        behaviours: Default::default(),
        attachments: Default::default(),
    };
    let err = store
        .write(move |tx| setup::create_channel_in(tx, org, new(ChannelType::MessagingApi, 0), Timestamp::now()))
        .await
        .unwrap_err();
    assert_eq!((err.code, err.field.as_deref()), (Code::InvalidField, Some("channel_type")));
    store
        .write(move |tx| {
            for i in 0..MAX_CHANNELS_PER_ACCOUNT {
                setup::create_channel_in(tx, org, new(ChannelType::BotFramework, i), Timestamp::now())?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let err = store
        .write(move |tx| setup::create_channel_in(tx, org, new(ChannelType::BotFramework, 100), Timestamp::now()))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::TooManyChannels);
    let id = account.id;
    let page = store.read(move |tx| accounts::list_account_channels(tx, org, id, None, 1000)).await.unwrap();
    assert_eq!(page.len(), MAX_CHANNELS_PER_ACCOUNT);
    let found = store.read(move |tx| accounts::account_of_channel(tx, org, page[0].id)).await.unwrap();
    assert_eq!(found.sealed_credentials.as_deref(), Some("sealed"));
    let err = store.write(move |tx| accounts::delete_account(tx, org, id, Timestamp::now())).await.unwrap_err();
    assert_eq!(err.code, Code::InUse);
    // Another organization sees none of it.
    let other = store.write(|tx| access::create_org(tx, "other", Timestamp::now())).await.unwrap().id;
    let err = store.read(move |tx| accounts::get_account(tx, other, id)).await.unwrap_err();
    assert_eq!(err.code, Code::MessagingAccountNotFound);
}
