//! Parameter sweeps: every combination of `--vary PATH=v1,v2` values is a
//! policy variant, all run on the same trials (common random numbers: the same
//! seed and trial indices, hence the same candidates, faults and noise up to
//! the first decision that differs), so differences between variants are
//! paired. Paths address the scenario file's TOML; variants are validated
//! before anything runs.

use crate::compare::{MetricId, MetricRef};
use crate::rows::Row;
use crate::scenario::Scenario;
use std::collections::BTreeMap;
use toml::Value;

/// One `--vary` option: a path into the scenario file and the values to try.
#[derive(Debug, Clone, PartialEq)]
pub struct Vary {
    pub path: String,
    pub values: Vec<String>,
}

impl std::str::FromStr for Vary {
    type Err = String;
    fn from_str(s: &str) -> Result<Vary, String> {
        let (path, values) = s.split_once('=').ok_or_else(|| {
            format!("--vary: expected PATH=v1,v2,... such as 'policy.checks.every=5m,15m', found {s:?}")
        })?;
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return Err(format!("--vary: no values given for {path:?}"));
        }
        Ok(Vary { path: path.trim().to_string(), values })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
    /// `[*]`: every element of an array.
    All,
}

fn parse_path(path: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty() {
            return Err(format!("--vary: malformed path {path:?} (empty segment)"));
        }
        out.push(Seg::Key(name.to_string()));
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| format!("--vary: malformed path {path:?} (missing `]`)"))?;
            if &r[..end] == "*" {
                out.push(Seg::All);
            } else {
                let idx = r[..end].parse().map_err(|_| format!("--vary: malformed index in {path:?}"))?;
                out.push(Seg::Index(idx));
            }
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("--vary: malformed path {path:?}"));
        }
    }
    Ok(out)
}

/// Sets `path` in `doc` to `raw`, typed like the value it replaces (a string
/// when the key is new: the scenario's validation then names unknown fields).
/// `[*]` sets it in every element of an array that has the rest of the path
/// (`policy.phases[*].gates.error_rate.limit` in every phase with that gate);
/// at least one element must.
pub fn set(doc: &mut Value, path: &str, raw: &str) -> Result<(), String> {
    let segs = parse_path(path)?;
    match set_in(doc, &segs, path, raw, "")? {
        0 => Err(format!("--vary: path {path:?} does not exist in the scenario (no element of `[*]` has it)")),
        _ => Ok(()),
    }
}

/// Sets the value at `segs` below `cur` (reached by `walked`); returns how many were set.
fn set_in(cur: &mut Value, segs: &[Seg], path: &str, raw: &str, walked: &str) -> Result<usize, String> {
    let (seg, rest) = segs.split_first().ok_or_else(|| "--vary: empty path".to_string())?;
    if rest.is_empty() {
        let Seg::Key(key) = seg else {
            return Err(format!("--vary: path {path:?} must end in a field name"));
        };
        let table = cur.as_table_mut().ok_or_else(|| format!("--vary: `{walked}` in {path:?} is not a table"))?;
        let typed = match table.get(key) {
            None | Some(Value::String(_)) => Value::String(raw.to_string()),
            Some(Value::Integer(_)) => {
                Value::Integer(raw.parse().map_err(|_| format!("--vary: {path} expects an integer, found {raw:?}"))?)
            }
            Some(Value::Float(_)) => {
                Value::Float(raw.parse().map_err(|_| format!("--vary: {path} expects a number, found {raw:?}"))?)
            }
            Some(Value::Boolean(_)) => {
                Value::Boolean(raw.parse().map_err(|_| format!("--vary: {path} expects true or false, found {raw:?}"))?)
            }
            Some(_) => return Err(format!("--vary: {path} is a table or array; vary one of its fields")),
        };
        table.insert(key.clone(), typed);
        return Ok(1);
    }
    let missing = |w: &str| format!("--vary: path {path:?} does not exist in the scenario (no `{w}`)");
    match seg {
        Seg::Key(k) => {
            let w = if walked.is_empty() { k.clone() } else { format!("{walked}.{k}") };
            let next = cur.get_mut(k.as_str()).ok_or_else(|| missing(&w))?;
            set_in(next, rest, path, raw, &w)
        }
        Seg::Index(i) => {
            let w = format!("{walked}[{i}]");
            let next = cur.get_mut(*i).ok_or_else(|| missing(&w))?;
            set_in(next, rest, path, raw, &w)
        }
        Seg::All => {
            let w = format!("{walked}[*]");
            let items = cur.as_array_mut().ok_or_else(|| format!("--vary: `{walked}` in {path:?} is not an array"))?;
            let mut n = 0;
            for (i, item) in items.iter_mut().enumerate() {
                // An element without the rest of the path is skipped; a malformed value is an error.
                match set_in(item, rest, path, raw, &format!("{walked}[{i}]")) {
                    Ok(k) => n += k,
                    Err(e) if e.contains("does not exist") => {}
                    Err(e) => return Err(e),
                }
            }
            let _ = w;
            Ok(n)
        }
    }
}

