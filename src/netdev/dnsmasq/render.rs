//! What hostnet writes for a dnsmasq, and reads back: the command line, the options file,
//! the hosts file and per-host files. Pure functions of values.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::netdev::dhcp_server::{
    DhcpHost, Duid, HostKey, Ipv6Flags, RaMode, ServerFlags, ServerSpec,
};
use crate::netdev::types::MacAddr;

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

/// Room for DHCPv6 leases in `--dhcp-lease-max` (a stateful range may be a whole /64).
const LEASES_V6: u64 = 1 << 16;

fn netmask(prefix: u8) -> Ipv4Addr {
    let bits = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(bits)
}

fn lease(seconds: Option<u64>) -> String {
    seconds.map_or_else(|| "infinite".to_string(), |s| format!("{s}s"))
}

/// The IPv6 `--dhcp-range`: the network's prefix with the mode's keyword, or a stateful
/// range (declared hosts only: `static`).
fn range6(v6: &Ipv6Flags) -> String {
    let net = v6.address.network();
    let plen = v6.address.prefix_len();
    let lease = lease(v6.lease_seconds);
    match (v6.ra, v6.range) {
        (RaMode::Slaac, _) => format!("{net},ra-only,{plen},{lease}"),
        (RaMode::Stateless, _) => format!("{net},ra-stateless,{plen},{lease}"),
        (RaMode::Stateful, Some((a, b))) => format!("{a},{b},{plen},{lease}"),
        (RaMode::Stateful, None) => format!("{net},static,{plen},{lease}"),
    }
}

/// `--ra-param`: the MTU option (left out: dnsmasq sends the interface's IPv6 MTU), the
/// interval and the router lifetime.
fn ra_param(interface: &str, v6: &Ipv6Flags) -> String {
    let mtu = v6.mtu.map(|m| format!("mtu:{m},")).unwrap_or_default();
    format!(
        "--ra-param={interface},{mtu}{},{}",
        v6.ra_interval, v6.router_lifetime
    )
}

/// dnsmasq's command line for a server whose files live in `dir` (argv[0] included).
///
/// Everything that only a restart changes is here, so that comparing this with
/// `/proc/PID/cmdline` tells whether the running process has the current configuration.
/// An IPv4-only server's line is what earlier releases wrote; IPv6 comes last.
pub fn argv(dir: &Path, f: &ServerFlags) -> Vec<String> {
    let file = |name: &str| dir.join(name).display().to_string();
    let mut a = vec![
        PROGRAM.to_string(),
        // Never /etc/dnsmasq.conf: everything this instance does is on this line.
        "--conf-file=/dev/null".to_string(),
        format!("--pid-file={}", file(PID_FILE)),
        "--bind-interfaces".to_string(),
        format!("--interface={}", f.interface),
        "--except-interface=lo".to_string(),
        "--no-hosts".to_string(),
    ];
    let mut lease_max = 0;
    if let Some(address) = f.address {
        let mask = netmask(address.prefix_len());
        let range = match f.range {
            Some((start, end)) => format!("{start},{end},{mask},{}", lease(f.lease_seconds)),
            None => format!(
                "{},static,{mask},{}",
                address.network(),
                lease(f.lease_seconds)
            ),
        };
        a.push(format!("--dhcp-range={range}"));
        // Enough leases for the whole subnet (dnsmasq's default is 1,000).
        lease_max += 1u64 << (32 - u32::from(address.prefix_len())).min(24);
    }
    if f.ipv6.as_ref().is_some_and(|v6| v6.ra == RaMode::Stateful) {
        lease_max += LEASES_V6;
    }
    if lease_max > 0 {
        a.push(format!("--dhcp-lease-max={lease_max}"));
    }
    a.extend([
        format!("--dhcp-leasefile={}", file(LEASE_FILE)),
        format!("--dhcp-hostsfile={}", file(HOSTS_FILE)),
        format!("--dhcp-hostsdir={}", file(HOSTS_DIR)),
        format!("--dhcp-optsfile={}", file(OPTIONS_FILE)),
        format!("--log-facility={}", file(LOG_FILE)),
    ]);
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
        if f.ipv6.is_some() {
            // ... and at every advertisement and DHCPv6 exchange.
            a.push("--quiet-dhcp6".to_string());
            a.push("--quiet-ra".to_string());
        }
    }
    if !f.ping_check {
        a.push("--no-ping".to_string());
    }
    if let Some(v6) = &f.ipv6 {
        a.push("--enable-ra".to_string());
        a.push(format!("--dhcp-range={}", range6(v6)));
        a.push(ra_param(&f.interface, v6));
    }
    a
}

/// The options file (`--dhcp-optsfile`).
pub fn options_file(network: &str, spec: &ServerSpec) -> String {
    let o = &spec.options;
    let mut s = format!("# hostnet: DHCP options of network {network}; rewritten by hostnet\n");
    if spec.flags.address.is_some() {
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
    }
    if spec.flags.ipv6.is_some() {
        if !o.dns_servers6.is_empty() {
            let list: Vec<String> = o.dns_servers6.iter().map(|a| format!("[{a}]")).collect();
            s.push_str(&format!("option6:dns-server,{}\n", list.join(",")));
        }
        if !o.domain_search.is_empty() {
            s.push_str(&format!(
                "option6:domain-search,{}\n",
                o.domain_search.join(",")
            ));
        }
    }
    s
}

