//! The trial table on disk: Parquet with a SHA-256 checksum file beside it, and
//! CSV. Which columns it holds is decided by `report::table`; this module only
//! moves its bytes, and refuses a damaged table before polars decodes it.

use super::{guard, write_err, IoError};
use polars::prelude::*;
use std::path::{Path, PathBuf};

/// Writes a trial table and its checksum file (`trials.sha256`, in `sha256sum`
/// format) beside it.
pub fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<(), IoError> {
    let file = std::fs::File::create(path).map_err(write_err(path))?;
    ParquetWriter::new(file).finish(df).map_err(|source| IoError::Table { path: path.to_path_buf(), source })?;
    let bytes = std::fs::read(path).map_err(write_err(path))?;
    let sum = checksum_path(path);
    let name = path.file_name().map_or_else(|| "trials.parquet".into(), |n| n.to_string_lossy().into_owned());
    std::fs::write(&sum, format!("{}  {name}\n", sha256_hex(&bytes))).map_err(write_err(&sum))
}

/// Writes the table as CSV for people and spreadsheets: floats at six decimals
/// (`74.677000`, not `74.67699999998695`); the Parquet table keeps every bit.
pub fn write_csv(path: &Path, df: &mut DataFrame) -> Result<(), IoError> {
    let mut file = std::fs::File::create(path).map_err(write_err(path))?;
    CsvWriter::new(&mut file)
        .with_float_precision(Some(6))
        .finish(df)
        .map_err(|source| IoError::Table { path: path.to_path_buf(), source })?;
    Ok(())
}

fn checksum_path(table: &Path) -> PathBuf {
    table.with_extension("sha256")
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a trial table that rollsim wrote, after checking it against its
/// checksum file: a damaged or altered table is refused before any decoding
/// (polars' Parquet decoder can abort the process on corrupt data, found by
/// fuzzing, which no error handling can catch).
pub fn read(path: &Path) -> Result<DataFrame, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot open: {e}"))?;
    let sum = checksum_path(path);
    let want = std::fs::read_to_string(&sum).map_err(|e| {
        format!(
            "cannot read its checksum file {}: {e} (folders written by rollsim hold one; re-run an older folder)",
            sum.display()
        )
    })?;
    let want = want.split_whitespace().next().unwrap_or("");
    if sha256_hex(&bytes) != want {
        return Err(format!(
            "does not match its checksum in {}: the file was damaged or changed after rollsim wrote it",
            sum.display()
        ));
    }
    guard(|| {
        ParquetReader::new(std::io::Cursor::new(bytes)).finish().map_err(|e| format!("not a readable trial table: {e}"))
    })
}
