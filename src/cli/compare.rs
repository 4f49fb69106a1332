//! `rollsim compare`: two scenarios (paired), a scenario against its version at
//! a git revision (paired), or two report folders.

use super::run::utc_stamp;
use rollsim::compare::{self, output, Comparison, Row};
use rollsim::report::{charts, stage_names};
use rollsim::runner;
use rollsim::scenario::Scenario;
use std::path::{Path, PathBuf};

pub struct Args {
    pub inputs: Vec<PathBuf>,
    pub git_base: Option<String>,
    pub trials: Option<u64>,
    pub seed: Option<u64>,
    pub threads: usize,
    pub fail_on: Option<String>,
    pub out: Option<PathBuf>,
    pub force: bool,
    pub resamples: usize,
}

/// One side of a comparison, loaded.
struct Side {
    label: String,
    rows: Vec<Row>,
    stages: Option<Vec<String>>,
}

fn usage(msg: &str) -> i32 {
    eprintln!("error: {msg}");
    2
}

/// Runs both scenarios on the same trials; when they differ only in their
/// policy, each trial's world is simulated once for both (`runner::run_many`).
fn run_pair(
    base: (&Scenario, String),
    new: (&Scenario, String),
    trials: u64,
    seed: u64,
    threads: usize,
) -> Result<(Side, Side), i32> {
    let bar = super::progress(2 * trials, true);
    let mut records = runner::run_many(&[base.0, new.0], seed, 0..trials, threads, &|| bar.inc(1))
        .map_err(|e| usage(&format!("cannot start threads: {e}")))?;
    bar.finish_and_clear();
    let side = |sc: &Scenario, label: String, records: Vec<rollsim::sim::TrialRecord>| Side {
        label,
        rows: records.iter().map(|r| Row::from_record(sc, r)).collect(),
        stages: Some(stage_names(sc)),
    };
    let new_records = records.pop().unwrap_or_default();
    let base_records = records.pop().unwrap_or_default();
    Ok((side(base.0, base.1, base_records), side(new.0, new.1, new_records)))
}

fn load_scenario(path: &Path) -> Result<Scenario, i32> {
    super::import::load(path).map_err(|e| {
        eprintln!("error: {e}");
        2
    })
}

fn git_show(rev: &str, path: &Path) -> Result<String, i32> {
    let spec = format!("{rev}:./{}", path.display());
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file = path.file_name().map(PathBuf::from).unwrap_or_default();
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .arg("show")
        .arg(format!("{rev}:./{}", file.display()))
        .output()
        .map_err(|e| usage(&format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(usage(&format!("git show {spec} failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    String::from_utf8(out.stdout).map_err(|_| usage(&format!("{spec} is not UTF-8 text")))
}

pub fn compare(a: Args) -> i32 {
    let tolerances = match compare::parse_tolerances(a.fail_on.as_deref().unwrap_or("")) {
        Ok(t) => t,
        Err(e) => return usage(&e),
    };
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| rollsim::outdir::unused_dir(PathBuf::from("reports").join("compare").join(utc_stamp())));
    let out = match super::out_dir(&dir, a.force) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let sides = match load_sides(&a) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (base, new) = (&sides.0, &sides.1);
    let c = compare::compare(&base.rows, &new.rows, &tolerances, a.resamples);
    let md = output::markdown(&c, &base.label, &new.label);
    print!("{md}");
    if let Err(e) = out.write(|dir| write(dir, &c, base, new, &md)) {
        eprintln!("error: {e}");
        return 2;
    }
    println!("report: {}", super::shown(&dir).display());
    i32::from(c.regressed())
}

fn load_sides(a: &Args) -> Result<(Side, Side), i32> {
    let is_report = |p: &Path| p.is_dir();
    match (&a.git_base, a.inputs.as_slice()) {
        (Some(rev), [path]) => {
            let new = load_scenario(path)?;
            let text = git_show(rev, path)?;
            let label = format!("{}@{rev}", path.display());
            let base = super::import::load_text(path, &text, &label).map_err(|e| {
                eprintln!("error: {e}");
                2
            })?;
            let trials = a.trials.unwrap_or(new.simulation.trials);
            let seed = a.seed.unwrap_or(new.simulation.seed);
            run_pair((&base, label), (&new, path.display().to_string()), trials, seed, a.threads)
        }
        (Some(_), _) => Err(usage("with --git-base, give exactly one scenario file")),
        (None, [b, n]) if is_report(b) && is_report(n) => {
            let read = |p: &Path| {
                compare::read_report(p).map(|rows| Side { label: p.display().to_string(), rows, stages: None }).map_err(
                    |e| {
                        eprintln!("error: {e}");
                        2
                    },
                )
            };
            Ok((read(b)?, read(n)?))
        }
        (None, [b, n]) if !is_report(b) && !is_report(n) => {
            let (bs, ns) = (load_scenario(b)?, load_scenario(n)?);
            let trials = a.trials.unwrap_or(ns.simulation.trials);
            let seed = a.seed.unwrap_or(ns.simulation.seed);
            run_pair((&bs, b.display().to_string()), (&ns, n.display().to_string()), trials, seed, a.threads)
        }
        (None, [_, _]) => Err(usage("compare two scenario files or two report folders, not one of each")),
        _ => Err(usage("expected BASE and NEW (scenario files or report folders), or --git-base REV and one scenario")),
    }
}

fn write(dir: &Path, c: &Comparison, base: &Side, new: &Side, md: &str) -> Result<(), String> {
    let put = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    put("compare.md", md.to_string())?;
    put("compare.json", output::json(c, &base.label, &new.label))?;
    put("junit.xml", output::junit(c))?;
    charts::render(&charts::DetectionCompare { base: &base.rows, new: &new.rows }, dir)?;
    let phases = base.rows.first().map_or(0, |r| r.phase_h.len());
    let stages = base
        .stages
        .clone()
        .or_else(|| new.stages.clone())
        .unwrap_or_else(|| (1..=phases).map(|i| format!("phase {i}")).collect());
    let mut drawn = vec![("compare_detection_cdf", "Detection time, base against new")];
    if new.rows.first().map_or(0, |r| r.phase_h.len()) == stages.len() && phases == stages.len() {
        charts::render(&charts::SpreadCompare { base: &base.rows, new: &new.rows, stages }, dir)?;
        drawn.push(("compare_spread", "How far bad versions spread, base against new"));
    }
    let mut embedded = Vec::new();
    for (stem, title) in drawn {
        let p = dir.join(format!("{stem}.svg"));
        let svg = std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        embedded.push((title.to_string(), svg));
    }
    let page = rollsim::report::html::markdown_page(
        &format!("rollsim compare: {} → {}", base.label, new.label),
        md,
        &embedded,
        &["compare.md", "compare.json", "junit.xml"],
    );
    put("index.html", page)
}
