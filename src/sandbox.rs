//! Throw-away network namespaces for the demo and the end-to-end tests.
//!
//! A [`Sandbox`] owns a set of named namespaces (`/run/netns/PREFIX-ROLE`) and deletes them
//! when dropped, so a panic or an early return cleans up too. Work inside a namespace runs
//! on a short-lived thread that entered it ([`Sandbox::run_in`]): namespace membership is
//! per thread, and the caller's own namespace is never changed.
//!
//! Everything is wired with hostnet's own netlink driver; no `ip` process is involved.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::fd::AsFd;

use ipnet::IpNet;

use crate::netdev::linux::{
    create_named_netns, delete_named_netns, enter_named_netns, open_named_netns, LinuxDriver,
};
use crate::netdev::{
    Address, Driver, LinkChange, LinkKind, NewLink, Op, PeerSettings, Route, RouteScope,
    PROTO_STATIC, TABLE_MAIN,
};

/// Why the sandbox could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("namespace {ns}")]
    Netns {
        ns: String,
        #[source]
        source: crate::netdev::linux::NetnsError,
    },
    #[error("in namespace {ns}")]
    Driver {
        ns: String,
        #[source]
        source: crate::netdev::DriverError,
    },
    #[error("in namespace {ns}: {message}")]
    Other { ns: String, message: String },
}

/// A set of namespaces deleted on drop.
pub struct Sandbox {
    prefix: String,
    names: BTreeMap<String, String>,
    keep: bool,
}

impl Sandbox {
    /// A sandbox whose namespaces are called `PREFIX-ROLE`.
    pub fn new(prefix: &str) -> Sandbox {
        Sandbox {
            prefix: prefix.to_string(),
            names: BTreeMap::new(),
            keep: false,
        }
    }

    /// Leaves the namespaces in place when dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// The full name of a role's namespace.
    pub fn netns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// Creates the namespace for `role` with `lo` up.
    pub fn add(&mut self, role: &str) -> Result<String, SandboxError> {
        let ns = self.netns(role);
        create_named_netns(&ns).map_err(|source| SandboxError::Netns {
            ns: ns.clone(),
            source,
        })?;
        self.names.insert(role.to_string(), ns.clone());
        // A fresh namespace has lo down, and then even on-link gateways are refused.
        self.ops(
            role,
            &[Op::ChangeLink {
                name: "lo".into(),
                change: LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            }],
        )?;
        Ok(ns)
    }

    /// Runs `f` on a thread inside `role`'s namespace.
    pub fn run_in<T: Send>(
        &self,
        role: &str,
        f: impl FnOnce() -> Result<T, SandboxError> + Send,
    ) -> Result<T, SandboxError> {
        let ns = self.netns(role);
        std::thread::scope(|s| {
            s.spawn(|| {
                enter_named_netns(&ns).map_err(|source| SandboxError::Netns {
                    ns: ns.clone(),
                    source,
                })?;
                f()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(SandboxError::Other {
                    ns: ns.clone(),
                    message: "worker thread panicked".into(),
                })
            })
        })
    }

