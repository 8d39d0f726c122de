//! The Linux driver: rtnetlink over one synchronous NETLINK_ROUTE socket.
//!
//! The socket lives in the network namespace of the thread that called
//! [`LinuxDriver::new`]; every query and change applies there, whichever thread uses the
//! driver later. Interfaces are named in [`Op`]s but addressed by ifindex on the wire; the
//! driver keeps the name → ifindex map of its last link dump, refreshes it after it has
//! created or deleted links, and once more when an op names an interface it does not
//! know.
//!
//! All ops of one [`Driver::execute`] call go out pipelined (see `socket`). Only the
//! kernel's own objects are hidden from [`Driver::query`]: host-scope and link-local
//! addresses, the `local` table, protocol-kernel routes, cached and multicast routes.
//!
//! Every rust-netlink type stays inside this module: that crate family changes its API
//! with almost every release.

mod addr;
mod alt_names;
mod bond_port;
mod bridge;
mod bridge_vlan;
mod devices;
mod execute;
mod inet6_keys;
mod ipv6_conf;
mod kinds;
mod link;
mod listen;
mod netns;
pub mod nfnl;
pub mod nft_read;
pub mod nft_write;
mod quiet_create;
mod read;
mod refusals;
mod route;
mod rule;
mod scoped;
mod socket;
mod tap;
mod wire;

use std::collections::HashMap;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;

pub use listen::ChangeListener;
pub use netns::{
    create_named_netns, delete_named_netns, enter_named_netns, open_named_netns, NetnsError,
};

use self::link::RawLink;
use self::refusals::{already_gone, rejection};
use self::socket::NlSocket;
use super::firewall::{FirewallDriver, Kernel};
use super::{Driver, DriverError, KernelState, LinkChange, LinkKind, NewLink, Op, Reach};

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const RTM_NEWRULE: u16 = 32;

/// The platform driver for Linux.
pub struct LinuxDriver {
    nl: NlSocket,
    /// Name → ifindex in the driver's namespace, as of the last link dump.
    ifindex: HashMap<String, u32>,
    /// Links were created, deleted or moved since the last link dump.
    stale: bool,
    /// Bonds and links that are up, as of the last link dump: a port joins a bond only
    /// while down.
    bonds: std::collections::HashSet<String>,
    /// Bridges, as of the last link dump: their own VLANs are addressed with `self`.
    bridges: std::collections::HashSet<String>,
    up: std::collections::HashSet<String>,
    /// The namespace the socket was opened in, for the tap ioctls (which act in the
    /// calling thread's).
    netns: std::fs::File,
    /// How to reach Open vSwitch's database.
    ovs: crate::ovs::vsctl::Vsctl,
    /// Whether `query` reads OVSDB (see [`Driver::consider_ovs`]); true until told.
    ovs_involved: bool,
    /// Whether `query` reads the firewall (see [`Driver::consider_firewall`]); true
    /// until told.
    firewall_involved: bool,
    /// See [`Driver::focus_firewall`]; `None` (read it all) until told.
    firewall_focus: Option<crate::firewall::Focus>,
    /// The networks' DHCP servers (not netlink: files and dnsmasq processes), started
    /// in the namespace the driver was opened in.
    dhcp: crate::netdev::dnsmasq::Supervisor,
}

/// A request ready to send, with its NLM_F_* flags beyond REQUEST | ACK.
type Request = (RouteNetlinkMessage, u16);

impl LinuxDriver {
    /// Opens a NETLINK_ROUTE socket in the calling thread's network namespace.
    pub fn new() -> Result<Self, DriverError> {
        Ok(LinuxDriver {
            nl: NlSocket::open().map_err(DriverError::Io)?,
            ifindex: HashMap::new(),
            stale: true,
            bonds: Default::default(),
            bridges: Default::default(),
            up: Default::default(),
            netns: tap::current_netns().map_err(DriverError::Io)?,
            ovs: crate::ovs::vsctl::Vsctl::from_env(),
            ovs_involved: true,
            firewall_involved: true,
            firewall_focus: None,
            dhcp: crate::netdev::dnsmasq::Supervisor::new(),
        })
    }

    /// Uses `vsctl` for Open vSwitch instead of `HOSTNET_OVSDB` or the default.
    pub fn with_ovs(mut self, vsctl: crate::ovs::vsctl::Vsctl) -> Self {
        self.ovs = vsctl;
        self
    }