/// A policy variant: its settings and the validated scenario.
#[derive(Debug, Clone)]
pub struct Variant {
    /// `current` for the unmodified scenario, `v1`, `v2`, ... for combinations.
    pub id: String,
    /// (path, value) pairs; empty for `current`.
    pub settings: Vec<(String, String)>,
    pub scenario: Scenario,
    /// The variant's scenario equals the current one.
    pub same_as_current: bool,
}

impl Variant {
    pub fn label(&self) -> String {
        if self.settings.is_empty() {
            return "current policy".into();
        }
        let label = self.settings.iter().map(|(p, v)| format!("{p}={v}")).collect::<Vec<_>>().join(", ");
        if self.same_as_current {
            format!("{label} (= current policy)")
        } else {
            label
        }
    }
}

impl Variant {
    /// The id and what the variant changes, with each path cut to its last two
    /// fields (`v2 error_rate.limit=2%`), for chart labels.
    pub fn short_label(&self) -> String {
        if self.settings.is_empty() {
            return self.id.clone();
        }
        let parts: Vec<String> = self
            .settings
            .iter()
            .map(|(p, v)| {
                let segs: Vec<&str> = p.split('.').collect();
                format!("{}={v}", segs[segs.len().saturating_sub(2)..].join("."))
            })
            .collect();
        let same = if self.same_as_current { " (= current)" } else { "" };
        format!("{} {}{same}", self.id, parts.join(", "))
    }
}

/// Marks variants whose scenario equals the current one (values the current
/// policy already has): their labels say so, so a tie is not read as a finding.
pub fn mark_unchanged(variants: &mut [Variant]) {
    let Some((current, rest)) = variants.split_first_mut() else { return };
    for v in rest {
        v.same_as_current = v.scenario == current.scenario;
    }
}

/// Why a sweep cannot run or be written; each names what it is about.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// `--vary` or `--objective` as given cannot be applied.
    #[error("{0}")]
    Usage(String),
    /// The base scenario or a variant of it is invalid (the errors name the
    /// variant, e.g. `s.toml [v3: policy...=2%]:12:5`, line and field).
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioErrors),
    #[error("cannot start the worker threads: {0}")]
    Threads(#[from] crate::runner::ThreadsError),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot draw chart {stem}: {message}")]
    Chart { stem: String, message: String },
    #[error(transparent)]
    Out(#[from] crate::outdir::OutError),
}

/// The current scenario plus every combination of values, each validated;
/// with `zip`, the i-th values of every `--vary` together (axes that move
/// together, all of the same length).
pub fn variants(text: &str, file: &str, varies: &[Vary], zip: bool) -> Result<Vec<Variant>, SweepError> {
    let base = Scenario::from_toml(text, file)?;
    let doc: Value = toml::from_str(text).map_err(|e| SweepError::Usage(format!("{file}: {e}")))?;
    let mut out = vec![Variant { id: "current".into(), settings: vec![], scenario: base, same_as_current: false }];
    let total: usize = if zip {
        let n = varies.first().map_or(0, |v| v.values.len());
        if let Some(v) = varies.iter().find(|v| v.values.len() != n) {
            return Err(SweepError::Usage(format!(
                "--zip: every --vary needs as many values; {} has {}, {} has {n}",
                v.path,
                v.values.len(),
                varies[0].path
            )));
        }
        n
    } else {
        varies.iter().map(|v| v.values.len()).fold(1usize, |a, b| a.saturating_mul(b))
    };
    if total > 10_000 {
        return Err(SweepError::Usage(format!("--vary: {total} combinations; at most 10000")));
    }
    for k in 0..total {
        let mut rest = k;
        let mut settings = Vec::new();
        let mut d = doc.clone();
        for v in varies.iter().rev() {
            let value = if zip { &v.values[k] } else { &v.values[rest % v.values.len()] };
            rest /= v.values.len();
            set(&mut d, &v.path, value).map_err(SweepError::Usage)?;
            settings.push((v.path.clone(), value.clone()));
        }
        settings.reverse();
        let id = format!("v{}", k + 1);
        let text = toml::to_string(&d).map_err(|e| SweepError::Usage(format!("cannot print variant {id}: {e}")))?;
        let label = settings.iter().map(|(p, v)| format!("{p}={v}")).collect::<Vec<_>>().join(", ");
        // Recordings are found next to the scenario file, not next to the variant's label.
        let dir = Scenario::folder_of(std::path::Path::new(file));
        let scenario = Scenario::from_toml_in(&text, &format!("{file} [{id}: {label}]"), dir)?;
        out.push(Variant { id, settings, scenario, same_as_current: false });
    }
    mark_unchanged(&mut out);
    Ok(out)
}

/// `min|max METRIC [where METRIC OP VALUE [and ...]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// As the user wrote it.
    pub text: String,
    pub minimise: bool,
    pub metric: MetricRef,
    pub constraints: Vec<(MetricRef, crate::engine::Cmp, f64)>,
}

