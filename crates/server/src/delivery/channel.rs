//! A channel's deliveries, rendered and addressed by the channel's adapter: the Messaging API's go to the
//! integrator's webhook as this server's activities; Bot Framework's go to each conversation's service URL through
//! the Connector API, with a token for the account's app.

use std::sync::Arc;

use switchboard_channels::{
    bot_framework::outbound::{self, OutAttachment, Outgoing},
    google_bm::{self, ServiceAccount},
};
use switchboard_domain::{
    Error,
    account::{AccountCredentials, AccountMethod},
    conversation::{Action, ConversationState},
    event::{EventType, TypedEvent},
    ids::{ChannelId, ConversationId},
    message::{SenderKind, WhatsappTemplate},
    setup::ChannelType,
};
use switchboard_store::{
    Store,
    model::Event,
    reply_addresses,
    webhooks::{Endpoint, Target},
};

use super::{Request, payload};
use crate::{
    attachments::Links,
    auth::secrets::SecretBox,
    channels::{bot_framework::token::BotTokens, google_bm::GoogleTokens},
};

/// The adapter of a channel endpoint.
pub(super) enum Adapter {
    MessagingApi,
    BotFramework {
        app_id: String,
        tenant: Option<String>,
        secret: String,
    },
    /// A channel's bot in front of agents: it hears the customer of each conversation it holds.
    Bot,
    /// An SMS or WhatsApp channel: replies go through its account's provider.
    Phone(PhoneProvider),
    /// Google's Business Messages: each conversation answered at the API, as the account's service account.
    Google {
        account: Box<ServiceAccount>,
    },
}

impl Adapter {
    /// The adapter for a channel target, its credentials opened; `None` for a subscription. A Bot Framework channel
    /// whose account lacks an app id or a secret cannot be answered: it is an error, and the target is skipped.
    pub(super) fn of(target: &Target, secrets: &SecretBox) -> Result<Option<Adapter>, String> {
        if matches!(target.endpoint, Endpoint::Bot(_)) {
            return Ok(Some(Adapter::Bot));
        }
        match target.channel_type {
            None => Ok(None),
            Some(ChannelType::BotFramework) => {
                let app_id = target.app_id.clone().ok_or("its account has no app id")?;
                let sealed = target.sealed_credentials.as_deref().ok_or("its account has no client secret")?;
                let opened = secrets.open(sealed).map_err(|e| e.to_string())?;
                let credentials: AccountCredentials = serde_json::from_slice(&opened).map_err(|e| e.to_string())?;
                let secret = credentials.client_secret.ok_or("its account has no client secret")?;
                let tenant = target.tenant_id.clone();
                Ok(Some(Adapter::BotFramework { app_id, tenant, secret: secret.into_inner() }))
            }
            Some(kind @ (ChannelType::Sms | ChannelType::Whatsapp)) => {
                PhoneProvider::of(kind, target, secrets).map(|p| Some(Adapter::Phone(p)))
            }
            Some(ChannelType::GoogleBusinessMessages) => {
                let sealed = target.sealed_credentials.as_deref().ok_or("its account has no credentials")?;
                let opened = secrets.open(sealed).map_err(|e| e.to_string())?;
                let credentials: AccountCredentials = serde_json::from_slice(&opened).map_err(|e| e.to_string())?;
                let file = credentials.service_account.ok_or("its account has no service account")?;
                let account = ServiceAccount::parse(&file.to_string())?;
                Ok(Some(Adapter::Google { account: Box::new(account) }))
            }
            Some(_) => Ok(Some(Adapter::MessagingApi)),
        }
    }

    /// Whether the adapter finds its own address for each send (the conversation's), rather than the target's URL.
    pub(super) fn addresses_itself(&self) -> bool {
        matches!(self, Adapter::BotFramework { .. } | Adapter::Phone(_) | Adapter::Google { .. })
    }

