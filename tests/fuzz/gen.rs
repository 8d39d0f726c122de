//! Desired states over the fuzz sandbox, and the transitions between them.
//!
//! A [`Doc`] is one input file in a small vocabulary of our own (rendered to YAML by
//! [`Doc::to_yaml`]), over a fixed pool: three uplink networks on three NICs (veths into
//! router namespaces), two guest networks (a veth into a guest namespace each), an extra
//! veth pair under `interfaces`, user routes and rules. [`next`] draws the file after a
//! given [`Effective`] state (what the host holds after the files so far, with partial
//! editing: a network the file does not list stays as it was), so every file is valid
//! and applicable on its own terms. [`simpler`] lists smaller variants for shrinking.
//!
//! Known bug classes have a switch each ([`Bug`]): while a class is off, the generator
//! never makes the change that triggers it, so a bounded run stays green until the fix
//! lands and the class is turned on.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

pub use super::next::{next, WalkConsts};
pub use super::shrink::{admissible, simpler};

/// The NICs (veths whose peers are in routers `r0`..`r2`).
pub const NICS: [&str; 3] = ["fznic0", "fznic1", "fznic2"];
/// The uplink networks' names (pool indexes 0..3) and the guest networks' (3..5).
pub const NETS: [&str; 5] = ["fza", "fzb", "fzc", "fzg", "fzh"];
/// The guest networks' uplinks: veths whose peers are `eth0` in guests `g0`, `g1`.
pub const GUEST_PORTS: [&str; 2] = ["fzgst0", "fzgst1"];
/// The extra veth pair under `interfaces`.
pub const XV: [&str; 2] = ["fzxv0", "fzxv1"];
/// A user route's table, and the tables user rules look up.
pub const USER_TABLES: [u32; 2] = [500, 501];

/// Known bug classes (issue 12), each with a switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// Removing or replacing an address of a present network (routes depend on it).
    Renumber,
    /// Two addresses of one family in one subnet on one network.
    SameSubnet,
    /// `{name: X, state: absent}` without repeating bridge, uplink and table.
    RemoveByName,
    /// A network's uplink changes to another NIC.
    UplinkMove,
    /// The rule priority (per network or in `settings`) changes.
    RulePriority,
    /// A network listed without the firewall or DHCP server section it has.
    PartialSections,
    /// A NAT'd guest reaching the uplink network's own subnet.
    NatUplinkSubnet,
    /// NEW (fuzzer finding F2): a present network switching between bridged and
    /// bridgeless.
    BridgedToggle,
    /// NEW (finding F4): a removed bridgeless network leaves its addresses on its NIC, so
    /// a bridged network on that NIC is refused later; off, no bridged network is put on
    /// such a NIC.
    AbsentLeavesAddresses,
    /// Finding F5, fixed (the model follows the kernel's bridge MTU rule): a new bridge
    /// without `mtu` on a NIC whose MTU is not 1500 (the kernel gives it the port's MTU,
    /// the model gave 1500); off, bridged uplink networks always give their MTU.
    BridgeMtuInherit,
    /// NEW (finding F7): renaming a present network's bridge (`bridge:` changed) leaves
    /// the old bridge; off, a network keeps its bridge's name while present.
    BridgeRename,
    /// NEW (finding F8), a check: a bridge whose last port left has MAC 00:00:00:00:00:00
    /// in the kernel, the model keeps the old one; off, that difference is ignored.
    EmptyBridgeMac,
    /// NEW (finding F9): a bridgeless network removed and another network taking its
    /// NIC in the same file; off, a NIC freed that way is taken one file later.
    BridgelessHandover,
    /// NEW (finding F3), a check rather than a change: the model gives a link it creates
    /// no per-interface sysctls (`forwarding`, `accept_ra`), which the kernel does; off,
    /// the comparison ignores sysctls the model lacks.
    NewLinkSysctls,
}

