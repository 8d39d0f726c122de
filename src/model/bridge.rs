//! `bridge.options` and `bridge.port[]` of a `linux-bridge`, in nmstate's keys and
//! units: the STP timers and `mac-ageing-time` in seconds, the multicast intervals in
//! centiseconds (nmstate passes them to the kernel as they are). Conversions to the
//! kernel's units ([`crate::netdev::BridgeChange`], centiseconds) and back for `show`
//! are here, and the checks of the values the kernel would refuse.

use serde::{Deserialize, Serialize};

use super::validate::Errors;
use super::{BridgeOptionsSpec, InterfaceSpec, InterfaceType, PortSpec, StpSpec};
use crate::netdev::{
    BridgeChange, BridgeOptions, BridgePortOptions, PortChange, MIN_STP_FORWARD_DELAY,
};

/// `multicast-router`: nmstate's names or the kernel's numbers (0, 1, 2).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum McastRouter {
    Number(u64),
    Name(String),
}

impl McastRouter {
    /// The kernel's value (0 disabled, 1 auto, 2 enabled).
    pub fn value(&self) -> Option<u8> {
        match self {
            McastRouter::Number(n) => u8::try_from(*n).ok().filter(|n| *n <= 2),
            McastRouter::Name(s) => match s.as_str() {
                "disabled" => Some(0),
                "auto" => Some(1),
                "enabled" => Some(2),
                _ => None,
            },
        }
    }

    fn of(value: u8) -> McastRouter {
        match value {
            0 => McastRouter::Name("disabled".into()),
            1 => McastRouter::Name("auto".into()),
            2 => McastRouter::Name("enabled".into()),
            n => McastRouter::Number(u64::from(n)),
        }
    }
}

/// Seconds → centiseconds (saturating: validation refuses what does not fit first).
fn cs(seconds: u32) -> u32 {
    seconds.saturating_mul(100)
}

/// The kernel settings `bridge.options` asks for (STP's `enabled` included).
pub fn options_change(o: &BridgeOptionsSpec) -> BridgeChange {
    let stp = o.stp.clone().unwrap_or_default();
    BridgeChange {
        stp: stp.enabled,
        forward_delay: stp.forward_delay.map(cs),
        hello_time: stp.hello_time.map(cs),
        max_age: stp.max_age.map(cs),
        priority: stp.priority.and_then(|p| u16::try_from(p).ok()),
        ageing_time: o.mac_ageing_time.map(cs),
        group_fwd_mask: o.group_forward_mask.and_then(|m| u16::try_from(m).ok()),
        group_addr: o.group_addr,
        mcast_snooping: o.multicast_snooping,
        mcast_router: o.multicast_router.as_ref().and_then(McastRouter::value),
        mcast_querier: o.multicast_querier,
        mcast_query_use_ifaddr: o.multicast_query_use_ifaddr,
        mcast_hash_max: o.hash_max,
        mcast_last_member_count: o.multicast_last_member_count,
        mcast_startup_query_count: o.multicast_startup_query_count,
        mcast_last_member_interval: o.multicast_last_member_interval,
        mcast_membership_interval: o.multicast_membership_interval,
        mcast_querier_interval: o.multicast_querier_interval,
        mcast_query_interval: o.multicast_query_interval,
        mcast_query_response_interval: o.multicast_query_response_interval,
        mcast_startup_query_interval: o.multicast_startup_query_interval,
        // On as soon as a port has a VLAN section (the ports say it, not the options).
        vlan_filtering: None,
        vlan_protocol: o
            .vlan_protocol
            .as_deref()
            .and_then(super::bridge_vlans::protocol),
        vlan_default_pvid: o.vlan_default_pvid.and_then(|p| u16::try_from(p).ok()),
    }
}

/// The kernel settings of a `bridge.port[]` entry.
pub fn port_change(p: &PortSpec) -> PortChange {
    PortChange {
        hairpin: p.stp_hairpin_mode,
        cost: p.stp_path_cost,
        priority: p.stp_priority.and_then(|v| u16::try_from(v).ok()),
    }
}

/// For `show`: every setting of a bridge, in nmstate's keys and units (timers in whole
/// seconds, truncated: a file that gives them back compares in seconds); the VLAN ones
/// only where the kernel has bridge VLAN filtering (`vlans`).
pub fn show_options(o: &BridgeOptions, vlans: bool) -> BridgeOptionsSpec {
    let s = |cs: u32| Some(cs / 100);
    BridgeOptionsSpec {
        stp: Some(StpSpec {
            enabled: Some(o.stp),
            forward_delay: s(o.forward_delay),
            hello_time: s(o.hello_time),
            max_age: s(o.max_age),
            priority: Some(u32::from(o.priority)),
        }),
        datapath: None,
        rstp: None,
        mcast_snooping_enable: None,
        fail_mode: None,
        allow_extra_ports: None,
        mac_ageing_time: s(o.ageing_time),
        group_forward_mask: Some(u32::from(o.group_fwd_mask)),
        group_addr: Some(o.group_addr),
        hash_max: Some(o.mcast_hash_max),
        multicast_snooping: Some(o.mcast_snooping),
        multicast_router: Some(McastRouter::of(o.mcast_router)),
        multicast_querier: Some(o.mcast_querier),
        multicast_query_use_ifaddr: Some(o.mcast_query_use_ifaddr),
        multicast_last_member_count: Some(o.mcast_last_member_count),
        multicast_startup_query_count: Some(o.mcast_startup_query_count),
        multicast_last_member_interval: Some(o.mcast_last_member_interval),
        multicast_membership_interval: Some(o.mcast_membership_interval),
        multicast_querier_interval: Some(o.mcast_querier_interval),
        multicast_query_interval: Some(o.mcast_query_interval),
        multicast_query_response_interval: Some(o.mcast_query_response_interval),
        multicast_startup_query_interval: Some(o.mcast_startup_query_interval),
        vlan_protocol: vlans.then(|| super::bridge_vlans::protocol_name(o.vlan_protocol)),
        vlan_default_pvid: vlans.then_some(u32::from(o.vlan_default_pvid)),
    }
}

