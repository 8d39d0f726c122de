//! `bridge.port[].vlan` of a Linux bridge (nmstate's `access`/`trunk` modes, `tag`,
//! `enable-native`, `trunk-tags`) and the bridge's `vlan-protocol`/`vlan-default-pvid`:
//! checks (nmstate's rules, and what the kernel takes), the exact VLAN set a section asks
//! for, and the section `show` gives for a set.

use super::validate::Errors;
use super::{IdRangeSpec, InterfaceSpec, InterfaceType, PortVlanSpec, TrunkTagSpec};
use crate::netdev::{VlanFlags, VlanSet, VLAN_8021AD, VLAN_8021Q};

const NATIVE: VlanFlags = VlanFlags {
    pvid: true,
    untagged: true,
};

/// `vlan-protocol`'s value as the kernel's ethertype.
pub fn protocol(s: &str) -> Option<u16> {
    match s.to_ascii_lowercase().as_str() {
        "802.1q" => Some(VLAN_8021Q),
        "802.1ad" => Some(VLAN_8021AD),
        _ => None,
    }
}

pub fn protocol_name(p: u16) -> String {
    match p {
        VLAN_8021AD => "802.1ad".into(),
        VLAN_8021Q => "802.1q".into(),
        other => format!("{other:#06x}"),
    }
}

/// The VLAN ids of `trunk-tags`.
fn trunk_ids(tags: &[TrunkTagSpec]) -> Vec<u32> {
    tags.iter()
        .flat_map(|t| {
            let range = t.id_range.as_ref().map_or(0..=0, |r| r.min..=r.max);
            t.id.into_iter().chain(range.filter(|v| *v != 0))
        })
        .collect()
}

/// The exact set a section asks for; `None` for `vlan: {}`, which asks for the bridge's
/// default (its default PVID, untagged).
pub fn wanted(v: &PortVlanSpec) -> Option<VlanSet> {
    let vid = |n: u32| u16::try_from(n).unwrap_or(0);
    let mut set = VlanSet::new();
    for id in v.trunk_tags.as_deref().map(trunk_ids).unwrap_or_default() {
        set.insert(vid(id), VlanFlags::default());
    }
    let native = v.mode.as_deref() == Some("access") || v.enable_native == Some(true);
    if let Some(t) = v.tag.filter(|_| native) {
        set.insert(vid(t), NATIVE);
    }
    (v.mode.is_some() || v.tag.is_some() || v.trunk_tags.is_some()).then_some(set)
}

/// True when a port's section turns VLAN filtering on (nmstate: a non-empty section).
pub fn filters(v: &PortVlanSpec) -> bool {
    wanted(v).is_some()
}

/// A port's VLANs that no `vlan` section can say (several native VLANs, an untagged
/// one that is not the PVID, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsayable;

/// For `show`: the section for a port's set on a bridge with default PVID `pvid`;
/// `None` when the set is the default (nothing to say).
pub fn show(set: &VlanSet, pvid: u16) -> Result<Option<PortVlanSpec>, Unsayable> {
    if *set == crate::netdev::default_vlans(pvid) {
        return Ok(None);
    }
    let natives: Vec<u16> = set
        .iter()
        .filter(|(_, f)| **f == NATIVE)
        .map(|(v, _)| *v)
        .collect();
    let tagged: Vec<u16> = set
        .iter()
        .filter(|(_, f)| **f == VlanFlags::default())
        .map(|(v, _)| *v)
        .collect();
    if natives.len() + tagged.len() != set.len() || natives.len() > 1 {
        return Err(Unsayable);
    }
    if tagged.is_empty() {
        return Ok(Some(PortVlanSpec {
            mode: Some("access".into()),
            tag: natives.first().map(|v| u32::from(*v)),
            ..PortVlanSpec::default()
        }));
    }
    let tags = trunk_tags(tagged);
    Ok(Some(PortVlanSpec {
        mode: Some("trunk".into()),
        tag: natives.first().map(|v| u32::from(*v)),
        enable_native: natives.first().map(|_| true),
        trunk_tags: Some(tags),
    }))
}

