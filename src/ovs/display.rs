//! How OVS ops read in a plan: `ovs-vsctl`'s words for the columns they set.

use std::collections::BTreeSet;
use std::fmt;

use super::{OvsBridgeOptions, OvsOp, OvsPort};

fn fmt_settings(f: &mut fmt::Formatter<'_>, p: &OvsPort) -> fmt::Result {
    if p.internal {
        write!(f, " internal")?;
    }
    if let Some(peer) = &p.patch_peer {
        write!(f, " patch peer {peer}")?;
    }
    if let Some(b) = &p.bond {
        let members: Vec<&str> = b.members.iter().map(String::as_str).collect();
        write!(f, " bond {}", members.join(","))?;
        if let Some(m) = &b.mode {
            write!(f, " bond_mode {m}")?;
        }
        if let Some(l) = &b.lacp {
            write!(f, " lacp {l}")?;
        }
        if b.updelay != 0 || b.downdelay != 0 {
            write!(f, " updelay {} downdelay {}", b.updelay, b.downdelay)?;
        }
    }
    // An access port says so by its tag alone.
    if let Some(m) = p.vlan_mode.as_deref().filter(|m| *m != "access") {
        write!(f, " vlan_mode {m}")?;
    }
    if let Some(t) = p.tag {
        write!(f, " tag {t}")?;
    }
    if !p.trunks.is_empty() {
        write!(f, " trunks {}", trunks_text(&p.trunks))?;
    }
    for (k, v) in &p.external_ids {
        write!(f, " {k}={v}")?;
    }
    for (k, v) in &p.other_config {
        write!(f, " other_config:{k}={v}")?;
    }
    Ok(())
}

/// VLAN ids with runs of three or more as ranges: `21,30-39`.
pub fn trunks_text(ids: &BTreeSet<u16>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, out: &mut Vec<String>| {
        match run.as_slice() {
            [first, .., last] if run.len() >= 3 => out.push(format!("{first}-{last}")),
            ids => out.extend(ids.iter().map(u16::to_string)),
        }
        run.clear();
    };
    for id in ids {
        if run.last().is_some_and(|l| l + 1 != *id) {
            flush(&mut run, &mut out);
        }
        run.push(*id);
    }
    flush(&mut run, &mut out);
    out.join(",")
}

fn fmt_options(f: &mut fmt::Formatter<'_>, o: &OvsBridgeOptions) -> fmt::Result {
    let on = |b: bool| if b { "on" } else { "off" };
    write!(
        f,
        " stp {} rstp {} mcast-snooping {}",
        on(o.stp),
        on(o.rstp),
        on(o.mcast_snooping)
    )?;
    if let Some(m) = &o.fail_mode {
        write!(f, " fail-mode {m}")?;
    }
    for (k, v) in o.stp_keys() {
        if let Some(v) = v {
            write!(f, " {k} {v}")?;
        }
    }
    for (k, v) in &o.external_ids {
        write!(f, " external_ids:{k}={v}")?;
    }
    for (k, v) in &o.other_config {
        write!(f, " other_config:{k}={v}")?;
    }
    Ok(())
}

impl fmt::Display for OvsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OvsOp::AddBridge {
                name,
                datapath,
                options,
            } => {
                write!(f, "ovs-bridge {name}")?;
                if let Some(d) = datapath {
                    write!(f, " datapath {d}")?;
                }
                if *options != OvsBridgeOptions::default() {
                    fmt_options(f, options)?;
                }
                Ok(())
            }
            OvsOp::DelBridge { name } => write!(f, "ovs-bridge {name}"),
            // The maps are not the op's to set: SetRowKey ops say what changes there.
            OvsOp::SetBridge { name, options } => {
                write!(f, "ovs-bridge {name}")?;
                fmt_options(f, &options.without_maps())
            }
            OvsOp::AddPort {
                bridge,
                port,
                settings,
            } => {
                write!(f, "ovs-port {port} bridge {bridge}")?;
                fmt_settings(f, settings)
            }
            OvsOp::DelPort { bridge, port } => write!(f, "ovs-port {port} bridge {bridge}"),
            OvsOp::SetPort { port, settings } => {
                write!(f, "ovs-port {port}")?;
                fmt_settings(f, &settings.without_maps())
            }
            OvsOp::SetGlobal { column, key, value } => match value {
                Some(v) => write!(f, "Open_vSwitch {}:{key}={v}", column.as_str()),
                None => write!(f, "Open_vSwitch {}:{key} removed", column.as_str()),
            },
            OvsOp::SetRowKey {
                table,
                name,
                column,
                key,
                value,
            } => {
                let (t, c) = (table.as_str(), column.as_str());
                match value {
                    Some(v) => write!(f, "{t} {name} {c}:{key}={v}"),
                    None => write!(f, "{t} {name} {c}:{key} removed"),
                }
            }
        }
    }
}
