//! Unified routing (reference §6): who gets which conversation, when, and how long a customer waits.
//!
//! Everything here is pure and driven by explicit time, so the server, the property tests and `switchboard
//! simulate` all run the same code.

pub mod agent_attributes;
pub mod assignment_rules;
pub mod calendar;
pub mod capacity_reset;
pub mod engine;
pub mod overflow;
pub mod rules;
pub mod simulate;
pub mod wait;
pub mod wait_tracker;
