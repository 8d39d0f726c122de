//! The platform driver: the only code that touches the operating system's network stack.
//!
//! A driver answers two questions: *what is there* ([`Driver::query`]) and *make these
//! changes* ([`Driver::execute`]). The planner speaks to it in [`Op`]s, which name
//! interfaces by name and carry every attribute the driver needs, so a driver never has to
//! look anything up in the plan.
//!
//! Contract for [`Driver::execute`]: the ops of one call are independent of each other
//! (the planner puts dependent ops in separate calls), so a driver may send them all at
//! once and collect the answers afterwards. It returns one result per op, in order; an op
//! that failed has changed nothing, and every op reported `Ok` has been carried out.
//! Deleting something that is already gone is `Ok` (ENOENT/ESRCH on delete is "done").
//!
//! Two implementations exist: [`linux`] (netlink) and [`model`] (an in-memory kernel that
//! enforces the same rules, for dry runs and pure tests).

mod bond;
mod bridge;
pub mod bridge_mtu;
pub mod dhcp_server;
pub mod dnsmasq;
pub mod firewall;
pub mod inet6;
mod kinds;
mod kinds_fmt;
pub mod linux;
pub mod model;
mod model_bridge;
pub mod netns_id;
mod ops;
mod reach;
mod route_types;
mod types;
pub mod vrf;

pub use bond::*;
pub use bridge::*;
pub use kinds::*;
pub use ops::{fmt_route, fmt_rule, LinkChange, NewLink, Op, PeerSettings};
pub use reach::Reach;
pub use types::*;

/// Why a driver could not query or change the system.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The kernel rejected a request. `op` is the op's verb and description (`add route
    /// …`); `message` is the kernel's extended-ACK text when it sent one.
    #[error("{op}: {}{}", errno_text(*errno), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Rejected {
        op: String,
        errno: i32,
        message: Option<String>,
    },
    /// An interface named by an op does not exist.
    #[error("{op}: interface {name} does not exist")]
    NoSuchInterface { op: String, name: String },
    /// The request could not be sent or the answer not read.
    #[error("netlink I/O failed")]
    Io(#[source] std::io::Error),
    /// The kernel sent something we could not decode.
    #[error("could not decode the kernel's answer: {0}")]
    Decode(String),
    /// A dump kept being interrupted by concurrent changes.
    #[error("dump of {what} was interrupted {attempts} times by concurrent changes")]
    DumpInterrupted { what: &'static str, attempts: u32 },
    /// Open vSwitch could not be read or changed.
    #[error("Open vSwitch: {0}")]
    Ovs(#[source] crate::ovs::OvsError),
    /// The firewall tools refused a change or could not be read.
    #[error("{op}: {message}")]
    Firewall { op: String, message: String },
    /// A network's DHCP server could not be read or changed.
    #[error("DHCP server")]
    DhcpServer(#[from] crate::netdev::dnsmasq::ServerError),
    /// The model driver refused an op the way the kernel would.
    #[error("{op}: {reason}")]
    Model { op: String, reason: String },
}

impl DriverError {
    /// Describes the failure of `op`, naming the op once whatever the variant.
    pub fn describe(&self, op: &Op) -> String {
        match self {
            DriverError::Rejected { .. }
            | DriverError::NoSuchInterface { .. }
            | DriverError::Firewall { .. }
            | DriverError::Model { .. } => self.to_string(),
            DriverError::DhcpServer(e) => format!("{} {op}: {}", op.verb(), crate::error_chain(e)),
            _ => format!("{} {op}: {self}", op.verb()),
        }
    }

    /// The errno the kernel answered with, if this is a kernel rejection.
    pub fn errno(&self) -> Option<i32> {
        match self {
            DriverError::Rejected { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// "Network is unreachable [ENETUNREACH]": the text for people, the name for searching.
fn errno_text(errno: i32) -> String {
    let e = nix::errno::Errno::from_raw(errno);
    format!("{} [{e:?}]", e.desc())
}

/// A platform driver. See the module documentation for the contract.
pub trait Driver {
    /// Reads links, addresses, routes (all tables), rules and the networks' DHCP servers.
    fn query(&mut self) -> Result<KernelState, DriverError>;

    /// [`Driver::query`], with links, addresses, routes and rules (what netlink's dumps
    /// give) taken from `known` instead of read again: for the verify of a plan that
    /// changed none of them. A driver whose other reads cost nothing reads it all.
    fn query_beside(&mut self, known: &KernelState) -> Result<KernelState, DriverError> {
        let _ = known;
        self.query()
    }

    /// [`Driver::query`] limited to `reach` (`None`: all of it): exactly the full query
    /// narrowed to it ([`KernelState::narrowed`]). A driver whose reads cost nothing
    /// narrows its full query.
    fn query_in(&mut self, reach: Option<&Reach>) -> Result<KernelState, DriverError> {
        let full = self.query()?;
        Ok(match reach {
            Some(r) => full.narrowed(r),
            None => full,
        })
    }

    /// Carries out independent ops; one result per op, in order.
    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), DriverError>>;

    /// A short name for messages ("linux", "model").
    fn name(&self) -> &'static str;

    /// Whether what follows involves Open vSwitch (the intent has OVS, or the state to
    /// return to recorded it). A driver may skip reading OVSDB when not, so that a
    /// plain apply costs no `ovs-vsctl` process and never depends on OVS.
    fn consider_ovs(&mut self, involved: bool) {
        let _ = involved;
    }

    /// Whether what follows involves the firewall or the forwarding sysctls (the intent
    /// has a network firewall, or the state to return to recorded one). A driver may skip
    /// reading them when not: an apply without firewall then costs no `nft` or
    /// `iptables-save` process and no per-interface sysctl reads.
    fn consider_firewall(&mut self, involved: bool) {
        let _ = involved;
    }

    /// What the apply decides of the firewall (`None`: read it all, as a rollback,
    /// `status` or a dry run, whose model predicts every interface's sysctls, need). A
    /// driver may then read only what a plan for it can touch (see
    /// [`crate::netdev::firewall::query_for`]).
    fn focus_firewall(&mut self, focus: Option<crate::firewall::Focus>) {
        let _ = focus;
    }
}
