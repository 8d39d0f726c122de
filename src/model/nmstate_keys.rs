//! nmstate's keys that hostnet's types do not carry, decided before the types see the
//! document (docs/NMSTATE.md has the matrix this table follows).
//!
//! One pass over the YAML tree, driven by tables of nmstate's schema, decides each key
//! nmstate defines: carried by hostnet's types (left for serde, with nmstate's spellings
//! normalised: numbers and booleans given as strings, aliases such as `ports`, `-1` for
//! "the kernel's default"), *ignored* (meaningful to NetworkManager only, or printed by
//! nmstate's `show` and ignored by its `apply`: removed here and reported as a plan note),
//! or *refused* with a message of its own. Every refused key of the document is reported
//! at once. Keys no table names (hostnet's own, and keys nmstate does not define) are
//! left to serde, which rejects unknown ones as before.

use serde_yaml_ng::{Mapping, Value};

/// What the pass found.
#[derive(Debug, Default)]
pub(super) struct Prepared {
    /// The document with ignored keys removed and spellings normalised, when anything
    /// was (`None`: parse the text as it is).
    pub value: Option<Value>,
    /// One line per ignored key (grouped by key: its first path and how many more).
    pub ignored: Vec<String>,
    /// One line per refused key, in document order.
    pub refused: Vec<String>,
}

