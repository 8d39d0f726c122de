//! The nmstate keys of a device (`unwritten::LinkKeys`) in NetworkManager keyfiles
//! (nm-settings(5) of NetworkManager 1.42): a bridge's options in `[bridge]`
//! (`vlan-filtering`, `vlan-default-pvid`, `vlan-protocol`, STP timers, the multicast
//! settings, `vlans` for the bridge's own VLANs), a port's in `[bridge-port]`
//! (`path-cost`, `priority`, `hairpin-mode`, `vlans`), `[ethernet]
//! accept-all-mac-addresses`, and `[ipv6] method=disabled` for `ipv6.enabled: false`.
//!
//! Left out (said in the warning): `description` (no profile setting),
//! `ipv6.addr-gen-mode` and `ipv6.token` (NetworkManager makes IPv6 link-local and SLAAC
//! addresses itself and leaves the kernel's mode `none`), `ipv6.autoconf` (no setting for
//! the sysctl), `ipv6.enabled: false` on a bridge port (a port's profile has no IP
//! settings), STP timers that are not whole seconds (NetworkManager's unit), and port
//! VLANs whose bridge does not filter, or an exact set without the bridge's default PVID
//! VLAN (NetworkManager applies port VLANs only with filtering on, and only adds them to
//! the set a port gets when it joins).

use std::fmt::Write as _;

use super::device::{DeviceConfig, HostConfig};
use super::unwritten::{
    bridge_of, bridge_options_left, exact_set_expressible, parts_left, port_settings_fit, Key,
};
use crate::netdev::{BridgeChange, VlanSet, VLAN_8021AD};

/// `[ethernet]` lines.
pub fn ethernet(d: &DeviceConfig) -> String {
    d.keys
        .base
        .promisc
        .map(|p| format!("accept-all-mac-addresses={}\n", i32::from(p)))
        .unwrap_or_default()
}

/// Whether `[ipv6]` says `method=disabled`.
pub fn ipv6_disabled(d: &DeviceConfig) -> bool {
    d.keys.base.ipv6_enabled == Some(false)
}

/// A timer in centiseconds as NetworkManager's whole seconds, if it is one.
fn whole_seconds(cs: u32) -> Option<u32> {
    cs.is_multiple_of(100).then_some(cs / 100)
}

