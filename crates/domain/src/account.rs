//! Messaging accounts (seed 002): an administrator creates an account of a channel kind, with the settings and
//! credentials that kind needs (for the Bot Framework, the Microsoft app id and client secret), validates it, then
//! adds channels to it. Each channel is bound to a workstream and has its language, behaviours and attachment
//! permissions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Code, Error, Timestamp, ids::*, setup::ChannelType, str_enum, text::ShortText};

/// Channels one account may have.
pub const MAX_CHANNELS_PER_ACCOUNT: usize = 100;

str_enum!(
    /// How an account of a kind with several ways in connects: for `bot_framework`, an Azure Bot registration.
    AccountMethod {
        /// An Azure Bot resource: the Microsoft app id and a client secret of its app registration.
        AzureBotFramework = "azure_bot_framework",
        /// WhatsApp through Meta's Cloud API: a business phone number id, a system user's access token, the app's
        /// secret (which signs the webhook) and the verify token of the webhook handshake.
        Meta = "meta",
        /// SMS through TeleSign: the customer id and API key (Basic auth out, the key signs callbacks in).
        Telesign = "telesign",
        /// Twilio's Programmable Messaging (SMS) or its WhatsApp sender: the account SID and auth token (or an API key
        /// and secret), with a messaging service or the numbers customers write to.
        Twilio = "twilio",
        /// Google's Business Messages: a partner's client token and service account, for a brand's agent.
        Google = "google",
    }
);

impl AccountMethod {
    /// The method an account of `kind` has when its creator names none; `None` for kinds with a single way in.
    pub fn default_for(kind: ChannelType) -> Option<AccountMethod> {
        match kind {
            ChannelType::BotFramework => Some(AccountMethod::AzureBotFramework),
            ChannelType::GoogleBusinessMessages => Some(AccountMethod::Google),
            _ => None,
        }
    }

    fn allowed(kind: ChannelType) -> &'static [AccountMethod] {
        match kind {
            ChannelType::BotFramework => &[AccountMethod::AzureBotFramework],
            ChannelType::Sms => &[AccountMethod::Twilio, AccountMethod::Telesign],
            ChannelType::Whatsapp => &[AccountMethod::Twilio, AccountMethod::Meta],
            ChannelType::GoogleBusinessMessages => &[AccountMethod::Google],
            _ => &[],
        }
    }
}

/// An account's settings that are not secret, read back as they were set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// Bot Framework: the Microsoft app id (the bot registration's app id), required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<ShortText>,
    /// Bot Framework: the Entra tenant of a single-tenant bot; absent for a multi-tenant one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<ShortText>,
    /// Meta: the WhatsApp business phone number's id (digits, from WhatsApp Manager → API Setup), required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<ShortText>,
    /// Meta: the WhatsApp Business Account id, for reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_account_id: Option<ShortText>,
    /// TeleSign: the customer id (a UUID), required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<ShortText>,
    /// TeleSign: the number or sender id replies go from; without one, TeleSign picks the account's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<ShortText>,
    /// Google's Business Messages: the partner id (the console's Settings page), required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<ShortText>,
    /// Google's Business Messages: the brand id (`brands/{brand_id}`), required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<ShortText>,
    /// Google's Business Messages: the agent id (`brands/{brand_id}/agents/{agent_id}`), required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<ShortText>,
    /// Twilio: the account SID (`AC` and 32 hex digits), required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<ShortText>,
    /// Twilio: an API key's SID (`SK…`) to send with instead of the account SID; its secret is `api_key_secret`.
    /// Webhooks are still signed with the auth token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_sid: Option<ShortText>,
    /// Twilio: the messaging service (`MG…`) replies are sent through; without one, replies go from the number the
    /// customer wrote to, else from `from_number`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_service_sid: Option<ShortText>,
    /// Twilio: the number (E.164) replies go from when neither a messaging service nor the customer's message names
    /// one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_number: Option<ShortText>,
    /// SMS and WhatsApp: what the STOP, START and HELP keywords are answered with; each left out has its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword_replies: Option<KeywordReplies>,
}

/// The answers to the carriers' keywords, each at most 256 characters (two SMS segments at worst).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeywordReplies {
    /// Sent once when a number opts out (STOP, UNSUBSCRIBE, CANCEL, END, QUIT, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<ShortText>,
    /// Sent when it opts back in (START, YES, UNSTOP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<ShortText>,
    /// Sent for HELP or INFO: who is writing and how to opt out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<ShortText>,
}

impl KeywordReplies {
    pub const DEFAULT_STOP: &'static str =
        "You have been unsubscribed and will receive no more messages from us. Reply START to resubscribe.";
    pub const DEFAULT_START: &'static str =
        "You have been resubscribed and will receive messages from us again. Reply STOP to unsubscribe.";
    pub const DEFAULT_HELP: &'static str =
        "You are writing to our customer service. Reply STOP to unsubscribe. Msg & data rates may apply.";
}

