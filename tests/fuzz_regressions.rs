//! Regression tests from the state-transition fuzzer's reproducers (`tests/fuzz.rs`):
//! each applies its files in a fresh fuzz sandbox and checks that the dry run and the
//! apply succeed and agree with the kernel, and that a second apply and `show`'s output
//! re-applied change nothing.

#[path = "fuzz/mod.rs"]
mod fuzz;

/// Finding F6: a bridge removed in the same apply that switches IPv6 forwarding on had its
/// `accept_ra` planned 1 → 2 from the state read before; the write failed (ENOENT) and
/// the apply rolled back, while the dry run said it would work.
#[test]
fn ipv6_forwarding_on_while_a_bridge_goes() {
    fuzz::regression(
        "ipv6_forwarding_on_while_a_bridge_goes",
        &[
            r#"
networks:
- name: fzc
  uplink: fznic0
  mtu: 1500
  ipv4:
    address:
    - 10.3.0.10/24"#,
            r#"
networks:
- name: fzc
  state: absent
  uplink: fznic0
- name: fzg
  uplink: fzgst0
  bridge: fzbr3b
  ipv4:
    address:
    - 10.200.0.1/24
  ipv6:
    address:
    - fd00:200:0::1/64
  firewall:
    masquerade:
      out-interface: fznic2
    isolate: true"#,
        ],
    );
}

/// Finding F1: a bridged network removed with its uplink repeated, and another network
/// taking that NIC in the same file, was refused ("port fznic0 is claimed by two
/// bridges"). (A removed *bridgeless* network's NIC stays refused: finding F9.)
#[test]
fn a_removed_network_hands_its_uplink_over() {
    fuzz::regression(
        "a_removed_network_hands_its_uplink_over",
        &[
            r#"
networks:
- name: fza
  uplink: fznic0
  bridge: fzbr0a
  mtu: 1500
  ipv4:
    address:
    - 10.1.0.10/24
    gateway: 10.1.0.1"#,
            r#"
networks:
- name: fza
  state: absent
  uplink: fznic0
  bridge: fzbr0a
- name: fzb
  uplink: fznic0
  mtu: 1500
  ipv4:
    address:
    - 10.2.0.10/24
    gateway: 10.2.0.1"#,
            "networks:\n- {name: fzb, uplink: fznic0, state: absent}\n- {name: fzc, uplink: fznic0, bridged: false, ipv4: {address: [10.3.0.10/24], gateway: 10.3.0.1}}\n",
        ],
    );
}

// Findings whose fix belongs to the planner, the expansion or the model driver (issue 12):
// a test stays ignored until its fix lands.

use fuzz::gen::Bug;

/// Finding F2: a network switched from bridgeless to bridged on the same NIC is refused
/// (exit 2): its own addresses on the NIC count as addresses a new bridge port strands.
#[test]
fn a_bridgeless_network_becomes_bridged() {
    fuzz::regression(
        "a_bridgeless_network_becomes_bridged",
        &[
            "networks:\n- {name: fzc, uplink: fznic2, bridged: false, ipv4: {address: [10.3.0.10/24]}}\n",
            "networks:\n- {name: fzc, uplink: fznic2, mtu: 1500, ipv4: {address: [10.3.0.10/24]}}\n",
        ],
    );
}

/// Finding F3: the model gives a link it creates no per-interface sysctls (`forwarding`,
/// `accept_ra`) and keeps those of a link it deletes; the kernel does otherwise.
#[test]
fn the_model_knows_a_new_links_sysctls() {
    fuzz::regression_with(
        "the_model_knows_a_new_links_sysctls",
        &[Bug::NewLinkSysctls],
        &["interfaces:\n- {name: fzxv0, type: veth, state: up, veth: {peer: fzxv1}}\nnetworks:\n- {name: fzg, uplink: fzgst0, ipv4: {address: [10.200.0.1/24]}, firewall: {}}\n"],
    );
}

/// Finding F4: a bridgeless network removed (its uplink repeated) leaves its addresses on
/// the NIC; a bridged network on that NIC is then refused (exit 2).
#[test]
fn a_removed_bridgeless_network_takes_its_addresses() {
    fuzz::regression(
        "a_removed_bridgeless_network_takes_its_addresses",
        &[
            "networks:\n- {name: fzc, uplink: fznic2, bridged: false, ipv4: {address: [10.3.0.10/24]}}\n",
            "networks:\n- {name: fzc, uplink: fznic2, bridged: false, state: absent}\n",
            "networks:\n- {name: fza, uplink: fznic2, mtu: 1500, ipv4: {address: [10.1.0.10/24]}}\n",
        ],
    );
}