    /// Starts `f` on a background thread inside `role`'s namespace.
    pub fn spawn_in<T: Send + 'static>(
        &self,
        role: &str,
        f: impl FnOnce() -> Result<T, SandboxError> + Send + 'static,
    ) -> std::thread::JoinHandle<Result<T, SandboxError>> {
        let ns = self.netns(role);
        std::thread::spawn(move || {
            enter_named_netns(&ns).map_err(|source| SandboxError::Netns {
                ns: ns.clone(),
                source,
            })?;
            f()
        })
    }

    /// Executes ops in `role`'s namespace, failing on the first rejected one.
    pub fn ops(&self, role: &str, ops: &[Op]) -> Result<(), SandboxError> {
        let ns = self.netns(role);
        self.run_in(role, || {
            let mut d = LinuxDriver::new().map_err(|source| SandboxError::Driver {
                ns: ns.clone(),
                source,
            })?;
            for op in ops {
                d.execute(std::slice::from_ref(op))
                    .remove(0)
                    .map_err(|source| SandboxError::Driver {
                        ns: ns.clone(),
                        source,
                    })?;
            }
            Ok(())
        })
    }

    /// A veth pair from `a_role`'s `a_name` to `b_role`'s `b_name`, both ends up.
    pub fn wire(
        &self,
        a_role: &str,
        a_name: &str,
        b_role: &str,
        b_name: &str,
    ) -> Result<(), SandboxError> {
        let ns = self.netns(a_role);
        let target = self.netns(b_role);
        self.run_in(a_role, || {
            let err = |source| SandboxError::Driver {
                ns: ns.clone(),
                source,
            };
            let mut d = LinuxDriver::new().map_err(err)?;
            d.execute(&[Op::CreateLink(NewLink {
                name: a_name.into(),
                kind: LinkKind::Veth {
                    peer: Some(b_name.into()),
                },
                up: true,
                mtu: None,
                mac: None,
                controller: None,
                peer: Some(PeerSettings::default()),
            })])
            .remove(0)
            .map_err(err)?;
            let fd = open_named_netns(&target).map_err(|source| SandboxError::Netns {
                ns: target.clone(),
                source,
            })?;
            d.move_link_to_netns(b_name, fd.as_fd()).map_err(err)
        })?;
        self.ops(b_role, &[up(b_name)])
    }

    /// Writes a sysctl inside `role`'s namespace (`/proc/sys/net` is per namespace).
    pub fn sysctl(&self, role: &str, key: &str, value: &str) -> Result<(), SandboxError> {
        let ns = self.netns(role);
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.run_in(role, || {
            std::fs::write(&path, value).map_err(|e| SandboxError::Other {
                ns: ns.clone(),
                message: format!("cannot write {path}: {e}"),
            })
        })
    }

    /// Reads a `/proc/net/...` counter file inside `role`'s namespace.
    pub fn proc_net(&self, role: &str, file: &str) -> Result<String, SandboxError> {
        let ns = self.netns(role);
        let path = format!("/proc/thread-self/net/{file}");
        self.run_in(role, || {
            std::fs::read_to_string(&path).map_err(|e| SandboxError::Other {
                ns: ns.clone(),
                message: format!("cannot read {path}: {e}"),
            })
        })
    }

    /// Deletes every namespace now; returns what could not be deleted.
    pub fn destroy(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        for ns in std::mem::take(&mut self.names).into_values() {
            if let Err(e) = delete_named_netns(&ns) {
                failed.push(format!("{ns}: {e}"));
            }
        }
        failed
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if !self.keep {
            for f in self.destroy() {
                eprintln!("warning: could not remove network namespace {f}");
            }
        }
    }
}

/// `ChangeLink` that sets a link up.
pub fn up(name: &str) -> Op {
    Op::ChangeLink {
        name: name.into(),
        change: LinkChange {
            up: Some(true),
            ..LinkChange::default()
        },
    }
}

/// `AddAddress`.
pub fn addr(ifname: &str, cidr: &str) -> Result<Op, SandboxError> {
    let addr: IpNet = cidr.parse().map_err(|_| SandboxError::Other {
        ns: String::new(),
        message: format!("{cidr} is not an address"),
    })?;
    Ok(Op::AddAddress(Address::new(ifname, addr)))
}

/// `AddRoute` in the main table: `dst via gw`.
pub fn route_via(dst: &str, gw: &str) -> Result<Op, SandboxError> {
    let bad = |s: &str| SandboxError::Other {
        ns: String::new(),
        message: format!("{s} is not an address or prefix"),
    };
    let destination: IpNet = dst.parse().map_err(|_| bad(dst))?;
    let gateway: IpAddr = gw.parse().map_err(|_| bad(gw))?;
    Ok(Op::AddRoute(Route {
        table: TABLE_MAIN,
        destination,
        gateway: Some(gateway),
        dev: None,
        metric: destination.addr().is_ipv6().then_some(1024),
        scope: RouteScope::Universe,
        src: None,
        protocol: PROTO_STATIC,
        attrs: Default::default(),
    }))
}
