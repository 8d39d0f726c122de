//! Plans as people and programs see them, on the model driver.

use super::*;
use crate::firewall::sysctl::IPV4_ACCEPT_REDIRECTS;
use crate::firewall::IPV4_FORWARD;
use crate::netdev::model::ModelDriver;
use crate::netdev::Driver;
use crate::plan::plan;
use crate::plan::tests::{host, intent_of};

const TWO_NETWORKS: &str = "
networks:
  - name: mgmt
    uplink: eth0
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}
    default-route: true
    source-routing: {table: 1001}
  - name: storage
    uplink: eth1
    mtu: 9000
    ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}
";

fn view(m: &ModelDriver, yaml: &str) -> PlanView {
    let intent = intent_of(yaml);
    let p = plan(m.state(), &intent).expect("plans");
    PlanView::new(&p, m.state(), &intent)
}

fn applied(mut m: ModelDriver, yaml: &str) -> ModelDriver {
    let p = plan(m.state(), &intent_of(yaml)).expect("plans");
    for phase in &p.phases {
        for r in m.execute(phase) {
            r.expect("model accepts the op");
        }
    }
    let s = m.query().expect("query");
    ModelDriver::new(s)
}

#[test]
fn plan_is_grouped_by_network_and_leaves_defaults_out() {
    let v = view(&host(), TWO_NETWORKS);
    let text = v.to_string();
    insta::assert_snapshot!(text);
    for noise in ["0.0.0.0/0", "::/0", "table 254", "proto 201", "metric 1024"] {
        assert!(!text.contains(noise), "{noise} in\n{text}");
    }
    assert!(
        text.contains("network mgmt (bridge mgmt, table 1001):"),
        "{text}"
    );
    assert!(
        text.contains("network storage (bridge storage, table 5014, derived from its name):"),
        "{text}"
    );
    // One entry per op, but the storage bridge's MTU (set once its port is in) and both
    // bridges' going up (once their addresses are on) are part of their creation.
    let intent = intent_of(TWO_NETWORKS);
    let p = plan(host().state(), &intent).expect("plans");
    assert_eq!(v.len() + 3, p.len());
    assert!(
        text.contains(
            "+ linux-bridge storage stp off down (then mtu 9000, then up once its addresses are on)"
        ),
        "{text}"
    );
    // As JSON, the creation ends up.
    let json = v.to_json();
    let mgmt = json
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|e| e["kind"] == "interface" && e["key"] == "mgmt")
        })
        .expect("mgmt's entry");
    assert_eq!(mgmt["action"], "create", "{mgmt}");
    assert_eq!(mgmt["after"]["state"], "up", "{mgmt}");
    assert_eq!(
        v.summary(),
        Summary {
            create: 22,
            change: 2,
            remove: 0
        }
    );
}

#[test]
fn a_changed_gateway_is_one_change_with_before_and_after() {
    let m = applied(host(), TWO_NETWORKS);
    let changed = TWO_NETWORKS.replace("gateway: 198.51.100.1", "gateway: 198.51.100.254");
    let v = view(&m, &changed);
    assert_eq!(v.len(), 1, "{v}");
    let e = &v.entries[0];
    assert_eq!(
        (e.network.as_deref(), e.kind, e.action),
        (Some("storage"), Kind::Route, Action::Change)
    );
    assert_eq!(e.key, "0.0.0.0/0 table 5014");
    assert_eq!(
        e.line(),
        "route default table 5014: next-hop-address 198.51.100.1 -> 198.51.100.254"
    );
    let json = serde_json::to_value(e).expect("json");
    assert_eq!(json["before"]["next-hop-address"], "198.51.100.1");
    assert_eq!(json["after"]["next-hop-address"], "198.51.100.254");
    assert_eq!(json["after"]["table-id"], 5014);
}

#[test]
fn json_entries_have_the_documented_shape() {
    let v = view(&host(), TWO_NETWORKS);
    let json = v.to_json();
    let entries = json.as_array().expect("array");
    assert_eq!(entries.len(), v.len());
    for e in entries {
        let o = e.as_object().expect("object");
        for k in o.keys() {
            assert!(
                [
                    "network",
                    "kind",
                    "key",
                    "action",
                    "before",
                    "after",
                    "side-effects"
                ]
                .contains(&k.as_str()),
                "unexpected key {k} in {e}"
            );
        }
        assert!(["create", "change", "remove"].contains(&e["action"].as_str().expect("action")));
        for side in ["before", "after"] {
            for k in e[side].as_object().into_iter().flatten().map(|(k, _)| k) {
                assert!(!k.contains('_'), "{k} is not kebab-case in {e}");
            }
        }
    }
    let bridge = entries
        .iter()
        .find(|e| e["kind"] == "interface" && e["key"] == "storage")
        .expect("the storage bridge");
    assert_eq!(bridge["network"], "storage");
    assert_eq!(bridge["action"], "create");
    assert_eq!(bridge["before"], serde_json::Value::Null);
    assert_eq!(bridge["after"]["type"], "linux-bridge");
    assert_eq!(bridge["after"]["stp"], false);
    let uplink = entries
        .iter()
        .find(|e| e["kind"] == "interface" && e["key"] == "eth1")
        .expect("the uplink");
    assert_eq!(uplink["before"]["controller"], serde_json::Value::Null);
    assert_eq!(uplink["after"]["controller"], "storage");
    assert_eq!(uplink["before"]["mtu"], 1500);
    assert_eq!(uplink["after"]["mtu"], 9000);
}