/// VLAN ids, ascending, as nmstate writes `trunk-tags`: a run of three or more as an
/// `id-range`, the others one by one.
pub(super) fn trunk_tags(ids: impl IntoIterator<Item = u16>) -> Vec<TrunkTagSpec> {
    let mut tags = Vec::new();
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, tags: &mut Vec<TrunkTagSpec>| {
        match run.as_slice() {
            [first, .., last] if run.len() >= 3 => tags.push(TrunkTagSpec {
                id: None,
                id_range: Some(IdRangeSpec {
                    min: u32::from(*first),
                    max: u32::from(*last),
                }),
            }),
            ids => tags.extend(ids.iter().map(|v| TrunkTagSpec {
                id: Some(u32::from(*v)),
                id_range: None,
            })),
        }
        run.clear();
    };
    for v in ids {
        if run.last().is_some_and(|l| l + 1 != v) {
            flush(&mut run, &mut tags);
        }
        run.push(v);
    }
    flush(&mut run, &mut tags);
    tags
}

/// Checks the VLAN keys of a `linux-bridge` and its ports (nmstate's rules).
pub(super) fn check(errs: &mut Errors, p: &str, iface: &InterfaceSpec) {
    if iface.iface_type != Some(InterfaceType::LinuxBridge) {
        return;
    }
    let Some(b) = &iface.bridge else { return };
    let options = b.options.as_ref();
    if let Some(s) = options.and_then(|o| o.vlan_protocol.as_deref()) {
        if protocol(s).is_none() {
            errs.push(
                format!("{p}.bridge.options.vlan-protocol"),
                format!("{s:?} is not 802.1q or 802.1ad"),
            );
        }
    }
    let pvid = options.and_then(|o| o.vlan_default_pvid);
    if let Some(v) = pvid.filter(|v| *v > 4094) {
        errs.push(
            format!("{p}.bridge.options.vlan-default-pvid"),
            format!("{v} is outside 0-4094"),
        );
    }
    for (j, port) in b.port.iter().flatten().enumerate() {
        if let Some(v) = &port.vlan {
            check_port(
                errs,
                &format!("{p}.bridge.port[{j}].vlan"),
                v,
                pvid.unwrap_or(1),
            );
        }
    }
}

/// A VLAN id of a port (a Linux bridge's or an Open vSwitch bridge's).
pub(super) fn vlan_id(errs: &mut Errors, path: String, n: u32) {
    if !(1..=4094).contains(&n) {
        errs.push(path, format!("VLAN id {n} is outside 1-4094"));
    }
}

/// One `trunk-tags` entry at `tp`: an id or a range of ids, not both.
pub(super) fn check_trunk_tag(errs: &mut Errors, tp: &str, t: &TrunkTagSpec) {
    match (t.id, &t.id_range) {
        (Some(n), None) => vlan_id(errs, format!("{tp}.id"), n),
        (None, Some(r)) => {
            vlan_id(errs, format!("{tp}.id-range.min"), r.min);
            vlan_id(errs, format!("{tp}.id-range.max"), r.max);
            if r.min > r.max {
                errs.push(
                    format!("{tp}.id-range"),
                    format!("min {} is above max {}", r.min, r.max),
                );
            }
        }
        _ => errs.push(tp.to_string(), "give id or id-range".to_string()),
    }
}