    /// Keeps the networks' DHCP servers under `dir` instead of
    /// [`crate::netdev::dnsmasq::base_dir`].
    pub fn with_dhcp_server_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.dhcp = crate::netdev::dnsmasq::Supervisor::at(dir);
        self
    }

    /// Runs the DHCP server ops through the supervisor and the rest over netlink.
    fn execute_split(&mut self, ops: &[Op]) -> Vec<Result<(), DriverError>> {
        let server: Vec<usize> = (0..ops.len())
            .filter(|i| ops[*i].is_dhcp_server())
            .collect();
        let kernel: Vec<usize> = (0..ops.len())
            .filter(|i| !ops[*i].is_dhcp_server())
            .collect();
        let pick = |idx: &[usize]| idx.iter().map(|i| ops[*i].clone()).collect::<Vec<Op>>();
        let (server_ops, kernel_ops) = (pick(&server), pick(&kernel));
        let mut results: Vec<Option<Result<(), DriverError>>> = ops.iter().map(|_| None).collect();
        for (i, r) in server.iter().zip(self.dhcp.execute(&server_ops)) {
            results[*i] = Some(r.map_err(DriverError::from));
        }
        if !kernel_ops.is_empty() {
            for (i, r) in kernel.iter().zip(self.execute(&kernel_ops)) {
                results[*i] = Some(r);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(DriverError::Decode("no result for the op".into()))))
            .collect()
    }

    fn dump_links(&mut self) -> Result<Vec<RawLink>, DriverError> {
        let replies = self.nl.dump(&link::dump_request(), "links")?;
        let links: Vec<RawLink> = replies
            .iter()
            .filter(|r| r.kind == RTM_NEWLINK)
            .filter_map(|r| link::parse(&r.payload))
            .collect();
        self.note_links(&links);
        Ok(links)
    }

    /// Keeps what execution needs of the links just read.
    fn note_links(&mut self, links: &[RawLink]) {
        self.ifindex = links.iter().map(|l| (l.name.clone(), l.index)).collect();
        self.bonds = links
            .iter()
            .filter(|l| l.kind.as_deref() == Some("bond"))
            .map(|l| l.name.clone())
            .collect();
        self.up = links
            .iter()
            .filter(|l| l.up)
            .map(|l| l.name.clone())
            .collect();
        self.bridges = links
            .iter()
            .filter(|l| l.bridge.is_some())
            .map(|l| l.name.clone())
            .collect();
        self.stale = false;
    }

    fn resolve(&self, op: &Op, name: &str) -> Result<u32, DriverError> {
        self.ifindex
            .get(name)
            .copied()
            .ok_or_else(|| DriverError::NoSuchInterface {
                op: format!("{} {op}", op.verb()),
                name: name.to_string(),
            })
    }

    /// The request that carries out `op`, and for a new veth pair the request that
    /// finishes its peer once the pair exists; `None` when there is nothing to do (a
    /// delete of something that is gone with its interface).
    fn request(&self, op: &Op) -> Result<Option<(Request, Vec<Request>)>, DriverError> {
        const NEW: u16 = NLM_F_CREATE | NLM_F_EXCL;
        let resolve_opt = |name: Option<&String>| name.map(|n| self.resolve(op, n)).transpose();
        let request = match op {
            Op::CreateLink(new) => return self.create_request(op, new).map(Some),
            Op::ChangeLink { name, change } => match self.change_request(op, name, change)? {
                None => return Ok(None),
                Some(request) => request,
            },
            Op::DeleteLink { name } => match self.ifindex.get(name) {
                None => return Ok(None),
                Some(&index) => (RouteNetlinkMessage::DelLink(link::delete(index)), 0),
            },
            Op::AddAddress(a) => {
                let index = self.resolve(op, &a.ifname)?;
                (
                    RouteNetlinkMessage::NewAddress(addr::message(index, a, true)),
                    NEW,
                )
            }
            Op::DeleteAddress(a) => match self.ifindex.get(&a.ifname) {
                None => return Ok(None),
                Some(&index) => (
                    RouteNetlinkMessage::DelAddress(addr::message(index, a, false)),
                    0,
                ),
            },
            Op::AddRoute(r) => {
                let oif = resolve_opt(r.dev.as_ref())?;
                let hops = r
                    .attrs
                    .nexthops
                    .iter()
                    .map(|h| resolve_opt(h.dev.as_ref()))
                    .collect::<Result<Vec<_>, _>>()?;
                (
                    RouteNetlinkMessage::NewRoute(route::message(r, oif, &hops, true)),
                    NEW,
                )
            }
            Op::DeleteRoute(r) => {
                // A route through a device that is gone went with it.
                if r.devices().any(|d| !self.ifindex.contains_key(d)) {
                    return Ok(None);
                }
                let index =
                    |d: &Option<String>| d.as_ref().and_then(|d| self.ifindex.get(d).copied());
                let hops: Vec<Option<u32>> =
                    r.attrs.nexthops.iter().map(|h| index(&h.dev)).collect();
                (
                    RouteNetlinkMessage::DelRoute(route::message(r, index(&r.dev), &hops, false)),
                    0,
                )
            }
            Op::BridgeVlans { name, vlans, add } => {
                let index = match (self.ifindex.get(name), add) {
                    (Some(&i), _) => i,
                    // Its VLANs went with it.
                    (None, false) => return Ok(None),
                    (None, true) => self.resolve(op, name)?,
                };
                let bridge = self.bridges.contains(name);
                (bridge_vlan::request(index, vlans, *add, bridge), 0)
            }
            Op::AltName { name, alt, add } => match self.ifindex.get(name) {
                // Its names went with it.
                None if !add => return Ok(None),
                _ => (alt_names::request(self.resolve(op, name)?, alt, *add), 0),
            },
            // Rules name their input interface, so they need no ifindex.
            Op::AddRule(r) => (RouteNetlinkMessage::NewRule(rule::message(r)), NEW),
            Op::DeleteRule(r) => (RouteNetlinkMessage::DelRule(rule::message(r)), 0),
            // Carried out by `execute` through ovs-vsctl, never as netlink.
            Op::Ovs(_) => return Ok(None),
            // Carried out by `execute` through the firewall module, never sent here.
            Op::Firewall(_) => return Ok(None),
            // Not netlink: `execute` hands these to the DHCP server supervisor.
            Op::ConfigureDhcpServer { .. }
            | Op::StartDhcpServer { .. }
            | Op::StopDhcpServer { .. }
            | Op::AddDhcpHost { .. }
            | Op::RemoveDhcpHost { .. } => return Ok(None),
        };
        Ok(Some((request, Vec::new())))
    }

    /// A new link's request, and the requests that finish its veth peer.
    fn create_request(
        &self,
        op: &Op,
        new: &NewLink,
    ) -> Result<(Request, Vec<Request>), DriverError> {
        const NEW: u16 = NLM_F_CREATE | NLM_F_EXCL;
        let resolve_opt = |name: Option<&String>| name.map(|n| self.resolve(op, n)).transpose();
        let master = resolve_opt(new.controller.as_ref())?;
        let peer_master = resolve_opt(new.peer.as_ref().and_then(|p| p.controller.as_ref()))?;
        if let LinkKind::Tap(_) = new.kind {
            // Created by ioctl beforehand (see `create_taps`); this finishes it.
            let msg = link::finish_tap(new, master);
            return Ok(((RouteNetlinkMessage::NewLink(msg), 0), Vec::new()));
        }
        let base = new.kind.base().map(|b| self.resolve(op, b)).transpose()?;
        let create = (
            RouteNetlinkMessage::NewLink(link::create(new, master, base)),
            NEW,
        );
        let followups = link::followups(new, master, peer_master)
            .into_iter()
            .map(|msg| (RouteNetlinkMessage::NewLink(msg), 0))
            .collect();
        Ok((create, followups))
    }

    fn change_request(
        &self,
        op: &Op,
        name: &str,
        change: &LinkChange,
    ) -> Result<Option<Request>, DriverError> {
        if change.is_empty() {
            return Ok(None);
        }
        let index = self.resolve(op, name)?;
        let master = match &change.controller {
            None => None,
            Some(None) => Some(0),
            Some(Some(bridge)) => Some(self.resolve(op, bridge)?),
        };
        let primary = match &change.settings {
            Some(LinkKind::Bond(b)) => b
                .primary
                .as_ref()
                .map(|p| self.resolve(op, p))
                .transpose()?,
            _ => None,
        };
        let msg = link::change(index, change, master, primary);
        Ok(Some((RouteNetlinkMessage::NewLink(msg), 0)))
    }

    /// Brings up or enslaves the peers of the veth pairs just created (`followups`: op
    /// index and request). A pair whose peer could not be finished is deleted again, so
    /// that its failed op leaves nothing behind.
    fn finish_peers(
        &mut self,
        ops: &[Op],
        followups: Vec<(usize, Request)>,
        results: &mut [Result<(), DriverError>],
    ) {
        let (indexes, requests): (Vec<usize>, Vec<Request>) = followups
            .into_iter()
            .filter(|(i, _)| results[*i].is_ok())
            .unzip();
        if requests.is_empty() {
            return;
        }
        let mut undo = Vec::new();
        for (i, answer) in indexes.into_iter().zip(self.nl.transact(requests)) {
            if let Err(nack) = answer {
                results[i] = Err(rejection(&ops[i], nack));
                if let Op::CreateLink(new) = &ops[i] {
                    let msg = link::delete_by_name(&new.name);
                    undo.push((RouteNetlinkMessage::DelLink(msg), 0));
                }
            }
        }
        if !undo.is_empty() {
            // Best effort: the op's own error is what the caller needs to see.
            let _ = self.nl.transact(undo);
        }
    }

    fn dump_into<T>(
        &mut self,
        request: &RouteNetlinkMessage,
        what: &'static str,
        kind: u16,
        out: &mut Vec<T>,
        parse: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<(), DriverError> {
        let replies = self.nl.dump(request, what)?;
        out.extend(
            replies
                .iter()
                .filter(|r| r.kind == kind)
                .filter_map(|r| parse(&r.payload)),
        );
        Ok(())
    }
}

