//! `rollsim import`: Argo Rollouts, Flagger and Prometheus rule files into a
//! scenario, and the manifest-aware loading `run`, `sweep`, `compare` and
//! `validate` share.

use rollsim::engine::Verdict;
use rollsim::import::{self, Options};
use rollsim::outdir::OutFile;
use rollsim::promql::bind::Signal;
use rollsim::scenario::Scenario;
use std::path::{Path, PathBuf};

pub struct Args {
    pub files: Vec<PathBuf>,
    pub base: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub force: bool,
    pub unsupported: Option<String>,
    pub bind: Vec<String>,
    pub arg: Vec<String>,
    pub rollback_on: Vec<String>,
}

fn pairs(v: &[String], flag: &str) -> Result<Vec<(String, String)>, String> {
    v.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
                .filter(|(a, _)| !a.is_empty())
                .ok_or_else(|| format!("{flag} {s:?}: expected NAME=VALUE"))
        })
        .collect()
}

fn options(a: &Args) -> Result<Options, String> {
    let unsupported = match a.unsupported.as_deref() {
        None => None,
        Some("pass") => Some(Verdict::Pass),
        Some("fail") => Some(Verdict::Fail),
        Some(o) => return Err(format!("--unsupported {o:?}: expected pass or fail")),
    };
    let binds = pairs(&a.bind, "--bind")?
        .into_iter()
        .map(|(n, s)| {
            Signal::from_name(&s)
                .map(|sig| (n.clone(), sig))
                .ok_or_else(|| format!("--bind {n}={s}: unknown signal; expected one of {}", Signal::NAMES))
        })
        .collect::<Result<_, _>>()?;
    Ok(Options {
        base: a.base.clone(),
        unsupported,
        binds,
        args: pairs(&a.arg, "--arg")?,
        rollback_on: a.rollback_on.clone(),
    })
}

pub fn import(a: Args) -> i32 {
    let opts = match options(&a) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    // Outputs are checked before any work: a file of yours is never overwritten.
    let files = match &a.out {
        None => None,
        Some(p) => {
            let report = p.with_extension("import.md");
            match (OutFile::check(p, a.force), OutFile::check(&report, a.force)) {
                (Ok(s), Ok(r)) => Some((s, r)),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("error: --out: {e}");
                    return 2;
                }
            }
        }
    };
    let imported = match import::import(&a.files, &opts) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    match files {
        None => {
            print!("{}", imported.toml);
            eprint!("{}", imported.report);
        }
        Some((scenario, report)) => {
            let write = |f: &OutFile, text: &str| {
                f.write(|tmp: &Path| {
                    std::fs::write(tmp, text)
                        .map_err(|e| rollsim::outdir::OutError::Io { path: tmp.to_path_buf(), source: e })
                })
            };
            if let Err(e) = write(&scenario, &imported.toml).and_then(|()| write(&report, &imported.report)) {
                eprintln!("error: {e}");
                return 2;
            }
            print!("{}", imported.report);
            let shown = super::shown(scenario.path());
            println!("scenario: {}", shown.display());
            println!("report: {}", super::shown(report.path()).display());
            println!("run it: rollsim run {}", shown.display());
        }
    }
    0
}

/// `e`, and when it names an option of `rollsim import` as the way past it,
/// that the option belongs to `rollsim import` (the manifest was imported
/// with the defaults).
fn with_import_hint(e: &import::ImportError, path: &Path) -> String {
    if e.names_an_import_option() {
        format!("{e}\n(import it with options: rollsim import {} --out scenario.toml)", path.display())
    } else {
        e.to_string()
    }
}

/// A scenario file's text and its label: TOML as it is, manifests imported
/// with the defaults (`rollsim import` for the options).
pub fn scenario_text(path: &Path) -> Result<(String, String), String> {
    if import::is_manifest(path) {
        let i = import::import(&[path.to_path_buf()], &Options::default()).map_err(|e| with_import_hint(&e, path))?;
        return Ok((i.toml, format!("{} (imported)", path.display())));
    }
    std::fs::read_to_string(path)
        .map(|t| (t, path.display().to_string()))
        .map_err(|e| format!("{}: cannot read the file: {e}", path.display()))
}

/// [`load`] of `text`, the content `path` has elsewhere (at a git revision),
/// named `label` in errors.
pub fn load_text(path: &Path, text: &str, label: &str) -> Result<Scenario, String> {
    if import::is_manifest(path) {
        return import::import_str(text, label, &Options::default()).map(|i| i.scenario).map_err(|e| e.to_string());
    }
    Scenario::from_toml_in(text, label, Scenario::folder_of(path)).map_err(|e| format!("invalid scenario\n{e}"))
}

/// A scenario file, or manifests imported with the defaults.
pub fn load(path: &Path) -> Result<Scenario, String> {
    if import::is_manifest(path) {
        return import::import(&[path.to_path_buf()], &Options::default())
            .map(|i| i.scenario)
            .map_err(|e| with_import_hint(&e, path));
    }
    Scenario::load(path).map_err(|e| format!("invalid scenario\n{e}"))
}
