//! The nfnetlink writer against `nft -f`, in the kernel: the same sequence of applies
//! runs in two namespaces this test creates, one writing every change with `nft -f`
//! (`HOSTNET_NFT_WRITE=nft`, the text hostnet always rendered) and one through
//! nfnetlink; after each step `nft -j list table inet hostnet` of both are equal
//! (handles aside), and so are the rules as the kernel holds them (expressions and
//! comments, read with our nfnetlink reader). The steps cover every rule shape the
//! renderer produces (byte-aligned and masked IPv4 and IPv6 prefixes, isolation,
//! allow-lists with their anonymous ICMP set, floating IPs and port forwards of both
//! families, metadata, masquerade) and every change: added, changed, removed networks,
//! map elements in and out (adjacent interval elements included). Afterwards a
//! re-apply changes nothing and every network reads as intact.

mod common;

use std::process::{Command, Output, Stdio};

use common::{enter_private_netns, text};
use hostnet::netdev::linux::nfnl::{self, Nfnl};
use hostnet::netdev::linux::nft_read;
use serde_json::Value;

/// Every kind of rule, for network `n` of `10.N.0.0` and `fd00:N::`.
fn full(n: u8) -> String {
    format!(
        "
      masquerade: {{out-interface: up0}}
      isolate: true
      allow-from-guests: [{{proto: udp, port: 67}}, {{proto: tcp, port: 53}}]
      floating-ips:
        - {{external: 203.0.113.{n}, internal: 10.{n}.0.5, interface: up0}}
        - {{external: '2001:db8::{n}', internal: 'fd00:{n}::5', interface: up0}}
      port-forwards:
        - {{proto: tcp, external-port: 8{n}, internal: 10.{n}.0.5, internal-port: 22, interface: up0}}
        - {{proto: udp, external-port: 9{n}, internal: 'fd00:{n}::5', internal-port: 53, interface: up0}}
      metadata: {{address: 169.254.169.254, port: 80, to: 10.{n}.0.1:8775}}"
    )
}

fn doc(nets: &[(&str, &str, &str)]) -> String {
    let mut d = String::from("firewall: {backend: nftables}\nnetworks:\n");
    for (name, addrs, fw) in nets {
        d.push_str(&format!("  - name: {name}\n{addrs}\n    firewall: {fw}\n"));
    }
    d
}

/// The steps: each is the whole file of one apply.
fn steps() -> Vec<String> {
    let v4 = |a: &str| format!("    ipv4: {{address: [{a}]}}");
    let both = |a: &str, b: &str| format!("{}\n    ipv6: {{address: ['{b}']}}", v4(a));
    let t1 = both("10.10.0.1/24", "fd00:10::1/64");
    let t2 = both("10.20.0.1/23", "fd00:20::1/60");
    let t3 = v4("10.20.2.1/24");
    let t4 = "    ipv6: {address: ['fd00:40::1/64']}".to_string();
    vec![
        doc(&[("t2", &t2, "{masquerade: {out-interface: up0}}")]),
        doc(&[
            ("t1", &t1, &full(10)),
            (
                "t2",
                &t2,
                "{masquerade: {out-interface: up0}, isolate: true}",
            ),
            (
                "t3",
                &t3,
                "{masquerade: {out-interface: up0}, isolate: true}",
            ),
        ]),
        doc(&[
            ("t1", &t1, "{allow-from-guests: [{proto: tcp, port: 22}]}"),
            ("t2", &t2, &full(20)),
            ("t4", &t4, "{masquerade: {out-interface: up0}}"),
        ]),
        doc(&[
            ("t1", &t1, &full(10)),
            ("t3", &t3, "{isolate: true}"),
            ("t4", &t4, "{masquerade: {out-interface: up1}}"),
        ]),
    ]
}

fn hostnet(args: &[&str], stdin: &str, by_nft: bool) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hostnet"));
    cmd.args(args)
        .env("HOSTNET_OVSDB", "/nonexistent/hostnet-test-no-ovsdb.sock")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if by_nft {
        cmd.env("HOSTNET_NFT_WRITE", "nft");
    } else {
        cmd.env_remove("HOSTNET_NFT_WRITE");
    }
    let mut child = cmd.spawn().expect("spawn hostnet");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("hostnet runs")
}

/// `nft -j list table`, handles removed (each path numbers its own objects).
fn listing() -> Value {
    let o = Command::new("nft")
        .args(["-j", "list", "table", "inet", nft_read::TABLE_NAME])
        .output()
        .expect("run nft");
    assert!(o.status.success(), "{}", text(&o));
    let mut v: Value = serde_json::from_slice(&o.stdout).expect("nft -j prints JSON");
    strip(&mut v);
    v
}

