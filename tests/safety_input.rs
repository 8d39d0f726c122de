//! Hostile and mistaken input end to end (issue 16, items 4 to 7): what the kernel would
//! refuse half-way through an apply is refused by `hostnet` with exit 2 before anything
//! changes, a DHCP event cannot make the host its own router, and the input is capped.
//! Each test in a namespace of its own, with its own state directories.

mod common;

use std::process::{Command, Output, Stdio};

use common::cli::Hostnet;
use common::{enter_private_netns, run_ops, text, veth};

/// The apply of this file's tests: its output, whatever the exit.
impl Hostnet {
    fn apply(&self, yaml: &str) -> Output {
        self.run(&["apply", "-"], yaml.as_bytes())
    }
}

/// What another tool sees of the namespace with `ip`: every link (name, kind, MTU, master,
/// MAC, admin state), global addresses, routes other than the kernel's own, and rules.
/// Without what the kernel changes by itself meanwhile (operational state, timers,
/// link-local addresses).
fn snapshot() -> String {
    let json = |args: &[&str]| -> Vec<serde_json::Value> {
        let o = Command::new("ip").args(args).output().expect("ip");
        serde_json::from_slice(&o.stdout).unwrap_or_default()
    };
    let mut out = Vec::new();
    for l in json(&["-j", "-d", "link", "show"]) {
        let up = l["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "UP"));
        out.push(format!(
            "link {} {} mtu {} master {} mac {} up {up}",
            l["ifname"], l["linkinfo"]["info_kind"], l["mtu"], l["master"], l["address"]
        ));
    }
    for l in json(&["-j", "addr", "show"]) {
        for a in l["addr_info"].as_array().into_iter().flatten() {
            if a["scope"] == "global" {
                out.push(format!(
                    "addr {} {}/{}",
                    l["ifname"], a["local"], a["prefixlen"]
                ));
            }
        }
    }
    for args in [
        &["-j", "route", "show", "table", "all"][..],
        &["-j", "-6", "route", "show", "table", "all"],
    ] {
        for r in json(args) {
            if r["protocol"] != "kernel" && r["table"] != "local" {
                out.push(format!("route {r}"));
            }
        }
    }
    for args in [&["-j", "rule", "show"][..], &["-j", "-6", "rule", "show"]] {
        for r in json(args) {
            out.push(format!("rule {r}"));
        }
    }
    out.sort();
    out.join("\n")
}

/// Issue 16, items 4 and 5: each of these reached the kernel, which refused it (or made
/// `a0` of `a%d`) after other changes were made; now `apply` exits 2 and the namespace is
/// exactly as it was.
#[test]
fn kernel_refusals_exit_2_and_change_nothing() {
    if !enter_private_netns("kernel_refusals_exit_2_and_change_nothing") {
        return;
    }
    run_ops(&[veth("e1", "e1p")]);
    let h = Hostnet::new();
    // Something to change first, so that a late refusal would have had work to undo.
    let first = "interfaces:\n- {name: br-ok, type: linux-bridge, ipv4: {address: [{ip: 192.0.2.1, prefix-length: 24}]}}\n";
    let cases = [
        (
            "interfaces[1].name",
            "- {name: 'a%d', type: linux-bridge}\n",
        ),
        ("interfaces[1].name", "- {name: all, type: linux-bridge}\n"),
        (
            "interfaces[1].name",
            "- {name: default, type: linux-bridge}\n",
        ),
        (
            "interfaces[1].name",
            "- {name: '..', type: veth, veth: {peer: p0}}\n",
        ),
        (
            "interfaces[1].mac-address",
            "- {name: br1, type: linux-bridge, mac-address: '00:00:00:00:00:00'}\n",
        ),
        (
            "interfaces[1].mac-address",
            "- {name: br1, type: linux-bridge, mac-address: '01:00:5e:00:00:01'}\n",
        ),
        (
            "interfaces[1].mtu",
            "- {name: br1, type: linux-bridge, mtu: 65536}\n",
        ),
        (
            "interfaces[1].mtu",
            "- {name: v1, type: veth, mtu: 65536, veth: {peer: v2}}\n",
        ),
    ];
    let before = snapshot();
    for (field, extra) in cases {
        let o = h.apply(&format!("{first}{extra}"));
        assert_eq!(o.status.code(), Some(2), "{extra}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(field),
            "{extra}: {}",
            text(&o)
        );
        assert_eq!(snapshot(), before, "{extra} changed the namespace");
    }
    // A route through an interface that does not exist and that the file does not make:
    // found when planning (it needs the host), also exit 2, also nothing changed.
    let o = h.apply(&format!(
        "{first}routes:\n  config:\n  - {{destination: 10.0.0.0/8, next-hop-interface: nope0}}\n"
    ));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "routes.config[0].next-hop-interface: nope0 does not exist and the file does not create it"
        ),
        "{}",
        text(&o)
    );
    assert_eq!(snapshot(), before);
    // The same file without the bad entries applies.
    let o = h.apply(first);
    assert!(o.status.success(), "{}", text(&o));
}

