//! The nmstate keys of a device (`unwritten::LinkKeys`) in ifupdown2 stanzas (the
//! keywords of ifupdown2 3.0's `address`, `bridge` and `vlan` addons, `ifquery
//! --syntax-help`): `alias` (`description`), a VLAN's `vlan-protocol`, and a bridge's
//! options, with its ports' cost and priority as `bridge-pathcosts`/`bridge-portprios`
//! pairs on the bridge's stanza (ifupdown2's place for them on a bridge that is not
//! VLAN-aware).
//!
//! ifupdown2 takes the STP timers, the ageing time and the multicast intervals in whole
//! seconds: other values are left out. Left out as well (said in the warning): hairpin
//! mode (no keyword), the group address and forward mask, port VLANs and VLAN filtering
//! (ifupdown2's VLAN-aware bridges manage every port's VLANs by their own rules, not as
//! an exact set), promiscuous mode, the IPv6 switches, and the bond options that have no
//! keyword.
//!
//! A bond's options as its `bond` addon takes them (names and values from its
//! `_bond_attr_set_list`): `bond-updelay`, `bond-downdelay`, `bond-primary`,
//! `bond-primary-reselect`, `bond-num-grat-arp`, `bond-xmit-hash-policy`,
//! `bond-lacp-rate`, `bond-use-carrier`, `bond-min-links`, `bond-ad-sys-priority`,
//! `bond-ad-sys-mac-addr`.

use std::fmt::Write as _;

use super::device::{DeviceConfig, HostConfig};
use super::unwritten::{
    bridge_options_left, parts_left, port_settings_fit, port_settings_left, Key,
};
use crate::netdev::{BondOptions, BridgeChange, VlanProtocol, PRIMARY_RESELECT, XMIT_HASH_POLICY};

/// Centiseconds as ifupdown2's whole seconds, if they are.
fn secs(cs: u64) -> Option<String> {
    cs.is_multiple_of(100).then(|| (cs / 100).to_string())
}