    /// Whether the channel's customer side hears of `event`.
    pub(super) fn wants(&self, event: &Event) -> bool {
        match self {
            Adapter::MessagingApi => payload::is_activity(event),
            Adapter::Bot => customer_message(event),
            Adapter::Phone(_) => phone_message(event),
            Adapter::BotFramework { .. } => match event.kind() {
                Some(EventType::MessageCreated | EventType::ConversationStateChanged) => {
                    outgoing(event, None).is_some()
                }
                _ => false,
            },
            Adapter::Google { .. } => match event.kind() {
                Some(EventType::MessageCreated | EventType::ConversationStateChanged) => {
                    google_outgoing(event, None, "").is_some()
                }
                _ => false,
            },
        }
    }
}

/// What a Business Messages user is sent for `event`: agents' (as `HUMAN`), bots' and the system's (as `BOT`)
/// messages; `REPRESENTATIVE_JOINED` when an agent takes the conversation, `REPRESENTATIVE_LEFT` when it ends
/// while they have it. `event_id` names the event call (the delivery's stable id, so a retry is the same event).
pub(super) fn google_outgoing(event: &Event, links: Option<&Links>, event_id: &str) -> Option<google_bm::Outgoing> {
    use google_bm::{EventType as GoogleEvent, OutFile, Outgoing as Out, Representative};
    match event.typed().ok()? {
        TypedEvent::MessageCreated(mut m) if m.sender.kind != SenderKind::Customer => {
            if let Some(links) = links {
                links.sign_attachments(&mut m.attachments);
            }
            Some(Out::Message {
                id: m.id.to_string(),
                text: m.text,
                files: m
                    .attachments
                    .into_iter()
                    .map(|a| OutFile {
                        content_type: a.content_type.into_inner(),
                        url: a.url.as_str().to_string(),
                        name: a.name.map(|n| n.into_inner()),
                    })
                    .collect(),
                suggestions: Vec::new(),
                representative: Representative {
                    human: m.sender.kind == SenderKind::Agent,
                    display_name: Some(m.sender.name).filter(|n| !n.is_empty()),
                },
            })
        }
        TypedEvent::ConversationStateChanged(change) => {
            let agent = change.agent.as_ref()?;
            let representative = Representative { human: true, display_name: agent.name.clone() };
            let ended = |s: ConversationState| matches!(s, ConversationState::Closed | ConversationState::WrapUp);
            let kind = if change.to == ConversationState::Active && change.from == ConversationState::Open {
                GoogleEvent::RepresentativeJoined
            } else if ended(change.to) && !ended(change.from) && change.from != ConversationState::Open {
                GoogleEvent::RepresentativeLeft
            } else {
                return None;
            };
            Some(Out::Event { id: event_id.to_string(), kind, representative })
        }
        _ => None,
    }
}

/// A Business Messages call the attempt finishes: its address read and its token fetched (or reused) when it is
/// attempted.
pub(super) struct GoogleCall {
    pub conversation: ConversationId,
    pub outgoing: google_bm::Outgoing,
    pub account: Box<ServiceAccount>,
}

/// What a Bot Framework customer is sent for `event`: agents' and the system's messages, and the end of the
/// conversation when it was not the customer who ended it. Queue and state notices stay on Switchboard's side:
/// a Bot Framework channel shows only activities, and the workstream's wait messages are messages already.
/// Attachment links are signed with `links` (`None` when only asking whether there is something to send).
pub(super) fn outgoing(event: &Event, links: Option<&Links>) -> Option<Outgoing> {
    match event.typed().ok()? {
        TypedEvent::MessageCreated(mut m) if m.sender.kind != SenderKind::Customer => {
            if let Some(links) = links {
                links.sign_attachments(&mut m.attachments);
            }
            Some(Outgoing::Message {
                text: m.text,
                attachments: m
                    .attachments
                    .into_iter()
                    .map(|a| OutAttachment {
                        content_type: a.content_type.into_inner(),
                        url: a.url.as_str().to_string(),
                        name: a.name.map(|n| n.into_inner()),
                    })
                    .collect(),
                agent_name: Some(m.sender.name).filter(|n| !n.is_empty()),
            })
        }
        TypedEvent::ConversationStateChanged(change)
            if matches!(change.to, ConversationState::Closed | ConversationState::WrapUp)
                && !matches!(change.from, ConversationState::Closed | ConversationState::WrapUp)
                && change.action != Action::CustomerEnd =>
        {
            Some(Outgoing::End { code: Some("completedSuccessfully".into()) })
        }
        _ => None,
    }
}

