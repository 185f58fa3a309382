//! Any bytes posted to a WhatsApp (Meta Cloud API) webhook: the signature checked and the notification read into
//! messages and statuses without a panic, and a reply rendered to every sender it names.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_channels::meta::{self, Event, outbound};

fuzz_target!(|data: &[u8]| {
    let _ = meta::verify_signature(b"app-secret", std::str::from_utf8(data).ok(), data);
    let Ok(notification) = meta::parse_notification(data) else { return };
    for event in notification.events {
        if let Event::Message(m) = event
            && let Some(to) = m.inbound.reply_to.as_ref().and_then(|r| r["wa_id"].as_str())
        {
            let _ = outbound::render(to, &outbound::Outgoing::Text { body: "x".into() }, m.inbound.provider_message_id.as_deref());
        }
    }
    // Template messages come from administrators as JSON too.
    if let Ok(template) = serde_json::from_slice::<outbound::Template>(data) {
        let _ = template.check();
        let _ = outbound::render("1", &outbound::Outgoing::Template(template), None);
    }
});
