//! `rollsim replay`: recorded metrics through the same engine and rules.

use super::run::utc_stamp;
use rollsim::io::series as input;
use rollsim::replay::{self, output};
use rollsim::report::charts;
use rollsim::scenario::Scenario;
use std::path::PathBuf;

pub struct Args {
    pub scenario: Option<PathBuf>,
    pub data: PathBuf,
    pub labels: Option<PathBuf>,
    pub map: Option<input::Mapping>,
    pub start: Option<String>,
    pub until: Option<String>,
    pub out: Option<PathBuf>,
    pub force: bool,
}

fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("error: {msg}");
    2
}

pub fn replay(a: Args) -> i32 {
    let sc = match &a.scenario {
        None => Scenario::seed(),
        Some(p) => match Scenario::load(p) {
            Ok(s) => s,
            Err(e) => return fail(format!("invalid scenario\n{e}")),
        },
    };
    let stem = a.data.file_stem().map_or("data".into(), |s| s.to_string_lossy().into_owned());
    let dir = a.out.clone().unwrap_or_else(|| {
        rollsim::outdir::unused_dir(PathBuf::from("reports").join("replay").join(format!("{stem}-{}", utc_stamp())))
    });
    let out = match super::out_dir(&dir, a.force) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let map = a.map.unwrap_or_default();
    let windows = match &a.labels {
        None => None,
        Some(l) => match input::read_windows(l, &a.data) {
            Ok(w) => Some(w),
            Err(e) => return fail(e),
        },
    };
    let origin = match a.start.as_deref().map(input::parse_timestamp) {
        None => None,
        Some(Ok((t, _))) => Some(t),
        Some(Err(e)) => return fail(format!("--start: {e}")),
    };
    let until = match a.until.as_deref().map(input::parse_timestamp) {
        None => None,
        Some(Ok((t, _))) => Some(t),
        Some(Err(e)) => return fail(format!("--until: {e}")),
    };
    // CSV streams through the engine in one pass; other formats are read whole.
    let ext = a.data.extension().and_then(|e| e.to_str()).unwrap_or("");
    let is_csv = ext != "parquet" && !ext.ends_with("json");
    let result = if !sc.queries.is_empty() {
        // PromQL rules read the recording with its labels; metric rules what maps to metrics.
        match input::read(&a.data, &map) {
            Ok(rec) if !rec.trial.is_empty() => replay::replay(&sc, &rec, origin, until, windows.as_deref())
                .map_err(|e| input::SeriesError::new(&a.data, e)),
            read => rollsim::promql::recorded::read(&a.data).and_then(|mem| {
                let rec = read.unwrap_or_default();
                replay::replay_with(&sc, &rec, Some(mem), origin, until, windows.as_deref())
                    .map_err(|e| input::SeriesError::new(&a.data, e))
            }),
        }
    } else if is_csv {
        replay::replay_csv(&sc, &a.data, &map, origin, until, windows.as_deref())
    } else {
        input::read(&a.data, &map).and_then(|rec| {
            replay::replay(&sc, &rec, origin, until, windows.as_deref())
                .map_err(|e| input::SeriesError::new(&a.data, e))
        })
    };
    let result = match result {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    for w in &result.warnings {
        eprintln!("warning: {}: {w}", a.data.display());
    }
    let data = a.data.display().to_string();
    let md = output::markdown(&result, &sc.policy, &data, &result.warnings);
    print!("{md}");
    let write = |dir: &std::path::Path| -> Result<(), String> {
        let put = |f: &str, t: &str| {
            std::fs::write(dir.join(f), t).map_err(|e| format!("cannot write {}: {e}", dir.join(f).display()))
        };
        put("summary.md", &md)?;
        put("summary.json", &output::json(&result, &sc.policy, &data, &result.warnings))?;
        let title = format!("Replay of {stem} against {}: rules vs recorded series", sc.name);
        charts::render(&output::timeline(&result, &sc.policy, title), dir)
    };
    match out.write(write) {
        Ok(()) => {
            println!("report: {}", super::shown(&dir).display());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

pub fn record(
    path: Option<PathBuf>,
    trial: u64,
    seed: Option<u64>,
    format: rollsim::io::record::Format,
    out: &std::path::Path,
    force: bool,
) -> i32 {
    let file = match rollsim::outdir::OutFile::check(out, force) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let sc = match super::load(&path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = seed.unwrap_or(sc.simulation.seed);
    let (r, _, mut store) = rollsim::runner::record(&sc, seed, trial);
    if format == rollsim::io::record::Format::OpenMetrics {
        let written = file.write(|tmp| {
            super::query::write_openmetrics(&sc, &mut store, tmp)
                .map(|_| ())
                .map_err(|e| rollsim::io::IoError::Write { path: tmp.to_path_buf(), source: std::io::Error::other(e) })
        });
        return match written {
            Ok(()) => {
                println!(
                    "trial {trial} ({}, {} at {}): every {} series over {} ticks written to {} (OpenMetrics)",
                    sc.faults[r.fault].name,
                    r.outcome.name(),
                    r.end,
                    sc.fleet.metrics.name(),
                    store.len - 1,
                    super::shown(out).display()
                );
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
    }
    let classes: Vec<String> = sc.traffic.classes.iter().map(|c| c.name.clone()).collect();
    let rows = store.dump(&classes);
    match file.write(|tmp| rollsim::io::record::write(tmp, &rows, format)) {
        Ok(()) => {
            println!(
                "trial {trial} ({}, {} at {}): {} values over {} ticks written to {}",
                sc.faults[r.fault].name,
                r.outcome.name(),
                r.end,
                rows.len(),
                store.len - 1,
                super::shown(out).display()
            );
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
