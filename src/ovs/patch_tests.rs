//! Patch ports on the model driver: planned without a network device, re-applied as
//! nothing, shown back as `ovs-interface` with `patch`, rolled back exactly.

use super::tests::host;
use crate::engine::tests::fail_at_every_op;
use crate::engine::{apply, ApplyOptions};
use crate::netdev::Op;
use crate::plan::plan;
use crate::plan::tests::intent_of;

const PATCHED: &str = r#"
interfaces:
  - {name: patch-a, type: ovs-interface, patch: {peer: patch-b}}
  - {name: patch-b, type: ovs-interface, patch: {peer: patch-a}}
  - {name: br-a, type: ovs-bridge, bridge: {port: [{name: v1}, {name: patch-a, vlan: {mode: access, tag: 5}}]}}
  - {name: br-b, type: ovs-bridge, bridge: {port: [{name: patch-b}]}}
"#;

#[test]
fn patch_ports_are_planned_applied_shown_back_and_rolled_back() {
    let p = plan(host().state(), &intent_of(PATCHED)).expect("plans");
    let ovs: Vec<String> = p
        .ops()
        .filter(|o| matches!(o, Op::Ovs(_)))
        .map(|o| format!("{} {o}", o.sign()))
        .collect();
    assert_eq!(
        ovs,
        [
            "+ ovs-bridge br-a",
            "+ ovs-bridge br-b",
            "+ ovs-port patch-a bridge br-a patch peer patch-b tag 5",
            "+ ovs-port v1 bridge br-a",
            "+ ovs-port patch-b bridge br-b patch peer patch-a",
        ]
    );
    let mut m = host();
    apply(
        &mut m,
        &intent_of(PATCHED),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect("applies");
    let s = m.state();
    assert_eq!(
        s.ovs.bridges["br-a"].ports["patch-a"].patch_peer.as_deref(),
        Some("patch-b")
    );
    assert!(
        !s.links.contains_key("patch-a"),
        "a patch port has no device"
    );
    assert!(plan(s, &intent_of(PATCHED)).expect("plans").is_empty());
    let yaml = serde_yaml_ng::to_string(&crate::show::show(s).document).expect("yaml");
    assert!(yaml.contains("peer: patch-b"), "{yaml}");
    let again = plan(s, &intent_of(&yaml)).expect("plans");
    assert!(again.is_empty(), "{again}\n{yaml}");

    fail_at_every_op(host, &intent_of(PATCHED), |s| s.ovs);
    // Removed, and the removal rolled back from any op: the patch ports come back.
    let removal = "interfaces: [{name: br-a, state: absent}, {name: patch-b, state: absent}]";
    let applied = || {
        let mut m = host();
        apply(
            &mut m,
            &intent_of(PATCHED),
            ApplyOptions::default(),
            |_, _| Ok(()),
        )
        .expect("applies");
        m
    };
    let p = fail_at_every_op(applied, &intent_of(removal), |s| s.ovs);
    assert!(!p.is_empty());
}

#[test]
fn a_patch_port_is_no_device_and_changes_its_peer_in_place() {
    let mut m = host();
    apply(
        &mut m,
        &intent_of(PATCHED),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect("applies");
    let repeer = PATCHED.replace("patch: {peer: patch-b}", "patch: {peer: patch-c}");
    let p = plan(m.state(), &intent_of(&repeer)).expect("plans");
    assert_eq!(
        p.to_string().trim(),
        "~ ovs-port patch-a patch peer patch-c tag 5"
    );
    // An internal port of that name is another kind: refused, not re-created.
    let internal = PATCHED.replace(
        "{name: patch-a, type: ovs-interface, patch: {peer: patch-b}}",
        "{name: patch-a, type: ovs-interface}",
    );
    let e = plan(m.state(), &intent_of(&internal)).expect_err("refused");
    assert_eq!(
        e[0].to_string(),
        "interfaces[2].bridge.port[1]: port patch-a of br-a exists as a patch port, not as an \
         internal port; remove it first"
    );
    let problems = |yaml: &str| -> Vec<String> {
        let d = crate::model::parse(yaml).expect("parses");
        match crate::model::validate(&d) {
            Ok(()) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    };
    let got = problems(
        "interfaces:\n- {name: p0, type: ovs-interface, mtu: 1400, patch: {peer: p0}, ipv4: {enabled: true, address: [{ip: 192.0.2.1, prefix-length: 24}]}}\n- {name: br0, type: ovs-bridge, bridge: {port: [{name: p0}]}}\n- {name: v9, type: veth, patch: {peer: p0}}\n",
    );
    assert_eq!(
        got,
        [
            "interfaces[0].patch.peer: p0 cannot be its own peer",
            "interfaces[0].mtu: a patch port has no network device to carry it",
            "interfaces[0].ipv4: a patch port has no network device to carry it",
            "interfaces[2].patch: only an ovs-interface is a patch port",
        ]
    );
}
