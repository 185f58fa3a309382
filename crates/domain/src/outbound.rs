//! Outbound messages (seed 003, `contact-center-spec.md` §3): the message templates an organization sends its
//! customers from, over SMS and WhatsApp, each with a default locale and localized versions.
//!
//! A version's text holds placeholders as Dynamics writes them, `{CustomerName}`, `{CaseName}` or any custom name,
//! filled from the values a send gives (names are not case-sensitive). The text is a MiniJinja template whose
//! variables are written `{name}` rather than `{{ name }}`, so filters and conditions work too
//! (`{CustomerName|title}`, `{% if CaseName %}…{% endif %}`). It is sandboxed: no template can read a file or
//! include another (there is no loader), every loop and call spends fuel from a fixed budget, and what it renders
//! is bounded.

use std::{collections::BTreeMap, sync::OnceLock};

use minijinja::{Environment, UndefinedBehavior, syntax::SyntaxConfig};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    Code, Error, Timestamp,
    account::Language,
    ids::{ChannelId, MessageTemplateId, OutboundConfigId},
    message::WhatsappTemplate,
    setup::ChannelType,
};

/// Localized versions a template holds at most.
pub const MAX_VERSIONS: usize = 50;
/// The longest text a version may be written as.
pub const MAX_SOURCE_CHARS: usize = 4_000;
/// The longest SMS a template may render: ten concatenated segments (Twilio refuses a body over 1,600).
pub const MAX_SMS_CHARS: usize = 1_600;
/// The longest WhatsApp text a template may render (the Cloud API's limit on a text message's body).
pub const MAX_WHATSAPP_CHARS: usize = 4_096;
/// Work one rendering may do: enough for any message, far too little for a runaway loop.
const FUEL: u64 = 20_000;
/// Names the template engine defines itself, which are never placeholders.
const ENGINE_NAMES: [&str; 7] = ["range", "dict", "namespace", "debug", "lipsum", "cycler", "joiner"];

/// A template's version for one locale: its text, and on WhatsApp, instead or as well, the approved provider
/// template it goes as (Twilio's content SID or Meta's name and language) with placeholders in its `parameters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateVersion {
    /// A BCP 47 tag (`en-US`) or a Windows LCID (`1033`), kept as the tag.
    #[schema(value_type = String, example = "en-US")]
    pub locale: Locale,
    /// The message, with `{Placeholder}`s (up to 4,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Hi {CustomerName}, your case {CaseName} is resolved.")]
    pub text: Option<String>,
    /// WhatsApp: the provider template sent (outside the 24-hour window only a template reaches the customer);
    /// each of its `parameters` may hold placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<WhatsappTemplate>,
}

/// An outbound message template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageTemplate {
    pub id: MessageTemplateId,
    pub name: String,
    /// `sms` or `whatsapp`.
    pub channel_type: ChannelType,
    /// The version used when a send asks for a locale the template has no version of.
    #[schema(value_type = String, example = "en-US")]
    pub default_locale: Locale,
    pub versions: Vec<TemplateVersion>,
    /// Every placeholder any version uses, as first written, sorted.
    pub placeholders: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An outbound configuration: what a send names instead of a channel and a template. Its id is what Dynamics calls
/// `msdyn_ocoutboundconfigurationid`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OutboundConfig {
    pub id: OutboundConfigId,
    pub name: String,
    /// Whether each message is recorded as an activity on the record it regards (yes for messages a record's
    /// event sends, no for bulk sends).
    pub show_in_timeline: bool,
    /// `sms` or `whatsapp`: the channel's and the template's.
    pub channel_type: ChannelType,
    /// The channel (a number, or a WhatsApp sender) messages go out on, and customers' replies come back to.
    pub channel_id: ChannelId,
    pub template_id: MessageTemplateId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A locale a contact or a template names: a BCP 47 tag, or a Windows LCID as Dynamics stores a user's language
/// (`1033` is `en-US`); kept as the tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(Language);

