//! One transition and its checks: the dry run on the model, the real apply, the model's
//! predicted state against the kernel's, idempotence, `show` round trip, traffic.

use std::collections::BTreeSet;
use std::net::IpAddr;

use hostnet::netdev::KernelState;

use super::gen::{self, Bug, Doc, Effective, Switches};
use super::lab::{Lab, REMOTE4, REMOTE6};

/// Time spent per check, for the run's summary.
static TIMES: std::sync::Mutex<Vec<(&'static str, std::time::Duration)>> =
    std::sync::Mutex::new(Vec::new());

fn timed<T>(what: &'static str, f: impl FnOnce() -> T) -> T {
    let t = std::time::Instant::now();
    let r = f();
    if let Ok(mut times) = TIMES.lock() {
        match times.iter_mut().find(|(w, _)| *w == what) {
            Some((_, d)) => *d += t.elapsed(),
            None => times.push((what, t.elapsed())),
        }
    }
    r
}

/// Seconds spent per check so far.
pub fn times() -> String {
    TIMES
        .lock()
        .map(|t| {
            t.iter()
                .map(|(w, d)| format!("{w} {:.0} s", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Why a step failed: `kind` names the check (shrinking keeps it), `detail` says more.
#[derive(Clone, Debug)]
pub struct Failure {
    pub kind: String,
    pub detail: String,
}

fn fail(kind: impl Into<String>, detail: impl Into<String>) -> Failure {
    Failure {
        kind: kind.into(),
        detail: detail.into(),
    }
}

/// The shape of a message, for telling failures apart while shrinking: names, numbers
/// and addresses blanked out, cut short.
fn shape(msg: &str) -> String {
    let mut out = String::new();
    let mut last = ' ';
    for word in msg.split_inclusive([' ', ',', '(', ')']) {
        let blank = word.chars().any(|c| c.is_ascii_digit()) || word.starts_with("fz");
        let w = if blank { "_" } else { word.trim_end() };
        if !(w == "_" && last == '_') {
            out.push_str(w);
            out.push(' ');
        }
        last = if w == "_" { '_' } else { ' ' };
    }
    out.chars()
        .take(90)
        .collect::<String>()
        .trim_end()
        .to_string()
}

fn output_text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// An `apply -o json`'s plan lines and (for a dry run) the predicted state.
struct Applied {
    plan: Vec<String>,
    predicted: Option<KernelState>,
}

fn apply_json(lab: &Lab, yaml: &str, dry_run: bool, kind: &str) -> Result<Applied, Failure> {
    let mut args = vec!["apply", "-", "-o", "json"];
    if dry_run {
        args.push("--dry-run");
    }
    let o = lab.hostnet(&args, Some(yaml));
    if !o.status.success() {
        // The first line of the error names the class of failure; the exit code too.
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        let headline = v["error"].as_str().unwrap_or("").to_string();
        let first = v["details"][0].as_str().unwrap_or("");
        return Err(fail(
            format!(
                "{kind}: exit {:?}: {headline}: {}",
                o.status.code(),
                shape(first)
            ),
            output_text(&o),
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).map_err(|e| {
        fail(
            format!("{kind}: output is not JSON"),
            format!("{e}\n{}", output_text(&o)),
        )
    })?;
    let plan = v["plan"]
        .as_array()
        .map(|ops| {
            // Whole entries (network, kind, key, action, before, after): the dry run and
            // the real apply must agree on every attribute, not only on the objects.
            ops.iter().map(ToString::to_string).collect()
        })
        .unwrap_or_default();
    let predicted = match &v["predicted-state"] {
        serde_json::Value::Null => None,
        p => Some(
            serde_json::from_value(p.clone())
                .map_err(|e| fail(format!("{kind}: predicted-state unreadable"), e.to_string()))?,
        ),
    };
    Ok(Applied { plan, predicted })
}

/// Applies `doc` after `eff` and checks everything; returns the state after it.
pub fn run(lab: &Lab, doc: &Doc, eff: &Effective, sw: &Switches) -> Result<Effective, Failure> {
    let kernel = check_yaml(lab, &doc.to_yaml(), sw)?;
    let after = eff.after(doc);
    leftovers(&kernel, &after)?;
    timed("traffic", || traffic(lab, &after, sw))?;
    Ok(after)
}

/// The checks that need nothing but the file: the dry run and the apply succeed and plan
/// the same ops, the model's predicted state is the kernel's, a second apply and `show`'s
/// output re-applied change nothing.
pub fn check_yaml(lab: &Lab, yaml: &str, sw: &Switches) -> Result<KernelState, Failure> {
    let dry = timed("dry run", || apply_json(lab, yaml, true, "dry run"))?;
    let predicted = dry.predicted.ok_or_else(|| {
        fail(
            "dry run: no predicted state",
            "the dry run's plan failed on the model",
        )
    })?;
    let real = timed("apply", || apply_json(lab, yaml, false, "apply"))?;
    if dry.plan != real.plan {
        return Err(fail(
            "the dry run planned other ops than the apply",
            format!(
                "dry run:\n  {}\napply:\n  {}",
                dry.plan.join("\n  "),
                real.plan.join("\n  ")
            ),
        ));
    }
    let kernel =
        timed("query", || lab.query()).map_err(|e| fail("query after the apply failed", e))?;
    let diff = differences(&predicted, &kernel, sw);
    if !diff.is_empty() {
        return Err(fail(
            format!(
                "the model's predicted state differs from the kernel's: {}",
                shape(&diff[0])
            ),
            format!("(- model only, + kernel only)\n  {}", diff.join("\n  ")),
        ));
    }
    let again = timed("second apply", || {
        apply_json(lab, yaml, false, "second apply")
    })?;
    if !again.plan.is_empty() {
        return Err(fail(
            "a second apply is not a no-op",
            format!("  {}", again.plan.join("\n  ")),
        ));
    }
    let shown = timed("show", || lab.hostnet(&["show", "-o", "yaml"], None));
    if !shown.status.success() {
        return Err(fail("show failed", output_text(&shown)));
    }
    let shown_yaml = String::from_utf8_lossy(&shown.stdout).into_owned();
    let round = timed("show re-applied", || {
        apply_json(lab, &shown_yaml, false, "applying show's output")
    })
    .map_err(|mut f| {
        f.detail = format!("{}\n--- show -o yaml\n{shown_yaml}", f.detail);
        f
    })?;
    if !round.plan.is_empty() {
        return Err(fail(
            "show -o yaml re-applied is not a no-op",
            format!(
                "  {}\n--- show -o yaml\n{shown_yaml}",
                round.plan.join("\n  ")
            ),
        ));
    }
    Ok(kernel)
}

/// What differs between the model's prediction and the kernel, one line per object.
pub fn differences(model: &KernelState, kernel: &KernelState, sw: &Switches) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = model.links.keys().chain(kernel.links.keys()).collect();
    for name in names {
        match (model.links.get(name), kernel.links.get(name)) {
            (Some(_), None) => out.push(format!("- link {name}")),
            (None, Some(_)) => out.push(format!("+ link {name}")),
            (Some(m), Some(k)) => {
                // A device created without a MAC gets a random one from the kernel; the
                // model's stand-in for it predicts nothing.
                let emptied = k.mac == Some(hostnet::netdev::MacAddr([0; 6]))
                    && matches!(k.kind, hostnet::netdev::LinkKind::Bridge(_))
                    && !sw.on(Bug::EmptyBridgeMac);
                let mac_differs = m.mac.is_some_and(|mac| mac != model_stand_in_mac(name))
                    && m.mac != k.mac
                    && !emptied;
                if m.kind != k.kind
                    || m.up != k.up
                    || m.mtu != k.mtu
                    || m.controller != k.controller
                    || mac_differs
                {
                    out.push(format!("~ link {name}: model {m:?}, kernel {k:?}"));
                }
            }
            (None, None) => {}
        }
    }
    set_diff(
        &mut out,
        "address",
        &model.addresses,
        &kernel.addresses,
        |a| format!("{} {}", a.ifname, a.addr),
    );
    set_diff(&mut out, "route", &model.routes, &kernel.routes, |r| {
        r.to_string()
    });
    set_diff(&mut out, "rule", &model.rules, &kernel.rules, |r| {
        r.to_string()
    });
    set_diff(
        &mut out,
        "opaque route",
        &model.opaque_routes,
        &kernel.opaque_routes,
        |r| r.to_string(),
    );
    set_diff(
        &mut out,
        "opaque rule",
        &model.opaque_rules,
        &kernel.opaque_rules,
        |r| r.to_string(),
    );
    if model.firewall.read && kernel.firewall.read {
        let m = serde_json::to_value(&model.firewall).unwrap_or_default();
        let k = serde_json::to_value(&kernel.firewall).unwrap_or_default();
        let before = out.len();
        json_diff(&mut out, "firewall", &m, &k);
        if !sw.on(Bug::NewLinkSysctls) {
            // Finding F3: sysctls of links the model created are not predicted.
            let mut k = 0;
            out.retain(|line| {
                k += 1;
                k <= before || !per_link_sysctl_missing(line)
            });
        }
    }
    let m = serde_json::to_value(&model.dhcp_servers).unwrap_or_default();
    let k = serde_json::to_value(&kernel.dhcp_servers).unwrap_or_default();
    json_diff(&mut out, "dhcp_servers", &m, &k);
    out
}

/// A per-interface sysctl (not `all` or `default`) that one side lacks: a link the
/// model created or deleted (finding F3).
fn per_link_sysctl_missing(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("~ firewall.sysctls.net.") else {
        return false;
    };
    let shared = rest.contains(".conf.all.") || rest.contains(".conf.default.");
    !shared && (line.contains(": model null,") || line.ends_with(", kernel null"))
}

/// The MAC the model gives a device created without one (`netdev::model::fake_mac`).
fn model_stand_in_mac(name: &str) -> hostnet::netdev::MacAddr {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let b = h.to_be_bytes();
    hostnet::netdev::MacAddr([0x02, 0x00, b[0], b[1], b[2], b[3]])
}

fn set_diff<T: Ord>(
    out: &mut Vec<String>,
    what: &str,
    m: &[T],
    k: &[T],
    show: impl Fn(&T) -> String,
) {
    let m: BTreeSet<&T> = m.iter().collect();
    let k: BTreeSet<&T> = k.iter().collect();
    out.extend(m.difference(&k).map(|x| format!("- {what} {}", show(x))));
    out.extend(k.difference(&m).map(|x| format!("+ {what} {}", show(x))));
}

fn json_diff(out: &mut Vec<String>, path: &str, m: &serde_json::Value, k: &serde_json::Value) {
    use serde_json::Value;
    match (m, k) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let null = Value::Null;
                json_diff(
                    out,
                    &format!("{path}.{key}"),
                    a.get(key).unwrap_or(&null),
                    b.get(key).unwrap_or(&null),
                );
            }
        }
        _ if m != k => out.push(format!("~ {path}: model {m}, kernel {k}")),
        _ => {}
    }
}

/// Bridges of the pool's names that no network has (any more): a network's old bridge
/// left behind.
fn leftovers(kernel: &KernelState, eff: &Effective) -> Result<(), Failure> {
    let used: BTreeSet<String> = (0..5)
        .filter_map(|i| eff.nets[i].as_ref().map(|n| n.device(i)))
        .collect();
    let left: Vec<&String> = kernel
        .links
        .values()
        .filter(|l| matches!(l.kind, hostnet::netdev::LinkKind::Bridge(_)))
        .map(|l| &l.name)
        .filter(|n| n.starts_with("fz") && !used.contains(*n))
        .collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(fail(
            "a network's old bridge is left over",
            format!("bridges no network has: {left:?}"),
        ))
    }
}

/// A family of a network: its addresses, whether it has a gateway, how addresses are
/// written, the remote address to reach.
type Family<'a> = (
    &'a [(u8, u8)],
    bool,
    fn(usize, (u8, u8)) -> String,
    &'static str,
);

fn ip(cidr: &str) -> IpAddr {
    gen::ip_of(cidr).parse().expect("address")
}

/// The host's own traffic from every address of a network with a gateway leaves through
/// that gateway; a guest's forwarded and NAT'd packets reach the routers.
fn traffic(lab: &Lab, eff: &Effective, sw: &Switches) -> Result<(), Failure> {
    lab.route_guests_back(eff);
    for i in 0..3 {
        let Some(n) = &eff.nets[i] else { continue };
        if n.source_routing_off {
            continue;
        }
        let router = format!("r{}", n.uplink);
        let fams: [Family; 2] = [
            (&n.v4, n.gw4.is_some(), gen::v4, REMOTE4),
            (&n.v6, n.gw6.is_some(), gen::v6, REMOTE6),
        ];
        for (addrs, has_gw, f, remote) in fams {
            if !has_gw {
                continue;
            }
            for a in addrs {
                let src = ip(&f(i, *a));
                let got = lab.echo("host", Some(src), remote.parse().expect("addr"));
                if got.as_deref() != Some(router.as_str()) {
                    return Err(fail(
                        format!("traffic: the host's own packets from network {} do not leave through its gateway", gen::NETS[i]),
                        format!("from {src} to {remote}: answered by {got:?}, expected {router} (behind {})", n.uplink_name(i)),
                    ));
                }
            }
        }
    }
    let default = eff
        .default_net()
        .and_then(|d| eff.nets[d].as_ref().map(|n| (d, n)));
    for g in 0..2 {
        let i = 3 + g;
        let Some(n) = &eff.nets[i] else { continue };
        if !n.v4.contains(&(0, 1)) {
            continue;
        }
        let role = format!("g{g}");
        let masq = n.firewall.as_ref().and_then(|f| f.masquerade.clone());
        let out_net = masq.as_ref().and_then(|dev| {
            (0..3).find(|u| {
                eff.nets[*u]
                    .as_ref()
                    .is_some_and(|un| un.device(*u) == *dev)
            })
        });
        // Towards the remote address: through the host's default route.
        if let Some((d, dn)) = default.filter(|(_, dn)| dn.gw4.is_some()) {
            let expected = format!("r{}", dn.uplink);
            let what = match (&masq, out_net) {
                (None, _) => Some("forwarded"),
                (Some(_), Some(u)) if u == d => Some("NAT'd"),
                _ => None,
            };
            if let Some(what) = what {
                let got = lab.echo(&role, None, REMOTE4.parse().expect("addr"));
                if got.as_deref() != Some(expected.as_str()) {
                    return Err(fail(
                        format!("traffic: a {what} guest packet does not get through"),
                        format!(
                            "guest of {} to {REMOTE4} (default route via {}): answered by {got:?}, expected {expected}",
                            gen::NETS[i],
                            gen::NETS[d]
                        ),
                    ));
                }
            }
        }
        // Towards the uplink network's own gateway (issue 12, case 4).
        if let (Some(u), true) = (out_net, sw.on(Bug::NatUplinkSubnet)) {
            let un = eff.nets[u].as_ref().expect("present");
            if let Some(s) = un.gw4 {
                let gw = ip(&gen::v4(u, (s, 1)));
                let expected = format!("r{}", un.uplink);
                let got = lab.echo(&role, None, gw);
                if got.as_deref() != Some(expected.as_str()) {
                    return Err(fail(
                        "traffic: a NAT'd guest does not reach the uplink network's own subnet",
                        format!(
                            "guest of {} to {gw}: answered by {got:?}, expected {expected}",
                            gen::NETS[i]
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}
