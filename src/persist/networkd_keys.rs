//! The nmstate keys of a device (`unwritten::LinkKeys`) in systemd-networkd's files
//! (systemd 252's systemd.netdev(5) and systemd.network(5)): a bridge's options in the
//! `.netdev`'s `[Bridge]` (`VLANFiltering=`, `DefaultPVID=`, timers, ...), a port's in
//! the `.network`'s `[Bridge]` (`Cost=`, `Priority=`, `HairPin=`) and its VLANs in
//! `[BridgeVLAN]` sections, `[Link] Promiscuous=`,
//! `[Network] IPv6LinkLocalAddressGenerationMode=`.
//!
//! Left out (said in the warning): `description` (a `.network` has no alias; udev's
//! `.link` files do, but those are not networkd's), `ipv6.enabled: false` and
//! `ipv6.autoconf` (networkd never sets `disable_ipv6` nor `autoconf`), `ipv6.token`
//! (networkd does SLAAC itself, the kernel's token stays unset), bridge options networkd
//! has no setting for (multicast timers and counts, group address, multicast router),
//! and a port's exact VLAN set that lacks the bridge's default PVID VLAN (networkd only
//! adds to the set a port gets when it joins).

use std::fmt::Write as _;

use super::device::{DeviceConfig, HostConfig};
use super::unwritten::{
    bridge_of, bridge_options_left, exact_set_expressible, parts_left, port_settings_fit, Key,
};
use crate::netdev::{inet6, VlanSet, VLAN_8021AD};

/// The bridge options (by the kernel's names) `[Bridge]` of a `.netdev` carries.
const BRIDGE_OPTIONS: &[&str] = &[
    "stp",
    "forward_delay",
    "hello_time",
    "max_age",
    "priority",
    "ageing_time",
    "group_fwd_mask",
    "mcast_snooping",
    "mcast_querier",
    "vlan_filtering",
    "vlan_protocol",
    "vlan_default_pvid",
];

/// A timer in centiseconds as a systemd time span.
fn span(cs: impl Into<u64>) -> String {
    format!("{}ms", cs.into() * 10)
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The `.netdev` `[Bridge]` lines after `STP=`: the forward delay (hostnet's 0, or 2 s
/// with STP on, unless the file gives one) and the file's other options.
pub fn netdev_bridge(d: &DeviceConfig, stp: bool) -> String {
    let mut s = String::new();
    let c = d.keys.bridge.clone().unwrap_or_default();
    match c.forward_delay {
        Some(fd) => {
            let _ = writeln!(s, "ForwardDelaySec={}", span(fd));
        }
        // Forward delay 0 as for every bridge hostnet creates; with STP on the kernel's
        // minimum is 2 seconds.
        None => {
            let _ = writeln!(s, "ForwardDelaySec={}", if stp { 2 } else { 0 });
        }
    }
    let mut line = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            let _ = writeln!(s, "{k}={v}");
        }
    };
    line("HelloTimeSec", c.hello_time.map(span));
    line("MaxAgeSec", c.max_age.map(span));
    line("AgeingTimeSec", c.ageing_time.map(span));
    line("Priority", c.priority.map(|p| p.to_string()));
    line("GroupForwardMask", c.group_fwd_mask.map(|m| m.to_string()));
    line("MulticastSnooping", c.mcast_snooping.map(|b| yes(b).into()));
    line("MulticastQuerier", c.mcast_querier.map(|b| yes(b).into()));
    line("VLANFiltering", c.vlan_filtering.map(|b| yes(b).into()));
    line(
        "VLANProtocol",
        c.vlan_protocol.map(|p| {
            if p == VLAN_8021AD {
                "802.1ad".into()
            } else {
                "802.1q".into()
            }
        }),
    );
    line(
        "DefaultPVID",
        c.vlan_default_pvid
            .map(|p| if p == 0 { "none".into() } else { p.to_string() }),
    );
    s
}