/// Interfaces an op needs an ifindex for.
fn interfaces(op: &Op) -> Vec<&str> {
    match op {
        Op::CreateLink(new) => new
            .controller
            .iter()
            .chain(new.peer.iter().filter_map(|p| p.controller.as_ref()))
            .map(String::as_str)
            .chain(new.kind.base())
            .collect(),
        Op::ChangeLink { name, change } => {
            let mut names = vec![name.as_str()];
            if let Some(Some(bridge)) = &change.controller {
                names.push(bridge);
            }
            if let Some(LinkKind::Bond(b)) = &change.settings {
                names.extend(b.primary.as_deref());
            }
            names
        }
        Op::DeleteLink { name } | Op::BridgeVlans { name, .. } | Op::AltName { name, .. } => {
            vec![name]
        }
        Op::AddAddress(a) | Op::DeleteAddress(a) => vec![&a.ifname],
        Op::AddRoute(r) | Op::DeleteRoute(r) => r.devices().collect(),
        Op::AddRule(_) | Op::DeleteRule(_) | Op::Ovs(_) | Op::Firewall(_) => Vec::new(),
        Op::ConfigureDhcpServer { .. }
        | Op::StartDhcpServer { .. }
        | Op::StopDhcpServer { .. }
        | Op::AddDhcpHost { .. }
        | Op::RemoveDhcpHost { .. } => Vec::new(),
    }
}

