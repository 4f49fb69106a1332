//! rollsim: a simulation and replay harness for progressive-rollout policies.
//!
//! Layers, each using only those listed before it (checked by
//! `tests/tidy.rs`; see ARCHITECTURE.md):
//!
//! 1. [`time`], then [`engine`] — the phase-and-rollback state machine (pure;
//!    usable by a real controller; with [`time`], the whole library built with
//!    `--no-default-features`), then [`units`], [`stats`], [`outdir`];
//! 2. [`io`] — readers and writers of recorded series and trial tables, then
//!    [`promql`] — PromQL evaluated as Prometheus does, metric-naming profiles;
//! 3. [`scenario`] → [`import`] (Argo Rollouts, Flagger, Prometheus rules) → [`sim`] → [`runner`], [`rows`], [`summary`];
//! 4. [`report`] → [`compare`] → [`replay`] → [`sweep`] → [`shard`];
//! 5. the `rollsim` binary (`src/cli/`).

pub mod engine;
pub mod time;

#[cfg(feature = "harness")]
pub mod compare;
#[cfg(feature = "harness")]
pub mod import;
#[cfg(feature = "harness")]
pub mod io;
#[cfg(feature = "harness")]
pub mod outdir;
#[cfg(feature = "harness")]
pub mod promql;
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
