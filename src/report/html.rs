//! `index.html`: one page with the summary tables and every chart. It only
//! references files in its own folder, so the folder works offline as is.

use super::RunMeta;
use crate::summary::{minutes, pct, Summary};
use std::fmt::Write;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `charts` are (title, SVG text) pairs; each SVG is embedded as a data URI, so
/// the page is one self-contained file (one CI artifact), and the PNGs beside it
/// are extras.
pub fn page(meta: &RunMeta, s: &Summary, charts: &[(String, String)]) -> String {
    let mut o = String::new();
    let title = format!("rollsim: {}", escape(&meta.scenario));
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; font-size: 0.9em; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}\n\
         th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) {{ text-align: left; }}\n\
         td {{ white-space: nowrap; }}\n\
         img {{ max-width: 100%; border: 1px solid #eee; margin: 1em 0; }}\n\
         code {{ background: #f4f4f4; padding: 1px 4px; }}\n</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    let _ = writeln!(
        o,
        "<p>{} trials, seed {}, scenario hash <code>{}</code>, rollsim {}. Reproduce a trial: <code>{}</code></p>",
        meta.trials,
        meta.seed,
        escape(&meta.scenario_hash[..12]),
        escape(&meta.program_version),
        escape(&meta.reproduce)
    );
    let bad = s.overall_bad();
    let good = s.overall_good();
    let _ = writeln!(
        o,
        "<ul><li>Bad versions detected: {}; escaped to 100%: {}</li><li>Detection time (minutes from onset): p50 {}, p90 {}</li><li>Good versions rolled back under noise alone (false rollbacks): {}</li>{}<li>Completed rollouts of good versions (noise only) took p50 {}</li></ul>",
        pct(&bad.detected),
        pct(&bad.escape),
        minutes(&bad.detection_p50_min),
        minutes(&bad.detection_p90_min),
        pct(&good.false_rollback),
        s.overall_incident()
            .map(|inc| format!(
                "<li>Good versions rolled back during an outside incident (shared dependency): {}</li>",
                pct(&inc.false_rollback)
            ))
            .unwrap_or_default(),
        crate::summary::hours(&good.duration_p50_h)
    );
    let _ = writeln!(o, "<p>Estimates with 95% confidence intervals in brackets; ∞ = not detected.</p>");
    let _ = writeln!(
        o,
        "<table>\n<tr><th>fault</th><th>kind</th><th>trials</th><th>detected</th><th>detection p50 (min)</th><th>detection p90 (min)</th><th>mean peak share</th><th>mean excess failed</th><th>escaped</th><th>false rollback</th></tr>"
    );
    for g in &s.groups {
        let dash = "—".to_string();
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{:.0}</td><td>{}</td><td>{}</td></tr>",
            escape(&g.name),
            escape(&g.kind),
            g.trials,
            if g.bad { pct(&g.detected) } else { dash.clone() },
            if g.bad { minutes(&g.detection_p50_min) } else { dash.clone() },
            if g.bad { minutes(&g.detection_p90_min) } else { dash.clone() },
            100.0 * g.peak_share_mean,
            g.excess_failed_mean,
            if g.bad { pct(&g.escape) } else { dash.clone() },
            if g.bad { dash } else { pct(&g.false_rollback) },
        );
    }
    let _ = writeln!(o, "</table>");
    for (title, svg) in charts {
        let _ =
            writeln!(o, "<h2>{}</h2>\n<img src=\"{}\" alt=\"{}\">", escape(title), svg_data_uri(svg), escape(title));
    }
    let _ = writeln!(
        o,
        "<h2>Data</h2>\n<ul><li><a href=\"trials.csv\">trials.csv</a></li><li><a href=\"trials.parquet\">trials.parquet</a></li><li><a href=\"summary.json\">summary.json</a></li><li><a href=\"summary.md\">summary.md</a></li></ul>\n</body>\n</html>"
    );
    o
}

/// A self-contained page from a Markdown report (sweep, compare) and its
/// charts, `charts` as (title, SVG text), embedded like the run's page.
pub fn markdown_page(title: &str, md: &str, charts: &[(String, String)], links: &[&str]) -> String {
    use pulldown_cmark::{html, Options, Parser};
    let mut body = String::new();
    html::push_html(&mut body, Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH));
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; font-size: 0.9em; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 4px 8px; }}\n\
         td {{ white-space: nowrap; }}\n\
         img {{ max-width: 100%; border: 1px solid #eee; margin: 1em 0; }}\n\
         code {{ background: #f4f4f4; padding: 1px 4px; }}\n</style>\n</head>\n<body>\n",
        escape(title)
    );
    o.push_str(&body);
    for (t, svg) in charts {
        let _ = writeln!(o, "<h2>{}</h2>\n<img src=\"{}\" alt=\"{}\">", escape(t), svg_data_uri(svg), escape(t));
    }
    if !links.is_empty() {
        let items: String = links.iter().map(|l| format!("<li><a href=\"{l}\">{l}</a></li>", l = escape(l))).collect();
        let _ = writeln!(o, "<h2>Data</h2>\n<ul>{items}</ul>");
    }
    o.push_str("</body>\n</html>\n");
    o
}

/// An SVG as a `data:` URI: bytes outside a small safe set are percent-encoded
/// (smaller than base64 for SVG text, and readable).
pub fn svg_data_uri(svg: &str) -> String {
    let mut out = String::with_capacity(svg.len() + svg.len() / 4 + 32);
    out.push_str("data:image/svg+xml;charset=utf-8,");
    for b in svg.bytes() {
        if b.is_ascii_alphanumeric() || b" -_.~:/=;,()'!*+@$".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