impl LinuxDriver {
    /// What [`Driver::query`] reads besides netlink's dumps, added to `state`.
    fn query_rest(&mut self, mut state: KernelState) -> Result<KernelState, DriverError> {
        if self.ovs_involved {
            state.ovs = self.ovs.query().map_err(DriverError::Ovs)?;
        }
        if self.firewall_involved {
            let focus = self.firewall_focus.as_ref();
            state.firewall =
                FirewallDriver::query(&mut Kernel, focus).map_err(|e| DriverError::Firewall {
                    op: "read the firewall".into(),
                    message: crate::error_chain(&e),
                })?;
        }
        state.dhcp_servers = self.dhcp.query()?;
        state.normalize();
        Ok(state)
    }
}

impl Driver for LinuxDriver {
    fn query(&mut self) -> Result<KernelState, DriverError> {
        self.query_in(None)
    }

    fn query_in(&mut self, reach: Option<&Reach>) -> Result<KernelState, DriverError> {
        let mut state = self.query_netlink(reach)?;
        state.stable_secret = inet6_keys::default_secret_set();
        self.query_rest(state)
    }

    fn query_beside(&mut self, known: &KernelState) -> Result<KernelState, DriverError> {
        // What netlink gave `known`; the rest is read again.
        let state = KernelState {
            ovs: Default::default(),
            firewall: Default::default(),
            dhcp_servers: Default::default(),
            bridge_mtu_set: Default::default(),
            ..known.clone()
        };
        self.query_rest(state)
    }

    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), DriverError>> {
        if !ops.is_empty() && ops.iter().all(|op| matches!(op, Op::Ovs(_))) {
            return self.execute_ovs(ops);
        }
        if ops.iter().any(|op| matches!(op, Op::Firewall(_))) {
            return self.execute_with_firewall(ops);
        }
        if ops.iter().any(Op::is_dhcp_server) {
            return self.execute_split(ops);
        }
        if ops.len() >= 2 && ops.iter().all(|op| matches!(op, Op::DeleteLink { .. })) {
            return self.delete_links_together(ops);
        }
        self.execute_each(ops)
    }

    fn consider_ovs(&mut self, involved: bool) {
        self.ovs_involved = involved;
    }

    fn consider_firewall(&mut self, involved: bool) {
        self.firewall_involved = involved;
    }

    fn focus_firewall(&mut self, focus: Option<crate::firewall::Focus>) {
        self.firewall_focus = focus;
    }

    fn name(&self) -> &'static str {
        "linux"
    }
}