/// Issue 16 item 7: `validate /dev/zero` and `apply -` fed more than the cap stop at the
/// cap with exit 2, the cap named, nothing changed.
#[test]
fn input_larger_than_the_cap_is_refused() {
    if !enter_private_netns("input_larger_than_the_cap_is_refused") {
        return;
    }
    let h = Hostnet::new();
    let o = h.run(&["validate", "/dev/zero"], b"");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("/dev/zero is larger than 4194304 bytes (4 MiB), the most hostnet reads"),
        "{}",
        text(&o)
    );
    let before = snapshot();
    let big = vec![b'#'; 5 << 20];
    let o = h.run(&["apply", "-"], &big);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("standard input is larger than 4194304 bytes"),
        "{}",
        text(&o)
    );
    assert_eq!(snapshot(), before);
}

/// Issue 16 item 6, end to end: an event whose router is the lease's own address (or its
/// subnet's broadcast address, or off the subnet) exits 2 and installs nothing; a good
/// event then installs the route.
#[test]
fn a_dhcp_event_cannot_make_the_host_its_own_router() {
    if !enter_private_netns("a_dhcp_event_cannot_make_the_host_its_own_router") {
        return;
    }
    run_ops(&[veth("e1", "e1p")]);
    let h = Hostnet::new();
    let o = h.apply(
        "networks:\n- {name: lan, uplink: e1, ipv4: {dhcp: true}, source-routing: {table: 1200}}\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    // The client configures the lease as its script would, then runs the hook.
    let ip = |args: &str| {
        let o = Command::new("ip")
            .args(args.split_whitespace())
            .output()
            .expect("ip");
        assert!(o.status.success(), "ip {args}: {}", text(&o));
    };
    ip("addr add 10.90.0.50/24 dev lan");
    let event = |router: &str| {
        let mut c = h.cmd(&["dhcp-event", "--client", "dhclient"], &[]);
        c.env("reason", "BOUND")
            .env("interface", "lan")
            .env("new_ip_address", "10.90.0.50")
            .env("new_subnet_mask", "255.255.255.0")
            .env("new_routers", router)
            .stdin(Stdio::null());
        c.output().expect("runs")
    };
    let before = snapshot();
    for (router, why) in [
        ("10.90.0.50", "is the lease's own address"),
        ("10.90.0.255", "is the broadcast address"),
        ("10.90.0.0", "is the network address"),
        ("10.91.0.1", "is outside the lease's subnet"),
    ] {
        let o = event(router);
        assert_eq!(o.status.code(), Some(2), "{router}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(why),
            "{router}: {}",
            text(&o)
        );
        assert_eq!(snapshot(), before, "{router} changed the namespace");
    }
    let o = event("10.90.0.1");
    assert!(o.status.success(), "{}", text(&o));
    let routes = Command::new("ip")
        .args(["route", "show", "table", "1200"])
        .output()
        .expect("ip");
    assert!(
        String::from_utf8_lossy(&routes.stdout).contains("default via 10.90.0.1 dev lan"),
        "{}",
        text(&routes)
    );
}
