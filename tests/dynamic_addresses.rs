//! Addresses the kernel or a DHCP client keeps (no IFA_F_PERMANENT): a listed network's
//! exact address list leaves them alone, so `apply` converges on a link where router
//! advertisements arrive. Before, every apply removed the SLAAC address of a bridged
//! network that lists IPv4 only, and the kernel added it back at the next advertisement.
//!
//! The router advertisements are real: the test sends them itself (a raw ICMPv6 socket
//! on the far end of the uplink's veth), and the kernel autoconfigures the bridge from
//! them. Every change goes through the day-2 step: the dry run prints the real apply's
//! plan, the model ends where the kernel does, and applying again changes nothing.

mod common;
#[path = "day2/host.rs"]
#[allow(dead_code)]
mod host;

use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use common::text;
use host::{have, ip, query, Host};
use hostnet::netdev::Address;

/// `ICMPV6_ROUTER_ADVERTISEMENT`.
const RA: u8 = 134;
/// `ND_OPT_PREFIX_INFORMATION`, its flags: on-link (L) and autonomous (A).
const PREFIX_INFO: u8 = 3;
const ON_LINK_AUTONOMOUS: u8 = 0xc0;

/// A router advertisement that makes no default router (lifetime 0) and offers `prefix`
/// /64 for autoconfiguration with the given lifetimes (RFC 4861 4.2, 4.6.2).
fn advertisement(prefix: Ipv6Addr, valid: u32, preferred: u32) -> Vec<u8> {
    let mut p = vec![RA, 0, 0, 0, 64, 0, 0, 0];
    p.extend([0u8; 8]); // reachable time, retransmission timer: unspecified
    p.extend([PREFIX_INFO, 4, 64, ON_LINK_AUTONOMOUS]);
    p.extend(valid.to_be_bytes());
    p.extend(preferred.to_be_bytes());
    p.extend([0u8; 4]);
    p.extend(prefix.octets());
    p
}

