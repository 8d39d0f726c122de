//! A device's nmstate keys beyond kind, state, MTU, MAC, controller and addresses
//! ([`LinkKeys`]), and the warning, per format, for those a format's files do not say:
//! the device is still written (with its kind, addresses, routes and rules); such
//! settings hold until the next boot and come back with `hostnet restore`.
//!
//! Each format says, key by key, whether its files carry the key (see
//! `networkd_keys`, `keyfile_keys`, `ifupdown_keys`, `netplan_keys`, `ifcfg_keys`).

use std::collections::BTreeSet;

use super::device::{DeviceConfig, HostConfig};
use super::Format;
use crate::expand::{BaseKeys, KindIntent, LinkIntent, PortVlans};
use crate::netdev::{
    BondOptions, BridgeChange, LinkKind, PortChange, VlanOptions, VlanProtocol, VlanSet,
};

/// What a file sets of a device beyond what every format writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkKeys {
    pub base: BaseKeys,
    /// `bridge.options` other than STP on/off (a bridge).
    pub bridge: Option<BridgeChange>,
    /// `bridge.port[]` settings (a bridge port).
    pub port: Option<PortChange>,
    /// `bridge.port[].vlan`: exactly these VLANs (`Some(None)`: the bridge's default).
    pub vlans: Option<Option<VlanSet>>,
    /// Tagged VLANs networks on a VLAN-aware bridge add to this port (or bridge), beside
    /// the rest of its set.
    pub owned_vlans: BTreeSet<u16>,
    /// A VLAN's protocol and flags.
    pub vlan: Option<VlanOptions>,
    /// A bond's options.
    pub bond: Option<BondOptions>,
}

impl LinkKeys {
    pub fn of(link: &LinkIntent, owned_vlans: Option<&crate::expand::OwnedVlans>) -> LinkKeys {
        let (vlan, bond) = match &link.kind {
            Some(KindIntent::Device {
                want: Some(LinkKind::Vlan(v)),
                ..
            }) => (Some(v.clone()), None),
            Some(KindIntent::Device {
                want: Some(LinkKind::Bond(o)),
                ..
            }) => (None, Some(o.clone())),
            _ => (None, None),
        };
        LinkKeys {
            base: link.base.clone(),
            bridge: link.bridge.clone().filter(|c| !c.is_empty()),
            port: link.port.clone().filter(|c| !c.is_empty()),
            vlans: link.vlans.as_ref().map(|v: &PortVlans| v.want.clone()),
            owned_vlans: owned_vlans.map(|o| o.add.clone()).unwrap_or_default(),
            vlan,
            bond,
        }
    }
}

/// One key of [`LinkKeys`] that a file sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Description,
    Promisc,
    Ipv6Disabled,
    Autoconf,
    BondPortsConfig,
    AddrGenMode,
    Token,
    BridgeOptions,
    PortSettings,
    PortVlans,
    OwnedVlans,
    VlanProtocol,
    VlanFlags,
    BondOptions,
    BondPrimary,
    AltNames,
}

impl Key {
    /// nmstate's name of it.
    pub fn name(self) -> &'static str {
        match self {
            Key::Description => "description",
            Key::Promisc => "accept-all-mac-addresses",
            Key::Ipv6Disabled => "ipv6.enabled: false",
            Key::Autoconf => "ipv6.autoconf",
            Key::BondPortsConfig => "link-aggregation.ports-config",
            Key::AddrGenMode => "ipv6.addr-gen-mode",
            Key::Token => "ipv6.token",
            Key::BridgeOptions => "bridge.options",
            Key::PortSettings => "bridge.port settings",
            Key::PortVlans => "bridge.port vlan",
            Key::OwnedVlans => "the networks' VLANs on a VLAN-aware bridge",
            Key::VlanProtocol => "vlan.protocol",
            Key::VlanFlags => "vlan flags (reorder-headers, loose-binding, registration-protocol)",
            Key::BondOptions => "link-aggregation.options (other than miimon)",
            Key::BondPrimary => "link-aggregation.options.primary",
            Key::AltNames => "alt-names",
        }
    }
}

