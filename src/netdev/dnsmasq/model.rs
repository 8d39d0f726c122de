//! The servers in the in-memory model driver (dry runs, pure tests): the same rules the
//! real supervisor follows, on [`KernelState::dhcp_servers`].

use crate::netdev::ops::Op;
use crate::netdev::types::KernelState;

/// Carries out a server op on `state`; the error is the reason the real one would fail.
pub fn apply(state: &mut KernelState, op: &Op) -> Result<(), String> {
    let servers = &mut state.dhcp_servers;
    match op {
        Op::ConfigureDhcpServer { network, spec, .. } => {
            let entry = servers
                .entry(network.clone())
                .or_insert_with(|| super::ServerState {
                    spec: spec.clone(),
                    hosts: Default::default(),
                    running: false,
                });
            // The process keeps its command line: with new flags it no longer counts.
            entry.running &= entry.spec.flags == spec.flags;
            entry.spec = spec.clone();
            Ok(())
        }
        Op::StartDhcpServer { network } => {
            let Some(server) = servers.get_mut(network) else {
                return Err(format!(
                    "network {network} has no DHCP server configuration"
                ));
            };
            let dev = &server.spec.flags.interface;
            if !state.links.get(dev).is_some_and(|l| l.up) {
                return Err(format!("dnsmasq cannot bind to {dev}: no such device up"));
            }
            server.running = true;
            Ok(())
        }
        Op::StopDhcpServer { network, remove } => {
            if *remove {
                servers.remove(network);
            } else if let Some(s) = servers.get_mut(network) {
                s.running = false;
            }
            Ok(())
        }
        Op::AddDhcpHost { network, host } => match servers.get_mut(network) {
            Some(s) => {
                s.hosts.retain(|h| h.key() != host.key());
                s.hosts.insert(host.clone());
                Ok(())
            }
            None => Err(format!(
                "network {network} has no DHCP server configuration"
            )),
        },
        Op::RemoveDhcpHost { network, host } => {
            if let Some(s) = servers.get_mut(network) {
                s.hosts.retain(|h| h.key() != host.key());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