/// Sends one advertisement to all nodes (ff02::1) out of `dev`, with the hop limit of
/// 255 receivers require. The kernel fills in the checksum of ICMPv6 raw sockets and
/// the link-local source.
fn send_advertisement(dev: &str, packet: &[u8]) -> io::Result<()> {
    let ifindex = nix::net::if_::if_nametoindex(dev)?;
    // SAFETY: socket() takes no pointers; the result is checked before use.
    let raw = unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMPV6,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor socket() just returned, owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let set = |opt: libc::c_int, value: libc::c_int| -> io::Result<()> {
        // SAFETY: `value` lives for the call and the length passed is its size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_IPV6,
                opt,
                (&raw const value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    set(libc::IPV6_MULTICAST_HOPS, 255)?;
    set(
        libc::IPV6_MULTICAST_IF,
        libc::c_int::try_from(ifindex).unwrap_or(0),
    )?;
    // Not to this namespace's own stack through loopback: only across the veth.
    set(libc::IPV6_MULTICAST_LOOP, 0)?;
    // SAFETY: sockaddr_in6 is plain data, valid when zeroed.
    let mut to: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    to.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    to.sin6_addr.s6_addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets();
    to.sin6_scope_id = ifindex;
    // SAFETY: `packet` and `to` live for the call; the lengths are theirs.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            packet.as_ptr().cast(),
            packet.len(),
            0,
            (&raw const to).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn in_prefix(a: &Address, prefix: &str) -> bool {
    let p: ipnet::IpNet = prefix.parse().expect("prefix");
    p.contains(&a.addr.addr())
}

/// Advertises `prefix` from `dev` until the kernel has made `count` addresses in it on
/// `on` (the link-local sources need a moment after the devices come up: until then an
/// advertisement goes out without a usable source and is dropped).
fn autoconfigure(dev: &str, on: &str, prefix: &str, count: usize) -> Vec<Address> {
    let net: ipnet::Ipv6Net = prefix.parse().expect("prefix");
    let packet = advertisement(net.network(), 300, 300);
    let start = Instant::now();
    loop {
        // Sending fails while the source is not usable yet; the next round retries.
        let _ = send_advertisement(dev, &packet);
        let made: Vec<Address> = query()
            .addresses
            .into_iter()
            .filter(|a| a.ifname == on && in_prefix(a, prefix))
            .collect();
        if made.len() >= count {
            return made;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no autoconfigured addresses on {on} after 30 s of advertisements: {made:?}\n{}",
            ip("-6 addr show")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

const LAN_V4: &str = "networks:
  - {name: lan, uplink: eth1, ipv4: {address: [192.0.2.10/24]}}
";

const LAN_BOTH: &str = "networks:
  - {name: lan, uplink: eth1, ipv4: {address: [192.0.2.10/24]}, ipv6: {address: ['2001:db8:85::10/64']}}
";

#[test]
fn addresses_from_router_advertisements_and_dhcp_clients_stay_and_apply_converges() {
    let test = "addresses_from_router_advertisements_and_dhcp_clients_stay_and_apply_converges";
    let Some(h) = Host::new(test) else { return };
    if !have(test, "ip") {
        return;
    }
    h.step(LAN_V4);
    // The kernel's SLAAC address and, with privacy extensions, a temporary one.
    std::fs::write("/proc/sys/net/ipv6/conf/lan/use_tempaddr", "2").expect("sysctl");
    let slaac = autoconfigure("eth1p", "lan", "2001:db8:85::/64", 2);
    assert!(slaac.iter().all(|a| a.dynamic), "{slaac:?}");
    // What DHCP clients' scripts add (with the lease time), and one added by hand.
    ip("addr add 198.51.100.77/24 dev lan valid_lft 300 preferred_lft 300");
    ip("-6 addr add 2001:db8:99::5/64 dev lan valid_lft 300 preferred_lft 300 nodad");
    ip("addr add 192.0.2.99/24 dev lan");
    let before = query();
    let dynamic: Vec<&Address> = before
        .addresses
        .iter()
        .filter(|a| a.ifname == "lan" && a.dynamic)
        .collect();
    assert_eq!(dynamic.len(), 4, "{:#?}", before.addresses);
    assert!(before
        .addresses
        .iter()
        .any(|a| a.addr.to_string() == "192.0.2.99/24" && !a.dynamic));

    // The file lists IPv4 only: the address added by hand goes, the dynamic ones stay,
    // and the apply after it changes nothing (`step` checks).
    let o = h.step(LAN_V4);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("- address 192.0.2.99/24 dev lan"),
        "{}",
        text(&o)
    );
    for a in &dynamic {
        assert!(
            !out.contains(&format!("- address {} dev lan", a.addr)),
            "{}",
            text(&o)
        );
    }
    let after = query();
    for a in &dynamic {
        assert!(
            after.addresses.iter().any(|x| x.same_key(a) && x.dynamic),
            "{a:?} is gone:\n{}",
            ip("addr show dev lan")
        );
    }
    // The next advertisement refreshes them, and applying again still changes nothing
    // (before, each apply removed them and each advertisement brought them back).
    autoconfigure("eth1p", "lan", "2001:db8:85::/64", 2);
    let again = h.apply(LAN_V4);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to change"),
        "{}",
        text(&again)
    );

    // Listing IPv6 too: its address comes, the SLAAC and leased ones stay.
    h.step(LAN_BOTH);
    let after = query();
    for a in &dynamic {
        assert!(
            after.addresses.iter().any(|x| x.same_key(a)),
            "{a:?} is gone"
        );
    }

    // `show` does not give them as configuration, says why, and its output applies as
    // no change.
    let shown = h.hostnet(&["show", "-o", "yaml"], None);
    assert!(shown.status.success(), "{}", text(&shown));
    let doc = String::from_utf8_lossy(&shown.stdout).into_owned();
    for a in &dynamic {
        let line = doc
            .lines()
            .find(|l| l.contains(&a.addr.addr().to_string()))
            .unwrap_or_else(|| panic!("{a:?} not mentioned:\n{doc}"));
        assert!(
            line.starts_with('#') && line.contains("dynamic"),
            "{line}\n{doc}"
        );
    }
    let again = h.apply(&doc);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to change"),
        "{}",
        text(&again)
    );
}

/// `dev`'s `net.ipv6.conf.DEV.disable_ipv6`, in this thread's namespace.
fn ipv6_off(dev: &str) -> bool {
    let v = std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"))
        .unwrap_or_else(|e| panic!("{dev}: {e}"));
    v.trim() == "1"
}

/// Which IPv4-only networks' bridges keep IPv6: only the one whose uplink was there with
/// IPv6 (`lan` on `eth1`, where the test above gets SLAAC addresses). A new uplink (the
/// veth `nv1` the file makes) or one whose IPv6 was off (`eth2`) puts the host on a LAN
/// where it had no IPv6, and the bridge is made without (`plan/port_ipv6.rs`). The dry run
/// predicts it (`step`), and a network given an IPv6 address gets it back.
#[test]
fn only_an_uplink_that_had_ipv6_keeps_it_on_an_ipv4_only_network_s_new_bridge() {
    let test = "only_an_uplink_that_had_ipv6_keeps_it_on_an_ipv4_only_network_s_new_bridge";
    let Some(h) = Host::new(test) else { return };
    if !std::path::Path::new("/proc/net/if_inet6").exists() {
        println!("SKIP {test}: no IPv6 in this kernel");
        return;
    }
    std::fs::write("/proc/sys/net/ipv6/conf/eth2/disable_ipv6", "1").expect("sysctl");
    let file = "interfaces:
  - {name: nv1, type: veth, veth: {peer: np1}}
networks:
  - {name: lan, uplink: eth1, ipv4: {address: [192.0.2.10/24]}}
  - {name: new, uplink: nv1, ipv4: {address: [198.51.100.10/24]}}
  - {name: old, uplink: eth2, ipv4: {address: [203.0.113.10/24]}}
";
    let o = h.step(file);
    let out = String::from_utf8_lossy(&o.stdout);
    for dev in ["new", "old", "nv1", "np1"] {
        assert!(ipv6_off(dev), "{dev}\n{}", text(&o));
        assert!(
            out.contains(&format!("sysctl net.ipv6.conf.{dev}.disable_ipv6: 0 -> 1")),
            "{dev}\n{}",
            text(&o)
        );
    }
    assert!(!ipv6_off("lan") && !ipv6_off("eth1"));
    // The file asks for IPv6 on `new`: it gets it back, before its address.
    let o = h.step(&file.replace(
        "address: [198.51.100.10/24]}",
        "address: [198.51.100.10/24]}, ipv6: {address: ['2001:db8:86::10/64']}",
    ));
    assert!(!ipv6_off("new"), "{}", text(&o));
    assert!(query()
        .addresses
        .iter()
        .any(|a| a.ifname == "new" && a.addr.to_string() == "2001:db8:86::10/64"));
}
