//! Open vSwitch keys of `ovs-bridge` and `ovs-interface`: checks (nmstate's rules and the
//! ranges OVSDB documents), the Port VLAN settings a port's `vlan` section asks for, and
//! the section `show` gives for them.

use std::collections::BTreeSet;

use super::bridge_vlans::{check_trunk_tag, vlan_id};
use super::doc_index::DocIndex;
use super::validate::Errors;
use super::*;

/// A port's VLAN settings as OVSDB holds them: Port.vlan_mode, tag, trunks.
pub type PortVlans = (Option<String>, Option<u16>, BTreeSet<u16>);

/// The VLAN ids of `trunk-tags` (ids outside 1-4094 are refused by validation).
fn trunk_ids(tags: &[TrunkTagSpec]) -> Vec<u16> {
    tags.iter()
        .flat_map(|t| {
            let range = t.id_range.as_ref().map(|r| r.min..=r.max);
            t.id.into_iter().chain(range.into_iter().flatten())
        })
        .filter_map(|v| u16::try_from(v).ok())
        .collect()
}

/// The settings a (valid) section asks for. `vlan: {}` asks for none; a trunk with
/// `enable-native` is OVS's `native-untagged` (its tag the native VLAN, carried untagged).
pub fn port_vlans(v: &PortVlanSpec) -> PortVlans {
    let tag = v.tag.and_then(|t| u16::try_from(t).ok());
    let trunks = v.trunk_tags.as_deref().map(trunk_ids).unwrap_or_default();
    match v.mode.as_deref() {
        Some("access") => (Some("access".into()), tag, BTreeSet::new()),
        Some("trunk") if v.enable_native == Some(true) => (
            Some("native-untagged".into()),
            tag,
            trunks.into_iter().collect(),
        ),
        Some(m) => (Some(m.to_string()), None, trunks.into_iter().collect()),
        None => (None, None, BTreeSet::new()),
    }
}

fn trunk_tags(ids: &BTreeSet<u16>) -> Vec<TrunkTagSpec> {
    super::bridge_vlans::trunk_tags(ids.iter().copied())
}

/// For `show`: the section for a port's settings; `None` when there is nothing to say
/// (no VLAN settings) or no section says them exactly (a trunk with a tag, which OVS
/// ignores; `native-tagged`; `dot1q-tunnel`): a port listed without `vlan` keeps them.
pub fn show_port_vlans(
    mode: Option<&str>,
    tag: Option<u16>,
    trunks: &BTreeSet<u16>,
) -> Option<PortVlanSpec> {
    let tags = || (!trunks.is_empty()).then(|| trunk_tags(trunks));
    let effective = mode.unwrap_or(if tag.is_some() { "access" } else { "trunk" });
    match (effective, tag) {
        ("access", Some(t)) if trunks.is_empty() => Some(PortVlanSpec {
            mode: Some("access".into()),
            tag: Some(u32::from(t)),
            ..PortVlanSpec::default()
        }),
        ("trunk", None) if mode.is_none() && trunks.is_empty() => None,
        ("trunk", None) => Some(PortVlanSpec {
            mode: Some("trunk".into()),
            trunk_tags: tags(),
            ..PortVlanSpec::default()
        }),
        ("native-untagged", Some(t)) => Some(PortVlanSpec {
            mode: Some("trunk".into()),
            tag: Some(u32::from(t)),
            enable_native: Some(true),
            trunk_tags: tags(),
        }),
        _ => None,
    }
}

