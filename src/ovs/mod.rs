//! Open vSwitch: bridges and ports in OVSDB, as a section of the kernel state with its
//! own ops, so that plan, journal, verify, rollback and dry run cover it like links.
//!
//! hostnet talks to OVSDB through `ovs-vsctl` ([`vsctl`]): every phase of OVS ops is one
//! `ovs-vsctl` invocation, i.e. one OVSDB transaction, so it is applied whole or not at
//! all. The database is `unix:/var/run/openvswitch/db.sock` unless `HOSTNET_OVSDB` names
//! another (`unix:PATH` or `tcp:…`), which is how tests use private daemons.
//!
//! A port is modelled with its one interface (OVS's usual case): the VLAN settings
//! (`vlan_mode`, `tag`, `trunks`) live in the Port table, `type=internal` and
//! `external_ids` (`iface-id`, `attached-mac`, `vm-uuid`, as hypervisors set them) in the
//! Interface table. A bridge's options (STP, RSTP, multicast snooping, fail mode) are
//! Bridge columns and `other_config` keys.

#[cfg(test)]
mod bond_tests;
mod display;
mod maps;
pub use maps::{GlobalColumn, OvsGlobal, RowTable};
#[cfg(test)]
mod options_tests;
#[cfg(test)]
mod patch_tests;
mod rows;
pub use display::trunks_text;
#[cfg(test)]
mod tests;
pub mod vsctl;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Why talking to Open vSwitch failed.
#[derive(Debug, thiserror::Error)]
pub enum OvsError {
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ovs-vsctl failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("cannot read ovs-vsctl's answer: {0}")]
    Decode(String),
}

impl OvsError {
    /// Whether the error says that no database answers (rather than that it refused).
    pub fn is_unreachable(&self) -> bool {
        match self {
            OvsError::Spawn { .. } => true,
            OvsError::Failed { stderr, .. } => stderr.contains("database connection failed"),
            OvsError::Decode(_) => false,
        }
    }
}

/// One port (and its interface).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OvsPort {
    /// Port.tag: the access VLAN, or the native VLAN of a `native-*` port.
    pub tag: Option<u16>,
    /// Port.vlan_mode (`access`, `trunk`, `native-untagged`, `native-tagged`,
    /// `dot1q-tunnel`); `None`: empty, which OVS reads as access with a tag, else trunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_mode: Option<String>,
    /// Port.trunks: the VLANs a trunk carries (empty: all of them).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub trunks: BTreeSet<u16>,
    /// `type=internal`: OVS makes the network device itself.
    pub internal: bool,
    /// `type=patch` with `options:peer`: a patch port (no network device) to the patch
    /// port of that name, normally on another bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_peer: Option<String>,
    /// An OVS bond: the port's interfaces are these member devices (the port itself has
    /// no device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond: Option<OvsBond>,
    /// Interface.external_ids.
    pub external_ids: BTreeMap<String, String>,
    /// Interface.other_config.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_config: BTreeMap<String, String>,
    /// hostnet created the port (it marks its Port rows with [`MANAGED_KEY`]): only such
    /// ports leave a bridge because a file no longer lists them.
    #[serde(default)]
    pub managed: bool,
    /// What the port carries that hostnet does not model (an interface type such as
    /// `patch` or `vxlan`, several interfaces), which a delete could not take
    /// back: hostnet refuses to delete such a port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmodelled: Option<String>,
}

/// An OVS bond's members and settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OvsBond {
    /// The member interfaces (existing devices), by name.
    pub members: BTreeSet<String>,
    /// Port.bond_mode; `None`: empty, which OVS reads as active-backup.
    pub mode: Option<String>,
    /// Port.lacp; `None`: empty, which OVS reads as off.
    pub lacp: Option<String>,
    /// Port.bond_updelay, milliseconds.
    pub updelay: u32,
    /// Port.bond_downdelay, milliseconds.
    pub downdelay: u32,
    /// Port.external_ids but hostnet's own [`MANAGED_KEY`] (nmstate's `ovs-db` of the bond).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_ids: BTreeMap<String, String>,
    /// Port.other_config (`bond-detect-mode`, `lacp-time`, … : nmstate's `ovs-db`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_config: BTreeMap<String, String>,
}

