//! `link-aggregation.options`: validation naming each option, the kernel's values they
//! stand for, and `show`'s section (only what differs from the kernel's defaults).

use super::devices::{BondOptionsSpec, LinkAggregationSpec};
use super::validate::Errors;
use crate::netdev::{
    bond_name, bond_value, BondMode, BondOptions, MacAddr, AD_SELECT, ALL_SLAVES_ACTIVE,
    ARP_ALL_TARGETS, ARP_VALIDATE, FAIL_OVER_MAC, LACP_RATE, MAX_TARGETS, PRIMARY_RESELECT,
    XMIT_HASH_POLICY,
};

/// The named options: key, table, and the field of [`BondOptions`] it sets.
type Named = (
    &'static str,
    &'static [&'static str],
    fn(&mut BondOptions) -> &mut u8,
);

const NAMED: [Named; 8] = [
    ("arp_validate", ARP_VALIDATE, |b| &mut b.arp_validate),
    ("arp_all_targets", ARP_ALL_TARGETS, |b| {
        &mut b.arp_all_targets
    }),
    ("lacp_rate", LACP_RATE, |b| &mut b.lacp_rate),
    ("xmit_hash_policy", XMIT_HASH_POLICY, |b| {
        &mut b.xmit_hash_policy
    }),
    ("ad_select", AD_SELECT, |b| &mut b.ad_select),
    ("all_slaves_active", ALL_SLAVES_ACTIVE, |b| {
        &mut b.all_slaves_active
    }),
    ("primary_reselect", PRIMARY_RESELECT, |b| {
        &mut b.primary_reselect
    }),
    ("fail_over_mac", FAIL_OVER_MAC, |b| &mut b.fail_over_mac),
];

fn named_value<'a>(o: &'a BondOptionsSpec, key: &str) -> Option<&'a String> {
    match key {
        "lacp_rate" => o.lacp_rate.as_ref(),
        "xmit_hash_policy" => o.xmit_hash_policy.as_ref(),
        "ad_select" => o.ad_select.as_ref(),
        "all_slaves_active" => o.all_slaves_active.as_ref(),
        "primary_reselect" => o.primary_reselect.as_ref(),
        "fail_over_mac" => o.fail_over_mac.as_ref(),
        "arp_validate" => o.arp_validate.as_ref(),
        "arp_all_targets" => o.arp_all_targets.as_ref(),
        _ => None,
    }
}

/// Whether a named option is given as a valid value other than the kernel's default
/// (number 0 of each table), by name or by number.
fn non_default(v: &Option<String>, table: &[&str]) -> bool {
    v.as_deref()
        .and_then(|v| bond_value(table, v).ok())
        .is_some_and(|v| v != 0)
}

