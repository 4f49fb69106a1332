//! Deterministic shards: `--shard i/n` runs a contiguous slice of a run's
//! trials and writes a partial result; merging the n slices gives exactly the
//! report one machine would have written (trial k depends only on the
//! scenario, the seed and k).

use crate::report::{self, RunMeta};
use crate::scenario::Scenario;
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

/// Why shard folders cannot be written or merged; names the file.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Set(String),
    #[error(transparent)]
    Out(#[from] crate::outdir::OutError),
}

fn file_err(path: &Path) -> impl Fn(String) -> ShardError + '_ {
    move |message| ShardError::File { path: path.to_path_buf(), message }
}

/// `shard.json` of a run shard.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunShardInfo {
    schema: u32,
    kind: String,
    scenario: String,
    scenario_hash: String,
    seed: u64,
    trials: u64,
    shard: u64,
    shards: u64,
    first_trial: u64,
    end_trial: u64,
    program_version: String,
    reproduce: String,
}

/// `shard.json` of a sweep shard.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepShardInfo {
    schema: u32,
    kind: String,
    program_version: String,
    scenario: String,
    seed: u64,
    trials: u64,
    shard: u64,
    shards: u64,
    objective: Option<String>,
    variants: Vec<VariantInfo>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantInfo {
    id: String,
    /// `[path, value]` pairs the variant sets.
    settings: Vec<(String, String)>,
    scenario_hash: String,
}

const RUN_KIND: &str = "rollsim-shard";
const SWEEP_KIND: &str = "rollsim-sweep-shard";

fn write_info<T: serde::Serialize>(dir: &Path, info: &T) -> Result<(), ShardError> {
    let path = dir.join(SHARD_FILE);
    let text = serde_json::to_string_pretty(info).expect("shard info serialises") + "\n";
    std::fs::write(&path, text).map_err(|e| file_err(&path)(format!("cannot write: {e}")))
}

/// Reads a shard folder's `shard.json`, checking its kind and the program
/// version; errors name the file and the field.
fn read_info<T: serde::de::DeserializeOwned>(dir: &Path, kind: &str) -> Result<(PathBuf, T), ShardError> {
    let path = dir.join(SHARD_FILE);
    let at = file_err(&path);
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if dir.is_dir() => ShardError::File {
            path: dir.to_path_buf(),
            message: format!(
                "not a shard folder (it has no {SHARD_FILE}): `rollsim merge` combines the folders that \
                 `run --shard i/n` or `sweep --shard i/n` wrote"
            ),
        },
        _ => at(format!("cannot read: {e}")),
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| at(format!("not valid JSON: {e}")))?;
    if v["kind"] != kind {
        return Err(at(format!("not a {kind} folder (kind is not \"{kind}\")")));
    }
    if v["program_version"] != env!("CARGO_PKG_VERSION") {
        return Err(at(format!(
            "was written by rollsim {}, this is rollsim {}: run every shard with one version",
            v["program_version"],
            env!("CARGO_PKG_VERSION")
        )));
    }
    let info = serde_path_to_error::deserialize(v).map_err(|e| at(format!("`{}`: {}", e.path(), e.inner())))?;
    drop(at);
    Ok((path, info))
}

/// Writes a shard folder: `shard.json` (identity and slice), `scenario.toml`
/// (canonical), `trials.parquet` (this slice's rows).
pub fn write(
    out: &crate::outdir::OutDir,
    sc: &Scenario,
    meta: &RunMeta,
    shard: Shard,
    records: &[TrialRecord],
) -> Result<(), ShardError> {
    let range = shard.range(meta.trials);
    let info = RunShardInfo {
        schema: 1,
        kind: RUN_KIND.into(),
        scenario: meta.scenario.clone(),
        scenario_hash: meta.scenario_hash.clone(),
        seed: meta.seed,
        trials: meta.trials,
        shard: shard.index,
        shards: shard.count,
        first_trial: range.start,
        end_trial: range.end,
        program_version: meta.program_version.clone(),
        reproduce: meta.reproduce.clone(),
    };
    out.write(|tmp| {
        write_part(tmp, sc, records)?;
        write_info(tmp, &info)
    })
}

