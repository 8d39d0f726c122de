//! Open vSwitch: bridges and ports in OVSDB, as a section of the kernel state with its
//! own ops, so that plan, journal, verify, rollback and dry run cover it like links.
//!
//! hostnet talks to OVSDB through `ovs-vsctl` ([`vsctl`]): every phase of OVS ops is one
//! `ovs-vsctl` invocation, i.e. one OVSDB transaction, so it is applied whole or not at
//! all. The database is `unix:/var/run/openvswitch/db.sock` unless `HOSTNET_OVSDB` names
//! another (`unix:PATH` or `tcp:…`), which is how tests use private daemons.
//!
//! A port is modelled with its one interface (OVS's usual case): the VLAN tag lives in
//! the Port table, `type=internal` and `external_ids` (`iface-id`, `attached-mac`,
//! `vm-uuid`, as hypervisors set them) in the Interface table.

pub(crate) mod model;
pub mod show;
#[cfg(test)]
mod tests;
pub mod vsctl;

use std::collections::BTreeMap;
use std::fmt;

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
    /// Access VLAN tag (Port.tag).
    pub tag: Option<u16>,
    /// `type=internal`: OVS makes the network device itself.
    pub internal: bool,
    /// Interface.external_ids.
    pub external_ids: BTreeMap<String, String>,
    /// hostnet created the port (it marks its Port rows with [`MANAGED_KEY`]): only such
    /// ports leave a bridge because a file no longer lists them.
    #[serde(default)]
    pub managed: bool,
    /// What the port carries that hostnet does not model (an interface type such as
    /// `patch` or `vxlan`, several interfaces, trunks), which a delete could not take
    /// back: hostnet refuses to delete such a port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmodelled: Option<String>,
}

/// The key in Port.external_ids that marks a port hostnet created.
pub const MANAGED_KEY: &str = "hostnet-created";

/// One bridge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OvsBridge {
    /// Bridge.datapath_type (`netdev` for the userspace datapath; `None`: system).
    pub datapath: Option<String>,
    /// Ports by name, without the bridge's own local port.
    pub ports: BTreeMap<String, OvsPort>,
    /// What the bridge carries that hostnet does not model (a controller, a fail mode):
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
}

impl OvsState {
    /// The bridge a port is on.
    pub fn bridge_of(&self, port: &str) -> Option<&str> {
        self.bridges
            .iter()
            .find(|(_, b)| b.ports.contains_key(port))
            .map(|(n, _)| n.as_str())
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
    },
    DelBridge {
        name: String,
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
    /// Sets the tag and external_ids of an existing port to `settings`'.
    SetPort {
        port: String,
        settings: OvsPort,
    },
}

impl OvsOp {
    pub fn verb(&self) -> &'static str {
        match self {
            OvsOp::AddBridge { .. } | OvsOp::AddPort { .. } => "add",
            OvsOp::DelBridge { .. } | OvsOp::DelPort { .. } => "delete",
            OvsOp::SetPort { .. } => "change",
        }
    }

    pub fn sign(&self) -> char {
        match self {
            OvsOp::AddBridge { .. } | OvsOp::AddPort { .. } => '+',
            OvsOp::DelBridge { .. } | OvsOp::DelPort { .. } => '-',
            OvsOp::SetPort { .. } => '~',
        }
    }

    /// The name of the OVS object (and network device) the op is about: the bridge for
    /// a bridge's creation or removal, the port for a port op. A port op does not put its
    /// bridge in a rollback's scope, so ports others plug in meanwhile stay.
    pub fn names(&self) -> Vec<&str> {
        match self {
            OvsOp::AddBridge { name, .. } | OvsOp::DelBridge { name } => vec![name],
            OvsOp::AddPort { port, .. }
            | OvsOp::DelPort { port, .. }
            | OvsOp::SetPort { port, .. } => vec![port],
        }
    }
}

fn fmt_settings(f: &mut fmt::Formatter<'_>, p: &OvsPort) -> fmt::Result {
    if p.internal {
        write!(f, " internal")?;
    }
    if let Some(t) = p.tag {
        write!(f, " tag {t}")?;
    }
    for (k, v) in &p.external_ids {
        write!(f, " {k}={v}")?;
    }
    Ok(())
}

impl fmt::Display for OvsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OvsOp::AddBridge { name, datapath } => {
                write!(f, "ovs-bridge {name}")?;
                if let Some(d) = datapath {
                    write!(f, " datapath {d}")?;
                }
                Ok(())
            }
            OvsOp::DelBridge { name } => write!(f, "ovs-bridge {name}"),
            OvsOp::AddPort {
                bridge,
                port,
                settings,
            } => {
                write!(f, "ovs-port {port} bridge {bridge}")?;
                fmt_settings(f, settings)
            }
            OvsOp::DelPort { bridge, port } => write!(f, "ovs-port {port} bridge {bridge}"),
            OvsOp::SetPort { port, settings } => {
                write!(f, "ovs-port {port}")?;
                fmt_settings(f, settings)
            }
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
    /// `None`: keep the tag the port has (another agent's); `Some(None)`: no tag
    /// (`vlan: {}`); `Some(Some(t))`: access tag `t`.
    pub tag: Option<Option<u16>>,
    pub internal: bool,
    pub external_ids: Option<BTreeMap<String, String>>,
}

/// The OVS part of an intent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OvsIntent {
    pub bridges: BTreeMap<String, OvsBridgeIntent>,
    /// `ovs-db.external_ids` of interfaces, by name and origin (they may be ports of a
    /// bridge this file does not describe).
    pub external_ids: BTreeMap<String, (String, BTreeMap<String, String>)>,
}

impl OvsIntent {
    pub fn is_empty(&self) -> bool {
        self.bridges.is_empty() && self.external_ids.is_empty()
    }
}
