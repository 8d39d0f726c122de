//! The host firewall for logical networks: NAT, isolation, floating IPs, port forwards and
//! the metadata redirect, with two backends behind one contract.
//!
//! * [`nft`]: one table `inet hostnet`; base chains with explicit priorities dispatch
//!   through verdict maps keyed by device, address or (interface, protocol, port) into
//!   four regular chains per network (`n-NAME-fwd`, `-in`, `-pre`, `-post`). Every apply
//!   is one `nft -f -` transaction.
//! * [`iptables`]: chains prefixed `HOSTNET-`, reached by one jump each from the built-in
//!   chains; per network four chains (`HOSTNET-ID-F`, `-I`, `-PRE`, `-POST`) reached by
//!   one jump rule each from our dispatch chains. Every apply is one
//!   `iptables-restore --noflush -w` (and one `ip6tables-restore`), both tables in it.
//!
//! This module and its children are pure: the rules, their rendering and parsing. The
//! planner is `plan/firewall.rs`; running the tools, reading the kernel and writing
//! sysctls is the driver's (`netdev/firewall/`, where both backends implement
//! `FirewallBackend`, picked by `firewall.backend`).
//!
//! Either way a change to one network flushes and refills that network's chains and adds
//! or deletes only its own dispatch entries: its cost does not depend on how many other
//! networks exist. Nothing outside our table or chains is listed, parsed or changed: the
//! query reads only our table (`nft list table inet hostnet`) or drops every line of
//! `iptables-save` that is not one of our chains or our jumps before looking at it.
//!
//! The firewall joins the engine like any kernel object: its state is a section of
//! [`crate::netdev::KernelState`] ([`FirewallState`]), its changes are [`FwOp`]s in the
//! plan's firewall phases, so dry runs, verification, rollback, checkpoints and crash
//! recovery cover it.

pub mod iptables;
mod iptables_read;
pub mod nft;
pub mod spec;
pub mod sysctl;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

pub use spec::{
    describe, Allow, BackendKind, FirewallSettings, FloatingIp, Masquerade, Metadata, NetFirewall,
    NetworkFirewallSpec, PortForward, Proto,
};
pub use sysctl::{IPV4_FORWARD, IPV6_FORWARD};

/// Why the firewall could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// A program could not be started (not installed?).
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// A program refused our input; `stderr` is what it said.
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: String,
        status: String,
        stderr: String,
    },
    /// The kernel refused our nftables transaction (written through nfnetlink); `op`
    /// is the message it refused.
    #[error("nftables transaction refused at {op}: {message}")]
    Netlink { op: String, message: String },
    /// A listing of our own table could not be read.
    #[error("cannot read the output of {program}: {message}")]
    Output { program: String, message: String },
    /// A sysctl could not be read or written.
    #[error("sysctl {key}")]
    Sysctl {
        key: String,
        #[source]
        source: std::io::Error,
    },
}

/// What the kernel holds of one network's firewall, as read back from our own rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetFwState {
    /// The spec read from the rules' comment tokens.
    pub spec: NetFirewall,
    /// The chains, rules and dispatch entries are exactly what `spec` renders to.
    pub intact: bool,
    /// The network's chains that exist (what a removal has to delete).
    pub chains: BTreeSet<String>,
    /// The network's entries in the shared dispatch (verdict-map elements or jump rules),
    /// as the tool prints them (what a change has to delete).
    pub dispatch: BTreeSet<String>,
    /// Its rules were not read (a query focused on other networks, see [`Focus`]): `spec`
    /// and `intact` say nothing; the network exists and is left as it is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unread: bool,
}

/// What an apply decides of the firewall: a query for it may read only what its plan
/// can touch (see [`crate::netdev::Driver::focus_firewall`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Focus {
    /// The forwarding sysctls it wants (see [`crate::netdev::firewall::sysctl::read_for`]).
    pub sysctls: BTreeMap<String, String>,
    /// The networks whose firewall it decides: the others' rules are not read.
    pub networks: BTreeSet<String>,
}

/// One backend's state: its shared skeleton and its networks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendState {
    /// Items of the shared skeleton that exist (table, base chains, maps, jumps).
    pub base: BTreeSet<String>,
    pub networks: BTreeMap<String, NetFwState>,
    /// Families (`4`, `6`) whose built-in `FORWARD` chain has policy DROP (Docker,
    /// firewalld): hostnet's rules only drop, so the networks' traffic needs the host's
    /// own accept. Read, never changed.
    #[serde(default)]
    pub forward_policy_drop: BTreeSet<String>,
}

/// The firewall section of the kernel state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallState {
    #[serde(default)]
    pub nftables: BackendState,
    #[serde(default)]
    pub iptables: BackendState,
    /// The forwarding sysctls, by key (`net.ipv4.ip_forward`); a key the kernel lacks is
    /// missing.
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// The firewall was read: false when the apply that read the state had nothing to do
    /// with the firewall and skipped it (see [`crate::netdev::Driver::consider_firewall`]),
    /// so that a rollback to such a state leaves the firewall alone.
    #[serde(default)]
    pub read: bool,
}

