//! Dynamic addresses (no IFA_F_PERMANENT: SLAAC, temporary, a DHCP client's) belong to
//! their makers: an exact address list never removes them, nothing re-adds them, and
//! plans converge with them in place. The kernel side is in `tests/dynamic_addresses.rs`.

use super::tests::{host, intent_of};
use super::*;
use crate::netdev::model::ModelDriver;
use crate::netdev::{Address, Driver};

fn dynamic(ifname: &str, a: &str) -> Address {
    Address {
        dynamic: true,
        ..Address::new(ifname, a.parse().expect("net"))
    }
}

/// Runs `intent`'s plan on `m` (every op accepted) and checks that it re-plans empty.
fn converge(m: &mut ModelDriver, intent: &crate::expand::Intent) -> Plan {
    let p = plan(&m.query().expect("query"), intent).unwrap_or_else(|e| panic!("{e:?}"));
    for phase in &p.phases {
        for (op, r) in phase.iter().zip(m.execute(phase)) {
            r.unwrap_or_else(|e| panic!("{op}: {e}\nplan:\n{p}"));
        }
    }
    let again = plan(&m.query().expect("query"), intent).expect("plans");
    assert!(again.is_empty(), "not converged:\n{again}\nafter:\n{p}");
    p
}

fn with(m: &ModelDriver, extra: &[Address]) -> ModelDriver {
    let mut s = m.state().clone();
    s.addresses.extend(extra.iter().cloned());
    s.normalize();
    ModelDriver::new(s)
}

const IPV4_ONLY: &str =
    "networks:\n  - {name: lan, uplink: eth0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}\n";

#[test]
fn an_exact_list_removes_permanent_strangers_and_keeps_dynamic_addresses() {
    let mut m = host();
    let intent = intent_of(IPV4_ONLY);
    converge(&mut m, &intent);
    // Router advertisements and a DHCP client add theirs; an admin adds one by hand.
    let slaac = dynamic("lan", "2001:db8:85::5054:ff:fe00:1/64");
    let temporary = dynamic("lan", "2001:db8:85::1234:5678:9abc:def0/64");
    let leased = dynamic("lan", "198.51.100.77/24");
    let by_hand = Address::new("lan", "192.0.2.99/24".parse().expect("net"));
    let mut m = with(
        &m,
        &[
            slaac.clone(),
            temporary.clone(),
            leased.clone(),
            by_hand.clone(),
        ],
    );
    let p = converge(&mut m, &intent);
    let deleted: Vec<&Address> = p
        .ops()
        .filter_map(|op| match op {
            Op::DeleteAddress(a) => Some(a),
            _ => None,
        })
        .collect();
    // (192.0.2.10 goes and comes back with it: the plan cannot tell which address of
    // the subnet the kernel holds as primary.)
    assert!(deleted.contains(&&by_hand), "{p}");
    assert!(deleted.iter().all(|a| !a.dynamic), "{p}");
    for a in [&slaac, &temporary, &leased] {
        assert!(m.state().addresses.contains(a), "{a:?} went:\n{p}");
    }
    // Listing IPv6 as well: the listed address comes, the dynamic ones stay.
    let both = intent_of(
        "networks:\n  - {name: lan, uplink: eth0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}, ipv6: {address: ['2001:db8:85::10/64']}}\n",
    );
    let p = converge(&mut m, &both);
    assert!(p.ops().all(|op| !matches!(op, Op::DeleteAddress(_))), "{p}");
    assert!(m.state().addresses.contains(&slaac));
}

#[test]
fn a_listed_address_that_is_there_as_dynamic_counts_as_there() {
    // The kernel refuses to add an address the device has (EEXIST), whatever its flags.
    let m = with(&host(), &[dynamic("eth0", "192.0.2.10/24")]);
    let intent = intent_of(
        "interfaces:\n  - {name: eth0, type: ethernet, ipv4: {address: [{ip: 192.0.2.10, prefix-length: 24}]}}\n",
    );
    let mut m = m;
    let p = converge(&mut m, &intent);
    assert!(p.is_empty(), "{p}");
}

#[test]
fn a_removed_network_leaves_a_dynamic_address_with_its_ip() {
    let mut m = host();
    let bridgeless = "networks:\n  - {name: lan, uplink: eth0, bridged: false, ipv4: {address: [192.0.2.10/24]}}\n";
    let mut applied = crate::engine::applied::Applied::default();
    let intent = applied
        .intent_for(&crate::model::parse(bridgeless).expect("parses"))
        .expect("expands");
    converge(&mut m, &intent);
    applied.merge(&intent);
    // A DHCP client on eth0 took the same address with a lease (after a `flush` of
    // hostnet's own); the network's removal must not take it.
    let mut s = m.state().clone();
    s.addresses.retain(|a| a.ifname != "eth0");
    s.addresses.push(dynamic("eth0", "192.0.2.10/24"));
    let mut m = ModelDriver::new(s);
    let gone = applied
        .intent_for(
            &crate::model::parse("networks:\n  - {name: lan, state: absent}\n").expect("parses"),
        )
        .expect("expands");
    let p = converge(&mut m, &gone);
    assert!(p.ops().all(|op| !matches!(op, Op::DeleteAddress(_))), "{p}");
}

#[test]
fn a_future_port_with_slaac_addresses_is_taken_and_one_with_a_lease_is_refused() {
    let m = with(
        &host(),
        &[dynamic("eth0", "2001:db8:85::5054:ff:fe00:1/64")],
    );
    let intent = intent_of(IPV4_ONLY);
    plan(m.state(), &intent).expect("SLAAC addresses on the uplink are the kernel's");
    let m = with(&host(), &[dynamic("eth0", "198.51.100.7/24")]);
    let errs = plan(m.state(), &intent).expect_err("refused");
    assert!(
        errs.iter().any(|e| e.path == "networks[0].uplink"
            && e.message
                .contains("198.51.100.7/24 with a lifetime (a DHCP client's)")),
        "{errs:?}"
    );
}

#[test]
fn a_dhcp_lease_is_read_from_a_dynamic_address() {
    let mut m = host();
    let intent = intent_of(
        "networks:\n  - {name: lan, uplink: eth0, ipv4: {dhcp: true}, source-routing: {table: 1100}}\n",
    );
    converge(&mut m, &intent);
    let mut m = with(&m, &[dynamic("lan", "192.0.2.50/24")]);
    let p = converge(&mut m, &intent);
    assert!(
        p.ops().any(|op| matches!(op, Op::AddRoute(r)
            if r.table == 1100 && r.src == Some("192.0.2.50".parse().expect("ip")))),
        "{p}"
    );
}

#[test]
fn a_restore_neither_removes_nor_makes_dynamic_addresses() {
    let base = host();
    let before = with(&base, &[dynamic("eth0", "2001:db8:85::1/64")]);
    let now = with(&base, &[dynamic("eth0", "2001:db8:85::2/64")]);
    let p = restore_plan(now.state(), before.state());
    assert!(p.is_empty(), "{p}");
}

#[test]
fn records_without_the_flag_read_as_permanent_and_permanent_ones_are_written_without_it() {
    let old: Address =
        serde_json::from_str(r#"{"ifname": "eth0", "addr": "192.0.2.10/24"}"#).expect("reads");
    assert!(!old.dynamic);
    assert!(!serde_json::to_string(&old)
        .expect("writes")
        .contains("dynamic"));
    let d = dynamic("eth0", "192.0.2.11/24");
    let back: Address =
        serde_json::from_str(&serde_json::to_string(&d).expect("writes")).expect("reads");
    assert_eq!(back, d);
}
