//! rollsim: a simulation and replay harness for progressive-rollout policies.
//!
//! * [`compare`] — paired or unpaired comparison of two policies or runs.
//! * [`engine`] — the phase-and-rollback state machine (pure; usable by a real controller).
//! * [`scenario`] — scenario files: parsing, validation, the built-in seed scenario.
//! * [`sim`] — the discrete-event fleet simulator and the fault library.
//! * [`runner`] — parallel runs over trials (rayon).
//! * [`summary`], [`stats`] — per-fault-kind aggregates with confidence intervals.
//! * [`outdir`] — the one output discipline: never write over a user's files.
//! * [`time`], [`units`] — simulated time and the human units of scenario files.

pub mod compare;
pub mod engine;
pub mod io;
pub mod outdir;
pub mod replay;
pub mod report;
pub mod rows;
pub mod runner;
pub mod scenario;
pub mod shard;
pub mod sim;
pub mod stats;
pub mod summary;
pub mod sweep;
pub mod time;
pub mod units;
