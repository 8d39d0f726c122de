//! goals.svg: one panel per goal, bars (median, whiskers min–max) per N and series, with
//! the goal's limit as a dashed line. Drawn by hand like apply.svg.

use std::fmt::Write as _;

use super::verdict::{Goal, APPLY_MAX_RATIO, FIREWALL_MAX_MS, FORWARDING_MIN_RATIO};
use super::Run;
use crate::forward::Layout;
use crate::report::stats;

const COLORS: [&str; 2] = ["#1b9e77", "#d95f02"];
const PANEL_W: f64 = 380.0;
const PANEL_H: f64 = 260.0;
const TOP: f64 = 64.0;
const LEFT: f64 = 60.0;
const GAP: f64 = 70.0;

/// One bar: median, min, max.
type Bar = (f64, f64, f64);

/// One panel: title, unit, the series' names, per group (N) its label and one bar per
/// series, and the goal's line.
struct Panel {
    title: String,
    unit: &'static str,
    series: [&'static str; 2],
    groups: Vec<(String, [Bar; 2])>,
    limit: (f64, String),
}

fn med_min_max(v: &[f64]) -> Bar {
    stats(v)
}

fn apply_panel(run: &Run) -> Panel {
    let mut ns = run.args_n.clone();
    ns.sort_unstable();
    ns.dedup();
    let per = |n: usize, method: &str| -> Bar {
        let v: Vec<f64> = run
            .apply
            .records
            .iter()
            .filter(|r| r.n == n && r.op == "apply" && r.method == method)
            .map(|r| r.wall_s * 1e3 / n as f64)
            .collect();
        med_min_max(&v)
    };
    let first = ns.first().map_or(f64::NAN, |&n| per(n, "hostnet").0);
    Panel {
        title: "apply from scratch, per network".into(),
        unit: "ms",
        series: ["hostnet", "ip -batch"],
        groups: ns
            .iter()
            .map(|&n| (format!("N={n}"), [per(n, "hostnet"), per(n, "ip -batch")]))
            .collect(),
        limit: (
            first * APPLY_MAX_RATIO,
            format!("goal: ≤ {APPLY_MAX_RATIO}× hostnet's at the smallest N"),
        ),
    }
}

fn forwarding_panel(run: &Run) -> Panel {
    let m = &run.forwarding;
    let mut ns: Vec<usize> = m.samples.iter().map(|x| x.n).collect();
    ns.dedup();
    Panel {
        title: "forwarded rate / rate without rules".into(),
        unit: "×",
        series: ["hostnet's rules", "earlier layout (from + to)"],
        groups: ns
            .iter()
            .map(|&n| {
                (
                    format!("N={n}"),
                    [
                        med_min_max(&m.ratios(n, Layout::Hostnet)),
                        med_min_max(&m.ratios(n, Layout::Earlier)),
                    ],
                )
            })
            .collect(),
        limit: (
            FORWARDING_MIN_RATIO,
            format!("goal: ≥ {FORWARDING_MIN_RATIO}×"),
        ),
    }
}

fn firewall_panel(run: &Run) -> Panel {
    let bar = |v: &[crate::fw_apply::Sample]| {
        med_min_max(
            &v.iter()
                .map(|s| s.wall.as_secs_f64() * 1e3)
                .collect::<Vec<_>>(),
        )
    };
    Panel {
        title: "one-network firewall change".into(),
        unit: "ms",
        series: ["whole file", "one-network file"],
        groups: run
            .firewall
            .iter()
            .map(|f| {
                (
                    format!("N={}", f.n),
                    [bar(&f.figures.whole), bar(&f.figures.one)],
                )
            })
            .collect(),
        limit: (FIREWALL_MAX_MS, format!("goal: < {FIREWALL_MAX_MS} ms")),
    }
}

fn draw(s: &mut String, p: &Panel, x0: f64) {
    let top_value = p
        .groups
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|b| b.2))
        .chain([p.limit.0])
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max)
        .max(1e-9)
        * 1.15;
    let y_of = |v: f64| TOP + PANEL_H - (v / top_value).clamp(0.0, 1.0) * PANEL_H;
    let _ = writeln!(
        s,
        r#"<text x="{:.0}" y="{:.0}" font-size="13" text-anchor="middle">{} ({})</text>"#,
        x0 + PANEL_W / 2.0,
        TOP - 24.0,
        p.title,
        p.unit
    );
    for i in 0..=4 {
        let v = top_value * f64::from(i) / 4.0;
        let y = y_of(v);
        let _ = writeln!(
            s,
            r##"<line x1="{x0:.0}" x2="{:.0}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.0}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 + PANEL_W,
            x0 - 4.0,
            y + 4.0,
            short(v)
        );
    }
    let gw = PANEL_W / p.groups.len().max(1) as f64;
    for (gi, (label, bars)) in p.groups.iter().enumerate() {
        let bw = ((gw - 20.0) / 2.0).min(50.0);
        let gx = x0 + gi as f64 * gw + (gw - 2.0 * bw) / 2.0;
        let _ = writeln!(
            s,
            r#"<text x="{:.0}" y="{:.0}" text-anchor="middle" font-size="12">{label}</text>"#,
            x0 + gi as f64 * gw + gw / 2.0,
            TOP + PANEL_H + 16.0
        );
        for (bi, &(med, lo, hi)) in bars.iter().enumerate() {
            if !med.is_finite() {
                continue;
            }
            let x = gx + bi as f64 * bw;
            let y = y_of(med);
            let cx = x + bw / 2.0;
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {} {} (min {}, max {})</title></rect><line x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}" stroke="black"/><text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"#,
                x + 1.0,
                bw - 2.0,
                (TOP + PANEL_H - y).max(0.5),
                COLORS[bi],
                p.series[bi],
                short(med),
                p.unit,
                short(lo),
                short(hi),
                y_of(lo),
                y_of(hi),
                y_of(hi) - 3.0,
                short(med)
            );
        }
    }
    if p.limit.0.is_finite() {
        let y = y_of(p.limit.0);
        let _ = writeln!(
            s,
            r##"<line x1="{x0:.0}" x2="{:.0}" y1="{y:.1}" y2="{y:.1}" stroke="#c00" stroke-dasharray="6 4"/><text x="{:.0}" y="{:.1}" text-anchor="end" fill="#c00">{}</text>"##,
            x0 + PANEL_W,
            x0 + PANEL_W,
            y - 4.0,
            esc(&p.limit.1)
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{x0:.0}" x2="{:.0}" y1="{:.0}" y2="{:.0}" stroke="black"/>"#,
        x0 + PANEL_W,
        TOP + PANEL_H,
        TOP + PANEL_H
    );
    for (i, name) in p.series.iter().enumerate() {
        let ly = TOP + PANEL_H + 30.0 + i as f64 * 18.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x0:.0}" y="{ly:.0}" width="12" height="12" fill="{}"/><text x="{:.0}" y="{:.0}">{name}</text>"#,
            COLORS[i],
            x0 + 18.0,
            ly + 10.0
        );
    }
}

/// Text for SVG: `<`, `>` and `&` escaped.
fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn short(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The plot, titled with each goal's verdict.
pub fn svg(run: &Run, goals: &[Goal]) -> String {
    let panels = [forwarding_panel(run), apply_panel(run), firewall_panel(run)];
    let width = LEFT + 3.0 * (PANEL_W + GAP);
    let height = TOP + PANEL_H + 80.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="18" font-size="14">Issue 18's goals in one run ({}; median, whiskers min–max)</text>"#,
        run.commit.chars().take(12).collect::<String>()
    );
    for (i, p) in panels.iter().enumerate() {
        let x0 = LEFT + i as f64 * (PANEL_W + GAP);
        if let Some(g) = goals.get(i) {
            let _ = writeln!(
                s,
                r#"<text x="{:.0}" y="{:.0}" font-size="12" text-anchor="middle" font-weight="bold">{}</text>"#,
                x0 + PANEL_W / 2.0,
                TOP - 8.0,
                esc(&g.verdict_text())
            );
        }
        draw(&mut s, p, x0);
    }
    s.push_str("</svg>\n");
    s
}