/// A Bot Framework reply the attempt finishes building: its address is read and its token fetched (or reused)
/// when it is attempted, not when it is queued.
pub(super) struct BotReply {
    pub conversation: ConversationId,
    pub outgoing: Outgoing,
    pub app_id: String,
    pub tenant: Option<String>,
    pub secret: String,
    pub webhook_id: String,
}

/// Why a request could not be made: `permanent` when trying again cannot help.
pub(super) struct Refusal {
    pub reason: String,
    pub permanent: bool,
}

/// What the Connector API calls need: where replies go, and the app's tokens; and the same for Google's Business
/// Messages API (`google_api` its base URL).
#[derive(Clone)]
pub(super) struct Connector {
    pub store: Arc<Store>,
    pub clock: crate::clock::Clock,
    pub tokens: Arc<BotTokens>,
    pub phone: PhoneApis,
    pub google_tokens: Arc<GoogleTokens>,
    pub google_api: String,
}

impl Connector {
    /// A Business Messages call: `POST` the rendered body to the API, with the service account's token.
    pub(super) async fn google_request(&self, call: GoogleCall) -> Result<Request, Refusal> {
        let conversation = call.conversation;
        let address = self
            .store
            .read(move |tx| reply_addresses::get(tx, conversation))
            .await
            .map_err(|e| Refusal { reason: e.to_string(), permanent: false })?
            .ok_or_else(|| Refusal {
                reason: "the conversation has no Business Messages conversation to answer on".into(),
                permanent: true,
            })?;
        let rendered = google_bm::render(&self.google_api, &address, &call.outgoing)
            .map_err(|e| Refusal { reason: e.to_string(), permanent: true })?;
        let url = reqwest::Url::parse(&rendered.url)
            .map_err(|e| Refusal { reason: format!("the API URL is not a URL: {e}"), permanent: true })?;
        let token = self
            .google_tokens
            .token(&call.account)
            .await
            .map_err(|e| Refusal { permanent: e.is_permanent(), reason: format!("no Business Messages token: {e}") })?;
        Ok(Request {
            url,
            headers: vec![("authorization", format!("Bearer {token}"))],
            content_type: "application/json",
            client_errors_final: false,
            body: serde_json::to_vec(&rendered.body)
                .map_err(|e| Refusal { reason: Error::internal(e).to_string(), permanent: true })?,
        })
    }

    pub(super) async fn request(&self, reply: BotReply) -> Result<Request, Refusal> {
        let conversation = reply.conversation;
        let address = self
            .store
            .read(move |tx| reply_addresses::get(tx, conversation))
            .await
            .map_err(|e| Refusal { reason: e.to_string(), permanent: false })?
            .ok_or_else(|| Refusal {
                reason: "the conversation has no Bot Framework address to answer on".into(),
                permanent: true,
            })?;
        let rendered = outbound::render(&address, &reply.outgoing)
            .map_err(|e| Refusal { reason: e.to_string(), permanent: true })?;
        let url = reqwest::Url::parse(&rendered.url)
            .map_err(|e| Refusal { reason: format!("the service URL is not a URL: {e}"), permanent: true })?;
        let token = self
            .tokens
            .token(&reply.app_id, reply.tenant.as_deref(), &reply.secret)
            .await
            .map_err(|e| Refusal { permanent: e.is_permanent(), reason: format!("no Connector token: {e}") })?;
        Ok(Request {
            url,
            headers: vec![("authorization", format!("Bearer {token}")), ("webhook-id", reply.webhook_id)],
            content_type: "application/json",
            client_errors_final: false,
            body: serde_json::to_vec(&rendered.activity)
                .map_err(|e| Refusal { reason: Error::internal(e).to_string(), permanent: true })?,
        })
    }
}

/// What a provider said about a refused call, from its answer: Google's `{"error": {"status", "message"}}`.
pub(super) fn provider_error(response: &str) -> Option<String> {
    google_bm::error_of(response)
}

/// Whether `event` is a customer's message: what a bot holding the conversation is sent.
pub(super) fn customer_message(event: &Event) -> bool {
    event.kind() == Some(EventType::MessageCreated)
        && matches!(event.typed(), Ok(TypedEvent::MessageCreated(m)) if m.sender.kind == SenderKind::Customer)
}