/// How a key nmstate defines is treated.
#[derive(Clone, Copy)]
enum Key {
    /// Carried by hostnet's types, as it is.
    Keep,
    /// Carried; an integer nmstate also accepts as a string.
    Int,
    /// Carried; a boolean nmstate also accepts as a string (`"yes"`, `"0"`, …).
    Bool,
    /// Carried; an integer for which `-1` means "the kernel's default" (removed).
    IntOrDefault,
    /// A section with keys of its own.
    Map(&'static [(&'static str, Key)]),
    /// A list of sections.
    List(&'static [(&'static str, Key)]),
    /// A section with an `enabled` key, which may be given as that boolean alone
    /// (an ovs-bridge's `stp: true`).
    EnabledOrMap(&'static [(&'static str, Key)]),
    /// Another spelling of the key named (in the same section).
    Alias(&'static str),
    /// Accepted and ignored, for this reason.
    Ignore(&'static str),
    /// Refused with this message.
    Refuse(&'static str),
    /// nmstate's key, which hostnet does not apply yet.
    NotYet,
    /// Decided by its value.
    Check(fn(&Value) -> Verdict),
    /// The `interfaces` list, whose sections depend on each interface's type.
    Interfaces,
}

/// The decision on a key by its value.
enum Verdict {
    Keep,
    Ignore(&'static str),
    Refuse(&'static str),
}

const NOT_YET: &str = "nmstate's key, not applied by hostnet yet (docs/NMSTATE.md lists what is)";
const QUERY_ONLY: &str = "reported by nmstate's show and ignored by its apply";
const DHCP_CLIENT: &str = "a DHCP or autoconfiguration client's setting (NetworkManager's)";

const TOP: &[(&str, Key)] = &[
    ("interfaces", Key::Interfaces),
    ("routes", Key::Map(ROUTES)),
    ("route-rules", Key::Map(RULES)),
    ("dns-resolver", Key::Map(DNS)),
    ("hostname", Key::Map(HOSTNAME)),
    ("description", Key::Ignore("free text")),
    ("ovs-db", Key::NotYet),
    ("ovn", Key::NotYet),
    ("capture", Key::Refuse(NMPOLICY)),
    ("desiredState", Key::Refuse(NMPOLICY)),
    ("desired-state", Key::Refuse(NMPOLICY)),
];

const NMPOLICY: &str = "this is an nmpolicy file; render it with `nmstatectl policy` first";

const DNS: &[(&str, Key)] = &[
    (
        "config",
        Key::Refuse("hostnet does not manage the host's resolver (/etc/resolv.conf); guests get DNS from networks[].dhcp-server"),
    ),
    ("running", Key::Ignore(QUERY_ONLY)),
];

const HOSTNAME: &[(&str, Key)] = &[
    ("config", Key::Refuse("hostnet does not set the host name")),
    ("running", Key::Ignore(QUERY_ONLY)),
];

const ROUTES: &[(&str, Key)] = &[
    ("config", Key::List(ROUTE)),
    ("running", Key::Ignore(QUERY_ONLY)),
];

const ROUTE: &[(&str, Key)] = &[
    ("destination", Key::Keep),
    ("next-hop-interface", Key::Keep),
    ("next-hop-address", Key::Keep),
    ("metric", Key::IntOrDefault),
    ("table-id", Key::Int),
    ("state", Key::Check(entry_state)),
    ("onlink", Key::Bool),
    ("route-type", Key::Keep),
    ("weight", Key::Int),
    ("cwnd", Key::Int),
    ("initcwnd", Key::Int),
    ("initrwnd", Key::Int),
    ("mtu", Key::Int),
    ("lock-mtu", Key::Bool),
    ("advmss", Key::Int),
    ("quickack", Key::Bool),
    ("source", Key::Keep),
    ("vrf-name", Key::NotYet),
];

const RULES: &[(&str, Key)] = &[("config", Key::List(RULE))];

const RULE: &[(&str, Key)] = &[
    ("family", Key::Keep),
    ("ip-from", Key::Keep),
    ("ip-to", Key::Keep),
    ("priority", Key::IntOrDefault),
    ("route-table", Key::Int),
    ("fwmark", Key::Keep),
    ("fwmask", Key::Keep),
    ("iif", Key::Keep),
    ("state", Key::Check(entry_state)),
    ("action", Key::Keep),
    ("suppress-prefix-length", Key::Int),
    (
        "suppress_prefixlength",
        Key::Alias("suppress-prefix-length"),
    ),
];

/// Keys of every interface, whatever its type.
const IFACE: &[(&str, Key)] = &[
    ("name", Key::Keep),
    ("type", Key::Keep),
    ("state", Key::Check(iface_state)),
    ("mtu", Key::Int),
    ("mac-address", Key::Keep),
    ("ipv4", Key::Map(IP)),
    ("ipv6", Key::Map(IP)),
    ("veth", Key::Keep),
    ("vlan", Key::Map(VLAN)),
    ("link-aggregation", Key::Map(BOND)),
    ("vxlan", Key::Map(VXLAN)),
    ("mac-vlan", Key::Map(MACVLAN)),
    ("mac-vtap", Key::Map(MACVLAN)),
    ("ovs-db", Key::Map(OVS_DB)),
    ("description", Key::Keep),
    ("profile-name", Key::Ignore("NetworkManager's connection name")),
    ("identifier", Key::Check(identifier)),
    ("permanent-mac-address", Key::Ignore(QUERY_ONLY)),
    ("pci-address", Key::Ignore(QUERY_ONLY)),
    ("driver", Key::Ignore(QUERY_ONLY)),
    ("min-mtu", Key::Ignore(QUERY_ONLY)),
    ("max-mtu", Key::Ignore(QUERY_ONLY)),
    ("wait-ip", Key::Ignore("NetworkManager's activation setting")),
    ("controller", Key::NotYet),
    ("accept-all-mac-addresses", Key::Bool),
    ("copy-mac-from", Key::NotYet),
    ("alt-names", Key::NotYet),
    (
        "802.1x",
        Key::Refuse("802.1X authentication needs a supplicant (wpa_supplicant); hostnet does not run one"),
    ),
    ("lldp", Key::Map(LLDP)),
    (
        "ethtool",
        Key::Refuse("ethtool settings are not managed by hostnet (use ethtool or a systemd .link file)"),
    ),
    (
        "mptcp",
        Key::Refuse("MPTCP endpoints are not managed by hostnet (ip mptcp endpoint)"),
    ),
    ("dispatch", Key::Check(dispatch)),
    ("ethernet", Key::Map(ETHERNET)),
    ("patch", Key::Map(OVS_PATCH)),
    (
        "dpdk",
        Key::Refuse("DPDK ports need an Open vSwitch built with DPDK and a device bound to a DPDK driver; hostnet does not manage them"),
    ),
    ("team", Key::Refuse(TEAM)),
    ("infiniband", Key::Refuse(INFINIBAND)),
    ("macsec", Key::Refuse(MACSEC)),
    ("hsr", Key::Refuse(HSR)),
    ("libreswan", Key::Refuse(IPSEC)),
    ("vrf", Key::Refuse(VRF)),
    ("ipvlan", Key::Refuse(IPVLAN)),
    ("ip-tunnel", Key::Refuse(IP_TUNNEL)),
];

const TEAM: &str = "team devices: nmstate 2 and hostnet have none; use a bond";
const INFINIBAND: &str = "IP over InfiniBand needs InfiniBand hardware; hostnet does not manage it";
const MACSEC: &str = "MACsec key agreement needs wpa_supplicant; hostnet does not run it";
const HSR: &str = "HSR/PRP devices are not supported by hostnet";
const IPSEC: &str = "IPsec connections need Libreswan; hostnet does not manage them";
const XFRM: &str = "xfrm interfaces belong to the IPsec daemon that made them";
const VRF: &str = "VRF devices are not supported by hostnet yet (docs/NMSTATE.md)";
const IPVLAN: &str = "IPVLAN devices are not supported by hostnet yet (docs/NMSTATE.md)";
const IP_TUNNEL: &str = "IP tunnels are not supported by hostnet yet";

/// Sections of nmstate's that hostnet's types do not have: once what is in them is
/// decided, nothing of them is left for the types.
const FOREIGN: &[&str] = &["ethernet", "lldp", "dns-resolver", "hostname"];

/// Interface types nmstate defines that hostnet refuses, with why.
const REFUSED_TYPES: &[(&str, &str)] = &[
    ("team", TEAM),
    ("infiniband", INFINIBAND),
    ("macsec", MACSEC),
    ("hsr", HSR),
    ("ipsec", IPSEC),
    ("xfrm", XFRM),
    ("vrf", VRF),
    ("ipvlan", IPVLAN),
    ("ip-tunnel", IP_TUNNEL),
    (
        "dummy",
        "dummy devices are not supported by hostnet yet (docs/NMSTATE.md)",
    ),
    (
        "tun",
        "hostnet creates tap devices as `type: tap`; tun devices are not managed",
    ),
    (
        "ovs-patch",
        "an Open vSwitch patch port is `type: ovs-interface` with `patch: {peer: NAME}`",
    ),
];

const ETHERNET: &[(&str, Key)] = &[
    ("speed", Key::Refuse(LINK_MODE)),
    ("duplex", Key::Refuse(LINK_MODE)),
    ("auto-negotiation", Key::Refuse(LINK_MODE)),
    (
        "sr-iov",
        Key::Refuse("SR-IOV virtual functions are not managed by hostnet (set sriov_numvfs through sysfs or a udev rule)"),
    ),
];

const LINK_MODE: &str = "link speed, duplex and auto-negotiation are not managed by hostnet (use ethtool or a systemd .link file)";

const LLDP: &[(&str, Key)] = &[
    ("enabled", Key::Check(lldp_enabled)),
    ("neighbors", Key::Ignore(QUERY_ONLY)),
];

const IP: &[(&str, Key)] = &[
    ("enabled", Key::Bool),
    ("dhcp", Key::Bool),
    ("autoconf", Key::Bool),
    ("address", Key::List(ADDRESS)),
    ("auto-dns", Key::Ignore(DHCP_CLIENT)),
    ("auto-gateway", Key::Ignore(DHCP_CLIENT)),
    ("auto-routes", Key::Ignore(DHCP_CLIENT)),
    ("auto-route-table-id", Key::Ignore(DHCP_CLIENT)),
    ("auto-route-metric", Key::Ignore(DHCP_CLIENT)),
    ("dhcp-client-id", Key::Ignore(DHCP_CLIENT)),
    ("dhcp-duid", Key::Ignore(DHCP_CLIENT)),
    ("dhcp-send-hostname", Key::Ignore(DHCP_CLIENT)),
    ("dhcp-custom-hostname", Key::Ignore(DHCP_CLIENT)),
    (
        "allow-extra-address",
        Key::Ignore("hostnet's address list is complete at apply, as nmstate's is; the key only relaxes nmstate's verification"),
    ),
    ("addr-gen-mode", Key::NotYet),
    ("token", Key::NotYet),
];

const ADDRESS: &[(&str, Key)] = &[
    ("ip", Key::Keep),
    ("prefix-length", Key::Int),
    ("valid-life-time", Key::Ignore(QUERY_ONLY)),
    ("preferred-life-time", Key::Ignore(QUERY_ONLY)),
    ("valid-lft", Key::Ignore(QUERY_ONLY)),
    ("preferred-lft", Key::Ignore(QUERY_ONLY)),
    ("mptcp-flags", Key::Ignore(QUERY_ONLY)),
];

const LINUX_BRIDGE: &[(&str, Key)] = &[
    ("options", Key::Map(LINUX_BRIDGE_OPTIONS)),
    ("port", Key::List(LINUX_BRIDGE_PORT)),
    ("ports", Key::Alias("port")),
];

const LINUX_BRIDGE_OPTIONS: &[(&str, Key)] = &[
    ("stp", Key::Map(LINUX_STP)),
    ("mac-ageing-time", Key::Int),
    ("group-forward-mask", Key::Int),
    ("group-fwd-mask", Key::Alias("group-forward-mask")),
    ("group-addr", Key::Keep),
    ("hash-max", Key::Int),
    ("multicast-snooping", Key::Bool),
    ("multicast-router", Key::Keep),
    ("multicast-querier", Key::Bool),
    ("multicast-query-use-ifaddr", Key::Bool),
    ("multicast-last-member-count", Key::Int),
    ("multicast-last-member-interval", Key::Int),
    ("multicast-membership-interval", Key::Int),
    ("multicast-querier-interval", Key::Int),
    ("multicast-query-interval", Key::Int),
    ("multicast-query-response-interval", Key::Int),
    ("multicast-startup-query-count", Key::Int),
    ("multicast-startup-query-interval", Key::Int),
    ("vlan-protocol", Key::Keep),
    ("vlan-default-pvid", Key::Int),
    ("gc-timer", Key::Ignore(QUERY_ONLY)),
    ("hello-timer", Key::Ignore(QUERY_ONLY)),
    ("allow-extra-ports", Key::NotYet),
];

const LINUX_STP: &[(&str, Key)] = &[
    ("enabled", Key::Bool),
    ("forward-delay", Key::Int),
    ("hello-time", Key::Int),
    ("max-age", Key::Int),
    ("priority", Key::Int),
];

const LINUX_BRIDGE_PORT: &[(&str, Key)] = &[
    ("name", Key::Keep),
    ("stp-hairpin-mode", Key::Bool),
    ("stp-path-cost", Key::Int),
    ("stp-priority", Key::Int),
    ("vlan", Key::Map(PORT_VLAN)),
];

const PORT_VLAN: &[(&str, Key)] = &[
    ("mode", Key::Keep),
    ("tag", Key::Int),
    ("enable-native", Key::Bool),
    ("trunk-tags", Key::List(TRUNK_TAG)),
];

const TRUNK_TAG: &[(&str, Key)] = &[("id", Key::Int), ("id-range", Key::Map(ID_RANGE))];

const ID_RANGE: &[(&str, Key)] = &[("min", Key::Int), ("max", Key::Int)];

const OVS_BRIDGE: &[(&str, Key)] = &[
    ("options", Key::Map(OVS_BRIDGE_OPTIONS)),
    ("port", Key::List(OVS_PORT)),
    ("ports", Key::Alias("port")),
    (
        "allow-extra-patch-ports",
        Key::Ignore("hostnet never removes Open vSwitch ports it did not create"),
    ),
];

const OVS_BRIDGE_OPTIONS: &[(&str, Key)] = &[
    ("datapath", Key::Keep),
    ("stp", Key::EnabledOrMap(LINUX_STP)),
    ("rstp", Key::Bool),
    ("mcast-snooping-enable", Key::Bool),
    ("fail-mode", Key::Keep),
    (
        "allow-extra-ports",
        Key::Ignore("hostnet never removes Open vSwitch ports it did not create"),
    ),
];

const OVS_PORT: &[(&str, Key)] = &[
    ("name", Key::Keep),
    ("vlan", Key::Map(PORT_VLAN)),
    ("link-aggregation", Key::Map(OVS_BOND)),
];

const OVS_BOND: &[(&str, Key)] = &[
    ("mode", Key::Keep),
    ("port", Key::List(OVS_BOND_PORT)),
    ("ports", Key::Alias("port")),
    ("bond-updelay", Key::Int),
    ("bond-downdelay", Key::Int),
    ("ovs-db", Key::NotYet),
];

const OVS_BOND_PORT: &[(&str, Key)] = &[("name", Key::Keep)];

const OVS_PATCH: &[(&str, Key)] = &[("peer", Key::Keep)];

const OVS_DB: &[(&str, Key)] = &[("external_ids", Key::Keep), ("other_config", Key::Keep)];

const VLAN: &[(&str, Key)] = &[
    ("base-iface", Key::Keep),
    ("id", Key::Int),
    ("protocol", Key::Keep),
    ("reorder-headers", Key::Bool),
    ("loose-binding", Key::Bool),
    ("registration-protocol", Key::Keep),
];

const VXLAN: &[(&str, Key)] = &[
    ("id", Key::Int),
    ("base-iface", Key::Keep),
    ("remote", Key::Keep),
    ("local", Key::Keep),
    ("destination-port", Key::Int),
    ("learning", Key::Bool),
];

const MACVLAN: &[(&str, Key)] = &[
    ("base-iface", Key::Keep),
    ("mode", Key::Keep),
    ("promiscuous", Key::Bool),
    ("accept-all-mac", Key::Alias("promiscuous")),
];

const BOND: &[(&str, Key)] = &[
    ("mode", Key::Keep),
    ("options", Key::Map(BOND_OPTIONS)),
    ("port", Key::Keep),
    ("ports", Key::Alias("port")),
    ("ports-config", Key::List(BOND_PORTS_CONFIG)),
];

const BOND_PORTS_CONFIG: &[(&str, Key)] = &[
    ("name", Key::Keep),
    ("priority", Key::Int),
    ("queue-id", Key::Int),
];

const BOND_OPTIONS: &[(&str, Key)] = &[
    ("miimon", Key::Int),
    ("updelay", Key::Int),
    ("downdelay", Key::Int),
    ("use_carrier", Key::NotYet),
    ("arp_interval", Key::NotYet),
    ("arp_ip_target", Key::NotYet),
    ("arp_validate", Key::NotYet),
    ("arp_all_targets", Key::NotYet),
    ("arp_missed_max", Key::NotYet),
    ("ns_ip6_target", Key::NotYet),
    ("primary", Key::Keep),
    ("primary_reselect", Key::Keep),
    ("fail_over_mac", Key::Keep),
    ("xmit_hash_policy", Key::Keep),
    ("resend_igmp", Key::Int),
    ("num_grat_arp", Key::Int),
    ("num_unsol_na", Key::NotYet),
    ("all_slaves_active", Key::Keep),
    ("min_links", Key::Int),
    ("lp_interval", Key::NotYet),
    ("packets_per_slave", Key::NotYet),
    ("lacp_rate", Key::Keep),
    ("lacp_active", Key::NotYet),
    ("ad_select", Key::Keep),
    ("ad_actor_sys_prio", Key::Int),
    ("ad_actor_system", Key::NotYet),
    ("ad_user_port_key", Key::Int),
    ("tlb_dynamic_lb", Key::NotYet),
    (
        "balance_slb",
        Key::Refuse("balance-slb is a NetworkManager mode on patched kernels; the bonding driver has no such option"),
    ),
];

fn entry_state(v: &Value) -> Verdict {
    match v.as_str() {
        Some("ignore") => {
            Verdict::Ignore("nmstate's show marks entries it leaves alone so; left alone")
        }
        _ => Verdict::Keep,
    }
}

fn iface_state(v: &Value) -> Verdict {
    match v.as_str() {
        Some("ignore" | "unknown") => {
            Verdict::Ignore("the interface is left alone, as if not listed")
        }
        _ => Verdict::Keep,
    }
}

fn identifier(v: &Value) -> Verdict {
    match v.as_str() {
        Some("name") => Verdict::Ignore("interfaces are named by name (nmstate's default)"),
        _ => Verdict::Refuse(
            "hostnet names interfaces by name only; `hostnet show` lists each name with its MAC address",
        ),
    }
}

fn lldp_enabled(v: &Value) -> Verdict {
    match as_bool(v) {
        Some(false) => Verdict::Ignore("LLDP off: nothing to do"),
        _ => Verdict::Refuse("LLDP needs an agent (lldpd); hostnet does not run one"),
    }
}

fn dispatch(v: &Value) -> Verdict {
    let empty = v.as_mapping().is_none_or(|m| {
        m.values()
            .all(|s| s.is_null() || s.as_str().is_some_and(str::is_empty))
    });
    if empty {
        Verdict::Ignore("no scripts given")
    } else {
        Verdict::Refuse("hostnet runs no scripts on interface events")
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_u64().filter(|n| *n <= 1).map(|n| n == 1),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The walk's findings.
#[derive(Default)]
struct Walk {
    changed: bool,
    /// (key, path, reason) of each ignored key.
    ignored: Vec<(String, String, &'static str)>,
    refused: Vec<String>,
}

impl Walk {
    fn refuse(&mut self, path: &str, message: &str) {
        self.refused.push(format!("{path}: {message}"));
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Runs the pass over the document `text` (which already passed the node budget).
pub(super) fn prepare(text: &str) -> Prepared {
    // A document the YAML parser cannot read is left to the typed parse to report.
    let Ok(mut value) = serde_yaml_ng::from_str::<Value>(text) else {
        return Prepared::default();
    };
    let mut w = Walk::default();
    walk_map(&mut w, "", &mut value, TOP);
    Prepared {
        ignored: group(&w.ignored),
        refused: w.refused,
        value: w.changed.then_some(value),
    }
}

/// Ignored keys, one line per key name (the first path, and how many more).
fn group(ignored: &[(String, String, &'static str)]) -> Vec<String> {
    let mut out: Vec<(String, String, &'static str, usize)> = Vec::new();
    for (key, path, reason) in ignored {
        match out.iter_mut().find(|(k, ..)| k == key) {
            Some(entry) => entry.3 += 1,
            None => out.push((key.clone(), path.clone(), reason, 0)),
        }
    }
    out.into_iter()
        .map(|(_, path, reason, more)| {
            let more = match more {
                0 => String::new(),
                n => format!(" (and {n} more)"),
            };
            format!("{path}{more}: {reason}; ignored")
        })
        .collect()
}

fn walk_interface(w: &mut Walk, path: &str, iface: &mut Value) {
    let Some(map) = iface.as_mapping_mut() else {
        return;
    };
    if left_alone(w, path, map, IFACE) {
        return;
    }
    let ty = map.get("type").and_then(Value::as_str).map(str::to_string);
    if let Some(ty) = ty.as_deref() {
        if let Some((_, why)) = REFUSED_TYPES.iter().find(|(t, _)| *t == ty) {
            w.refuse(&join(path, "type"), &format!("type {ty}: {why}"));
            // Its sections are that type's: nothing more to say about them.
            map.retain(|k, _| k.as_str() == Some("name"));
            w.changed = true;
            return;
        }
        if ty == "unknown" {
            // nmstate's "whatever the kernel has", the same as no type.
            map.shift_remove("type");
            w.changed = true;
        }
    }
    let bridge = match ty.as_deref() {
        Some("ovs-bridge") => OVS_BRIDGE,
        _ => LINUX_BRIDGE,
    };
    let mut table: Vec<(&str, Key)> = IFACE.to_vec();
    table.push(("bridge", Key::Map(bridge)));
    // A veth's section is nmstate's; hostnet's `tap` is its own.
    walk_map(w, path, iface, &table);
}

fn walk_map(w: &mut Walk, path: &str, v: &mut Value, table: &[(&str, Key)]) {
    let Some(map) = v.as_mapping_mut() else {
        return;
    };
    if left_alone(w, path, map, table) {
        return;
    }
    let names: Vec<String> = map
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    for name in names {
        let Some(rule) = table.iter().find(|(n, _)| *n == name).map(|(_, k)| *k) else {
            continue;
        };
        let (name, rule) = match rule {
            Key::Alias(to) => {
                let p = join(path, &name);
                if map.contains_key(to) {
                    let message = format!("{name} is another name of {to}; give one of them");
                    refuse(w, map, &name, &p, &message);
                    continue;
                }
                let Some(value) = map.shift_remove(name.as_str()) else {
                    continue;
                };
                map.insert(Value::String(to.to_string()), value);
                w.changed = true;
                let Some(rule) = table.iter().find(|(n, _)| *n == to).map(|(_, k)| *k) else {
                    continue;
                };
                (to.to_string(), rule)
            }
            other => (name, other),
        };
        decide(w, path, map, &name, rule);
    }
}

/// An entry whose `state` says to leave it alone (`ignore`, `unknown`): only its name
/// and state stay, so that nothing else of it is looked at or applied.
fn left_alone(w: &mut Walk, path: &str, map: &mut Mapping, table: &[(&str, Key)]) -> bool {
    let Some(Key::Check(f)) = table.iter().find(|(n, _)| *n == "state").map(|(_, k)| *k) else {
        return false;
    };
    let Some(state) = map.get("state") else {
        return false;
    };
    let Verdict::Ignore(reason) = f(state) else {
        return false;
    };
    let text = value_text(state);
    map.retain(|k, _| matches!(k.as_str(), Some("name" | "state")));
    map.insert(Value::from("state"), Value::from("ignore"));
    w.changed = true;
    w.ignored
        .push((format!("state: {text}"), join(path, "state"), reason));
    true
}

fn decide(w: &mut Walk, path: &str, map: &mut Mapping, name: &str, rule: Key) {
    let p = join(path, name);
    let Some(value) = map.get_mut(name) else {
        return;
    };
    match rule {
        Key::Keep | Key::Alias(_) => {}
        Key::Int => w.changed |= coerce_int(value),
        Key::Bool => w.changed |= coerce_bool(value),
        Key::IntOrDefault => {
            w.changed |= coerce_int(value);
            if value.as_i64() == Some(-1) {
                map.shift_remove(name);
                w.changed = true;
            }
        }
        Key::Map(t) => {
            walk_map(w, &p, value, t);
            // A section left empty by what was taken out of it says nothing.
            if value.as_mapping().is_some_and(Mapping::is_empty) && FOREIGN.contains(&name) {
                map.shift_remove(name);
                w.changed = true;
            }
        }
        Key::EnabledOrMap(t) => {
            if let Some(b) = as_bool(value) {
                let mut m = Mapping::new();
                m.insert(Value::String("enabled".into()), Value::Bool(b));
                *value = Value::Mapping(m);
                w.changed = true;
            }
            walk_map(w, &p, value, t);
        }
        Key::List(t) => {
            if let Some(items) = value.as_sequence_mut() {
                for (j, item) in items.iter_mut().enumerate() {
                    walk_map(w, &format!("{p}[{j}]"), item, t);
                }
            }
        }
        Key::Interfaces => {
            if let Some(items) = value.as_sequence_mut() {
                for (j, item) in items.iter_mut().enumerate() {
                    walk_interface(w, &format!("{p}[{j}]"), item);
                }
            }
        }
        Key::Ignore(reason) => ignore(w, map, name, p, reason),
        Key::Refuse(message) => refuse(w, map, name, &p, message),
        Key::NotYet => refuse(w, map, name, &p, NOT_YET),
        Key::Check(f) => match f(value) {
            Verdict::Keep => {}
            Verdict::Refuse(message) => refuse(w, map, name, &p, message),
            Verdict::Ignore(reason) => ignore(w, map, name, p, reason),
        },
    }
}

fn value_text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Refuses a key, and takes it out so that the types can still report what else is
/// wrong with the document.
fn refuse(w: &mut Walk, map: &mut Mapping, name: &str, path: &str, message: &str) {
    map.shift_remove(name);
    w.changed = true;
    w.refuse(path, message);
}

fn ignore(w: &mut Walk, map: &mut Mapping, name: &str, path: String, reason: &'static str) {
    map.shift_remove(name);
    w.changed = true;
    w.ignored.push((name.to_string(), path, reason));
}

/// `"1500"` → 1500; true when the value changed.
fn coerce_int(v: &mut Value) -> bool {
    let Some(n) = v.as_str().and_then(|s| s.trim().parse::<i64>().ok()) else {
        return false;
    };
    *v = Value::Number(n.into());
    true
}

/// `"yes"` → true; true when the value changed.
fn coerce_bool(v: &mut Value) -> bool {
    if v.is_bool() {
        return false;
    }
    let Some(b) = as_bool(v) else { return false };
    *v = Value::Bool(b);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(text: &str) -> Prepared {
        prepare(text)
    }

    #[test]
    fn every_refused_key_is_reported_with_its_reason() {
        let p = prep(
            "interfaces:\n- name: eth1\n  type: ethernet\n  ethtool: {feature: {rx-gro: false}}\n  lldp: {enabled: true}\n  mptcp: {address-flags: [signal]}\n- name: ipsec0\n  type: ipsec\n  libreswan: {right: 192.0.2.250}\ndns-resolver:\n  config: {server: [192.0.2.53]}\nhostname:\n  config: hv1.example.org\n",
        );
        let paths: Vec<&str> = p
            .refused
            .iter()
            .map(|l| l.split(": ").next().unwrap_or_default())
            .collect();
        assert_eq!(
            paths,
            [
                "interfaces[0].ethtool",
                "interfaces[0].lldp.enabled",
                "interfaces[0].mptcp",
                "interfaces[1].type",
                "dns-resolver.config",
                "hostname.config",
            ],
            "{:?}",
            p.refused
        );
        assert!(p.refused[3].contains("Libreswan"), "{:?}", p.refused);
    }

    #[test]
    fn ignored_keys_are_removed_and_named_once() {
        let p = prep(
            "interfaces:\n- name: eth1\n  type: ethernet\n  profile-name: x\n  ipv4:\n    auto-dns: true\n    address:\n    - {ip: 192.0.2.1, prefix-length: \"24\", valid-life-time: forever}\n    - {ip: 192.0.2.2, prefix-length: 24, valid-life-time: forever}\nroutes:\n  running: []\n  config: []\n",
        );
        assert!(p.refused.is_empty(), "{:?}", p.refused);
        assert_eq!(
            p.ignored,
            [
                "interfaces[0].profile-name: NetworkManager's connection name; ignored",
                "interfaces[0].ipv4.auto-dns: a DHCP or autoconfiguration client's setting (NetworkManager's); ignored",
                "interfaces[0].ipv4.address[0].valid-life-time (and 1 more): reported by nmstate's show and ignored by its apply; ignored",
                "routes.running: reported by nmstate's show and ignored by its apply; ignored",
            ]
        );
        let v = p.value.expect("rewritten");
        let text = serde_yaml_ng::to_string(&v).expect("yaml");
        assert!(!text.contains("profile-name") && !text.contains("valid-life-time"));
        assert!(text.contains("prefix-length: 24"), "{text}");
    }

    #[test]
    fn aliases_and_defaults_are_normalised() {
        let p = prep(
            "interfaces:\n- name: br0\n  type: linux-bridge\n  bridge: {ports: [{name: eth1}]}\nroutes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-interface: eth1, metric: -1}\n",
        );
        let text = serde_yaml_ng::to_string(&p.value.expect("rewritten")).expect("yaml");
        assert!(text.contains("port:") && !text.contains("ports:"), "{text}");
        assert!(!text.contains("metric"), "{text}");
        let both = prep(
            "interfaces:\n- name: br0\n  type: linux-bridge\n  bridge: {ports: [], port: []}\n",
        );
        assert_eq!(
            both.refused,
            ["interfaces[0].bridge.ports: ports is another name of port; give one of them"]
        );
    }

    #[test]
    fn keys_nmstate_does_not_define_are_left_to_the_types() {
        let p = prep(
            "interfaces:\n- name: eth1\n  type: ethernet\n  colour: red\nnetworks: [{name: a}]\n",
        );
        assert!(p.refused.is_empty() && p.ignored.is_empty() && p.value.is_none());
    }
}