/// The `[bridge]` lines of `c` (NetworkManager's name, the value), and the options it
/// cannot say, by the kernel's names.
fn bridge_lines(c: &BridgeChange) -> (Vec<(&'static str, String)>, Vec<&'static str>) {
    let mut lines = Vec::new();
    let mut left = Vec::new();
    let mut secs = |name, label, v: Option<u32>| {
        if let Some(v) = v {
            match whole_seconds(v) {
                Some(s) => lines.push((name, s.to_string())),
                None => left.push(label),
            }
        }
    };
    secs("forward-delay", "forward_delay", c.forward_delay);
    secs("hello-time", "hello_time", c.hello_time);
    secs("max-age", "max_age", c.max_age);
    secs("ageing-time", "ageing_time", c.ageing_time);
    let mut put = |name, v: Option<String>| {
        if let Some(v) = v {
            lines.push((name, v));
        }
    };
    let s = |v: Option<u64>| v.map(|n| n.to_string());
    put("priority", c.priority.map(|n| n.to_string()));
    put(
        "group-forward-mask",
        c.group_fwd_mask.map(|n| n.to_string()),
    );
    put("group-address", c.group_addr.map(|m| m.to_string()));
    put(
        "multicast-snooping",
        c.mcast_snooping.map(|b| b.to_string()),
    );
    put(
        "multicast-router",
        c.mcast_router.map(|r| {
            match r {
                0 => "disabled",
                2 => "enabled",
                _ => "auto",
            }
            .to_string()
        }),
    );
    put("multicast-querier", c.mcast_querier.map(|b| b.to_string()));
    put(
        "multicast-query-use-ifaddr",
        c.mcast_query_use_ifaddr.map(|b| b.to_string()),
    );
    put(
        "multicast-hash-max",
        c.mcast_hash_max.map(|n| n.to_string()),
    );
    put(
        "multicast-last-member-count",
        c.mcast_last_member_count.map(|n| n.to_string()),
    );
    put(
        "multicast-startup-query-count",
        c.mcast_startup_query_count.map(|n| n.to_string()),
    );
    // The multicast intervals are in centiseconds, as the kernel's.
    put(
        "multicast-last-member-interval",
        s(c.mcast_last_member_interval),
    );
    put(
        "multicast-membership-interval",
        s(c.mcast_membership_interval),
    );
    put("multicast-querier-interval", s(c.mcast_querier_interval));
    put("multicast-query-interval", s(c.mcast_query_interval));
    put(
        "multicast-query-response-interval",
        s(c.mcast_query_response_interval),
    );
    put(
        "multicast-startup-query-interval",
        s(c.mcast_startup_query_interval),
    );
    put("vlan-filtering", c.vlan_filtering.map(|b| b.to_string()));
    put(
        "vlan-protocol",
        c.vlan_protocol.map(|p| {
            if p == VLAN_8021AD {
                "802.1ad".into()
            } else {
                "802.1Q".into()
            }
        }),
    );
    put(
        "vlan-default-pvid",
        c.vlan_default_pvid.map(|n| n.to_string()),
    );
    // `stp` is the bridge kind's own line; an option not above stays in the warning.
    let said: Vec<&str> = lines
        .iter()
        .map(|(n, _)| *n)
        .map(kernel_label)
        .chain(left.iter().copied())
        .chain(["stp"])
        .collect();
    left.extend(bridge_options_left(c, &said));
    (lines, left)
}

/// The kernel's name of NetworkManager's bridge option `name`.
fn kernel_label(name: &str) -> &'static str {
    match name {
        "forward-delay" => "forward_delay",
        "hello-time" => "hello_time",
        "max-age" => "max_age",
        "ageing-time" => "ageing_time",
        "priority" => "priority",
        "group-forward-mask" => "group_fwd_mask",
        "group-address" => "group_address",
        "multicast-snooping" => "mcast_snooping",
        "multicast-router" => "mcast_router",
        "multicast-querier" => "mcast_querier",
        "multicast-query-use-ifaddr" => "mcast_query_use_ifaddr",
        "multicast-hash-max" => "mcast_hash_max",
        "multicast-last-member-count" => "mcast_last_member_count",
        "multicast-startup-query-count" => "mcast_startup_query_count",
        "multicast-last-member-interval" => "mcast_last_member_interval",
        "multicast-membership-interval" => "mcast_membership_interval",
        "multicast-querier-interval" => "mcast_querier_interval",
        "multicast-query-interval" => "mcast_query_interval",
        "multicast-query-response-interval" => "mcast_query_response_interval",
        "multicast-startup-query-interval" => "mcast_startup_query_interval",
        "vlan-filtering" => "vlan_filtering",
        "vlan-protocol" => "vlan_protocol",
        _ => "vlan_default_pvid",
    }
}

/// The `[bridge]` lines after `stp=`: the forward delay (hostnet's 0, or 2 s with STP
/// on, unless the file gives one), the file's options and the bridge's own VLANs.
pub fn bridge(host: &HostConfig, d: &DeviceConfig, stp: bool) -> String {
    let c = d.keys.bridge.clone().unwrap_or_default();
    let (lines, _) = bridge_lines(&c);
    let mut s = String::new();
    if !lines.iter().any(|(n, _)| *n == "forward-delay") {
        // Forward delay 0 as for every bridge hostnet creates; NetworkManager wants at
        // least 2 with STP on, as the kernel does.
        let _ = writeln!(s, "forward-delay={}", if stp { 2 } else { 0 });
    }
    for (n, v) in lines {
        let _ = writeln!(s, "{n}={v}");
    }
    let vlans = vlans(host, d);
    if !vlans.is_empty() {
        let _ = writeln!(s, "vlans={}", vlan_list(&vlans));
    }
    s
}