/// The Bot Framework activity a bot is sent for its customer's message: addressed as the Bot Framework Service
/// would (`from` the customer, `recipient` the bot's app), with Switchboard's Connector API as the service URL the
/// bot answers on.
pub(super) fn bot_activity(event: &Event, app_id: &str, service_url: &str, links: &Links) -> Option<serde_json::Value> {
    let TypedEvent::MessageCreated(mut m) = event.typed().ok()? else { return None };
    if m.sender.kind != SenderKind::Customer {
        return None;
    }
    links.sign_attachments(&mut m.attachments);
    let attachments: Vec<serde_json::Value> = m
        .attachments
        .iter()
        .map(|a| {
            serde_json::json!({
                "contentType": a.content_type.as_str(),
                "contentUrl": a.url.as_str(),
                "name": a.name.as_ref().map(|n| n.as_str()),
            })
        })
        .collect();
    Some(serde_json::json!({
        "type": "message",
        "id": m.id.to_string(),
        "timestamp": event.created_at,
        "channelId": "switchboard",
        "serviceUrl": service_url,
        "conversation": { "id": m.conversation_id.to_string() },
        "from": { "id": m.sender.id, "name": m.sender.name, "role": "user" },
        "recipient": { "id": app_id, "role": "bot" },
        "text": m.text.unwrap_or_default(),
        "attachments": attachments,
    }))
}

/// Whether `event` is a message a phone customer is sent: an agent's, a bot's or the system's. A phone channel
/// shows messages only; the end of a conversation is not a message there.
fn phone_message(event: &Event) -> bool {
    event.kind() == Some(EventType::MessageCreated)
        && matches!(event.typed(), Ok(TypedEvent::MessageCreated(m)) if m.sender.kind != SenderKind::Customer)
}

/// A message to a phone customer, finished when it is attempted: the customer's address is read then.
pub(super) struct PhoneSend {
    pub org: switchboard_domain::ids::OrgId,
    pub channel: ChannelId,
    pub conversation: ConversationId,
    pub provider: PhoneProvider,
    pub text: String,
    /// Signed links to the files, with their types and names.
    pub files: Vec<OutAttachment>,
    /// WhatsApp: the template the message goes as.
    pub template: Option<WhatsappTemplate>,
    pub webhook_id: String,
}

/// The provider an SMS or WhatsApp channel sends through, with its account's credentials.
#[derive(Clone)]
pub(super) enum PhoneProvider {
    Meta { phone_number_id: String, token: String },
    Telesign { customer_id: String, api_key: String, sender_id: Option<String> },
    Twilio(TwilioAccount),
}

/// What sending through a Twilio account needs.
#[derive(Clone)]
pub(super) struct TwilioAccount {
    pub account_sid: String,
    /// Basic auth: the API key and its secret, or the account SID and auth token.
    pub user: String,
    pub password: String,
    pub messaging_service_sid: Option<String>,
    pub from_number: Option<String>,
    pub whatsapp: bool,
}

impl PhoneProvider {
    /// The provider of an SMS or WhatsApp channel target: its account's method, with the settings and credentials
    /// that method needs (`check_account` made sure they were given).
    fn of(kind: ChannelType, target: &Target, secrets: &SecretBox) -> Result<PhoneProvider, String> {
        let settings = target.account.as_ref().ok_or("its account has no settings")?;
        let sealed = target.sealed_credentials.as_deref().ok_or("its account has no credentials")?;
        let opened = secrets.open(sealed).map_err(|e| e.to_string())?;
        let credentials: AccountCredentials = serde_json::from_slice(&opened).map_err(|e| e.to_string())?;
        let text = |t: &Option<switchboard_domain::text::ShortText>| t.as_ref().map(|t| t.as_str().to_string());
        match (kind, target.method) {
            (_, Some(AccountMethod::Twilio)) => {
                let account_sid = text(&settings.account_sid).ok_or("its account has no account SID")?;
                let (user, password) = match (&settings.api_key_sid, &credentials.api_key_secret) {
                    (Some(key), Some(secret)) => (key.as_str().to_string(), secret.as_str().to_string()),
                    _ => (
                        account_sid.clone(),
                        credentials.auth_token.ok_or("its account has no auth token")?.into_inner(),
                    ),
                };
                Ok(PhoneProvider::Twilio(TwilioAccount {
                    account_sid,
                    user,
                    password,
                    messaging_service_sid: text(&settings.messaging_service_sid),
                    from_number: text(&settings.from_number),
                    whatsapp: kind == ChannelType::Whatsapp,
                }))
            }
            (ChannelType::Whatsapp, Some(AccountMethod::Meta)) => Ok(PhoneProvider::Meta {
                phone_number_id: text(&settings.phone_number_id).ok_or("its account has no phone number id")?,
                token: credentials.access_token.ok_or("its account has no access token")?.into_inner(),
            }),
            (ChannelType::Sms, Some(AccountMethod::Telesign)) => Ok(PhoneProvider::Telesign {
                customer_id: text(&settings.customer_id).ok_or("its account has no customer id")?,
                api_key: credentials.api_key.ok_or("its account has no API key")?.into_inner(),
                sender_id: text(&settings.sender_id),
            }),
            (kind, method) => Err(format!(
                "its account's method ({}) does not send {kind}",
                method.map_or("none", AccountMethod::as_str)
            )),
        }
    }
}

