//! The nmstate keys of a device (`unwritten::LinkKeys`) in netplan 0.106 files
//! (netplan(5)): a bridge's `parameters` (`ageing-time`, `priority`, `forward-delay`,
//! `hello-time`, `max-age`, and its ports' `path-cost` and `port-priority` maps) and a
//! bond's (`lacp-rate`, `transmit-hash-policy`, `ad-select`, `min-links`, `up-delay`,
//! `down-delay`, `primary`, `primary-reselect-policy`, `fail-over-mac-policy`,
//! `all-slaves-active`, `gratuitous-arp`, `resend-igmp`, `learn-packet-interval`,
//! `packets-per-slave`, the ARP monitor).
//!
//! netplan takes the bridge timers in whole seconds; everything else of a device is left
//! out (said in the warning): its description, promiscuous mode and IPv6 switches, the
//! bridge's multicast settings and VLAN filtering, port VLANs, hairpin mode, a VLAN's
//! protocol and flags, and bond options netplan has no key for.

use super::device::{DeviceConfig, HostConfig};
use super::unwritten::{
    bridge_options_left, parts_left, port_settings_fit, port_settings_left, Key,
};
use crate::netdev::{
    BondOptions, BridgeChange, AD_SELECT, ARP_ALL_TARGETS, ARP_VALIDATE, FAIL_OVER_MAC, LACP_RATE,
    PRIMARY_RESELECT, XMIT_HASH_POLICY,
};