/// Checks an ovs-bridge port's `vlan` section.
fn check_port_vlan(errs: &mut Errors, pp: &str, v: &PortVlanSpec) {
    let native = v.enable_native == Some(true);
    match v.mode.as_deref() {
        Some("access") => {
            match v.tag {
                Some(t) => vlan_id(errs, format!("{pp}.tag"), t),
                None => errs.push(
                    format!("{pp}.tag"),
                    "an access port needs a tag (`vlan: {}` removes the port's VLAN settings)"
                        .to_string(),
                ),
            }
            if v.trunk_tags.is_some() {
                errs.push(
                    format!("{pp}.trunk-tags"),
                    "an access port has no trunk-tags".to_string(),
                );
            }
            if native {
                errs.push(
                    format!("{pp}.enable-native"),
                    "an access port has no native VLAN besides its tag".to_string(),
                );
            }
        }
        Some("trunk") => match v.tag {
            Some(t) if native => vlan_id(errs, format!("{pp}.tag"), t),
            None if native => errs.push(
                format!("{pp}.tag"),
                "enable-native needs the native VLAN's tag".to_string(),
            ),
            // nmstate's show prints `tag: 0` for a trunk without a native VLAN.
            Some(t) if t != 0 => errs.push(
                format!("{pp}.tag"),
                "a trunk port's tag is its native VLAN: give enable-native: true".to_string(),
            ),
            _ => {}
        },
        Some(m) => errs.push(
            format!("{pp}.mode"),
            format!("mode {m:?} is not access or trunk"),
        ),
        None if v.tag.is_some() || v.trunk_tags.is_some() || v.enable_native.is_some() => {
            errs.push(
                format!("{pp}.mode"),
                "give the mode (access or trunk)".to_string(),
            );
        }
        None => {}
    }
    let mut seen = BTreeSet::new();
    for (k, t) in v.trunk_tags.iter().flatten().enumerate() {
        let tp = format!("{pp}.trunk-tags[{k}]");
        check_trunk_tag(errs, &tp, t);
        if let Some(n) = trunk_ids(std::slice::from_ref(t))
            .into_iter()
            .find(|n| !seen.insert(*n))
        {
            errs.push(tp, format!("VLAN {n} is given twice"));
        }
    }
}

fn range(errs: &mut Errors, path: String, value: Option<u32>, lo: u32, hi: u32) {
    if let Some(v) = value.filter(|v| !(lo..=hi).contains(v)) {
        errs.push(path, format!("{v} is outside {lo}-{hi}"));
    }
}

/// Checks an ovs-bridge's `bridge.options` (OVSDB's documented ranges).
fn check_options(errs: &mut Errors, p: &str, o: &BridgeOptionsSpec) {
    if let Some(stp) = &o.stp {
        let sp = format!("{p}.stp");
        range(
            errs,
            format!("{sp}.forward-delay"),
            stp.forward_delay,
            4,
            30,
        );
        range(errs, format!("{sp}.hello-time"), stp.hello_time, 1, 10);
        range(errs, format!("{sp}.max-age"), stp.max_age, 6, 40);
        range(errs, format!("{sp}.priority"), stp.priority, 0, 65535);
        // 802.1D's rule, which ovs-vswitchd enforces by raising the forward delay.
        if stp.forward_delay.is_some() || stp.max_age.is_some() {
            let (fd, age) = (stp.forward_delay.unwrap_or(15), stp.max_age.unwrap_or(20));
            if 2 * fd.saturating_sub(1) < age {
                errs.push(
                    format!("{sp}.forward-delay"),
                    format!(
                        "max-age {age} needs a forward-delay of at least {} (2 x (forward-delay - 1)                          >= max-age; Open vSwitch would raise it)",
                        age.div_ceil(2) + 1
                    ),
                );
            }
        }
    }
    if let Some(m) = o
        .fail_mode
        .as_deref()
        .filter(|m| !matches!(*m, "" | "standalone" | "secure"))
    {
        errs.push(
            format!("{p}.fail-mode"),
            format!("{m:?} is not standalone or secure (\"\" clears it)"),
        );
    }
    let ovs_only = BridgeOptionsSpec {
        stp: o.stp.clone(),
        datapath: o.datapath.clone(),
        rstp: o.rstp,
        mcast_snooping_enable: o.mcast_snooping_enable,
        fail_mode: o.fail_mode.clone(),
        ..BridgeOptionsSpec::default()
    };
    if ovs_only != *o {
        errs.push(
            p.to_string(),
            "a linux-bridge's options are given; an ovs-bridge has stp, rstp, \
             mcast-snooping-enable, fail-mode and datapath"
                .to_string(),
        );
    }
}

