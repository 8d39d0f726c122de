//! Rollback against another tool (issue 16, items 1 to 3): `ip`, run by the test, races
//! hostnet on the names, addresses and MTUs of the very devices an apply changes, at
//! points the test picks with the apply's pause hook (`HOSTNET_TEST_PAUSE_AFTER_PHASE`
//! naming a phase, and a FIFO: no sleeps), after a crash, and during a checkpoint. In
//! every case hostnet takes back what it did and nothing another tool did: no device,
//! address or MTU of `ip`'s is removed or changed.
//! Each test runs in a namespace of its own, with its own state directories.

mod common;

use std::process::Command;

use common::cli::Hostnet;
use common::{enter_private_netns, run_ops, text, veth};

impl Hostnet {
    fn apply(&self, yaml: &str) {
        let o = self.run(&["apply", "-"], yaml);
        assert!(o.status.success(), "{}", text(&o));
    }
}

/// `ip ARGS`, which must succeed.
fn ip(args: &str) {
    let o = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("ip");
    assert!(o.status.success(), "ip {args}: {}", text(&o));
}

/// A link as `ip -j -d link show` reports it: what another tool knows it by.
#[derive(Debug, PartialEq, Eq)]
struct IpLink {
    index: u64,
    mac: String,
    mtu: u64,
    flags: Vec<String>,
    kind: String,
}

