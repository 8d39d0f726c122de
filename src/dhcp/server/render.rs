//! What hostnet writes for a dnsmasq, and reads back: the command line, the options file,
//! the hosts file and per-host files, and dnsmasq's lease file. Pure functions of values.

use std::net::Ipv4Addr;
use std::path::Path;

use super::types::{DhcpHost, ServerFlags, ServerOptions};
use crate::netdev::MacAddr;

/// Names of the files in a server's directory.
pub const PID_FILE: &str = "dnsmasq.pid";
pub const CONFIG_FILE: &str = "config.json";
pub const OPTIONS_FILE: &str = "options";
pub const HOSTS_DIR: &str = "hosts";
pub const HOSTS_FILE: &str = "hostsfile";
pub const LEASE_FILE: &str = "leases";
pub const LOG_FILE: &str = "dnsmasq.log";
/// The index of the interface the running dnsmasq bound to, written when it starts.
pub const IFINDEX_FILE: &str = "ifindex";

/// The program started for every network.
pub const PROGRAM: &str = "dnsmasq";

fn netmask(prefix: u8) -> Ipv4Addr {
    let bits = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(bits)
}

fn lease(seconds: Option<u64>) -> String {
    seconds.map_or_else(|| "infinite".to_string(), |s| format!("{s}s"))
}

/// dnsmasq's command line for a server whose files live in `dir` (argv[0] included).
///
/// Everything that only a restart changes is here, so that comparing this with
/// `/proc/PID/cmdline` tells whether the running process has the current configuration.
pub fn argv(dir: &Path, f: &ServerFlags) -> Vec<String> {
    let file = |name: &str| dir.join(name).display().to_string();
    let mask = netmask(f.address.prefix_len());
    let range = match f.range {
        Some((start, end)) => format!("{start},{end},{mask},{}", lease(f.lease_seconds)),
        None => format!(
            "{},static,{mask},{}",
            f.address.network(),
            lease(f.lease_seconds)
        ),
    };
    // Enough leases for the whole subnet (dnsmasq's default is 1,000).
    let lease_max = 1u64 << (32 - u32::from(f.address.prefix_len())).min(24);
    let mut a = vec![
        PROGRAM.to_string(),
        // Never /etc/dnsmasq.conf: everything this instance does is on this line.
        "--conf-file=/dev/null".to_string(),
        format!("--pid-file={}", file(PID_FILE)),
        "--bind-interfaces".to_string(),
        format!("--interface={}", f.interface),
        "--except-interface=lo".to_string(),
        "--no-hosts".to_string(),
        format!("--dhcp-range={range}"),
        format!("--dhcp-lease-max={lease_max}"),
        format!("--dhcp-leasefile={}", file(LEASE_FILE)),
        format!("--dhcp-hostsfile={}", file(HOSTS_FILE)),
        format!("--dhcp-hostsdir={}", file(HOSTS_DIR)),
        format!("--dhcp-optsfile={}", file(OPTIONS_FILE)),
        format!("--log-facility={}", file(LOG_FILE)),
    ];
    if let Some(d) = &f.domain {
        a.push(format!("--domain={d}"));
        // Names in the guests' domain are answered here and never forwarded.
        a.push(format!("--local=/{d}/"));
    }
    if !f.resolv_conf {
        a.push("--no-resolv".to_string());
    }
    a.extend(f.upstream.iter().map(|s| format!("--server={s}")));
    if !f.log_dhcp {
        // Without it the log gains lines at every lease and renewal, without bound.
        a.push("--quiet-dhcp".to_string());
    }
    if !f.ping_check {
        a.push("--no-ping".to_string());
    }
    a
}

/// The options file (`--dhcp-optsfile`).
pub fn options_file(network: &str, o: &ServerOptions) -> String {
    let mut s = format!("# hostnet: DHCP options of network {network}; rewritten by hostnet\n");
    match o.router {
        Some(r) => s.push_str(&format!("option:router,{r}\n")),
        // An option 3 without a value: dnsmasq then sends no router.
        None => s.push_str("3\n"),
    }
    if !o.dns_servers.is_empty() {
        let list: Vec<String> = o.dns_servers.iter().map(ToString::to_string).collect();
        s.push_str(&format!("option:dns-server,{}\n", list.join(",")));
    }
    if let Some(m) = o.mtu {
        s.push_str(&format!("option:mtu,{m}\n"));
    }
    s
}

/// The file name of a host (its MAC, lowercase, with dashes).
pub fn host_file_name(mac: &MacAddr) -> String {
    mac.to_string().to_ascii_lowercase().replace(':', "-")
}

/// The content of a host's file: one `--dhcp-host` line.
pub fn host_line(h: &DhcpHost) -> String {
    let mac = h.mac.to_string().to_ascii_lowercase();
    match &h.hostname {
        Some(name) => format!("{mac},{},{name}\n", h.ip),
        None => format!("{mac},{}\n", h.ip),
    }
}

