//! DHCP on the host side: client events, the hooks that deliver them, and the monitor
//! that learns leases from netlink where no hook can be installed. The guests' DHCP
//! servers (one supervised dnsmasq per network) are the driver's: [`crate::netdev::dnsmasq`]
//! (`server` keeps their earlier path).

pub mod event;
pub mod hooks;
pub mod monitor;
pub mod server;
