use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ev(client: Client, pairs: &[(&str, &str)], args: &[&str]) -> Result<Event, EventError> {
    let env = env(pairs);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    parse(
        client,
        &Input {
            env: &env,
            args: &args,
        },
    )
}

fn lease(addr: &str, router: Router) -> Change {
    Change::Install(Lease {
        address: addr.parse().expect("net"),
        router,
    })
}

const BOUND: &[(&str, &str)] = &[
    ("reason", "BOUND"),
    ("interface", "lan"),
    ("new_ip_address", "10.77.0.122"),
    ("new_subnet_mask", "255.255.255.0"),
    ("new_routers", "10.77.0.1 10.77.0.2"),
];

#[test]
fn dhclient_bound_and_friends() {
    let e = ev(Client::Dhclient, BOUND, &[]).expect("parses");
    assert_eq!(e.interface, "lan");
    let via = Router::Via("10.77.0.1".parse().expect("ip"));
    assert_eq!(
        e.changes,
        vec![(Family::Ipv4, lease("10.77.0.122/24", via))]
    );
    for (reason, change) in [
        ("RELEASE", Change::Remove),
        ("STOP", Change::Remove),
        ("EXPIRE", Change::Remove),
        ("FAIL", Change::Keep),
        ("TIMEOUT", Change::Keep),
    ] {
        let e = ev(
            Client::Dhclient,
            &[("reason", reason), ("interface", "lan")],
            &[],
        )
        .expect("parses");
        assert_eq!(e.changes, vec![(Family::Ipv4, change)], "{reason}");
    }
    let e = ev(
        Client::Dhclient,
        &[("reason", "PREINIT"), ("interface", "lan")],
        &[],
    )
    .expect("parses");
    assert!(e.changes.is_empty());
}

#[test]
fn no_router_or_zero_router_means_no_default_route() {
    let mut pairs = BOUND.to_vec();
    pairs.retain(|(k, _)| *k != "new_routers");
    let e = ev(Client::Dhclient, &pairs, &[]).expect("parses");
    assert_eq!(e.changes[0].1, lease("10.77.0.122/24", Router::None));
    pairs.push(("new_routers", "0.0.0.0"));
    let e = ev(Client::Dhclient, &pairs, &[]).expect("parses");
    assert_eq!(e.changes[0].1, lease("10.77.0.122/24", Router::None));
}

#[test]
fn dhcpcd_uses_cidr_when_given() {
    let e = ev(
        Client::Dhcpcd,
        &[
            ("reason", "RENEW"),
            ("interface", "lan"),
            ("new_ip_address", "10.1.2.3"),
            ("new_subnet_cidr", "16"),
            ("new_routers", "10.1.0.1"),
        ],
        &[],
    )
    .expect("parses");
    assert_eq!(
        e.changes[0].1,
        lease("10.1.2.3/16", Router::Via("10.1.0.1".parse().expect("ip")))
    );
}

#[test]
fn dhclient_v6() {
    let e = ev(
        Client::Dhclient,
        &[
            ("reason", "BOUND6"),
            ("interface", "lan"),
            ("new_ip6_address", "2001:db8::5"),
            ("new_ip6_prefixlen", "128"),
        ],
        &[],
    )
    .expect("parses");
    assert_eq!(
        e.changes,
        vec![(Family::Ipv6, lease("2001:db8::5/128", Router::FromKernel))]
    );
}

#[test]
fn networkmanager_and_networkd() {
    let e = ev(
        Client::Networkmanager,
        &[
            ("DHCP4_IP_ADDRESS", "192.0.2.7"),
            ("DHCP4_SUBNET_MASK", "255.255.255.0"),
            ("DHCP4_ROUTERS", "192.0.2.1"),
        ],
        &["lan", "dhcp4-change"],
    )
    .expect("parses");
    assert_eq!(
        e.changes[0].1,
        lease(
            "192.0.2.7/24",
            Router::Via("192.0.2.1".parse().expect("ip"))
        )
    );
    let e = ev(Client::Networkmanager, &[], &["lan", "down"]).expect("parses");
    assert_eq!(
        e.changes,
        vec![
            (Family::Ipv4, Change::Remove),
            (Family::Ipv6, Change::Remove)
        ]
    );
    let e = ev(Client::Networkmanager, &[], &["none", "hostname"]).expect("parses");
    assert!(e.changes.is_empty());
    let e = ev(
        Client::Networkd,
        &[("IFACE", "lan"), ("STATE", "routable")],
        &[],
    )
    .expect("parses");
    assert_eq!(e.changes.len(), 2);
}