/// Finding F5: a new bridge without `mtu` whose port has MTU 9000 gets 9000 from the
/// kernel; the model predicts 1500.
#[test]
fn a_new_bridge_takes_its_ports_mtu() {
    fuzz::regression(
        "a_new_bridge_takes_its_ports_mtu",
        &[
            "networks:\n- {name: fza, uplink: fznic0, bridged: false, mtu: 9000}\n",
            "networks:\n- {name: fza, uplink: fznic0, bridged: false, state: absent}\n",
            "networks:\n- {name: fzb, uplink: fznic0, ipv4: {address: [10.2.0.10/24]}}\n",
        ],
    );
}

/// Findings F7 and F8: renaming a network's bridge (`bridge: fzbr3b` to the default name)
/// leaves the old bridge behind (F7); that emptied bridge's MAC becomes
/// 00:00:00:00:00:00 in the kernel, the model keeps the old one (F8).
#[test]
fn renaming_a_networks_bridge_removes_the_old_one() {
    let files = [
        "networks:\n- {name: fzg, uplink: fzgst0, bridge: fzbr3b, ipv4: {address: [10.200.0.1/24]}}\n",
        "networks:\n- {name: fzg, uplink: fzgst0, ipv4: {address: [10.200.0.1/24]}}\n",
    ];
    let Some(lab) = fuzz::regression_with(
        "renaming_a_networks_bridge_removes_the_old_one",
        &[Bug::EmptyBridgeMac],
        &files,
    ) else {
        return;
    };
    let state = lab.query().expect("query");
    assert!(
        !state.links.contains_key("fzbr3b"),
        "the old bridge fzbr3b is left over"
    );
}

/// Finding F9: a bridgeless network removed and another network on its NIC in the same
/// file. Validation refuses it ("device fznic2 is already used by network fzb"); when
/// allowed, the removed network's cleanup (its tagged routes on its device) deletes the
/// new network's routes and rules, and the plan never converges (verification: still to
/// delete route 0.0.0.0/0 via 10.3.0.1 dev fznic2 table T). The expansion must scope a
/// removed network's claim so that a handed-over device's new owner keeps its objects.
#[test]
fn a_removed_bridgeless_network_hands_its_nic_over() {
    fuzz::regression(
        "a_removed_bridgeless_network_hands_its_nic_over",
        &[
            "networks:\n- {name: fzb, uplink: fznic2, bridged: false, ipv4: {address: [10.2.0.10/24], gateway: 10.2.0.1}}\n",
            "networks:\n- {name: fzb, uplink: fznic2, bridged: false, state: absent}\n- {name: fzc, uplink: fznic2, bridged: false, ipv4: {address: [10.3.0.10/24], gateway: 10.3.0.1}}\n",
        ],
    );
}

