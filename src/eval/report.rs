//! The evaluation report: `report.json`, and per field an SVG with the
//! precision-coverage curve and the reliability diagram, written in plain Rust.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::FieldReport;

const PANEL: f64 = 300.0;
const MARGIN: f64 = 50.0;

/// Maps a value in [0, 1] to panel coordinates: `x0` is the panel's left edge.
fn point(x0: f64, x: f64, y: f64) -> (f64, f64) {
    (
        x0 + MARGIN + x.clamp(0.0, 1.0) * PANEL,
        MARGIN + (1.0 - y.clamp(0.0, 1.0)) * PANEL,
    )
}

fn axes(svg: &mut String, x0: f64, title: &str, x_label: &str, y_label: &str) {
    let (left, bottom) = point(x0, 0.0, 0.0);
    let (right, top) = point(x0, 1.0, 1.0);
    let _ = write!(
        svg,
        r##"<rect x="{left}" y="{top}" width="{PANEL}" height="{PANEL}" fill="none" stroke="#444"/>
<text x="{}" y="{}" text-anchor="middle" font-size="14">{title}</text>
<text x="{}" y="{}" text-anchor="middle" font-size="12">{x_label}</text>
<text x="{}" y="{}" text-anchor="middle" font-size="12" transform="rotate(-90 {} {})">{y_label}</text>
"##,
        (left + right) / 2.0,
        top - 15.0,
        (left + right) / 2.0,
        bottom + 35.0,
        left - 35.0,
        (top + bottom) / 2.0,
        left - 35.0,
        (top + bottom) / 2.0,
    );
    for tick in [0.0, 0.5, 1.0] {
        let (x, y) = point(x0, tick, 0.0);
        let _ = write!(
            svg,
            r#"<text x="{x}" y="{}" text-anchor="middle" font-size="10">{tick}</text>"#,
            y + 14.0
        );
        let (x, y) = point(x0, 0.0, tick);
        let _ = write!(
            svg,
            r#"<text x="{}" y="{y}" text-anchor="end" font-size="10">{tick}</text>"#,
            x - 4.0
        );
    }
}

/// The two charts of one field as an SVG document.
pub fn field_svg(field: &str, report: &FieldReport) -> String {
    let width = 2.0 * (PANEL + 2.0 * MARGIN);
    let height = PANEL + 2.0 * MARGIN + 20.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
"#
    );
    axes(
        &mut svg,
        0.0,
        &format!("{field}: precision vs coverage"),
        "coverage (share auto-routed)",
        "precision",
    );
    let line: Vec<String> = report
        .precision_coverage
        .iter()
        .map(|p| {
            let (x, y) = point(0.0, p.coverage, p.precision);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ = writeln!(
        svg,
        r##"<polyline points="{}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##,
        line.join(" ")
    );
    if let Some(calibrated) = &report.calibrated {
        let (x, y) = point(0.0, calibrated.test.coverage, calibrated.test.precision);
        let _ = writeln!(
            svg,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="#d62728"><title>threshold {:.2}</title></circle>"##,
            calibrated.threshold
        );
    }

    let x0 = PANEL + 2.0 * MARGIN;
    axes(
        &mut svg,
        x0,
        &format!("{field}: reliability"),
        "confidence",
        "accuracy",
    );
    let (a, b) = (point(x0, 0.0, 0.0), point(x0, 1.0, 1.0));
    let _ = writeln!(
        svg,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999" stroke-dasharray="4"/>"##,
        a.0, a.1, b.0, b.1
    );
    for bin in report.reliability.iter().filter(|b| b.count > 0) {
        let (left, top) = point(x0, bin.lower, bin.accuracy);
        let (right, bottom) = point(x0, bin.upper, 0.0);
        let _ = writeln!(
            svg,
            r##"<rect x="{left:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="#2ca02c" fill-opacity="0.6" stroke="#2ca02c"><title>{} tickets, accuracy {:.2}</title></rect>"##,
            right - left - 1.0,
            bottom - top,
            bin.count,
            bin.accuracy
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Writes `report.json` and one `<field>.svg` per field into `dir`.
pub fn write_report(dir: &Path, reports: &BTreeMap<String, FieldReport>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(reports).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("report.json"), json)?;
    for (field, report) in reports {
        let safe: String = field
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        std::fs::write(dir.join(format!("{safe}.svg")), field_svg(field, report))?;
    }
    Ok(())
}