/// The numeric options: key, value, and the smallest and largest the kernel takes.
fn numbers(o: &BondOptionsSpec) -> [(&'static str, Option<u32>, u32, u32); 10] {
    [
        ("min_links", o.min_links, 0, u32::MAX),
        ("num_grat_arp", o.num_grat_arp, 0, 255),
        ("num_unsol_na", o.num_unsol_na, 0, 255),
        ("resend_igmp", o.resend_igmp, 0, 255),
        ("ad_actor_sys_prio", o.ad_actor_sys_prio, 1, 65535),
        ("ad_user_port_key", o.ad_user_port_key, 0, 1023),
        ("lp_interval", o.lp_interval, 1, i32::MAX.unsigned_abs()),
        ("packets_per_slave", o.packets_per_slave, 0, 65535),
        ("arp_interval", o.arp_interval, 0, i32::MAX.unsigned_abs()),
        ("arp_missed_max", o.arp_missed_max, 1, 255),
    ]
}

/// The options the kernel takes in some modes only (EACCES "mode dependency failed"
/// otherwise, even for the default value): key, whether the file sets it to other
/// than the default, and the modes that have it.
fn mode_bound(o: &BondOptionsSpec) -> [(&'static str, bool, &'static [BondMode]); 5] {
    use BondMode::{ActiveBackup, BalanceAlb, BalanceRr, BalanceTlb, BalanceXor, Broadcast};
    const ARP: &[BondMode] = &[BalanceRr, ActiveBackup, BalanceXor, Broadcast];
    [
        (
            "packets_per_slave",
            o.packets_per_slave.is_some_and(|v| v != 1),
            &[BalanceRr],
        ),
        (
            "tlb_dynamic_lb",
            o.tlb_dynamic_lb == Some(false),
            &[BalanceTlb, BalanceAlb],
        ),
        ("arp_interval", o.arp_interval.is_some_and(|v| v != 0), ARP),
        (
            "arp_validate",
            non_default(&o.arp_validate, ARP_VALIDATE),
            ARP,
        ),
        (
            "arp_missed_max",
            o.arp_missed_max.is_some_and(|v| v != 2),
            ARP,
        ),
    ]
}

/// A comma-separated list of `arp_ip_target`/`ns_ip6_target` addresses the kernel takes:
/// at most 16, no duplicates, none unspecified, broadcast, loopback or multicast.
fn targets<A>(v: &str) -> Result<Vec<A>, String>
where
    A: std::str::FromStr + PartialEq + Into<std::net::IpAddr> + Copy,
{
    let mut out: Vec<A> = Vec::new();
    for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let a: A = t
            .parse()
            .map_err(|_| format!("{t:?} is not an address of this list's family"))?;
        let ip: std::net::IpAddr = a.into();
        let bad = match ip {
            std::net::IpAddr::V4(x) => x.is_unspecified() || x.is_broadcast(),
            std::net::IpAddr::V6(x) => x.is_unspecified() || x.is_loopback() || x.is_multicast(),
        };
        if bad {
            return Err(format!("{t} is not a target the kernel takes (unspecified, broadcast, loopback or multicast)"));
        }
        if out.contains(&a) {
            return Err(format!(
                "{t} is listed twice (the kernel refuses a duplicate)"
            ));
        }
        out.push(a);
    }
    if out.len() > MAX_TARGETS {
        return Err(format!(
            "{} targets, the kernel takes at most {MAX_TARGETS}",
            out.len()
        ));
    }
    Ok(out)
}

/// `ad_actor_system`: a MAC address the kernel takes (not multicast).
fn actor_system(v: &str) -> Result<[u8; 6], String> {
    let mac = v.parse::<MacAddr>()?;
    if mac.0[0] & 1 != 0 {
        return Err(format!(
            "{v} is a multicast address (the kernel takes a unicast one)"
        ));
    }
    Ok(mac.0)
}

/// The bond a valid `link-aggregation` section describes (`None` when it is not valid).
pub fn options(la: &LinkAggregationSpec) -> Option<BondOptions> {
    let mode = la.mode.as_deref()?.parse::<BondMode>().ok()?;
    let empty = BondOptionsSpec::default();
    let o = la.options.as_ref().unwrap_or(&empty);
    let mut b = BondOptions::new(mode, o.miimon.unwrap_or(0));
    b.updelay = o.updelay.unwrap_or(0);
    b.downdelay = o.downdelay.unwrap_or(0);
    for (key, table, field) in NAMED {
        if let Some(v) = named_value(o, key) {
            *field(&mut b) = bond_value(table, v).ok()?;
        }
    }
    b.min_links = o.min_links.unwrap_or(b.min_links);
    b.num_grat_arp = o
        .num_grat_arp
        .or(o.num_unsol_na)
        .map_or(Some(b.num_grat_arp), |v| u8::try_from(v).ok())?;
    b.resend_igmp = o.resend_igmp.unwrap_or(b.resend_igmp);
    b.ad_actor_sys_prio = o
        .ad_actor_sys_prio
        .map_or(Some(b.ad_actor_sys_prio), |v| u16::try_from(v).ok())?;
    b.ad_user_port_key = o
        .ad_user_port_key
        .map_or(Some(b.ad_user_port_key), |v| u16::try_from(v).ok())?;
    b.primary = o.primary.clone().filter(|p| !p.is_empty());
    b.use_carrier = o.use_carrier.unwrap_or(b.use_carrier);
    b.lp_interval = o.lp_interval.unwrap_or(b.lp_interval);
    b.packets_per_slave = o.packets_per_slave.unwrap_or(b.packets_per_slave);
    b.tlb_dynamic_lb = o.tlb_dynamic_lb.unwrap_or(b.tlb_dynamic_lb);
    b.lacp_active = o.lacp_active.unwrap_or(b.lacp_active);
    if let Some(m) = &o.ad_actor_system {
        b.ad_actor_system = actor_system(m).ok()?;
    }
    b.arp_interval = o.arp_interval.unwrap_or(b.arp_interval);
    b.arp_missed_max = o
        .arp_missed_max
        .map_or(Some(b.arp_missed_max), |v| u8::try_from(v).ok())?;
    if let Some(t) = &o.arp_ip_target {
        b.arp_ip_target = targets(t).ok()?;
    }
    if let Some(t) = &o.ns_ip6_target {
        b.ns_ip6_target = targets(t).ok()?;
    }
    Some(b)
}

