//! Any bytes posted to a TeleSign channel's callback URL: the `TSA` signature checked and the callback read as a
//! customer's message or a delivery report without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_channels::telesign;

fuzz_target!(|data: &[u8]| {
    let header = std::str::from_utf8(data).ok();
    let _ = telesign::verify_callback("FFFFFFFF-EEEE-DDDD-1234-AB1234567890", "QUJDMTIzNDU=", header, data);
    let _ = telesign::parse_callback(data);
});
