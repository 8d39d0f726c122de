//! nmstate's IPv6 `token` and `addr-gen-mode` (docs/NMSTATE.md, "Interface: base keys"): applied as the
//! model predicts, converged, shown back, reset, refused at plan time where the kernel
//! refuses them, and restored by a rollback.

use super::*;

/// `addrgenmode` of `ip -d link show NAME`.
fn mode(name: &str) -> String {
    let l = ip(&["-d", "link", "show", name]);
    let words: Vec<&str> = l.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == "addrgenmode")
        .map(|w| w[1].to_string())
        .unwrap_or_default()
}

/// `ip token get dev NAME`'s token (in Rust's spelling: `ip` prints `::1:2` as
/// `::0.1.0.2`).
fn token(name: &str) -> String {
    let l = ip(&["token", "get", "dev", name]);
    let t = l.split_whitespace().nth(1).unwrap_or_default();
    t.parse::<std::net::Ipv6Addr>()
        .map_or_else(|_| t.to_string(), |a| a.to_string())
}

fn inet6_of(s: &KernelState, name: &str) -> (u8, Option<std::net::Ipv6Addr>) {
    let i = s.inet6.get(name).cloned().unwrap_or_default();
    (i.addr_gen_mode, i.token)
}

/// A stable_secret for `default` in this thread's namespace (a test value).
fn set_stable_secret() {
    std::fs::write(
        "/proc/sys/net/ipv6/conf/default/stable_secret",
        "2001:db8:5ec::1",
    )
    .expect("stable_secret");
}

#[test]
fn ipv6_token_and_addr_gen_mode_apply_converge_and_reset() {
    if !enter_private_netns("ipv6_token_and_addr_gen_mode") {
        return;
    }
    fixture();
    // Without a stable_secret the kernel refuses stable-privacy: refused before anything.
    let o = apply_file("ipv6_token.yml");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("interfaces[1].ipv6.addr-gen-mode: eth2: stable-privacy needs"),
        "{}",
        text(&o)
    );
    assert_eq!(token("eth1"), "::");
    set_stable_secret();
    let predicted = model_of("ipv6_token.yml", read("ipv6_token.yml"));
    let first = converges("ipv6_token.yml", &["eth1", "eth2"]);
    assert_eq!(token("eth1"), "::1:2", "{first}");
    assert_eq!(mode("eth1"), "eui64");
    assert_eq!(mode("eth2"), "stable_secret");
    let now = query();
    for n in ["eth1", "eth2"] {
        assert_eq!(
            inet6_of(&predicted, n),
            inet6_of(&now, n),
            "model and kernel: {n}"
        );
    }
    let eth1 = shown_iface("eth1").ipv6.expect("ipv6");
    assert_eq!(eth1.token, Some("::1:2".parse().expect("addr")));
    assert_eq!(eth1.addr_gen_mode, None, "eui64 is the default");
    let eth2 = shown_iface("eth2").ipv6.expect("ipv6");
    assert_eq!(
        eth2.addr_gen_mode,
        Some(hostnet::model::AddrGenMode::StablePrivacy)
    );

    converges("ipv6_token_reset.yml", &["eth1", "eth2"]);
    assert_eq!(token("eth1"), "::");
    assert_eq!(mode("eth2"), "eui64");
}

#[test]
fn ipv6_token_and_addr_gen_mode_rolled_back_after_a_crash() {
    if !enter_private_netns("ipv6_token_rolled_back") {
        return;
    }
    fixture();
    set_stable_secret();
    let before = query();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut crashed = 0;
    for k in 0..10 {
        let o = base_keys::journaled(
            dir.path(),
            &["apply", "-"],
            read("ipv6_token.yml"),
            &[("HOSTNET_TEST_CRASH_AFTER_PHASE", &k.to_string())],
        );
        if o.status.success() {
            break;
        }
        crashed += 1;
        let o = base_keys::journaled(dir.path(), &["rollback"], "", &[]);
        assert!(o.status.success(), "crash point {k}: {}", text(&o));
        let after = query();
        for n in ["eth1", "eth2"] {
            assert_eq!(
                inet6_of(&after, n),
                inet6_of(&before, n),
                "crash point {k}: {n}"
            );
        }
    }
    assert!(crashed >= 1, "{crashed} crash points");
    assert_eq!(token("eth1"), "::1:2");
}
