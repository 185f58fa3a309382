//! The transports of the custom messaging channels: the network half of each adapter whose protocol lives, without
//! I/O, in `switchboard_channels`.

pub mod bot_framework;
