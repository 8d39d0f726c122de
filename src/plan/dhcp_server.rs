//! The networks' DHCP servers: configuration, hosts and process, converged exactly for
//! every network the intent mentions (servers are wholly hostnet's).
//!
//! The cheapest change dnsmasq allows decides the ops: a host that is new is only added
//! (a file dnsmasq notices by itself), a removed one is released and removed (a SIGHUP),
//! new options are a configure (a SIGHUP), new flags a configure and a start (a restart).

use std::collections::BTreeSet;

use super::{Phase, Plan};
use crate::dhcp::server::{DhcpHost, ServerSpec, ServerState};
use crate::expand::Intent;
use crate::netdev::{KernelState, Op};

/// What a server must become: its configuration, hosts, and whether it runs.
pub(crate) struct Target<'a> {
    pub spec: &'a ServerSpec,
    pub hosts: &'a BTreeSet<DhcpHost>,
    pub running: bool,
}

/// Plans the servers of the networks `intent` mentions.
pub(crate) fn plan_servers(current: &KernelState, intent: &Intent, plan: &mut Plan) {
    for (network, want) in &intent.dhcp_servers {
        let target = want.as_ref().map(|w| Target {
            spec: &w.spec,
            hosts: &w.hosts,
            running: true,
        });
        converge(network, current.dhcp_servers.get(network), target, plan);
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
            },
        );
    }
    for h in cur_hosts.difference(want.hosts) {
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
        Op::AddDhcpHost { network, host } => plan.push(
            Phase::RemoveDhcpHosts,
            Op::RemoveDhcpHost {
                network: network.clone(),
                host: host.clone(),
            },
        ),
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