fn metric_value(m: MetricId, s: &str) -> Result<f64, String> {
    let t = s.trim();
    if m.is_share() {
        crate::units::parse_percent(t).map_err(|e| format!("--objective: {e}"))
    } else {
        t.parse().map_err(|_| format!("--objective: expected a number for {}, found {t:?}", m.name()))
    }
}

fn metric_name(s: &str) -> Result<MetricRef, String> {
    MetricRef::parse(s, "--objective")
}

impl std::str::FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Objective, String> {
        let (head, cond) = match s.split_once(" where ") {
            Some((h, c)) => (h, Some(c)),
            None => (s, None),
        };
        let mut words = head.split_whitespace();
        let minimise = match words.next() {
            Some("min") => true,
            Some("max") => false,
            _ => return Err(format!("--objective: expected `min METRIC` or `max METRIC [where ...]`, found {s:?}")),
        };
        let metric = metric_name(words.next().unwrap_or(""))?;
        let mut constraints = Vec::new();
        for c in cond.into_iter().flat_map(|c| c.split(" and ")) {
            let op_at =
                c.find(['<', '>']).ok_or_else(|| format!("--objective: expected METRIC OP VALUE, found {c:?}"))?;
            let m = metric_name(&c[..op_at])?;
            let rest = &c[op_at..];
            let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
                (crate::engine::Cmp::Le, v)
            } else if let Some(v) = rest.strip_prefix(">=") {
                (crate::engine::Cmp::Ge, v)
            } else if let Some(v) = rest.strip_prefix('<') {
                (crate::engine::Cmp::Lt, v)
            } else {
                (crate::engine::Cmp::Gt, &rest[1..])
            };
            let v = metric_value(m.metric, value)?;
            constraints.push((m, op, v));
        }
        Ok(Objective { text: s.trim().to_string(), minimise, metric, constraints })
    }
}

/// A metric over one variant's rows: bad versions for bad-version metrics,
/// good versions under noise alone for the false-rollback metrics.
pub fn value(m: MetricId, rows: &[Row]) -> f64 {
    MetricRef::bare(m).value(rows)
}

