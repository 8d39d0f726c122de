//! Open vSwitch in the model driver: OVSDB's rules that plans depend on, and the network
//! devices ovs-vswitchd makes for bridges and internal ports (transient taps, down).

use crate::netdev::{KernelState, Link, LinkKind, TapOptions};
use crate::ovs::{OvsBridge, OvsBridgeOptions, OvsOp, OvsPort};

fn device(name: &str) -> Link {
    Link {
        name: name.to_string(),
        kind: LinkKind::Tap(TapOptions {
            persistent: false,
            ..TapOptions::default()
        }),
        up: false,
        mtu: 1500,
        mac: None,
        controller: None,
    }
}

/// Applies `op` to the model's state; `Err` with the reason OVS would give.
pub(crate) fn apply(s: &mut KernelState, op: &OvsOp) -> Result<(), String> {
    if !s.ovs.available {
        return Err("database connection failed".into());
    }
    match op {
        OvsOp::AddBridge {
            name,
            datapath,
            options,
        } => {
            if s.ovs.bridges.contains_key(name) || s.links.contains_key(name) {
                return Err(format!(
                    "cannot create a bridge named {name} because one exists"
                ));
            }
            s.ovs.bridges.insert(
                name.clone(),
                OvsBridge {
                    datapath: datapath.clone(),
                    options: options.clone(),
                    ports: Default::default(),
                    unmodelled: None,
                },
            );
            s.links.insert(name.clone(), device(name));
        }
        OvsOp::DelBridge { name } => {
            if let Some(b) = s.ovs.bridges.remove(name) {
                s.links.remove(name);
                for (p, port) in b.ports {
                    if port.internal {
                        s.links.remove(&p);
                        s.addresses.retain(|a| a.ifname != p);
                    }
                }
                s.addresses.retain(|a| a.ifname != *name);
            }
        }
        OvsOp::SetBridge { name, options } => {
            let b = s
                .ovs
                .bridges
                .get_mut(name)
                .ok_or_else(|| format!("no row \"{name}\" in table Bridge"))?;
            // The maps change key by key (SetRowKey).
            b.options = OvsBridgeOptions {
                external_ids: std::mem::take(&mut b.options.external_ids),
                other_config: std::mem::take(&mut b.options.other_config),
                ..options.clone()
            };
        }
        OvsOp::SetRowKey {
            table,
            name,
            column,
            key,
            value,
        } => {
            let map = s
                .ovs
                .row_map_mut(*table, name, *column)
                .ok_or_else(|| format!("no row \"{name}\" in table {}", table.as_str()))?;
            match value {
                Some(v) => map.insert(key.clone(), v.clone()),
                None => map.remove(key),
            };
        }
        OvsOp::AddPort {
            bridge,
            port,
            settings,
        } => {
            if let Some(other) = s.ovs.bridge_of(port) {
                return Err(format!("{port} already exists on bridge {other}"));
            }
            for m in settings.bond.iter().flat_map(|b| &b.members) {
                if let Some(other) = s.ovs.bridge_of(m).or(s.ovs.bond_of(m).map(|(b, _)| b)) {
                    return Err(format!("{m} already exists on bridge {other}"));
                }
                if !s.links.contains_key(m) {
                    return Err(format!(
                        "could not open network device {m} (No such device)"
                    ));
                }
            }
            let plain =
                !settings.internal && settings.patch_peer.is_none() && settings.bond.is_none();
            if plain && !s.links.contains_key(port) {
                return Err(format!(
                    "could not open network device {port} (No such device)"
                ));
            }
            let b = s
                .ovs
                .bridges
                .get_mut(bridge)
                .ok_or_else(|| format!("no bridge named {bridge}"))?;
            b.ports.insert(port.clone(), settings.clone());
            if settings.internal {
                s.links.insert(port.clone(), device(port));
            }
        }
        OvsOp::DelPort { bridge, port } => {
            if let Some(p) = s
                .ovs
                .bridges
                .get_mut(bridge)
                .and_then(|b| b.ports.remove(port))
            {
                if p.internal {
                    s.links.remove(port);
                    s.addresses.retain(|a| a.ifname != *port);
                }
            }
        }
        OvsOp::SetGlobal { column, key, value } => {
            let map = s.ovs.global.column_mut(*column);
            match value {
                Some(v) => map.insert(key.clone(), v.clone()),
                None => map.remove(key),
            };
        }
        OvsOp::SetPort { port, settings } => {
            let b = s
                .ovs
                .bridge_of(port)
                .map(str::to_string)
                .ok_or_else(|| format!("no row \"{port}\" in table Port"))?;
            if let Some(p) = s
                .ovs
                .bridges
                .get_mut(&b)
                .and_then(|b| b.ports.get_mut(port))
            {
                // The Interface row's and bond Port row's maps change key by key.
                let mut next = OvsPort {
                    external_ids: std::mem::take(&mut p.external_ids),
                    other_config: std::mem::take(&mut p.other_config),
                    ..settings.clone()
                };
                if let (Some(n), Some(old)) = (next.bond.as_mut(), p.bond.as_mut()) {
                    n.external_ids = std::mem::take(&mut old.external_ids);
                    n.other_config = std::mem::take(&mut old.other_config);
                }
                *p = next;
            }
        }
    }
    Ok(())
}
