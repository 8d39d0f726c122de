//! `--dry-teardown`: what a dry run of the teardown of N networks costs (planning, then the
//! model driver running the plan and the verification), with no kernel: the state is N
//! networks of the workload applied to the model driver, with the per-interface sysctls
//! a dry run reads from the kernel, and the teardown planned with the record that apply
//! leaves (as `hostnet apply` plans it, and as the kernel benchmark's teardown runs).

use std::time::Instant;

use hostnet::engine::applied::Applied;
use hostnet::engine::{self, ApplyOptions};
use hostnet::expand::Intent;
use hostnet::model::{parse, validate};
use hostnet::netdev::model::ModelDriver;
use hostnet::netdev::{Driver, Ipv6Switches};
use hostnet::plan::plan;

use crate::run::Res;
use crate::workload::{hostnet_teardown_yaml, hostnet_yaml, networks, Tables};

/// The intent of `yaml` as `hostnet apply` makes it in a namespace whose record is
/// `applied` (`/run/hostnet/applied/`): what it does not repeat about networks applied
/// before (a removed network's table) comes from there.
fn intent(yaml: &str, applied: &Applied) -> Res<Intent> {
    let desired = parse(yaml).map_err(|e| e.to_string())?;
    validate(&desired).map_err(|e| format!("{:?}", e.0))?;
    applied.intent_for(&desired).map_err(|e| e.to_string())
}

/// A fresh namespace as the Linux driver reads it for a dry run: `lo`, IPv6 on, and the
/// `default` sysctls that new devices copy.
fn fresh() -> ModelDriver {
    let mut s = ModelDriver::fresh_namespace().state().clone();
    s.ipv6_default = Some(Ipv6Switches {
        disabled: false,
        autoconf: true,
    });
    for (k, v) in [
        ("net.ipv4.conf.default.forwarding", "0"),
        ("net.ipv6.conf.default.forwarding", "0"),
        ("net.ipv6.conf.default.accept_ra", "1"),
        ("net.ipv4.conf.lo.forwarding", "0"),
        ("net.ipv6.conf.lo.forwarding", "0"),
        ("net.ipv6.conf.lo.accept_ra", "1"),
    ] {
        s.firewall.sysctls.insert(k.into(), v.into());
    }
    ModelDriver::new(s)
}

/// One line per N: the dry-run teardown's plan and total time, and its op count.
pub fn dry_teardown(ns: &[usize]) -> Res<()> {
    println!(
        "{:>6} {:>8} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "N", "ops", "plan", "execute", "verify", "total", "per network"
    );
    for &n in ns {
        let nets = networks(n, Tables::Own, None);
        let mut applied = Applied::default();
        let up = intent(&hostnet_yaml(&nets), &applied)?;
        let mut m = fresh();
        engine::apply(&mut m, &up, ApplyOptions::default(), |_, _| Ok(()))
            .map_err(|e| format!("apply {n} networks on the model: {e}"))?;
        // What the apply records, as the kernel benchmark's `hostnet apply` does.
        applied.merge(&up);
        let down = intent(&hostnet_teardown_yaml(&nets), &applied)?;
        let before = m.query().map_err(|e| e.to_string())?;
        // As `engine::apply` does for a dry run, phase by phase, timed apart.
        let t = Instant::now();
        let p = plan(&before, &down).map_err(|e| format!("plan: {e:?}"))?;
        let planned = t.elapsed();
        let t = Instant::now();
        let mut model = ModelDriver::new(before);
        let failed = p
            .phases
            .iter()
            .map(|phase| model.execute(phase).iter().filter(|r| r.is_err()).count())
            .sum::<usize>();
        let executed = t.elapsed();
        let t = Instant::now();
        let left = engine::verify(&mut model, &down)
            .err()
            .map_or(0, |e| e.len());
        let verified = t.elapsed();
        let total = planned + executed + verified;
        println!(
            "{n:>6} {:>8} {:>10.1?} {:>10.1?} {:>10.1?} {:>10.1?} {:>9.3} ms  {failed} ops failed, {left} left to verify",
            p.len(),
            planned,
            executed,
            verified,
            total,
            total.as_secs_f64() * 1e3 / n as f64
        );
    }
    Ok(())
}
