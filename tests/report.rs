//! Report files: every file exists and parses, the tables agree, and the
//! summaries for a fixed seed are pinned by snapshots.

use polars::prelude::*;
use rollsim::report::{self, RunMeta};
use rollsim::runner;
use rollsim::scenario::Scenario;
use rollsim::summary::Summary;

fn meta(sc: &Scenario, seed: u64, trials: u64) -> RunMeta {
    RunMeta {
        scenario: sc.name.clone(),
        scenario_hash: report::scenario_hash(sc),
        seed,
        trials,
        program_version: "test".into(),
        reproduce: format!("rollsim trace --trial {{trial}} --seed {seed}"),
    }
}

#[test]
fn report_folder_has_every_file_and_they_agree() {
    let sc = Scenario::seed();
    let records = runner::run(&sc, 7, 0..150, 2, &|| {}).unwrap();
    let summary = Summary::new(&sc, 7, &records);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports").join("seed-canary").join("run-1");
    let traced: Vec<report::Traced> = report::representative(&records)
        .into_iter()
        .map(|(why, k)| {
            let (record, trace) = runner::trace(&sc, 7, k);
            report::Traced { why, record, trace }
        })
        .collect();
    assert_eq!(traced.len(), 3, "slowest detection, largest excess, a false rollback");
    let out_dir = rollsim::outdir::OutDir::check(&out, false).unwrap();
    report::write(&out_dir, &sc, &meta(&sc, 7, 150), &records, &summary, &traced).unwrap();
    assert!(out.join("timeline_3.png").is_file() || out.join("timeline_3.svg").is_file());
    for f in
        ["trials.parquet", "trials.csv", "summary.json", "summary.md", "index.html", "spread.svg", "detection_cdf.png"]
    {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    check_html_and_charts(&out);
    // No partial folder is left behind.
    let siblings: Vec<_> = std::fs::read_dir(out.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(siblings.len(), 1, "{siblings:?}");

    let pq = ParquetReader::new(std::fs::File::open(out.join("trials.parquet")).unwrap()).finish().unwrap();
    assert_eq!(pq.height(), 150);
    let csv = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(out.join("trials.csv")))
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(csv.height(), 150);
    assert_eq!(pq.get_column_names(), csv.get_column_names());
    // CSV floats at six decimals, equal to the exact Parquet values to that precision.
    let text = std::fs::read_to_string(out.join("trials.csv")).unwrap();
    let hours_col = text.lines().next().unwrap().split(',').position(|c| c == "instance_hours").unwrap();
    let exact = pq.column("instance_hours").unwrap().f64().unwrap();
    for (i, line) in text.lines().skip(1).enumerate() {
        let cell = line.split(',').nth(hours_col).unwrap();
        assert_eq!(cell.split('.').nth(1).map(str::len), Some(6), "{cell}");
        assert!((cell.parse::<f64>().unwrap() - exact.get(i).unwrap()).abs() <= 5e-7, "{cell}");
    }
    let trials = pq.column("trial").unwrap().u64().unwrap();
    assert_eq!(trials.get(149), Some(149));
    let bad = pq.column("bad").unwrap().bool().unwrap().sum().unwrap_or(0) as usize;
    assert_eq!(bad, records.iter().filter(|r| r.bad).count());

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], 2);
    assert_eq!(json["trials"], 150);
    assert_eq!(json["seed"], 7);
    assert_eq!(json["groups"].as_array().unwrap().len(), sc.faults.len() + 3, "faults, then bad, noise and incident");
}

#[test]
fn summaries_for_a_fixed_seed() {
    let sc = Scenario::seed();
    let records = runner::run(&sc, 2024, 0..300, 2, &|| {}).unwrap();
    let summary = Summary::new(&sc, 2024, &records);
    let m = meta(&sc, 2024, 300);
    insta::assert_snapshot!("summary_md", report::summary_md(&m, &summary));
    insta::assert_snapshot!("summary_json", report::summary_json(&m, &summary));
}

/// Every file the page references exists; every chart is a valid SVG and a
/// PNG of the documented size.
fn check_html_and_charts(dir: &std::path::Path) {
    // One self-contained file: every chart is a data URI holding the SVG beside it.
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let srcs: Vec<&str> = html.split("src=\"").skip(1).map(|p| p.split('"').next().unwrap()).collect();
    assert!(srcs.len() >= 6, "{} images", srcs.len());
    // Links go only to the data files of the folder (the charts are in the page).
    for href in html.split("href=\"").skip(1).map(|p| p.split('"').next().unwrap()) {
        assert!(!href.ends_with(".svg") && !href.ends_with(".png") && dir.join(href).is_file(), "{href}");
    }
    let decode = |uri: &str| {
        let body = uri.strip_prefix("data:image/svg+xml;charset=utf-8,").expect("an SVG data URI");
        let (mut out, b) = (Vec::new(), body.as_bytes());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&body[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    let beside: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "svg"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let embedded: Vec<String> = srcs.iter().map(|s| decode(s)).collect();
    for svg in &embedded {
        assert!(svg.contains("<svg") && beside.contains(svg), "an embedded chart differs from its SVG file");
    }
    let (w, h) = rollsim::report::charts::SIZE;
    let mut charts = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("png") => {
                let b = std::fs::read(&p).unwrap();
                assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{}", p.display());
                let width = u32::from_be_bytes(b[16..20].try_into().unwrap());
                let height = u32::from_be_bytes(b[20..24].try_into().unwrap());
                // The small multiples of the detection CDF grow with the faults, a trial's
                // timeline has four panels; the SVG is the same size as the PNG.
                let svg = std::fs::read_to_string(p.with_extension("svg")).unwrap();
                assert!(svg.contains(&format!("width=\"{width}\"")) && svg.contains(&format!("height=\"{height}\"")));
                let stem = p.file_stem().unwrap().to_string_lossy().to_string();
                if stem == "detection_cdf" {
                    assert!(width == 1200 && height >= 300, "{}: {width}×{height}", p.display());
                } else if stem.starts_with("timeline_") {
                    assert_eq!((width, height), (1000, 900), "{}", p.display());
                } else {
                    assert_eq!((width, height), (w, h), "{}", p.display());
                }
                charts += 1;
            }
            Some("svg") => {
                let t = std::fs::read_to_string(&p).unwrap();
                assert!(t.contains("<svg") && t.trim_end().ends_with("</svg>"), "{}", p.display());
                assert!(embedded.contains(&t), "{} is not on the page", p.display());
            }
            _ => {}
        }
    }
    assert!(charts >= 6, "only {charts} PNG charts");
}

/// A trial's timeline shows each phase's own limit, the stable group beside
/// the candidate, and a zoom on the rule that decided (here a per-class gate
/// the whole-service error rate never shows).
#[test]
fn a_timeline_zooms_on_the_rule_that_decided() {
    let sc = Scenario::seed();
    let (record, trace) = rollsim::runner::trace(&sc, 1, 263);
    let dir = tempfile::tempdir().unwrap();
    let chart = rollsim::report::charts::Timeline {
        scenario: &sc,
        record: &record,
        trace: &trace,
        why: "test".into(),
        stem: "t".into(),
    };
    rollsim::report::charts::render(&chart, dir.path()).unwrap();
    let svg = std::fs::read_to_string(dir.path().join("t.svg")).unwrap();
    assert!(
        svg.contains("zoom on the deciding rule: gate majority/payment_workflow (error_rate, class payment"),
        "no zoom panel"
    );
    assert!(
        svg.contains("candidate blue, stable grey") && svg.contains("each phase&apos;s gate limit")
            || svg.contains("each phase's gate limit")
    );
}