/// Where phone sends go, what they ask providers to call back, and how fast a channel sends.
#[derive(Debug, Clone)]
pub struct PhoneApis {
    pub graph_url: String,
    pub graph_version: String,
    pub telesign_url: String,
    pub twilio_url: String,
    /// This server's `public_url`, for TeleSign's `callback_url` and Twilio's `StatusCallback`.
    pub public_url: String,
    pub meta_sends_per_second: u32,
    pub telesign_sends_per_second: u32,
    pub twilio_sends_per_second: u32,
}

impl PhoneApis {
    pub fn of(config: &crate::Config, public_url: &str) -> Self {
        let (meta, telesign, twilio) = (&config.channels.meta, &config.channels.telesign, &config.channels.twilio);
        PhoneApis {
            graph_url: meta.graph_url.clone(),
            graph_version: meta.graph_version.clone(),
            telesign_url: telesign.api_url.clone(),
            twilio_url: twilio.api_base_url.clone(),
            public_url: public_url.to_string(),
            meta_sends_per_second: meta.sends_per_second,
            telesign_sends_per_second: telesign.sends_per_second,
            twilio_sends_per_second: twilio.sends_per_second,
        }
    }

    /// The server's default for a channel of `provider` that sets no rate of its own.
    pub(super) fn sends_per_second(&self, provider: &PhoneProvider) -> u32 {
        match provider {
            PhoneProvider::Meta { .. } => self.meta_sends_per_second,
            PhoneProvider::Telesign { .. } => self.telesign_sends_per_second,
            PhoneProvider::Twilio(_) => self.twilio_sends_per_second,
        }
    }
}

/// The message for `event`, as a phone provider sends it; `None` for anything else.
pub(super) fn phone_send(
    channel: ChannelId,
    event: &Event,
    provider: PhoneProvider,
    links: &Links,
    webhook_id: String,
) -> Option<PhoneSend> {
    let TypedEvent::MessageCreated(mut m) = event.typed().ok()? else { return None };
    if m.sender.kind == SenderKind::Customer {
        return None;
    }
    links.sign_attachments(&mut m.attachments);
    let files = m
        .attachments
        .into_iter()
        .map(|a| OutAttachment {
            content_type: a.content_type.into_inner(),
            url: a.url.as_str().to_string(),
            name: a.name.map(|n| n.into_inner()),
        })
        .collect();
    Some(PhoneSend {
        org: event.org_id,
        channel,
        conversation: m.conversation_id,
        provider,
        text: m.text.unwrap_or_default(),
        files,
        template: m.template,
        webhook_id,
    })
}

