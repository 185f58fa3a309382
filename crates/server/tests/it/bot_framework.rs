//! The Bot Framework channel's network half against a fake service speaking the real wire format: the token on
//! each incoming activity checked against the published keys (cached a day, refetched for a new key at most once a
//! minute), and the bot's Connector tokens (one fetch however many sends, a new one before expiry).

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_channels::bot_framework::{
    auth::AuthError,
    outbound::{self, Outgoing},
    parse_activity,
};
use switchboard_domain::Timestamp;
use switchboard_server::{
    channels::bot_framework::{BotKeys, BotTokens, KeysError, TokenError},
    clock::{Clock, ManualClock},
};

use crate::support::fake_bot_framework::{FakeBotFramework, ISSUER};

const APP: &str = "6fcd0c7e-0000-4000-8000-00000000b07a";
const SECRET: &str = "bot-secret~1";

fn activity(conversation: &str) -> Value {
    json!({
        "type": "message",
        "id": "act-1",
        "from": {"id": "dl_user-1", "name": "Ada"},
        "recipient": {"id": "sb-bot", "name": "Switchboard"},
        "conversation": {"id": conversation},
        "text": "hello",
    })
}

async fn setup() -> (FakeBotFramework, ManualClock, BotKeys) {
    let fake = FakeBotFramework::start().await;
    fake.register_app(APP, SECRET);
    let clock = ManualClock::new(Timestamp::now());
    let keys = BotKeys::new(&fake.config(), Clock::Manual(clock.clone())).unwrap();
    (fake, clock, keys)
}

async fn check(keys: &BotKeys, header: Option<&str>, body: &[u8], app: &str) -> Result<(), Option<AuthError>> {
    let activity = parse_activity(body).unwrap();
    keys.verify(header, &activity, app).await.map(drop).map_err(|e| match e {
        KeysError::Refused(reason) => Some(reason),
        KeysError::Unavailable(_) => None,
    })
}

fn seconds(clock: &ManualClock) -> i64 {
    clock.now().millis() / 1_000
}

#[tokio::test]
async fn an_activity_signed_by_the_service_verifies() {
    let (fake, _clock, keys) = setup().await;
    let (header, body) = fake.signed_activity(APP, activity("conv-1"));
    let parsed = parse_activity(&body).unwrap();
    let claims = keys.verify(Some(&header), &parsed, APP).await.unwrap();
    assert_eq!((claims.issuer.as_str(), claims.audience.as_str()), (ISSUER, APP));
    assert_eq!(claims.service_url, fake.service_url());
}

#[tokio::test]
async fn every_bad_token_is_refused_with_its_reason() {
    let (fake, clock, keys) = setup().await;
    let now = seconds(&clock);
    let (good, body) = fake.signed_activity(APP, activity("conv-1"));
    let refused = |r| Err(Some(r));

    assert_eq!(check(&keys, None, &body, APP).await, refused(AuthError::Missing));
    assert_eq!(check(&keys, Some("Basic YTpi"), &body, APP).await, refused(AuthError::Missing));
    assert_eq!(check(&keys, Some("Bearer not.a.jwt"), &body, APP).await, refused(AuthError::Malformed));

    let claims = fake.claims(APP, &fake.service_url(), now);
    let unknown = switchboard_channels::bot_framework::auth::sign_for_tests(
        include_bytes!("support/fake_bot_framework_key.pem"),
        "never-published",
        &claims,
    )
    .unwrap();
    assert_eq!(check(&keys, Some(&format!("Bearer {unknown}")), &body, APP).await, refused(AuthError::UnknownKey));

    let forged = fake.forge(&claims);
    assert_eq!(check(&keys, Some(&format!("Bearer {forged}")), &body, APP).await, refused(AuthError::BadSignature));

    // The fake's keys are endorsed for msteams, webchat and directline only.
    let (header, skype) =
        fake.signed_activity(APP, json!({"channelId": "skype", "type": "message", "conversation": {"id": "c"}}));
    assert_eq!(check(&keys, Some(&header), &skype, APP).await, refused(AuthError::NotEndorsed));

    let mut other_issuer = claims.clone();
    other_issuer["iss"] = json!("https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/");
    let token = fake.sign(&other_issuer);
    assert_eq!(check(&keys, Some(&format!("Bearer {token}")), &body, APP).await, refused(AuthError::WrongIssuer));

    assert_eq!(check(&keys, Some(&good), &body, "another-bot").await, refused(AuthError::WrongAudience));

    let mut tampered: Value = serde_json::from_slice(&body).unwrap();
    tampered["serviceUrl"] = json!("https://evil.example/");
    let tampered = serde_json::to_vec(&tampered).unwrap();
    assert_eq!(check(&keys, Some(&good), &tampered, APP).await, refused(AuthError::ServiceUrlMismatch));

    // The token lives an hour, with five minutes of skew: still good at 64 minutes, refused at 66.
    clock.advance(Duration::from_secs(64 * 60));
    assert_eq!(check(&keys, Some(&good), &body, APP).await, Ok(()));
    clock.advance(Duration::from_secs(2 * 60));
    assert_eq!(check(&keys, Some(&good), &body, APP).await, refused(AuthError::Expired));
    let (early, body) = fake.signed_activity_at(APP, activity("conv-1"), seconds(&clock) + 6 * 60);
    assert_eq!(check(&keys, Some(&early), &body, APP).await, refused(AuthError::Expired), "not valid yet");
}