fn ip_link(name: &str) -> Option<IpLink> {
    let o = Command::new("ip")
        .args(["-j", "-d", "link", "show", "dev", name])
        .output()
        .expect("ip");
    if !o.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let l = &v[0];
    Some(IpLink {
        index: l["ifindex"].as_u64().expect("ifindex"),
        mac: l["address"].as_str().unwrap_or_default().to_string(),
        mtu: l["mtu"].as_u64().expect("mtu"),
        flags: l["flags"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        kind: l["linkinfo"]["info_kind"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

fn addresses(dev: &str) -> Vec<String> {
    let o = Command::new("ip")
        .args(["-j", "addr", "show", "dev", dev])
        .output()
        .expect("ip");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v[0]["addr_info"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["scope"] == "global")
                .map(|x| format!("{}/{}", x["local"].as_str().unwrap_or(""), x["prefixlen"]))
                .collect()
        })
        .unwrap_or_default()
}

/// The NIC stand-ins: veth pairs whose far ends are up, so the near ends have carrier.
fn nics(names: &[&str]) {
    let ops: Vec<_> = names.iter().map(|n| veth(n, &format!("{n}p"))).collect();
    run_ops(&ops);
}

/// Item 1: a bridge another tool creates between hostnet's plan and its execution makes
/// hostnet's create fail with EEXIST; the rollback deletes hostnet's own bridges and not
/// that one (it used to, and said "restored and verified").
#[test]
fn a_device_another_tool_creates_during_the_apply_stays() {
    if !enter_private_netns("a_device_another_tool_creates_during_the_apply_stays") {
        return;
    }
    let h = Hostnet::new();
    let change = "interfaces:\n- {name: n1, type: linux-bridge}\n- {name: n2, type: linux-bridge}\n- {name: n3, type: linux-bridge}\n";
    let p = h.apply_paused(change, "create bridges");
    ip("link add n2 type bridge");
    let theirs = ip_link("n2").expect("n2");
    let o = p.resume();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("File exists"),
        "{}",
        text(&o)
    );
    assert_eq!(
        ip_link("n2"),
        Some(theirs),
        "the other tool's n2 was touched"
    );
    assert_eq!(ip_link("n1"), None, "hostnet's n1 was not rolled back");
    assert_eq!(ip_link("n3"), None, "hostnet's n3 was not rolled back");
}

const OLD: &str = "networks:
- name: old
  uplink: e1
  ipv4: {address: [192.0.2.10/24]}
";

/// Item 2: a name hostnet frees (a network removed in the same apply) and another tool
/// takes before the apply fails later: the rollback cannot make hostnet's bridge again
/// and says so (exit 3), and leaves the other tool's veth pair alone, now and on a later
/// `hostnet rollback`.
#[test]
fn a_name_hostnet_freed_and_another_tool_took_is_left_to_it() {
    if !enter_private_netns("a_name_hostnet_freed_and_another_tool_took_is_left_to_it") {
        return;
    }
    nics(&["e1"]);
    let h = Hostnet::new();
    h.apply(OLD);
    let change = "networks:\n- {name: old, state: absent}\ninterfaces:\n- {name: clash0, type: linux-bridge}\n";
    let p = h.apply_paused(change, "create bridges");
    ip("link add old type veth peer name oldp");
    // Makes hostnet's next create fail.
    ip("link add clash0 type bridge");
    let (old, oldp, clash) = (
        ip_link("old").expect("old"),
        ip_link("oldp").expect("oldp"),
        ip_link("clash0").expect("clash0"),
    );
    let o = p.resume();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("left over: link old: deleted by this apply and not made again: the name old is now another device's (veth)"),
        "{}",
        text(&o)
    );
    for _ in 0..2 {
        assert_eq!(ip_link("old").as_ref(), Some(&old));
        assert_eq!(ip_link("oldp").as_ref(), Some(&oldp));
        assert_eq!(ip_link("clash0").as_ref(), Some(&clash));
        assert!(
            addresses("old").is_empty(),
            "hostnet's address went onto the veth"
        );
        // The journal stays for `hostnet rollback`, which still leaves them alone.
        let o = h.run(&["rollback"], "");
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    }
}

/// Item 2, second half: bridges the rollback makes again come back with carrier as they
/// had it, a bridge without ports included (made with its old MAC address, such a bridge
/// would have none until a port joins).
#[test]
fn bridges_made_again_by_a_rollback_have_carrier_as_before() {
    if !enter_private_netns("bridges_made_again_by_a_rollback_have_carrier_as_before") {
        return;
    }
    nics(&["e1"]);
    let h = Hostnet::new();
    h.apply(&format!(
        "{OLD}interfaces:\n- {{name: solo, type: linux-bridge, ipv4: {{address: [{{ip: 198.51.100.1, prefix-length: 24}}]}}}}\n"
    ));
    let carrier = |n: &str| {
        let l = ip_link(n).expect("link");
        (
            l.flags.iter().any(|f| f == "LOWER_UP"),
            l.flags.iter().any(|f| f == "NO-CARRIER"),
            l.flags.iter().any(|f| f == "UP"),
        )
    };
    let before = (carrier("old"), carrier("solo"));
    assert_eq!(before.1, (true, false, true), "a fresh bridge has carrier");
    // Removing both, then a route the kernel refuses: everything is rolled back.
    let change = "networks:\n- {name: old, state: absent}\ninterfaces:\n- {name: solo, state: absent}\nroutes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-address: 203.0.113.1, next-hop-interface: e1}\n";
    let o = h.run(&["apply", "-"], change);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!((carrier("old"), carrier("solo")), before);
    assert_eq!(addresses("old"), ["192.0.2.10/24"]);
    assert_eq!(addresses("solo"), ["198.51.100.1/24"]);
}

/// Item 3: a checkpoint's rollback takes back hostnet's MTU and nothing else: an address
/// another tool put on the same device and the MTU it gave the veth's peer stay.
#[test]
fn a_checkpoint_rollback_leaves_what_others_changed_on_the_same_devices() {
    if !enter_private_netns("a_checkpoint_rollback_leaves_what_others_changed_on_the_same_devices")
    {
        return;
    }
    nics(&["pre0"]);
    let h = Hostnet::new();
    let o = h.run(
        &["apply", "--confirm-timeout", "120", "-"],
        "interfaces:\n- {name: pre0, type: veth, mtu: 1400}\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    ip("addr add 198.51.100.7/24 dev pre0");
    ip("link set pre0p mtu 1300");
    let o = h.run(&["rollback"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ip_link("pre0").expect("pre0").mtu, 1500);
    assert_eq!(addresses("pre0"), ["198.51.100.7/24"]);
    assert_eq!(ip_link("pre0p").expect("pre0p").mtu, 1300);
}

/// Item 3, the other way round: an MTU another tool set after hostnet's is theirs; the
/// rollback keeps it and says so. A bridge hostnet made that another tool has plugged a
/// port into since stays too (exit 3, named), while the rest is taken back.
#[test]
fn a_checkpoint_rollback_keeps_values_and_devices_others_took_over() {
    if !enter_private_netns("a_checkpoint_rollback_keeps_values_and_devices_others_took_over") {
        return;
    }
    nics(&["pre0", "tap9"]);
    let h = Hostnet::new();
    let o = h.run(
        &["apply", "--confirm-timeout", "120", "-"],
        "interfaces:\n- {name: pre0, type: veth, mtu: 1400}\n- {name: cb0, type: linux-bridge}\n- {name: cb1, type: linux-bridge}\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    ip("link set pre0 mtu 1450");
    ip("link set tap9 master cb0");
    let o = h.run(&["rollback"], "");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("link cb0: created by this apply, but another tool has put port tap9 since; left in place"),
        "{}",
        text(&o)
    );
    assert!(
        err.contains("kept: link pre0 mtu: 1450 now, this apply set 1400 (it was 1500)"),
        "{}",
        text(&o)
    );
    assert_eq!(ip_link("pre0").expect("pre0").mtu, 1450);
    assert!(ip_link("cb0").is_some());
    assert_eq!(ip_link("cb1"), None, "hostnet's own cb1 stayed");
}

/// In the same process: another tool changes the MTU hostnet set, adds an address next to
/// hostnet's and removes hostnet's other one, then the apply fails (a route the kernel
/// refuses). The rollback removes what is left of hostnet's and keeps the other tool's.
#[test]
fn mtu_and_address_races_during_an_apply() {
    if !enter_private_netns("mtu_and_address_races_during_an_apply") {
        return;
    }
    nics(&["pre0"]);
    let h = Hostnet::new();
    let change = "interfaces:\n- name: pre0\n  type: veth\n  mtu: 1400\n  ipv4: {address: [{ip: 192.0.2.5, prefix-length: 24}, {ip: 192.0.2.6, prefix-length: 24}]}\nroutes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-address: 203.0.113.1, next-hop-interface: pre0}\n";
    let p = h.apply_paused(change, "add routes");
    ip("link set pre0 mtu 1300");
    ip("addr add 198.51.100.8/24 dev pre0");
    ip("addr del 192.0.2.6/24 dev pre0");
    let o = p.resume();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("kept: link pre0 mtu: 1300 now, this apply set 1400 (it was 1500)"),
        "{}",
        text(&o)
    );
    assert_eq!(ip_link("pre0").expect("pre0").mtu, 1300);
    assert_eq!(addresses("pre0"), ["198.51.100.8/24"]);
}

/// After a crash: what another tool did between the crash and `hostnet rollback` stays.
/// It replaced a bridge hostnet made (same name, a veth now), made a veth under a name
/// hostnet's plan would have created later (that op never ran), and changed an MTU
/// hostnet had set; hostnet deletes only its own other bridge.
#[test]
fn a_crashed_apply_rollback_leaves_what_others_did_since() {
    if !enter_private_netns("a_crashed_apply_rollback_leaves_what_others_did_since") {
        return;
    }
    nics(&["pre0"]);
    let h = Hostnet::new();
    let change = "interfaces:\n- {name: n1, type: linux-bridge}\n- {name: n2, type: linux-bridge}\n- {name: pre0, type: veth, mtu: 1400}\n- {name: v0, type: veth, veth: {peer: v1}}\n";
    let o = h
        .spawn(
            &["apply", "-"],
            change,
            &[("HOSTNET_TEST_CRASH_AFTER_PHASE", "create veths")],
        )
        .wait_with_output()
        .expect("runs");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(9),
        "{}",
        text(&o)
    );
    assert!(ip_link("n1").is_some() && ip_link("n2").is_some());
    ip("link del n1");
    ip("link add n1 type veth peer name n1p");
    ip("link add v0 type veth peer name v1");
    let (n1, v0) = (ip_link("n1").expect("n1"), ip_link("v0").expect("v0"));
    let o = h.run(&["rollback"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ip_link("n1"), Some(n1), "the other tool's n1 was touched");
    assert_eq!(ip_link("v0"), Some(v0), "the other tool's v0 was touched");
    assert_eq!(ip_link("n2"), None, "hostnet's n2 stayed");
    assert_eq!(ip_link("pre0").expect("pre0").mtu, 1500);
    // And with the MTU changed by someone else after the crash, it stays theirs.
    let o = h
        .spawn(
            &["apply", "-"],
            "interfaces:\n- {name: pre0, type: veth, mtu: 1400}\n- {name: n3, type: linux-bridge, ipv4: {address: [{ip: 203.0.113.9, prefix-length: 24}]}}\n",
            &[("HOSTNET_TEST_CRASH_AFTER_PHASE", "add addresses")],
        )
        .wait_with_output()
        .expect("runs");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(9),
        "{}",
        text(&o)
    );
    ip("link set pre0 mtu 1350");
    let o = h.run(&["rollback"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ip_link("pre0").expect("pre0").mtu, 1350);
    assert_eq!(ip_link("n3"), None);
}