/// The bridge keywords of `c` with their values, and the options (by the kernel's
/// names) they cannot say.
fn bridge_attrs(c: &BridgeChange) -> (Vec<(&'static str, String)>, Vec<&'static str>) {
    let mut out = Vec::new();
    let mut left = Vec::new();
    let mut timer = |kw, label, v: Option<u64>| {
        if let Some(v) = v {
            match secs(v) {
                Some(s) => out.push((kw, label, s)),
                None => left.push(label),
            }
        }
    };
    let w = |v: Option<u32>| v.map(u64::from);
    timer("bridge-fd", "forward_delay", w(c.forward_delay));
    timer("bridge-hello", "hello_time", w(c.hello_time));
    timer("bridge-maxage", "max_age", w(c.max_age));
    timer("bridge-ageing", "ageing_time", w(c.ageing_time));
    timer(
        "bridge-mclmi",
        "mcast_last_member_interval",
        c.mcast_last_member_interval,
    );
    timer(
        "bridge-mcmi",
        "mcast_membership_interval",
        c.mcast_membership_interval,
    );
    timer(
        "bridge-mcqpi",
        "mcast_querier_interval",
        c.mcast_querier_interval,
    );
    timer(
        "bridge-mcqi",
        "mcast_query_interval",
        c.mcast_query_interval,
    );
    timer(
        "bridge-mcqri",
        "mcast_query_response_interval",
        c.mcast_query_response_interval,
    );
    timer(
        "bridge-mcsqi",
        "mcast_startup_query_interval",
        c.mcast_startup_query_interval,
    );
    let yes = |b: Option<bool>| b.map(|b| if b { "yes" } else { "no" }.to_string());
    let mut put = |kw, label, v: Option<String>| {
        if let Some(v) = v {
            out.push((kw, label, v));
        }
    };
    put(
        "bridge-bridgeprio",
        "priority",
        c.priority.map(|n| n.to_string()),
    );
    put("bridge-mcsnoop", "mcast_snooping", yes(c.mcast_snooping));
    put("bridge-mcquerier", "mcast_querier", yes(c.mcast_querier));
    put(
        "bridge-mcqifaddr",
        "mcast_query_use_ifaddr",
        yes(c.mcast_query_use_ifaddr),
    );
    put(
        "bridge-hashmax",
        "mcast_hash_max",
        c.mcast_hash_max.map(|n| n.to_string()),
    );
    put(
        "bridge-mclmc",
        "mcast_last_member_count",
        c.mcast_last_member_count.map(|n| n.to_string()),
    );
    put(
        "bridge-mcsqc",
        "mcast_startup_query_count",
        c.mcast_startup_query_count.map(|n| n.to_string()),
    );
    let said: Vec<&str> = out
        .iter()
        .map(|(_, l, _)| *l)
        .chain(left.iter().copied())
        .chain(["stp"])
        .collect();
    left.extend(bridge_options_left(c, &said));
    (out.into_iter().map(|(k, _, v)| (k, v)).collect(), left)
}

/// The bridge's keywords after `bridge-stp`: `bridge-fd` (hostnet's 0, or 2 with STP on,
/// unless the file gives one), the file's options and its ports' costs and priorities.
pub fn bridge(host: &HostConfig, d: &DeviceConfig, stp: bool) -> String {
    let c = d.keys.bridge.clone().unwrap_or_default();
    let (attrs, _) = bridge_attrs(&c);
    let mut s = String::new();
    if !attrs.iter().any(|(k, _)| *k == "bridge-fd") {
        // Forward delay 0 as for every bridge hostnet creates; with STP on the kernel's
        // minimum is 2 seconds.
        let _ = writeln!(s, "\tbridge-fd {}", if stp { 2 } else { 0 });
    }
    for (k, v) in attrs {
        let _ = writeln!(s, "\t{k} {v}");
    }
    let ports: Vec<&DeviceConfig> = host
        .devices
        .iter()
        .filter(|p| p.controller.as_deref() == Some(&d.name) && port_settings_fit(p))
        .collect();
    let pairs = |f: &dyn Fn(&DeviceConfig) -> Option<String>| {
        ports
            .iter()
            .filter_map(|p| f(p).map(|v| format!("{}={v}", p.name)))
            .collect::<Vec<_>>()
    };
    let costs = pairs(&|p| p.keys.port.as_ref()?.cost.map(|c| c.to_string()));
    let prios = pairs(&|p| p.keys.port.as_ref()?.priority.map(|c| c.to_string()));
    if !costs.is_empty() {
        let _ = writeln!(s, "\tbridge-pathcosts {}", costs.join(" "));
    }
    if !prios.is_empty() {
        let _ = writeln!(s, "\tbridge-portprios {}", prios.join(" "));
    }
    s
}

/// Whether `description` fits on a stanza line.
fn alias_fits(d: &DeviceConfig) -> bool {
    d.keys
        .base
        .description
        .as_ref()
        .is_some_and(|a| !a.trim().is_empty() && !a.chars().any(char::is_control))
}

/// The device's own keywords: `alias`, `vlan-protocol`.
pub fn link(d: &DeviceConfig) -> String {
    let mut s = String::new();
    if alias_fits(d) {
        let _ = writeln!(
            s,
            "\talias {}",
            d.keys.base.description.as_deref().unwrap_or_default()
        );
    }
    if let Some(v) = d.keys.vlan.as_ref() {
        if v.protocol == VlanProtocol::Dot1Ad {
            s.push_str("\tvlan-protocol 802.1ad\n");
        }
    }
    s
}

/// A bond's keywords beyond `bond-slaves`/`-mode`/`-miimon`, and the options (nmstate's
/// names) it has none for.
fn bond_attrs(o: &BondOptions) -> (Vec<(&'static str, String)>, Vec<&'static str>) {
    let d = BondOptions {
        primary: o.primary.clone(),
        ..BondOptions::new(o.mode, o.miimon)
    };
    let mut out = Vec::new();
    let mut left = Vec::new();
    let mut put = |changed: bool, kw, v: Option<String>, nm: &'static str| {
        if changed {
            match v {
                Some(v) => out.push((kw, v)),
                None => left.push(nm),
            }
        }
    };
    let name =
        |t: &[&str], i: u8, n: usize| (usize::from(i) < n).then(|| t[usize::from(i)].to_string());
    put(
        o.updelay != d.updelay,
        "bond-updelay",
        Some(o.updelay.to_string()),
        "updelay",
    );
    put(
        o.downdelay != d.downdelay,
        "bond-downdelay",
        Some(o.downdelay.to_string()),
        "downdelay",
    );
    put(
        o.primary_reselect != d.primary_reselect,
        "bond-primary-reselect",
        name(PRIMARY_RESELECT, o.primary_reselect, 3),
        "primary_reselect",
    );
    put(
        o.num_grat_arp != d.num_grat_arp,
        "bond-num-grat-arp",
        Some(o.num_grat_arp.to_string()),
        "num_grat_arp",
    );
    put(
        o.xmit_hash_policy != d.xmit_hash_policy,
        "bond-xmit-hash-policy",
        name(XMIT_HASH_POLICY, o.xmit_hash_policy, 5),
        "xmit_hash_policy",
    );
    put(
        o.lacp_rate != d.lacp_rate,
        "bond-lacp-rate",
        Some(if o.lacp_rate == 1 { "fast" } else { "slow" }.into()),
        "lacp_rate",
    );
    put(
        o.use_carrier != d.use_carrier,
        "bond-use-carrier",
        Some(if o.use_carrier { "yes" } else { "no" }.into()),
        "use_carrier",
    );
    put(
        o.min_links != d.min_links,
        "bond-min-links",
        Some(o.min_links.to_string()),
        "min_links",
    );
    put(
        o.ad_actor_sys_prio != d.ad_actor_sys_prio,
        "bond-ad-sys-priority",
        Some(o.ad_actor_sys_prio.to_string()),
        "ad_actor_sys_prio",
    );
    let mac = crate::netdev::MacAddr(o.ad_actor_system)
        .to_string()
        .to_lowercase();
    put(
        o.ad_actor_system != d.ad_actor_system,
        "bond-ad-sys-mac-addr",
        Some(mac),
        "ad_actor_system",
    );
    if let Some(p) = &o.primary {
        out.push(("bond-primary", p.clone()));
    }
    // The rest have no keyword: each one the file changes is named.
    for (changed, nm) in [
        (o.ad_select != d.ad_select, "ad_select"),
        (
            o.all_slaves_active != d.all_slaves_active,
            "all_slaves_active",
        ),
        (o.fail_over_mac != d.fail_over_mac, "fail_over_mac"),
        (o.resend_igmp != d.resend_igmp, "resend_igmp"),
        (o.lp_interval != d.lp_interval, "lp_interval"),
        (
            o.packets_per_slave != d.packets_per_slave,
            "packets_per_slave",
        ),
        (o.tlb_dynamic_lb != d.tlb_dynamic_lb, "tlb_dynamic_lb"),
        (o.lacp_active != d.lacp_active, "lacp_active"),
        (o.ad_user_port_key != d.ad_user_port_key, "ad_user_port_key"),
        (o.arp_interval != d.arp_interval, "arp_interval"),
        (o.arp_ip_target != d.arp_ip_target, "arp_ip_target"),
        (o.arp_validate != d.arp_validate, "arp_validate"),
        (o.arp_all_targets != d.arp_all_targets, "arp_all_targets"),
        (o.arp_missed_max != d.arp_missed_max, "arp_missed_max"),
        (o.ns_ip6_target != d.ns_ip6_target, "ns_ip6_target"),
    ] {
        if changed {
            left.push(nm);
        }
    }
    (out, left)
}

/// A bond's keywords (after `bond-miimon`).
pub fn bond(d: &DeviceConfig) -> String {
    let mut s = String::new();
    if let Some(o) = &d.keys.bond {
        for (k, v) in bond_attrs(o).0 {
            let _ = writeln!(s, "\t{k} {v}");
        }
    }
    s
}

/// What ifupdown2's stanzas leave out of `key` on `d` (see the module's comment).
pub fn unwritten(_: &HostConfig, d: &DeviceConfig, key: Key) -> Option<String> {
    let why = |w: &str| Some(format!("{} ({w})", key.name()));
    match key {
        Key::Description if alias_fits(d) => None,
        Key::Description => why("an empty or multi-line alias does not fit a stanza"),
        Key::VlanProtocol | Key::BondPrimary => None,
        Key::BondOptions => parts_left(key, d.keys.bond.as_ref(), |o| bond_attrs(o).1),
        Key::BridgeOptions => parts_left(key, d.keys.bridge.as_ref(), |c| bridge_attrs(c).1),
        Key::PortSettings => port_settings_left(
            d,
            key,
            "ifupdown2 has no hairpin keyword",
            "ifupdown2 takes a cost of 1-65535 and a priority of 0-63",
        ),
        _ => Some(key.name().into()),
    }
}

#[cfg(test)]
mod tests {
    use crate::persist::tests::{file_in, intent_of};
    use crate::persist::{render, Format, Want};

    #[test]
    fn alias_bridge_options_port_costs_and_vlan_protocol_are_written() {
        let r = render(
            &intent_of(
                "interfaces:\n- name: br0\n  type: linux-bridge\n  description: guests\n  bridge:\n    options:\n      stp: {enabled: false, hello-time: 3}\n      mac-ageing-time: 100\n      hash-max: 1024\n      multicast-snooping: false\n      group-forward-mask: 8\n    port:\n    - {name: eth1, stp-path-cost: 7, stp-priority: 20}\n    - {name: eth2, stp-hairpin-mode: true}\n- {name: eth1, type: ethernet}\n- {name: eth2, type: ethernet}\n- {name: eth1.5, type: vlan, vlan: {base-iface: eth1, id: 5, protocol: 802.1ad}}\n",
            ),
            Format::Ifupdown,
        );
        let file = |name: &str| file_in(&r, name);
        let br0 = file("hostnet-br0");
        for line in [
            "\tbridge-fd 0\n",
            "\tbridge-hello 3\n",
            "\tbridge-ageing 100\n",
            "\tbridge-hashmax 1024\n",
            "\tbridge-mcsnoop no\n",
            "\tbridge-pathcosts eth1=7\n",
            "\tbridge-portprios eth1=20\n",
            "\talias guests\n",
        ] {
            assert!(br0.contains(line), "{line:?} not in:\n{br0}");
        }
        assert!(file("hostnet-eth1.5").contains("\tvlan-protocol 802.1ad\n"));
        let w = r.warnings.join("\n");
        for want in [
            "br0: bridge.options (group_fwd_mask) not written by --format ifupdown",
            "eth2: bridge.port settings (ifupdown2 has no hairpin keyword)",
        ] {
            assert!(w.contains(want), "{want:?} not in:\n{w}");
        }
        assert!(!w.contains("eth1.5") && !w.contains("eth1:"), "{w}");
    }

    #[test]
    fn bond_options_take_the_bond_addons_keywords() {
        let r = render(
            &intent_of(
                "interfaces:\n- name: bond0\n  type: bond\n  link-aggregation:\n    mode: active-backup\n    options: {miimon: 100, updelay: 200, primary: eth2, primary_reselect: better, num_grat_arp: 3, use_carrier: false, resend_igmp: 2}\n    port: [eth2, eth3]\n",
            ),
            Format::Ifupdown,
        );
        let bond = r
            .wants
            .iter()
            .find(|(p, _)| p.ends_with("hostnet-bond0"))
            .map(|(_, w)| match w {
                Want::File { contents, .. } => String::from_utf8_lossy(contents).into_owned(),
                Want::Absent => String::new(),
            })
            .unwrap_or_default();
        assert!(
            bond.contains("\tbond-miimon 100\n\tbond-updelay 200\n\tbond-primary-reselect better\n\tbond-num-grat-arp 3\n\tbond-use-carrier no\n\tbond-primary eth2\n"),
            "{bond}"
        );
        let w = r.warnings.join("\n");
        assert!(
            w.contains("bond0: link-aggregation.options (other than miimon) (resend_igmp) not written by --format ifupdown"),
            "{w}"
        );
        assert!(!w.contains("primary"), "{w}");
    }
}