/// For `show`: a port's entry in its bridge's `port` list.
pub fn show_port(name: &str, o: Option<&BridgePortOptions>) -> PortSpec {
    PortSpec {
        name: name.to_string(),
        stp_hairpin_mode: o.map(|o| o.hairpin),
        stp_path_cost: o.map(|o| o.cost),
        stp_priority: o.map(|o| u32::from(o.priority)),
        ..PortSpec::default()
    }
}

/// Checks `bridge.options` and the ports' STP keys of a `linux-bridge`, against what
/// the kernel takes (each refusal would otherwise stop the apply half-way).
pub(super) fn check(errs: &mut Errors, p: &str, iface: &InterfaceSpec) {
    if iface.iface_type != Some(InterfaceType::LinuxBridge) {
        return;
    }
    let Some(b) = &iface.bridge else { return };
    if let Some(o) = &b.options {
        check_options(errs, &format!("{p}.bridge.options"), o);
    }
    for (j, port) in b.port.iter().flatten().enumerate() {
        let pp = format!("{p}.bridge.port[{j}]");
        if let Some(c) = port.stp_path_cost.filter(|c| !(1..=65535).contains(c)) {
            errs.push(
                format!("{pp}.stp-path-cost"),
                format!("{c} is outside 1-65535"),
            );
        }
        if let Some(v) = port.stp_priority.filter(|v| *v > 63) {
            errs.push(
                format!("{pp}.stp-priority"),
                format!("{v} is above 63, the kernel's highest port priority"),
            );
        }
    }
}

fn range(errs: &mut Errors, path: String, value: Option<u32>, lo: u32, hi: u32, unit: &str) {
    if let Some(v) = value.filter(|v| !(lo..=hi).contains(v)) {
        errs.push(path, format!("{v}{unit} is outside {lo}-{hi}{unit}"));
    }
}

fn check_options(errs: &mut Errors, p: &str, o: &BridgeOptionsSpec) {
    let stp = o.stp.clone().unwrap_or_default();
    let sp = format!("{p}.stp");
    match stp.forward_delay {
        Some(d) if d > 30 => errs.push(
            format!("{sp}.forward-delay"),
            format!("{d} s is above 30 s"),
        ),
        Some(d) if cs(d) < MIN_STP_FORWARD_DELAY && stp.enabled == Some(true) => errs.push(
            format!("{sp}.forward-delay"),
            format!("{d} s is below the 2 s STP allows; give 2 to 30, or turn STP off"),
        ),
        _ => {}
    }
    range(
        errs,
        format!("{sp}.hello-time"),
        stp.hello_time,
        1,
        10,
        " s",
    );
    range(errs, format!("{sp}.max-age"), stp.max_age, 6, 40, " s");
    range(errs, format!("{sp}.priority"), stp.priority, 0, 65535, "");
    if let Some(a) = o.mac_ageing_time.filter(|a| *a > u32::MAX / 100) {
        errs.push(format!("{p}.mac-ageing-time"), format!("{a} s is too long"));
    }
    match o.group_forward_mask {
        Some(m) if m > 0xffff => errs.push(
            format!("{p}.group-forward-mask"),
            format!("{m} does not fit in 16 bits"),
        ),
        Some(m) if m & 0x7 != 0 => errs.push(
            format!("{p}.group-forward-mask"),
            format!("{m:#x} has bits 0-2 set: STP, pause and LACP frames cannot be forwarded"),
        ),
        _ => {}
    }
    if let Some(a) = o.group_addr {
        let b = a.0;
        let ok = b[..5] == [0x01, 0x80, 0xc2, 0, 0] && b[5] <= 0x0f && !matches!(b[5], 1..=3);
        if !ok {
            errs.push(
                format!("{p}.group-addr"),
                format!("{a} is not one of 01:80:C2:00:00:00 and 01:80:C2:00:00:04 to 0F, the group addresses the kernel takes"),
            );
        }
    }
    if let Some(r) = o.multicast_router.as_ref().filter(|r| r.value().is_none()) {
        errs.push(
            format!("{p}.multicast-router"),
            format!("{r:?} is not one of disabled, auto, enabled (or 0, 1, 2)"),
        );
    }
    for (key, v) in [
        ("multicast-query-interval", o.multicast_query_interval),
        (
            "multicast-startup-query-interval",
            o.multicast_startup_query_interval,
        ),
    ] {
        if let Some(v) = v.filter(|v| *v < 100) {
            errs.push(
                format!("{p}.{key}"),
                format!(
                    "{v} cs is below the kernel's minimum of 100 centiseconds (it would raise it)"
                ),
            );
        }
    }
}