/// Finding F10 (seen once in a soak: `HOSTNET_FUZZ_SEED=3022 HOSTNET_FUZZ_WALK=20`, step 6;
/// shrunk only to these five files within the budget): the dry run fails verification,
/// "still to add route 10.2.2.0/24 dev fznic2 table 1011 scope link src 10.2.2.11 proto
/// 201". fzb is bridgeless on fznic1 (10.2.2.11/24, default route), removed in file 3
/// (which leaves 10.2.2.11/24 on fznic1: F4), created on fznic2 with the same address in
/// file 4, and file 5 only drops its `default-route`. Likely F4's consequence (one
/// address on two NICs); not minimised further (a three-file version without the other
/// networks passes).
#[test]
fn a_bridgeless_network_moved_by_removal_keeps_its_on_link_route() {
    fuzz::regression(
        "a_bridgeless_network_moved_by_removal_keeps_its_on_link_route",
        &[
            r#"
networks:
- name: fzb
  uplink: fznic1
  bridged: false
  mtu: 9000
  ipv4:
    address:
    - 10.2.2.11/24
    - 10.2.0.13/24
  ipv6:
    address:
    - fd00:2:2::d/64
    - fd00:2:0::a/64
    gateway: fd00:2:2::1
  default-route: true
  source-routing:
    table: 1011
- name: fza
  uplink: fznic0
  mtu: 1400
  ipv4:
    address:
    - 10.1.0.13/24
    - 10.1.1.13/24
    - 10.1.2.10/24
    gateway: 10.1.1.1
  ipv6:
    address:
    - fd00:1:2::d/64
    - fd00:1:1::c/64
    - fd00:1:0::c/64
    gateway: fd00:1:2::1
  source-routing:
    priority: 3300
- name: fzg
  uplink: fzgst0
  ipv4:
    address:
    - 10.200.0.1/24
  dhcp-server:
    range:
      start: 10.200.0.100
      end: 10.200.0.150
    ping-check: false"#,
            r#"
interfaces:
- name: fzxv0
  type: veth
  state: up
  mtu: 1500
  veth:
    peer: fzxv1
  ipv4:
    enabled: true
    address:
    - ip: 10.250.0.1
      prefix-length: 24
routes:
  config:
  - destination: 10.252.0.0/24
    next-hop-address: 10.250.0.2
    next-hop-interface: fzxv0
    metric: 100
  - destination: 10.252.2.0/24
    next-hop-address: 10.250.0.2
    next-hop-interface: fzxv0
    table-id: 500
route-rules:
  config:
  - family: ipv4
    fwmark: '0x10'
    fwmask: '0xff'
    priority: 502
    route-table: 500
  - ip-from: 10.250.0.0/24
    priority: 500
    route-table: 500
networks:
- name: fzc
  uplink: fznic2
  bridge: fzbr2a
  mtu: 1400
  ipv4:
    address:
    - 10.3.2.10/24
    gateway: 10.3.2.1
  ipv6:
    address:
    - fd00:3:1::b/64
    - fd00:3:2::b/64
    - fd00:3:0::a/64
    gateway: fd00:3:2::1
- name: fza
  uplink: fznic0
  mtu: 9000
  ipv4:
    address:
    - 10.1.0.13/24
    - 10.1.1.13/24
    - 10.1.2.10/24
  ipv6:
    address:
    - fd00:1:2::d/64
    - fd00:1:1::c/64
    - fd00:1:0::c/64
  source-routing:
    priority: 3300
- name: fzg
  uplink: fzgst0
  ipv4:
    address:
    - 10.200.0.1/24
  firewall:
    masquerade:
      out-interface: fznic1
  dhcp-server:
    range:
      start: 10.200.0.100
      end: 10.200.0.150
    ping-check: false
- name: fzh
  uplink: fzgst1
  bridge: fzbr4a
  ipv4:
    address:
    - 10.201.0.1/24
  firewall:
    masquerade:
      out-interface: fznic1"#,
            r#"
routes:
  config:
  - destination: 10.252.2.0/24
    next-hop-address: 10.250.0.2
    next-hop-interface: fzxv0
    metric: 100
route-rules:
  config:
  - family: ipv4
    fwmark: '0x10'
    fwmask: '0xff'
    priority: 501
    route-table: 500
  - priority: 500
    state: absent
networks:
- name: fzb
  state: absent
  uplink: fznic1
  bridged: false
  source-routing:
    table: 1011
- name: fza
  uplink: fznic0
  mtu: 9000
  ipv4:
    address:
    - 10.1.0.13/24
    - 10.1.1.13/24
    - 10.1.2.10/24
    gateway: 10.1.1.1
  ipv6:
    address:
    - fd00:1:2::d/64
    - fd00:1:1::c/64
    - fd00:1:0::c/64
    gateway: fd00:1:2::1
  source-routing:
    priority: 3300
- name: fzg
  uplink: fzgst0
  ipv4:
    address:
    - 10.200.0.1/24
    - 10.200.1.1/24
  ipv6:
    address:
    - fd00:200:0::1/64
  firewall:
    masquerade:
      out-interface: fzbr2a
  dhcp-server:
    range:
      start: 10.200.0.100
      end: 10.200.0.150
    ping-check: false
- name: fzh
  uplink: fzgst1
  bridge: fzbr4a
  ipv4:
    address:
    - 10.201.0.1/24
  firewall:
    masquerade:
      out-interface: fza"#,
            r#"
routes:
  config:
  - destination: 10.252.3.0/24
    next-hop-address: 10.250.0.2
    next-hop-interface: fzxv0
    table-id: 500
    metric: 100
  - destination: 10.252.0.0/24
    next-hop-address: 10.250.0.2
    next-hop-interface: fzxv0
  - destination: 10.252.2.0/24
    state: absent
route-rules:
  config:
  - ip-from: 10.250.0.0/24
    priority: 500
    route-table: 501
  - family: ipv4
    fwmark: '0x10'
    fwmask: '0xff'
    priority: 501
    route-table: 500
  - priority: 502
    state: absent
networks:
- name: fza
  uplink: fznic0
  mtu: 1500
  ipv4:
    address:
    - 10.1.0.13/24
    - 10.1.1.13/24
    - 10.1.2.10/24
    gateway: 10.1.1.1
  ipv6:
    address:
    - fd00:1:2::d/64
    - fd00:1:1::c/64
    - fd00:1:0::c/64
    gateway: fd00:1:2::1
  source-routing:
    table: 1002
    priority: 3300
- name: fzb
  uplink: fznic2
  bridged: false
  mtu: 9000
  ipv4:
    address:
    - 10.2.2.11/24
    gateway: 10.2.2.1
  ipv6:
    address:
    - fd00:2:1::b/64
    gateway: fd00:2:1::1
  default-route: true
  source-routing:
    table: 1011
- name: fzc
  state: absent
  uplink: fznic2
  bridge: fzbr2a
- name: fzh
  uplink: fzgst1
  bridge: fzbr4a
  ipv4:
    address:
    - 10.201.0.1/24
  firewall:
    masquerade:
      out-interface: fza"#,
            r#"
interfaces:
- name: fzxv0
  type: veth
  state: up
  veth:
    peer: fzxv1
  ipv4:
    enabled: true
    address:
    - ip: 10.250.0.1
      prefix-length: 24
routes:
  config:
  - destination: 10.252.3.0/24
    next-hop-address: 10.250.0.2
    next-hop-interface: fzxv0
    table-id: 500
route-rules:
  config:
  - family: ipv4
    fwmark: '0x10'
    fwmask: '0xff'
    priority: 501
    route-table: 500
networks:
- name: fzc
  uplink: fznic1
  bridged: false
  mtu: 1500
  ipv4:
    address:
    - 10.3.1.12/24
    - 10.3.2.11/24
    - 10.3.0.12/24
    gateway: 10.3.2.1
  ipv6:
    address:
    - fd00:3:1::c/64
    - fd00:3:2::a/64
    gateway: fd00:3:2::1
  default-route: true
  source-routing:
    table: 1021
- name: fza
  uplink: fznic0
  mtu: 1500
  ipv4:
    address:
    - 10.1.0.13/24
    - 10.1.1.13/24
    - 10.1.2.10/24
    gateway: 10.1.1.1
  ipv6:
    address:
    - fd00:1:2::d/64
    - fd00:1:1::c/64
    - fd00:1:0::c/64
    gateway: fd00:1:2::1
  source-routing:
    table: 1002
    priority: 3300
- name: fzb
  uplink: fznic2
  bridged: false
  mtu: 9000
  ipv4:
    address:
    - 10.2.2.11/24
    gateway: 10.2.2.1
  ipv6:
    address:
    - fd00:2:1::b/64
    gateway: fd00:2:1::1
  source-routing:
    table: 1011
- name: fzg
  uplink: fzgst0
  ipv4:
    address:
    - 10.200.0.1/24
    - 10.200.1.1/24
  ipv6:
    address:
    - fd00:200:0::1/64
  firewall:
    masquerade:
      out-interface: fza
  dhcp-server:
    range:
      start: 10.200.0.100
      end: 10.200.0.150
    ping-check: false
- name: fzh
  uplink: fzgst1
  bridge: fzbr4a
  ipv4:
    address:
    - 10.201.0.1/24
  firewall:
    masquerade:
      out-interface: fza"#,
        ],
    );
}

