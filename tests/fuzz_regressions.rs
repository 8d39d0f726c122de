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

/// Finding F1: a network removed with its uplink repeated, and another network taking
/// that NIC in the same file, was refused ("port fznic0 is claimed by two bridges").
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
        ],
    );
}