impl OvsBond {
    /// The bond mode and LACP setting OVS applies.
    pub fn effective(&self) -> (&str, &str) {
        (
            self.mode.as_deref().unwrap_or("active-backup"),
            self.lacp.as_deref().unwrap_or("off"),
        )
    }
}

/// What a file says of a bond; `None`: not mentioned (kept as it is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OvsBondIntent {
    pub members: BTreeSet<String>,
    /// Port.bond_mode and Port.lacp.
    pub mode: Option<(Option<String>, Option<String>)>,
    pub updelay: Option<u32>,
    pub downdelay: Option<u32>,
    /// The Port row's maps (`ovs-db`): complete when given, kept when not.
    pub external_ids: Option<BTreeMap<String, String>>,
    pub other_config: Option<BTreeMap<String, String>>,
}

impl OvsBondIntent {
    /// The bond `have` becomes (a new bond: `have` is `None`).
    pub fn merged(&self, have: Option<&OvsBond>) -> OvsBond {
        let base = have.cloned().unwrap_or_default();
        let mut b = OvsBond {
            members: self.members.clone(),
            updelay: self.updelay.unwrap_or(base.updelay),
            downdelay: self.downdelay.unwrap_or(base.downdelay),
            external_ids: self
                .external_ids
                .clone()
                .unwrap_or_else(|| base.external_ids.clone()),
            other_config: self
                .other_config
                .clone()
                .unwrap_or_else(|| base.other_config.clone()),
            ..base.clone()
        };
        if let Some((mode, lacp)) = &self.mode {
            let want = OvsBond {
                mode: mode.clone(),
                lacp: lacp.clone(),
                ..OvsBond::default()
            };
            // Settings that OVS reads alike stay as they are written.
            if want.effective() != base.effective() || have.is_none() {
                b.mode = want.mode;
                b.lacp = want.lacp;
            }
        }
        b
    }
}

impl OvsPort {
    /// The VLAN mode OVS applies: an empty `vlan_mode` is access with a tag, else trunk.
    pub fn effective_vlan_mode(&self) -> &str {
        match (&self.vlan_mode, self.tag) {
            (Some(m), _) => m,
            (None, Some(_)) => "access",
            (None, None) => "trunk",
        }
    }

    /// Whether the two carry VLANs alike (an empty `vlan_mode` and the mode OVS reads
    /// for it are the same).
    pub fn same_vlans(&self, other: &OvsPort) -> bool {
        self.effective_vlan_mode() == other.effective_vlan_mode()
            && self.tag == other.tag
            && self.trunks == other.trunks
    }
}

/// A bridge's options: Bridge.stp_enable, rstp_enable, mcast_snooping_enable, fail_mode
/// and the STP keys of Bridge.other_config (`None`: not set, OVS's default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OvsBridgeOptions {
    pub stp: bool,
    pub rstp: bool,
    pub mcast_snooping: bool,
    /// `standalone` or `secure`; `None`: empty (OVS behaves as standalone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_mode: Option<String>,
    /// other_config:stp-forward-delay, seconds (4-30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stp_forward_delay: Option<u32>,
    /// other_config:stp-hello-time, seconds (1-10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stp_hello_time: Option<u32>,
    /// other_config:stp-max-age, seconds (6-40).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stp_max_age: Option<u32>,
    /// other_config:stp-priority (0-65535).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stp_priority: Option<u32>,
    /// Bridge.external_ids (nmstate's `ovs-db` of the bridge).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub external_ids: BTreeMap<String, String>,
    /// Bridge.other_config but the STP keys above (nmstate's `ovs-db` of the bridge).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub other_config: BTreeMap<String, String>,
}

/// The Bridge.other_config keys that `bridge.options.stp` carries.
pub const STP_KEYS: [&str; 4] = [
    "stp-forward-delay",
    "stp-hello-time",
    "stp-max-age",
    "stp-priority",
];

