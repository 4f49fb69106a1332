//! Deterministic shards: `--shard i/n` runs a contiguous slice of a run's
//! trials and writes a partial result; merging the n slices gives exactly the
//! report one machine would have written (trial k depends only on the
//! scenario, the seed and k).

use crate::report::{self, RunMeta};
use crate::scenario::{print, Scenario};
use crate::sim::TrialRecord;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Shard `index` of `count` (0-based, as Kubernetes Indexed Jobs and Slurm arrays count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let err = || format!("expected a shard as i/n with 0 <= i < n (e.g. 0/4), found {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(err)?;
        let (index, count): (u64, u64) = (i.trim().parse().map_err(|_| err())?, n.trim().parse().map_err(|_| err())?);
        if count == 0 || index >= count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// The contiguous slice of `0..trials` this shard runs.
    pub fn range(self, trials: u64) -> Range<u64> {
        let at = |i: u64| ((i as u128 * trials as u128) / self.count as u128) as u64;
        at(self.index)..at(self.index + 1)
    }
}

const SHARD_FILE: &str = "shard.json";

/// Writes a shard folder: `shard.json` (identity and slice), `scenario.toml`
/// (canonical), `trials.parquet` (this slice's rows).
pub fn write(dir: &Path, sc: &Scenario, meta: &RunMeta, shard: Shard, records: &[TrialRecord]) -> Result<(), String> {
    let range = shard.range(meta.trials);
    let info = serde_json::json!({
        "schema": 1,
        "kind": "rollsim-shard",
        "scenario": meta.scenario,
        "scenario_hash": meta.scenario_hash,
        "seed": meta.seed,
        "trials": meta.trials,
        "shard": shard.index,
        "shards": shard.count,
        "first_trial": range.start,
        "end_trial": range.end,
        "program_version": meta.program_version,
        "reproduce": meta.reproduce,
    });
    let tmp =
        dir.with_file_name(format!(".{}.partial", dir.file_name().map_or("shard".into(), |n| n.to_string_lossy())));
    let io = |p: &Path, e: std::io::Error| format!("cannot write {}: {e}", p.display());
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    let mut df = report::trial_table(sc, records).map_err(|e| format!("cannot build the trial table: {e}"))?;
    let pq = tmp.join("trials.parquet");
    let file = std::fs::File::create(&pq).map_err(|e| io(&pq, e))?;
    polars::prelude::ParquetWriter::new(file)
        .finish(&mut df)
        .map_err(|e| format!("cannot write {}: {e}", pq.display()))?;
    let toml_path = tmp.join("scenario.toml");
    std::fs::write(&toml_path, print::to_toml(sc)).map_err(|e| io(&toml_path, e))?;
    let json_path = tmp.join(SHARD_FILE);
    let text = serde_json::to_string_pretty(&info).expect("JSON values serialise") + "\n";
    std::fs::write(&json_path, text).map_err(|e| io(&json_path, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| io(dir, e))
}

/// A merged run: what `rollsim run` would have had in memory.
pub struct Merged {
    pub scenario: Scenario,
    pub meta: RunMeta,
    pub records: Vec<TrialRecord>,
}

/// Reads shard folders and checks that they are the n slices of one run,
/// each exactly once; errors name the folder and file.
pub fn merge(dirs: &[PathBuf]) -> Result<Merged, String> {
    let mut parts: Vec<(u64, Vec<TrialRecord>)> = Vec::new();
    let mut first: Option<(Scenario, RunMeta, u64)> = None;
    for dir in dirs {
        let json_path = dir.join(SHARD_FILE);
        let at = |m: String| format!("{}: {m}", json_path.display());
        let text = std::fs::read_to_string(&json_path).map_err(|e| at(format!("cannot read: {e}")))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| at(format!("not valid JSON: {e}")))?;
        if v["kind"] != "rollsim-shard" {
            return Err(at("not a rollsim shard (kind is not \"rollsim-shard\")".into()));
        }
        let num = |k: &str| v[k].as_u64().ok_or_else(|| at(format!("`{k}` is missing or not a number")));
        let text_of = |k: &str| v[k].as_str().map(str::to_string).ok_or_else(|| at(format!("`{k}` is missing")));
        let (index, count, trials, seed) = (num("shard")?, num("shards")?, num("trials")?, num("seed")?);
        let meta = RunMeta {
            scenario: text_of("scenario")?,
            scenario_hash: text_of("scenario_hash")?,
            seed,
            trials,
            program_version: text_of("program_version")?,
            reproduce: text_of("reproduce")?,
        };
        let toml_path = dir.join("scenario.toml");
        let sc = Scenario::load(&toml_path).map_err(|e| e.to_string())?;
        if report::scenario_hash(&sc) != meta.scenario_hash {
            return Err(format!("{}: does not match the scenario hash in {SHARD_FILE}", toml_path.display()));
        }
        match &first {
            None => first = Some((sc.clone(), meta.clone(), count)),
            Some((_, m, n)) => {
                if m.scenario_hash != meta.scenario_hash || m.seed != seed || m.trials != trials || *n != count {
                    return Err(at(format!(
                        "belongs to another run (scenario hash {}, seed {seed}, {trials} trials, {count} shards; the first shard has {}, seed {}, {} trials, {n} shards)",
                        &meta.scenario_hash[..12], &m.scenario_hash[..12], m.seed, m.trials
                    )));
                }
            }
        }
        if parts.iter().any(|(i, _)| *i == index) {
            return Err(at(format!("shard {index}/{count} is given twice")));
        }
        let pq = dir.join("trials.parquet");
        let df = report::read_parquet(&pq).map_err(|e| format!("{}: {e}", pq.display()))?;
        let records = report::read_records(&sc, &df).map_err(|e| format!("{}: {e}", pq.display()))?;
        let want = Shard { index, count }.range(trials);
        let got: Vec<u64> = records.iter().map(|r| r.trial).collect();
        if got != want.clone().collect::<Vec<_>>() {
            return Err(format!("{}: expected trials {}..{} in order", pq.display(), want.start, want.end));
        }
        parts.push((index, records));
    }
    let Some((scenario, meta, count)) = first else {
        return Err("no shard folders given".into());
    };
    let missing: Vec<String> =
        (0..count).filter(|i| !parts.iter().any(|(j, _)| j == i)).map(|i| format!("{i}/{count}")).collect();
    if !missing.is_empty() {
        return Err(format!("missing shards: {}", missing.join(", ")));
    }
    parts.sort_by_key(|p| p.0);
    let records = parts.into_iter().flat_map(|p| p.1).collect();
    Ok(Merged { scenario, meta, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_trials_into_contiguous_slices() {
        let n = 4;
        let ranges: Vec<Range<u64>> = (0..n).map(|i| Shard { index: i, count: n }.range(10)).collect();
        assert_eq!(ranges, vec![0..2, 2..5, 5..7, 7..10]);
        assert_eq!("3/4".parse::<Shard>(), Ok(Shard { index: 3, count: 4 }));
        for bad in ["4/4", "1", "a/2", "0/0"] {
            assert!(bad.parse::<Shard>().unwrap_err().contains("i/n"), "{bad}");
        }
    }
}