/// Checks `options` of a bond of `mode` (`None`: the mode is itself invalid); `path` is
/// the section's (`interfaces[0].link-aggregation.options`).
pub(super) fn validate(errs: &mut Errors, path: &str, mode: Option<BondMode>, o: &BondOptionsSpec) {
    for (key, table, _) in NAMED {
        if let Some(Err(e)) = named_value(o, key).map(|v| bond_value(table, v)) {
            errs.push(format!("{path}.{key}"), e);
        }
    }
    for (key, v, min, max) in numbers(o) {
        if let Some(v) = v.filter(|v| !(min..=max).contains(v)) {
            errs.push(
                format!("{path}.{key}"),
                format!("{v} is out of range ({min}-{max})"),
            );
        }
    }
    if let (Some(a), Some(b)) = (o.num_grat_arp, o.num_unsol_na) {
        if a != b {
            errs.push(
                format!("{path}.num_unsol_na"),
                format!("{b} differs from num_grat_arp {a}: both are the kernel's one count of peer notifications (IFLA_BOND_NUM_PEER_NOTIF)"),
            );
        }
    }
    let miimon = o.miimon.unwrap_or(0);
    for (key, v) in [("updelay", o.updelay), ("downdelay", o.downdelay)] {
        match v.filter(|v| *v != 0) {
            Some(_) if miimon == 0 => errs.push(
                format!("{path}.{key}"),
                "needs miimon: the kernel counts it in MII intervals".to_string(),
            ),
            Some(v) if v % miimon != 0 => errs.push(
                format!("{path}.{key}"),
                format!("{v} ms is not a multiple of miimon {miimon} (the kernel would round it)"),
            ),
            _ => {}
        }
    }
    if let Some(Err(e)) = o.ad_actor_system.as_deref().map(actor_system) {
        errs.push(format!("{path}.ad_actor_system"), e);
    }
    if let Some(Err(e)) = o
        .arp_ip_target
        .as_deref()
        .map(targets::<std::net::Ipv4Addr>)
    {
        errs.push(format!("{path}.arp_ip_target"), e);
    }
    if let Some(Err(e)) = o
        .ns_ip6_target
        .as_deref()
        .map(targets::<std::net::Ipv6Addr>)
    {
        errs.push(format!("{path}.ns_ip6_target"), e);
    }
    arp_or_mii(errs, path, o);
    for (key, set, modes) in mode_bound(o) {
        if let Some(m) = mode.filter(|m| set && !modes.contains(m)) {
            let names: Vec<&str> = modes.iter().map(|m| m.as_str()).collect();
            errs.push(
                format!("{path}.{key}"),
                format!(
                    "only a {} bond has it, not {} (the kernel refuses it in other modes)",
                    names.join(" or "),
                    m.as_str()
                ),
            );
        }
    }
    if mode.is_some_and(|m| m != BondMode::Lacp) {
        let d = BondOptions::new(BondMode::Lacp, 0);
        let lacp_only = [
            ("lacp_rate", non_default(&o.lacp_rate, LACP_RATE)),
            (
                "ad_actor_sys_prio",
                o.ad_actor_sys_prio
                    .is_some_and(|v| v != u32::from(d.ad_actor_sys_prio)),
            ),
            (
                "ad_user_port_key",
                o.ad_user_port_key
                    .is_some_and(|v| v != u32::from(d.ad_user_port_key)),
            ),
            ("lacp_active", o.lacp_active == Some(false)),
            (
                "ad_actor_system",
                o.ad_actor_system
                    .as_deref()
                    .and_then(|v| actor_system(v).ok())
                    .is_some_and(|v| v != d.ad_actor_system),
            ),
        ];
        for (key, _) in lacp_only.iter().filter(|(_, set)| *set) {
            errs.push(
                format!("{path}.{key}"),
                "only an 802.3ad bond has it (the kernel refuses it in other modes)".to_string(),
            );
        }
    }
}