/// The keys `k` sets.
pub fn keys(k: &LinkKeys) -> Vec<Key> {
    let mut out = Vec::new();
    let b = &k.base;
    let mut add = |set: bool, key: Key| {
        if set {
            out.push(key);
        }
    };
    add(b.description.is_some(), Key::Description);
    add(b.alt_names.iter().any(|(_, add)| *add), Key::AltNames);
    add(b.promisc.is_some(), Key::Promisc);
    add(b.ipv6_enabled == Some(false), Key::Ipv6Disabled);
    add(b.autoconf.is_some(), Key::Autoconf);
    add(b.bond_port.is_some(), Key::BondPortsConfig);
    let inet6 = b.inet6.as_ref();
    add(
        inet6.is_some_and(|i| i.addr_gen_mode.is_some()),
        Key::AddrGenMode,
    );
    add(inet6.is_some_and(|i| i.token.is_some()), Key::Token);
    add(k.bridge.is_some(), Key::BridgeOptions);
    add(k.port.is_some(), Key::PortSettings);
    add(k.vlans.is_some(), Key::PortVlans);
    add(!k.owned_vlans.is_empty(), Key::OwnedVlans);
    if let Some(v) = &k.vlan {
        add(v.protocol != VlanProtocol::Dot1Q, Key::VlanProtocol);
        let d = VlanOptions::new(v.base.clone(), v.id);
        add(
            (v.reorder_headers, v.loose_binding, v.gvrp, v.mvrp)
                != (d.reorder_headers, d.loose_binding, d.gvrp, d.mvrp),
            Key::VlanFlags,
        );
    }
    if let Some(o) = &k.bond {
        let d = BondOptions {
            primary: o.primary.clone(),
            ..BondOptions::new(o.mode, o.miimon)
        };
        add(*o != d, Key::BondOptions);
        add(o.primary.is_some(), Key::BondPrimary);
    }
    out
}

/// What a format leaves out of `key` on `d`: `None` when its files carry it, else the
/// words for the warning (the key's name, maybe with why).
type Support = fn(&HostConfig, &DeviceConfig, Key) -> Option<String>;

/// One warning per device of `host` whose keys `format`'s files do not all carry.
pub fn warnings(format: Format, host: &HostConfig) -> Vec<String> {
    let support: Support = match format {
        Format::Networkd => super::networkd_keys::unwritten,
        Format::Keyfile => super::keyfile_keys::unwritten,
        Format::Ifupdown => super::ifupdown_keys::unwritten,
        Format::Netplan => super::netplan_keys::unwritten,
        Format::Ifcfg => super::ifcfg_keys::unwritten,
    };
    host.devices
        .iter()
        .filter_map(|d| {
            let left: Vec<String> = keys(&d.keys)
                .into_iter()
                .filter_map(|k| support(host, d, k))
                .collect();
            (!left.is_empty()).then(|| {
                format!(
                    "{}: {}: {} not written by --format {} (they hold until reboot; \
                     `hostnet restore` sets them again)",
                    d.origin,
                    d.name,
                    left.join(", "),
                    format.name()
                )
            })
        })
        .collect()
}

/// `key` named with the parts of `value` (when set) that a format leaves out, by `left`;
/// `None` when it writes them all.
pub fn parts_left<T>(
    key: Key,
    value: Option<&T>,
    left: impl FnOnce(&T) -> Vec<&'static str>,
) -> Option<String> {
    let left = value.map(left).unwrap_or_default();
    (!left.is_empty()).then(|| format!("{} ({})", key.name(), left.join(", ")))
}

/// Why a format leaves out a port's settings, if it does: `hairpin` when the port sets
/// hairpin mode (the format has no key for it), `range` when cost or priority do not fit.
pub fn port_settings_left(
    d: &DeviceConfig,
    key: Key,
    hairpin: &str,
    range: &str,
) -> Option<String> {
    let p = d.keys.port.as_ref()?;
    let why = if p.hairpin.is_some() {
        hairpin
    } else if !port_settings_fit(d) {
        range
    } else {
        return None;
    };
    Some(format!("{} ({why})", key.name()))
}

