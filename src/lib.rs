//! rollsim: a simulation and replay harness for progressive-rollout policies.
//!
//! Layers, each importing only from those listed before it (checked by
//! `tests/tidy.rs`; see ARCHITECTURE.md):
//!
//! 1. base: [`time`], [`units`], [`stats`], [`outdir`];
//! 2. [`engine`] — the phase-and-rollback state machine (pure; usable by a real
//!    controller; the only layer built with `--no-default-features`);
//! 3. [`io`] — readers and writers of recorded series and trial tables;
//! 4. [`scenario`] — scenario files: parsing, validation, the built-in seed scenario;
//! 5. [`sim`] — the discrete-event fleet simulator and the fault library;
//! 6. [`runner`], [`rows`], [`summary`] — parallel trials, per-trial figures, aggregates;
//! 7. [`report`], [`compare`], [`sweep`], [`replay`], [`shard`] — what users ask for;
//! 8. the `rollsim` binary (`src/cli/`).

pub mod engine;
pub mod time;

#[cfg(feature = "harness")]
pub mod compare;
#[cfg(feature = "harness")]
pub mod io;
#[cfg(feature = "harness")]
pub mod outdir;
#[cfg(feature = "harness")]
pub mod replay;
#[cfg(feature = "harness")]
pub mod report;
#[cfg(feature = "harness")]
pub mod rows;
#[cfg(feature = "harness")]
pub mod runner;
#[cfg(feature = "harness")]
pub mod scenario;
#[cfg(feature = "harness")]
pub mod shard;
#[cfg(feature = "harness")]
pub mod sim;
#[cfg(feature = "harness")]
pub mod stats;
#[cfg(feature = "harness")]
pub mod summary;
#[cfg(feature = "harness")]
pub mod sweep;
#[cfg(feature = "harness")]
pub mod units;