impl FirewallState {
    pub fn backend(&self, b: BackendKind) -> &BackendState {
        match b {
            BackendKind::Nftables => &self.nftables,
            BackendKind::Iptables => &self.iptables,
        }
    }

    pub fn backend_mut(&mut self, b: BackendKind) -> &mut BackendState {
        match b {
            BackendKind::Nftables => &mut self.nftables,
            BackendKind::Iptables => &mut self.iptables,
        }
    }
}

/// One firewall change. Ops carry the state they replace, so that a backend can delete
/// exactly what is there and the journal can invert them without a query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// A plan holds a handful of these (boxed in `Op`); their size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum FwOp {
    /// Completes the shared skeleton (`up`), or removes it (`!up`). `from` is what
    /// existed. An nftables skeleton that exists but is damaged is re-created whole,
    /// with the networks in it (the planner then rewrites every network).
    Base {
        backend: BackendKind,
        from: BTreeSet<String>,
        up: bool,
    },
    /// Writes a network's chains and dispatch entries (`to`), or removes them (`None`).
    Network {
        backend: BackendKind,
        name: String,
        from: Option<NetFwState>,
        to: Option<NetFirewall>,
    },
    /// Writes a sysctl.
    Sysctl {
        key: String,
        from: Option<String>,
        to: String,
    },
    /// Deletes the connection-tracking entries translated by a floating IP that no
    /// backend holds any more (planned last, from the whole plan: a floating IP that
    /// moves between backends keeps its flows). No inverse: flows cannot be restored.
    ForgetFlows { external: std::net::IpAddr },
}

impl FwOp {
    pub fn verb(&self) -> &'static str {
        match self {
            FwOp::Base { up: true, from, .. } if from.is_empty() => "create",
            FwOp::Base { up: true, .. } => "repair",
            FwOp::Base { .. } => "delete",
            FwOp::Network { to: None, .. } => "delete",
            FwOp::Network { from: None, .. } => "add",
            FwOp::Network { .. } | FwOp::Sysctl { .. } => "change",
            FwOp::ForgetFlows { .. } => "delete",
        }
    }

    pub fn sign(&self) -> char {
        match self.verb() {
            "create" | "add" => '+',
            "delete" => '-',
            _ => '~',
        }
    }

    /// The key of the object for rollback scopes: `nftables`, `nftables/NAME`,
    /// `sysctl/KEY`.
    pub fn scope_key(&self) -> String {
        match self {
            FwOp::Base { backend, .. } => backend.to_string(),
            FwOp::Network { backend, name, .. } => format!("{backend}/{name}"),
            FwOp::Sysctl { key, .. } => format!("sysctl/{key}"),
            FwOp::ForgetFlows { external } => format!("conntrack/{external}"),
        }
    }
}

impl fmt::Display for FwOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FwOp::Base { backend, .. } => write!(f, "firewall {backend} skeleton"),
            FwOp::Network {
                backend,
                name,
                from,
                to,
            } => {
                write!(f, "firewall {backend} network {name}")?;
                let old = from.as_ref().map(|c| describe(&c.spec)).unwrap_or_default();
                let new = to.as_ref().map(describe).unwrap_or_default();
                let mut items: Vec<String> = Vec::new();
                match (from, to) {
                    (_, None) => items = old,
                    (None, Some(_)) => items = new,
                    (Some(_), Some(_)) => {
                        items.extend(
                            old.iter()
                                .filter(|o| !new.contains(o))
                                .map(|o| format!("-{o}")),
                        );
                        items.extend(
                            new.iter()
                                .filter(|n| !old.contains(n))
                                .map(|n| format!("+{n}")),
                        );
                        // Parts `describe` leaves out: the network's own prefixes and device.
                        if let (Some(c), Some(t)) = (from, to) {
                            for x in c.spec.subnets.difference(&t.subnets) {
                                items.push(format!("-subnet {x}"));
                            }
                            for x in t.subnets.difference(&c.spec.subnets) {
                                items.push(format!("+subnet {x}"));
                            }
                            if c.spec.device != t.device {
                                items.push(format!("device {} -> {}", c.spec.device, t.device));
                            }
                        }
                        if items.is_empty() {
                            items.push("rewrite damaged chains".into());
                        }
                    }
                }
                if !items.is_empty() {
                    write!(f, ": {}", items.join(", "))?;
                }
                Ok(())
            }
            FwOp::ForgetFlows { external } => {
                write!(f, "connection tracking of floating IP {external}")
            }
            FwOp::Sysctl { key, from, to } => {
                write!(f, "sysctl {key} = {to}")?;
                if let Some(old) = from {
                    write!(f, " (was {old})")?;
                }
                Ok(())
            }
        }
    }
}

/// The skeleton items a complete backend has.
pub fn expected_base(b: BackendKind) -> BTreeSet<String> {
    match b {
        BackendKind::Nftables => nft::expected_base(),
        BackendKind::Iptables => iptables::expected_base(),
    }
}

/// The state a network has right after its chains were written from `spec`.
pub fn expected(b: BackendKind, name: &str, spec: &NetFirewall) -> NetFwState {
    match b {
        BackendKind::Nftables => nft::expected(name, spec),
        BackendKind::Iptables => iptables::expected(name, spec),
    }
}