#[test]
fn malformed_events_are_rejected() {
    let bad: &[(&str, &str, &str)] = &[
        ("interface", "lan/../x", "invalid character"),
        ("interface", "lan\nx", "control characters"),
        ("interface", "averyveryverylongname", "21 bytes"),
        ("new_ip_address", "10.77.0.256", "not an IPv4 address"),
        ("new_ip_address", "10.77.0.1; reboot", "not an IPv4 address"),
        ("new_ip_address", "224.0.0.1", "cannot be a leased address"),
        ("new_subnet_mask", "255.0.255.0", "not a contiguous netmask"),
        ("new_subnet_mask", "128.0.0.0", "must be /16 or longer"),
        ("new_subnet_mask", "0.0.0.0", "must be /16 or longer"),
        ("new_subnet_mask", "255.0.0.0", "must be /16 or longer"),
        ("new_routers", "10.77.0.1 $(reboot)", "not an IPv4 address"),
    ];
    for (key, value, expected) in bad {
        let mut pairs: Vec<(&str, &str)> =
            BOUND.iter().filter(|(k, _)| k != key).copied().collect();
        pairs.push((key, value));
        let err = ev(Client::Dhclient, &pairs, &[])
            .expect_err(value)
            .to_string();
        assert!(err.contains(expected), "{key}={value:?}: {err}");
    }
    let huge = "1".repeat(100_000);
    let mut pairs = BOUND.to_vec();
    pairs.retain(|(k, _)| *k != "new_routers");
    pairs.push(("new_routers", &huge));
    assert!(ev(Client::Dhclient, &pairs, &[])
        .expect_err("huge")
        .to_string()
        .contains("bytes long"));
    let many = vec!["10.0.0.1"; 40].join(" ");
    let mut pairs = BOUND.to_vec();
    pairs.retain(|(k, _)| *k != "new_routers");
    pairs.push(("new_routers", &many));
    assert!(ev(Client::Dhclient, &pairs, &[])
        .expect_err("many")
        .to_string()
        .contains("40 routers"));
    assert_eq!(
        ev(Client::Dhclient, &[("reason", "BOUND")], &[]),
        Err(EventError::Missing("interface"))
    );
    let mut missing = BOUND.to_vec();
    missing.retain(|(k, _)| *k != "new_ip_address");
    assert_eq!(
        ev(Client::Dhclient, &missing, &[]),
        Err(EventError::Missing("new_ip_address"))
    );
    assert!(ev(Client::Networkmanager, &[], &["lan", "up;reboot"]).is_err());
    assert!(ev(Client::Networkmanager, &[], &["lan"]).is_err());
    assert!(ev(
        Client::Networkd,
        &[("IFACE", "lan"), ("STATE", "routable\n")],
        &[]
    )
    .is_err());
}

/// Issue 16 item 6: a router that is the lease's own address, its subnet's network or
/// broadcast address, or outside its subnet is refused (exit 2), as a static gateway
/// is, by every client that hands a router over.
#[test]
fn a_router_that_is_the_host_itself_or_not_on_the_subnet_is_refused() {
    let bad = [
        ("10.77.0.122", "is the lease's own address"),
        ("10.77.0.0", "is the network address of the lease's subnet"),
        (
            "10.77.0.255",
            "is the broadcast address of the lease's subnet",
        ),
        ("10.78.0.1", "is outside the lease's subnet (10.77.0.0/24)"),
    ];
    for (router, expected) in bad {
        for client in [Client::Dhclient, Client::Dhcpcd] {
            let mut pairs = BOUND.to_vec();
            pairs.retain(|(k, _)| *k != "new_routers");
            pairs.push(("new_routers", router));
            let err = ev(client, &pairs, &[]).expect_err(router).to_string();
            assert!(err.starts_with("new_routers: router"), "{err}");
            assert!(err.contains(expected), "{client:?} {router}: {err}");
        }
        let err = ev(
            Client::Networkmanager,
            &[
                ("DHCP4_IP_ADDRESS", "10.77.0.122"),
                ("DHCP4_SUBNET_MASK", "255.255.255.0"),
                ("DHCP4_ROUTERS", router),
            ],
            &["lan", "dhcp4-change"],
        )
        .expect_err(router)
        .to_string();
        assert!(err.contains(expected), "networkmanager {router}: {err}");
    }
    // Only the first router is used, and only it is checked; /31 has no broadcast.
    let mut pairs = BOUND.to_vec();
    pairs.retain(|(k, _)| *k != "new_routers" && *k != "new_subnet_mask");
    pairs.push(("new_subnet_mask", "255.255.255.254"));
    pairs.push(("new_routers", "10.77.0.123"));
    ev(Client::Dhclient, &pairs, &[]).expect("a /31 peer is a router");
}
