//! Validation of the kinds added for nmstate's item 10 (docs/NMSTATE.md): `ipvlan`.

use super::doc_index::DocIndex;
use super::validate::check_ifname;
use super::validate_devices::Push;
use super::*;
use crate::netdev::IpVlanMode;

/// Checks the `ipvlan` section of `interfaces[i]`.
pub(super) fn check_interface(push: Push, ix: &DocIndex, i: usize, iface: &InterfaceSpec) {
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
        push(format!("{p}.ipvlan"), msg);
        return;
    }
    if iface.state == Some(IfaceState::Absent) {
        return;
    }
    let base = m.base_iface.as_str();
    let path = format!("{p}.ipvlan.base-iface");
    if let Err(e) = check_ifname(base) {
        push(path, e);
    } else if base == iface.name {
        push(path, format!("{base} cannot be its own base interface"));
    } else if ix.removes(base) {
        push(
            path,
            format!("base interface {base} is removed by this file (state: absent)"),
        );
    }
    if let Some(mode) = &m.mode {
        if let Err(e) = mode.parse::<IpVlanMode>() {
            push(format!("{p}.ipvlan.mode"), e);
        }
    }
    // The kernel refuses both flags at once (ipvlan_nl_validate).
    if m.private == Some(true) && m.vepa == Some(true) {
        push(
            format!("{p}.ipvlan.vepa"),
            "private and vepa exclude each other".to_string(),
        );
    }
}
