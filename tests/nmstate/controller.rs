//! nmstate's `controller` and `copy-mac-from` (docs/NMSTATE.md, "Interface: base keys"): a port joins the
//! bridge it names, `""` takes it out, the bridge copies its uplink's MAC address; each
//! converged, shown back, and restored by a rollback.

use super::*;

fn master(name: &str) -> Option<String> {
    let l = ip(&["link", "show", name]);
    let words: Vec<&str> = l.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == "master")
        .map(|w| w[1].to_string())
}

fn mac(name: &str) -> String {
    let l = ip(&["link", "show", name]);
    let words: Vec<&str> = l.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == "link/ether")
        .map(|w| w[1].to_string())
        .unwrap_or_default()
}

#[test]
fn controller_and_copy_mac_from_apply_converge_and_detach() {
    if !enter_private_netns("controller_and_copy_mac_from") {
        return;
    }
    fixture();
    let first = converges("controller.yml", &["br-ctl0", "eth1", "eth2"]);
    assert_eq!(master("eth1").as_deref(), Some("br-ctl0"), "{first}");
    assert_eq!(master("eth2").as_deref(), Some("br-ctl0"));
    assert_eq!(mac("br-ctl0"), mac("eth1"));
    // `show` lists the ports in the bridge's port list and prints the MAC itself.
    let shown = shown_iface("br-ctl0");
    let ports: Vec<String> = shown
        .bridge
        .and_then(|b| b.port)
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(ports, ["eth1", "eth2"]);
    assert_eq!(shown.copy_mac_from, None);
    assert_eq!(
        shown.mac_address.map(|m| m.to_string().to_lowercase()),
        Some(mac("eth1"))
    );

    converges("controller_detach.yml", &["br-ctl0", "eth1", "eth2"]);
    assert_eq!(master("eth2"), None);
    assert_eq!(master("eth1").as_deref(), Some("br-ctl0"));
    assert!(query().links["eth2"].up);
}

#[test]
fn controller_and_copy_mac_from_rolled_back_after_a_crash() {
    if !enter_private_netns("controller_rolled_back") {
        return;
    }
    fixture();
    let before = query();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut crashed = 0;
    for k in 0..10 {
        let o = base_keys::journaled(
            dir.path(),
            &["apply", "-"],
            read("controller.yml"),
            &[("HOSTNET_TEST_CRASH_AFTER_PHASE", &k.to_string())],
        );
        if o.status.success() {
            break;
        }
        crashed += 1;
        let o = base_keys::journaled(dir.path(), &["rollback"], "", &[]);
        assert!(o.status.success(), "crash point {k}: {}", text(&o));
        let after = query();
        assert!(!after.links.contains_key("br-ctl0"), "crash point {k}");
        for n in ["eth1", "eth2"] {
            assert_eq!(after.links[n], before.links[n], "crash point {k}: {n}");
        }
    }
    assert!(crashed >= 2, "{crashed} crash points");
    assert_eq!(master("eth1").as_deref(), Some("br-ctl0"));
}

#[test]
fn allow_extra_ports_keeps_ports_another_tool_plugged() {
    if !enter_private_netns("allow_extra_ports") {
        return;
    }
    fixture();
    converges("linux_bridge_extra_ports.yml", &["br-xp0", "eth1", "eth2"]);
    assert_eq!(master("eth1").as_deref(), Some("br-xp0"));
    // A tap libvirt plugs in: the file does not name it, and it stays.
    run_ip(&["link", "set", "dev", "eth2", "master", "br-xp0"]);
    let again = apply_file("linux_bridge_extra_ports.yml");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to change"),
        "{}",
        text(&again)
    );
    assert_eq!(master("eth2").as_deref(), Some("br-xp0"));
    // Without the key the list is complete again: eth2 is released.
    let exact = read("linux_bridge_extra_ports.yml")
        .replace("allow-extra-ports: true", "allow-extra-ports: false");
    converges_yaml("exact port list", &exact, &["br-xp0", "eth1", "eth2"]);
    assert_eq!(master("eth2"), None);
    assert_eq!(master("eth1").as_deref(), Some("br-xp0"));
}