/// `[Link]` lines.
pub fn link(d: &DeviceConfig) -> String {
    d.keys
        .base
        .promisc
        .map(|p| format!("Promiscuous={}\n", yes(p)))
        .unwrap_or_default()
}

/// `[Network]` lines.
pub fn network(d: &DeviceConfig) -> String {
    let mode = d
        .keys
        .base
        .inet6
        .as_ref()
        .and_then(|i| i.addr_gen_mode)
        .and_then(addr_gen_mode);
    mode.map(|m| format!("IPv6LinkLocalAddressGenerationMode={m}\n"))
        .unwrap_or_default()
}

fn addr_gen_mode(m: u8) -> Option<&'static str> {
    match m {
        inet6::EUI64 => Some("eui64"),
        1 => Some("none"),
        inet6::STABLE_PRIVACY => Some("stable-privacy"),
        3 => Some("random"),
        _ => None,
    }
}

/// The sections after `[Network]`: the port's `[Bridge]` settings and its `[BridgeVLAN]`
/// sections (a port's, or the bridge's own VLANs in the bridge's file).
pub fn sections(host: &HostConfig, d: &DeviceConfig) -> String {
    let mut s = String::new();
    if let Some(p) = d.keys.port.as_ref().filter(|_| port_settings_fit(d)) {
        s.push_str("\n[Bridge]\n");
        if let Some(c) = p.cost {
            let _ = writeln!(s, "Cost={c}");
        }
        if let Some(pr) = p.priority {
            let _ = writeln!(s, "Priority={pr}");
        }
        if let Some(h) = p.hairpin {
            let _ = writeln!(s, "HairPin={}", yes(h));
        }
    }
    for (vid, f) in vlans(host, d) {
        let _ = write!(s, "\n[BridgeVLAN]\nVLAN={vid}\n");
        if f.untagged {
            let _ = writeln!(s, "EgressUntagged={vid}");
        }
        if f.pvid {
            let _ = writeln!(s, "PVID={vid}");
        }
    }
    s
}

/// The VLANs the files give `d`: its exact set when networkd can make it, and the
/// networks' tagged VLANs.
pub fn vlans(host: &HostConfig, d: &DeviceConfig) -> VlanSet {
    let mut out = VlanSet::new();
    if let Some(Some(want)) = &d.keys.vlans {
        if exact_set_expressible(host, bridge_of(d), want) {
            out.extend(want.iter().map(|(v, f)| (*v, *f)));
        }
    }
    for vid in &d.keys.owned_vlans {
        out.entry(*vid).or_default();
    }
    out
}

/// What networkd's files leave out of `key` on `d` (see the module's comment).
pub fn unwritten(host: &HostConfig, d: &DeviceConfig, key: Key) -> Option<String> {
    let why = |w: &str| Some(format!("{} ({w})", key.name()));
    match key {
        Key::Promisc | Key::OwnedVlans => None,
        Key::AddrGenMode => {
            let m = d.keys.base.inet6.as_ref().and_then(|i| i.addr_gen_mode);
            match m.and_then(addr_gen_mode) {
                Some(_) => None,
                None => Some(key.name().into()),
            }
        }
        Key::Token => why("networkd does SLAAC itself; the kernel's token stays unset"),
        Key::Ipv6Disabled | Key::Autoconf => why("networkd has no setting for the sysctl"),
        Key::BridgeOptions => parts_left(key, d.keys.bridge.as_ref(), |c| {
            bridge_options_left(c, BRIDGE_OPTIONS)
        }),
        Key::PortSettings if port_settings_fit(d) => None,
        Key::PortSettings => why("networkd takes a cost of 1-65535 and a priority of 0-63"),
        Key::PortVlans => match &d.keys.vlans {
            Some(Some(want)) if !exact_set_expressible(host, bridge_of(d), want) => {
                why("without the bridge's default PVID VLAN: networkd only adds to a port's set")
            }
            _ => None,
        },
        _ => Some(key.name().into()),
    }
}