/// An account's credentials. Write-only: sealed at rest, and a read says `credentials_set`, never what they are.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountCredentials {
    /// Bot Framework: a client secret of the bot's app registration, required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ShortText>,
    /// Meta: a system user's access token with `whatsapp_business_messaging`, required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<ShortText>,
    /// Meta: the app secret, required: Meta signs every notification with it (`X-Hub-Signature-256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<ShortText>,
    /// Meta: the verify token typed into the app's webhook settings, required: the handshake echoes only to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<ShortText>,
    /// TeleSign: the API key (Base64, as the portal shows it), required: it authorizes sends and signs callbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ShortText>,
    /// Twilio: the account's auth token, required: Twilio signs its webhooks with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<ShortText>,
    /// Twilio: the secret of `settings.api_key_sid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<ShortText>,
    /// Google's Business Messages: the client token of the partner's webhook (it signs every message Google
    /// posts), required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<ShortText>,
    /// Google's Business Messages: the service account key file (its JSON, as downloaded), required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub service_account: Option<serde_json::Value>,
}

impl std::fmt::Debug for AccountCredentials {
    // A credential in a log line is a leaked credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |v: &Option<ShortText>| v.as_ref().map(|_| "…");
        f.debug_struct("AccountCredentials")
            .field("client_secret", &hide(&self.client_secret))
            .field("access_token", &hide(&self.access_token))
            .field("app_secret", &hide(&self.app_secret))
            .field("verify_token", &hide(&self.verify_token))
            .field("api_key", &hide(&self.api_key))
            .field("auth_token", &hide(&self.auth_token))
            .field("api_key_secret", &hide(&self.api_key_secret))
            .field("client_token", &hide(&self.client_token))
            .field("service_account", &self.service_account.as_ref().map(|_| "…"))
            .finish()
    }
}

impl AccountCredentials {
    pub fn is_empty(&self) -> bool {
        self.client_secret.is_none()
            && self.access_token.is_none()
            && self.app_secret.is_none()
            && self.verify_token.is_none()
            && self.api_key.is_none()
            && self.auth_token.is_none()
            && self.api_key_secret.is_none()
            && self.client_token.is_none()
            && self.service_account.is_none()
    }
}

/// Checks what an account of `kind` is given: a method it has, the settings and credentials it uses and needs,
/// nothing it does not use. `credentials` is `None` when they are kept as they are (a change that leaves them).
pub fn check_account(
    kind: ChannelType,
    method: Option<AccountMethod>,
    settings: &AccountSettings,
    credentials_set: bool,
    credentials: Option<&AccountCredentials>,
) -> crate::Result<()> {
    match method {
        Some(m) if !AccountMethod::allowed(kind).contains(&m) => {
            return Err(Error::field(Code::InvalidField, "method", format!("{kind} accounts have no method {m}")));
        }
        // SMS and WhatsApp may have no provider: their conversations then come and go through the API only.
        None if !AccountMethod::allowed(kind).is_empty()
            && !matches!(kind, ChannelType::Sms | ChannelType::Whatsapp) =>
        {
            return Err(Error::field(Code::MissingField, "method", format!("{kind} accounts need a `method`")));
        }
        _ => {}
    }
    let bot = kind == ChannelType::BotFramework;
    for (set, name) in [(settings.app_id.is_some(), "app_id"), (settings.tenant_id.is_some(), "tenant_id")] {
        if set && !bot {
            return Err(Error::field(
                Code::InvalidField,
                format!("settings.{name}"),
                format!("`{name}` is a setting of bot_framework accounts, not {kind}"),
            ));
        }
    }
    if let Some(c) = credentials
        && c.client_secret.is_some()
        && !bot
    {
        return Err(Error::field(
            Code::InvalidField,
            "credentials.client_secret",
            format!("`client_secret` is a credential of bot_framework accounts, not {kind}"),
        ));
    }
    check_provider_fields(kind, method, settings, credentials_set, credentials)?;
    check_twilio(kind, method == Some(AccountMethod::Twilio), settings, credentials_set, credentials)?;
    check_google(kind, settings, credentials_set, credentials)?;
    if bot {
        if settings.app_id.as_ref().is_none_or(|a| a.as_str().trim().is_empty()) {
            return Err(Error::field(
                Code::MissingField,
                "settings.app_id",
                "a Bot Framework account needs its app id",
            ));
        }
        let secret = match credentials {
            Some(c) => c.client_secret.as_ref().is_some_and(|s| !s.as_str().is_empty()),
            None => credentials_set,
        };
        if !secret {
            return Err(Error::field(
                Code::MissingField,
                "credentials.client_secret",
                "a Bot Framework account needs a client secret",
            ));
        }
    }
    Ok(())
}