#[tokio::test]
async fn keys_are_fetched_once_a_day_and_again_for_a_new_key_at_most_once_a_minute() {
    let (fake, clock, keys) = setup().await;
    for i in 0..5 {
        let (header, body) = fake.signed_activity_at(APP, activity(&format!("conv-{i}")), seconds(&clock));
        assert_eq!(check(&keys, Some(&header), &body, APP).await, Ok(()));
    }
    assert_eq!(fake.key_fetches(), (1, 1), "one fetch for many activities");

    // A token naming a key never published: no refetch within a minute of the last fetch, then one, then none for
    // a minute.
    let claims = fake.claims(APP, &fake.service_url(), seconds(&clock));
    let unknown = switchboard_channels::bot_framework::auth::sign_for_tests(
        include_bytes!("support/fake_bot_framework_key_2.pem"),
        "unpublished",
        &claims,
    )
    .unwrap();
    let (_, body) = fake.signed_activity_at(APP, activity("conv-x"), seconds(&clock));
    let unknown = format!("Bearer {unknown}");
    assert_eq!(check(&keys, Some(&unknown), &body, APP).await, Err(Some(AuthError::UnknownKey)));
    assert_eq!(fake.key_fetches(), (1, 1));
    clock.advance(Duration::from_secs(61));
    for _ in 0..3 {
        assert_eq!(check(&keys, Some(&unknown), &body, APP).await, Err(Some(AuthError::UnknownKey)));
    }
    assert_eq!(fake.key_fetches(), (2, 2));

    // The service rotates its key within that minute: the new kid waits for the minute to pass.
    fake.rotate_key();
    let (rotated, body) = fake.signed_activity_at(APP, activity("conv-r"), seconds(&clock));
    assert_eq!(check(&keys, Some(&rotated), &body, APP).await, Err(Some(AuthError::UnknownKey)));
    assert_eq!(fake.key_fetches(), (2, 2));
    clock.advance(Duration::from_secs(61));
    let (rotated, body) = fake.signed_activity_at(APP, activity("conv-r"), seconds(&clock));
    assert_eq!(check(&keys, Some(&rotated), &body, APP).await, Ok(()), "{}", fake.kid());
    assert_eq!(fake.key_fetches(), (3, 3));

    // A day later the known keys are fetched again.
    clock.advance(Duration::from_secs(24 * 3_600 - 30));
    let (header, body) = fake.signed_activity_at(APP, activity("conv-1"), seconds(&clock));
    assert_eq!(check(&keys, Some(&header), &body, APP).await, Ok(()));
    assert_eq!(fake.key_fetches(), (3, 3), "not yet a day");
    clock.advance(Duration::from_secs(60));
    let (header, body) = fake.signed_activity_at(APP, activity("conv-1"), seconds(&clock));
    assert_eq!(check(&keys, Some(&header), &body, APP).await, Ok(()));
    assert_eq!(fake.key_fetches(), (4, 4));
}

