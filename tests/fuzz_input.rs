//! A bounded fuzzer of what hostnet reads: arbitrary text, documents built from the
//! schema's keys with hostile values, and mutations of valid files go through parse,
//! validate, expand, plan and a dry run on the model driver. Nothing may panic, every
//! refusal is an error value, and what validates must plan (or be refused by the planner
//! with a field named) without touching anything.
//!
//! `cargo test` runs a few hundred cases per strategy; `HOSTNET_FUZZ_CASES=N` runs N
//! (soak runs). Failing inputs are kept by proptest in `proptest-regressions/`.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

use hostnet::engine::{self, ApplyOptions};
use hostnet::netdev::model::ModelDriver;
use hostnet::netdev::{Driver, LinkKind, MacAddr, NewLink, Op};

fn cases(default: u32) -> u32 {
    std::env::var("HOSTNET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A host as a test host looks: lo and two NICs.
fn host() -> ModelDriver {
    let mut m = ModelDriver::fresh_namespace();
    let ops: Vec<Op> = [("eth0", 1u8), ("eth1", 2u8)]
        .iter()
        .map(|(n, i)| {
            Op::CreateLink(NewLink {
                name: (*n).into(),
                kind: LinkKind::Bridge(Default::default()),
                up: true,
                mtu: Some(1500),
                mac: Some(MacAddr([0x52, 0x54, 0, 0, 0, *i])),
                controller: None,
                peer: None,
            })
        })
        .collect();
    for r in m.execute(&ops) {
        r.expect("host");
    }
    m
}

/// Everything hostnet does with a document before touching a host, on the model.
/// Returns how far it got, for the statistics a failing run prints.
fn run(text: &str) -> &'static str {
    let Ok(doc) = hostnet::model::parse(text) else {
        return "parse error";
    };
    if let Err(e) = hostnet::model::validate(&doc) {
        // Every error names a field (or the document as a whole).
        for err in &e.0 {
            assert!(!err.message.is_empty(), "{err:?}");
        }
        return "invalid";
    }
    let Ok(intent) = hostnet::expand::expand(&doc) else {
        return "expand error";
    };
    let mut m = host();
    let before = m.query().expect("query");
    let dry = engine::apply(
        &mut m,
        &intent,
        ApplyOptions {
            dry_run: true,
            ..ApplyOptions::default()
        },
        |_, _| Ok(()),
    );
    // A dry run changes nothing, whatever it found.
    assert_eq!(
        m.query().expect("query"),
        before,
        "dry run changed the model"
    );
    match dry {
        Ok(_) => "planned",
        Err(e) if e.exit_code() == 2 => "plan error",
        Err(_) => "dry run failed",
    }
}

/// Names that break kernels or tools, next to ordinary ones.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("eth0".to_string()),
        1 => Just("eth1".to_string()),
        1 => Just("br0".to_string()),
        1 => Just("a%d".to_string()),
        1 => Just("all".to_string()),
        1 => Just("default".to_string()),
        1 => Just(".".to_string()),
        1 => Just("..".to_string()),
        1 => Just("-x".to_string()),
        1 => Just("abcdefghijklmnop".to_string()),
        1 => Just("a b".to_string()),
        1 => Just("é".to_string()),
        1 => Just("lo".to_string()),
        15 => "[a-z][a-z0-9-]{0,14}",
    ]
}

fn ip() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("192.0.2.10".to_string()),
        1 => Just("192.0.2.1".to_string()),
        1 => Just("0.0.0.0".to_string()),
        1 => Just("255.255.255.255".to_string()),
        1 => Just("224.0.0.1".to_string()),
        1 => Just("127.0.0.1".to_string()),
        1 => Just("fe80::1".to_string()),
        1 => Just("2001:db8::1".to_string()),
        1 => Just("::".to_string()),
        10 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| format!("10.{a}.{b}.1")),
    ]
}

fn net() -> impl Strategy<Value = String> {
    (ip(), prop_oneof![1 => 0u32..140, 10 => 16u32..=30]).prop_map(|(a, l)| format!("{a}/{l}"))
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("0".to_string()),
        1 => Just("67".to_string()),
        1 => Just("68".to_string()),
        1 => Just("1500".to_string()),
        1 => Just("65535".to_string()),
        1 => Just("65536".to_string()),
        1 => Just("4294967295".to_string()),
        1 => Just("4294967296".to_string()),
        1 => Just("-1".to_string()),
        1 => Just("1e9".to_string()),
        1 => Just("0x10".to_string()),
        20 => (0u32..100_000).prop_map(|n| n.to_string()),
        20 => (1000u32..10_000).prop_map(|n| n.to_string()),
    ]
}