fn strip(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("handle");
            m.values_mut().for_each(strip);
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Every rule as the kernel holds it: chain, expressions (counters aside), comment.
fn kernel_rules() -> Vec<(String, Vec<u8>, Option<String>)> {
    let t = Nfnl::open()
        .expect("nfnetlink")
        .read_table(nfnl::NFPROTO_INET, nft_read::TABLE_NAME, None)
        .expect("read")
        .expect("table exists");
    let mut r: Vec<_> = t
        .rules
        .into_iter()
        .map(|r| (r.chain, r.canon, r.comment))
        .collect();
    r.sort();
    r
}

type Seen = Vec<(Value, Vec<(String, Vec<u8>, Option<String>)>)>;

/// Runs every step in a namespace of its own; what the table held after each.
fn run(by_nft: bool) -> Option<Seen> {
    std::thread::spawn(move || {
        if !enter_private_netns("netlink_writes_what_nft_writes") {
            return None;
        }
        common::run_ops(&[common::veth("up0", "up0p"), common::veth("up1", "up1p")]);
        let mut seen = Vec::new();
        for (i, d) in steps().iter().enumerate() {
            let o = hostnet(&["apply", "-"], d, by_nft);
            assert!(o.status.success(), "step {i} (nft: {by_nft}): {}", text(&o));
            seen.push((listing(), kernel_rules()));
            // Applying the same file again finds it all in place.
            let again = hostnet(&["apply", "--dry-run", "-"], d, by_nft);
            assert!(again.status.success(), "{}", text(&again));
            let out = text(&again);
            assert!(
                !out.contains("n-t") && !out.contains("firewall"),
                "step {i} (nft: {by_nft}): a re-apply would change: {out}"
            );
            let st = nft_read::query(None).expect("query");
            assert!(
                st.networks.values().all(|n| n.intact),
                "step {i} (nft: {by_nft}): {:?}",
                st.networks
            );
        }
        Some(seen)
    })
    .join()
    .expect("the namespace's thread")
}

#[test]
fn netlink_writes_what_nft_writes() {
    if Command::new("nft").arg("--version").output().is_err() {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("needs nft, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("SKIP netlink_writes_what_nft_writes: needs nft");
        return;
    }
    let Some(by_nft) = run(true) else { return };
    let Some(by_netlink) = run(false) else { return };
    for (i, (a, b)) in by_nft.iter().zip(&by_netlink).enumerate() {
        assert_eq!(a.0, b.0, "step {i}: nft -j list differs");
        assert_eq!(a.1, b.1, "step {i}: the kernel's rules differ");
    }
    assert_eq!(by_nft.len(), steps().len());
}

/// The kernel refuses one message of the batch: nothing of it is written, and the error
/// names the message (here a rule whose set is missing from a damaged table).
#[test]
fn a_refused_message_is_named_and_nothing_is_written() {
    use hostnet::firewall::{BackendKind, FwOp, NetFirewall};
    use hostnet::netdev::linux::nft_write;
    if !enter_private_netns("a_refused_message_is_named_and_nothing_is_written") {
        return;
    }
    let o = Command::new("nft")
        .args(["add", "table", "inet", nft_read::TABLE_NAME])
        .output();
    if !o.as_ref().is_ok_and(|o| o.status.success()) {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("needs nft and nf_tables: {o:?}");
        }
        eprintln!("SKIP a_refused_message_is_named_and_nothing_is_written: needs nft");
        return;
    }
    let spec = NetFirewall {
        device: "br-x".into(),
        subnets: ["10.9.0.0/24".parse().expect("prefix")].into(),
        isolate: true,
        ..NetFirewall::default()
    };
    let op = FwOp::Network {
        backend: BackendKind::Nftables,
        name: "x".into(),
        from: None,
        to: Some(spec),
    };
    let err = nft_write::write(&[&op]).expect_err("the set `isolated` does not exist");
    let e = nft_write::firewall_error(err).to_string();
    assert!(
        e.contains("add rule to n-x-fwd: oifname != \"br-x\" oifname @isolated drop"),
        "{e}"
    );
    assert!(e.contains("No such file or directory"), "{e}");
    let t = Nfnl::open()
        .expect("nfnetlink")
        .read_table(nfnl::NFPROTO_INET, nft_read::TABLE_NAME, None)
        .expect("read")
        .expect("table exists");
    assert!(t.chains.is_empty() && t.rules.is_empty(), "{t:?}");
}