/// Every shard index `0..count` must be among `seen`.
fn check_complete(count: u64, seen: impl Iterator<Item = u64> + Clone) -> Result<(), ShardError> {
    let missing: Vec<String> =
        (0..count).filter(|i| !seen.clone().any(|j| j == *i)).map(|i| format!("{i}/{count}")).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ShardError::Set(format!("missing shards: {}", missing.join(", "))))
    }
}

/// A merged run: what `rollsim run` would have had in memory.
pub struct Merged {
    pub scenario: Scenario,
    pub meta: RunMeta,
    pub records: Vec<TrialRecord>,
}

/// Reads shard folders and checks that they are the n slices of one run,
/// each exactly once; errors name the folder and file.
pub fn merge(dirs: &[PathBuf]) -> Result<Merged, ShardError> {
    let mut parts: Vec<(u64, Vec<TrialRecord>)> = Vec::new();
    let mut first: Option<(Scenario, RunMeta, u64)> = None;
    for dir in dirs {
        let (json_path, v): (_, RunShardInfo) = read_info(dir, RUN_KIND)?;
        let at = file_err(&json_path);
        let (index, count, trials, seed) = (v.shard, v.shards, v.trials, v.seed);
        if count == 0 || index >= count {
            return Err(at(format!("shard {index}/{count} is not a shard (expected 0 <= shard < shards)")));
        }
        let meta = RunMeta {
            scenario: v.scenario,
            scenario_hash: v.scenario_hash,
            seed,
            trials,
            program_version: v.program_version,
            reproduce: v.reproduce,
        };
        let toml_path = dir.join("scenario.toml");
        let sc = load_scenario(&toml_path)?;
        if report::scenario_hash(&sc) != meta.scenario_hash {
            return Err(file_err(&toml_path)(format!("does not match the scenario hash in {SHARD_FILE}")));
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
        let records =
            crate::io::guard(|| report::read_records(&sc, &crate::io::trials::read(&pq)?)).map_err(file_err(&pq))?;
        let want = Shard { index, count }.range(trials);
        let got: Vec<u64> = records.iter().map(|r| r.trial).collect();
        if got != want.clone().collect::<Vec<_>>() {
            return Err(file_err(&pq)(format!("expected trials {}..{} in order", want.start, want.end)));
        }
        parts.push((index, records));
    }
    let Some((scenario, meta, count)) = first else {
        return Err(ShardError::Set("no shard folders given".into()));
    };
    check_complete(count, parts.iter().map(|p| p.0))?;
    parts.sort_by_key(|p| p.0);
    let records = parts.into_iter().flat_map(|p| p.1).collect();
    Ok(Merged { scenario, meta, records })
}

/// One slice of one scenario: its scenario and records.
type Part = (Scenario, Vec<TrialRecord>);

/// Reads `scenario.toml` and `trials.parquet` of one slice, checking the
/// scenario against `hash` and the trials against `range`.
fn read_part(dir: &Path, hash: &str, range: Range<u64>) -> Result<Part, ShardError> {
    let toml_path = dir.join("scenario.toml");
    let sc = load_scenario(&toml_path)?;
    if report::scenario_hash(&sc) != hash {
        return Err(file_err(&toml_path)(format!("does not match the scenario hash in {SHARD_FILE}")));
    }
    let pq = dir.join("trials.parquet");
    let records =
        crate::io::guard(|| report::read_records(&sc, &crate::io::trials::read(&pq)?)).map_err(file_err(&pq))?;
    if !records.iter().map(|r| r.trial).eq(range.clone()) {
        return Err(file_err(&pq)(format!("expected trials {}..{} in order", range.start, range.end)));
    }
    Ok((sc, records))
}

/// A shard's scenario copy; its errors already name the file, line and field.
fn load_scenario(path: &Path) -> Result<Scenario, ShardError> {
    Scenario::load(path).map_err(|e| ShardError::Set(e.to_string()))
}

fn write_part(dir: &Path, sc: &Scenario, records: &[TrialRecord]) -> Result<(), ShardError> {
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir)(format!("cannot create: {e}")))?;
    let table = dir.join("trials.parquet");
    let mut df =
        report::trial_table(sc, records).map_err(|e| file_err(&table)(format!("cannot build the trial table: {e}")))?;
    crate::io::trials::write_parquet(&table, &mut df).map_err(|e| ShardError::Set(e.to_string()))?;
    report::write_scenario(dir, sc).map_err(|e| ShardError::Set(e.to_string()))
}

