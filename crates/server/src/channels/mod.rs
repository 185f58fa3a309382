//! Custom channels' provider set-up: messaging accounts and what their kinds need from the outside world.

pub mod accounts;