#[tokio::test]
async fn unreachable_keys_are_unavailable_not_refused() {
    let fake = FakeBotFramework::start().await;
    let mut config = fake.config();
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    config.openid_metadata_url = format!("http://{closed}/v1/.well-known/openidconfiguration");
    let keys = BotKeys::new(&config, Clock::System).unwrap();
    let (header, body) = fake.signed_activity(APP, activity("conv-1"));
    let err = keys.verify(Some(&header), &parse_activity(&body).unwrap(), APP).await.unwrap_err();
    assert!(matches!(err, KeysError::Unavailable(_)), "{err:?}");
    let err: switchboard_domain::Error = err.into();
    assert_eq!(err.code.status(), 503);
    let refused: switchboard_domain::Error = KeysError::Refused(AuthError::Expired).into();
    assert_eq!((refused.code.as_str(), refused.code.status()), ("unauthenticated", 401));
}

#[tokio::test]
async fn one_token_serves_many_sends_until_five_minutes_before_it_expires() {
    let fake = FakeBotFramework::start().await;
    fake.register_app(APP, SECRET);
    let clock = ManualClock::new(Timestamp::now());
    let tokens = std::sync::Arc::new(BotTokens::new(&fake.config(), Clock::Manual(clock.clone())).unwrap());

    let concurrent: Vec<_> = (0..8)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.token(APP, None, SECRET).await })
        })
        .collect();
    let mut issued = Vec::new();
    for c in concurrent {
        issued.push(c.await.unwrap().unwrap());
    }
    assert!(issued.windows(2).all(|w| w[0] == w[1]), "one token for all");
    assert_eq!(fake.token_calls(), 1, "concurrent sends wait for one fetch");
    for _ in 0..5 {
        assert_eq!(tokens.token(APP, None, SECRET).await.unwrap(), issued[0]);
    }
    assert_eq!(fake.token_calls(), 1);

    clock.advance(Duration::from_secs(3_600 - 5 * 60 - 1));
    assert_eq!(tokens.token(APP, None, SECRET).await.unwrap(), issued[0], "still over five minutes left");
    clock.advance(Duration::from_secs(2));
    let renewed = tokens.token(APP, None, SECRET).await.unwrap();
    assert_ne!(renewed, issued[0]);
    assert_eq!(fake.token_calls(), 2);

    tokens.forget(APP).await;
    assert_ne!(tokens.token(APP, None, SECRET).await.unwrap(), renewed, "a forgotten token is fetched again");
    assert_eq!(fake.token_calls(), 3);

    // A token that lives under five minutes is never reused.
    fake.set_token_lifetime(240);
    tokens.forget(APP).await;
    tokens.token(APP, None, SECRET).await.unwrap();
    tokens.token(APP, None, SECRET).await.unwrap();
    assert_eq!(fake.token_calls(), 5);
}

#[tokio::test]
async fn bad_credentials_are_rejected_with_the_endpoints_reason() {
    let fake = FakeBotFramework::start().await;
    fake.register_app(APP, SECRET);
    let tokens = BotTokens::new(&fake.config(), Clock::System).unwrap();

    let ok = tokens.fetch_once(APP, None, SECRET).await.unwrap();
    assert_eq!(ok.expires_in, 3_600);
    tokens.fetch_once(APP, None, SECRET).await.unwrap();
    assert_eq!(fake.token_calls(), 2, "fetch_once caches nothing");

    let reason = |e: TokenError| match e {
        TokenError::Rejected { status, error, .. } => (status, error.unwrap_or_default()),
        other => panic!("not rejected: {other:?}"),
    };
    let wrong_secret = tokens.token(APP, None, "guess").await.unwrap_err();
    assert!(wrong_secret.is_permanent());
    assert_eq!(reason(wrong_secret), (401, "invalid_client".into()));
    assert_eq!(
        reason(tokens.fetch_once("unknown-app", None, SECRET).await.unwrap_err()),
        (400, "unauthorized_client".into())
    );

    let mut wrong_scope = fake.config();
    wrong_scope.token_scope = "https://graph.microsoft.com/.default".into();
    let tokens = BotTokens::new(&wrong_scope, Clock::System).unwrap();
    assert_eq!(reason(tokens.fetch_once(APP, None, SECRET).await.unwrap_err()), (400, "invalid_scope".into()));

    let mut unreachable = fake.config();
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    unreachable.token_url = format!("http://{closed}/token");
    let tokens = BotTokens::new(&unreachable, Clock::System).unwrap();
    let err = tokens.fetch_once(APP, None, SECRET).await.unwrap_err();
    assert!(matches!(err, TokenError::Unavailable(_)) && !err.is_permanent(), "{err:?}");
}