impl Locale {
    pub fn parse(s: impl Into<String>) -> Result<Self, String> {
        let s: String = s.into();
        if !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()) {
            let lcid: u32 = s.parse().map_err(|_| crate::text::coded(Code::InvalidField, "not an LCID"))?;
            let tag = LCIDS.iter().find(|(id, _)| *id == lcid).map(|(_, tag)| *tag).ok_or_else(|| {
                crate::text::coded(Code::InvalidField, "an LCID this server does not know: give a BCP 47 tag (`en-US`)")
            })?;
            return Language::parse(tag).map(Locale);
        }
        Language::parse(s).map(Locale)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The language subtag: `en` of `en-US`.
    fn language(&self) -> &str {
        self.as_str().split('-').next().unwrap_or_default()
    }
}

impl TryFrom<String> for Locale {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Locale::parse(s)
    }
}

impl From<Locale> for String {
    fn from(l: Locale) -> String {
        l.as_str().to_string()
    }
}

impl ToSchema for Locale {}
impl utoipa::PartialSchema for Locale {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        String::schema()
    }
}

/// The Windows LCIDs of the languages Dynamics 365 ships in, as a contact's preferred language names them.
const LCIDS: [(u32, &str); 46] = [
    (1025, "ar-SA"),
    (1026, "bg-BG"),
    (1027, "ca-ES"),
    (1028, "zh-TW"),
    (1029, "cs-CZ"),
    (1030, "da-DK"),
    (1031, "de-DE"),
    (1032, "el-GR"),
    (1033, "en-US"),
    (1035, "fi-FI"),
    (1036, "fr-FR"),
    (1037, "he-IL"),
    (1038, "hu-HU"),
    (1040, "it-IT"),
    (1041, "ja-JP"),
    (1042, "ko-KR"),
    (1043, "nl-NL"),
    (1044, "nb-NO"),
    (1045, "pl-PL"),
    (1046, "pt-BR"),
    (1048, "ro-RO"),
    (1049, "ru-RU"),
    (1050, "hr-HR"),
    (1051, "sk-SK"),
    (1053, "sv-SE"),
    (1054, "th-TH"),
    (1055, "tr-TR"),
    (1057, "id-ID"),
    (1058, "uk-UA"),
    (1060, "sl-SI"),
    (1061, "et-EE"),
    (1062, "lv-LV"),
    (1063, "lt-LT"),
    (1066, "vi-VN"),
    (1069, "eu-ES"),
    (1081, "hi-IN"),
    (1086, "ms-MY"),
    (1087, "kk-KZ"),
    (1110, "gl-ES"),
    (2052, "zh-CN"),
    (2057, "en-GB"),
    (2070, "pt-PT"),
    (2074, "sr-Latn-RS"),
    (3076, "zh-HK"),
    (3082, "es-ES"),
    (3084, "fr-CA"),
];

/// What a template renders for one send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rendered {
    /// The locale of the version used.
    #[schema(value_type = String)]
    pub locale: Locale,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// WhatsApp: the provider template with its parameters filled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<WhatsappTemplate>,
}

/// The one environment every template is rendered in: `{name}` variables, no loader, strict about names nobody
/// gave a value, a fuel budget per rendering.
fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .variable_delimiters("{", "}")
            .block_delimiters("{%", "%}")
            .comment_delimiters("{#", "#}")
            .build();
        match syntax {
            Ok(syntax) => env.set_syntax(syntax),
            // The delimiters are constants that build; were they ever refused, templates would need `{{ }}`.
            Err(e) => debug_assert!(false, "template syntax: {e}"),
        }
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(16);
        env
    })
}

/// The placeholders `source` uses, or why it does not compile (in the engine's words, with the line).
fn placeholders_of(source: &str) -> Result<Vec<String>, String> {
    let template = environment().template_from_str(source).map_err(|e| describe(&e))?;
    let mut names: Vec<String> =
        template.undeclared_variables(false).into_iter().filter(|n| !ENGINE_NAMES.contains(&n.as_str())).collect();
    names.sort();
    Ok(names)
}

fn describe(e: &minijinja::Error) -> String {
    match (e.detail(), e.line()) {
        (Some(detail), Some(line)) => format!("{} on line {line}: {detail}", e.kind()),
        (Some(detail), None) => format!("{}: {detail}", e.kind()),
        (None, Some(line)) => format!("{} on line {line}", e.kind()),
        (None, None) => e.kind().to_string(),
    }
}

