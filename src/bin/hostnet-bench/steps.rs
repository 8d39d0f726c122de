//! The benchmark's steps for each N and method: fresh namespaces, the inputs, and each
//! repetition's apply, re-apply, change, show and teardown, checked and recorded.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use serde_json::Value;

use crate::check::{check_empty, check_state, count_in_show, Expect};
use crate::report::{Record, Report};
use crate::run::{
    self, in_ns, run_child, run_child_rss, scratch_dir, tempfile_path, Netns, Res, Sample,
};
use crate::workload::{self, changed_network, networks, Net, Tables};
use crate::{Method, Tools};

/// How the steps end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Teardown {
    /// Each method's own teardown, timed (hostnet `state: absent`, `ip -batch` deletes).
    Timed,
    /// Only deleting the namespace (timed as such): `--goals`, where hostnet's teardown
    /// and ip's deletes at 4,000 networks would take minutes each. The peers then run in
    /// the first repetition only.
    DeleteNamespace,
}

/// One N: namespaces, inputs and the steps of one repetition.
struct Bench<'a> {
    n: usize,
    rep: usize,
    tools: &'a Tools,
    methods: &'a [Method],
    report: &'a mut Report,
    teardown: Teardown,
    probe: String,
    counter: usize,
    /// Input files.
    hostnet_file: PathBuf,
    hostnet_changed: PathBuf,
    hostnet_teardown: PathBuf,
    ip_ops: Vec<String>,
    ip_batch: PathBuf,
    ip_teardown: PathBuf,
    nm_file: PathBuf,
    nm_changed: PathBuf,
    own: Rc<Vec<Net>>,
    own_changed: Rc<Vec<Net>>,
    folded: Rc<Vec<Net>>,
    folded_changed: Rc<Vec<Net>>,
}

fn write(path: &Path, text: &str) -> Res<()> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every N with its repetitions (`reps`: one for all N, or one per N), every method in
/// each, round-robin.
pub fn run_all(
    ns: &[usize],
    reps: &[usize],
    teardown: Teardown,
    tools: &Tools,
    methods: &[Method],
    report: &mut Report,
) -> Res<()> {
    let pid = std::process::id();
    let probe_name = format!("hnb-{pid}-probe");
    let _probe = Netns::new(probe_name.clone(), None)?;
    for (idx, &n) in ns.iter().enumerate() {
        let reps = if reps.len() == 1 { reps[0] } else { reps[idx] };
        let k = changed_network(n);
        let own = networks(n, Tables::Own, None);
        let own_changed = networks(n, Tables::Own, Some(k));
        let folded = networks(n, Tables::Folded, None);
        let folded_changed = networks(n, Tables::Folded, Some(k));
        let dir = scratch_dir();
        let mut b = Bench {
            n,
            rep: 0,
            tools,
            methods,
            report,
            teardown,
            probe: probe_name.clone(),
            counter: 0,
            hostnet_file: dir.join(format!("hostnet-{n}.yaml")),
            hostnet_changed: dir.join(format!("hostnet-{n}-changed.yaml")),
            hostnet_teardown: dir.join(format!("hostnet-{n}-teardown.yaml")),
            ip_ops: workload::ip_ops(&own),
            ip_batch: dir.join(format!("ip-{n}.batch")),
            ip_teardown: dir.join(format!("ip-{n}-teardown.batch")),
            nm_file: dir.join(format!("nmstate-{n}.yaml")),
            nm_changed: dir.join(format!("nmstate-{n}-changed.yaml")),
            own: Rc::new(own),
            own_changed: Rc::new(own_changed),
            folded: Rc::new(folded),
            folded_changed: Rc::new(folded_changed),
        };
        write(&b.hostnet_file, &workload::hostnet_yaml(&b.own))?;
        write(&b.hostnet_changed, &workload::hostnet_yaml(&b.own_changed))?;
        write(
            &b.hostnet_teardown,
            &workload::hostnet_teardown_yaml(&b.own),
        )?;
        write(&b.ip_batch, &(b.ip_ops.join("\n") + "\n"))?;
        write(
            &b.ip_teardown,
            &(workload::ip_teardown_ops(&b.own).join("\n") + "\n"),
        )?;
        write(&b.nm_file, &workload::nmstate_yaml(&b.folded, None))?;
        write(
            &b.nm_changed,
            &workload::nmstate_yaml(&b.folded_changed, Some(&b.folded[k - 1])),
        )?;
        for rep in 0..reps {
            b.rep = rep;
            // Round-robin, starting one method later each repetition.
            let mut order = methods.to_vec();
            order.rotate_left(rep % methods.len());
            for m in order {
                if teardown == Teardown::DeleteNamespace && rep > 0 && m != Method::Hostnet {
                    continue;
                }
                eprintln!("N={n} rep {}/{reps}: {}", rep + 1, m.label());
                b.method_run(m)?;
            }
        }
    }
    Ok(())
}