/// The bridge `parameters` of `c` (after `stp`), and the options (by the kernel's
/// names) they cannot say.
fn bridge_params(c: &BridgeChange) -> (Vec<(&'static str, String)>, Vec<&'static str>) {
    let mut out = Vec::new();
    let mut left = Vec::new();
    let mut timer = |key, label, v: Option<u32>| {
        if let Some(v) = v {
            if v.is_multiple_of(100) {
                out.push((key, label, (v / 100).to_string()));
            } else {
                left.push(label);
            }
        }
    };
    timer("forward-delay", "forward_delay", c.forward_delay);
    timer("hello-time", "hello_time", c.hello_time);
    timer("max-age", "max_age", c.max_age);
    timer("ageing-time", "ageing_time", c.ageing_time);
    if let Some(p) = c.priority {
        out.push(("priority", "priority", p.to_string()));
    }
    let said: Vec<&str> = out
        .iter()
        .map(|(_, l, _)| *l)
        .chain(left.iter().copied())
        .chain(["stp"])
        .collect();
    left.extend(bridge_options_left(c, &said));
    (out.into_iter().map(|(k, _, v)| (k, v)).collect(), left)
}

/// A bridge's `parameters` flow mapping: `stp`, the forward delay (hostnet's 0, or 2 s
/// with STP on, unless the file gives one), the file's options and its ports' maps
/// (not of the veths netplan cannot declare).
pub fn bridge(host: &HostConfig, d: &DeviceConfig, stp: bool, veths: &[&str]) -> String {
    let c = d.keys.bridge.clone().unwrap_or_default();
    let (params, _) = bridge_params(&c);
    let mut items = vec![format!("stp: {stp}")];
    if !params.iter().any(|(k, _)| *k == "forward-delay") {
        // Forward delay 0 as for every bridge hostnet creates; with STP on the kernel's
        // minimum is 2 seconds.
        items.push(format!("forward-delay: {}", if stp { 2 } else { 0 }));
    }
    items.extend(params.into_iter().map(|(k, v)| format!("{k}: {v}")));
    let port_map = |f: &dyn Fn(&DeviceConfig) -> Option<String>| {
        host.devices
            .iter()
            .filter(|p| {
                p.controller.as_deref() == Some(&d.name)
                    && port_settings_fit(p)
                    && !veths.contains(&p.name.as_str())
            })
            .filter_map(|p| f(p).map(|v| format!("{}: {v}", super::netplan::q(&p.name))))
            .collect::<Vec<_>>()
    };
    let costs = port_map(&|p| p.keys.port.as_ref()?.cost.map(|c| c.to_string()));
    let prios = port_map(&|p| p.keys.port.as_ref()?.priority.map(|c| c.to_string()));
    if !costs.is_empty() {
        items.push(format!("path-cost: {{{}}}", costs.join(", ")));
    }
    if !prios.is_empty() {
        items.push(format!("port-priority: {{{}}}", prios.join(", ")));
    }
    format!("{{{}}}", items.join(", "))
}

/// A bond's `parameters` after `mode` and `mii-monitor-interval`, and the options netplan
/// has no key for (nmstate's names).
fn bond_params(o: &BondOptions) -> (Vec<String>, Vec<&'static str>) {
    let d = BondOptions {
        primary: None,
        ..BondOptions::new(o.mode, o.miimon)
    };
    let mut out = Vec::new();
    let mut left = Vec::new();
    let mut put = |changed: bool, key: &str, v: Option<String>, nm: &'static str| {
        if changed {
            match v {
                Some(v) => out.push(format!("{key}: {v}")),
                None => left.push(nm),
            }
        }
    };
    let name = |t: &[&str], i: u8, max: usize| {
        (usize::from(i) < max).then(|| t[usize::from(i)].to_string())
    };
    put(
        o.lacp_rate != d.lacp_rate,
        "lacp-rate",
        name(LACP_RATE, o.lacp_rate, 2),
        "lacp_rate",
    );
    put(
        o.xmit_hash_policy != d.xmit_hash_policy,
        "transmit-hash-policy",
        name(XMIT_HASH_POLICY, o.xmit_hash_policy, 5),
        "xmit_hash_policy",
    );
    put(
        o.ad_select != d.ad_select,
        "ad-select",
        name(AD_SELECT, o.ad_select, 3),
        "ad_select",
    );
    put(
        o.min_links != d.min_links,
        "min-links",
        Some(o.min_links.to_string()),
        "min_links",
    );
    put(
        o.updelay != d.updelay,
        "up-delay",
        Some(format!("\"{}ms\"", o.updelay)),
        "updelay",
    );
    put(
        o.downdelay != d.downdelay,
        "down-delay",
        Some(format!("\"{}ms\"", o.downdelay)),
        "downdelay",
    );
    put(
        o.all_slaves_active != d.all_slaves_active,
        "all-slaves-active",
        Some((o.all_slaves_active == 1).to_string()),
        "all_slaves_active",
    );
    put(
        o.primary_reselect != d.primary_reselect,
        "primary-reselect-policy",
        name(PRIMARY_RESELECT, o.primary_reselect, 3),
        "primary_reselect",
    );
    put(
        o.fail_over_mac != d.fail_over_mac,
        "fail-over-mac-policy",
        name(FAIL_OVER_MAC, o.fail_over_mac, 3),
        "fail_over_mac",
    );
    put(
        o.num_grat_arp != d.num_grat_arp,
        "gratuitous-arp",
        Some(o.num_grat_arp.to_string()),
        "num_grat_arp",
    );
    put(
        o.resend_igmp != d.resend_igmp,
        "resend-igmp",
        Some(o.resend_igmp.to_string()),
        "resend_igmp",
    );
    put(
        o.lp_interval != d.lp_interval,
        "learn-packet-interval",
        Some(o.lp_interval.to_string()),
        "lp_interval",
    );
    put(
        o.packets_per_slave != d.packets_per_slave,
        "packets-per-slave",
        Some(o.packets_per_slave.to_string()),
        "packets_per_slave",
    );
    put(
        o.arp_interval != d.arp_interval,
        "arp-interval",
        Some(format!("\"{}ms\"", o.arp_interval)),
        "arp_interval",
    );
    let targets: Vec<String> = o.arp_ip_target.iter().map(|t| format!("\"{t}\"")).collect();
    put(
        o.arp_ip_target != d.arp_ip_target,
        "arp-ip-targets",
        Some(format!("[{}]", targets.join(", "))),
        "arp_ip_target",
    );
    put(
        o.arp_validate != d.arp_validate,
        "arp-validate",
        name(ARP_VALIDATE, o.arp_validate, 4),
        "arp_validate",
    );
    put(
        o.arp_all_targets != d.arp_all_targets,
        "arp-all-targets",
        name(ARP_ALL_TARGETS, o.arp_all_targets, 2),
        "arp_all_targets",
    );
    let rest = BondOptions {
        ad_actor_sys_prio: d.ad_actor_sys_prio,
        ad_user_port_key: d.ad_user_port_key,
        use_carrier: d.use_carrier,
        tlb_dynamic_lb: d.tlb_dynamic_lb,
        lacp_active: d.lacp_active,
        ad_actor_system: d.ad_actor_system,
        arp_missed_max: d.arp_missed_max,
        ns_ip6_target: d.ns_ip6_target.clone(),
        ..o.clone()
    };
    for (changed, nm) in [
        (
            rest.ad_actor_sys_prio != o.ad_actor_sys_prio,
            "ad_actor_sys_prio",
        ),
        (
            rest.ad_user_port_key != o.ad_user_port_key,
            "ad_user_port_key",
        ),
        (rest.use_carrier != o.use_carrier, "use_carrier"),
        (rest.tlb_dynamic_lb != o.tlb_dynamic_lb, "tlb_dynamic_lb"),
        (rest.lacp_active != o.lacp_active, "lacp_active"),
        (rest.ad_actor_system != o.ad_actor_system, "ad_actor_system"),
        (rest.arp_missed_max != o.arp_missed_max, "arp_missed_max"),
        (rest.ns_ip6_target != o.ns_ip6_target, "ns_ip6_target"),
    ] {
        if changed {
            left.push(nm);
        }
    }
    (out, left)
}