impl BackendKind {
    /// Every backend, in a fixed order (state, plans and queries cover both: a backend
    /// switch removes a network from the one it leaves).
    pub const ALL: [BackendKind; 2] = [BackendKind::Nftables, BackendKind::Iptables];

    /// Whether repairing a damaged skeleton re-creates it whole, with every network in
    /// it (nftables: one table), rather than completing it in place (iptables).
    pub fn repair_recreates_networks(self) -> bool {
        self == BackendKind::Nftables
    }
}

/// The op that takes `op` back, and whether it belongs to the teardown phase; `None`
/// for the repair of a damaged skeleton (there is nothing to go back to).
pub fn inverse(op: &FwOp) -> Option<(bool, FwOp)> {
    match op {
        FwOp::Base { backend, from, up } => {
            if *up && !from.is_empty() {
                return None;
            }
            let inv = FwOp::Base {
                backend: *backend,
                from: if *up {
                    expected_base(*backend)
                } else {
                    BTreeSet::new()
                },
                up: !*up,
            };
            Some((*up, inv))
        }
        FwOp::Network {
            backend,
            name,
            from,
            to,
        } => {
            let inv = FwOp::Network {
                backend: *backend,
                name: name.clone(),
                from: to.as_ref().map(|s| expected(*backend, name, s)),
                to: from.as_ref().map(|s| s.spec.clone()),
            };
            Some((from.is_none(), inv))
        }
        FwOp::ForgetFlows { .. } => None,
        FwOp::Sysctl { key, from, to } => from.as_ref().map(|old| {
            (
                false,
                FwOp::Sysctl {
                    key: key.clone(),
                    from: Some(to.clone()),
                    to: old.clone(),
                },
            )
        }),
    }
}

/// Applies `op` to an in-memory state, as the kernel would (the model driver's half).
pub fn apply_to_state(state: &mut FirewallState, op: &FwOp) {
    match op {
        FwOp::Base { backend, up, .. } => {
            let b = state.backend_mut(*backend);
            if *up {
                if backend.repair_recreates_networks() && !b.base.is_empty() {
                    // A damaged table is re-created whole.
                    b.networks.clear();
                }
                b.base = expected_base(*backend);
            } else {
                b.base.clear();
                if backend.repair_recreates_networks() {
                    b.networks.clear();
                }
            }
        }
        FwOp::Network {
            backend, name, to, ..
        } => {
            let b = state.backend_mut(*backend);
            match to {
                Some(spec) => {
                    b.networks
                        .insert(name.clone(), expected(*backend, name, spec));
                }
                None => {
                    b.networks.remove(name);
                }
            }
        }
        FwOp::Sysctl { key, to, .. } => {
            state.sysctls.insert(key.clone(), to.clone());
        }
        FwOp::ForgetFlows { .. } => {}
    }
}

/// A warning when the host's own forward policy drops while networks have a firewall
/// (their routed traffic then needs an accept from whoever set that policy).
pub fn forward_policy_warning(state: &FirewallState, networks: bool) -> Option<String> {
    let fams = &state.iptables.forward_policy_drop;
    (networks && !fams.is_empty()).then(|| {
        let which: Vec<String> = fams.iter().map(|f| format!("IPv{f}")).collect();
        format!(
            "the host's own FORWARD policy drops ({}): hostnet's firewall only drops, so the networks' routed traffic needs an accept from whoever set that policy (Docker, firewalld)",
            which.join(", ")
        )
    })
}

/// One network's firewall as `hostnet show --firewall` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetworkStatus {
    pub network: String,
    pub backend: BackendKind,
    pub device: String,
    /// False when our chains or dispatch entries differ from what the rules' own spec
    /// renders to (someone edited them); the next apply rewrites them.
    pub intact: bool,
    pub firewall: NetworkFirewallSpec,
}

impl fmt::Display for NetworkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.network, self.backend, self.device)?;
        if !self.intact {
            write!(f, " DAMAGED")?;
        }
        let spec = NetFirewall::from_spec(&self.device, BTreeSet::new(), &self.firewall);
        write!(f, ": {}", describe(&spec).join("; "))
    }
}

/// Every network's firewall in the state, both backends, by network name.
pub fn status(state: &FirewallState) -> Vec<NetworkStatus> {
    let mut v = Vec::new();
    for b in BackendKind::ALL {
        for (name, n) in &state.backend(b).networks {
            v.push(NetworkStatus {
                network: name.clone(),
                backend: b,
                device: n.spec.device.clone(),
                intact: n.intact,
                firewall: n.spec.to_spec(),
            });
        }
    }
    v.sort_by(|a, b| (&a.network, a.backend).cmp(&(&b.network, b.backend)));
    v
}

/// The chain-name-safe id of a network for iptables (chain names are at most 28 bytes):
/// the name itself when it fits, else `h` and a stable hash of it.
pub fn short_id(name: &str) -> String {
    if name.len() <= 15 {
        return name.to_string();
    }
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("h{h:08x}")
}

#[cfg(test)]
mod tests;