/// Checks an ovs-bridge port's `link-aggregation` (an OVS bond of two or more devices).
fn check_bond(errs: &mut Errors, p: &str, name: &str, la: &OvsBondSpec) {
    if let Some(m) = la
        .mode
        .as_deref()
        .filter(|m| !matches!(*m, "active-backup" | "balance-slb" | "balance-tcp" | "lacp"))
    {
        errs.push(
            format!("{p}.mode"),
            format!("{m:?} is not active-backup, balance-slb, balance-tcp or lacp"),
        );
    }
    if la
        .ovs_db
        .as_ref()
        .and_then(|d| d.external_ids.as_ref())
        .is_some_and(|m| m.contains_key(crate::ovs::MANAGED_KEY))
    {
        errs.push(
            format!("{p}.ovs-db.external_ids.{}", crate::ovs::MANAGED_KEY),
            "hostnet's own mark of the ports it created; it is not given in a file".to_string(),
        );
    }
    let members = la.port.as_deref().unwrap_or_default();
    if members.len() < 2 {
        errs.push(
            format!("{p}.port"),
            "an OVS bond needs at least two ports".to_string(),
        );
    }
    let mut seen = BTreeSet::new();
    for (k, m) in members.iter().enumerate() {
        if let Err(e) = super::validate::check_ifname(&m.name) {
            errs.push(format!("{p}.port[{k}].name"), e);
        } else if m.name == name {
            errs.push(
                format!("{p}.port[{k}].name"),
                format!("{name} is the bond's own name"),
            );
        } else if !seen.insert(m.name.as_str()) {
            errs.push(
                format!("{p}.port[{k}].name"),
                format!("{} is given twice", m.name),
            );
        }
    }
}

/// Checks an `ovs-interface`'s `patch`: a patch port has no network device, so nothing
/// a device has (nmstate's rules).
fn check_patch(errs: &mut Errors, p: &str, ty: InterfaceType, iface: &InterfaceSpec, peer: &str) {
    if ty != InterfaceType::OvsInterface {
        errs.push(
            format!("{p}.patch"),
            "only an ovs-interface is a patch port".to_string(),
        );
        return;
    }
    if let Err(m) = super::validate::check_ifname(peer) {
        errs.push(format!("{p}.patch.peer"), m);
    } else if peer == iface.name {
        errs.push(
            format!("{p}.patch.peer"),
            format!("{peer} cannot be its own peer"),
        );
    }
    let ip = |s: &Option<IpSpec>| s.as_ref().is_some_and(|s| s.enabled == Some(true));
    for (key, given) in [
        ("mtu", iface.mtu.is_some()),
        ("mac-address", iface.mac_address.is_some()),
        ("ipv4", ip(&iface.ipv4)),
        ("ipv6", ip(&iface.ipv6)),
    ] {
        if given {
            errs.push(
                format!("{p}.{key}"),
                "a patch port has no network device to carry it".to_string(),
            );
        }
    }
}