/// Renders `source` with `values`, each placeholder matched to a value by name ignoring case. `Err` when a
/// placeholder has no value (`missing_placeholder`, naming them), two values differ only in the case of their
/// names (`conflicting_placeholder`), or the template fails or runs out of fuel (`invalid_field`).
fn render_one(source: &str, values: &BTreeMap<String, String>, field: &str) -> Result<String, Error> {
    let names = placeholders_of(source).map_err(|e| Error::field(Code::InvalidField, field, e))?;
    let mut context = BTreeMap::new();
    let mut missing = Vec::new();
    for name in &names {
        let mut found = values.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        match (found.next(), found.next()) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::field(
                    Code::ConflictingPlaceholder,
                    field,
                    format!("`{name}` was given two different values"),
                ));
            }
            (Some(v), _) => {
                context.insert(name.clone(), v.clone());
            }
            (None, _) => missing.push(format!("{{{name}}}")),
        }
    }
    if !missing.is_empty() {
        return Err(Error::field(Code::MissingPlaceholder, field, format!("no value for {}", missing.join(", "))));
    }
    let template =
        environment().template_from_str(source).map_err(|e| Error::field(Code::InvalidField, field, describe(&e)))?;
    template.render(context).map_err(|e| Error::field(Code::InvalidField, field, describe(&e)))
}

impl MessageTemplate {
    /// The version for `locale`: the one of that tag, else the first of its language (`fr-CA` for `fr-FR`), else
    /// the default locale's.
    pub fn version_for(&self, locale: Option<&Locale>) -> Option<&TemplateVersion> {
        let of = |l: &Locale| {
            self.versions
                .iter()
                .find(|v| v.locale == *l)
                .or_else(|| self.versions.iter().find(|v| v.locale.language() == l.language()))
        };
        locale.and_then(of).or_else(|| self.versions.iter().find(|v| v.locale == self.default_locale))
    }

    /// The message for `locale`, its placeholders filled from `values`.
    pub fn render(&self, locale: Option<&Locale>, values: &BTreeMap<String, String>) -> Result<Rendered, Error> {
        let version = self
            .version_for(locale)
            .ok_or_else(|| Error::new(Code::InvalidField, "the template has no version for its default locale"))?;
        let text = version.text.as_deref().map(|t| render_one(t, values, "text")).transpose()?;
        let limit = if self.channel_type == ChannelType::Sms { MAX_SMS_CHARS } else { MAX_WHATSAPP_CHARS };
        if let Some(text) = &text
            && text.chars().count() > limit
        {
            return Err(Error::field(
                Code::InvalidField,
                "text",
                format!("the message renders to over {limit} characters"),
            ));
        }
        let whatsapp = match &version.whatsapp {
            None => None,
            Some(w) => {
                let mut filled = w.clone();
                filled.parameters = w
                    .parameters
                    .iter()
                    .enumerate()
                    .map(|(i, p)| render_one(p, values, &format!("whatsapp.parameters[{i}]")))
                    .collect::<Result<_, _>>()?;
                filled.check()?;
                Some(filled)
            }
        };
        Ok(Rendered { locale: version.locale.clone(), text, whatsapp })
    }
}

/// What a template is made of, as it is created or replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateContent {
    pub channel_type: ChannelType,
    #[schema(value_type = String, example = "en-US")]
    pub default_locale: Locale,
    /// One for each locale (at most 50), the default locale's among them.
    pub versions: Vec<TemplateVersion>,
}

