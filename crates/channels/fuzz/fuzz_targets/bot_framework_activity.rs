//! Any bytes posted to the Bot Framework messaging endpoint: read, bounded and turned into an inbound without a
//! panic, and the reply reference that yields rendered without one.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_channels::bot_framework::{
    outbound::{self, Outgoing},
    parse_activity, to_inbound,
};

fuzz_target!(|data: &[u8]| {
    let Ok(activity) = parse_activity(data) else { return };
    let Ok(Some(inbound)) = to_inbound(activity) else { return };
    if let Some(reply_to) = inbound.reply_to {
        let what = Outgoing::Message { text: Some("x".into()), attachments: vec![], agent_name: Some("a".into()) };
        let _ = outbound::render(&reply_to, &what);
        let _ = outbound::render(&reply_to, &Outgoing::End { code: None });
    }
    // The rendered reference also comes back from the store as arbitrary JSON.
    if let Ok(stored) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = outbound::render(&stored, &Outgoing::Typing { agent_name: None });
    }
});
