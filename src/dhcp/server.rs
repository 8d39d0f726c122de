//! The guests' DHCP servers under their earlier path: the supervisor is part of the
//! driver now ([`crate::netdev::dnsmasq`]), its state types part of the driver's
//! vocabulary ([`crate::netdev::dhcp_server`]). Kept for the library's users.

pub use crate::netdev::dnsmasq::*;
