use super::*;
use crate::firewall::nft::{self, MAPS};
use crate::firewall::NetFirewall;
use crate::firewall::{Allow, FloatingIp, PortForward, Proto};
use crate::netdev::linux::nfnl::{NftRule, NftSet};

fn spec() -> NetFirewall {
    NetFirewall {
        device: "br0".into(),
        subnets: [
            "10.10.0.0/24".parse().expect("literal"),
            "fd00:1::/64".parse().expect("literal"),
        ]
        .into(),
        masquerade: Some("up0".into()),
        isolate: true,
        allow: Some(
            [Allow {
                proto: Proto::Udp,
                port: 53,
            }]
            .into(),
        ),
        floating: [FloatingIp {
            external: "100.64.0.7".parse().expect("literal"),
            internal: "10.10.0.5".parse().expect("literal"),
            interface: "up0".into(),
        }]
        .into(),
        forwards: [PortForward {
            proto: Proto::Tcp,
            external_port: 10022,
            internal: "10.10.0.5".parse().expect("literal"),
            internal_port: 22,
            interface: "up0".into(),
        }]
        .into(),
        metadata: None,
    }
}

fn ifname(s: &str) -> Vec<u8> {
    let mut k = s.as_bytes().to_vec();
    k.resize(16, 0);
    k
}

fn elem(key: Vec<u8>, target: Option<&str>, end: bool) -> NftElem {
    NftElem {
        key,
        key_end: None,
        flags: if end { nfnl::ELEM_INTERVAL_END } else { 0 },
        target: target.map(str::to_string),
    }
}

fn set(name: &str, elements: Vec<NftElem>) -> NftSet {
    NftSet {
        name: name.into(),
        flags: 0,
        elements,
    }
}

fn proto_port(nf: u8, l4: u8, port: u16) -> Vec<u8> {
    let mut k = vec![nf, 0, 0, 0, l4, 0, 0, 0];
    k.extend(port.to_be_bytes());
    k.extend([0, 0]);
    k
}

/// The table as the kernel would send it for network `a` with [`spec`].
fn table() -> NftTable {
    let mut t = NftTable::default();
    for (c, _) in BASE_CHAINS {
        t.chains.push(c.to_string());
    }
    for s in ["fwd", "in", "pre", "post"] {
        t.chains.push(format!("n-a-{s}"));
    }
    let mut pf = ifname("up0");
    pf.extend(proto_port(2, 6, 10022));
    t.sets = vec![
        set("isolated", vec![elem(ifname("br0"), None, false)]),
        set("fwd_if", vec![elem(ifname("br0"), Some("n-a-fwd"), false)]),
        set("in_if", vec![elem(ifname("br0"), Some("n-a-in"), false)]),
        set(
            "pre_v4",
            vec![elem(vec![100, 64, 0, 7], Some("n-a-pre"), false)],
        ),
        set("pre_v6", vec![]),
        set("pre_pf", vec![elem(pf, Some("n-a-pre"), false)]),
        set(
            "pre_hp",
            vec![elem(proto_port(2, 6, 10022), Some("n-a-pre"), false)],
        ),
        set("pre_if", vec![]),
        // Interval maps: a start with the verdict, an end one past the prefix (the
        // kernel dumps them in descending order).
        set(
            "post_v4",
            vec![
                elem(vec![10, 10, 1, 0], None, true),
                elem(vec![10, 10, 0, 0], Some("n-a-post"), false),
            ],
        ),
        set(
            "post_v6",
            vec![
                elem(
                    "fd00:1:0:1::"
                        .parse::<std::net::Ipv6Addr>()
                        .expect("literal")
                        .octets()
                        .to_vec(),
                    None,
                    true,
                ),
                elem(
                    "fd00:1::"
                        .parse::<std::net::Ipv6Addr>()
                        .expect("literal")
                        .octets()
                        .to_vec(),
                    Some("n-a-post"),
                    false,
                ),
            ],
        ),
    ];
    for (m, _, c, _) in MAPS {
        t.rules.push(NftRule {
            chain: c.into(),
            handle: 1,
            canon: vec![1, 2, 3],
            comment: Some(format!("dispatch {m}")),
        });
    }
    for (i, (chain, rule)) in nft::rules_for_test("a", &spec()).into_iter().enumerate() {
        let comment = rule
            .rsplit_once("comment \"")
            .map(|(_, c)| c.trim_end_matches('"').to_string());
        t.rules.push(NftRule {
            chain: format!("n-a-{chain}"),
            handle: 10 + i as u64,
            canon: rule.into_bytes(),
            comment,
        });
    }
    t
}

