//! rollsim: a simulation and replay harness for progressive-rollout policies.
//!
//! * [`engine`] — the phase-and-rollback state machine (pure; usable by a real controller).
//! * [`scenario`] — scenario files: parsing, validation, the built-in seed scenario.
//! * [`time`], [`units`] — simulated time and the human units of scenario files.

pub mod engine;
pub mod scenario;
pub mod time;
pub mod units;
