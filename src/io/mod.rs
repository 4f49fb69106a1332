//! Readers and writers of data files, below the scenario and the simulator:
//! recorded metric series (`series`: CSV, Parquet, Prometheus JSON; `record`:
//! the writers of `rollsim record`) and the trial table's bytes on disk
//! (`trials`: Parquet with its checksum, CSV). This layer knows the engine's
//! metric names and nothing above them; domain types are converted by callers.

pub mod record;
pub mod series;
pub mod trials;

use std::path::{Path, PathBuf};

/// A data file that could not be written or read, with its path.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Table { path: PathBuf, source: polars::error::PolarsError },
    #[error(transparent)]
    Out(#[from] crate::outdir::OutError),
}

pub(crate) fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> IoError + '_ {
    move |source| IoError::Write { path: path.to_path_buf(), source }
}

/// Reads a Parquet file (a trial table, or a recording). Every Parquet read of
/// rollsim goes through here or through [`trials::read`].
///
/// polars' Parquet decoder can panic on corrupt bytes (an assertion in its page
/// decoder, found by fuzzing); such a panic is turned into an error here, at the
/// boundary, so a damaged file is a clear message and never an abort.
pub fn read_parquet(path: &Path) -> Result<polars::prelude::DataFrame, String> {
    use polars::prelude::*;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    guard(|| ParquetReader::new(file).finish().map_err(|e| format!("not a readable Parquet file: {e}")))
}

/// Runs `f`, which reads data decoded from a Parquet file; a panic inside polars
/// on corrupt data (its decoder, or a column whose buffers disagree) becomes an
/// error. Every conversion of Parquet data into rollsim's types runs under it.
pub fn guard<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    guard_with(f, |m| m.to_string())
}

/// [`guard`] for a reader with an error type of its own: `corrupt` makes it
/// from the message.
pub fn guard_with<T, E>(f: impl FnOnce() -> Result<T, E>, corrupt: impl FnOnce(&str) -> E) -> Result<T, E> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(corrupt("not a readable Parquet file: its data is corrupt (the Parquet decoder failed)"))
    })
}