#[test]
fn a_table_reads_back_to_the_rendered_state() {
    let (st, prints) = (from_table(&table()), chain_prints(&table()));
    assert_eq!(st.base, nft::expected_base());
    assert_eq!(st.networks["a"], nft::expected("a", &spec()));
    assert_eq!(prints.len(), 8, "one fingerprint per chain: {prints:?}");
}

#[test]
fn a_missing_element_or_rule_is_damage() {
    let mut t = table();
    if let Some(s) = t.sets.iter_mut().find(|s| s.name == "post_v4") {
        s.elements.clear();
    }
    assert!(!from_table(&t).networks["a"].intact);
    let mut t = table();
    let last = t.rules.iter().rposition(|r| r.chain == "n-a-post");
    t.rules.remove(last.expect("a post rule"));
    assert!(!from_table(&t).networks["a"].intact);
}

#[test]
fn fingerprints_see_a_rule_edited_under_its_comment() {
    let before = chain_prints(&table());
    let mut t = table();
    if let Some(r) = t.rules.iter_mut().find(|r| r.chain == "n-a-fwd") {
        r.canon.push(0);
    }
    let (st, after) = (from_table(&t), chain_prints(&t));
    // The structure still looks intact: only the fingerprint tells.
    assert!(st.networks["a"].intact);
    assert_ne!(before["n-a-fwd"], after["n-a-fwd"]);
    assert_eq!(before["n-a-in"], after["n-a-in"]);
}

#[test]
fn an_interval_without_an_end_reaches_the_top() {
    let e = [elem(vec![128, 0, 0, 0], Some("n-a-post"), false)];
    assert_eq!(
        intervals(&e),
        vec![("128.0.0.0/1".to_string(), "n-a-post".to_string())]
    );
    let host = [
        elem(vec![10, 0, 0, 6], None, true),
        elem(vec![10, 0, 0, 5], Some("n-a-post"), false),
    ];
    assert_eq!(intervals(&host)[0].0, "10.0.0.5");
}

#[test]
fn element_changes_patch_the_remembered_sets() {
    let start = elem(vec![10, 0, 0, 0], Some("n-a-post"), false);
    let end = elem(vec![10, 0, 1, 0], None, true);
    let zero = elem(vec![0; 4], None, true);
    let mut sets = vec![set("post_v4", vec![zero.clone()])];
    let add = |e: &NftElem| ("post_v4".to_string(), true, e.clone());
    let del = |e: &NftElem| ("post_v4".to_string(), false, e.clone());
    patch_sets(&mut sets, &[add(&zero), add(&start), add(&end)]);
    assert_eq!(sets[0].elements, [zero.clone(), start.clone(), end.clone()]);
    assert_eq!(
        map_entries("post_v4", &sets[0].elements),
        [("10.0.0.0/24".to_string(), "n-a-post".to_string())]
    );
    patch_sets(&mut sets, &[del(&start), del(&end)]);
    assert_eq!(sets[0].elements, [zero]);
}

/// The states of some networks found alone are those the whole table gives them.
#[test]
fn networks_found_alone_are_as_found_among_all() {
    let t = table();
    let all = from_table(&t);
    for name in all.networks.keys() {
        let one = state::networks_of(&t, &[name.clone()].into());
        assert_eq!(one.len(), 1, "{name}: {one:?}");
        assert_eq!(one[name], all.networks[name], "{name}");
    }
    assert!(state::networks_of(&t, &["nothere".to_string()].into()).is_empty());
}
