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

/// Writes a shard folder: `shard.json` (identity and slice), `scenario.toml`
/// (canonical), `trials.parquet` (this slice's rows).
pub fn write(
    out: &crate::outdir::OutDir,
    sc: &Scenario,
    meta: &RunMeta,
    shard: Shard,
    records: &[TrialRecord],
) -> Result<(), String> {
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
    out.write(|tmp| {
        write_part(tmp, sc, records)?;
        let json_path = tmp.join(SHARD_FILE);
        let text = serde_json::to_string_pretty(&info).expect("JSON values serialise") + "\n";
        std::fs::write(&json_path, text).map_err(|e| format!("cannot write {}: {e}", json_path.display()))
    })
}

/// Reads a shard folder's `shard.json`, checking its kind; errors name the file.
fn read_info(dir: &Path, kind: &str) -> Result<(PathBuf, serde_json::Value), String> {
    let json_path = dir.join(SHARD_FILE);
    let at = |m: String| format!("{}: {m}", json_path.display());
    let text = std::fs::read_to_string(&json_path).map_err(|e| at(format!("cannot read: {e}")))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| at(format!("not valid JSON: {e}")))?;
    if v["kind"] != kind {
        return Err(at(format!("not a {kind} folder (kind is not \"{kind}\")")));
    }
    Ok((json_path, v))
}

