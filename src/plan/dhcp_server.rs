//! The networks' DHCP servers: configuration, hosts and process, converged exactly for
//! every network the intent mentions (servers are wholly hostnet's).
//!
//! The cheapest change dnsmasq allows decides the ops: a host that is new is only added
//! (a file dnsmasq notices by itself), a removed one is released and removed (a SIGHUP),
//! new options are a configure (a SIGHUP), new flags a configure and a start (a restart).

use std::collections::BTreeSet;

use super::{Phase, Plan};
use crate::expand::Intent;
use crate::netdev::dhcp_server::{DhcpHost, ServerSpec, ServerState};
use crate::netdev::{KernelState, Op};

/// What a server must become: its configuration, hosts, and whether it runs.
pub(crate) struct Target<'a> {
    pub spec: &'a ServerSpec,
    pub hosts: &'a BTreeSet<DhcpHost>,
    pub running: bool,
}

/// Plans the servers of the networks `intent` mentions.
///
/// A dnsmasq bound to a device that is gone (someone deleted the bridge) serves nothing
/// on the bridge the plan makes again: it is restarted once the bridge is back.
pub(crate) fn plan_servers(current: &KernelState, intent: &Intent, plan: &mut Plan) {
    for (network, want) in &intent.dhcp_servers {
        let target = want.as_ref().map(|w| Target {
            spec: &w.spec,
            hosts: &w.hosts,
            running: true,
        });
        let cur = current.dhcp_servers.get(network);
        let orphaned = cur
            .filter(|c| c.running)
            .is_some_and(|c| !current.links.contains_key(&c.spec.flags.interface));
        if orphaned && target.is_some() {
            plan.push(
                Phase::StopDhcpServers,
                Op::StopDhcpServer {
                    network: network.clone(),
                    remove: false,
                },
            );
        }
        let stopped = cur.filter(|_| orphaned).map(|c| ServerState {
            running: false,
            ..c.clone()
        });
        converge(network, stopped.as_ref().or(cur), target, plan);
    }
}

/// The ops that take one network's server from `cur` to `want` (`None`: no server).
pub(crate) fn converge(
    network: &str,
    cur: Option<&ServerState>,
    want: Option<Target<'_>>,
    plan: &mut Plan,
) {
    let net = || network.to_string();
    let Some(want) = want else {
        if cur.is_some() {
            plan.push(
                Phase::StopDhcpServers,
                Op::StopDhcpServer {
                    network: net(),
                    remove: true,
                },
            );
        }
        return;
    };
    let empty = BTreeSet::new();
    let (cur_hosts, cur_running, cur_spec) = match cur {
        Some(c) => (&c.hosts, c.running, Some(&c.spec)),
        None => (&empty, false, None),
    };
    if cur_spec != Some(want.spec) {
        plan.push(
            Phase::ConfigureDhcpServers,
            Op::ConfigureDhcpServer {
                network: net(),
                spec: want.spec.clone(),
                new: cur.is_none(),
            },
        );
    }
    for h in cur_hosts.difference(want.hosts) {
        // Only its name changes: the add below replaces it, and its leases stay.
        let renamed = want.hosts.iter().any(|w| w.same_addresses(h));
        if renamed {
            continue;
        }
        plan.push(
            Phase::RemoveDhcpHosts,
            Op::RemoveDhcpHost {
                network: net(),
                host: h.clone(),
            },
        );
    }
    for h in want.hosts.difference(cur_hosts) {
        plan.push(
            Phase::AddDhcpHosts,
            Op::AddDhcpHost {
                network: net(),
                host: h.clone(),
            },
        );
    }
    let flags_change = cur_spec.is_some_and(|s| s.flags != want.spec.flags);
    if want.running && (!cur_running || flags_change) {
        plan.push(
            Phase::StartDhcpServers,
            Op::StartDhcpServer { network: net() },
        );
    } else if !want.running && cur_running {
        plan.push(
            Phase::StopDhcpServers,
            Op::StopDhcpServer {
                network: net(),
                remove: false,
            },
        );
    }
}

/// Exact convergence of every server (rollback and restore).
pub(crate) fn restore_servers(current: &KernelState, target: &KernelState, plan: &mut Plan) {
    let names: BTreeSet<&String> = current
        .dhcp_servers
        .keys()
        .chain(target.dhcp_servers.keys())
        .collect();
    for network in names {
        let want = target.dhcp_servers.get(network).map(|t| Target {
            spec: &t.spec,
            hosts: &t.hosts,
            running: t.running,
        });
        converge(network, current.dhcp_servers.get(network), want, plan);
    }
}