/// The bridge options of `c` (by the kernel's names) that are not in `written`.
pub fn bridge_options_left(c: &BridgeChange, written: &[&str]) -> Vec<&'static str> {
    c.fields()
        .into_iter()
        .map(|(label, _)| label)
        .filter(|l| !written.contains(l))
        .collect()
}

/// Both stacks take a port cost of 1-65535 and a priority of 0-63.
pub fn port_settings_fit(d: &DeviceConfig) -> bool {
    d.keys.port.as_ref().is_some_and(|p| {
        p.cost.is_none_or(|c| (1..=65535).contains(&c)) && p.priority.is_none_or(|p| p <= 63)
    })
}

/// The bridge `d` is a port of, or `d` itself for a bridge's own VLANs.
pub fn bridge_of(d: &DeviceConfig) -> &str {
    d.controller.as_deref().unwrap_or(&d.name)
}

/// The VLANs a port of `d`'s bridge gets from the bridge whatever its files say: its
/// default PVID (a format's files can only add VLANs to a port's set).
pub fn default_pvid_of_bridge(host: &HostConfig, bridge: &str) -> u16 {
    host.device(bridge)
        .and_then(|b| b.keys.bridge.as_ref())
        .and_then(|c| c.vlan_default_pvid)
        .unwrap_or(1)
}

/// Whether the exact VLAN set `want` of a port (or bridge) of `bridge` is what the
/// stack makes when it adds `want` to a new port's set: the bridge's default PVID VLAN
/// is in `want`, as PVID and untagged (stacks add to a set, never take away).
pub fn exact_set_expressible(host: &HostConfig, bridge: &str, want: &VlanSet) -> bool {
    let pvid = default_pvid_of_bridge(host, bridge);
    pvid == 0 || want.get(&pvid).is_some_and(|f| f.pvid && f.untagged)
}

#[cfg(test)]
mod tests {
    use crate::persist::tests::intent_of;
    use crate::persist::{render, Format};

    #[test]
    fn keys_a_format_does_not_write_are_named_in_a_warning_naming_the_format() {
        let intent = intent_of(
            "interfaces:\n- name: eth1\n  type: ethernet\n  description: uplink\n  accept-all-mac-addresses: true\n  ipv6: {enabled: false}\n- name: bond0\n  type: bond\n  link-aggregation:\n    mode: active-backup\n    options: {miimon: 100, primary: eth2, num_grat_arp: 3}\n    port: [eth2]\n    ports-config: [{name: eth2, queue-id: 2}]\n- {name: eth1.5, type: vlan, vlan: {base-iface: eth1, id: 5, protocol: 802.1ad}}\n",
        );
        let w = render(&intent, Format::Ifcfg).warnings.join("\n");
        for want in [
            "interfaces[0]: eth1: description, accept-all-mac-addresses, ipv6.enabled: false not written by --format ifcfg",
            "eth2: link-aggregation.ports-config not written by --format ifcfg",
        ] {
            assert!(w.contains(want), "{want:?} not in:\n{w}");
        }
        // No format writes alternative names; only added ones are the device's.
        let alt = intent_of(
            "interfaces:\n- {name: eth1, type: ethernet, alt-names: [{name: uplink0}]}\n- {name: eth2, type: ethernet, alt-names: [{name: old0, state: absent}]}\n",
        );
        for f in Format::ALL {
            let w = render(&alt, f).warnings.join("\n");
            assert!(
                w.contains("eth1: alt-names not written"),
                "{}: {w}",
                f.name()
            );
            assert!(!w.contains("eth2:"), "{}: {w}", f.name());
        }
        // A file of plain devices says nothing.
        let plain = intent_of("interfaces:\n- {name: eth1, type: ethernet, mtu: 1400}\n");
        for f in Format::ALL {
            assert!(render(&plain, f).warnings.is_empty(), "{}", f.name());
        }
    }
}