/// Every shard index `0..count` must be among `seen`.
fn check_complete(count: u64, seen: impl Iterator<Item = u64> + Clone) -> Result<(), String> {
    let missing: Vec<String> =
        (0..count).filter(|i| !seen.clone().any(|j| j == *i)).map(|i| format!("{i}/{count}")).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("missing shards: {}", missing.join(", ")))
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
pub fn merge(dirs: &[PathBuf]) -> Result<Merged, String> {
    let mut parts: Vec<(u64, Vec<TrialRecord>)> = Vec::new();
    let mut first: Option<(Scenario, RunMeta, u64)> = None;
    for dir in dirs {
        let (json_path, v) = read_info(dir, "rollsim-shard")?;
        let at = |m: String| format!("{}: {m}", json_path.display());
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
        if meta.program_version != env!("CARGO_PKG_VERSION") {
            return Err(at(format!(
                "was written by rollsim {}, this is rollsim {}: run every shard with one version",
                meta.program_version,
                env!("CARGO_PKG_VERSION")
            )));
        }
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
        let records = crate::io::guard(|| report::read_records(&sc, &crate::io::trials::read(&pq)?))
            .map_err(|e| format!("{}: {e}", pq.display()))?;
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
    check_complete(count, parts.iter().map(|p| p.0))?;
    parts.sort_by_key(|p| p.0);
    let records = parts.into_iter().flat_map(|p| p.1).collect();
    Ok(Merged { scenario, meta, records })
}

/// One slice of one scenario: its scenario and records.
type Part = (Scenario, Vec<TrialRecord>);

/// Reads `scenario.toml` and `trials.parquet` of one slice, checking the
/// scenario against `hash` and the trials against `range`.
fn read_part(dir: &Path, hash: &str, range: Range<u64>) -> Result<Part, String> {
    let toml_path = dir.join("scenario.toml");
    let sc = Scenario::load(&toml_path).map_err(|e| e.to_string())?;
    if report::scenario_hash(&sc) != hash {
        return Err(format!("{}: does not match the scenario hash in {SHARD_FILE}", toml_path.display()));
    }
    let pq = dir.join("trials.parquet");
    let records = crate::io::guard(|| report::read_records(&sc, &crate::io::trials::read(&pq)?))
        .map_err(|e| format!("{}: {e}", pq.display()))?;
    if !records.iter().map(|r| r.trial).eq(range.clone()) {
        return Err(format!("{}: expected trials {}..{} in order", pq.display(), range.start, range.end));
    }
    Ok((sc, records))
}

fn write_part(dir: &Path, sc: &Scenario, records: &[TrialRecord]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut df = report::trial_table(sc, records).map_err(|e| format!("cannot build the trial table: {e}"))?;
    crate::io::trials::write_parquet(&dir.join("trials.parquet"), &mut df).map_err(|e| e.to_string())?;
    report::write_scenario(dir, sc).map_err(|e| e.to_string())
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
) -> Result<(), String> {
    out.write(|tmp| {
        let mut list = Vec::new();
        for (v, rs) in variants.iter().zip(records) {
            write_part(&tmp.join("variants").join(&v.id), &v.scenario, rs)?;
            list.push(serde_json::json!({
                "id": v.id,
                "settings": v.settings.iter().map(|(p, x)| serde_json::json!([p, x])).collect::<Vec<_>>(),
                "scenario_hash": report::scenario_hash(&v.scenario),
            }));
        }
        let info = serde_json::json!({
            "schema": 1,
            "kind": "rollsim-sweep-shard",
            "program_version": env!("CARGO_PKG_VERSION"),
            "scenario": variants[0].scenario.name,
            "seed": seed,
            "trials": trials,
            "shard": shard.index,
            "shards": shard.count,
            "objective": objective,
            "variants": list,
        });
        let json_path = tmp.join(SHARD_FILE);
        std::fs::write(&json_path, serde_json::to_string_pretty(&info).expect("JSON values serialise") + "\n")
            .map_err(|e| format!("cannot write {}: {e}", json_path.display()))
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
        .is_some_and(|v| v["kind"] == "rollsim-sweep-shard")
}

/// Merges the n shards of one sweep.
pub fn merge_sweep(dirs: &[PathBuf]) -> Result<MergedSweep, String> {
    let mut identity: Option<(u64, u64, u64, serde_json::Value, serde_json::Value)> = None;
    let mut parts: Vec<(u64, Vec<Part>)> = Vec::new();
    for dir in dirs {
        let (json_path, v) = read_info(dir, "rollsim-sweep-shard")?;
        let at = |m: String| format!("{}: {m}", json_path.display());
        let num = |k: &str| v[k].as_u64().ok_or_else(|| at(format!("`{k}` is missing or not a number")));
        let (index, count, trials, seed) = (num("shard")?, num("shards")?, num("trials")?, num("seed")?);
        if v["program_version"] != env!("CARGO_PKG_VERSION") {
            return Err(at(format!(
                "was written by rollsim {}, this is rollsim {}: run every shard with one version",
                v["program_version"],
                env!("CARGO_PKG_VERSION")
            )));
        }
        match &identity {
            None => identity = Some((count, trials, seed, v["variants"].clone(), v["objective"].clone())),
            Some((n, t, s, vars, obj)) => {
                if (*n, *t, *s) != (count, trials, seed) || *vars != v["variants"] || *obj != v["objective"] {
                    return Err(at(
                        "belongs to another sweep (shards, trials, seed, variants or objective differ)".into()
                    ));
                }
            }
        }
        if parts.iter().any(|(i, _)| *i == index) {
            return Err(at(format!("shard {index}/{count} is given twice")));
        }
        let range = Shard { index, count }.range(trials);
        let vars = v["variants"].as_array().ok_or_else(|| at("`variants` is missing".into()))?;
        let mut per_variant = Vec::new();
        for var in vars {
            let id = var["id"].as_str().ok_or_else(|| at("a variant has no `id`".into()))?;
            let hash =
                var["scenario_hash"].as_str().ok_or_else(|| at(format!("variant {id} has no `scenario_hash`")))?;
            per_variant.push(read_part(&dir.join("variants").join(id), hash, range.clone())?);
        }
        parts.push((index, per_variant));
    }
    let Some((count, trials, seed, vars, objective)) = identity else {
        return Err("no shard folders given".into());
    };
    check_complete(count, parts.iter().map(|p| p.0))?;
    parts.sort_by_key(|p| p.0);
    let vars = vars.as_array().cloned().unwrap_or_default();
    let mut variants = Vec::new();
    let mut records: Vec<Vec<TrialRecord>> = vec![Vec::new(); vars.len()];
    for (k, var) in vars.iter().enumerate() {
        let settings = var["settings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string())))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let scenario = parts[0].1[k].0.clone();
        variants.push(crate::sweep::Variant { id: var["id"].as_str().unwrap_or("").to_string(), settings, scenario });
    }
    for (_, per_variant) in parts {
        for (k, (_, rs)) in per_variant.into_iter().enumerate() {
            records[k].extend(rs);
        }
    }
    let objective = match objective.as_str() {
        Some(t) => Some(t.parse::<crate::sweep::Objective>()?),
        None => None,
    };
    let result = crate::sweep::SweepResult::from_records(variants, &records, seed, objective);
    Ok(MergedSweep { result, seed, trials })
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