impl Bug {
    pub const ALL: [Bug; 14] = [
        Bug::Renumber,
        Bug::SameSubnet,
        Bug::RemoveByName,
        Bug::UplinkMove,
        Bug::RulePriority,
        Bug::PartialSections,
        Bug::NatUplinkSubnet,
        Bug::BridgedToggle,
        Bug::NewLinkSysctls,
        Bug::AbsentLeavesAddresses,
        Bug::BridgeMtuInherit,
        Bug::BridgeRename,
        Bug::EmptyBridgeMac,
        Bug::BridgelessHandover,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::Renumber => "renumber",
            Bug::SameSubnet => "same-subnet",
            Bug::RemoveByName => "remove-by-name",
            Bug::UplinkMove => "uplink-move",
            Bug::RulePriority => "rule-priority",
            Bug::PartialSections => "partial-sections",
            Bug::NatUplinkSubnet => "nat-uplink-subnet",
            Bug::BridgedToggle => "bridged-toggle",
            Bug::NewLinkSysctls => "new-link-sysctls",
            Bug::AbsentLeavesAddresses => "absent-leaves-addresses",
            Bug::BridgeMtuInherit => "bridge-mtu-inherit",
            Bug::BridgeRename => "bridge-rename",
            Bug::EmptyBridgeMac => "empty-bridge-mac",
            Bug::BridgelessHandover => "bridgeless-handover",
        }
    }
}

/// The bug classes a run exercises when `HOSTNET_FUZZ_BUGS` is not set: each class here
/// once its fix is merged (all of them now).
pub const ENABLED_BY_DEFAULT: &[Bug] = &[
    Bug::Renumber,
    Bug::SameSubnet,
    Bug::RemoveByName,
    Bug::UplinkMove,
    Bug::RulePriority,
    Bug::PartialSections,
    Bug::NatUplinkSubnet,
    Bug::BridgedToggle,
    Bug::NewLinkSysctls,
    Bug::AbsentLeavesAddresses,
    Bug::BridgeMtuInherit,
    Bug::BridgeRename,
    Bug::EmptyBridgeMac,
    Bug::BridgelessHandover,
];

/// What the generator may produce.
#[derive(Clone, Debug)]
pub struct Switches {
    pub bugs: BTreeSet<Bug>,
    /// DHCP servers (needs dnsmasq).
    pub dhcp: bool,
}

impl Switches {
    /// `HOSTNET_FUZZ_BUGS`: `all`, `none`, or a comma-separated list of [`Bug::name`]s;
    /// unset: [`ENABLED_BY_DEFAULT`].
    pub fn from_env(dhcp: bool) -> Switches {
        let bugs = match std::env::var("HOSTNET_FUZZ_BUGS") {
            Err(_) => ENABLED_BY_DEFAULT.iter().copied().collect(),
            Ok(v) if v == "all" => Bug::ALL.into_iter().collect(),
            Ok(v) => v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "none")
                .map(|s| {
                    Bug::ALL
                        .into_iter()
                        .find(|b| b.name() == s)
                        .unwrap_or_else(|| panic!("HOSTNET_FUZZ_BUGS: unknown bug class {s:?}"))
                })
                .collect(),
        };
        Switches { bugs, dhcp }
    }

    pub fn on(&self, b: Bug) -> bool {
        self.bugs.contains(&b)
    }

    pub fn describe(&self) -> String {
        let on: Vec<&str> = self.bugs.iter().map(|b| b.name()).collect();
        format!(
            "bug classes on: [{}]; DHCP servers: {}",
            on.join(", "),
            if self.dhcp { "on" } else { "off" }
        )
    }
}

/// A network's firewall section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fw {
    /// The out-interface (a device of an uplink network).
    pub masquerade: Option<String>,
    pub isolate: bool,
}

