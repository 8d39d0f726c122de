use super::*;
use crate::model::parse;

fn errors(yaml: &str) -> Vec<String> {
    let d = parse(yaml).expect("parses");
    match validate(&d) {
        Ok(()) => vec![],
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn assert_error(yaml: &str, expected_prefix: &str) {
    let errs = errors(yaml);
    assert!(
        errs.iter().any(|e| e.starts_with(expected_prefix)),
        "expected an error starting with {expected_prefix:?}, got {errs:#?}"
    );
}

#[test]
fn valid_networks_pass() {
    let errs = errors(
        "networks:\n- name: mgmt\n  uplink: eth0\n  ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}\n  ipv6: {address: ['2001:db8::10/64'], gateway: '2001:db8::1'}\n  default-route: true\n- name: storage\n  uplink: eth1\n  ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}\n  source-routing: {table: 1001}\n",
    );
    assert_eq!(errs, Vec::<String>::new());
}

#[test]
fn long_and_bad_names() {
    assert_error(
        "networks:\n- name: abcdefghijklmnop\n",
        "networks[0].name: interface name \"abcdefghijklmnop\" is 16 bytes",
    );
    assert_error(
        "networks:\n- name: Mgmt\n",
        "networks[0].name: network name \"Mgmt\" contains 'M'",
    );
    assert_error(
        "interfaces:\n- name: 'a b'\n  type: ethernet\n",
        "interfaces[0].name: interface name \"a b\" contains",
    );
    assert_error(
        "interfaces:\n- {name: br-int, type: ovs-bridge, bridge: {port: [{name: --if-exists}]}}\n",
        "interfaces[0].bridge.port[0].name: interface name \"--if-exists\" starts with '-'",
    );
    assert_error(
        "interfaces:\n- {name: '-x', type: ethernet}\n",
        "interfaces[0].name: interface name \"-x\" starts with '-'",
    );
}

#[test]
fn duplicates() {
    assert_error(
        "networks:\n- name: a\n- name: a\n",
        "networks[1].name: network a is already declared at networks[0]",
    );
    assert_error(
        "interfaces:\n- {name: x, type: ethernet}\n- {name: x, type: ethernet}\n",
        "interfaces[1].name: interface x is already declared",
    );
}

#[test]
fn gateway_outside_subnet() {
    assert_error(
        "networks:\n- name: a\n- name: b\n  ipv4: {address: [192.0.2.10/24], gateway: 198.51.100.1}\n",
        "networks[1].ipv4.gateway: 198.51.100.1 is outside every subnet of the network (192.0.2.0/24)",
    );
    assert_error(
        "networks:\n- name: a\n  ipv4: {address: ['2001:db8::1/64']}\n",
        "networks[0].ipv4.address[0]: 2001:db8::1/64 is not an ipv4 address",
    );
}

#[test]
fn a_removed_bridgeless_network_hands_its_nic_over() {
    let gone = "{name: a, uplink: eth0, bridged: false, state: absent}";
    let taker = "{name: b, uplink: eth0, bridged: false}";
    for (x, y) in [(gone, taker), (taker, gone)] {
        let yaml = format!("networks:\n- {x}\n- {y}\n");
        assert_eq!(errors(&yaml), Vec::<String>::new(), "{yaml}");
    }
    // Two present networks still cannot share it, nor two removed ones.
    for extra in ["", ", state: absent"] {
        assert_error(
            &format!("networks:\n- {{name: a, uplink: eth0, bridged: false{extra}}}\n- {{name: b, uplink: eth0, bridged: false{extra}}}\n"),
            "networks[1].uplink: device eth0 is already used by network a",
        );
    }
    assert_error(
        "networks:\n- {name: a, uplink: eth0, bridged: false, state: absent}\n- {name: b, uplink: eth0, bridged: false}\n- {name: c, uplink: eth0, bridged: false}\n",
        "networks[2].uplink: device eth0 is already used by network b",
    );
}

#[test]
fn reserved_and_colliding_tables() {
    for t in [0, 253, 254, 255] {
        assert_error(
            &format!("networks:\n- name: a\n  ipv4: {{address: [192.0.2.10/24], gateway: 192.0.2.1}}\n  source-routing: {{table: {t}}}\n"),
            "networks[0].source-routing.table: table",
        );
    }
    assert_error(
        "networks:\n- name: a\n  source-routing: {table: 1000}\n- name: b\n  source-routing: {table: 1000}\n",
        "networks[1].source-routing.table: table 1000 is already used by network a",
    );
}

#[test]
fn ports() {
    assert_error(
        "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: eth0}]}}\n- {name: br1, type: linux-bridge, bridge: {port: [{name: eth0}]}}\n",
        "interfaces[1].bridge.port[0].name: port eth0 is claimed by two bridges: br0 and br1",
    );
    assert_error(
        "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: br0}]}}\n",
        "interfaces[0].bridge.port[0].name: bridge br0 cannot be a port of itself",
    );
    assert_error(
        "networks:\n- {name: a, uplink: eth0}\n- {name: b, uplink: eth0}\n",
        "networks[1].uplink: port eth0 is claimed by two bridges",
    );
    // A network being removed hands its uplink over (fuzzer finding F1).
    for doc in [
        "networks:\n- {name: a, uplink: eth0, state: absent}\n- {name: b, uplink: eth0}\n",
        "networks:\n- {name: b, uplink: eth0}\n- {name: a, uplink: eth0, bridged: false, state: absent}\n",
    ] {
        let d = crate::model::parse(doc).expect("parses");
        assert!(validate(&d).is_ok(), "{doc}: {:?}", validate(&d).err());
    }
    assert_error(
        "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: eth0}]}}\nnetworks:\n- {name: a, uplink: eth0}\n",
        "networks[0].uplink: port eth0 is claimed by two bridges: br0 (interfaces) and a",
    );
    assert_error(
        "networks:\n- {name: a, uplink: a}\n",
        "networks[0].uplink: bridge a cannot be a port of itself",
    );
}

#[test]
fn one_default_route() {
    assert_error(
        "networks:\n- {name: a, default-route: true, ipv4: {address: [192.0.2.2/24], gateway: 192.0.2.1}}\n- {name: b, default-route: true, ipv4: {address: [198.51.100.2/24], gateway: 198.51.100.1}}\n",
        "networks[1].default-route: only one network can carry the default route",
    );
    assert_error(
        "networks:\n- {name: a, default-route: true}\n",
        "networks[0].default-route: default-route needs a gateway",
    );
}

#[test]
fn routes_and_rules() {
    assert_error(
        "routes:\n  config:\n  - {state: absent}\n",
        "routes.config[0]: an absent route must name",
    );
    assert_error(
        "routes:\n  config:\n  - {destination: 192.0.2.1/24, next-hop-interface: eth0}\n",
        "routes.config[0].destination: 192.0.2.1/24 has host bits set; did you mean 192.0.2.0/24?",
    );
    assert_error(
        "route-rules:\n  config:\n  - {ip-from: 192.0.2.0/24, route-table: 100}\n",
        "route-rules.config[0].priority: priority is required",
    );
    assert_error(
        "route-rules:\n  config:\n  - {ip-from: 192.0.2.0/24, ip-to: '2001:db8::/64', route-table: 100, priority: 5}\n",
        "route-rules.config[0].ip-to: ip-from and ip-to are of different families",
    );
}

#[test]
fn bridges_are_not_ports() {
    assert_error(
        "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: br1}]}}\n- {name: br1, type: linux-bridge}\n",
        "interfaces[0].bridge.port[0].name: br1 is a bridge; a bridge cannot be a port of another bridge",
    );
    assert_error(
        "networks:\n- {name: a}\n- {name: b, uplink: a}\n",
        "networks[1].uplink: a is a bridge; a bridge cannot be the uplink of another bridge",
    );
}

#[test]
fn addresses_the_kernel_owns_or_that_match_everything() {
    assert_error(
        "networks:\n- {name: a, ipv6: {address: ['fe80::1/64']}}\n",
        "networks[0].ipv6.address[0]: fe80::1 is link-local",
    );
    assert_error(
        "interfaces:\n- {name: eth0, type: ethernet, ipv4: {address: [{ip: 127.0.0.2, prefix-length: 8}]}}\n",
        "interfaces[0].ipv4.address[0].ip: 127.0.0.2 is a loopback address",
    );
    assert_error(
        "route-rules:\n  config:\n  - {family: ipv4, fwmark: 0, priority: 5, route-table: 100}\n",
        "route-rules.config[0].fwmark: fwmark 0 without a non-zero fwmask matches every packet",
    );
}

/// Issue 16, items 4 and 5: what the kernel would refuse (or rewrite) half-way through
/// an apply is refused here, before anything changes.
#[test]
fn kernel_refusals_are_caught_at_validation() {
    assert_error(
        "interfaces:\n- {name: 'a%d', type: linux-bridge}\n",
        "interfaces[0].name: interface name \"a%d\" contains '%'",
    );
    assert_error(
        "networks:\n- {name: a, bridge: 'br%d'}\n",
        "networks[0].bridge: interface name \"br%d\" contains '%'",
    );
    for name in ["all", "default"] {
        assert_error(
            &format!("interfaces:\n- {{name: {name}, type: linux-bridge}}\n"),
            &format!("interfaces[0].name: \"{name}\" is reserved by the kernel"),
        );
        assert_error(
            &format!("networks:\n- {{name: {name}}}\n"),
            &format!("networks[0].name: \"{name}\" is reserved by the kernel"),
        );
    }
    for name in [".", ".."] {
        assert_error(
            &format!("interfaces:\n- {{name: '{name}', type: veth, veth: {{peer: p0}}}}\n"),
            "interfaces[0].name:",
        );
    }
    assert_error(
        "interfaces:\n- {name: br0, type: linux-bridge, mac-address: '00:00:00:00:00:00'}\n",
        "interfaces[0].mac-address: 00:00:00:00:00:00 is the all-zero address",
    );
    assert_error(
        "interfaces:\n- {name: br0, type: linux-bridge, mac-address: '01:00:5e:00:00:01'}\n",
        "interfaces[0].mac-address: 01:00:5E:00:00:01 is a multicast address",
    );
    assert_error(
        "interfaces:\n- {name: br0, type: linux-bridge, mtu: 65536}\n",
        "interfaces[0].mtu: MTU 65536 is above what a linux-bridge allows (65535)",
    );
    assert_error(
        "interfaces:\n- {name: v0, type: veth, mtu: 65536, veth: {peer: v1}}\n",
        "interfaces[0].mtu: MTU 65536 is above what a veth allows (65535)",
    );
    assert_error(
        "interfaces:\n- {name: vx0, type: vxlan, mtu: 65500, vxlan: {id: 5, remote: 192.0.2.1}}\n",
        "interfaces[0].mtu: MTU 65500 is above what a vxlan allows (65485)",
    );
    assert_error(
        "networks:\n- {name: a, mtu: 65536}\n",
        "networks[0].mtu: MTU 65536 is above what a linux-bridge allows (65535)",
    );
    // Loopback's default is 65536, and a NIC's ceiling is its driver's.
    assert_eq!(
        errors("interfaces:\n- {name: lo, type: loopback, mtu: 65536}\n- {name: eth0, type: ethernet, mtu: 9000}\n"),
        Vec::<String>::new()
    );
    assert_eq!(
        errors("interfaces:\n- {name: br0, type: linux-bridge, mtu: 65535, mac-address: '02:00:00:00:00:01'}\n"),
        Vec::<String>::new()
    );
}

/// A network's VLAN device is declared by the network alone, as its bridge is; its base
/// and a VLAN-aware network's bridge may still be listed (README, "The input").
#[test]
fn a_networks_vlan_device_is_declared_in_one_place() {
    assert_error(
        "interfaces:\n- {name: eth0.200, type: vlan, vlan: {base-iface: eth0, id: 200}}\nnetworks:\n- {name: guests, uplink: eth0, vlan: 200}\n",
        "networks[0].vlan: VLAN device eth0.200 of network guests is also declared at interfaces[0]; declare it in one place",
    );
    assert_error(
        "interfaces:\n- {name: eth0, type: ethernet}\n- {name: br0.100, type: vlan, vlan: {base-iface: br0, id: 100}}\nnetworks:\n- {name: blue, uplink: eth0, bridge: br0, vlan-aware: true, vlan: 100}\n",
        "networks[0].vlan: VLAN device br0.100 of network blue is also declared at interfaces[1]",
    );
    // Bridgeless, and being removed: the same device, the same rule.
    assert_error(
        "interfaces:\n- {name: eth0.7, type: vlan, state: absent}\nnetworks:\n- {name: old, uplink: eth0, vlan: 7, bridged: false, state: absent}\n",
        "networks[0].vlan: VLAN device eth0.7 of network old is also declared at interfaces[0]",
    );
    let fine = [
        // The base's MTU is given under interfaces.
        "interfaces:\n- {name: eth0, type: ethernet, mtu: 9000}\nnetworks:\n- {name: guests, uplink: eth0, vlan: 200, mtu: 9000}\n",
        // Another VLAN of the same base is the user's.
        "interfaces:\n- {name: eth0.300, type: vlan, vlan: {base-iface: eth0, id: 300}}\nnetworks:\n- {name: guests, uplink: eth0, vlan: 200}\n",
        // A VLAN-aware network's shared bridge may have an entry of its own.
        "interfaces:\n- {name: br0, type: linux-bridge, bridge: {options: {stp: {enabled: false}}}}\nnetworks:\n- {name: blue, uplink: eth0, bridge: br0, vlan-aware: true, vlan: 100}\n",
    ];
    for yaml in fine {
        assert_eq!(errors(yaml), Vec::<String>::new(), "{yaml}");
    }
}
