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
//! an exact set), promiscuous mode, the IPv6 switches, and bond options.

use std::fmt::Write as _;

use super::device::{DeviceConfig, HostConfig};
use super::unwritten::{bridge_options_left, port_settings_fit, Key};
use crate::netdev::{BridgeChange, VlanProtocol};

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

/// What ifupdown2's stanzas leave out of `key` on `d` (see the module's comment).
pub fn unwritten(_: &HostConfig, d: &DeviceConfig, key: Key) -> Option<String> {
    let why = |w: &str| Some(format!("{} ({w})", key.name()));
    match key {
        Key::Description if alias_fits(d) => None,
        Key::Description => why("an empty or multi-line alias does not fit a stanza"),
        Key::VlanProtocol => None,
        Key::BridgeOptions => {
            let left = d
                .keys
                .bridge
                .as_ref()
                .map(|c| bridge_attrs(c).1)
                .unwrap_or_default();
            (!left.is_empty()).then(|| format!("{} ({})", key.name(), left.join(", ")))
        }
        Key::PortSettings => {
            let p = d.keys.port.as_ref()?;
            if p.hairpin.is_some() {
                why("ifupdown2 has no hairpin keyword")
            } else if !port_settings_fit(d) {
                why("ifupdown2 takes a cost of 1-65535 and a priority of 0-63")
            } else {
                None
            }
        }
        _ => Some(key.name().into()),
    }
}

#[cfg(test)]
mod tests {
    use crate::persist::tests::intent_of;
    use crate::persist::{render, Format, Want};

    #[test]
    fn alias_bridge_options_port_costs_and_vlan_protocol_are_written() {
        let r = render(
            &intent_of(
                "interfaces:\n- name: br0\n  type: linux-bridge\n  description: guests\n  bridge:\n    options:\n      stp: {enabled: false, hello-time: 3}\n      mac-ageing-time: 100\n      hash-max: 1024\n      multicast-snooping: false\n      group-forward-mask: 8\n    port:\n    - {name: eth1, stp-path-cost: 7, stp-priority: 20}\n    - {name: eth2, stp-hairpin-mode: true}\n- {name: eth1, type: ethernet}\n- {name: eth2, type: ethernet}\n- {name: eth1.5, type: vlan, vlan: {base-iface: eth1, id: 5, protocol: 802.1ad}}\n",
            ),
            Format::Ifupdown,
        );
        let file = |name: &str| {
            r.wants
                .iter()
                .find(|(p, _)| p.ends_with(name))
                .map(|(_, w)| match w {
                    Want::File { contents, .. } => String::from_utf8_lossy(contents).into_owned(),
                    Want::Absent => String::new(),
                })
                .unwrap_or_default()
        };
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
}