impl OvsBridgeOptions {
    /// The other_config keys of the STP timers, with their values.
    pub fn stp_keys(&self) -> [(&'static str, Option<u32>); 4] {
        [
            ("stp-forward-delay", self.stp_forward_delay),
            ("stp-hello-time", self.stp_hello_time),
            ("stp-max-age", self.stp_max_age),
            ("stp-priority", self.stp_priority),
        ]
    }
}

/// What a file says of a bridge's options; `None`: not mentioned (kept as it is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OvsBridgeOptionsIntent {
    pub stp: Option<bool>,
    pub rstp: Option<bool>,
    pub mcast_snooping: Option<bool>,
    /// `Some(None)`: clear the fail mode (`fail-mode: ""`).
    pub fail_mode: Option<Option<String>>,
    pub stp_forward_delay: Option<u32>,
    pub stp_hello_time: Option<u32>,
    pub stp_max_age: Option<u32>,
    pub stp_priority: Option<u32>,
    /// The bridge's `ovs-db` maps: complete when given, kept when not.
    pub external_ids: Option<BTreeMap<String, String>>,
    pub other_config: Option<BTreeMap<String, String>>,
}

impl OvsBridgeOptionsIntent {
    /// `have` with the mentioned options changed.
    pub fn merged(&self, have: &OvsBridgeOptions) -> OvsBridgeOptions {
        OvsBridgeOptions {
            stp: self.stp.unwrap_or(have.stp),
            rstp: self.rstp.unwrap_or(have.rstp),
            mcast_snooping: self.mcast_snooping.unwrap_or(have.mcast_snooping),
            fail_mode: self.fail_mode.clone().unwrap_or(have.fail_mode.clone()),
            stp_forward_delay: self.stp_forward_delay.or(have.stp_forward_delay),
            stp_hello_time: self.stp_hello_time.or(have.stp_hello_time),
            stp_max_age: self.stp_max_age.or(have.stp_max_age),
            stp_priority: self.stp_priority.or(have.stp_priority),
            external_ids: self
                .external_ids
                .clone()
                .unwrap_or_else(|| have.external_ids.clone()),
            other_config: self
                .other_config
                .clone()
                .unwrap_or_else(|| have.other_config.clone()),
        }
    }
}

/// The key in Port.external_ids that marks a port hostnet created.
pub const MANAGED_KEY: &str = "hostnet-created";

/// One bridge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OvsBridge {
    /// Bridge.datapath_type (`netdev` for the userspace datapath; `None`: system).
    pub datapath: Option<String>,
    #[serde(default)]
    pub options: OvsBridgeOptions,
    /// Ports by name, without the bridge's own local port.
    pub ports: BTreeMap<String, OvsPort>,
    /// What the bridge carries that hostnet does not model (a controller):
    /// hostnet refuses to delete such a bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmodelled: Option<String>,
}

/// What OVSDB holds, as far as hostnet manages it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OvsState {
    /// False when no OVSDB answered (Open vSwitch not installed or not running).
    pub available: bool,
    pub bridges: BTreeMap<String, OvsBridge>,
    /// The Open_vSwitch row's maps.
    #[serde(default)]
    pub global: OvsGlobal,
}

impl OvsState {
    /// The bridge and bond port that have `iface` as a bond member.
    pub fn bond_of(&self, iface: &str) -> Option<(&str, &str)> {
        self.bridges.iter().find_map(|(b, br)| {
            br.ports
                .iter()
                .find(|(_, p)| p.bond.as_ref().is_some_and(|bd| bd.members.contains(iface)))
                .map(|(p, _)| (b.as_str(), p.as_str()))
        })
    }

    /// The bridge a port is on.
    pub fn bridge_of(&self, port: &str) -> Option<&str> {
        self.bridges
            .iter()
            .find(|(_, b)| b.ports.contains_key(port))
            .map(|(n, _)| n.as_str())
    }

    /// The port `name` on any bridge.
    pub fn port(&self, name: &str) -> Option<&OvsPort> {
        self.bridges.values().find_map(|b| b.ports.get(name))
    }

    /// Whether a network device named `name` is made by OVS (a bridge's local port or
    /// an internal port).
    pub fn owns_device(&self, name: &str) -> bool {
        self.bridges.contains_key(name)
            || self
                .bridges
                .values()
                .any(|b| b.ports.get(name).is_some_and(|p| p.internal))
    }
}