/// What a Google's Business Messages account uses (partner, brand and agent ids; client token and service account),
/// and what no other kind does.
fn check_google(
    kind: ChannelType,
    settings: &AccountSettings,
    credentials_set: bool,
    credentials: Option<&AccountCredentials>,
) -> crate::Result<()> {
    let google = kind == ChannelType::GoogleBusinessMessages;
    let set = [
        (settings.partner_id.as_ref(), "partner_id"),
        (settings.brand_id.as_ref(), "brand_id"),
        (settings.agent_id.as_ref(), "agent_id"),
    ];
    for (value, name) in set {
        match value {
            Some(_) if !google => {
                return Err(Error::field(
                    Code::InvalidField,
                    format!("settings.{name}"),
                    format!("`{name}` is a setting of google_business_messages accounts, not {kind}"),
                ));
            }
            None if google => {
                return Err(Error::field(
                    Code::MissingField,
                    format!("settings.{name}"),
                    format!("a Google's Business Messages account needs its `{name}`"),
                ));
            }
            Some(v) if v.as_str().trim().is_empty() || v.as_str().contains('/') => {
                return Err(Error::field(
                    Code::InvalidField,
                    format!("settings.{name}"),
                    "an id, without spaces alone or slashes (the console shows it)",
                ));
            }
            _ => {}
        }
    }
    let Some(c) = credentials else {
        if google && !credentials_set {
            return Err(Error::field(
                Code::MissingField,
                "credentials.client_token",
                "a Google's Business Messages account needs its client token",
            ));
        }
        return Ok(());
    };
    for (present, name) in
        [(c.client_token.is_some(), "client_token"), (c.service_account.is_some(), "service_account")]
    {
        if present && !google {
            return Err(Error::field(
                Code::InvalidField,
                format!("credentials.{name}"),
                format!("`{name}` is a credential of google_business_messages accounts, not {kind}"),
            ));
        }
    }
    if !google {
        return Ok(());
    }
    if c.client_token.as_ref().is_none_or(|t| t.as_str().is_empty()) {
        return Err(Error::field(
            Code::MissingField,
            "credentials.client_token",
            "a Google's Business Messages account needs its client token",
        ));
    }
    let Some(file) = &c.service_account else {
        return Err(Error::field(
            Code::MissingField,
            "credentials.service_account",
            "a Google's Business Messages account needs its service account key file",
        ));
    };
    let text = |k: &str| file.get(k).and_then(serde_json::Value::as_str).filter(|s| !s.trim().is_empty());
    let complete = text("type") == Some("service_account")
        && text("client_email").is_some()
        && text("private_key").is_some_and(|k| k.contains("PRIVATE KEY"));
    if !complete {
        return Err(Error::field(
            Code::InvalidField,
            "credentials.service_account",
            "a service account key file: JSON with `type` \"service_account\", `client_email` and a PEM `private_key`",
        ));
    }
    if file.to_string().len() > MAX_SERVICE_ACCOUNT_BYTES {
        return Err(Error::field(
            Code::FieldTooLong,
            "credentials.service_account",
            format!("a service account key file is at most {MAX_SERVICE_ACCOUNT_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// The largest service account key file accepted (Google's are about 2.4 KB).
pub const MAX_SERVICE_ACCOUNT_BYTES: usize = 16 * 1024;

/// The settings and credentials of the Meta (WhatsApp Cloud API) and TeleSign methods: each only on its own
/// method's accounts, and the ones it needs present.
fn check_provider_fields(
    kind: ChannelType,
    method: Option<AccountMethod>,
    settings: &AccountSettings,
    credentials_set: bool,
    credentials: Option<&AccountCredentials>,
) -> crate::Result<()> {
    use AccountMethod::{Meta, Telesign};
    let settings_of = [
        (settings.phone_number_id.is_some(), "phone_number_id", Meta),
        (settings.business_account_id.is_some(), "business_account_id", Meta),
        (settings.customer_id.is_some(), "customer_id", Telesign),
        (settings.sender_id.is_some(), "sender_id", Telesign),
    ];
    for (set, name, owner) in settings_of {
        if set && method != Some(owner) {
            return Err(Error::field(
                Code::InvalidField,
                format!("settings.{name}"),
                format!("`{name}` is a setting of {owner} accounts, not {kind}"),
            ));
        }
    }
    if let Some(c) = credentials {
        let credentials_of = [
            (c.access_token.is_some(), "access_token", Meta),
            (c.app_secret.is_some(), "app_secret", Meta),
            (c.verify_token.is_some(), "verify_token", Meta),
            (c.api_key.is_some(), "api_key", Telesign),
        ];
        for (set, name, owner) in credentials_of {
            if set && method != Some(owner) {
                return Err(Error::field(
                    Code::InvalidField,
                    format!("credentials.{name}"),
                    format!("`{name}` is a credential of {owner} accounts, not {kind}"),
                ));
            }
        }
    }
    let present = |v: &Option<ShortText>| v.as_ref().is_some_and(|t| !t.as_str().trim().is_empty());
    let need_setting = |ok: bool, name: &str, what: &str| {
        if ok { Ok(()) } else { Err(Error::field(Code::MissingField, format!("settings.{name}"), what.to_string())) }
    };
    // On a change that keeps the credentials (`None`), what was stored stands.
    let need_credential = |ok: Option<bool>, name: &str, what: &str| {
        if ok.unwrap_or(credentials_set) {
            Ok(())
        } else {
            Err(Error::field(Code::MissingField, format!("credentials.{name}"), what.to_string()))
        }
    };
    match method {
        Some(Meta) => {
            let id = settings.phone_number_id.as_ref().map(|t| t.as_str()).unwrap_or_default();
            need_setting(!id.is_empty(), "phone_number_id", "a Meta WhatsApp account needs its phone number id")?;
            if !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::field(
                    Code::InvalidField,
                    "settings.phone_number_id",
                    "a phone number id is the digits WhatsApp Manager shows, not the phone number",
                ));
            }
            for (name, what) in [
                ("access_token", "a Meta WhatsApp account needs its access token"),
                ("app_secret", "a Meta WhatsApp account needs its app secret: Meta signs its webhook with it"),
                ("verify_token", "a Meta WhatsApp account needs the verify token of its webhook"),
            ] {
                let ok = credentials.map(|c| match name {
                    "access_token" => present(&c.access_token),
                    "app_secret" => present(&c.app_secret),
                    _ => present(&c.verify_token),
                });
                need_credential(ok, name, what)?;
            }
        }
        Some(Telesign) => {
            need_setting(present(&settings.customer_id), "customer_id", "a TeleSign account needs its customer id")?;
            let key = credentials.map(|c| c.api_key.as_ref().map(|k| k.as_str().trim().to_string()));
            if let Some(Some(k)) = &key {
                let base64 = !k.is_empty()
                    && k.len() % 4 == 0
                    && k.trim_end_matches('=').bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
                if !base64 {
                    return Err(Error::field(
                        Code::InvalidField,
                        "credentials.api_key",
                        "a TeleSign API key is Base64, as the portal shows it",
                    ));
                }
            }
            need_credential(
                key.map(|k| k.is_some_and(|k| !k.is_empty())),
                "api_key",
                "a TeleSign account needs its API key",
            )?;
        }
        _ => {}
    }
    Ok(())
}

/// The settings and credentials of a Twilio account (and only of one): an account SID, an auth token, an API key
/// only with its secret, and the keyword answers that phone kinds take.
fn check_twilio(
    kind: ChannelType,
    twilio: bool,
    settings: &AccountSettings,
    credentials_set: bool,
    credentials: Option<&AccountCredentials>,
) -> crate::Result<()> {
    let twilio_settings = [
        (settings.account_sid.is_some(), "account_sid"),
        (settings.api_key_sid.is_some(), "api_key_sid"),
        (settings.messaging_service_sid.is_some(), "messaging_service_sid"),
        (settings.from_number.is_some(), "from_number"),
    ];
    let phone = matches!(kind, ChannelType::Sms | ChannelType::Whatsapp);
    let not_ours = |field: String, what: &str| {
        Err(Error::field(Code::InvalidField, field, format!("`{what}` is not used by {kind} accounts of this method")))
    };
    if settings.keyword_replies.is_some() && !phone {
        return not_ours("settings.keyword_replies".into(), "keyword_replies");
    }
    if !twilio {
        if let Some((_, name)) = twilio_settings.iter().find(|(set, _)| *set) {
            return not_ours(format!("settings.{name}"), name);
        }
        if let Some(c) = credentials {
            for (set, name) in [(c.auth_token.is_some(), "auth_token"), (c.api_key_secret.is_some(), "api_key_secret")]
            {
                if set {
                    return not_ours(format!("credentials.{name}"), name);
                }
            }
        }
        return Ok(());
    }
    let sid = |v: &Option<ShortText>, prefix: &str, field: &str, required: bool| -> crate::Result<()> {
        match v {
            None if required => Err(Error::field(
                Code::MissingField,
                format!("settings.{field}"),
                format!("a Twilio account needs its `{field}`"),
            )),
            None => Ok(()),
            Some(v) if is_sid(v.as_str(), prefix) => Ok(()),
            Some(_) => Err(Error::field(
                Code::InvalidField,
                format!("settings.{field}"),
                format!("a Twilio `{field}` is `{prefix}` and 32 hexadecimal digits"),
            )),
        }
    };
    sid(&settings.account_sid, "AC", "account_sid", true)?;
    sid(&settings.api_key_sid, "SK", "api_key_sid", false)?;
    sid(&settings.messaging_service_sid, "MG", "messaging_service_sid", false)?;
    if let Some(n) = &settings.from_number {
        let digits = n
            .as_str()
            .strip_prefix('+')
            .filter(|d| (4..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
        if digits.is_none() {
            return Err(Error::field(
                Code::InvalidField,
                "settings.from_number",
                "must be an E.164 number (`+14255550100`)",
            ));
        }
    }
    if let Some(c) = credentials {
        if c.client_secret.is_some() {
            return not_ours("credentials.client_secret".into(), "client_secret");
        }
        if c.auth_token.as_ref().is_none_or(|t| t.as_str().is_empty()) {
            return Err(Error::field(
                Code::MissingField,
                "credentials.auth_token",
                "a Twilio account needs its auth token: Twilio signs its webhooks with it",
            ));
        }
        if settings.api_key_sid.is_some() != c.api_key_secret.is_some() {
            return Err(Error::field(
                Code::MissingField,
                if settings.api_key_sid.is_some() { "credentials.api_key_secret" } else { "settings.api_key_sid" },
                "an API key needs both its SID and its secret",
            ));
        }
    } else if !credentials_set {
        return Err(Error::field(
            Code::MissingField,
            "credentials.auth_token",
            "a Twilio account needs its auth token",
        ));
    }
    Ok(())
}

/// Whether `s` is a Twilio SID of the kind `prefix` names: the prefix and 32 hexadecimal digits.
pub fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

str_enum!(
    /// Whether an account's settings and credentials were checked, and what the check found.
    ValidationState {
        /// Never checked, or changed since it was.
        Unchecked = "unchecked",
        Valid = "valid",
        Invalid = "invalid",
    }
);

/// What the last `POST /v1/messaging-accounts/{id}/validate` found. A change to the settings or credentials makes
/// it `unchecked` again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountValidation {
    pub state: ValidationState,
    /// With `invalid`: why, as the provider or the check said it.
    pub reason: Option<String>,
    /// When it was checked; absent while `unchecked`.
    pub checked_at: Option<Timestamp>,
}

impl AccountValidation {
    pub fn unchecked() -> Self {
        Self { state: ValidationState::Unchecked, reason: None, checked_at: None }
    }
}

/// A messaging account as it is read back (`GET`, answers, and `messaging_account.*` events): everything but its
/// credentials, whose presence `credentials_set` tells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessagingAccount {
    pub id: MessagingAccountId,
    pub org_id: OrgId,
    pub name: String,
    /// The kind of channel the account's channels are.
    pub kind: ChannelType,
    /// How the account connects, for kinds with several ways (`bot_framework`: `azure_bot_framework`).
    pub method: Option<AccountMethod>,
    pub settings: AccountSettings,
    /// Whether credentials are set (`credentials` on create and `PATCH`; never read back).
    pub credentials_set: bool,
    pub validation: AccountValidation,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The credentials as the server sealed them, for the code that talks to the provider; never serialized.
    #[serde(skip)]
    #[schema(ignore)]
    pub sealed_credentials: Option<String>,
}

impl MessagingAccount {
    /// The account as the API shows it: to callers that do not configure or oversee channels (`with_settings`
    /// false), its name and kind only, as channels show them theirs.
    pub fn view(&self, with_settings: bool) -> MessagingAccountView {
        MessagingAccountView {
            id: self.id,
            org_id: self.org_id,
            name: self.name.clone(),
            kind: self.kind,
            method: self.method,
            created_at: self.created_at,
            updated_at: self.updated_at,
            settings: with_settings.then(|| self.settings.clone()),
            credentials_set: with_settings.then_some(self.credentials_set),
            validation: with_settings.then(|| self.validation.clone()),
        }
    }
}

/// A messaging account as the API reads it back. Credentials are never read back, for any role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessagingAccountView {
    pub id: MessagingAccountId,
    pub org_id: OrgId,
    pub name: String,
    pub kind: ChannelType,
    pub method: Option<AccountMethod>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Admins and supervisors only, as the three below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<AccountSettings>,
    /// Whether credentials are set (`credentials` on create and `PATCH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_set: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<AccountValidation>,
}

/// A language tag (BCP 47) as a channel speaks it: a language (2 or 3 letters), then an optional script (4
/// letters), region (2 letters or 3 digits) and variants, in their conventional case (`en-US`, `zh-Hant-TW`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Language(String);

impl Language {
    pub fn parse(s: impl Into<String>) -> Result<Self, String> {
        let s: String = s.into();
        let invalid = || {
            Err(crate::text::coded(
                Code::InvalidField,
                "must be a BCP 47 language tag: a language, then an optional script, region and variants (`en-US`)",
            ))
        };
        if s.is_empty() || s.len() > 35 {
            return invalid();
        }
        let mut parts = s.split(['-', '_']);
        let mut out = Vec::new();
        match parts.next() {
            Some(lang) if (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_alphabetic()) => {
                out.push(lang.to_ascii_lowercase());
            }
            _ => return invalid(),
        }
        // 0: script may come, 1: region may come, 2: variants only.
        let mut stage = 0;
        for part in parts {
            let alpha = part.chars().all(|c| c.is_ascii_alphabetic());
            let digits = part.chars().all(|c| c.is_ascii_digit());
            if stage == 0 && part.len() == 4 && alpha {
                let mut chars = part.chars();
                let first = chars.next().map(|c| c.to_ascii_uppercase()).unwrap_or_default();
                out.push(format!("{first}{}", chars.as_str().to_ascii_lowercase()));
                stage = 1;
            } else if stage <= 1 && ((part.len() == 2 && alpha) || (part.len() == 3 && digits)) {
                out.push(part.to_ascii_uppercase());
                stage = 2;
            } else if part.chars().all(|c| c.is_ascii_alphanumeric())
                && ((5..=8).contains(&part.len())
                    || (part.len() == 4 && part.starts_with(|c: char| c.is_ascii_digit())))
            {
                out.push(part.to_ascii_lowercase());
                stage = 2;
            } else {
                return invalid();
            }
        }
        Ok(Self(out.join("-")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Language {
    fn default() -> Self {
        Self("en-US".into())
    }
}

impl TryFrom<String> for Language {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl From<Language> for String {
    fn from(v: Language) -> String {
        v.0
    }
}

impl utoipa::PartialSchema for Language {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A BCP 47 language tag (`en-US`)"))
            .max_length(Some(35))
            .examples(["en-US"])
            .into()
    }
}

impl ToSchema for Language {}

/// What a channel does around its conversations (the seed's Behaviours page), beyond its workstream's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelBehaviours {
    /// Whether waiting customers get the system messages with their place in the queue and estimated wait, when
    /// the workstream sends them (`settings.wait_notifications`). On by default; off, the
    /// `routing.wait_estimate_changed` events are still recorded, and the customer is not told.
    #[serde(default = "yes")]
    pub wait_time_message: bool,
    /// A survey after the conversation. This server has none, so it is off and `true` is refused.
    #[serde(default)]
    pub post_conversation_survey: bool,
}

fn yes() -> bool {
    true
}

impl Default for ChannelBehaviours {
    fn default() -> Self {
        Self { wait_time_message: true, post_conversation_survey: false }
    }
}

impl ChannelBehaviours {
    pub fn check(&self) -> crate::Result<()> {
        if self.post_conversation_survey {
            return Err(Error::field(
                Code::InvalidField,
                "behaviours.post_conversation_survey",
                "this server has no post-conversation surveys; leave it off",
            ));
        }
        Ok(())
    }
}

/// Who may send files on a channel (the seed's user features page). Both may by default; the workstream's
/// attachment policy still decides which types and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentPermissions {
    #[serde(default = "yes")]
    pub customers: bool,
    #[serde(default = "yes")]
    pub agents: bool,
}

impl Default for AttachmentPermissions {
    fn default() -> Self {
        Self { customers: true, agents: true }
    }
}

/// Who sends a file: what [`AttachmentPermissions`] is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uploader {
    Customer,
    Agent,
}

impl Uploader {
    /// The side a message's sender is on; system and bot messages are neither, and not limited.
    pub fn of(sender: crate::message::SenderKind) -> Option<Uploader> {
        use crate::message::SenderKind;
        match sender {
            SenderKind::Customer => Some(Uploader::Customer),
            SenderKind::Agent => Some(Uploader::Agent),
            _ => None,
        }
    }
}

impl AttachmentPermissions {
    /// Refuses a file from `who` on a channel that does not let them send files.
    pub fn check(&self, who: Uploader, field: &str) -> crate::Result<()> {
        let (allowed, whom) = match who {
            Uploader::Customer => (self.customers, "customers"),
            Uploader::Agent => (self.agents, "agents"),
        };
        if allowed {
            return Ok(());
        }
        Err(Error::field(
            Code::AttachmentsNotAllowed,
            field,
            format!("this channel does not let {whom} send attachments"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_parse_in_their_conventional_case() {
        for (given, expect) in [
            ("en-US", "en-US"),
            ("en-us", "en-US"),
            ("fr", "fr"),
            ("zh-hant-tw", "zh-Hant-TW"),
            ("es-419", "es-419"),
            ("de_DE", "de-DE"),
            ("sl-rozaj-biske", "sl-rozaj-biske"),
        ] {
            assert_eq!(Language::parse(given).unwrap().as_str(), expect, "{given}");
        }
        for bad in ["", "e", "english", "en-", "en-US-", "en--US", "12-US", "en-U$", "en-USA1", &"a".repeat(36)] {
            assert!(Language::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accounts_take_what_their_kind_uses() {
        let bot = AccountSettings {
            app_id: Some(ShortText::from_stored("app".into())),
            tenant_id: None,
            ..Default::default()
        };
        let secret =
            AccountCredentials { client_secret: Some(ShortText::from_stored("s".into())), ..Default::default() };
        let m = Some(AccountMethod::AzureBotFramework);
        assert!(check_account(ChannelType::BotFramework, m, &bot, false, Some(&secret)).is_ok());
        assert!(check_account(ChannelType::BotFramework, m, &bot, true, None).is_ok());
        let missing = check_account(ChannelType::BotFramework, m, &bot, false, None).unwrap_err();
        assert_eq!(missing.field.as_deref(), Some("credentials.client_secret"));
        let none = AccountSettings::default();
        assert!(check_account(ChannelType::BotFramework, m, &none, true, None).is_err());
        assert!(check_account(ChannelType::BotFramework, None, &bot, true, None).is_err());
        assert!(check_account(ChannelType::MessagingApi, None, &none, false, None).is_ok());
        assert!(check_account(ChannelType::MessagingApi, m, &none, false, None).is_err());
        assert!(check_account(ChannelType::MessagingApi, None, &bot, false, None).is_err());
        assert!(check_account(ChannelType::LiveChat, None, &none, false, None).is_ok());
        assert!(check_account(ChannelType::Sms, None, &none, false, None).is_ok());
        assert!(format!("{secret:?}").contains('…') && !format!("{secret:?}").contains("\"s\""));
    }

    #[test]
    fn meta_accounts_need_a_phone_number_id_a_token_a_secret_and_a_verify_token() {
        let t = |s: &str| Some(ShortText::from_stored(s.into()));
        let meta = Some(AccountMethod::Meta);
        let settings = AccountSettings { phone_number_id: t("106540352242922"), ..Default::default() };
        let creds = AccountCredentials {
            access_token: t("EAAG…"),
            app_secret: t("s3cret"),
            verify_token: t("my-verify-token"),
            ..Default::default()
        };
        let field = |s: &AccountSettings, c: Option<&AccountCredentials>, set: bool| {
            check_account(ChannelType::Whatsapp, meta, s, set, c).err().and_then(|e| e.field)
        };
        assert_eq!(field(&settings, Some(&creds), false), None);
        assert_eq!(field(&settings, None, true), None);
        assert_eq!(field(&settings, None, false).as_deref(), Some("credentials.access_token"));
        assert_eq!(
            field(&AccountSettings::default(), Some(&creds), false).as_deref(),
            Some("settings.phone_number_id")
        );
        let number = AccountSettings { phone_number_id: t("+1 555 0100"), ..Default::default() };
        assert_eq!(field(&number, Some(&creds), false).as_deref(), Some("settings.phone_number_id"));
        for (i, name) in ["access_token", "app_secret", "verify_token"].into_iter().enumerate() {
            let mut c = creds.clone();
            match i {
                0 => c.access_token = None,
                1 => c.app_secret = t(" "),
                _ => c.verify_token = None,
            }
            assert_eq!(field(&settings, Some(&c), false), Some(format!("credentials.{name}")));
        }
        // Another method's fields are refused, and these are refused elsewhere.
        let telesign = AccountSettings { customer_id: t("FFFFFFFF-EEEE"), ..settings.clone() };
        assert_eq!(field(&telesign, Some(&creds), false).as_deref(), Some("settings.customer_id"));
        let bot = Some(AccountMethod::AzureBotFramework);
        let e = check_account(ChannelType::BotFramework, bot, &settings, true, None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("settings.phone_number_id"));
        assert!(check_account(ChannelType::Sms, meta, &settings, false, Some(&creds)).is_err());
        let shown = format!("{creds:?}");
        assert!(!shown.contains("s3cret") && !shown.contains("my-verify-token"));
    }

    #[test]
    fn telesign_accounts_need_a_customer_id_and_a_base64_api_key() {
        let t = |s: &str| Some(ShortText::from_stored(s.into()));
        let telesign = Some(AccountMethod::Telesign);
        let settings = AccountSettings { customer_id: t("FFFFFFFF-EEEE-DDDD-1234-AB1234567890"), ..Default::default() };
        let key = AccountCredentials { api_key: t("QUJDMTIzNDU="), ..Default::default() };
        let field = |s: &AccountSettings, c: Option<&AccountCredentials>, set: bool| {
            check_account(ChannelType::Sms, telesign, s, set, c).err().and_then(|e| e.field)
        };
        assert_eq!(field(&settings, Some(&key), false), None);
        let with_sender = AccountSettings { sender_id: t("12345"), ..settings.clone() };
        assert_eq!(field(&with_sender, Some(&key), false), None);
        assert_eq!(field(&settings, None, true), None);
        assert_eq!(field(&settings, None, false).as_deref(), Some("credentials.api_key"));
        assert_eq!(field(&AccountSettings::default(), Some(&key), false).as_deref(), Some("settings.customer_id"));
        let not_base64 = AccountCredentials { api_key: t("not base64!"), ..Default::default() };
        assert_eq!(field(&settings, Some(&not_base64), false).as_deref(), Some("credentials.api_key"));
        let meta_token = AccountCredentials { access_token: t("x"), ..key.clone() };
        assert_eq!(field(&settings, Some(&meta_token), false).as_deref(), Some("credentials.access_token"));
        assert!(check_account(ChannelType::Whatsapp, telesign, &settings, false, Some(&key)).is_err());
    }

    #[test]
    fn twilio_accounts_need_a_sid_and_an_auth_token() {
        let t = |s: &str| Some(ShortText::from_stored(s.into()));
        let sid = "AC0123456789abcdef0123456789abcdef";
        let twilio = Some(AccountMethod::Twilio);
        let settings = AccountSettings { account_sid: t(sid), ..Default::default() };
        let token = AccountCredentials { auth_token: t("token"), ..Default::default() };
        for kind in [ChannelType::Sms, ChannelType::Whatsapp] {
            assert!(check_account(kind, twilio, &settings, false, Some(&token)).is_ok());
            assert!(check_account(kind, twilio, &settings, true, None).is_ok());
            let e = check_account(kind, twilio, &settings, false, None).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("credentials.auth_token"));
        }
        let field = |s: AccountSettings, c: &AccountCredentials| {
            check_account(ChannelType::Sms, twilio, &s, false, Some(c)).unwrap_err().field
        };
        assert_eq!(field(AccountSettings::default(), &token).as_deref(), Some("settings.account_sid"));
        let bad = AccountSettings { account_sid: t("AC123"), ..Default::default() };
        assert_eq!(field(bad, &token).as_deref(), Some("settings.account_sid"));
        let key = AccountSettings { api_key_sid: t("SK0123456789abcdef0123456789abcdef"), ..settings.clone() };
        assert_eq!(field(key.clone(), &token).as_deref(), Some("credentials.api_key_secret"));
        let both = AccountCredentials { api_key_secret: t("k"), ..token.clone() };
        assert!(check_account(ChannelType::Sms, twilio, &key, false, Some(&both)).is_ok());
        let from = AccountSettings { from_number: t("425 555"), ..settings.clone() };
        assert_eq!(field(from, &token).as_deref(), Some("settings.from_number"));
        // Twilio's settings belong to Twilio accounts only, and keyword answers to phone kinds.
        let e = check_account(ChannelType::LiveChat, None, &settings, false, None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("settings.account_sid"));
        let replies = AccountSettings { keyword_replies: Some(KeywordReplies::default()), ..Default::default() };
        assert!(check_account(ChannelType::LiveChat, None, &replies, false, None).is_err());
        assert!(format!("{token:?}").contains('…') && !format!("{token:?}").contains("token\""));
    }

    #[test]
    fn google_accounts_take_their_ids_token_and_service_account() {
        let id = |s: &str| Some(ShortText::from_stored(s.into()));
        let settings = AccountSettings {
            partner_id: id("p-1"),
            brand_id: id("b-1"),
            agent_id: id("a-1"),
            ..AccountSettings::default()
        };
        let file = serde_json::json!({"type": "service_account", "client_email": "sb@p.iam.gserviceaccount.com",
            "private_key": "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n"});
        let creds = AccountCredentials {
            client_token: id("ct"),
            service_account: Some(file.clone()),
            ..AccountCredentials::default()
        };
        let kind = ChannelType::GoogleBusinessMessages;
        let m = AccountMethod::default_for(kind);
        assert_eq!(m, Some(AccountMethod::Google));
        assert!(check_account(kind, m, &settings, false, Some(&creds)).is_ok());
        assert!(check_account(kind, m, &settings, true, None).is_ok());
        let field = |r: crate::Result<()>| r.unwrap_err().field.unwrap_or_default();
        assert_eq!(field(check_account(kind, m, &settings, false, None)), "credentials.client_token");
        let no_agent = AccountSettings { agent_id: None, ..settings.clone() };
        assert_eq!(field(check_account(kind, m, &no_agent, true, None)), "settings.agent_id");
        let slashed = AccountSettings { brand_id: id("brands/b-1"), ..settings.clone() };
        assert_eq!(field(check_account(kind, m, &slashed, true, None)), "settings.brand_id");
        let no_file = AccountCredentials { service_account: None, ..creds.clone() };
        assert_eq!(field(check_account(kind, m, &settings, false, Some(&no_file))), "credentials.service_account");
        let not_a_key =
            AccountCredentials { service_account: Some(serde_json::json!({"type": "user"})), ..creds.clone() };
        assert_eq!(field(check_account(kind, m, &settings, false, Some(&not_a_key))), "credentials.service_account");
        let bot = Some(AccountMethod::AzureBotFramework);
        assert_eq!(field(check_account(kind, bot, &settings, true, None)), "method");
        assert_eq!(
            field(check_account(ChannelType::MessagingApi, None, &settings, false, None)),
            "settings.partner_id"
        );
        let token_only = AccountCredentials { client_token: id("ct"), ..AccountCredentials::default() };
        let none = AccountSettings::default();
        assert_eq!(
            field(check_account(ChannelType::MessagingApi, None, &none, false, Some(&token_only))),
            "credentials.client_token"
        );
        assert!(!format!("{creds:?}").contains("ct\""), "credentials are not in Debug");
    }
}
