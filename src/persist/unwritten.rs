//! The device keys no boot-time format here writes yet: said in a warning each, naming
//! nmstate's keys, instead of dropped silently. The devices themselves are still written
//! (with their kind, addresses, routes and rules); these settings hold until the next
//! boot and come back with the next `hostnet apply` or `hostnet restore`.

use crate::expand::{KindIntent, LinkIntent};
use crate::netdev::{BondOptions, LinkKind, VlanOptions, VlanProtocol};

/// nmstate's names of the keys `link` sets that the writers leave out.
pub(super) fn keys(link: &LinkIntent) -> Vec<&'static str> {
    let mut out = Vec::new();
    let b = &link.base;
    let mut add = |set: bool, key: &'static str| {
        if set {
            out.push(key);
        }
    };
    add(b.description.is_some(), "description");
    add(b.promisc.is_some(), "accept-all-mac-addresses");
    add(b.ipv6_enabled == Some(false), "ipv6.enabled: false");
    add(b.autoconf.is_some(), "ipv6.autoconf");
    add(b.bond_port.is_some(), "link-aggregation.ports-config");
    let inet6 = b.inet6.as_ref();
    add(
        inet6.is_some_and(|i| i.addr_gen_mode.is_some()),
        "ipv6.addr-gen-mode",
    );
    add(inet6.is_some_and(|i| i.token.is_some()), "ipv6.token");
    add(
        link.bridge.as_ref().is_some_and(|c| !c.is_empty()),
        "bridge.options",
    );
    add(
        link.port.as_ref().is_some_and(|c| !c.is_empty()),
        "bridge.port settings",
    );
    add(link.vlans.is_some(), "bridge.port vlan");
    match &link.kind {
        Some(KindIntent::Device {
            want: Some(LinkKind::Vlan(v)),
            ..
        }) => {
            add(v.protocol != VlanProtocol::Dot1Q, "vlan.protocol");
            let d = VlanOptions::new(v.base.clone(), v.id);
            add(
                (v.reorder_headers, v.loose_binding, v.gvrp, v.mvrp)
                    != (d.reorder_headers, d.loose_binding, d.gvrp, d.mvrp),
                "vlan flags (reorder-headers, loose-binding, registration-protocol)",
            );
        }
        Some(KindIntent::Device {
            want: Some(LinkKind::Bond(o)),
            ..
        }) => {
            let d = BondOptions {
                primary: o.primary.clone(),
                ..BondOptions::new(o.mode, o.miimon)
            };
            add(*o != d, "link-aggregation.options (other than miimon)");
            add(o.primary.is_some(), "link-aggregation.options.primary");
        }
        _ => {}
    }
    out
}

/// The warning for `name`'s unwritten keys, if any.
pub(super) fn warning(name: &str, link: &LinkIntent) -> Option<String> {
    let keys = keys(link);
    (!keys.is_empty()).then(|| {
        format!(
            "{}: {name}: {} not written to boot-time configuration by this version (they hold \
             until reboot; `hostnet restore` sets them again)",
            link.origin,
            keys.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::persist::device::host_config;
    use crate::plan::tests::intent_of;

    #[test]
    fn keys_no_format_writes_are_named_in_a_warning() {
        let intent = intent_of(
            "interfaces:\n- name: eth1\n  type: ethernet\n  description: uplink\n  accept-all-mac-addresses: true\n  ipv6: {enabled: false}\n- name: bond0\n  type: bond\n  link-aggregation:\n    mode: active-backup\n    options: {miimon: 100, primary: eth2, num_grat_arp: 3}\n    port: [eth2]\n    ports-config: [{name: eth2, queue-id: 2}]\n- {name: eth1.5, type: vlan, vlan: {base-iface: eth1, id: 5, protocol: 802.1ad}}\n",
        );
        let w = host_config(&intent).warnings.join("\n");
        for want in [
            "interfaces[0]: eth1: description, accept-all-mac-addresses, ipv6.enabled: false not written",
            "bond0: link-aggregation.options (other than miimon), link-aggregation.options.primary not written",
            "eth2: link-aggregation.ports-config not written",
            "eth1.5: vlan.protocol not written",
        ] {
            assert!(w.contains(want), "{want:?} not in:\n{w}");
        }
        // A file of plain devices says nothing.
        let plain = intent_of("interfaces:\n- {name: eth1, type: ethernet, mtu: 1400}\n");
        assert!(host_config(&plain).warnings.is_empty());
    }
}