impl Connector {
    /// The provider's request for `send`, to the customer its conversation's reply address names.
    ///
    /// WhatsApp through Meta carries one file a message: the first goes as media with the text as its caption, and
    /// the links of any others follow the text. Twilio takes every file as a `MediaUrl`. SMS through TeleSign
    /// carries none: every file goes as its link after the text. A template goes as the template alone.
    pub(super) async fn phone_request(&self, send: PhoneSend) -> Result<Request, Refusal> {
        let apis = &self.phone;
        use switchboard_channels::{
            meta::outbound as meta, telesign::outbound as telesign, twilio::outbound as twilio,
        };
        let (org, conversation, now) = (send.org, send.conversation, self.clock.now());
        let template = send.template.is_some();
        // What was queued before a STOP, or a notice after WhatsApp's window closed, is not sent.
        let (deliverable, thread, address) = self
            .store
            .read(move |tx| {
                let thread = switchboard_store::phone::thread(tx, org, conversation)?;
                let deliverable = match &thread {
                    Some(t) => crate::channels::phone::deliverable(tx, org, t, template, now)?,
                    None => Ok(()),
                };
                Ok((deliverable, thread, reply_addresses::get(tx, conversation)?))
            })
            .await
            .map_err(|e| Refusal { reason: e.to_string(), permanent: false })?;
        deliverable.map_err(|reason| Refusal { reason, permanent: true })?;
        let field = |name: &str| address.as_ref()?.get(name).and_then(serde_json::Value::as_str).map(str::to_string);
        let no_number =
            || Refusal { reason: "the conversation has no customer number to answer".into(), permanent: true };
        let bad_url =
            |e: url::ParseError| Refusal { reason: format!("the provider URL is not a URL: {e}"), permanent: true };
        let mut text = send.text;
        match send.provider {
            PhoneProvider::Meta { phone_number_id, token } => {
                let to = field("wa_id").ok_or_else(no_number)?;
                let what = match send.template {
                    Some(t) => meta::Outgoing::Template(meta_template(t)?),
                    None => {
                        let mut files = send.files.into_iter();
                        let first = files.next();
                        for rest in files {
                            text = join_line(text, &rest.url);
                        }
                        match first {
                            Some(f) => meta::Outgoing::Media {
                                kind: meta::MediaKind::for_content_type(&f.content_type),
                                link: f.url,
                                caption: Some(text).filter(|t| !t.is_empty()),
                                filename: f.name,
                            },
                            None => meta::Outgoing::Text { body: text },
                        }
                    }
                };
                let body = meta::render(&to, &what, None);
                let url = meta::messages_url(&apis.graph_url, &apis.graph_version, &phone_number_id);
                Ok(Request {
                    url: reqwest::Url::parse(&url).map_err(bad_url)?,
                    headers: vec![("authorization", format!("Bearer {token}")), ("webhook-id", send.webhook_id)],
                    content_type: "application/json",
                    client_errors_final: false,
                    body: serde_json::to_vec(&body).unwrap_or_default(),
                })
            }
            PhoneProvider::Telesign { customer_id, api_key, sender_id } => {
                let to = field("phone_number").ok_or_else(no_number)?;
                for f in &send.files {
                    text = join_line(text, &f.url);
                }
                let callback =
                    format!("{}/channels/telesign/{}/callbacks", apis.public_url.trim_end_matches('/'), send.channel);
                let body = telesign::render(&telesign::Sms {
                    phone_number: &to,
                    message: &text,
                    sender_id: sender_id.as_deref().or(field("sender_id").as_deref()),
                    external_id: Some(&send.webhook_id),
                    callback_url: Some(&callback),
                });
                Ok(Request {
                    url: reqwest::Url::parse(&telesign::messaging_url(&apis.telesign_url)).map_err(bad_url)?,
                    headers: vec![("authorization", telesign::basic_auth(&customer_id, &api_key))],
                    content_type: "application/x-www-form-urlencoded",
                    client_errors_final: false,
                    body: body.into_bytes(),
                })
            }
            PhoneProvider::Twilio(account) => {
                let to = thread.map(|t| t.phone).ok_or_else(no_number)?;
                // The number the customer wrote to answers them, unless a messaging service picks one.
                let from = match (account.messaging_service_sid, field("from"), account.from_number) {
                    (Some(service), _, _) => twilio::Sender::MessagingService(service),
                    (None, Some(number), _) | (None, None, Some(number)) => twilio::Sender::Number(number),
                    (None, None, None) => {
                        return Err(Refusal {
                            reason: "the account has no messaging service or number to send from".into(),
                            permanent: true,
                        });
                    }
                };
                let (body, media_urls, content) = match send.template {
                    Some(t) => (None, Vec::new(), Some(twilio_content(t)?)),
                    None => {
                        (Some(text).filter(|t| !t.is_empty()), send.files.into_iter().map(|f| f.url).collect(), None)
                    }
                };
                let outgoing = twilio::Outgoing {
                    to,
                    whatsapp: account.whatsapp,
                    from,
                    body,
                    media_urls,
                    content,
                    status_callback: Some(format!(
                        "{}/channels/twilio/{}/status",
                        apis.public_url.trim_end_matches('/'),
                        send.channel
                    )),
                };
                let body = twilio::encode(&outgoing).map_err(|e| Refusal { reason: e.to_string(), permanent: true })?;
                let url = reqwest::Url::parse(&twilio::messages_url(&apis.twilio_url, &account.account_sid))
                    .map_err(bad_url)?;
                use base64::Engine as _;
                let basic =
                    base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", account.user, account.password));
                Ok(Request {
                    url,
                    headers: vec![("authorization", format!("Basic {basic}"))],
                    content_type: "application/x-www-form-urlencoded",
                    client_errors_final: true,
                    body: body.into_bytes(),
                })
            }
        }
    }
}

