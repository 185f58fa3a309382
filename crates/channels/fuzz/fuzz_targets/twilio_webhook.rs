//! Any bytes posted to a Twilio channel's webhooks: read as a form, checked against a signature, and parsed as a
//! customer's message and as a status callback, without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_channels::{
    phone::{Keyword, segments},
    twilio::{parse_form, parse_message, parse_status, verify},
};

fuzz_target!(|data: &[u8]| {
    let Ok(params) = parse_form(data) else { return };
    let _ = verify("token", "https://sb.test/channels/twilio/x/messages?a=1", &params, "c2ln");
    if let Ok(message) = parse_message(&params)
        && let Some(body) = message.body.as_deref()
    {
        let _ = Keyword::parse(body);
        let _ = segments::count(body);
    }
    let _ = parse_status(&params);
});
