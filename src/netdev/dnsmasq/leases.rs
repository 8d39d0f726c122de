//! dnsmasq's lease file, read back: IPv4 leases (`EXPIRY MAC IP NAME CLIENT-ID`), then,
//! once it has served DHCPv6, a `duid SERVER-DUID` line and IPv6 leases (`EXPIRY IAID IP
//! NAME CLIENT-DUID`, the IAID prefixed with `T` for a temporary address).

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// One IPv4 line of dnsmasq's lease file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Expiry, seconds since the epoch; 0 means never.
    pub expires: u64,
    pub mac: String,
    pub ip: Ipv4Addr,
    pub hostname: Option<String>,
}

impl Lease {
    pub fn active(&self, now: u64) -> bool {
        self.expires == 0 || self.expires > now
    }
}

/// One IPv6 line of dnsmasq's lease file (what `show --dhcp-servers` reports).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lease6 {
    /// Expiry, seconds since the epoch; 0 means never.
    pub expires: u64,
    /// The identity association (decimal; `T` first for a temporary address).
    pub iaid: String,
    pub address: Ipv6Addr,
    pub hostname: Option<String>,
    /// The client's DUID, as dnsmasq writes it (lowercase hex with colons).
    pub duid: String,
}

impl Lease6 {
    pub fn active(&self, now: u64) -> bool {
        self.expires == 0 || self.expires > now
    }
}

/// The IPv4 leases in a lease file; other lines are skipped.
pub fn parse_leases(text: &str) -> Vec<Lease> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 4 {
                return None;
            }
            Some(Lease {
                expires: f[0].parse().ok()?,
                mac: f[1].to_ascii_lowercase(),
                ip: f[2].parse().ok()?,
                hostname: (f[3] != "*").then(|| f[3].to_string()),
            })
        })
        .collect()
}

/// The server's own DUID (the `duid` line) and the IPv6 leases in a lease file.
pub fn parse_leases6(text: &str) -> (Option<String>, Vec<Lease6>) {
    let mut server = None;
    let mut out = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.as_slice() {
            ["duid", d] => server = Some(d.to_ascii_lowercase()),
            [expires, iaid, address, name, duid, ..] => {
                let (Ok(expires), Ok(address)) = (expires.parse(), address.parse()) else {
                    continue;
                };
                out.push(Lease6 {
                    expires,
                    iaid: (*iaid).to_string(),
                    address,
                    hostname: (*name != "*").then(|| (*name).to_string()),
                    duid: duid.to_ascii_lowercase(),
                });
            }
            _ => {}
        }
    }
    (server, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "1700000000 52:54:00:12:34:56 10.10.0.5 vm1 01:52:54:00:12:34:56\n\
        0 aa:bb:cc:dd:ee:ff 10.10.0.100 * *\n\
        duid 00:01:00:01:32:A8:F2:65:d2:60:0a:11:45:cf\n\
        1796621303 1193046 2001:db8:10::5 vm1 00:01:00:01:32:a8:f2:65:52:54:00:12:34:56\n\
        0 T77 2001:db8:10::1a0 * 00:02:00:00:ab:11:01:02\n";

    #[test]
    fn ipv4_leases() {
        let l = parse_leases(FILE);
        assert_eq!(l.len(), 2);
        assert!(l[1].active(5) && l[1].hostname.is_none());
        assert!(!l[0].active(1_800_000_000));
    }

    #[test]
    fn ipv6_leases_and_the_server_duid() {
        let (server, l) = parse_leases6(FILE);
        assert_eq!(
            server.as_deref(),
            Some("00:01:00:01:32:a8:f2:65:d2:60:0a:11:45:cf")
        );
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].iaid, "1193046");
        assert_eq!(l[0].hostname.as_deref(), Some("vm1"));
        assert!(l[0].active(1_700_000_000) && !l[0].active(1_796_621_303));
        assert_eq!(l[1].iaid, "T77");
        assert!(l[1].active(u64::MAX) && l[1].hostname.is_none());
        assert_eq!(parse_leases6("").1, Vec::new());
    }
}