#[test]
fn kernel_side_effects_of_forwarding_belong_to_the_switch() {
    let mut st = host().state().clone();
    for (k, v) in [
        (IPV4_FORWARD, "0"),
        (IPV4_ACCEPT_REDIRECTS, "1"),
        ("net.ipv4.conf.eth0.forwarding", "0"),
        ("net.ipv4.conf.eth1.forwarding", "0"),
    ] {
        st.firewall.sysctls.insert(k.into(), v.into());
    }
    st.firewall.read = true;
    let yaml = "
networks:
  - name: t1
    uplink: eth0
    ipv4: {address: [10.10.0.1/24]}
    firewall: {masquerade: {out-interface: eth1}}
";
    let v = view(&ModelDriver::new(st), yaml);
    let text = v.to_string();
    let sysctls: Vec<&Entry> = v
        .entries
        .iter()
        .filter(|e| e.kind == Kind::Sysctl)
        .collect();
    assert_eq!(sysctls.len(), 1, "{text}");
    let s = sysctls[0];
    assert_eq!(s.key, IPV4_FORWARD);
    assert_eq!(s.network, None);
    assert_eq!(s.side_effects.len(), 3, "{text}");
    assert!(
        text.contains(
            "~ sysctl net.ipv4.ip_forward: 0 -> 1 (the kernel then also sets \
             net.ipv4.conf.all.accept_redirects 1 -> 0 and the forwarding of 2 interfaces)"
        ),
        "{text}"
    );
    assert!(text.contains("not tied to one network:"), "{text}");
    let fw = v
        .entries
        .iter()
        .find(|e| e.kind == Kind::Firewall)
        .expect("the network's firewall");
    assert_eq!(fw.network.as_deref(), Some("t1"));
    assert_eq!(fw.key, "nftables");
    let json = serde_json::to_value(s).expect("json");
    assert_eq!(
        json["side-effects"][0]["key"],
        "net.ipv4.conf.all.accept_redirects"
    );
}

#[test]
fn a_new_dhcp_server_is_one_creation_that_starts_dnsmasq() {
    let yaml = "
networks:
  - name: t1
    uplink: eth0
    ipv4: {address: [10.10.0.1/24]}
    dhcp-server:
      range: {start: 10.10.0.100, end: 10.10.0.200}
      hosts: [{mac: '52:54:00:00:00:05', ip: 10.10.0.5, hostname: vm1}]
";
    let v = view(&host(), yaml);
    let text = v.to_string();
    let servers: Vec<&Entry> = v
        .entries
        .iter()
        .filter(|e| e.kind == Kind::DhcpServer)
        .collect();
    assert_eq!(servers.len(), 1, "{text}");
    assert_eq!(servers[0].action, Action::Create);
    assert_eq!(
        servers[0].after.as_ref().and_then(|a| a.get("running")),
        Some(&serde_json::Value::Bool(true))
    );
    assert!(text.contains("(dnsmasq started)"), "{text}");
    assert!(!text.contains("process"), "{text}");
    assert!(
        text.contains("  + dhcp-host 52:54:00:00:00:05 10.10.0.5 vm1 on t1"),
        "{text}"
    );
    // Removing it is one removal of the server (the hosts go with its files).
    let m = applied(host(), yaml);
    let gone = view(&m, "networks: [{name: t1, state: absent}]\n");
    let text = gone.to_string();
    assert!(
        text.contains("  - dhcp-server t1 (its dnsmasq and files)"),
        "{text}"
    );
    // A device goes by its kind, as it came.
    assert!(text.contains("  - linux-bridge t1"), "{text}");
}

#[test]
fn bridge_vlans_are_one_change_per_port_with_what_is_added_and_removed() {
    let yaml = "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: eth1, vlan: {mode: access, tag: 7}}]}}\n";
    let v = view(&host(), yaml);
    let e = v
        .entries
        .iter()
        .find(|e| e.kind == Kind::BridgeVlans)
        .expect("a bridge-vlans entry");
    assert_eq!((e.key.as_str(), e.action), ("eth1", Action::Change));
    assert_eq!(e.line(), "bridge-vlans eth1: add 7 pvid untagged, remove 1");
    let json = serde_json::to_value(e).expect("json");
    assert_eq!(json["kind"], "bridge-vlans");
    assert_eq!(json["after"]["add"], "7 pvid untagged");
    assert_eq!(json["after"]["remove"], "1");
}