/// One change to OVSDB.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OvsOp {
    AddBridge {
        name: String,
        datapath: Option<String>,
        #[serde(default)]
        options: OvsBridgeOptions,
    },
    DelBridge {
        name: String,
    },
    /// Sets every option of an existing bridge to `options`', but its `ovs-db` maps
    /// (external_ids, other_config beyond the STP keys): [`OvsOp::SetRowKey`] sets those.
    SetBridge {
        name: String,
        options: OvsBridgeOptions,
    },
    AddPort {
        bridge: String,
        port: String,
        settings: OvsPort,
    },
    DelPort {
        bridge: String,
        port: String,
    },
    /// Sets the VLAN and bond settings of an existing port to `settings`', but the maps of
    /// its Interface row or bond's Port row: [`OvsOp::SetRowKey`] sets those.
    SetPort {
        port: String,
        settings: OvsPort,
    },
    /// Sets one key of a map of the Open_vSwitch row (`None`: removes it). One key per op,
    /// so that a rollback puts back only the keys hostnet changed.
    SetGlobal {
        column: GlobalColumn,
        key: String,
        value: Option<String>,
    },
    /// Sets one key of a map of the Bridge, Port or Interface row `name` (`None`: removes
    /// it): the rows' maps change key by key, like the Open_vSwitch row's, so that a
    /// rollback takes back the keys hostnet changed and no key another tool set.
    SetRowKey {
        table: RowTable,
        name: String,
        column: GlobalColumn,
        key: String,
        value: Option<String>,
    },
}

impl OvsOp {
    pub fn verb(&self) -> &'static str {
        match self {
            OvsOp::AddBridge { .. } | OvsOp::AddPort { .. } => "add",
            OvsOp::DelBridge { .. } | OvsOp::DelPort { .. } => "delete",
            OvsOp::SetPort { .. }
            | OvsOp::SetBridge { .. }
            | OvsOp::SetGlobal { .. }
            | OvsOp::SetRowKey { .. } => "change",
        }
    }

    pub fn sign(&self) -> char {
        match self {
            OvsOp::AddBridge { .. } | OvsOp::AddPort { .. } => '+',
            OvsOp::DelBridge { .. } | OvsOp::DelPort { .. } => '-',
            OvsOp::SetPort { .. }
            | OvsOp::SetBridge { .. }
            | OvsOp::SetGlobal { .. }
            | OvsOp::SetRowKey { .. } => '~',
        }
    }

    /// The name of the OVS object (and network device) the op is about: the bridge for
    /// a bridge's creation or removal, the port for a port op. A port op does not put its
    /// bridge in a rollback's scope, so ports others plug in meanwhile stay.
    pub fn names(&self) -> Vec<&str> {
        match self {
            OvsOp::AddBridge { name, .. }
            | OvsOp::DelBridge { name }
            | OvsOp::SetBridge { name, .. }
            | OvsOp::SetRowKey { name, .. } => vec![name],
            OvsOp::AddPort { port, .. }
            | OvsOp::DelPort { port, .. }
            | OvsOp::SetPort { port, .. } => vec![port],
            OvsOp::SetGlobal { .. } => Vec::new(),
        }
    }

    /// What the op puts in a rollback's scope: its names, and for a key of the
    /// Open_vSwitch row a name of its own (no interface name has a ':'), so that a
    /// rollback restores that key and no other.
    pub fn scope_names(&self) -> Vec<String> {
        match self {
            OvsOp::SetGlobal { column, key, .. } => {
                vec![format!("Open_vSwitch:{}:{key}", column.as_str())]
            }
            OvsOp::SetRowKey {
                table,
                name,
                column,
                key,
                ..
            } => vec![format!(
                "{}:{name}:{}:{key}",
                table.as_str(),
                column.as_str()
            )],
            _ => self.names().into_iter().map(str::to_string).collect(),
        }
    }
}