/// One network as a file describes it. Addresses are (subnet, host) in the network's
/// own ranges (see [`v4`], [`v6`]); a gateway is `.1` (`::1`) of one of its subnets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Net {
    /// Index into [`NICS`] (uplink networks) or [`GUEST_PORTS`] (guest networks).
    pub uplink: usize,
    pub bridged: bool,
    pub bridge: Option<String>,
    pub mtu: Option<u32>,
    pub v4: Vec<(u8, u8)>,
    pub gw4: Option<u8>,
    pub v6: Vec<(u8, u8)>,
    pub gw6: Option<u8>,
    pub default_route: bool,
    pub table: Option<u32>,
    pub priority: Option<u32>,
    pub source_routing_off: bool,
    pub firewall: Option<Fw>,
    /// A DHCP server; `true`: with a dynamic range.
    pub dhcp: Option<bool>,
}

/// The third octet space of pool network `i`: uplink networks 10.1-3.S.H, guests
/// 10.200-201.S.H.
fn octet(i: usize) -> usize {
    if i < 3 {
        i + 1
    } else {
        200 + i - 3
    }
}

/// `10.N.S.H/24` of pool network `i`.
pub fn v4(i: usize, (s, h): (u8, u8)) -> String {
    format!("10.{}.{s}.{h}/24", octet(i))
}

/// `fd00:N:S::H/64` of pool network `i`.
pub fn v6(i: usize, (s, h): (u8, u8)) -> String {
    format!("fd00:{}:{s}::{h:x}/64", octet(i))
}

pub fn ip_of(cidr: &str) -> &str {
    cidr.split('/').next().unwrap_or(cidr)
}

impl Net {
    /// The device that carries the network's addresses.
    pub fn device(&self, i: usize) -> String {
        match (self.bridged, &self.bridge) {
            (true, Some(b)) => b.clone(),
            (true, None) => NETS[i].to_string(),
            (false, _) => self.uplink_name(i).to_string(),
        }
    }

    pub fn uplink_name(&self, i: usize) -> &'static str {
        if i < 3 {
            NICS[self.uplink]
        } else {
            GUEST_PORTS[self.uplink]
        }
    }

    fn to_value(&self, i: usize) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), json!(NETS[i]));
        m.insert("uplink".into(), json!(self.uplink_name(i)));
        if !self.bridged {
            m.insert("bridged".into(), json!(false));
        }
        if let (true, Some(b)) = (self.bridged, &self.bridge) {
            m.insert("bridge".into(), json!(b));
        }
        if let Some(mtu) = self.mtu {
            m.insert("mtu".into(), json!(mtu));
        }
        let fam = |addrs: &[(u8, u8)], gw: Option<u8>, f: fn(usize, (u8, u8)) -> String| {
            let mut f_m = Map::new();
            f_m.insert(
                "address".into(),
                json!(addrs.iter().map(|a| f(i, *a)).collect::<Vec<_>>()),
            );
            if let Some(s) = gw {
                f_m.insert("gateway".into(), json!(ip_of(&f(i, (s, 1)))));
            }
            Value::Object(f_m)
        };
        if !self.v4.is_empty() {
            m.insert("ipv4".into(), fam(&self.v4, self.gw4, v4));
        }
        if !self.v6.is_empty() {
            m.insert("ipv6".into(), fam(&self.v6, self.gw6, v6));
        }
        if self.default_route {
            m.insert("default-route".into(), json!(true));
        }
        let mut sr = Map::new();
        if self.source_routing_off {
            sr.insert("enabled".into(), json!(false));
        }
        if let Some(t) = self.table {
            sr.insert("table".into(), json!(t));
        }
        if let Some(p) = self.priority {
            sr.insert("priority".into(), json!(p));
        }
        if !sr.is_empty() {
            m.insert("source-routing".into(), Value::Object(sr));
        }
        if let Some(fw) = &self.firewall {
            let mut f = Map::new();
            if let Some(out) = &fw.masquerade {
                f.insert("masquerade".into(), json!({ "out-interface": out }));
            }
            if fw.isolate {
                f.insert("isolate".into(), json!(true));
            }
            m.insert("firewall".into(), Value::Object(f));
        }
        if let Some(range) = self.dhcp {
            let o = octet(i);
            let mut d = Map::new();
            if range {
                d.insert(
                    "range".into(),
                    json!({"start": format!("10.{o}.0.100"), "end": format!("10.{o}.0.150")}),
                );
            }
            d.insert("ping-check".into(), json!(false));
            m.insert("dhcp-server".into(), Value::Object(d));
        }
        m
    }
}