/// Checks an ovs-bridge's own `ovs-db`: an STP key of its other_config is the option of
/// `bridge.options.stp` by another name, so it is a number in that option's range and does
/// not contradict the option.
fn check_bridge_db(errs: &mut Errors, p: &str, iface: &InterfaceSpec) {
    let Some(other) = iface.ovs_db.as_ref().and_then(|d| d.other_config.as_ref()) else {
        return;
    };
    let stp = iface
        .bridge
        .as_ref()
        .and_then(|b| b.options.as_ref())
        .and_then(|o| o.stp.clone())
        .unwrap_or_default();
    let given = [
        (
            "stp-forward-delay",
            "forward-delay",
            stp.forward_delay,
            4,
            30,
        ),
        ("stp-hello-time", "hello-time", stp.hello_time, 1, 10),
        ("stp-max-age", "max-age", stp.max_age, 6, 40),
        ("stp-priority", "priority", stp.priority, 0, 65535),
    ];
    for (key, option, by_option, lo, hi) in given {
        let Some(v) = other.get(key) else { continue };
        let kp = format!("{p}.ovs-db.other_config.{key}");
        match v.parse::<u32>() {
            Err(_) => errs.push(kp, format!("{v:?} is not a number")),
            Ok(n) if by_option.is_some_and(|o| o != n) => errs.push(
                kp,
                format!(
                    "{n} contradicts bridge.options.stp.{option} ({}); give it once",
                    by_option.unwrap_or_default()
                ),
            ),
            Ok(n) => range(errs, kp, Some(n), lo, hi),
        }
    }
}