#[cfg(test)]
mod tests {
    use crate::persist::tests::intent_of;
    use crate::persist::{render, Format, Want};

    /// The file `name` of a rendering.
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
    fn bridge_options_port_settings_and_vlans_are_written() {
        let r = render(
            &intent_of(
                "interfaces:\n- name: br0\n  type: linux-bridge\n  bridge:\n    options:\n      stp: {enabled: true, hello-time: 3, forward-delay: 10, priority: 4096}\n      mac-ageing-time: 100\n      vlan-protocol: 802.1q\n      multicast-snooping: false\n      hash-max: 1024\n    port:\n    - {name: eth1, stp-path-cost: 7, stp-priority: 20, stp-hairpin-mode: true, vlan: {mode: trunk, trunk-tags: [{id: 100}, {id-range: {min: 200, max: 201}}], tag: 1, enable-native: true}}\n    - {name: eth2, vlan: {mode: access, tag: 300}}\n- name: eth1\n  type: ethernet\n  accept-all-mac-addresses: true\n  ipv6: {enabled: true, addr-gen-mode: stable-privacy, token: '::5', address: [{ip: '2001:db8::1', prefix-length: 64}]}\n",
            ),
            Format::Networkd,
        );
        let netdev = file(&r, "50-hostnet-br0.netdev");
        for line in [
            "STP=yes\n",
            "ForwardDelaySec=10000ms\n",
            "HelloTimeSec=3000ms\n",
            "AgeingTimeSec=100000ms\n",
            "Priority=4096\n",
            "MulticastSnooping=no\n",
            "VLANProtocol=802.1q\n",
        ] {
            assert!(netdev.contains(line), "{line:?} not in:\n{netdev}");
        }
        let eth1 = file(&r, "50-hostnet-eth1.network");
        for line in [
            "Promiscuous=yes\n",
            "IPv6LinkLocalAddressGenerationMode=stable-privacy\n",
            "\n[Bridge]\nCost=7\nPriority=20\nHairPin=yes\n",
            "\n[BridgeVLAN]\nVLAN=1\nEgressUntagged=1\nPVID=1\n",
            "\n[BridgeVLAN]\nVLAN=201\n",
        ] {
            assert!(eth1.contains(line), "{line:?} not in:\n{eth1}");
        }
        // An access port without VLAN 1: networkd cannot take VLAN 1 away.
        assert!(!file(&r, "50-hostnet-eth2.network").contains("[BridgeVLAN]"));
        let w = r.warnings.join("\n");
        for want in [
            "br0: bridge.options (mcast_hash_max) not written by --format networkd",
            "eth1: ipv6.token (networkd does SLAAC itself",
            "eth2: bridge.port vlan (without the bridge's default PVID VLAN",
        ] {
            assert!(w.contains(want), "{want:?} not in:\n{w}");
        }
        assert!(!w.contains("accept-all-mac-addresses"), "{w}");
    }

    #[test]
    fn a_vlan_aware_network_bridge_filters_and_carries_the_networks_vlans() {
        let r = render(
            &intent_of(
                "networks:\n- {name: tenant, uplink: eth1, bridge: br0, vlan: 100, vlan-aware: true, ipv4: {address: [192.0.2.2/24]}}\n",
            ),
            Format::Networkd,
        );
        assert!(file(&r, "50-hostnet-br0.netdev").contains("VLANFiltering=yes\n"));
        for f in ["50-hostnet-br0.network", "50-hostnet-eth1.network"] {
            assert!(
                file(&r, f).contains("\n[BridgeVLAN]\nVLAN=100\n"),
                "{f}: {}",
                file(&r, f)
            );
        }
        let w = r.warnings.join("\n");
        assert!(
            !w.contains("bridge.options") && !w.contains("VLAN-aware bridge"),
            "{w}"
        );
    }
}