/// What the file wants of one OVS bridge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OvsBridgeIntent {
    pub origin: String,
    pub absent: bool,
    /// Only make sure of ports on it: a missing bridge is an error, not created (the
    /// device API's create_ovs_port).
    pub must_exist: bool,
    pub datapath: Option<String>,
    pub options: OvsBridgeOptionsIntent,
    /// The port list, when the file gives it: these ports are made sure of, and ports
    /// hostnet created that it no longer lists are removed (others stay).
    pub ports: Option<BTreeMap<String, OvsPortIntent>>,
    /// Ports it must have at least (others stay).
    pub add_ports: BTreeMap<String, OvsPortIntent>,
    /// Ports it must not have.
    pub remove_ports: Vec<String>,
}

/// What the file wants of one port. `None` fields are not mentioned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OvsPortIntent {
    pub origin: String,
    /// `None`: keep the VLAN settings the port has (another agent's); `Some(tag)`: the
    /// port's VLAN settings are `tag`, [`Self::vlan_mode`] and [`Self::trunks`]
    /// (`Some(None)` with neither: none at all, `vlan: {}`).
    pub tag: Option<Option<u16>>,
    /// Port.vlan_mode, with `tag` given.
    pub vlan_mode: Option<String>,
    /// Port.trunks, with `tag` given.
    pub trunks: BTreeSet<u16>,
    pub internal: bool,
    /// A patch port to this peer (declared as an `ovs-interface` with `patch`).
    pub patch_peer: Option<String>,
    /// An OVS bond (`link-aggregation`).
    pub bond: Option<OvsBondIntent>,
    pub external_ids: Option<BTreeMap<String, String>>,
    pub other_config: Option<BTreeMap<String, String>>,
}

/// The OVS part of an intent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OvsIntent {
    pub bridges: BTreeMap<String, OvsBridgeIntent>,
    /// `ovs-db.external_ids` of interfaces, by name and origin (they may be ports of a
    /// bridge this file does not describe).
    pub external_ids: BTreeMap<String, (String, BTreeMap<String, String>)>,
    /// `ovs-db.other_config` of interfaces, likewise.
    pub other_config: BTreeMap<String, (String, BTreeMap<String, String>)>,
    /// The top-level `ovs-db` and `ovn`.
    pub global: OvsGlobalIntent,
}

/// What the file says of the Open_vSwitch row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OvsGlobalIntent {
    /// Where it was said (`ovs-db` or `ovn`).
    pub origin: String,
    /// Per column: keys set (`Some`) or removed (`None`); an empty map removes every key
    /// but `ovn-bridge-mappings`.
    pub maps: BTreeMap<GlobalColumn, BTreeMap<String, Option<String>>>,
    /// `ovn.bridge-mappings`: localnet → bridge (`None`: removed).
    pub ovn: Option<BTreeMap<String, Option<String>>>,
}

impl OvsGlobalIntent {
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty() && self.ovn.is_none()
    }
}

impl OvsIntent {
    pub fn is_empty(&self) -> bool {
        self.bridges.is_empty()
            && self.external_ids.is_empty()
            && self.other_config.is_empty()
            && self.global.is_empty()
    }
}

/// What the top-level `ovs-db` and `ovn` sections say of the Open_vSwitch row.
pub fn global_intent(
    db: Option<&crate::model::OvsGlobalDbSpec>,
    ovn: Option<&crate::model::OvnSpec>,
) -> OvsGlobalIntent {
    let mut g = OvsGlobalIntent::default();
    if let Some(db) = db {
        g.origin = "ovs-db".into();
        for (column, map) in [
            (GlobalColumn::ExternalIds, &db.external_ids),
            (GlobalColumn::OtherConfig, &db.other_config),
        ] {
            if let Some(m) = map {
                g.maps.insert(column, m.clone());
            }
        }
    }
    if let Some(maps) = ovn.and_then(|o| o.bridge_mappings.as_ref()) {
        if g.origin.is_empty() {
            g.origin = "ovn".into();
        }
        g.ovn = Some(
            maps.iter()
                .map(|m| {
                    let absent = m.state.as_deref() == Some("absent");
                    (m.localnet.clone(), m.bridge.clone().filter(|_| !absent))
                })
                .collect(),
        );
    }
    g
}