/// The kernel refuses ARP monitoring and ARP validation together with MII monitoring
/// (EINVAL: one or the other).
fn arp_or_mii(errs: &mut Errors, path: &str, o: &BondOptionsSpec) {
    let Some(miimon) = o.miimon.filter(|m| *m != 0) else {
        return;
    };
    let validating = non_default(&o.arp_validate, ARP_VALIDATE);
    let uses = [
        ("arp_interval", o.arp_interval.is_some_and(|v| v != 0)),
        ("arp_validate", validating),
    ];
    for (key, _) in uses.iter().filter(|(_, on)| *on) {
        errs.push(
            format!("{path}.{key}"),
            format!("cannot be used with MII monitoring (miimon {miimon}): the kernel runs one link monitor, set miimon to 0"),
        );
    }
}

/// `show`'s options of a bond: `miimon`, and the others that differ from the kernel's
/// defaults.
pub fn show(b: &BondOptions) -> BondOptionsSpec {
    let d = BondOptions::new(b.mode, b.miimon);
    let differs = |a: u32, b: u32| (a != b).then_some(a);
    let mut o = BondOptionsSpec {
        miimon: Some(b.miimon),
        updelay: differs(b.updelay, d.updelay),
        downdelay: differs(b.downdelay, d.downdelay),
        min_links: differs(b.min_links, d.min_links),
        num_grat_arp: differs(b.num_grat_arp.into(), d.num_grat_arp.into()),
        resend_igmp: differs(b.resend_igmp, d.resend_igmp),
        ad_actor_sys_prio: differs(b.ad_actor_sys_prio.into(), d.ad_actor_sys_prio.into()),
        ad_user_port_key: differs(b.ad_user_port_key.into(), d.ad_user_port_key.into()),
        primary: b.primary.clone(),
        use_carrier: (b.use_carrier != d.use_carrier).then_some(b.use_carrier),
        lp_interval: differs(b.lp_interval, d.lp_interval),
        packets_per_slave: differs(b.packets_per_slave, d.packets_per_slave),
        tlb_dynamic_lb: (b.tlb_dynamic_lb != d.tlb_dynamic_lb).then_some(b.tlb_dynamic_lb),
        lacp_active: (b.lacp_active != d.lacp_active).then_some(b.lacp_active),
        ad_actor_system: (b.ad_actor_system != d.ad_actor_system)
            .then(|| MacAddr(b.ad_actor_system).to_string()),
        arp_interval: differs(b.arp_interval, d.arp_interval),
        arp_missed_max: differs(b.arp_missed_max.into(), d.arp_missed_max.into()),
        arp_ip_target: join(&b.arp_ip_target),
        ns_ip6_target: join(&b.ns_ip6_target),
        ..BondOptionsSpec::default()
    };
    let (mut have, mut default) = (b.clone(), d);
    for (key, table, field) in NAMED {
        let v = *field(&mut have);
        if v != *field(&mut default) {
            let name = Some(bond_name(table, v));
            match key {
                "lacp_rate" => o.lacp_rate = name,
                "xmit_hash_policy" => o.xmit_hash_policy = name,
                "ad_select" => o.ad_select = name,
                "all_slaves_active" => o.all_slaves_active = name,
                "primary_reselect" => o.primary_reselect = name,
                "arp_validate" => o.arp_validate = name,
                "arp_all_targets" => o.arp_all_targets = name,
                _ => o.fail_over_mac = name,
            }
        }
    }
    o
}

/// A target list as nmstate writes it (`None` when empty).
fn join<A: std::fmt::Display>(list: &[A]) -> Option<String> {
    (!list.is_empty()).then(|| {
        list.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    })
}