/// A bond's `parameters` flow mapping.
pub fn bond(d: &DeviceConfig, mode: &str, miimon: u32) -> String {
    let mut items = vec![
        format!("mode: {mode}"),
        format!("mii-monitor-interval: {miimon}"),
    ];
    if let Some(o) = &d.keys.bond {
        items.extend(bond_params(o).0);
        if let Some(p) = &o.primary {
            items.push(format!("primary: {}", super::netplan::q(p)));
        }
    }
    format!("{{{}}}", items.join(", "))
}

/// What netplan's files leave out of `key` on `d` (see the module's comment).
pub fn unwritten(_: &HostConfig, d: &DeviceConfig, key: Key) -> Option<String> {
    match key {
        Key::BondPrimary => None,
        Key::BondOptions => parts_left(key, d.keys.bond.as_ref(), |o| bond_params(o).1),
        Key::BridgeOptions => parts_left(key, d.keys.bridge.as_ref(), |c| bridge_params(c).1),
        Key::PortSettings => port_settings_left(
            d,
            key,
            "netplan has no hairpin key",
            "networkd takes a cost of 1-65535 and a priority of 0-63",
        ),
        _ => Some(key.name().into()),
    }
}

#[cfg(test)]
mod tests {
    use crate::persist::tests::{file_in, intent_of};
    use crate::persist::{render, Format};

    #[test]
    fn bridge_and_bond_parameters_are_written() {
        let r = render(
            &intent_of(
                "interfaces:\n- name: br0\n  type: linux-bridge\n  bridge:\n    options:\n      stp: {enabled: false, hello-time: 3, max-age: 30}\n      mac-ageing-time: 100\n      hash-max: 1024\n    port:\n    - {name: eth1, stp-path-cost: 7, stp-priority: 20}\n- {name: eth1, type: ethernet}\n- name: bond0\n  type: bond\n  link-aggregation:\n    mode: active-backup\n    options: {miimon: 100, primary: eth2, updelay: 200, num_grat_arp: 3, use_carrier: false}\n    port: [eth2]\n",
            ),
            Format::Netplan,
        );
        let file = |name: &str| file_in(&r, name);
        let br0 = file("60-hostnet-br0.yaml");
        assert!(
            br0.contains("parameters: {stp: false, forward-delay: 0, hello-time: 3, max-age: 30, ageing-time: 100, path-cost: {\"eth1\": 7}, port-priority: {\"eth1\": 20}}\n"),
            "{br0}"
        );
        let bond = file("45-hostnet-bond0.yaml");
        assert!(
            bond.contains("parameters: {mode: active-backup, mii-monitor-interval: 100, up-delay: \"200ms\", gratuitous-arp: 3, primary: \"eth2\"}\n"),
            "{bond}"
        );
        let w = r.warnings.join("\n");
        for want in [
            "br0: bridge.options (mcast_hash_max) not written by --format netplan",
            "bond0: link-aggregation.options (other than miimon) (use_carrier) not written",
        ] {
            assert!(w.contains(want), "{want:?} not in:\n{w}");
        }
        assert!(!w.contains("primary") && !w.contains("eth1:"), "{w}");
    }
}