/// The file name of a host: its MAC (lowercase, with dashes), or `duid-` and its DUID's
/// hex digits.
pub fn host_file_name(key: &HostKey) -> String {
    match key {
        HostKey::Mac(mac) => mac.to_string().to_ascii_lowercase().replace(':', "-"),
        HostKey::Duid(d) => format!("duid-{}", d.to_string().replace(':', "")),
    }
}

/// The content of a host's file: one `--dhcp-host` line (`MAC` or `id:DUID`, the IPv4
/// address, the IPv6 address in brackets, the name).
pub fn host_line(h: &DhcpHost) -> String {
    let mut parts = vec![match h.key() {
        HostKey::Mac(mac) => mac.to_string().to_ascii_lowercase(),
        HostKey::Duid(d) => format!("id:{d}"),
    }];
    parts.extend(h.ip.map(|ip| ip.to_string()));
    parts.extend(h.ipv6.map(|ip| format!("[{ip}]")));
    parts.extend(h.hostname.clone());
    format!("{}\n", parts.join(","))
}

/// Reads one host line back; `None` unless it is exactly what [`host_line`] writes.
fn parse_host_line(line: &str) -> Option<DhcpHost> {
    let mut parts = line.split(',');
    let first = parts.next()?;
    let mut host = DhcpHost {
        mac: None,
        duid: None,
        ip: None,
        ipv6: None,
        hostname: None,
    };
    match first.strip_prefix("id:") {
        Some(d) => host.duid = Some(d.parse::<Duid>().ok()?),
        None => host.mac = Some(first.parse::<MacAddr>().ok()?),
    }
    for p in parts {
        if host.hostname.is_some() {
            return None;
        }
        if let Some(v6) = p.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
            host.ipv6 = Some(v6.parse::<Ipv6Addr>().ok()?);
        } else if let Ok(ip) = p.parse::<Ipv4Addr>() {
            host.ip = Some(ip);
        } else if !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            host.hostname = Some(p.to_string());
        } else {
            return None;
        }
    }
    (host_line(&host) == format!("{line}\n")).then_some(host)
}