/// Finding F11: a network moves its uplink while another network takes the NIC it
/// leaves, in the same file. The plan refused it: the moving network's own routes in its
/// table, still on the old NIC, counted as another network's ("table T of network fzc
/// already holds hostnet's routes for device fznic0").
#[test]
fn a_network_moves_off_a_nic_another_network_takes() {
    fuzz::regression(
        "a_network_moves_off_a_nic_another_network_takes",
        &[
            "networks:\n- {name: fzc, uplink: fznic0, bridged: false, ipv4: {address: [10.3.2.10/24], gateway: 10.3.2.1}}\n",
            "networks:\n- {name: fza, uplink: fznic0, bridged: false, ipv4: {address: [10.1.0.10/24]}}\n- {name: fzc, uplink: fznic1, bridged: false, ipv4: {address: [10.3.0.10/24], gateway: 10.3.0.1}}\n",
        ],
    );
}

/// Finding F12: a bridged network moving its uplink (fznic1 to fznic0): a bridge whose
/// MAC was never set takes its lowest port's, so the kernel's bridge changes MAC with
/// its port; the model kept the old one.
#[test]
fn a_bridge_takes_its_new_ports_mac() {
    fuzz::regression(
        "a_bridge_takes_its_new_ports_mac",
        &[
            "networks:\n- {name: fzc, uplink: fznic1, bridge: fzbr2b, mtu: 9000, ipv4: {address: [10.3.0.10/24]}}\n",
            "networks:\n- {name: fzc, uplink: fznic0, bridge: fzbr2b, mtu: 9000, ipv4: {address: [10.3.0.10/24]}}\n",
        ],
    );
}

