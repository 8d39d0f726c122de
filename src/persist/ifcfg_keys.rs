//! The nmstate keys of a device (`unwritten::LinkKeys`) in network-scripts' ifcfg files:
//! `BRIDGING_OPTS`, whose `key=value` words initscripts' `ifup-eth` writes to the
//! bridge's `/sys/class/net/DEV/bridge/KEY` (a bridge) or the port's `brport/KEY` (a
//! port), so each option goes by its sysfs name.
//!
//! Only options without a unit are written: NetworkManager's ifcfg-rh plugin reads the
//! same words with the STP timers in seconds where sysfs has centiseconds, so a timer
//! would mean one thing to one reader and another to the other. Not booted by the tests
//! (Debian has no network-scripts). Left out (said in the warning): the timers, the
//! group address, VLAN protocol, port VLANs, and every key that is not a bridge's or a
//! port's.

use super::device::{DeviceConfig, HostConfig};
use super::unwritten::{bridge_options_left, parts_left, Key};
use crate::netdev::BridgeChange;

/// `BRIDGING_OPTS` words of a bridge's options, and the options (kernel names) left out.
fn bridge_words(c: &BridgeChange) -> (Vec<String>, Vec<&'static str>) {
    let mut out = Vec::new();
    let mut said = vec!["stp"];
    let mut put = |sysfs: &str, label: &'static str, v: Option<String>| {
        if let Some(v) = v {
            out.push(format!("{sysfs}={v}"));
            said.push(label);
        }
    };
    let n = |v: Option<u32>| v.map(|n| n.to_string());
    let b = |v: Option<bool>| v.map(|b| u8::from(b).to_string());
    put("priority", "priority", c.priority.map(|p| p.to_string()));
    put(
        "group_fwd_mask",
        "group_fwd_mask",
        c.group_fwd_mask.map(|m| m.to_string()),
    );
    put("multicast_snooping", "mcast_snooping", b(c.mcast_snooping));
    put(
        "multicast_router",
        "mcast_router",
        c.mcast_router.map(|r| r.to_string()),
    );
    put("multicast_querier", "mcast_querier", b(c.mcast_querier));
    put(
        "multicast_query_use_ifaddr",
        "mcast_query_use_ifaddr",
        b(c.mcast_query_use_ifaddr),
    );
    put("hash_max", "mcast_hash_max", n(c.mcast_hash_max));
    put(
        "multicast_last_member_count",
        "mcast_last_member_count",
        n(c.mcast_last_member_count),
    );
    put(
        "multicast_startup_query_count",
        "mcast_startup_query_count",
        n(c.mcast_startup_query_count),
    );
    put("vlan_filtering", "vlan_filtering", b(c.vlan_filtering));
    put(
        "default_pvid",
        "vlan_default_pvid",
        c.vlan_default_pvid.map(|p| p.to_string()),
    );
    let left = bridge_options_left(c, &said);
    (out, left)
}

/// The port's `BRIDGING_OPTS` words.
fn port_words(d: &DeviceConfig) -> Vec<String> {
    let Some(p) = d.keys.port.as_ref().filter(|_| d.controller.is_some()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(c) = p.cost {
        out.push(format!("path_cost={c}"));
    }
    if let Some(pr) = p.priority {
        out.push(format!("priority={pr}"));
    }
    if let Some(h) = p.hairpin {
        out.push(format!("hairpin_mode={}", u8::from(h)));
    }
    out
}

/// `BRIDGING_OPTS="..."`, if the device has any.
pub fn bridging_opts(d: &DeviceConfig) -> Option<String> {
    let mut words = port_words(d);
    if let Some(c) = &d.keys.bridge {
        words.extend(bridge_words(c).0);
    }
    (!words.is_empty()).then(|| format!("\"{}\"", words.join(" ")))
}

/// What ifcfg files leave out of `key` on `d` (see the module's comment).
pub fn unwritten(_: &HostConfig, d: &DeviceConfig, key: Key) -> Option<String> {
    match key {
        Key::PortSettings => None,
        Key::BridgeOptions => parts_left(key, d.keys.bridge.as_ref(), |c| bridge_words(c).1),
        _ => Some(key.name().into()),
    }
}

#[cfg(test)]
mod tests {
    use crate::persist::tests::{file_in, intent_of};
    use crate::persist::{render, Format};

    #[test]
    fn unit_free_bridge_options_and_port_settings_go_to_bridging_opts() {
        let r = render(
            &intent_of(
                "interfaces:\n- name: br0\n  type: linux-bridge\n  bridge:\n    options:\n      stp: {enabled: false, hello-time: 3, priority: 4096}\n      multicast-snooping: false\n      hash-max: 1024\n    port:\n    - {name: eth1, stp-path-cost: 7, stp-priority: 20, stp-hairpin-mode: true}\n- {name: eth1, type: ethernet}\n",
            ),
            Format::Ifcfg,
        );
        let file = |name: &str| file_in(&r, name);
        let br0 = file("ifcfg-br0");
        assert!(
            br0.contains("BRIDGING_OPTS=\"priority=4096 multicast_snooping=0 hash_max=1024\"\n"),
            "{br0}"
        );
        let eth1 = file("ifcfg-eth1");
        assert!(
            eth1.contains("BRIDGING_OPTS=\"path_cost=7 priority=20 hairpin_mode=1\"\n"),
            "{eth1}"
        );
        let w = r.warnings.join("\n");
        assert!(
            w.contains("br0: bridge.options (hello_time) not written by --format ifcfg"),
            "{w}"
        );
        assert!(!w.contains("eth1"), "{w}");
    }
}
