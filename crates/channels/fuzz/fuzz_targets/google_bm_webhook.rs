//! Any bytes posted to a Google's Business Messages webhook: the signature checked, then read, bounded and turned
//! into an inbound without a panic, and the reply address that yields rendered without one.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_channels::google_bm::{self, EventType, Outgoing, Representative, Webhook};

fuzz_target!(|data: &[u8]| {
    let _ = google_bm::verify("client-token", data, std::str::from_utf8(data).ok());
    let Ok(Webhook::Event(event)) = google_bm::parse(data) else { return };
    let Ok(Some(inbound)) = google_bm::to_inbound(&event) else { return };
    let representative = Representative { human: true, display_name: Some("a".into()) };
    if let Some(reply_to) = inbound.reply_to {
        let what = Outgoing::Message {
            id: "m".into(),
            text: Some("x".into()),
            files: vec![],
            suggestions: vec!["yes".into()],
            representative: representative.clone(),
        };
        let _ = google_bm::render("https://businessmessages.googleapis.com", &reply_to, &what);
    }
    // The reply address also comes back from the store as arbitrary JSON.
    if let Ok(stored) = serde_json::from_slice::<serde_json::Value>(data) {
        let what = Outgoing::Event { id: "e".into(), kind: EventType::TypingStarted, representative };
        let _ = google_bm::render("https://businessmessages.googleapis.com", &stored, &what);
    }
});
