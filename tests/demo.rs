//! The README's first command, end to end: `hostnet demo` builds its sandbox, applies the
//! multi-gateway example, proves with UDP echoes that each source leaves through its own
//! gateway (IPv4 and IPv6), and removes the sandbox. A second run keeps the sandbox and
//! the same property is checked again with the system's `ping`.

mod common;

use hostnet::netdev::linux::{delete_named_netns, enter_named_netns};

fn may_run(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
        panic!("{test} needs root and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
    }
    eprintln!("SKIP {test}: needs root");
    false
}

fn leftovers(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn demo_proves_source_routing_with_real_traffic() {
    if !may_run("demo_proves_source_routing_with_real_traffic") {
        return;
    }
    let prefix = format!("hn-t{}", std::process::id());
    let o = common::hostnet(&["demo", "--prefix", &prefix], None);
    let out = common::text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(out.matches("  ok   from").count(), 4, "{out}");
    assert!(
        out.contains("Every source address left through its own network's gateway"),
        "{out}"
    );
    assert!(out.contains("Applied again: 0 changes"), "{out}");
    assert_eq!(
        leftovers(&prefix),
        Vec::<String>::new(),
        "sandbox left behind"
    );
}

/// Deletes the kept sandbox whatever happens in the test.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for role in ["host", "red", "blue", "peer"] {
            let _ = delete_named_netns(&format!("{}-{role}", self.0));
        }
    }
}

fn forwarded(ns: &str, v6: bool) -> u64 {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter_named_netns(&ns).expect("enter");
        if v6 {
            let t = std::fs::read_to_string("/proc/thread-self/net/snmp6").expect("snmp6");
            t.lines()
                .find_map(|l| l.strip_prefix("Ip6OutForwDatagrams"))
                .and_then(|v| v.trim().parse().ok())
                .expect("counter")
        } else {
            let t = std::fs::read_to_string("/proc/thread-self/net/snmp").expect("snmp");
            let mut ip = t.lines().filter(|l| l.starts_with("Ip: "));
            let (names, values) = (ip.next().expect("names"), ip.next().expect("values"));
            names
                .split_whitespace()
                .zip(values.split_whitespace())
                .find(|(n, _)| *n == "ForwDatagrams")
                .and_then(|(_, v)| v.parse().ok())
                .expect("counter")
        }
    })
    .join()
    .expect("thread")
}

#[test]
fn ping_from_each_source_leaves_through_its_own_gateway() {
    if !may_run("ping_from_each_source_leaves_through_its_own_gateway") {
        return;
    }
    if std::process::Command::new("ping")
        .arg("-V")
        .output()
        .is_err()
    {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("ping (iputils-ping) is missing and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("SKIP ping_from_each_source_leaves_through_its_own_gateway: no ping (apt-get install iputils-ping)");
        return;
    }
    let prefix = format!("hn-p{}", std::process::id());
    let _cleanup = Cleanup(prefix.clone());
    let o = common::hostnet(&["demo", "--keep", "--prefix", &prefix], None);
    assert!(o.status.success(), "{}", common::text(&o));
    let host = format!("{prefix}-host");
    for (via, other, src, dst) in [
        ("red", "blue", "192.0.2.10", "203.0.113.100"),
        ("blue", "red", "198.51.100.10", "203.0.113.100"),
        ("red", "blue", "2001:db8:1::10", "2001:db8:ff::100"),
        ("blue", "red", "2001:db8:2::10", "2001:db8:ff::100"),
    ] {
        let v6 = src.contains(':');
        let (via_ns, other_ns) = (format!("{prefix}-{via}"), format!("{prefix}-{other}"));
        let before = (forwarded(&via_ns, v6), forwarded(&other_ns, v6));
        let host = host.clone();
        let (src_s, dst_s) = (src.to_string(), dst.to_string());
        let out = std::thread::spawn(move || {
            enter_named_netns(&host).expect("enter host");
            std::process::Command::new("ping")
                .args([
                    "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", "-I", &src_s, &dst_s,
                ])
                .output()
                .expect("ping runs")
        })
        .join()
        .expect("thread");
        assert!(
            out.status.success(),
            "ping from {src}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let after = (forwarded(&via_ns, v6), forwarded(&other_ns, v6));
        assert!(
            after.0 - before.0 >= 6,
            "{src}: router {via} forwarded {}",
            after.0 - before.0
        );
        assert_eq!(
            after.1, before.1,
            "{src}: router {other} forwarded packets it should not have"
        );
    }
}
