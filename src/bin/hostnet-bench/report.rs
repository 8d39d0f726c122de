//! Results: the raw samples (JSON), the table (Markdown) and the plot (SVG, by hand).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::run::Res;

/// One timed step of one repetition.
#[derive(Clone, Debug)]
pub struct Record {
    pub n: usize,
    pub rep: usize,
    pub op: String,
    pub method: String,
    pub wall_s: f64,
    pub cpu_s: f64,
    /// The kernel part of `cpu_s`.
    pub sys_s: f64,
    /// The 1-minute load average when the step ended.
    pub load1: f64,
    pub maxrss_kb: u64,
    pub processes: usize,
    /// hostnet's own `timings_ms` (query, plan, execute, verify).
    pub hostnet_timings_ms: Option<Value>,
}

pub struct Report {
    pub env: Vec<(String, String)>,
    pub records: Vec<Record>,
    /// Runs a peer reported as failed (not counted in the table).
    pub failures: Vec<String>,
}

pub const OPS: [&str; 5] = ["apply", "re-apply", "change", "show", "teardown"];

/// Median, min, max of a list.
pub fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let m = s.len() / 2;
    let med = if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    };
    (med, s[0], s[s.len() - 1])
}

/// "12.3 ms" / "1.45 s".
pub fn fmt_s(x: f64) -> String {
    if !x.is_finite() {
        "–".into()
    } else if x < 0.01 {
        format!("{:.2} ms", x * 1e3)
    } else if x < 1.0 {
        format!("{:.0} ms", x * 1e3)
    } else if x < 10.0 {
        format!("{x:.2} s")
    } else {
        format!("{x:.1} s")
    }
}

/// One row of the table.
pub struct Row {
    pub n: usize,
    pub op: String,
    pub method: String,
    pub wall: (f64, f64, f64),
    pub cpu: f64,
    pub sys: f64,
    pub maxrss_kb: u64,
    pub runs: usize,
    pub processes: usize,
}

fn first_line(cmd: &mut Command) -> String {
    cmd.output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .unwrap_or("?")
        .trim_matches('"')
        .to_string();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    vec![
        (
            "date".into(),
            first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
        ),
        ("machine".into(), format!("{cpus} × {model}, {mem} RAM")),
        ("os".into(), os),
        ("kernel".into(), kernel),
        (
            "load average at start".into(),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        ),
    ]
}

impl Report {
    pub fn new() -> Report {
        Report {
            env: machine(),
            records: Vec::new(),
            failures: Vec::new(),
        }
    }

