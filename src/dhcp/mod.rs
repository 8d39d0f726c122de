//! DHCP on the host side: client events, the hooks that deliver them, and the monitor
//! that learns leases from netlink where no hook can be installed.

pub mod event;
pub mod hooks;
pub mod monitor;