impl TemplateContent {
    /// Refuses a template that could not be sent: a channel type other than SMS and WhatsApp, no version for the
    /// default locale, two versions of one locale, a version with nothing to send (SMS needs text; WhatsApp text
    /// or a provider template), text that does not compile or is too long, a provider template that is not one.
    /// Each version is rendered once with every placeholder filled, so that a template that loops for ever or
    /// renders too much is refused here, not at its first send. Returns the placeholders used.
    pub fn check(&self) -> Result<Vec<String>, Error> {
        let bad = |field: String, detail: String| Err(Error::field(Code::InvalidField, field, detail));
        if !matches!(self.channel_type, ChannelType::Sms | ChannelType::Whatsapp) {
            return bad("channel_type".into(), "templates are for `sms` and `whatsapp`".into());
        }
        if self.versions.is_empty() || self.versions.len() > MAX_VERSIONS {
            return bad("versions".into(), format!("1 to {MAX_VERSIONS} versions"));
        }
        let mut placeholders = std::collections::BTreeSet::new();
        for (i, v) in self.versions.iter().enumerate() {
            if self.versions[..i].iter().any(|w| w.locale == v.locale) {
                return bad(format!("versions[{i}].locale"), format!("two versions for {}", v.locale.as_str()));
            }
            match (self.channel_type, &v.text, &v.whatsapp) {
                (ChannelType::Sms, None, _) => {
                    return Err(Error::field(
                        Code::MissingField,
                        format!("versions[{i}].text"),
                        "an SMS template has text",
                    ));
                }
                (ChannelType::Sms, _, Some(_)) => {
                    return bad(format!("versions[{i}].whatsapp"), "an SMS template has text only".into());
                }
                (_, None, None) => {
                    return Err(Error::field(
                        Code::MissingField,
                        format!("versions[{i}].text"),
                        "a WhatsApp version has text, a provider template, or both",
                    ));
                }
                _ => {}
            }
            if let Some(text) = &v.text {
                let field = format!("versions[{i}].text");
                if text.trim().is_empty() || text.chars().count() > MAX_SOURCE_CHARS {
                    return bad(field, format!("1 to {MAX_SOURCE_CHARS} characters"));
                }
                placeholders.extend(placeholders_of(text).map_err(|e| Error::field(Code::InvalidField, field, e))?);
            }
            if let Some(w) = &v.whatsapp {
                for (j, p) in w.parameters.iter().enumerate() {
                    let field = format!("versions[{i}].whatsapp.parameters[{j}]");
                    placeholders.extend(placeholders_of(p).map_err(|e| Error::field(Code::InvalidField, field, e))?);
                }
            }
        }
        if !self.versions.iter().any(|v| v.locale == self.default_locale) {
            return bad("default_locale".into(), "the default locale has no version".into());
        }
        // A trial rendering, every placeholder filled with its own name: what fails now would fail every send.
        let trial = MessageTemplate {
            id: MessageTemplateId::new(),
            name: String::new(),
            channel_type: self.channel_type,
            default_locale: self.default_locale.clone(),
            versions: self.versions.clone(),
            placeholders: Vec::new(),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        };
        let values: BTreeMap<String, String> = placeholders.iter().map(|p| (p.clone(), p.clone())).collect();
        for (i, v) in self.versions.iter().enumerate() {
            trial.render(Some(&v.locale), &values).map_err(|mut e| {
                e.field = e.field.map(|f| format!("versions[{i}].{f}"));
                e
            })?;
        }
        Ok(placeholders.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(versions: &[(&str, &str)]) -> TemplateContent {
        TemplateContent {
            channel_type: ChannelType::Sms,
            default_locale: Locale::parse(versions[0].0).unwrap(),
            versions: versions
                .iter()
                .map(|(l, t)| TemplateVersion {
                    locale: Locale::parse(*l).unwrap(),
                    text: Some(t.to_string()),
                    whatsapp: None,
                })
                .collect(),
        }
    }

    fn template(content: TemplateContent) -> MessageTemplate {
        let placeholders = content.check().unwrap();
        MessageTemplate {
            id: MessageTemplateId::new(),
            name: "t".into(),
            channel_type: content.channel_type,
            default_locale: content.default_locale,
            versions: content.versions,
            placeholders,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        }
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn placeholders_are_filled_ignoring_case_and_a_missing_one_is_named() {
        let t = template(sms(&[("en-US", "Hi {CustomerName}, case {CaseName} is resolved.")]));
        assert_eq!(t.placeholders, ["CaseName", "CustomerName"]);
        let out = t.render(None, &values(&[("customername", "Grace"), ("CASENAME", "CAS-01")])).unwrap();
        assert_eq!(out.text.as_deref(), Some("Hi Grace, case CAS-01 is resolved."));
        let e = t.render(None, &values(&[("CustomerName", "Grace")])).unwrap_err();
        assert_eq!((e.code, e.detail.as_str()), (Code::MissingPlaceholder, "no value for {CaseName}"));
        let e = t
            .render(None, &values(&[("CustomerName", "Grace"), ("customername", "Ada"), ("CaseName", "1")]))
            .unwrap_err();
        assert_eq!(e.code, Code::ConflictingPlaceholder);
        // The same value under two spellings is no conflict.
        let same = values(&[("CustomerName", "Grace"), ("customername", "Grace"), ("CaseName", "1")]);
        assert!(t.render(None, &same).is_ok());
    }

    #[test]
    fn a_locale_falls_back_to_its_language_then_the_default_and_lcids_are_tags() {
        let t = template(sms(&[("en-US", "Hello {Name}"), ("fr-FR", "Bonjour {Name}"), ("de", "Hallo {Name}")]));
        let name = values(&[("Name", "Ana")]);
        let render = |l: &str| t.render(Some(&Locale::parse(l).unwrap()), &name).unwrap();
        assert_eq!(render("fr-FR").text.as_deref(), Some("Bonjour Ana"));
        assert_eq!(render("1036").locale.as_str(), "fr-FR");
        assert_eq!(render("3084").text.as_deref(), Some("Bonjour Ana"), "fr-CA finds the French version");
        assert_eq!(render("1031").text.as_deref(), Some("Hallo Ana"));
        assert_eq!(render("ja-JP").text.as_deref(), Some("Hello Ana"), "no Japanese: the default");
        assert_eq!(t.render(None, &name).unwrap().locale.as_str(), "en-US");
        assert!(Locale::parse("99999").is_err());
        assert!(Locale::parse("english").is_err());
    }

    #[test]
    fn templates_that_could_never_be_sent_are_refused_when_saved() {
        let field = |c: TemplateContent| {
            let e = c.check().unwrap_err();
            (e.code, e.field.unwrap_or_default())
        };
        assert_eq!(field(sms(&[("en-US", "Hi {Name")])), (Code::InvalidField, "versions[0].text".into()));
        // Loops run on a fuel budget: one that would not end is stopped, and refused.
        let endless = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        assert_eq!(field(sms(&[("en-US", endless)])), (Code::InvalidField, "versions[0].text".into()));
        // No loader: nothing to include, no file to read.
        assert_eq!(
            field(sms(&[("en-US", "{% include '/etc/passwd' %}")])),
            (Code::InvalidField, "versions[0].text".into())
        );
        let long = "{% for i in range(200) %}0123456789{% endfor %}";
        assert_eq!(field(sms(&[("en-US", long)])), (Code::InvalidField, "versions[0].text".into()));
        assert_eq!(field(sms(&[("en-US", "a"), ("en-US", "b")])), (Code::InvalidField, "versions[1].locale".into()));
        let mut no_default = sms(&[("en-US", "a")]);
        no_default.default_locale = Locale::parse("fr").unwrap();
        assert_eq!(field(no_default), (Code::InvalidField, "default_locale".into()));
        // A literal brace is an expression of its own.
        let t = template(sms(&[("en-US", "Reply with { '{' }CODE} to confirm.")]));
        assert!(t.placeholders.is_empty());
        assert_eq!(t.render(None, &values(&[])).unwrap().text.as_deref(), Some("Reply with {CODE} to confirm."));
        // Filters and conditions are the engine's own.
        let t = template(sms(&[("en-US", "Hi {Name|upper}{% if Case %}, case {Case}{% endif %}.")]));
        assert_eq!(t.render(None, &values(&[("Name", "ana"), ("Case", "")])).unwrap().text.as_deref(), Some("Hi ANA."));
    }

    #[test]
    fn whatsapp_parameters_hold_placeholders() {
        let w = WhatsappTemplate {
            name: None,
            language: None,
            content_sid: Some("HX0123456789abcdef0123456789abcdef".into()),
            parameters: vec!["{CustomerName}".into(), "{CaseName}".into()],
            components: Vec::new(),
        };
        let content = TemplateContent {
            channel_type: ChannelType::Whatsapp,
            default_locale: Locale::parse("en-US").unwrap(),
            versions: vec![TemplateVersion { locale: Locale::parse("en-US").unwrap(), text: None, whatsapp: Some(w) }],
        };
        let t = template(content);
        assert_eq!(t.placeholders, ["CaseName", "CustomerName"]);
        let out = t.render(None, &values(&[("CustomerName", "Grace"), ("CaseName", "CAS-7")])).unwrap();
        assert_eq!(out.whatsapp.unwrap().parameters, ["Grace", "CAS-7"]);
    }
}