/// Reads a host file back; `None` when it is not one hostnet wrote.
pub fn parse_host(file_name: &str, text: &str) -> Option<DhcpHost> {
    let mut lines = text.lines();
    let host = parse_host_line(lines.next()?)?;
    (lines.next().is_none() && host_file_name(&host.key()) == file_name).then_some(host)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::dhcp_server::ServerOptions;
    use std::path::PathBuf;

    fn flags() -> ServerFlags {
        ServerFlags {
            interface: "tenant1".into(),
            address: Some("10.10.0.1/24".parse().expect("valid")),
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
            ipv6: None,
        }
    }

    fn v6(ra: RaMode) -> Ipv6Flags {
        Ipv6Flags {
            address: "2001:db8:10::1/64".parse().expect("valid"),
            ra,
            range: None,
            lease_seconds: Some(86400),
            ra_interval: 600,
            router_lifetime: 1800,
            mtu: None,
        }
    }

    #[test]
    fn command_line() {
        let a = argv(&PathBuf::from("/var/lib/hostnet/dnsmasq/tenant1"), &flags());
        // What earlier releases started: a server that gains no IPv6 keeps its process.
        assert_eq!(
            a.join(" "),
            "dnsmasq --conf-file=/dev/null --pid-file=/var/lib/hostnet/dnsmasq/tenant1/dnsmasq.pid \
             --bind-interfaces --interface=tenant1 --except-interface=lo --no-hosts \
             --dhcp-range=10.10.0.100,10.10.0.200,255.255.255.0,3600s --dhcp-lease-max=256 \
             --dhcp-leasefile=/var/lib/hostnet/dnsmasq/tenant1/leases \
             --dhcp-hostsfile=/var/lib/hostnet/dnsmasq/tenant1/hostsfile \
             --dhcp-hostsdir=/var/lib/hostnet/dnsmasq/tenant1/hosts \
             --dhcp-optsfile=/var/lib/hostnet/dnsmasq/tenant1/options \
             --log-facility=/var/lib/hostnet/dnsmasq/tenant1/dnsmasq.log \
             --domain=tenant1.example --local=/tenant1.example/ --no-resolv --quiet-dhcp"
        );
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
    fn ipv6_command_lines() {
        let line = |f: &ServerFlags| argv(&PathBuf::from("/d"), f).join(" ");
        let mut f = flags();
        f.ipv6 = Some(v6(RaMode::Slaac));
        let text = line(&f);
        assert!(
            text.ends_with(
                "--quiet-dhcp --quiet-dhcp6 --quiet-ra --enable-ra \
                 --dhcp-range=2001:db8:10::,ra-only,64,86400s --ra-param=tenant1,600,1800"
            ),
            "{text}"
        );
        assert!(text.contains("--dhcp-lease-max=256 "), "{text}");
        f.ipv6 = Some(v6(RaMode::Stateless));
        assert!(line(&f).contains("--dhcp-range=2001:db8:10::,ra-stateless,64,86400s"));
        let mut s = v6(RaMode::Stateful);
        s.mtu = Some(1400);
        s.router_lifetime = 0;
        f.ipv6 = Some(s.clone());
        let text = line(&f);
        assert!(text.contains("--dhcp-range=2001:db8:10::,static,64,86400s"));
        assert!(text.contains("--ra-param=tenant1,mtu:1400,600,0"));
        assert!(text.contains("--dhcp-lease-max=65792 "), "{text}");
        s.range = Some((
            "2001:db8:10::100".parse().expect("valid"),
            "2001:db8:10::1ff".parse().expect("valid"),
        ));
        s.lease_seconds = None;
        f.ipv6 = Some(s);
        assert!(line(&f).contains("--dhcp-range=2001:db8:10::100,2001:db8:10::1ff,64,infinite"));
        // IPv6 only: no IPv4 range at all.
        f.address = None;
        f.range = None;
        let text = line(&f);
        assert_eq!(text.matches("--dhcp-range=").count(), 1, "{text}");
        assert!(text.contains("--dhcp-lease-max=65536 "), "{text}");
        f.ipv6 = Some(v6(RaMode::Slaac));
        assert!(!line(&f).contains("--dhcp-lease-max"));
    }

    #[test]
    fn options() {
        let mut spec = ServerSpec {
            flags: flags(),
            options: ServerOptions {
                router: None,
                dns_servers: vec![
                    "10.10.0.1".parse().expect("valid"),
                    "9.9.9.9".parse().expect("valid"),
                ],
                mtu: Some(1450),
                dns_servers6: vec!["2001:db8:10::1".parse().expect("valid")],
                domain_search: vec!["a.example".into(), "b.example".into()],
            },
        };
        // IPv4 only: the IPv6 options are not written.
        let text = options_file("tenant1", &spec);
        assert!(text.ends_with("3\noption:dns-server,10.10.0.1,9.9.9.9\noption:mtu,1450\n"));
        spec.flags.ipv6 = Some(v6(RaMode::Stateless));
        let text = options_file("tenant1", &spec);
        assert!(text.ends_with(
            "option:mtu,1450\noption6:dns-server,[2001:db8:10::1]\noption6:domain-search,a.example,b.example\n"
        ));
        spec.flags.address = None;
        let text = options_file("tenant1", &spec);
        assert!(!text.contains("option:"), "{text}");
    }

    #[test]
    fn hosts_round_trip() {
        let h = DhcpHost {
            mac: Some("52:54:00:12:34:AB".parse().expect("valid")),
            duid: None,
            ip: Some("10.10.0.5".parse().expect("valid")),
            ipv6: None,
            hostname: Some("vm1".into()),
        };
        assert_eq!(host_file_name(&h.key()), "52-54-00-12-34-ab");
        assert_eq!(host_line(&h), "52:54:00:12:34:ab,10.10.0.5,vm1\n");
        assert_eq!(
            parse_host("52-54-00-12-34-ab", &host_line(&h)),
            Some(h.clone())
        );
        assert_eq!(parse_host("other", &host_line(&h)), None);
        assert_eq!(parse_host("52-54-00-12-34-ab", "x\n"), None);
        let file = hosts_file("t1", [&h].into_iter());
        assert!(file.starts_with("# hostnet"));
        assert_eq!(parse_hosts_file(&file), Some(vec![h.clone()]));
        assert_eq!(parse_hosts_file("# x\nbogus\n"), None);

        let mut both = h.clone();
        both.ipv6 = Some("2001:db8:10::5".parse().expect("valid"));
        assert_eq!(
            host_line(&both),
            "52:54:00:12:34:ab,10.10.0.5,[2001:db8:10::5],vm1\n"
        );
        let by_duid = DhcpHost {
            mac: None,
            duid: Some("00:02:00:00:AB:11:01:02".parse().expect("valid")),
            ip: None,
            ipv6: Some("2001:db8:10::7".parse().expect("valid")),
            hostname: None,
        };
        assert_eq!(
            host_line(&by_duid),
            "id:00:02:00:00:ab:11:01:02,[2001:db8:10::7]\n"
        );
        assert_eq!(host_file_name(&by_duid.key()), "duid-00020000ab110102");
        for x in [&both, &by_duid] {
            let name = host_file_name(&x.key());
            assert_eq!(parse_host(&name, &host_line(x)), Some(x.clone()));
        }
        // Not what hostnet writes: out of order, a second name, a bare IPv6 address.
        for bad in [
            "52:54:00:12:34:ab,[2001:db8:10::5],10.10.0.5\n",
            "52:54:00:12:34:ab,10.10.0.5,vm1,vm2\n",
            "52:54:00:12:34:ab,2001:db8:10::5\n",
            "id:zz,[2001:db8:10::5]\n",
        ] {
            assert_eq!(parse_hosts_file(bad), None, "{bad}");
        }
    }
}