/// A network's entry in a file (not listed: [`Doc::nets`] has no entry for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Present(Net),
    /// `state: absent`, by name alone (`None`) or repeating the network (the workaround
    /// while [`Bug::RemoveByName`] is off).
    Absent(Option<Net>),
}

/// The extra veth pair's entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Xv {
    Present { mtu: Option<u32>, v6: bool },
    Absent,
}

/// A user route `10.252.D.0/24 via 10.250.0.2 dev fzxv0` (or its absent wildcard by
/// destination).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct URoute {
    pub dst: u8,
    pub table: Option<u32>,
    pub metric: Option<u32>,
    pub absent: bool,
}

/// A user rule: `from 10.250.0.0/24` or `fwmark 0x10/0xff`, or its absent wildcard by
/// priority.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct URule {
    pub fwmark: bool,
    pub priority: u32,
    pub table: u32,
    pub absent: bool,
}

/// One input file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Doc {
    /// Listed networks by pool index, in file order.
    pub nets: Vec<(usize, Entry)>,
    pub xv: Option<Xv>,
    pub routes: Vec<URoute>,
    pub rules: Vec<URule>,
    /// `settings.source-routing.priority`.
    pub priority: Option<u32>,
}

impl Doc {
    pub fn to_yaml(&self) -> String {
        let mut top = Map::new();
        if let Some(xv) = &self.xv {
            let mut i = Map::new();
            i.insert("name".into(), json!(XV[0]));
            i.insert("type".into(), json!("veth"));
            match xv {
                Xv::Absent => {
                    i.insert("state".into(), json!("absent"));
                }
                Xv::Present { mtu, v6 } => {
                    i.insert("state".into(), json!("up"));
                    if let Some(m) = mtu {
                        i.insert("mtu".into(), json!(m));
                    }
                    i.insert("veth".into(), json!({"peer": XV[1]}));
                    i.insert(
                        "ipv4".into(),
                        json!({"enabled": true, "address": [{"ip": "10.250.0.1", "prefix-length": 24}]}),
                    );
                    if *v6 {
                        i.insert(
                            "ipv6".into(),
                            json!({"enabled": true, "address": [{"ip": "fd00:250::1", "prefix-length": 64}]}),
                        );
                    }
                }
            }
            top.insert("interfaces".into(), json!([Value::Object(i)]));
        }
        if !self.routes.is_empty() {
            let config: Vec<Value> = self.routes.iter().map(route_value).collect();
            top.insert("routes".into(), json!({ "config": config }));
        }
        if !self.rules.is_empty() {
            let config: Vec<Value> = self.rules.iter().map(rule_value).collect();
            top.insert("route-rules".into(), json!({ "config": config }));
        }
        if !self.nets.is_empty() {
            let nets: Vec<Value> = self
                .nets
                .iter()
                .map(|(i, e)| match e {
                    Entry::Present(n) => Value::Object(n.to_value(*i)),
                    Entry::Absent(None) => json!({"name": NETS[*i], "state": "absent"}),
                    Entry::Absent(Some(n)) => {
                        // What finds the network's objects: its devices and table.
                        let full = n.to_value(*i);
                        let mut m = Map::new();
                        m.insert("name".into(), json!(NETS[*i]));
                        m.insert("state".into(), json!("absent"));
                        for key in ["uplink", "bridged", "bridge"] {
                            if let Some(v) = full.get(key) {
                                m.insert(key.into(), v.clone());
                            }
                        }
                        if let Some(t) = n.table {
                            m.insert("source-routing".into(), json!({ "table": t }));
                        }
                        Value::Object(m)
                    }
                })
                .collect();
            top.insert("networks".into(), Value::Array(nets));
        }
        if let Some(p) = self.priority {
            top.insert(
                "settings".into(),
                json!({"source-routing": {"priority": p}}),
            );
        }
        if top.is_empty() {
            return "{}\n".into();
        }
        serde_yaml_ng::to_string(&Value::Object(top)).expect("YAML")
    }
}