/// The ops that take back `op` (a server op the driver carried out), from the state
/// before the apply.
pub(crate) fn inverse(before: &KernelState, op: &Op, plan: &mut Plan) {
    let was = |network: &str| before.dhcp_servers.get(network);
    let stop = |network: &String, remove: bool| Op::StopDhcpServer {
        network: network.clone(),
        remove,
    };
    let start = |network: &String| Op::StartDhcpServer {
        network: network.clone(),
    };
    match op {
        Op::ConfigureDhcpServer { network, .. } => match was(network) {
            Some(b) => plan.push(
                Phase::ConfigureDhcpServers,
                Op::ConfigureDhcpServer {
                    network: network.clone(),
                    spec: b.spec.clone(),
                    new: false,
                },
            ),
            None => plan.push(Phase::StopDhcpServers, stop(network, true)),
        },
        Op::StartDhcpServer { network } => match was(network) {
            // Back to the old flags: the configure's inverse rewrote them first.
            Some(b) if b.running => plan.push(Phase::StartDhcpServers, start(network)),
            _ => plan.push(Phase::StopDhcpServers, stop(network, false)),
        },
        Op::StopDhcpServer { network, remove } => {
            let Some(b) = was(network) else { return };
            if *remove {
                plan.push(
                    Phase::ConfigureDhcpServers,
                    Op::ConfigureDhcpServer {
                        network: network.clone(),
                        spec: b.spec.clone(),
                        new: true,
                    },
                );
                for h in &b.hosts {
                    plan.push(
                        Phase::AddDhcpHosts,
                        Op::AddDhcpHost {
                            network: network.clone(),
                            host: h.clone(),
                        },
                    );
                }
            }
            if b.running {
                plan.push(Phase::StartDhcpServers, start(network));
            }
        }
        Op::AddDhcpHost { network, host } => {
            // A host that replaced one of the same MAC or DUID (a new name) gets its old
            // line back.
            let old = was(network).and_then(|b| b.hosts.iter().find(|h| h.key() == host.key()));
            match old {
                Some(old) => plan.push(
                    Phase::AddDhcpHosts,
                    Op::AddDhcpHost {
                        network: network.clone(),
                        host: old.clone(),
                    },
                ),
                None => plan.push(
                    Phase::RemoveDhcpHosts,
                    Op::RemoveDhcpHost {
                        network: network.clone(),
                        host: host.clone(),
                    },
                ),
            }
        }
        Op::RemoveDhcpHost { network, host } => plan.push(
            Phase::AddDhcpHosts,
            Op::AddDhcpHost {
                network: network.clone(),
                host: host.clone(),
            },
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::{apply, ApplyError, ApplyOptions};
    use crate::netdev::model::ModelDriver;
    use crate::netdev::{Driver, Op};
    use crate::plan::plan;
    use crate::plan::tests::{host, intent_of};

    fn doc(range_end: u8, hosts: &[(&str, &str)], mtu: u32) -> String {
        let mut s = format!(
            "networks:
  - name: t1
    ipv4: {{address: [10.10.0.1/24]}}
    dhcp-server:
      range: {{start: 10.10.0.100, end: 10.10.0.{range_end}}}
      mtu: {mtu}
      hosts:
"
        );
        for (mac, ip) in hosts {
            s.push_str(&format!("        - {{mac: \"{mac}\", ip: {ip}}}\n"));
        }
        if hosts.is_empty() {
            s = s.replace("      hosts:\n", "");
        }
        s
    }

    const A: (&str, &str) = ("52:54:00:00:00:0a", "10.10.0.10");
    const B: (&str, &str) = ("52:54:00:00:00:0b", "10.10.0.11");
    const C: (&str, &str) = ("52:54:00:00:00:0c", "10.10.0.12");

    fn applied(yaml: &str) -> ModelDriver {
        let mut m = host();
        apply(&mut m, &intent_of(yaml), ApplyOptions::default(), |_, _| {
            Ok(())
        })
        .expect("applies");
        m
    }

    fn ops(m: &ModelDriver, yaml: &str) -> Vec<String> {
        plan(m.state(), &intent_of(yaml))
            .expect("plans")
            .ops()
            .map(|op| format!("{} {op}", op.sign()))
            .collect()
    }

    #[test]
    fn each_change_takes_the_cheapest_op() {
        let base = doc(200, &[A, B], 1450);
        let m = applied(&base);
        let s = &m.state().dhcp_servers["t1"];
        assert!(s.running && s.hosts.len() == 2);
        assert!(ops(&m, &base).is_empty());
        // A new host: only its file.
        assert_eq!(
            ops(&m, &doc(200, &[A, B, C], 1450)),
            ["+ dhcp-host 52:54:00:00:00:0C 10.10.0.12 on t1"]
        );
        // A new name only: the host is replaced (a rewrite and SIGHUP), never released.
        let renamed = base.replace(
            "{mac: \"52:54:00:00:00:0b\", ip: 10.10.0.11}",
            "{mac: \"52:54:00:00:00:0b\", ip: 10.10.0.11, hostname: vm-b}",
        );
        assert_ne!(renamed, base);
        assert_eq!(
            ops(&m, &renamed),
            ["+ dhcp-host 52:54:00:00:00:0B 10.10.0.11 vm-b on t1"]
        );
        // A new address: released and added again.
        let moved = base.replace("ip: 10.10.0.11", "ip: 10.10.0.21");
        assert_eq!(
            ops(&m, &moved),
            [
                "- dhcp-host 52:54:00:00:00:0B 10.10.0.11 on t1",
                "+ dhcp-host 52:54:00:00:00:0B 10.10.0.21 on t1"
            ]
        );
        // A removed host: only its removal (the supervisor releases and sends SIGHUP).
        assert_eq!(
            ops(&m, &doc(200, &[A], 1450)),
            ["- dhcp-host 52:54:00:00:00:0B 10.10.0.11 on t1"]
        );
        // New options: a configure, no restart.
        let o = ops(&m, &doc(200, &[A, B], 1400));
        assert_eq!(o.len(), 1, "{o:?}");
        assert!(o[0].starts_with("~ dhcp-server t1 ") && o[0].ends_with("mtu 1400"));
        // New flags: a configure and a start (a restart).
        let o = ops(&m, &doc(250, &[A, B], 1450));
        assert_eq!(o.len(), 2, "{o:?}");
        assert_eq!(o[1], "+ dnsmasq of network t1");
        // No dhcp-server any more: stopped and removed, before anything else.
        let o = ops(
            &m,
            "networks:\n  - {name: t1, ipv4: {address: [10.10.0.1/24]}}\n",
        );
        assert_eq!(o, ["- dhcp-server t1 (its dnsmasq and files)"]);
        // Networks the file does not mention keep their servers.
        assert!(ops(&m, "interfaces: []\n").is_empty());
    }

    #[test]
    fn a_failure_at_any_op_restores_the_servers_exactly() {
        let base = doc(200, &[A, B], 1450);
        let renamed = base.replace(
            "{mac: \"52:54:00:00:00:0b\", ip: 10.10.0.11}",
            "{mac: \"52:54:00:00:00:0b\", ip: 10.10.0.11, hostname: vm-b}",
        );
        for change in [
            renamed,
            doc(250, &[A, C], 1400),
            "networks:\n  - {name: t1, state: absent}\n".to_string(),
        ] {
            let intent = intent_of(&change);
            let n = plan(applied(&base).state(), &intent).expect("plans").len();
            for k in 0..n {
                let mut m = applied(&base);
                let before = m.query().expect("query");
                let counter = std::sync::atomic::AtomicUsize::new(0);
                m.fail_when(move |_: &Op| {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == k
                });
                let err = apply(&mut m, &intent, ApplyOptions::default(), |_, _| Ok(()))
                    .expect_err("fails");
                assert!(
                    matches!(err, ApplyError::RolledBack { .. }),
                    "op {k}: {err:?}"
                );
                assert_eq!(m.query().expect("query"), before, "op {k} of {change}");
            }
        }
    }

    #[test]
    fn a_server_whose_bridge_was_deleted_restarts_on_the_new_one() {
        let yaml = doc(200, &[A], 1450);
        let m = applied(&yaml);
        let mut gone = m.state().clone();
        gone.links.remove("t1");
        gone.addresses.retain(|a| a.ifname != "t1");
        let o: Vec<String> = plan(&gone, &intent_of(&yaml))
            .expect("plans")
            .ops()
            .map(|op| format!("{} {op}", op.sign()))
            .collect();
        assert_eq!(
            o.first().map(String::as_str),
            Some("- dnsmasq of network t1")
        );
        assert_eq!(
            o.last().map(String::as_str),
            Some("+ dnsmasq of network t1")
        );
        // The bridge made again, its address, the bridge up after it (see `bridges_up`).
        assert_eq!(o.len(), 5, "{o:?}");
    }

    #[test]
    fn restore_converges_a_server_that_died() {
        let m = applied(&doc(200, &[A], 1450));
        let target = m.state().clone();
        let mut dead = target.clone();
        if let Some(s) = dead.dhcp_servers.get_mut("t1") {
            s.running = false;
        }
        let p = crate::plan::restore_plan(&dead, &target);
        let o: Vec<String> = p.ops().map(ToString::to_string).collect();
        assert_eq!(o, ["dnsmasq of network t1"]);
    }

    fn doc6(ra: &str, dns: &str, hosts: &str) -> String {
        format!(
            "networks:
  - name: t1
    ipv4: {{address: [10.10.0.1/24]}}
    ipv6: {{address: ['2001:db8:10::1/64']}}
    dhcp-server:
      ipv6: {{ra: {ra}, dns-servers: ['{dns}']}}
      hosts:
        - {{mac: '52:54:00:00:00:0a', ip: 10.10.0.10, ipv6: '2001:db8:10::a'}}
{hosts}"
        )
    }

    const D7: &str =
        "        - {duid: '00:02:00:00:ab:11:01:02', ipv6: '2001:db8:10::7', hostname: vm7}\n";

    #[test]
    fn ipv6_changes_take_the_cheapest_op_too() {
        let base = doc6("stateful", "2001:db8:10::1", "");
        let m = applied(&base);
        assert!(m.state().dhcp_servers["t1"].running);
        assert!(ops(&m, &base).is_empty());
        // A host by DUID: only its file.
        assert_eq!(
            ops(&m, &doc6("stateful", "2001:db8:10::1", D7)),
            ["+ dhcp-host duid 00:02:00:00:ab:11:01:02 2001:db8:10::7 vm7 on t1"]
        );
        // DNS servers are options: a configure (SIGHUP), no restart.
        let o = ops(&m, &doc6("stateful", "2001:db8:10::53", ""));
        assert_eq!(o.len(), 1, "{o:?}");
        assert!(
            o[0].starts_with("~ dhcp-server t1 ") && o[0].ends_with("dns6 2001:db8:10::53"),
            "{o:?}"
        );
        // The mode is the command line: a restart.
        let o = ops(
            &m,
            &doc6("slaac", "2001:db8:10::1", "").replace(", ipv6: '2001:db8:10::a'", ""),
        );
        assert_eq!(
            o.last().map(String::as_str),
            Some("+ dnsmasq of network t1"),
            "{o:?}"
        );
        // A new IPv6 address for a host: released and added again.
        let moved = base.replace("2001:db8:10::a'", "2001:db8:10::b'");
        assert_eq!(
            ops(&m, &moved),
            [
                "- dhcp-host 52:54:00:00:00:0A 10.10.0.10 2001:db8:10::a on t1",
                "+ dhcp-host 52:54:00:00:00:0A 10.10.0.10 2001:db8:10::b on t1"
            ]
        );
        // A DUID host renamed: replaced, not released.
        let m = applied(&doc6("stateful", "2001:db8:10::1", D7));
        let renamed = doc6("stateful", "2001:db8:10::1", &D7.replace("vm7", "vm8"));
        assert_eq!(
            ops(&m, &renamed),
            ["+ dhcp-host duid 00:02:00:00:ab:11:01:02 2001:db8:10::7 vm8 on t1"]
        );
    }

    #[test]
    fn a_failure_at_any_op_restores_ipv6_servers_exactly() {
        let base = doc6("stateful", "2001:db8:10::1", D7);
        for change in [
            doc6("stateless", "2001:db8:10::53", "").replace(", ipv6: '2001:db8:10::a'", ""),
            doc6("stateful", "2001:db8:10::1", &D7.replace("vm7", "vm8")),
            doc(200, &[A], 1450),
        ] {
            let intent = intent_of(&change);
            let n = plan(applied(&base).state(), &intent).expect("plans").len();
            assert!(n > 0, "{change}");
            for k in 0..n {
                let mut m = applied(&base);
                let before = m.query().expect("query");
                let counter = std::sync::atomic::AtomicUsize::new(0);
                m.fail_when(move |_: &Op| {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == k
                });
                let err = apply(&mut m, &intent, ApplyOptions::default(), |_, _| Ok(()))
                    .expect_err("fails");
                assert!(
                    matches!(err, ApplyError::RolledBack { .. }),
                    "op {k}: {err:?}"
                );
                assert_eq!(m.query().expect("query"), before, "op {k} of {change}");
            }
        }
    }
}
