//! DHCP on the host side: client events, the hooks that deliver them, the monitor
//! that learns leases from netlink where no hook can be installed, and the DHCP server
//! (one supervised dnsmasq per network) for guests.

pub mod event;
pub mod hooks;
pub mod monitor;
pub mod server;
