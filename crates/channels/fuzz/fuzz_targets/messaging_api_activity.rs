//! Any bytes an integrator posts to the Messaging API as an activity: read as the server reads the body, then
//! checked and turned into an inbound, or refused, without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_channels::messaging_api::{ActivityIn, compat_context, parse_activity};

fuzz_target!(|data: &[u8]| {
    let channel = "01900000-0000-7000-8000-000000000003".parse().expect("an id");
    let conversation = "01900000-0000-7000-8000-000000000002".parse().expect("an id");
    if let Ok(activity) = serde_json::from_slice::<ActivityIn>(data) {
        let _ = parse_activity(channel, conversation, activity);
    }
    // The conversation context of a create call is the same kind of map.
    if let Ok(map) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(data) {
        let _ = compat_context(&map, "conversationcontext");
    }
});