fn check_port(errs: &mut Errors, pp: &str, v: &PortVlanSpec, pvid: u32) {
    if let Some(t) = v.tag {
        vlan_id(errs, format!("{pp}.tag"), t);
    }
    match v.mode.as_deref() {
        Some("access") => {
            if v.tag.is_none() {
                errs.push(
                    format!("{pp}.tag"),
                    "an access port needs a tag".to_string(),
                );
            }
            if v.trunk_tags.is_some() {
                errs.push(
                    format!("{pp}.trunk-tags"),
                    "an access port has no trunk-tags".to_string(),
                );
            }
            if v.enable_native == Some(true) {
                errs.push(
                    format!("{pp}.enable-native"),
                    "an access port has no native VLAN besides its tag".to_string(),
                );
            }
        }
        Some("trunk") => {
            if v.trunk_tags.as_ref().is_none_or(Vec::is_empty) {
                errs.push(
                    format!("{pp}.trunk-tags"),
                    "a trunk port needs trunk-tags".to_string(),
                );
            }
            if v.tag.is_some() && v.enable_native != Some(true) {
                errs.push(
                    format!("{pp}.tag"),
                    "a trunk port's tag is its native VLAN: give enable-native: true".to_string(),
                );
            }
            if v.enable_native == Some(true) && v.tag.is_none() {
                errs.push(
                    format!("{pp}.tag"),
                    "enable-native needs the native VLAN's tag".to_string(),
                );
            }
        }
        Some(m) => errs.push(
            format!("{pp}.mode"),
            format!("mode {m:?} is not access or trunk"),
        ),
        None if v.tag.is_some() || v.trunk_tags.is_some() => {
            errs.push(
                format!("{pp}.mode"),
                "give the mode (access or trunk)".to_string(),
            );
        }
        None => {}
    }
    let mut seen: Vec<u32> = v
        .tag
        .filter(|_| v.enable_native == Some(true))
        .into_iter()
        .collect();
    for (k, t) in v.trunk_tags.iter().flatten().enumerate() {
        let tp = format!("{pp}.trunk-tags[{k}]");
        check_trunk_tag(errs, &tp, t);
        for n in trunk_ids(std::slice::from_ref(t)) {
            if seen.contains(&n) {
                errs.push(tp.clone(), format!("VLAN {n} is given twice"));
                break;
            }
            if n == pvid {
                // `show` leaves the default PVID out: it would not come back.
                errs.push(tp.clone(), format!("VLAN {n} is the bridge's vlan-default-pvid; carry it as the native VLAN (tag, enable-native) or change vlan-default-pvid"));
                break;
            }
            seen.push(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_sets_round_trip() {
        let d = crate::model::parse(include_str!(
            "../../tests/nmstate/linux_bridge_port_vlan.yml"
        ))
        .expect("parses");
        crate::model::validate(&d).expect("valid");
        let ports = d.interfaces[0]
            .bridge
            .as_ref()
            .and_then(|b| b.port.clone())
            .expect("ports");
        for p in ports {
            let v = p.vlan.expect("vlan");
            let set = wanted(&v).expect("a set");
            assert_eq!(show(&set, 1), Ok(Some(v.clone())), "{}", p.name);
        }
        let trunk = wanted(
            &d.interfaces[0]
                .bridge
                .as_ref()
                .and_then(|b| b.port.as_ref())
                .expect("ports")[0]
                .vlan
                .clone()
                .expect("vlan"),
        )
        .expect("set");
        assert_eq!(
            crate::netdev::fmt_vlans(&trunk),
            "100 pvid untagged 101 102 200 201 202 203 204 205 206 207 208 209"
        );
        assert_eq!(show(&crate::netdev::default_vlans(1), 1), Ok(None));
    }

    #[test]
    fn nmstate_rules_are_checked() {
        let d = crate::model::parse("interfaces:\n- name: br0\n  type: linux-bridge\n  bridge:\n    options: {vlan-protocol: 802.1x}\n    port:\n    - {name: a, vlan: {mode: trunk, tag: 5}}\n    - {name: b, vlan: {mode: access, trunk-tags: [{id: 7}]}}\n    - {name: c, vlan: {mode: trunk, trunk-tags: [{id: 1}, {id-range: {min: 9, max: 8}}]}}\n").expect("parses");
        let e = crate::model::validate(&d).expect_err("invalid").to_string();
        for want in [
            "interfaces[0].bridge.options.vlan-protocol",
            "interfaces[0].bridge.port[0].vlan.trunk-tags: a trunk port needs trunk-tags",
            "interfaces[0].bridge.port[0].vlan.tag: a trunk port's tag is its native VLAN",
            "interfaces[0].bridge.port[1].vlan.tag: an access port needs a tag",
            "interfaces[0].bridge.port[1].vlan.trunk-tags: an access port has no trunk-tags",
            "interfaces[0].bridge.port[2].vlan.trunk-tags[0]: VLAN 1 is the bridge's vlan-default-pvid",
            "interfaces[0].bridge.port[2].vlan.trunk-tags[1].id-range: min 9 is above max 8",
        ] {
            assert!(e.contains(want), "{want} not in {e}");
        }
    }
}
