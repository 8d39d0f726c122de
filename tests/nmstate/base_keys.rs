//! nmstate's base keys (docs/NMSTATE.md, "Interface: base keys"): `description`, `accept-all-mac-addresses`,
//! IPv6 `enabled` and `autoconf`, applied, converged, shown back, reset, and restored by a
//! rollback.

use super::*;

/// What the model and the kernel must agree on for link `name` besides its kind: alias,
/// user-set IFF_PROMISC, `disable_ipv6` and `autoconf`.
pub fn of(s: &KernelState, name: &str) -> (Option<String>, bool, Option<String>, Option<String>) {
    let sysctl = |leaf: &str| {
        s.firewall
            .sysctls
            .get(&format!("net.ipv6.conf.{name}.{leaf}"))
            .cloned()
    };
    (
        s.aliases.get(name).cloned(),
        s.promisc.contains(name),
        sysctl("disable_ipv6"),
        sysctl("autoconf"),
    )
}

/// `net.ipv6.conf.DEV.LEAF` of this thread's namespace.
fn conf6(dev: &str, leaf: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{dev}/{leaf}"))
        .unwrap_or_else(|e| panic!("{dev}/{leaf}: {e}"))
        .trim()
        .to_string()
}

/// The `<...>` flags of `ip link show NAME`.
fn flags(name: &str) -> String {
    let l = ip(&["link", "show", name]);
    l.split('<')
        .nth(1)
        .and_then(|r| r.split('>').next())
        .unwrap_or_default()
        .to_string()
}

fn alias(name: &str) -> Option<String> {
    ip(&["-d", "link", "show", name])
        .lines()
        .find_map(|l| l.trim().strip_prefix("alias ").map(str::to_string))
}

#[test]
fn base_keys_apply_converge_and_reset() {
    if !enter_private_netns("base_keys_apply_converge_and_reset") {
        return;
    }
    fixture();
    let first = converges("base_keys.yml", &["eth1", "eth2", "br-base0"]);
    assert_eq!(
        alias("eth1").as_deref(),
        Some("uplink to rack switch A"),
        "{first}"
    );
    assert_eq!(alias("br-base0").as_deref(), Some("guests' bridge"));
    assert!(
        flags("eth1").split(',').any(|f| f == "PROMISC"),
        "{}",
        flags("eth1")
    );
    assert!(!flags("eth2").contains("PROMISC"));
    assert_eq!(conf6("eth1", "autoconf"), "0");
    assert_eq!(conf6("eth1", "disable_ipv6"), "0");
    assert_eq!(conf6("br-base0", "autoconf"), "0");
    assert_eq!(conf6("eth2", "disable_ipv6"), "1");
    // The kernel takes every IPv6 address, the link-local one too.
    let v6 = ip(&["-6", "addr", "show", "dev", "eth2"]);
    assert!(!v6.contains("inet6"), "{v6}");
    has_all(
        "eth1",
        &ip(&["-6", "addr", "show", "dev", "eth1"]),
        &["2001:db8:60::1/64"],
    );
    // `show` says them in nmstate's keys.
    let eth1 = shown_iface("eth1");
    assert_eq!(eth1.description.as_deref(), Some("uplink to rack switch A"));
    assert_eq!(eth1.accept_all_mac_addresses, Some(true));
    assert_eq!(eth1.ipv6.as_ref().and_then(|s| s.autoconf), Some(false));
    let eth2 = shown_iface("eth2");
    assert_eq!(eth2.ipv6.as_ref().and_then(|s| s.enabled), Some(false));

    // IPv6 back on with an address in one apply: the switch goes first (the kernel
    // refuses an IPv6 address while `disable_ipv6` is on).
    let on = "interfaces:\n- name: eth2\n  ipv6:\n    enabled: true\n    address:\n    - {ip: 2001:db8:61::1, prefix-length: 64}\n";
    let o = hostnet(&["apply", "-"], Some(on));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(conf6("eth2", "disable_ipv6"), "0");
    has_all(
        "eth2",
        &ip(&["-6", "addr", "show", "dev", "eth2"]),
        &["2001:db8:61::1/64"],
    );

    converges("base_keys_reset.yml", &["eth1", "eth2"]);
    assert_eq!(alias("eth1"), None);
    assert!(!flags("eth1").contains("PROMISC"), "{}", flags("eth1"));
    assert_eq!(conf6("eth1", "autoconf"), "1");
    assert_eq!(conf6("eth2", "disable_ipv6"), "0");
    assert!(!query().links.contains_key("br-base0"));
    let eth1 = shown_iface("eth1");
    assert_eq!(eth1.description, None);
    assert_eq!(eth1.accept_all_mac_addresses, None);
    assert_eq!(eth1.ipv6.as_ref().and_then(|s| s.autoconf), None);
}

/// `hostnet` with a state directory of its own, so that applies keep a crash journal.
pub fn journaled(
    state: &std::path::Path,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    use std::io::Write;
    let mut c = Command::new(env!("CARGO_BIN_EXE_hostnet"));
    c.args(args)
        .env("HOSTNET_OVSDB", common::NO_OVSDB)
        .env("HOSTNET_STATE_DIR", state.join("state"))
        .env("HOSTNET_LIB_DIR", state.join("lib"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("spawn hostnet");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write");
    drop(input);
    child.wait_with_output().expect("runs")
}

#[test]
fn base_keys_rolled_back_after_a_crash() {
    if !enter_private_netns("base_keys_rolled_back_after_a_crash") {
        return;
    }
    fixture();
    // Another tool's alias on eth2, which the file does not touch: it stays.
    run_ip(&["link", "set", "dev", "eth2", "alias", "theirs"]);
    let before = query();
    let dir = tempfile::tempdir().expect("tempdir");
    // Killed after each non-empty phase in turn (the apply finishes once k passes the
    // last), then rolled back from the crash journal.
    let mut crashed = 0;
    for k in 0..10 {
        let o = journaled(
            dir.path(),
            &["apply", "-"],
            read("base_keys.yml"),
            &[("HOSTNET_TEST_CRASH_AFTER_PHASE", &k.to_string())],
        );
        if o.status.success() {
            break;
        }
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&o.status),
            Some(9),
            "crash point {k}: {}",
            text(&o)
        );
        crashed += 1;
        let o = journaled(dir.path(), &["rollback"], "", &[]);
        assert!(o.status.success(), "crash point {k}: {}", text(&o));
        let after = query();
        for n in ["eth1", "eth2"] {
            assert_eq!(of(&after, n), of(&before, n), "crash point {k}: {n}");
        }
        assert_eq!(alias("eth2").as_deref(), Some("theirs"));
        assert!(!after.links.contains_key("br-base0"), "crash point {k}");
    }
    // Crashes after the phases of the sysctls and the link changes were among them.
    assert!(crashed >= 4, "{crashed} crash points");
    assert_eq!(conf6("eth2", "disable_ipv6"), "1");
    assert!(flags("eth1").contains("PROMISC"));
}