/// A message's template as the Cloud API takes it: `parameters` fill the body's numbered variables; `components`
/// (checked as Meta checks them) go as they are.
fn meta_template(t: WhatsappTemplate) -> Result<switchboard_channels::meta::outbound::Template, Refusal> {
    use switchboard_channels::meta::outbound::{ComponentKind, Template, TemplateComponent, TemplateParameter};
    let refuse = |reason: String| Refusal { reason, permanent: true };
    let components = if t.components.is_empty() {
        if t.parameters.is_empty() {
            Vec::new()
        } else {
            vec![TemplateComponent {
                kind: ComponentKind::Body,
                sub_type: None,
                index: None,
                parameters: t
                    .parameters
                    .into_iter()
                    .map(|text| TemplateParameter::Text { text, parameter_name: None })
                    .collect(),
            }]
        }
    } else {
        t.components
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<Vec<TemplateComponent>, _>>()
            .map_err(|e| refuse(format!("the template's components are not the Cloud API's: {e}")))?
    };
    let template = Template {
        name: t.name.ok_or_else(|| refuse("a Meta template needs its name".into()))?,
        language: t.language.ok_or_else(|| refuse("a Meta template needs its language".into()))?,
        components,
    };
    template.check().map_err(|e| refuse(e.to_string()))?;
    Ok(template)
}

/// A message's template as Twilio takes it: the content SID, and `parameters` as `ContentVariables` numbered from 1.
fn twilio_content(t: WhatsappTemplate) -> Result<(String, serde_json::Value), Refusal> {
    let sid = t
        .content_sid
        .ok_or_else(|| Refusal { reason: "a Twilio content template needs its content SID".into(), permanent: true })?;
    let variables: serde_json::Map<String, serde_json::Value> = t
        .parameters
        .into_iter()
        .enumerate()
        .map(|(i, v)| ((i + 1).to_string(), serde_json::Value::String(v)))
        .collect();
    Ok((sid, serde_json::Value::Object(variables)))
}

fn join_line(text: String, line: &str) -> String {
    if text.is_empty() { line.to_string() } else { format!("{text}\n{line}") }
}

/// The provider's own words for a refused send, with its code, from the body it answered: what the message's
/// failure shows instead of the bare HTTP status.
pub(super) fn phone_refusal(provider: &PhoneProvider, status: u16, body: &str) -> Option<String> {
    use switchboard_channels::{meta::outbound as meta, telesign::outbound as telesign};
    match provider {
        PhoneProvider::Meta { .. } => {
            meta::parse_error(body.as_bytes()).map(|e| format!("the Graph API answered {status}: {}", e.describe()))
        }
        PhoneProvider::Telesign { .. } => telesign::SendAnswer::parse(body.as_bytes()).map(|a| {
            let (code, words) = a.describe();
            match code {
                Some(c) => format!("TeleSign answered {status}: {c} {words}"),
                None => format!("TeleSign answered {status}: {words}"),
            }
        }),
        PhoneProvider::Twilio(_) => None,
    }
}
