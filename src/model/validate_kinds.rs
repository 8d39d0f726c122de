//! Validation of the kinds added for nmstate's item 10 (docs/NMSTATE.md): `ipvlan`.

use super::doc_index::DocIndex;
use super::validate::{check_ifname, Errors};
use super::*;
use crate::netdev::IpVlanMode;

/// Checks the `ipvlan` section of `interfaces[i]`.
pub(super) fn check_interface(errs: &mut Errors, ix: &DocIndex, i: usize, iface: &InterfaceSpec) {
    let p = format!("interfaces[{i}]");
    let ty = iface.iface_type;
    let Some(m) = iface.ipvlan.as_ref() else {
        return;
    };
    if ty != Some(InterfaceType::IpVlan) {
        let msg = match ty {
            Some(t) => format!("only an ipvlan has ipvlan settings, not a {}", t.as_str()),
            None => "give the interface's type with its ipvlan settings".to_string(),
        };
        errs.push(format!("{p}.ipvlan"), msg);
        return;
    }
    if iface.state == Some(IfaceState::Absent) {
        return;
    }
    let base = m.base_iface.as_str();
    let path = format!("{p}.ipvlan.base-iface");
    if let Err(e) = check_ifname(base) {
        errs.push(path, e);
    } else if base == iface.name {
        errs.push(path, format!("{base} cannot be its own base interface"));
    } else if ix.removes(base) {
        errs.push(
            path,
            format!("base interface {base} is removed by this file (state: absent)"),
        );
    }
    if let Some(mode) = &m.mode {
        if let Err(e) = mode.parse::<IpVlanMode>() {
            errs.push(format!("{p}.ipvlan.mode"), e);
        }
    }
    // The kernel refuses both flags at once (ipvlan_nl_validate).
    if m.private == Some(true) && m.vepa == Some(true) {
        errs.push(
            format!("{p}.ipvlan.vepa"),
            "private and vepa exclude each other".to_string(),
        );
    }
}

/// The kernel keeps an IPVLAN's mode and flags per base device (`struct ipvl_port`):
/// creating or changing one IPVLAN sets them for every IPVLAN on its base, so IPVLANs of
/// one file on one base must agree, or the kernel would not end where the file says.
pub(super) fn check_shared_bases(errs: &mut Errors, d: &Desired) {
    let mut first: std::collections::BTreeMap<&str, (usize, &str, bool, bool)> =
        std::collections::BTreeMap::new();
    for (i, iface) in d.interfaces.iter().enumerate() {
        let Some(m) = iface.ipvlan.as_ref() else {
            continue;
        };
        if iface.iface_type != Some(InterfaceType::IpVlan)
            || iface.state == Some(IfaceState::Absent)
        {
            continue;
        }
        let this = (
            i,
            m.mode.as_deref().unwrap_or("l3"),
            m.private.unwrap_or(false),
            m.vepa.unwrap_or(false),
        );
        let (j, mode, private, vepa) = *first.entry(m.base_iface.as_str()).or_insert(this);
        if (mode, private, vepa) != (this.1, this.2, this.3) {
            errs.push(
                format!("interfaces[{i}].ipvlan"),
                format!(
                    "IPVLANs on {} share one mode and flags (the kernel keeps them per base): \
                     interfaces[{j}] has mode {mode}, private {private}, vepa {vepa}",
                    m.base_iface
                ),
            );
        }
    }
}