    pub fn rows(&self) -> Vec<Row> {
        let mut keys: Vec<(usize, String, String)> = Vec::new();
        for r in &self.records {
            let k = (r.n, r.op.clone(), r.method.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys.sort_by_key(|(n, op, _)| (*n, OPS.iter().position(|o| o == op).unwrap_or(9)));
        keys.into_iter()
            .map(|(n, op, method)| {
                let rs: Vec<&Record> = self
                    .records
                    .iter()
                    .filter(|r| r.n == n && r.op == op && r.method == method)
                    .collect();
                let wall: Vec<f64> = rs.iter().map(|r| r.wall_s).collect();
                let cpu: Vec<f64> = rs.iter().map(|r| r.cpu_s).collect();
                let sys: Vec<f64> = rs.iter().map(|r| r.sys_s).collect();
                Row {
                    n,
                    op,
                    method,
                    wall: stats(&wall),
                    cpu: stats(&cpu).0,
                    sys: stats(&sys).0,
                    maxrss_kb: rs.iter().map(|r| r.maxrss_kb).max().unwrap_or(0),
                    runs: rs.len(),
                    processes: rs.first().map(|r| r.processes).unwrap_or(0),
                }
            })
            .collect()
    }

    /// hostnet's own phases (median ms) per N and step.
    pub fn hostnet_phases(&self) -> Vec<(usize, String, [f64; 4])> {
        let mut out = Vec::new();
        for row in self.rows().iter().filter(|r| r.method == "hostnet") {
            let mut phases = [0.0; 4];
            for (i, p) in ["query", "plan", "execute", "verify"].iter().enumerate() {
                let v: Vec<f64> = self
                    .records
                    .iter()
                    .filter(|r| r.n == row.n && r.op == row.op && r.method == row.method)
                    .filter_map(|r| r.hostnet_timings_ms.as_ref()?.get(*p)?.as_f64())
                    .collect();
                phases[i] = stats(&v).0;
            }
            out.push((row.n, row.op.clone(), phases));
        }
        out
    }

    pub fn write(&self, dir: &Path) -> Res<()> {
        let w = |name: &str, text: String| {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
        };
        w("RESULTS.md", self.markdown())?;
        w("apply.svg", self.svg())?;
        let text = serde_json::to_string_pretty(&json!({"environment": self.env_json(),
            "records": self.records_json(), "failures": self.failures}))
        .map_err(|e| e.to_string())?;
        w("results.json", text + "\n")
    }

    /// Every record, as in results.json.
    pub fn records_json(&self) -> Vec<Value> {
        self.records
            .iter()
            .map(|r| {
                json!({"n": r.n, "rep": r.rep, "op": r.op, "method": r.method,
                       "wall_s": r.wall_s, "cpu_s": r.cpu_s, "sys_s": r.sys_s,
                       "load1": r.load1, "maxrss_kb": r.maxrss_kb,
                       "processes": r.processes, "hostnet_timings_ms": r.hostnet_timings_ms})
            })
            .collect()
    }

    pub fn env_json(&self) -> Value {
        Value::Object(
            self.env
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let rows = self.rows();
        let mut ns: Vec<usize> = rows.iter().map(|r| r.n).collect();
        ns.dedup();
        for n in ns {
            let _ = writeln!(
                s,
                "\n**N = {n}**\n\n| step | method | median | min | max | runs | CPU (median) | of it kernel | peak RSS |\n|---|---|--:|--:|--:|--:|--:|--:|--:|"
            );
            for r in rows.iter().filter(|r| r.n == n) {
                let rss = if r.maxrss_kb == 0 {
                    "–".into()
                } else {
                    format!("{:.1} MiB", r.maxrss_kb as f64 / 1024.0)
                };
                let procs = if r.processes > 1 {
                    format!(" ({} processes)", r.processes)
                } else {
                    String::new()
                };
                let (cpu, sys) = if r.processes == 0 {
                    ("–".into(), "–".into())
                } else {
                    (fmt_s(r.cpu), fmt_s(r.sys))
                };
                let bold = if r.method.starts_with("hostnet") {
                    "**"
                } else {
                    ""
                };
                let _ = writeln!(
                    s,
                    "| {} | {bold}{}{bold}{procs} | {bold}{}{bold} | {} | {} | {} | {cpu} | {sys} | {rss} |",
                    r.op,
                    r.method,
                    fmt_s(r.wall.0),
                    fmt_s(r.wall.1),
                    fmt_s(r.wall.2),
                    r.runs,
                );
            }
        }
        s
    }

    fn markdown(&self) -> String {
        let mut s = String::from("# hostnet-bench results\n\n");
        for (k, v) in &self.env {
            let _ = writeln!(s, "* {k}: {v}");
        }
        s.push_str(
            "\nWall time of each step, including process start-up. Every result was checked \
             with `ip -j` (links, addresses, IPv4 routes in every table, rules) before it was \
             recorded. See bench/README.md for the workload and the method.\n",
        );
        s.push_str(&self.table());
        s.push_str(
            "\nhostnet's own phases (median ms, from `apply -o json`; the rest of the wall time is \
             process start-up, reading and expanding the YAML, the lock and printing):\n\n\
             | N | step | query | plan | execute | verify |\n|--:|---|--:|--:|--:|--:|\n",
        );
        for (n, op, p) in self.hostnet_phases() {
            let _ = writeln!(
                s,
                "| {n} | {op} | {:.1} | {:.1} | {:.1} | {:.1} |",
                p[0], p[1], p[2], p[3]
            );
        }
        if !self.failures.is_empty() {
            s.push_str("\nRuns a peer reported as failed (left out of the table):\n\n");
            for f in &self.failures {
                let _ = writeln!(s, "* {f}");
            }
        }
        s.push_str("\n![plot](apply.svg)\n");
        s
    }

    /// Grouped bars (median, whiskers min–max) per step and method, log scale, one panel
    /// per N.
    pub fn svg(&self) -> String {
        let rows = self.rows();
        let mut ns: Vec<usize> = rows.iter().map(|r| r.n).collect();
        ns.dedup();
        let mut methods: Vec<String> = Vec::new();
        for r in &rows {
            if !methods.contains(&r.method) {
                methods.push(r.method.clone());
            }
        }
        // As many colours as methods can appear, so that no two share one.
        const COLORS: [&str; 10] = [
            "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
            "#1f78b4", "#b15928",
        ];
        let color =
            |m: &str| COLORS[methods.iter().position(|x| x == m).unwrap_or(0) % COLORS.len()];
        let (lo, hi) = (
            rows.iter()
                .map(|r| r.wall.1)
                .fold(f64::INFINITY, f64::min)
                .max(1e-4)
                .log10()
                .floor(),
            rows.iter()
                .map(|r| r.wall.2)
                .fold(0.0_f64, f64::max)
                .max(1e-3)
                .log10()
                .ceil(),
        );
        let (panel_w, panel_h, top, left) = (560.0, 320.0, 40.0, 60.0);
        let legend_h = 22.0 * methods.len().div_ceil(2) as f64 + 10.0;
        let width = left + ns.len() as f64 * (panel_w + 30.0);
        let height = top + panel_h + 50.0 + legend_h;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">"#
        );
        let _ = writeln!(
            s,
            r#"<rect width="100%" height="100%" fill="white"/><text x="{left}" y="18" font-size="14">hostnet vs ip / ip -batch / nmstatectl: wall time per step (median, whiskers min–max, log scale)</text>"#
        );
        let y_of = |v: f64| top + panel_h - (v.max(1e-5).log10() - lo) / (hi - lo) * panel_h;
        for (pi, &n) in ns.iter().enumerate() {
            let x0 = left + pi as f64 * (panel_w + 30.0);
            let _ = writeln!(
                s,
                r#"<text x="{:.0}" y="{:.0}" font-size="13" text-anchor="middle">N = {n}</text>"#,
                x0 + panel_w / 2.0,
                top - 6.0
            );
            let mut e = lo as i32;
            while e <= hi as i32 {
                let y = y_of(10f64.powi(e));
                let label = fmt_s(10f64.powi(e));
                let _ = writeln!(
                    s,
                    r##"<line x1="{x0:.0}" x2="{:.0}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.0}" y="{:.1}" text-anchor="end">{label}</text>"##,
                    x0 + panel_w,
                    x0 - 4.0,
                    y + 4.0
                );
                e += 1;
            }
            let ops: Vec<&str> = OPS
                .iter()
                .copied()
                .filter(|op| rows.iter().any(|r| r.n == n && r.op == *op))
                .collect();
            let gw = panel_w / ops.len().max(1) as f64;
            for (gi, op) in ops.iter().enumerate() {
                let group: Vec<&crate::report::Row> =
                    rows.iter().filter(|r| r.n == n && r.op == *op).collect();
                let bw = ((gw - 16.0) / group.len().max(1) as f64).min(40.0);
                let gx = x0 + gi as f64 * gw + (gw - bw * group.len() as f64) / 2.0;
                let _ = writeln!(
                    s,
                    r#"<text x="{:.0}" y="{:.0}" text-anchor="middle" font-size="12">{op}</text>"#,
                    x0 + gi as f64 * gw + gw / 2.0,
                    top + panel_h + 16.0
                );
                for (bi, r) in group.iter().enumerate() {
                    let x = gx + bi as f64 * bw;
                    let (med, mn, mx) = r.wall;
                    let y = y_of(med);
                    let _ = writeln!(
                        s,
                        r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {} (min {}, max {})</title></rect>"#,
                        x + 1.0,
                        bw - 2.0,
                        (top + panel_h - y).max(0.5),
                        color(&r.method),
                        r.method,
                        fmt_s(med),
                        fmt_s(mn),
                        fmt_s(mx)
                    );
                    let cx = x + bw / 2.0;
                    let _ = writeln!(
                        s,
                        r#"<line x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}" stroke="black"/>"#,
                        y_of(mn),
                        y_of(mx)
                    );
                    let _ = writeln!(
                        s,
                        r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="9" transform="rotate(-90 {cx:.1} {:.1})" dx="{:.1}">{}</text>"#,
                        y_of(mx) - 4.0,
                        y_of(mx) - 4.0,
                        0.0,
                        fmt_s(med)
                    );
                }
            }
            let _ = writeln!(
                s,
                r#"<line x1="{x0:.0}" x2="{:.0}" y1="{:.0}" y2="{:.0}" stroke="black"/>"#,
                x0 + panel_w,
                top + panel_h,
                top + panel_h
            );
        }
        for (i, m) in methods.iter().enumerate() {
            let lx = left + (i % 2) as f64 * 330.0;
            let ly = top + panel_h + 36.0 + (i / 2) as f64 * 22.0;
            let _ = writeln!(
                s,
                r#"<rect x="{lx:.0}" y="{ly:.0}" width="14" height="14" fill="{}"/><text x="{:.0}" y="{:.0}">{}</text>"#,
                color(m),
                lx + 20.0,
                ly + 11.0,
                m
            );
        }
        s.push_str("</svg>\n");
        s
    }
}
