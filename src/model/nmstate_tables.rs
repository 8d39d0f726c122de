//! The tables of nmstate's schema that `nmstate_keys` walks: for each section, how each
//! key nmstate defines is treated, and the checks that decide a key by its value
//! (docs/NMSTATE.md has the matrix these tables follow).

use serde_yaml_ng::Value;

/// How a key nmstate defines is treated.
#[derive(Clone, Copy)]
pub(super) enum Key {
    /// Carried by hostnet's types, as it is.
    Keep,
    /// Carried; an integer nmstate also accepts as a string.
    Int,
    /// Carried; a boolean nmstate also accepts as a string (`"yes"`, `"0"`, …).
    Bool,
    /// Carried; a name nmstate (and the bonding sysfs) also accepts as the kernel's
    /// number (`xmit_hash_policy: 2`): the number is passed on as a string.
    Text,
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
    /// Decided by its value.
    Check(fn(&Value) -> Verdict),
    /// The `interfaces` list, whose sections depend on each interface's type.
    Interfaces,
}

/// The decision on a key by its value.
pub(super) enum Verdict {
    Keep,
    Ignore(&'static str),
    Refuse(&'static str),
}

const QUERY_ONLY: &str = "reported by nmstate's show and ignored by its apply";
const DHCP_CLIENT: &str = "a DHCP or autoconfiguration client's setting (NetworkManager's)";

pub(super) const TOP: &[(&str, Key)] = &[
    ("interfaces", Key::Interfaces),
    ("routes", Key::Map(ROUTES)),
    ("route-rules", Key::Map(RULES)),
    ("dns-resolver", Key::Map(DNS)),
    ("hostname", Key::Map(HOSTNAME)),
    ("description", Key::Ignore("free text")),
    ("ovs-db", Key::Map(OVS_DB)),
    ("ovn", Key::Map(OVN)),
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
    ("vrf-name", Key::Keep),
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
pub(super) const IFACE: &[(&str, Key)] = &[
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
    ("controller", Key::Keep),
    ("accept-all-mac-addresses", Key::Bool),
    ("copy-mac-from", Key::Keep),
    ("alt-names", Key::Keep),
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
    ("vrf", Key::Map(VRF_KEYS)),
    ("ipvlan", Key::Map(IPVLAN_KEYS)),
    ("ip-tunnel", Key::Refuse(IP_TUNNEL)),
];

const TEAM: &str = "team devices: nmstate 2 and hostnet have none; use a bond";
const INFINIBAND: &str = "IP over InfiniBand needs InfiniBand hardware; hostnet does not manage it";
const MACSEC: &str = "MACsec key agreement needs wpa_supplicant; hostnet does not run it";
const HSR: &str = "HSR/PRP devices are not supported by hostnet";
const IPSEC: &str = "IPsec connections need Libreswan; hostnet does not manage them";
const XFRM: &str = "xfrm interfaces belong to the IPsec daemon that made them";
const IP_TUNNEL: &str = "IP tunnels are not supported by hostnet yet";

/// Sections of nmstate's that hostnet's types do not have: once what is in them is
/// decided, nothing of them is left for the types.
pub(super) const FOREIGN: &[&str] = &["ethernet", "lldp", "dns-resolver", "hostname"];

/// Interface types nmstate defines that hostnet refuses, with why.
pub(super) const REFUSED_TYPES: &[(&str, &str)] = &[
    ("team", TEAM),
    ("infiniband", INFINIBAND),
    ("macsec", MACSEC),
    ("hsr", HSR),
    ("ipsec", IPSEC),
    ("xfrm", XFRM),
    ("ip-tunnel", IP_TUNNEL),
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
    ("addr-gen-mode", Key::Keep),
    ("token", Key::Keep),
];

const ADDRESS: &[(&str, Key)] = &[
    ("ip", Key::Keep),
    ("prefix-length", Key::Int),
    ("valid-life-time", Key::Ignore(QUERY_ONLY)),
    ("preferred-life-time", Key::Ignore(QUERY_ONLY)),
    ("valid-lft", Key::Ignore(QUERY_ONLY)),
    ("preferred-lft", Key::Ignore(QUERY_ONLY)),
    ("valid-left", Key::Ignore(QUERY_ONLY)),
    ("preferred-left", Key::Ignore(QUERY_ONLY)),
    ("mptcp-flags", Key::Ignore(QUERY_ONLY)),
];

pub(super) const LINUX_BRIDGE: &[(&str, Key)] = &[
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
    ("allow-extra-ports", Key::Bool),
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

pub(super) const OVS_BRIDGE: &[(&str, Key)] = &[
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
    ("ovs-db", Key::Map(OVS_DB)),
];

const OVS_BOND_PORT: &[(&str, Key)] = &[("name", Key::Keep)];

const OVS_PATCH: &[(&str, Key)] = &[("peer", Key::Keep)];

const OVS_DB: &[(&str, Key)] = &[("external_ids", Key::Keep), ("other_config", Key::Keep)];

const OVN: &[(&str, Key)] = &[("bridge-mappings", Key::List(OVN_MAPPING))];

const OVN_MAPPING: &[(&str, Key)] = &[
    ("localnet", Key::Keep),
    ("bridge", Key::Keep),
    ("state", Key::Keep),
];

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

const IPVLAN_KEYS: &[(&str, Key)] = &[
    ("base-iface", Key::Keep),
    ("mode", Key::Keep),
    ("private", Key::Bool),
    ("vepa", Key::Bool),
];

const VRF_KEYS: &[(&str, Key)] = &[
    ("port", Key::Keep),
    ("ports", Key::Alias("port")),
    ("route-table-id", Key::Int),
    (
        "ports-config",
        Key::Refuse("VRF ports by MAC address or profile are NetworkManager's; list their names in vrf.port"),
    ),
];

const BOND: &[(&str, Key)] = &[
    ("mode", Key::Text),
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
    ("use_carrier", Key::Bool),
    ("arp_interval", Key::Int),
    ("arp_ip_target", Key::Keep),
    ("arp_validate", Key::Text),
    ("arp_all_targets", Key::Text),
    ("arp_missed_max", Key::Int),
    ("ns_ip6_target", Key::Keep),
    ("primary", Key::Keep),
    ("primary_reselect", Key::Text),
    ("fail_over_mac", Key::Text),
    ("xmit_hash_policy", Key::Text),
    ("resend_igmp", Key::Int),
    ("num_grat_arp", Key::Int),
    ("num_unsol_na", Key::Int),
    ("all_slaves_active", Key::Text),
    ("min_links", Key::Int),
    ("lp_interval", Key::Int),
    ("packets_per_slave", Key::Int),
    ("lacp_rate", Key::Text),
    ("lacp_active", Key::Bool),
    ("ad_select", Key::Text),
    ("ad_actor_sys_prio", Key::Int),
    ("ad_actor_system", Key::Keep),
    ("ad_user_port_key", Key::Int),
    ("tlb_dynamic_lb", Key::Bool),
    (
        "balance_slb",
        Key::Refuse("balance-slb is a NetworkManager mode on patched kernels; the bonding driver has no such option"),
    ),
    ("balance-slb", Key::Alias("balance_slb")),
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

pub(super) fn as_bool(v: &Value) -> Option<bool> {
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

/// The tables whose ignored keys and aliases the input's JSON Schema lists (so that
/// editors take what `apply` takes), by the schema definition of the type each one
/// describes (`""`: the document itself).
pub(super) const SCHEMA_TABLES: &[(&str, &[(&str, Key)])] = &[
    ("", TOP),
    ("InterfaceSpec", IFACE),
    ("IpSpec", IP),
    ("AddressSpec", ADDRESS),
    ("RoutesSpec", ROUTES),
    ("RouteSpec", ROUTE),
    ("RuleSpec", RULE),
    ("BridgeSpec", LINUX_BRIDGE),
    ("BridgeOptionsSpec", LINUX_BRIDGE_OPTIONS),
    ("PortSpec", LINUX_BRIDGE_PORT),
    ("LinkAggregationSpec", BOND),
];