#[tokio::test]
async fn the_fake_connector_takes_rendered_replies_with_the_bots_token() {
    let fake = FakeBotFramework::start().await;
    fake.register_app(APP, SECRET);
    fake.register_app("other-app", "other-secret");
    let conversation = "19:abc@thread.tacv2;messageid=42";
    let (_, body) = fake.signed_activity(APP, activity(conversation));
    let inbound = switchboard_channels::bot_framework::to_inbound(parse_activity(&body).unwrap()).unwrap().unwrap();
    let what = Outgoing::Message {
        text: Some("Hi, Grace here".into()),
        attachments: vec![],
        agent_name: Some("Grace".into()),
    };
    let rendered = outbound::render(inbound.reply_to.as_ref().unwrap(), &what).unwrap();

    let tokens = BotTokens::new(&fake.config(), Clock::System).unwrap();
    let http = reqwest::Client::new();
    let post = |token: String| http.post(&rendered.url).bearer_auth(token).json(&rendered.activity).send();

    let response = post(tokens.token(APP, None, SECRET).await.unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let posted = fake.posted();
    assert_eq!(posted.len(), 1);
    assert_eq!((posted[0].conversation_id.as_str(), posted[0].reply_to_id.as_deref()), (conversation, Some("act-1")));
    assert_eq!((posted[0].app_id.as_str(), posted[0].id.as_str()), (APP, id.as_str()));
    assert_eq!(posted[0].activity["from"], json!({"id": "sb-bot", "name": "Grace", "role": "bot"}));
    assert_eq!(posted[0].activity["channelData"]["deliveryMode"], "bridged");

    assert_eq!(post("made-up".into()).await.unwrap().status(), 401);
    let other = tokens.token("other-app", None, "other-secret").await.unwrap();
    assert_eq!(post(other).await.unwrap().status(), 403, "another bot's token cannot post to this conversation");

    fake.fail_next(2, 429, Some(7));
    fake.fail_next(1, 500, None);
    let token = tokens.token(APP, None, SECRET).await.unwrap();
    for expect in [429, 429, 500] {
        let response = post(token.clone()).await.unwrap();
        assert_eq!(response.status(), expect);
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        assert_eq!(retry_after.as_deref(), (expect == 429).then_some("7"));
    }
    assert_eq!(post(token).await.unwrap().status(), 200);
    assert_eq!(fake.posted().len(), 2);
}

#[tokio::test]
async fn a_verified_token_is_remembered_for_what_it_was_checked_against_until_it_expires() {
    let (fake, clock, keys) = setup().await;
    let (good, body) = fake.signed_activity(APP, activity("conv-1"));
    for _ in 0..5 {
        assert_eq!(check(&keys, Some(&good), &body, APP).await, Ok(()));
    }
    assert_eq!(keys.verified_len(), 1, "one token, checked once");

    // The same token for another app, service URL or channel is checked in full, and refused where it must be.
    assert_eq!(check(&keys, Some(&good), &body, "another-bot").await, Err(Some(AuthError::WrongAudience)));
    let mut tampered: Value = serde_json::from_slice(&body).unwrap();
    tampered["serviceUrl"] = json!("https://evil.example/");
    let tampered = serde_json::to_vec(&tampered).unwrap();
    assert_eq!(check(&keys, Some(&good), &tampered, APP).await, Err(Some(AuthError::ServiceUrlMismatch)));
    let mut skype: Value = serde_json::from_slice(&body).unwrap();
    skype["channelId"] = json!("skype");
    let skype = serde_json::to_vec(&skype).unwrap();
    assert_eq!(check(&keys, Some(&good), &skype, APP).await, Err(Some(AuthError::NotEndorsed)));
    assert_eq!(keys.verified_len(), 1, "refused checks are not remembered");
    let mut teams: Value = serde_json::from_slice(&body).unwrap();
    teams["channelId"] = json!("msteams");
    let teams = serde_json::to_vec(&teams).unwrap();
    assert_eq!(check(&keys, Some(&good), &teams, APP).await, Ok(()));
    assert_eq!(keys.verified_len(), 2);

    // A remembered token expires as any other: good until an hour and five minutes, refused after.
    clock.advance(Duration::from_secs(64 * 60));
    assert_eq!(check(&keys, Some(&good), &body, APP).await, Ok(()));
    clock.advance(Duration::from_secs(2 * 60));
    assert_eq!(check(&keys, Some(&good), &body, APP).await, Err(Some(AuthError::Expired)));
}