/// Writes a sweep shard: `shard.json` (identity, slice, variants, objective) and
/// `variants/<id>/{scenario.toml,trials.parquet}` per variant.
pub fn write_sweep(
    out: &crate::outdir::OutDir,
    variants: &[crate::sweep::Variant],
    records: &[Vec<TrialRecord>],
    shard: Shard,
    seed: u64,
    trials: u64,
    objective: Option<&str>,
) -> Result<(), ShardError> {
    out.write(|tmp| {
        let mut list = Vec::new();
        for (v, rs) in variants.iter().zip(records) {
            write_part(&tmp.join("variants").join(&v.id), &v.scenario, rs)?;
            list.push(VariantInfo {
                id: v.id.clone(),
                settings: v.settings.clone(),
                scenario_hash: report::scenario_hash(&v.scenario),
            });
        }
        let info = SweepShardInfo {
            schema: 1,
            kind: SWEEP_KIND.into(),
            program_version: env!("CARGO_PKG_VERSION").into(),
            scenario: variants[0].scenario.name.clone(),
            seed,
            trials,
            shard: shard.index,
            shards: shard.count,
            objective: objective.map(str::to_string),
            variants: list,
        };
        write_info(tmp, &info)
    })
}

/// A merged sweep: what `rollsim sweep` would have had in memory.
pub struct MergedSweep {
    pub result: crate::sweep::SweepResult,
    pub seed: u64,
    pub trials: u64,
}

/// True when `dir` holds a sweep shard (rather than a run shard).
pub fn is_sweep_shard(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(SHARD_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["kind"] == SWEEP_KIND)
}

/// Merges the n shards of one sweep.
pub fn merge_sweep(dirs: &[PathBuf]) -> Result<MergedSweep, ShardError> {
    let mut identity: Option<SweepShardInfo> = None;
    let mut parts: Vec<(u64, Vec<Part>)> = Vec::new();
    for dir in dirs {
        let (json_path, v): (_, SweepShardInfo) = read_info(dir, SWEEP_KIND)?;
        let at = file_err(&json_path);
        let (index, count) = (v.shard, v.shards);
        if count == 0 || index >= count {
            return Err(at(format!("shard {index}/{count} is not a shard (expected 0 <= shard < shards)")));
        }
        match &identity {
            None => identity = Some(v.clone()),
            Some(first) => {
                let same = (first.shards, first.trials, first.seed, &first.variants, &first.objective)
                    == (v.shards, v.trials, v.seed, &v.variants, &v.objective);
                if !same {
                    return Err(at(
                        "belongs to another sweep (shards, trials, seed, variants or objective differ)".into()
                    ));
                }
            }
        }
        if parts.iter().any(|(i, _)| *i == index) {
            return Err(at(format!("shard {index}/{count} is given twice")));
        }
        let range = Shard { index, count }.range(v.trials);
        let mut per_variant = Vec::new();
        for var in &v.variants {
            per_variant.push(read_part(&dir.join("variants").join(&var.id), &var.scenario_hash, range.clone())?);
        }
        parts.push((index, per_variant));
    }
    let Some(info) = identity else {
        return Err(ShardError::Set("no shard folders given".into()));
    };
    check_complete(info.shards, parts.iter().map(|p| p.0))?;
    parts.sort_by_key(|p| p.0);
    let mut variants = Vec::new();
    let mut records: Vec<Vec<TrialRecord>> = vec![Vec::new(); info.variants.len()];
    for (k, var) in info.variants.iter().enumerate() {
        let scenario = parts[0].1[k].0.clone();
        variants.push(crate::sweep::Variant {
            id: var.id.clone(),
            settings: var.settings.clone(),
            scenario,
            same_as_current: false,
        });
    }
    crate::sweep::mark_unchanged(&mut variants);
    for (_, per_variant) in parts {
        for (k, (_, rs)) in per_variant.into_iter().enumerate() {
            records[k].extend(rs);
        }
    }
    let objective = match &info.objective {
        Some(t) => Some(t.parse::<crate::sweep::Objective>().map_err(ShardError::Set)?),
        None => None,
    };
    let result = crate::sweep::SweepResult::from_records(variants, &records, info.seed, objective);
    Ok(MergedSweep { result, seed: info.seed, trials: info.trials })
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