fn mac() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("'00:00:00:00:00:00'".to_string()),
        1 => Just("'01:00:5e:00:00:01'".to_string()),
        1 => Just("'ff:ff:ff:ff:ff:ff'".to_string()),
        5 => Just("'52:54:00:12:34:56'".to_string()),
        1 => Just("'52:54:00:12:34'".to_string()),
        1 => Just("nope".to_string()),
    ]
}

fn interface() -> impl Strategy<Value = String> {
    let ty = prop_oneof![
        Just("linux-bridge"),
        Just("veth"),
        Just("ethernet"),
        Just("loopback"),
        Just("tap"),
        Just("vxlan"),
        Just("bond"),
        Just("vlan"),
        Just("mac-vlan"),
        Just("ovs-bridge"),
        Just("ovs-interface"),
        Just("nope"),
    ];
    (
        name(),
        ty,
        proptest::option::of(number()),
        proptest::option::of(mac()),
        proptest::option::of(name()),
        proptest::option::of(prop::collection::vec(net(), 0..3)),
        prop_oneof![Just("up"), Just("down"), Just("absent")],
    )
        .prop_map(|(n, ty, mtu, mac, peer, addrs, state)| {
            let mut s = format!("- name: '{n}'\n  type: {ty}\n  state: {state}\n");
            if let Some(m) = mtu {
                s += &format!("  mtu: {m}\n");
            }
            if let Some(m) = mac {
                s += &format!("  mac-address: {m}\n");
            }
            if let Some(p) = peer {
                match ty {
                    "veth" => s += &format!("  veth: {{peer: '{p}'}}\n"),
                    "linux-bridge" | "ovs-bridge" => {
                        s += &format!("  bridge: {{port: [{{name: '{p}'}}]}}\n")
                    }
                    "vlan" => s += &format!("  vlan: {{base-iface: '{p}', id: 10}}\n"),
                    "vxlan" => s += &format!("  vxlan: {{id: 7, base-iface: '{p}'}}\n"),
                    _ => {}
                }
            }
            if let Some(addrs) = addrs {
                let list: Vec<String> = addrs
                    .iter()
                    .map(|a| {
                        let (ip, len) = a.split_once('/').unwrap_or((a, "24"));
                        format!("{{ip: '{ip}', prefix-length: {len}}}")
                    })
                    .collect();
                s += &format!("  ipv4: {{address: [{}]}}\n", list.join(", "));
            }
            s
        })
}

fn network() -> impl Strategy<Value = String> {
    (
        name(),
        proptest::option::of(name()),
        proptest::option::of(number()),
        prop::collection::vec(net(), 0..3),
        proptest::option::of(ip()),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(number()),
        proptest::option::of(number()),
    )
        .prop_map(
            |(n, uplink, mtu, addrs, gw, dhcp, default_route, table, vlan)| {
                let mut s = format!("- name: '{n}'\n");
                if let Some(u) = uplink {
                    s += &format!("  uplink: '{u}'\n");
                }
                if let Some(m) = mtu {
                    s += &format!("  mtu: {m}\n");
                }
                if let Some(v) = vlan {
                    s += &format!("  vlan: {v}\n");
                }
                let quoted: Vec<String> = addrs.iter().map(|a| format!("'{a}'")).collect();
                s += &format!("  ipv4: {{address: [{}]", quoted.join(", "));
                if let Some(g) = gw {
                    s += &format!(", gateway: '{g}'");
                }
                if dhcp {
                    s += ", dhcp: true";
                }
                s += "}\n";
                if default_route {
                    s += "  default-route: true\n";
                }
                if let Some(t) = table {
                    s += &format!("  source-routing: {{table: {t}}}\n");
                }
                s
            },
        )
}