/// Checks the Open vSwitch settings of `interfaces[i]`.
pub(super) fn check_ovs(errs: &mut Errors, ix: &DocIndex, i: usize, iface: &InterfaceSpec) {
    let p = format!("interfaces[{i}]");
    let Some(ty) = iface.iface_type else { return };
    let absent = iface.state == Some(IfaceState::Absent);
    let ovs = ty == InterfaceType::OvsBridge;
    if ovs {
        check_bridge_db(errs, &p, iface);
    }
    if let Some(b) = &iface.bridge {
        if let Some(o) = &b.options {
            let op = format!("{p}.bridge.options");
            for (key, given) in [
                ("datapath", o.datapath.is_some()),
                ("rstp", o.rstp.is_some()),
                ("mcast-snooping-enable", o.mcast_snooping_enable.is_some()),
                ("fail-mode", o.fail_mode.is_some()),
            ] {
                if given && !ovs {
                    errs.push(
                        format!("{op}.{key}"),
                        format!("only an ovs-bridge has {key}"),
                    );
                }
            }
            if ovs {
                check_options(errs, &op, o);
            }
        }
        for (j, port) in b.port.iter().flatten().enumerate().filter(|_| ovs) {
            let pp = format!("{p}.bridge.port[{j}]");
            if port.stp_hairpin_mode.is_some()
                || port.stp_path_cost.is_some()
                || port.stp_priority.is_some()
            {
                errs.push(
                    pp.clone(),
                    "stp-hairpin-mode, stp-path-cost and stp-priority are a linux-bridge \
                     port's"
                        .to_string(),
                );
            }
            if let Some(v) = &port.vlan {
                check_port_vlan(errs, &format!("{pp}.vlan"), v);
            }
            if let Some(la) = &port.link_aggregation {
                check_bond(errs, &format!("{pp}.link-aggregation"), &port.name, la);
            }
        }
        // A bond's member is no port of its own (OVS refuses it in the transaction).
        let ports = b.port.iter().flatten().filter(|_| ovs);
        let members = ports.clone().filter_map(|p| {
            let la = p.link_aggregation.as_ref()?;
            Some((p, la.port.iter().flatten()))
        });
        for (bond, ms) in members {
            for m in ms {
                if let Some(j) = ports.clone().position(|p| p.name == m.name) {
                    errs.push(
                        format!("{p}.bridge.port[{j}]"),
                        format!(
                            "{} is a member of bond {}; it is no port of its own",
                            m.name, bond.name
                        ),
                    );
                }
            }
        }
        for (j, port) in b.port.iter().flatten().enumerate().filter(|_| !ovs) {
            if port.link_aggregation.is_some() {
                errs.push(
                    format!("{p}.bridge.port[{j}].link-aggregation"),
                    "only an ovs-bridge's port is a bond; a Linux bond is type: bond".to_string(),
                );
            }
        }
    }
    if let Some(patch) = &iface.patch {
        check_patch(errs, &p, ty, iface, &patch.peer);
    }
    if ty == InterfaceType::OvsInterface && !absent && !ix.ovs_port(&iface.name) {
        errs.push(
            p,
            format!(
                "ovs-interface {} is not a port of any ovs-bridge in this file",
                iface.name
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vlan(yaml: &str) -> PortVlanSpec {
        serde_yaml_ng::from_str(yaml).expect("section")
    }

    #[test]
    fn sections_and_settings_round_trip() {
        for (yaml, want) in [
            ("{}", (None, None, vec![])),
            (
                "{mode: access, tag: 10}",
                (Some("access"), Some(10), vec![]),
            ),
            (
                "{mode: trunk, trunk-tags: [{id: 5}, {id-range: {min: 7, max: 9}}]}",
                (Some("trunk"), None, vec![5, 7, 8, 9]),
            ),
            (
                "{mode: trunk, enable-native: true, tag: 20, trunk-tags: [{id: 21}, {id: 22}]}",
                (Some("native-untagged"), Some(20), vec![21, 22]),
            ),
        ] {
            let v = vlan(yaml);
            let mut errs = Errors::default();
            check_port_vlan(&mut errs, "v", &v);
            let problems: Vec<String> = errs.0.iter().map(ToString::to_string).collect();
            assert!(problems.is_empty(), "{yaml}: {problems:?}");
            let got = port_vlans(&v);
            let trunks: BTreeSet<u16> = want.2.into_iter().collect();
            assert_eq!(
                got,
                (want.0.map(str::to_string), want.1, trunks.clone()),
                "{yaml}"
            );
            let shown = show_port_vlans(got.0.as_deref(), got.1, &got.2);
            let back = shown
                .as_ref()
                .map_or((None, None, BTreeSet::new()), port_vlans);
            assert_eq!(back, got, "{yaml} shown as {shown:?}");
        }
        // What no section says exactly is not shown; an empty mode is read as OVS does.
        assert_eq!(
            show_port_vlans(Some("trunk"), Some(5), &BTreeSet::new()),
            None
        );
        assert_eq!(
            show_port_vlans(Some("native-tagged"), Some(5), &BTreeSet::new()),
            None
        );
        assert_eq!(
            show_port_vlans(None, Some(5), &BTreeSet::new()).and_then(|v| v.mode),
            Some("access".into())
        );
    }

    #[test]
    fn nmstate_rules_are_checked() {
        let mut errs = Errors::default();
        for (j, yaml) in [
            "{mode: access}",
            "{mode: access, tag: 5, trunk-tags: [{id: 6}]}",
            "{mode: trunk, tag: 5, trunk-tags: [{id: 6}]}",
            "{mode: trunk, enable-native: true, trunk-tags: [{id: 6}]}",
            "{mode: trunk, trunk-tags: [{id: 6}, {id-range: {min: 5, max: 7}}]}",
            "{mode: trunk, trunk-tags: [{id-range: {min: 9, max: 7}}, {id: 4095}]}",
            "{tag: 5}",
            "{mode: trunk, tag: 0, trunk-tags: [{id: 6}]}",
        ]
        .iter()
        .enumerate()
        {
            check_port_vlan(&mut errs, &format!("p{j}"), &vlan(yaml));
        }
        let problems: Vec<String> = errs.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                "p0.tag: an access port needs a tag (`vlan: {}` removes the port's VLAN settings)",
                "p1.trunk-tags: an access port has no trunk-tags",
                "p2.tag: a trunk port's tag is its native VLAN: give enable-native: true",
                "p3.tag: enable-native needs the native VLAN's tag",
                "p4.trunk-tags[1]: VLAN 6 is given twice",
                "p5.trunk-tags[0].id-range: min 9 is above max 7",
                "p5.trunk-tags[1].id: VLAN id 4095 is outside 1-4094",
                "p6.mode: give the mode (access or trunk)",
            ]
        );
    }
}