impl Bench<'_> {
    fn fresh_ns(&mut self) -> Res<Netns> {
        self.counter += 1;
        let name = format!(
            "hnb-{}-n{}r{}x{}",
            std::process::id(),
            self.n,
            self.rep,
            self.counter
        );
        Netns::new(name, Some(self.probe.clone()))
    }

    fn record(&mut self, op: &str, method: &str, s: &Sample, extra: Option<Value>) {
        let load1 = run::load1();
        eprintln!(
            "  {op:<9} {method:<26} {:>9.1} ms  cpu {:>8.1} ms  sys {:>8.1} ms  maxrss {:>7} KiB  load {load1:.2}",
            s.wall.as_secs_f64() * 1e3,
            s.cpu.as_secs_f64() * 1e3,
            s.sys.as_secs_f64() * 1e3,
            s.maxrss_kb
        );
        self.report.records.push(Record {
            n: self.n,
            rep: self.rep,
            op: op.to_string(),
            method: method.to_string(),
            wall_s: s.wall.as_secs_f64(),
            cpu_s: s.cpu.as_secs_f64(),
            sys_s: s.sys.as_secs_f64(),
            load1,
            maxrss_kb: s.maxrss_kb,
            processes: s.processes,
            hostnet_timings_ms: extra,
        });
    }

    /// `hostnet apply FILE --netns NS -o json`; returns the sample and its timings.
    fn hostnet_apply(&self, ns: &str, file: &Path) -> Res<(Sample, Option<Value>)> {
        let out = tempfile_path("hostnet-out");
        let s = run_child_rss(
            self.tools
                .hostnet()?
                .arg("apply")
                .arg(file)
                .args(["--netns", ns, "-o", "json"]),
            Some(&out),
            true,
        )?
        .ok("hostnet apply")?;
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let _ = std::fs::remove_file(&out);
        let timings = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("timings-ms").cloned());
        Ok((s, timings))
    }

    fn nmstate_apply(&self, ns: &str, file: &Path) -> Res<Sample> {
        let Some(nm) = &self.tools.nmstatectl else {
            return Err("nmstatectl missing".into());
        };
        // `ip netns exec` also remounts /sys for the namespace, which nispor reads.
        run_child_rss(
            Command::new("ip")
                .args(["netns", "exec", ns])
                .arg(nm)
                .args(["apply", "--kernel", "-q"])
                .arg(file),
            Some(&tempfile_path("nmstate-out")),
            true,
        )?
        .ok("nmstatectl apply")
    }

    fn ip_batch(&self, ns: &str, file: &Path) -> Res<Sample> {
        in_ns(ns, || {
            run_child(Command::new("ip").arg("-batch").arg(file), None)?.ok("ip -batch")
        })
    }

    fn ip_per_op(&self, ns: &str, ops: &[String]) -> Res<Sample> {
        in_ns(ns, || {
            let mut total = Sample::default();
            for op in ops {
                let s = run_child(Command::new("ip").args(op.split(' ')), None)?;
                total.add(&s.ok(&format!("ip {op}"))?);
            }
            Ok(total)
        })
    }

    fn method_run(&mut self, m: Method) -> Res<()> {
        let mut ns = self.fresh_ns()?;
        let name = ns.name.clone();
        let (own, own_changed) = (self.own.clone(), self.own_changed.clone());
        let (folded, folded_changed) = (self.folded.clone(), self.folded_changed.clone());
        let full = Expect {
            nets: &own,
            rules: true,
        };
        let changed = Expect {
            nets: &own_changed,
            rules: true,
        };
        let k = changed_network(self.n);
        match m {
            Method::Hostnet => {
                let (s, t) = self.hostnet_apply(&name, &self.hostnet_file)?;
                check_state(&name, &full).map_err(|e| format!("hostnet apply: {e}"))?;
                self.record("apply", m.label(), &s, t);
                let (s, t) = self.hostnet_apply(&name, &self.hostnet_file)?;
                check_state(&name, &full).map_err(|e| format!("hostnet re-apply: {e}"))?;
                self.record("re-apply", m.label(), &s, t);
                let (s, t) = self.hostnet_apply(&name, &self.hostnet_changed)?;
                check_state(&name, &changed).map_err(|e| format!("hostnet change: {e}"))?;
                self.record("change", m.label(), &s, t);
                self.shows(&name)?;
                if self.teardown == Teardown::DeleteNamespace {
                    return self.netns_delete(&mut ns);
                }
                let (s, t) = self.hostnet_apply(&name, &self.hostnet_teardown)?;
                check_empty(&name).map_err(|e| format!("hostnet teardown: {e}"))?;
                self.record("teardown", m.label(), &s, t);
                ns.delete_and_wait()?;
            }
            Method::IpBatch => {
                let s = self.ip_batch(&name, &self.ip_batch)?;
                check_state(&name, &full).map_err(|e| format!("ip -batch: {e}"))?;
                self.record("apply", m.label(), &s, None);
                if self.teardown == Teardown::DeleteNamespace {
                    return self.netns_delete(&mut ns);
                }
                let s = self.ip_batch(&name, &self.ip_teardown)?;
                check_empty(&name).map_err(|e| format!("ip -batch teardown: {e}"))?;
                self.record("teardown", "ip -batch (deletes)", &s, None);
                ns.delete_and_wait()?;
            }
            Method::IpPerOp => {
                let s = self.ip_per_op(&name, &self.ip_ops)?;
                check_state(&name, &full).map_err(|e| format!("ip per op: {e}"))?;
                self.record("apply", m.label(), &s, None);
                let op = workload::ip_change(&own_changed[k - 1]);
                let s = self.ip_per_op(&name, &[op])?;
                check_state(&name, &changed).map_err(|e| format!("ip change: {e}"))?;
                self.record("change", m.label(), &s, None);
                self.netns_delete(&mut ns)?;
            }
            Method::Nmstate => {
                let nm = Expect {
                    nets: &folded,
                    rules: false,
                };
                let nm_changed = Expect {
                    nets: &folded_changed,
                    rules: false,
                };
                // nmstatectl's own errors (it retries and verifies by itself, and is
                // occasionally flaky) are reported as failed runs, not fatal; a wrong state
                // after it reported success is fatal like for every method.
                let steps = [
                    ("apply", self.nm_file.clone(), &nm),
                    ("re-apply", self.nm_file.clone(), &nm),
                    ("change", self.nm_changed.clone(), &nm_changed),
                ];
                for (op, file, exp) in steps {
                    match self.nmstate_apply(&name, &file) {
                        Ok(s) => {
                            check_state(&name, exp).map_err(|e| format!("nmstatectl {op}: {e}"))?;
                            self.record(op, m.label(), &s, None);
                        }
                        Err(e) => {
                            eprintln!("  {op}: {e}");
                            self.report.failures.push(format!(
                                "N={} rep {}: nmstatectl {op}: {e}",
                                self.n,
                                self.rep + 1
                            ));
                            break;
                        }
                    }
                }
                if self.methods.contains(&Method::IpPerOp) {
                    ns.delete_and_wait()?;
                } else {
                    self.netns_delete(&mut ns)?;
                }
            }
        }
        Ok(())
    }

    /// Deleting the namespace, timed until the kernel has really torn it down.
    fn netns_delete(&mut self, ns: &mut Netns) -> Res<()> {
        let wall = ns.delete_and_wait()?;
        let s = Sample {
            wall,
            ..Sample::default()
        };
        self.record("teardown", "delete the namespace", &s, None);
        Ok(())
    }

    /// Reading the whole state, each reader on the same namespace (hostnet's, after the
    /// change), in rotating order.
    fn shows(&mut self, ns: &str) -> Res<()> {
        let mut readers = vec!["hostnet", "ip"];
        if self.tools.nmstatectl.is_some() {
            readers.push("nmstate");
        }
        let len = readers.len();
        readers.rotate_left(self.rep % len);
        let n = self.n;
        for r in readers {
            match r {
                "hostnet" => {
                    let out = tempfile_path("show");
                    let s = run_child_rss(
                        self.tools
                            .hostnet()?
                            .args(["show", "--netns", ns, "-o", "json"]),
                        Some(&out),
                        true,
                    )?
                    .ok("hostnet show")?;
                    let bridges = count_in_show(&out, "linux-bridge")?;
                    let _ = std::fs::remove_file(&out);
                    if bridges != n {
                        return Err(format!("hostnet show: {bridges} bridges, expected {n}"));
                    }
                    self.record("show", "hostnet show -o json", &s, None);
                }
                "ip" => {
                    let mut total = Sample::default();
                    let mut links = 0;
                    for q in [
                        "-j -d link show",
                        "-j addr show",
                        "-j route show table all",
                        "-j rule show",
                    ] {
                        let out = tempfile_path("ipshow");
                        let s = in_ns(ns, || {
                            run_child(Command::new("ip").args(q.split(' ')), Some(&out))
                        })?
                        .ok(&format!("ip {q}"))?;
                        total.add(&s);
                        if q.contains("link") {
                            links = count_in_show(&out, "")?;
                        }
                        let _ = std::fs::remove_file(&out);
                    }
                    if links != 3 * n + 1 {
                        return Err(format!("ip -j link: {links} links, expected {}", 3 * n + 1));
                    }
                    self.record("show", "ip -j (link, addr, route, rule)", &total, None);
                }
                _ => {
                    let Some(nm) = &self.tools.nmstatectl else {
                        continue;
                    };
                    let out = tempfile_path("nmshow");
                    let s = run_child_rss(
                        Command::new("ip")
                            .args(["netns", "exec", ns])
                            .arg(nm)
                            .args(["show", "--kernel", "--json", "-q"]),
                        Some(&out),
                        true,
                    )?
                    .ok("nmstatectl show")?;
                    let bridges = count_in_show(&out, "linux-bridge")?;
                    let _ = std::fs::remove_file(&out);
                    if bridges != n {
                        return Err(format!("nmstatectl show: {bridges} bridges, expected {n}"));
                    }
                    self.record("show", "nmstatectl show --kernel", &s, None);
                }
            }
        }
        Ok(())
    }
}