/// A `[bridge-port]` section, if the file gives the port settings or VLANs.
pub fn bridge_port(host: &HostConfig, d: &DeviceConfig) -> String {
    let mut s = String::new();
    if let Some(p) = d.keys.port.as_ref().filter(|_| port_settings_fit(d)) {
        if let Some(c) = p.cost {
            let _ = writeln!(s, "path-cost={c}");
        }
        if let Some(pr) = p.priority {
            let _ = writeln!(s, "priority={pr}");
        }
        if let Some(h) = p.hairpin {
            let _ = writeln!(s, "hairpin-mode={h}");
        }
    }
    if d.controller.is_some() {
        let vlans = vlans(host, d);
        if !vlans.is_empty() {
            let _ = writeln!(s, "vlans={}", vlan_list(&vlans));
        }
    }
    if s.is_empty() {
        return s;
    }
    format!("\n[bridge-port]\n{s}")
}

/// NetworkManager's list syntax: `1 pvid untagged,100,200`.
fn vlan_list(s: &VlanSet) -> String {
    s.iter()
        .map(|(vid, f)| {
            let mut w = vid.to_string();
            if f.pvid {
                w.push_str(" pvid");
            }
            if f.untagged {
                w.push_str(" untagged");
            }
            w
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether the bridge `name` filters by VLAN in the file.
fn filters(host: &HostConfig, name: &str) -> bool {
    host.device(name)
        .and_then(|b| b.keys.bridge.as_ref())
        .and_then(|c| c.vlan_filtering)
        .unwrap_or(false)
}

/// The VLANs the files give `d`: none unless its bridge filters; then its exact set when
/// NetworkManager can make it, and the networks' tagged VLANs.
fn vlans(host: &HostConfig, d: &DeviceConfig) -> VlanSet {
    let mut out = VlanSet::new();
    let bridge = bridge_of(d);
    if !filters(host, bridge) {
        return out;
    }
    if let Some(Some(want)) = &d.keys.vlans {
        if exact_set_expressible(host, bridge, want) {
            out.extend(want.iter().map(|(v, f)| (*v, *f)));
        }
    }
    for vid in &d.keys.owned_vlans {
        out.entry(*vid).or_default();
    }
    out
}

/// What keyfiles leave out of `key` on `d` (see the module's comment).
pub fn unwritten(host: &HostConfig, d: &DeviceConfig, key: Key) -> Option<String> {
    let why = |w: &str| Some(format!("{} ({w})", key.name()));
    let filtering = filters(host, bridge_of(d));
    match key {
        Key::Promisc => None,
        Key::Ipv6Disabled if d.controller.is_none() => None,
        Key::Ipv6Disabled => why("a bridge port's profile has no IP settings"),
        Key::AddrGenMode | Key::Token => {
            why("NetworkManager makes IPv6 addresses itself; the kernel's mode stays none")
        }
        Key::BridgeOptions => parts_left(key, d.keys.bridge.as_ref(), |c| bridge_lines(c).1),
        Key::PortSettings if port_settings_fit(d) => None,
        Key::PortSettings => {
            why("NetworkManager takes a path cost of 1-65535 and a priority of 0-63")
        }
        Key::PortVlans | Key::OwnedVlans if !filtering => {
            why("NetworkManager sets port VLANs only on a bridge with vlan-filtering")
        }
        Key::PortVlans => match &d.keys.vlans {
            Some(Some(want)) if !exact_set_expressible(host, bridge_of(d), want) => why(
                "without the bridge's default PVID VLAN: NetworkManager only adds to a port's set",
            ),
            _ => None,
        },
        Key::OwnedVlans => None,
        _ => Some(key.name().into()),
    }
}

#[cfg(test)]
mod tests {
    use crate::persist::tests::intent_of;
    use crate::persist::{render, Format, Want};

    fn file(r: &crate::persist::Rendered, name: &str) -> String {
        r.wants
            .iter()
            .find(|(p, _)| p.ends_with(name))
            .map(|(_, w)| match w {
                Want::File { contents, .. } => String::from_utf8_lossy(contents).into_owned(),
                Want::Absent => String::new(),
            })
            .unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn bridge_options_port_settings_vlans_and_base_keys_are_written() {
        let r = render(
            &intent_of(
                "interfaces:\n- name: br0\n  type: linux-bridge\n  bridge:\n    options:\n      stp: {enabled: true, hello-time: 3, forward-delay: 10}\n      mac-ageing-time: 100\n      vlan-protocol: 802.1q\n      hash-max: 1024\n      multicast-router: 2\n      multicast-query-interval: 13000\n    port:\n    - {name: eth1, stp-path-cost: 7, stp-priority: 20, stp-hairpin-mode: true, vlan: {mode: trunk, trunk-tags: [{id: 100}], tag: 1, enable-native: true}}\n    - {name: eth2, vlan: {mode: access, tag: 300}}\n- name: eth1\n  type: ethernet\n  accept-all-mac-addresses: true\n- {name: eth3, type: ethernet, ipv6: {enabled: false}}\n",
            ),
            Format::Keyfile,
        );
        let br0 = file(&r, "hostnet-br0.nmconnection");
        for line in [
            "stp=true\n",
            "forward-delay=10\n",
            "hello-time=3\n",
            "ageing-time=100\n",
            "multicast-hash-max=1024\n",
            "multicast-router=enabled\n",
            "multicast-query-interval=13000\n",
            "vlan-protocol=802.1Q\n",
        ] {
            assert!(br0.contains(line), "{line:?} not in:\n{br0}");
        }
        assert_eq!(br0.matches("forward-delay=").count(), 1, "{br0}");
        let eth1 = file(&r, "hostnet-eth1.nmconnection");
        for line in [
            "accept-all-mac-addresses=1\n",
            "\n[bridge-port]\npath-cost=7\npriority=20\nhairpin-mode=true\n",
        ] {
            assert!(eth1.contains(line), "{line:?} not in:\n{eth1}");
        }
        // Port VLANs turn the bridge's filtering on; an access port without VLAN 1
        // cannot be said.
        assert!(br0.contains("vlan-filtering=true\n"), "{br0}");
        assert!(eth1.contains("vlans=1 pvid untagged,100\n"), "{eth1}");
        assert!(!file(&r, "hostnet-eth2.nmconnection").contains("vlans="));
        assert!(file(&r, "hostnet-eth3.nmconnection").contains("[ipv6]\nmethod=disabled\n"));
        let w = r.warnings.join("\n");
        assert!(
            w.contains("eth2: bridge.port vlan (without the bridge's default PVID VLAN: NetworkManager only adds to a port's set) not written by --format keyfile"),
            "{w}"
        );
        assert!(!w.contains("bridge.options") && !w.contains("eth3"), "{w}");
    }

    #[test]
    fn a_vlan_aware_network_bridge_filters_and_carries_the_networks_vlans() {
        let r = render(
            &intent_of(
                "networks:\n- {name: tenant, uplink: eth1, bridge: br0, vlan: 100, vlan-aware: true, ipv4: {address: [192.0.2.2/24]}}\n",
            ),
            Format::Keyfile,
        );
        let br0 = file(&r, "hostnet-br0.nmconnection");
        assert!(
            br0.contains("vlan-filtering=true\n") && br0.contains("vlans=100\n"),
            "{br0}"
        );
        let eth1 = file(&r, "hostnet-eth1.nmconnection");
        assert!(eth1.contains("\n[bridge-port]\nvlans=100\n"), "{eth1}");
        let w = r.warnings.join("\n");
        assert!(
            !w.contains("bridge.options") && !w.contains("VLAN-aware bridge"),
            "{w}"
        );
    }
}