/// Found with F3's fix (seed 1022): a new bridge, and IPv6 forwarding switched on in the
/// same apply; the kernel turns every device's `forwarding` on, the new bridge's too,
/// which the plan (made before the bridge existed) does not list.
#[test]
fn ipv6_forwarding_reaches_a_bridge_made_in_the_same_apply() {
    fuzz::regression_with(
        "ipv6_forwarding_reaches_a_bridge_made_in_the_same_apply",
        &[Bug::NewLinkSysctls],
        &["networks:\n- {name: fzh, uplink: fzgst1, ipv4: {address: [10.201.0.10/24]}, ipv6: {address: ['fd00:201:0::1/64']}, firewall: {masquerade: {out-interface: fznic2}}}\n"],
    );
}

/// Found with F3's fix (seed 1021): a bridge renamed while IPv6 forwarding goes on; the
/// old bridge's `forwarding`, planned as a side effect, is gone when it is written (the
/// Linux driver takes that as done; the model refused it).
#[test]
fn ipv6_forwarding_on_while_a_bridge_is_renamed() {
    fuzz::regression_with(
        "ipv6_forwarding_on_while_a_bridge_is_renamed",
        &[Bug::NewLinkSysctls],
        &[
            "networks:\n- {name: fzh, uplink: fzgst1, ipv4: {address: [10.201.0.10/24]}}\n",
            "networks:\n- {name: fza, uplink: fznic2, mtu: 1400, ipv4: {address: [10.1.0.10/24]}}\n- {name: fzh, uplink: fzgst1, bridge: fzbr4b, ipv4: {address: [10.201.0.10/24]}, ipv6: {address: ['fd00:201:0::1/64']}, firewall: {masquerade: {out-interface: fza}}}\n",
        ],
    );
}

/// Finding F13 (soak, seed 11039, with F5's class on): a bridge given `mtu: 1400` keeps
/// it in the kernel once the network moves to a 1500 NIC without `mtu` (the MTU was set
/// by hand); the model, seeded from a kernel state that cannot say so, took the bridge
/// (MTU equal to its port's) as following its ports and predicts 1500. Fixed: the record
/// of what was applied keeps the bridges whose MTU hostnet set (`engine::applied`,
/// `bridge_mtu_set`), and the model starts from it (`netdev/bridge_mtu.rs`, `Marks::new`).
#[test]
fn a_bridge_keeps_the_mtu_it_was_given_when_its_uplink_moves() {
    fuzz::regression(
        "a_bridge_keeps_the_mtu_it_was_given_when_its_uplink_moves",
        &[
            "networks:\n- {name: fzc, uplink: fznic0, mtu: 1400, ipv4: {address: [10.3.1.10/24]}}\n",
            "networks:\n- {name: fzc, uplink: fznic2, ipv4: {address: [10.3.1.10/24]}}\n",
        ],
    );
}

/// Found by the fuzzer (seed 1) while bridge ports and networks' bridges without IPv6
/// started being created with IPv6 disabled (issue 18): a network's bridge made without
/// IPv6 while the network had none kept it off when the network was given an IPv6
/// address, and the plan refused the address. Fixed: a network's own bridge gets IPv6
/// back once its network has IPv6 (`plan/port_ipv6.rs`, `plan/base_keys.rs`).
#[test]
fn a_networks_bridge_made_without_ipv6_gets_it_back_with_an_ipv6_address() {
    fuzz::regression(
        "a_networks_bridge_made_without_ipv6_gets_it_back_with_an_ipv6_address",
        &[
            "networks:\n- {name: fza, uplink: fznic1, ipv4: {address: [10.1.0.10/24]}}\n",
            "networks:\n- {name: fza, uplink: fznic1, ipv4: {address: [10.1.0.10/24]}, ipv6: {address: ['fd00:1:2::a/64']}}\n",
        ],
    );
}