fn route_value(r: &URoute) -> Value {
    let mut m = Map::new();
    m.insert(
        "destination".into(),
        json!(format!("10.252.{}.0/24", r.dst)),
    );
    if r.absent {
        m.insert("state".into(), json!("absent"));
        return Value::Object(m);
    }
    m.insert("next-hop-address".into(), json!("10.250.0.2"));
    m.insert("next-hop-interface".into(), json!(XV[0]));
    if let Some(t) = r.table {
        m.insert("table-id".into(), json!(t));
    }
    if let Some(x) = r.metric {
        m.insert("metric".into(), json!(x));
    }
    Value::Object(m)
}

fn rule_value(r: &URule) -> Value {
    let mut m = Map::new();
    if r.absent {
        m.insert("priority".into(), json!(r.priority));
        m.insert("state".into(), json!("absent"));
        return Value::Object(m);
    }
    if r.fwmark {
        m.insert("family".into(), json!("ipv4"));
        m.insert("fwmark".into(), json!("0x10"));
        m.insert("fwmask".into(), json!("0xff"));
    } else {
        m.insert("ip-from".into(), json!("10.250.0.0/24"));
    }
    m.insert("priority".into(), json!(r.priority));
    m.insert("route-table".into(), json!(r.table));
    Value::Object(m)
}

/// What the host holds after a sequence of files, in the generator's vocabulary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effective {
    pub nets: [Option<Net>; 5],
    pub xv: Option<(Option<u32>, bool)>,
    /// (destination, table, metric) of user routes present.
    pub routes: BTreeSet<(u8, Option<u32>, Option<u32>)>,
    /// (fwmark, priority, table) of user rules present.
    pub rules: BTreeSet<(bool, u32, u32)>,
    /// Uplinks (pool index of the network kind: 0..3 NICs, 3..5 guest ports) that kept
    /// the addresses of a bridgeless network removed from them (finding F4).
    pub stale: BTreeSet<usize>,
}

/// The key of a network's uplink in [`Effective::stale`].
pub fn uplink_key(i: usize, n: &Net) -> usize {
    if i < 3 {
        n.uplink
    } else {
        3 + n.uplink
    }
}

impl Effective {
    /// The state after `doc` is applied to `self`.
    pub fn after(&self, doc: &Doc) -> Effective {
        let mut e = self.clone();
        for (i, entry) in &doc.nets {
            if let (Some(prev), Entry::Absent(_)) = (&e.nets[*i], entry) {
                if !prev.bridged && !prev.v4.is_empty() {
                    e.stale.insert(uplink_key(*i, prev));
                }
            }
            if let Entry::Present(n) = entry {
                if !n.bridged {
                    e.stale.remove(&uplink_key(*i, n));
                }
            }
            e.nets[*i] = match entry {
                Entry::Present(n) => Some(n.clone()),
                Entry::Absent(_) => None,
            };
        }
        match &doc.xv {
            Some(Xv::Present { mtu, v6 }) => {
                let mtu = mtu.or(e.xv.and_then(|x| x.0));
                e.xv = Some((mtu, *v6));
            }
            Some(Xv::Absent) => e.xv = None,
            None => {}
        }
        for r in &doc.routes {
            if r.absent {
                e.routes.retain(|x| x.0 != r.dst);
            } else {
                e.routes.insert((r.dst, r.table, r.metric));
            }
        }
        if e.xv.is_none() {
            // The kernel drops the routes through a device it deletes.
            e.routes.clear();
        }
        for r in &doc.rules {
            if r.absent {
                e.rules.retain(|x| x.1 != r.priority);
            } else {
                e.rules.insert((r.fwmark, r.priority, r.table));
            }
        }
        e
    }

    /// The uplink network carrying the host's default route, if any.
    pub fn default_net(&self) -> Option<usize> {
        (0..3).find(|i| self.nets[*i].as_ref().is_some_and(|n| n.default_route))
    }
}
