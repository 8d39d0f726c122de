//! The settings of a device kind in `ip -d link` words, for plan lines and messages.

use std::fmt::Write;

use super::LinkKind;

pub(super) fn settings(kind: &LinkKind) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write_settings(&mut s, kind);
    s.trim_start().to_string()
}

fn write_settings(s: &mut String, kind: &LinkKind) -> std::fmt::Result {
    let base = |s: &mut String, b: &Option<String>| match b {
        Some(b) => write!(s, " link {b}"),
        None => Ok(()),
    };
    match kind {
        LinkKind::Bridge(b) => {
            write!(s, " stp {}", if b.stp { "on" } else { "off" })?;
            // What differs from a bridge hostnet makes without settings.
            let plain = super::BridgeOptions {
                stp: b.stp,
                ..super::BridgeOptions::new_bridge()
            };
            let change = super::BridgeChange::between(&plain, b);
            if !change.is_empty() {
                write!(s, " {change}")?;
            }
            Ok(())
        }
        LinkKind::Vlan(v) => {
            base(s, &v.base)?;
            if v.protocol != super::VlanProtocol::Dot1Q {
                write!(s, " protocol {}", v.protocol.as_str())?;
            }
            write!(s, " id {}", v.id)?;
            // What differs from the kernel's defaults, in `ip link`'s words.
            let plain = super::VlanOptions::new(None, 0);
            for (name, on, default) in [
                ("reorder_hdr", v.reorder_headers, plain.reorder_headers),
                ("loose_binding", v.loose_binding, plain.loose_binding),
                ("gvrp", v.gvrp, plain.gvrp),
                ("mvrp", v.mvrp, plain.mvrp),
            ] {
                if on != default {
                    write!(s, " {name} {}", if on { "on" } else { "off" })?;
                }
            }
            Ok(())
        }
        LinkKind::Bond(b) => {
            write!(s, " mode {} miimon {}", b.mode, b.miimon)?;
            bond_options(s, b)
        }
        LinkKind::Vxlan(v) => {
            write!(s, " id {}", v.id)?;
            base(s, &v.base)?;
            if let Some(r) = v.remote {
                write!(s, " remote {r}")?;
            }
            if let Some(l) = v.local {
                write!(s, " local {l}")?;
            }
            write!(s, " dstport {}", v.dst_port)?;
            if !v.learning {
                write!(s, " nolearning")?;
            }
            Ok(())
        }
        LinkKind::MacVlan(m) | LinkKind::MacVtap(m) => {
            base(s, &m.base)?;
            write!(s, " mode {}", m.mode.as_str())?;
            if !m.promiscuous {
                write!(s, " nopromisc")?;
            }
            Ok(())
        }
        LinkKind::IpVlan(m) => {
            base(s, &m.base)?;
            write!(s, " mode {}", m.mode.as_str())?;
            if m.private {
                write!(s, " private")?;
            }
            if m.vepa {
                write!(s, " vepa")?;
            }
            Ok(())
        }
        LinkKind::Tap(t) => {
            if let Some(u) = t.owner {
                write!(s, " user {u}")?;
            }
            if let Some(g) = t.group {
                write!(s, " group {g}")?;
            }
            if t.multi_queue {
                write!(s, " multi_queue")?;
            }
            if !t.persistent {
                write!(s, " transient")?;
            }
            Ok(())
        }
        LinkKind::Vrf { table } => write!(s, " table {table}"),
        LinkKind::Veth { .. }
        | LinkKind::Ethernet
        | LinkKind::Loopback
        | LinkKind::Dummy
        | LinkKind::Other(_) => Ok(()),
    }
}

/// A bond's options that differ from the kernel's defaults, in `ip -d link` words.
fn bond_options(s: &mut String, b: &super::BondOptions) -> std::fmt::Result {
    use super::{
        bond_name, AD_SELECT, ALL_SLAVES_ACTIVE, ARP_ALL_TARGETS, ARP_VALIDATE, FAIL_OVER_MAC,
        LACP_RATE, PRIMARY_RESELECT, XMIT_HASH_POLICY,
    };
    let d = super::BondOptions::new(b.mode, b.miimon);
    let numbers = [
        ("updelay", b.updelay, d.updelay),
        ("downdelay", b.downdelay, d.downdelay),
        ("min_links", b.min_links, d.min_links),
        ("num_grat_arp", b.num_grat_arp.into(), d.num_grat_arp.into()),
        ("resend_igmp", b.resend_igmp, d.resend_igmp),
        (
            "ad_actor_sys_prio",
            b.ad_actor_sys_prio.into(),
            d.ad_actor_sys_prio.into(),
        ),
        (
            "ad_user_port_key",
            b.ad_user_port_key.into(),
            d.ad_user_port_key.into(),
        ),
        ("use_carrier", b.use_carrier.into(), d.use_carrier.into()),
        ("lp_interval", b.lp_interval, d.lp_interval),
        ("arp_interval", b.arp_interval, d.arp_interval),
        (
            "arp_missed_max",
            b.arp_missed_max.into(),
            d.arp_missed_max.into(),
        ),
        (
            "packets_per_slave",
            b.packets_per_slave,
            d.packets_per_slave,
        ),
        (
            "tlb_dynamic_lb",
            b.tlb_dynamic_lb.into(),
            d.tlb_dynamic_lb.into(),
        ),
    ];
    for (name, v, default) in numbers {
        if v != default {
            write!(s, " {name} {v}")?;
        }
    }
    let named: [(&str, &[&str], u8, u8); 8] = [
        ("arp_validate", ARP_VALIDATE, b.arp_validate, d.arp_validate),
        (
            "arp_all_targets",
            ARP_ALL_TARGETS,
            b.arp_all_targets,
            d.arp_all_targets,
        ),
        ("lacp_rate", LACP_RATE, b.lacp_rate, d.lacp_rate),
        (
            "xmit_hash_policy",
            XMIT_HASH_POLICY,
            b.xmit_hash_policy,
            d.xmit_hash_policy,
        ),
        ("ad_select", AD_SELECT, b.ad_select, d.ad_select),
        (
            "all_slaves_active",
            ALL_SLAVES_ACTIVE,
            b.all_slaves_active,
            d.all_slaves_active,
        ),
        (
            "primary_reselect",
            PRIMARY_RESELECT,
            b.primary_reselect,
            d.primary_reselect,
        ),
        (
            "fail_over_mac",
            FAIL_OVER_MAC,
            b.fail_over_mac,
            d.fail_over_mac,
        ),
    ];
    for (name, table, v, default) in named {
        if v != default {
            write!(s, " {name} {}", bond_name(table, v))?;
        }
    }
    let lists = [
        (
            "arp_ip_target",
            b.arp_ip_target
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>(),
        ),
        (
            "ns_ip6_target",
            b.ns_ip6_target.iter().map(|a| a.to_string()).collect(),
        ),
    ];
    for (name, list) in lists.iter().filter(|(_, l)| !l.is_empty()) {
        write!(s, " {name} {}", list.join(","))?;
    }
    if !b.lacp_active {
        s.push_str(" lacp_active off");
    }
    if b.ad_actor_system != d.ad_actor_system {
        write!(s, " ad_actor_system {}", super::MacAddr(b.ad_actor_system))?;
    }
    Ok(())
}