/// Reads one host line back; `None` unless it is exactly what [`host_line`] writes.
fn parse_host_line(line: &str) -> Option<DhcpHost> {
    let mut parts = line.split(',');
    let mac: MacAddr = parts.next()?.parse().ok()?;
    let ip: Ipv4Addr = parts.next()?.parse().ok()?;
    let hostname = parts.next().map(str::to_string);
    if parts.next().is_some() {
        return None;
    }
    let host = DhcpHost { mac, ip, hostname };
    (host_line(&host) == format!("{line}\n")).then_some(host)
}

/// Reads a host file back; `None` when it is not one hostnet wrote.
pub fn parse_host(file_name: &str, text: &str) -> Option<DhcpHost> {
    let mut lines = text.lines();
    let host = parse_host_line(lines.next()?)?;
    (lines.next().is_none() && host_file_name(&host.mac) == file_name).then_some(host)
}

/// The hosts file (`--dhcp-hostsfile`): every host as of the last fold.
pub fn hosts_file<'a>(network: &str, hosts: impl Iterator<Item = &'a DhcpHost>) -> String {
    let mut s = format!("# hostnet: declared hosts of network {network}; rewritten by hostnet\n");
    for h in hosts {
        s.push_str(&host_line(h));
    }
    s
}

/// Reads the hosts file back; `None` when a line is not one hostnet wrote.
pub fn parse_hosts_file(text: &str) -> Option<Vec<DhcpHost>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(parse_host_line)
        .collect()
}

/// One line of dnsmasq's lease file.
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

/// The IPv4 leases in a lease file (`EXPIRY MAC IP NAME CLIENT-ID`); other lines are
/// skipped.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn flags() -> ServerFlags {
        ServerFlags {
            interface: "tenant1".into(),
            address: "10.10.0.1/24".parse().expect("valid"),
            range: Some((
                "10.10.0.100".parse().expect("valid"),
                "10.10.0.200".parse().expect("valid"),
            )),
            lease_seconds: Some(3600),
            domain: Some("tenant1.example".into()),
            upstream: vec![],
            resolv_conf: false,
            ping_check: true,
            log_dhcp: false,
        }
    }

    #[test]
    fn command_line() {
        let a = argv(&PathBuf::from("/var/lib/hostnet/dnsmasq/tenant1"), &flags());
        let text = a.join(" ");
        assert!(text.contains("--dhcp-range=10.10.0.100,10.10.0.200,255.255.255.0,3600s"));
        assert!(text.contains("--interface=tenant1 --except-interface=lo"));
        assert!(text.contains("--dhcp-hostsdir=/var/lib/hostnet/dnsmasq/tenant1/hosts"));
        assert!(text.contains("--domain=tenant1.example --local=/tenant1.example/ --no-resolv"));
        assert!(text.contains("--dhcp-lease-max=256"));
        assert!(!text.contains("--no-ping"));
        assert!(text.contains("--quiet-dhcp"));
        let mut f = flags();
        f.log_dhcp = true;
        assert!(!argv(&PathBuf::from("/d"), &f)
            .join(" ")
            .contains("--quiet-dhcp"));
        let mut f = flags();
        f.range = None;
        f.lease_seconds = None;
        let a = argv(&PathBuf::from("/d"), &f);
        assert!(a.contains(&"--dhcp-range=10.10.0.0,static,255.255.255.0,infinite".to_string()));
    }

    #[test]
    fn options() {
        let o = ServerOptions {
            router: None,
            dns_servers: vec![
                "10.10.0.1".parse().expect("valid"),
                "9.9.9.9".parse().expect("valid"),
            ],
            mtu: Some(1450),
        };
        let text = options_file("tenant1", &o);
        assert!(text.ends_with("3\noption:dns-server,10.10.0.1,9.9.9.9\noption:mtu,1450\n"));
    }

    #[test]
    fn hosts_round_trip() {
        let h = DhcpHost {
            mac: "52:54:00:12:34:AB".parse().expect("valid"),
            ip: "10.10.0.5".parse().expect("valid"),
            hostname: Some("vm1".into()),
        };
        assert_eq!(host_file_name(&h.mac), "52-54-00-12-34-ab");
        assert_eq!(host_line(&h), "52:54:00:12:34:ab,10.10.0.5,vm1\n");
        assert_eq!(
            parse_host("52-54-00-12-34-ab", &host_line(&h)),
            Some(h.clone())
        );
        assert_eq!(parse_host("other", &host_line(&h)), None);
        assert_eq!(parse_host("52-54-00-12-34-ab", "x\n"), None);
        let file = hosts_file("t1", [&h].into_iter());
        assert!(file.starts_with("# hostnet"));
        assert_eq!(parse_hosts_file(&file), Some(vec![h]));
        assert_eq!(parse_hosts_file("# x\nbogus\n"), None);
    }

    #[test]
    fn leases() {
        let l = parse_leases(
            "1700000000 52:54:00:12:34:56 10.10.0.5 vm1 01:52:54:00:12:34:56\n0 aa:bb:cc:dd:ee:ff 10.10.0.100 * *\nduid 00:01\n",
        );
        assert_eq!(l.len(), 2);
        assert!(l[1].active(5) && l[1].hostname.is_none());
        assert!(!l[0].active(1_800_000_000));
    }
}