impl Objective {
    /// Checks, before anything runs, that every group the objective names is a
    /// population key or a fault entry of `sc`.
    pub fn check_groups(&self, sc: &Scenario) -> Result<(), String> {
        let mut names: Vec<String> = crate::sim::Population::ALL.iter().map(|p| p.key().to_string()).collect();
        names.extend(sc.faults.iter().map(|f| f.name.clone()));
        for m in std::iter::once(&self.metric).chain(self.constraints.iter().map(|c| &c.0)) {
            if let Some(g) = &m.group {
                if !names.contains(g) {
                    return Err(format!(
                        "--objective: unknown group {g:?} in `{}`; expected one of {}",
                        m.name(),
                        names.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn satisfied(&self, rows: &[Row]) -> bool {
        self.constraints.iter().all(|(m, op, v)| op.holds(m.value(rows), *v))
    }

    /// The best variant (index) that satisfies every constraint; ties go to the earlier variant.
    pub fn choose(&self, results: &[Vec<Row>]) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (i, rows) in results.iter().enumerate() {
            if !self.satisfied(rows) {
                continue;
            }
            let v = self.metric.value(rows);
            if v.is_nan() {
                continue;
            }
            let better = match best {
                None => true,
                Some((_, b)) => {
                    if self.minimise {
                        v < b
                    } else {
                        v > b
                    }
                }
            };
            if better {
                best = Some((i, v));
            }
        }
        best.map(|b| b.0)
    }
}

/// The table of a comparison against the current policy, without the compare report's heading.
fn evidence_table(c: &crate::compare::Comparison, id: &str) -> String {
    crate::compare::output::markdown(c, "current policy", id)
        .lines()
        .skip_while(|l| !l.starts_with("| group"))
        .take_while(|l| l.starts_with('|'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Indices of points not dominated when minimising both coordinates.
pub fn pareto(points: &[(f64, f64)]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| {
            let (x, y) = points[i];
            !points.iter().enumerate().any(|(j, &(a, b))| j != i && a <= x && b <= y && (a < x || b < y))
        })
        .collect()
}

/// The outcome of a sweep.
pub struct SweepResult {
    pub variants: Vec<Variant>,
    pub rows: Vec<Vec<Row>>,
    pub summaries: Vec<crate::summary::Summary>,
    /// Pareto frontiers over (false-rollback rate, p90 detection) and (false-rollback rate, mean excess failed).
    pub frontier_detection: Vec<usize>,
    pub frontier_blast: Vec<usize>,
    pub objective: Option<Objective>,
    pub recommended: Option<usize>,
    /// Paired evidence: the recommended variant against the current policy,
    /// on the same trials the choice was made on (optimistic: winner's curse).
    pub evidence: Option<crate::compare::Comparison>,
    /// The same comparison on fresh trials (another seed): the unbiased check.
    pub confirmation: Option<Confirmation>,
}

/// The recommended variant against the current policy on fresh trials.
pub struct Confirmation {
    pub seed: u64,
    pub trials: u64,
    pub comparison: crate::compare::Comparison,
    /// The recommended variant still meets every constraint of the objective on the fresh trials.
    pub constraints_hold: bool,
}

/// The seed of the confirmation trials: derived from the sweep's seed, never equal to it.
pub fn confirmation_seed(seed: u64) -> u64 {
    let s = crate::sim::rng::splitmix64(seed ^ 0x636F_6E66_6972_6D21);
    if s == seed {
        s.wrapping_add(1)
    } else {
        s
    }
}

/// Runs trials `range` of `seed` for every variant. A variant whose scenario
/// equals an earlier one's (a value the current policy already has, or two
/// `[*]` paths that meet) reuses its records: a trial is a function of
/// (scenario, seed, index), so simulating it again would give the same bytes.
/// Variants that differ only in their policy share each trial's world
/// ([`crate::runner::run_many`]).
pub fn run_records(
    variants: &[Variant],
    seed: u64,
    range: std::ops::Range<u64>,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Vec<crate::sim::TrialRecord>>, SweepError> {
    // The first variant with each distinct scenario, and which one each variant repeats.
    let mut unique: Vec<usize> = Vec::new();
    let source: Vec<usize> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| match unique.iter().position(|&j| variants[j].scenario == v.scenario) {
            Some(u) => u,
            None => {
                unique.push(i);
                unique.len() - 1
            }
        })
        .collect();
    let scenarios: Vec<&crate::scenario::Scenario> = unique.iter().map(|&i| &variants[i].scenario).collect();
    let records = crate::runner::run_many(&scenarios, seed, range.clone(), threads, progress)?;
    let repeats = variants.len() - unique.len();
    (0..repeats as u64 * (range.end - range.start)).for_each(|_| progress());
    Ok(source.iter().map(|&u| records[u].clone()).collect())
}

/// Runs every variant on trials `0..trials` of `seed`.
pub fn run(
    variants: Vec<Variant>,
    seed: u64,
    trials: u64,
    threads: usize,
    objective: Option<Objective>,
    progress: &(dyn Fn() + Sync),
) -> Result<SweepResult, SweepError> {
    let records = run_records(&variants, seed, 0..trials, threads, progress)?;
    let mut result = SweepResult::from_records(variants, &records, seed, objective);
    result.confirm(seed, trials, threads)?;
    Ok(result)
}

impl SweepResult {
    /// Aggregates the records of every variant (in variant order, each in trial order).
    pub fn from_records(
        variants: Vec<Variant>,
        records: &[Vec<crate::sim::TrialRecord>],
        seed: u64,
        objective: Option<Objective>,
    ) -> SweepResult {
        let rows: Vec<Vec<Row>> = variants
            .iter()
            .zip(records)
            .map(|(v, rs)| rs.iter().map(|r| Row::from_record(&v.scenario, r)).collect())
            .collect();
        let summaries =
            variants.iter().zip(records).map(|(v, rs)| crate::summary::Summary::new(&v.scenario, seed, rs)).collect();
        let fr = |r: &Vec<Row>| value(MetricId::FalseRollback, r);
        let det: Vec<(f64, f64)> = rows.iter().map(|r| (fr(r), value(MetricId::P90Detection, r))).collect();
        let blast: Vec<(f64, f64)> = rows.iter().map(|r| (fr(r), value(MetricId::ExcessFailed, r))).collect();
        let recommended = objective.as_ref().and_then(|o| o.choose(&rows));
        let evidence = recommended
            .map(|i| crate::compare::compare(&rows[0], &rows[i], &crate::compare::default_tolerances(), 1000));
        SweepResult {
            frontier_detection: pareto(&det),
            frontier_blast: pareto(&blast),
            variants,
            rows,
            summaries,
            objective,
            recommended,
            evidence,
            confirmation: None,
        }
    }

    /// Runs the recommended variant and the current policy again on `trials`
    /// fresh trials (seed [`confirmation_seed`]) and compares them, paired: a
    /// variant picked as the best of many on one set of trials looks better on
    /// those trials than it is.
    pub fn confirm(&mut self, seed: u64, trials: u64, threads: usize) -> Result<(), SweepError> {
        let Some(i) = self.recommended.filter(|&i| i != 0) else { return Ok(()) };
        let fresh = confirmation_seed(seed);
        let pair = [self.variants[0].clone(), self.variants[i].clone()];
        let records = run_records(&pair, fresh, 0..trials, threads, &|| {})?;
        let rows: Vec<Vec<Row>> = pair
            .iter()
            .zip(&records)
            .map(|(v, rs)| rs.iter().map(|r| Row::from_record(&v.scenario, r)).collect())
            .collect();
        let constraints_hold = self.objective.as_ref().is_none_or(|o| o.satisfied(&rows[1]));
        let comparison = crate::compare::compare(&rows[0], &rows[1], &crate::compare::default_tolerances(), 1000);
        self.confirmation = Some(Confirmation { seed: fresh, trials, comparison, constraints_hold });
        Ok(())
    }

    /// Writes `sweep.md`, `sweep.json` and the trade-off charts into `dir`.
    pub fn write(&self, out: &crate::outdir::OutDir, seed: u64, trials: u64) -> Result<(), SweepError> {
        out.write(|dir| self.write_into(dir, seed, trials))
    }

    fn write_into(&self, dir: &std::path::Path, seed: u64, trials: u64) -> Result<(), SweepError> {
        use crate::report::charts::{self, Tradeoff, TradeoffPoint};
        let put = |f: &str, t: &str| {
            std::fs::write(dir.join(f), t).map_err(|source| SweepError::Write { path: dir.join(f), source })
        };
        put("sweep.md", &self.markdown(seed, trials))?;
        put("sweep.json", &self.json(seed, trials))?;
        let points = |m: MetricId| {
            (0..self.variants.len())
                .map(|i| {
                    let s = &self.summaries[i];
                    let fr = &s.overall_good().false_rollback;
                    let p90 = &s.overall_bad().detection_p90_min;
                    TradeoffPoint {
                        label: self.variants[i].short_label(),
                        x: value(MetricId::FalseRollback, &self.rows[i]),
                        y: value(m, &self.rows[i]),
                        x_ci: (fr.n > 0).then_some((fr.lo, fr.hi)),
                        y_ci: (m == MetricId::P90Detection && p90.n > 0).then_some((p90.lo, p90.hi)),
                    }
                })
                .collect::<Vec<_>>()
        };
        for (stem, label, metric, frontier) in [
            ("tradeoff_detection", "p90 detection time (min)", MetricId::P90Detection, &self.frontier_detection),
            ("tradeoff_blast", "mean excess failed requests", MetricId::ExcessFailed, &self.frontier_blast),
        ] {
            let chart = Tradeoff {
                stem: stem.into(),
                y_label: label.into(),
                points: points(metric),
                frontier: frontier.clone(),
                recommended: self.recommended,
            };
            charts::render(&chart, dir).map_err(|message| SweepError::Chart { stem: stem.into(), message })?;
        }
        let mut embedded = Vec::new();
        for (stem, title) in [
            ("tradeoff_detection", "False rollbacks against p90 detection time"),
            ("tradeoff_blast", "False rollbacks against mean excess failed requests"),
        ] {
            let p = dir.join(format!("{stem}.svg"));
            let svg = std::fs::read_to_string(&p).map_err(|source| SweepError::Write { path: p, source })?;
            embedded.push((title.to_string(), svg));
        }
        let title = format!("rollsim sweep: {}", self.variants[0].scenario.name);
        put(
            "index.html",
            &crate::report::html::markdown_page(
                &title,
                &self.markdown(seed, trials),
                &embedded,
                &["sweep.md", "sweep.json"],
            ),
        )?;
        Ok(())
    }

    /// The sweep as Markdown: one row per variant, then the recommendation.
    pub fn markdown(&self, seed: u64, trials: u64) -> String {
        use crate::summary::{minutes, pct};
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(o, "# rollsim sweep: {}\n", self.variants[0].scenario.name);
        let _ = writeln!(
            o,
            "{} variants × {trials} trials, seed {seed}; every variant runs on the same trials (paired). 95% intervals in brackets; ★ = on the Pareto frontier of false rollbacks vs p90 detection.\n",
            self.variants.len()
        );
        let _ = writeln!(o, "| variant | settings | detected | detection p50 (min) | detection p90 (min) | mean excess failed | mean peak share | false rollback (noise) | rolled back in outside incident | completed good rollout p50 (h) |");
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (i, (v, s)) in self.variants.iter().zip(&self.summaries).enumerate() {
            let (b, g) = (s.overall_bad(), s.overall_good());
            let star = if self.frontier_detection.contains(&i) { " ★" } else { "" };
            let rec = if self.recommended == Some(i) { " **recommended**" } else { "" };
            let _ = writeln!(
                o,
                "| {}{star}{rec} | {} | {} | {} | {} | {:.0} | {:.1}% | {} | {} | {:.1} |",
                v.id,
                v.label(),
                pct(&b.detected),
                minutes(&b.detection_p50_min),
                minutes(&b.detection_p90_min),
                b.excess_failed_mean,
                100.0 * b.peak_share_mean,
                pct(&g.false_rollback),
                s.overall_incident().map_or("—".to_string(), |x| pct(&x.false_rollback)),
                g.duration_p50_h.value
            );
        }
        match (&self.objective, self.recommended, &self.evidence) {
            (Some(_), Some(i), Some(c)) => {
                let _ = writeln!(o, "\n## Recommendation: {} ({})\n", self.variants[i].id, self.variants[i].label());
                let _ = writeln!(o, "Paired evidence against the current policy (new = {}):\n", self.variants[i].id);
                o.push_str(&evidence_table(c, &self.variants[i].id));
                if let Some(cf) = &self.confirmation {
                    let _ = writeln!(
                        o,
                        "\n## Confirmation on fresh trials (seed {}, {} trials)\n\nThe recommendation was chosen on the trials above, which flatters it (winner's curse). On fresh trials the recommended variant {} the objective's constraints; paired evidence against the current policy:\n",
                        cf.seed,
                        cf.trials,
                        if cf.constraints_hold { "still meets" } else { "**no longer meets**" }
                    );
                    o.push_str(&evidence_table(&cf.comparison, &self.variants[i].id));
                }
            }
            (Some(_), None, _) => {
                let _ = writeln!(o, "\nNo variant satisfies the objective's constraints.");
            }
            _ => {}
        }
        o
    }

    /// The sweep as JSON (schema 1).
    pub fn json(&self, seed: u64, trials: u64) -> String {
        let variants = self
            .variants
            .iter()
            .zip(&self.rows)
            .enumerate()
            .map(|(i, (v, rows))| {
                use crate::report::finite;
                let mut metrics: BTreeMap<String, Option<f64>> =
                    MetricId::ALL.iter().map(|m| (m.name().to_string(), finite(value(*m, rows)))).collect();
                if rows.iter().any(|r| r.population == crate::sim::Population::Incident) {
                    let m = MetricRef { metric: MetricId::FalseRollback, group: Some("incident".into()) };
                    metrics.insert(m.name(), finite(m.value(rows)));
                }
                VariantDoc {
                    id: &v.id,
                    metrics,
                    pareto_blast: self.frontier_blast.contains(&i),
                    pareto_detection: self.frontier_detection.contains(&i),
                    recommended: self.recommended == Some(i),
                    settings: v.settings.iter().map(|(path, value)| SettingDoc { path, value }).collect(),
                }
            })
            .collect();
        let doc = SweepDoc {
            confirmation: self.confirmation.as_ref().map(|c| ConfirmationDoc {
                constraints_hold: c.constraints_hold,
                regression: c.comparison.regressed(),
                seed: c.seed,
                trials: c.trials,
            }),
            scenario: &self.variants[0].scenario.name,
            schema: 1,
            seed,
            trials,
            variants,
        };
        serde_json::to_string_pretty(&doc).expect("the sweep serialises") + "\n"
    }
}

/// The sweep JSON (schema 1); fields in alphabetical order, as the format has
/// always had them.
#[derive(serde::Serialize)]
struct SweepDoc<'a> {
    confirmation: Option<ConfirmationDoc>,
    scenario: &'a str,
    schema: u32,
    seed: u64,
    trials: u64,
    variants: Vec<VariantDoc<'a>>,
}

#[derive(serde::Serialize)]
struct ConfirmationDoc {
    constraints_hold: bool,
    regression: bool,
    seed: u64,
    trials: u64,
}

#[derive(serde::Serialize)]
struct VariantDoc<'a> {
    id: &'a str,
    /// Metric values; null where undefined (no detections, no trials in the group).
    metrics: BTreeMap<String, Option<f64>>,
    pareto_blast: bool,
    pareto_detection: bool,
    recommended: bool,
    settings: Vec<SettingDoc<'a>>,
}

#[derive(serde::Serialize)]
struct SettingDoc<'a> {
    path: &'a str,
    value: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_set_typed_values_and_reject_missing_parents() {
        let mut doc: Value = toml::from_str("[a]\nn = 1\ns = \"x\"\n[[a.b]]\nf = 1.5\n").unwrap();
        set(&mut doc, "a.n", "7").unwrap();
        set(&mut doc, "a.s", "15m").unwrap();
        set(&mut doc, "a.b[0].f", "2.5").unwrap();
        assert_eq!(doc["a"]["n"].as_integer(), Some(7));
        assert_eq!(doc["a"]["s"].as_str(), Some("15m"));
        assert_eq!(doc["a"]["b"][0]["f"].as_float(), Some(2.5));
        assert!(set(&mut doc, "a.n", "many").unwrap_err().contains("expects an integer"));
        assert!(set(&mut doc, "z.q", "1").unwrap_err().contains("does not exist"));
        assert!(set(&mut doc, "a.b[3].f", "1").unwrap_err().contains("no `a.b[3]`"));
    }

    #[test]
    fn objectives_parse() {
        let o: Objective = "min p90_detection where false_rollback <= 1% and detection_rate >= 95%".parse().unwrap();
        assert!(o.minimise);
        assert_eq!(o.metric, MetricRef::bare(MetricId::P90Detection));
        assert_eq!(o.constraints.len(), 2);
        assert_eq!(o.constraints[0], (MetricRef::bare(MetricId::FalseRollback), crate::engine::Cmp::Le, 0.01));
        let g: Objective = "min p90_detection where false_rollback[good] <= 5%".parse().unwrap();
        assert_eq!(g.constraints[0].0, MetricRef { metric: MetricId::FalseRollback, group: Some("good".into()) });
        assert!("min p90_detection[x".parse::<Objective>().unwrap_err().contains("METRIC[GROUP]"));
        assert!("fastest".parse::<Objective>().is_err());
        assert!("min p99 where x < 1".parse::<Objective>().unwrap_err().contains("unknown metric"));
    }

    #[test]
    fn pareto_keeps_non_dominated_points() {
        let pts = [(0.1, 10.0), (0.2, 5.0), (0.3, 6.0), (0.05, 20.0), (0.1, 12.0)];
        assert_eq!(pareto(&pts), vec![0, 1, 3]);
    }
}
