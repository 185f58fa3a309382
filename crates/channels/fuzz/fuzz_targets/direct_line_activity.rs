//! Any bytes a Direct Line client posts as an activity, alone or as an upload's `activity` part, with or without a
//! user bound to its token: parsed into an inbound or refused, without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_channels::direct_line::parse;

fuzz_target!(|data: &[u8]| {
    for multipart in [false, true] {
        let _ = parse("01900000-0000-7000-8000-000000000002", data, None, multipart);
        let _ = parse("01900000-0000-7000-8000-000000000002", data, Some("dl_user-1"), multipart);
    }
});