fn route() -> impl Strategy<Value = String> {
    (
        proptest::option::of(net()),
        proptest::option::of(ip()),
        proptest::option::of(name()),
        proptest::option::of(number()),
        any::<bool>(),
    )
        .prop_map(|(dst, via, dev, table, absent)| {
            let mut f = Vec::new();
            if let Some(d) = dst {
                f.push(format!("destination: '{d}'"));
            }
            if let Some(v) = via {
                f.push(format!("next-hop-address: '{v}'"));
            }
            if let Some(d) = dev {
                f.push(format!("next-hop-interface: '{d}'"));
            }
            if let Some(t) = table {
                f.push(format!("table-id: {t}"));
            }
            if absent {
                f.push("state: absent".into());
            }
            format!("  - {{{}}}\n", f.join(", "))
        })
}

fn document() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(interface(), 0..4),
        prop::collection::vec(network(), 0..4),
        prop::collection::vec(route(), 0..3),
    )
        .prop_map(|(ifaces, nets, routes)| {
            let mut s = String::new();
            if !ifaces.is_empty() {
                s += "interfaces:\n";
                s += &ifaces.concat();
            }
            if !nets.is_empty() {
                s += "networks:\n";
                s += &nets.concat();
            }
            if !routes.is_empty() {
                s += "routes:\n  config:\n";
                s += &routes.concat();
            }
            if s.is_empty() {
                s = "networks: []\n".into();
            }
            s
        })
}

const EXAMPLES: &[&str] = &[
    include_str!("../examples/multi-gateway.yaml"),
    "networks:\n- name: tenant1\n  ipv4: {address: [10.10.0.1/24]}\n  firewall:\n    masquerade: {out-interface: eth0}\n    isolate: true\n    allow-from-guests: [{proto: udp, port: 67}]\n    floating-ips: [{external: 203.0.113.10, internal: 10.10.0.5, interface: eth0}]\n    port-forwards: [{proto: tcp, external-port: 8022, internal: 10.10.0.5, internal-port: 22, interface: eth0}]\n  dhcp-server:\n    range: {start: 10.10.0.100, end: 10.10.0.200}\n    hosts: [{mac: '52:54:00:12:34:56', ip: 10.10.0.5, hostname: vm1}]\n",
    "interfaces:\n- {name: br0, type: linux-bridge, bridge: {options: {stp: {enabled: false}}, port: [{name: eth1}]}, ipv4: {address: [{ip: 192.0.2.1, prefix-length: 24}]}}\nroutes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-address: 192.0.2.254, next-hop-interface: br0, table-id: 100}\nroute-rules:\n  config:\n  - {ip-from: 192.0.2.0/24, priority: 1000, route-table: 100}\n",
];

/// A valid file with a few bytes replaced, removed or repeated.
fn mutated() -> impl Strategy<Value = String> {
    (
        0..EXAMPLES.len(),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..3),
    )
        .prop_map(|(i, edits)| {
            let mut b = EXAMPLES[i].as_bytes().to_vec();
            for (at, how, byte) in edits {
                if b.is_empty() {
                    break;
                }
                let k = at.index(b.len());
                match how {
                    0 => b[k] = byte,
                    1 => {
                        b.remove(k);
                    }
                    2 => {
                        let end = (k + 16).min(b.len());
                        let chunk = b[k..end].to_vec();
                        b.splice(k..k, chunk);
                    }
                    _ => b.insert(k, b"&*!%:-[]{}#|>'\"\n \t\\"[usize::from(byte) % 19]),
                }
            }
            String::from_utf8_lossy(&b).into_owned()
        })
}

proptest! {
    #![proptest_config(Config {
        cases: cases(256),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/fuzz_input.txt",
        ))),
        ..Config::default()
    })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        run(&text);
    }

    #[test]
    fn yaml_shaped_noise_never_panics(
        text in "([a-z-]{1,12}: )?(\\[|\\{|- |\\*a |&a |!t |'|\"|[0-9./:]{1,12}|\n  |, |\\}|\\]){0,60}"
    ) {
        run(&text);
    }

    #[test]
    fn hostile_documents_are_refused_or_planned(text in document()) {
        run(&text);
    }

    #[test]
    fn mutated_examples_are_refused_or_planned(text in mutated()) {
        run(&text);
    }
}

#[test]
fn the_examples_plan() {
    for e in EXAMPLES {
        let got = run(e);
        assert!(got == "planned" || got == "plan error", "{got} for\n{e}");
    }
}
