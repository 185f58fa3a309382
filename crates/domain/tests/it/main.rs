//! The domain crate's integration tests: routing properties and scenarios, calendars, rules.

#![allow(clippy::unwrap_used)]
mod assignment_attributes;
mod calendar;
mod capacity_reset;
mod routing_engine;
mod rules;
mod simulate;
