//! The workload: N logical networks, and the inputs each method gets for them.
//!
//! Network i (1-based) is bridge `hb{i}` with veth `hv{i}` (enslaved) / `hp{i}`,
//! `10.{i/256}.{i%256}.1/24` on the bridge, a table holding `default via .254` and the
//! on-link subnet route, and the rule `from SUBNET` at priority 3200; around all of them
//! hostnet's block of three rules (`not iif lo goto 3201` at 3198, `lookup main
//! suppress_prefixlength 0` at 3199, `nop` at 3201).

use std::fmt::Write as _;

/// How tables are numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tables {
    /// Table 1000+i, no metric: one table per network (hostnet, `ip`).
    Own,
    /// Table (i-1)%250+1 with metric 100+(i-1)/250: what `nmstatectl apply --kernel`
    /// accepts (tables up to 255 only).
    Folded,
}

/// One logical network.
#[derive(Clone, Debug)]
pub struct Net {
    pub bridge: String,
    pub veth: String,
    pub peer: String,
    /// `10.a.b`
    pub prefix: String,
    pub gateway: String,
    pub table: u32,
    pub metric: Option<u32>,
}

impl Net {
    pub fn subnet(&self) -> String {
        format!("{}.0/24", self.prefix)
    }
    pub fn address(&self) -> String {
        format!("{}.1", self.prefix)
    }
}

/// Rule priority of every network (hostnet's default).
pub const PRIORITY: u32 = 3200;

/// The networks 1..=n. `changed` gets the gateway `.253` instead of `.254`.
pub fn networks(n: usize, tables: Tables, changed: Option<usize>) -> Vec<Net> {
    (1..=n)
        .map(|i| {
            let prefix = format!("10.{}.{}", i / 256, i % 256);
            let gw = if changed == Some(i) { 253 } else { 254 };
            let (table, metric) = match tables {
                Tables::Own => (1000 + i as u32, None),
                Tables::Folded => (
                    ((i - 1) % 250 + 1) as u32,
                    Some(100 + ((i - 1) / 250) as u32),
                ),
            };
            Net {
                bridge: format!("hb{i}"),
                veth: format!("hv{i}"),
                peer: format!("hp{i}"),
                gateway: format!("{prefix}.{gw}"),
                prefix,
                table,
                metric,
            }
        })
        .collect()
}

/// The network whose gateway the "change" step moves.
pub fn changed_network(n: usize) -> usize {
    n.div_ceil(2)
}

/// hostnet's input: veths under `interfaces:`, the rest as `networks:` with the uplink.
pub fn hostnet_yaml(nets: &[Net]) -> String {
    let mut s = String::from("interfaces:\n");
    for n in nets {
        let _ = writeln!(
            s,
            "  - {{name: {}, type: veth, veth: {{peer: {}}}}}",
            n.veth, n.peer
        );
    }
    s.push_str("networks:\n");
    for n in nets {
        let _ = writeln!(
            s,
            "  - {{name: {}, uplink: {}, ipv4: {{address: [{}/24], gateway: {}}}, source-routing: {{table: {}, priority: {PRIORITY}}}}}",
            n.bridge,
            n.veth,
            n.address(),
            n.gateway,
            n.table
        );
    }
    s
}

/// hostnet's input removing everything `hostnet_yaml` made.
pub fn hostnet_teardown_yaml(nets: &[Net]) -> String {
    let mut s = String::from("interfaces:\n");
    for n in nets {
        let _ = writeln!(s, "  - {{name: {}, type: veth, state: absent}}", n.veth);
    }
    s.push_str("networks:\n");
    for n in nets {
        let _ = writeln!(s, "  - {{name: {}, state: absent}}", n.bridge);
    }
    s
}

/// The block around the networks' rules, as `ip rule` arguments after `add`/`del`.
pub fn block_rules() -> [String; 3] {
    [
        format!("nop pref {} proto 201", PRIORITY + 1),
        format!(
            "not iif lo goto {} pref {} proto 201",
            PRIORITY + 1,
            PRIORITY - 2
        ),
        format!(
            "lookup main suppress_prefixlength 0 pref {} proto 201",
            PRIORITY - 1
        ),
    ]
}

/// The same objects as `ip` commands (arguments after `ip`), in the order a script would
/// run them. Routes and rules carry protocol 201 like hostnet's, so the end states are
/// identical.
pub fn ip_ops(nets: &[Net]) -> Vec<String> {
    let mut v = Vec::with_capacity(nets.len() * 9 + 3);
    if !nets.is_empty() {
        v.extend(block_rules().map(|r| format!("rule add {r}")));
    }
    for n in nets {
        let (br, ve, pe, t) = (&n.bridge, &n.veth, &n.peer, n.table);
        let metric = n.metric.map(|m| format!(" metric {m}")).unwrap_or_default();
        v.push(format!(
            "link add {br} type bridge stp_state 0 forward_delay 0"
        ));
        // One queue each way, as hostnet makes its veths (netdev/linux/kinds.rs).
        v.push(format!(
            "link add {ve} numtxqueues 1 numrxqueues 1 type veth peer name {pe} numtxqueues 1 numrxqueues 1"
        ));
        v.push(format!("link set {ve} master {br} up"));
        v.push(format!("link set {pe} up"));
        v.push(format!("addr add {}/24 dev {br}", n.address()));
        v.push(format!("link set {br} up"));
        v.push(format!(
            "route add {} dev {br} table {t} proto 201 scope link src {}{metric}",
            n.subnet(),
            n.address()
        ));
        v.push(format!(
            "route add default via {} dev {br} table {t} proto 201{metric}",
            n.gateway
        ));
        v.push(format!(
            "rule add from {} table {t} pref {PRIORITY} proto 201",
            n.subnet()
        ));
    }
    v
}

/// The one `ip` command that moves network `net`'s gateway.
pub fn ip_change(net: &Net) -> String {
    format!(
        "route replace default via {} dev {} table {} proto 201",
        net.gateway, net.bridge, net.table
    )
}

/// Deleting everything `ip_ops` made: the rules, then the veths and bridges (their routes
/// go with them).
pub fn ip_teardown_ops(nets: &[Net]) -> Vec<String> {
    let mut v = Vec::with_capacity(nets.len() * 3 + 3);
    for n in nets {
        v.push(format!(
            "rule del from {} table {} pref {PRIORITY}",
            n.subnet(),
            n.table
        ));
        v.push(format!("link del {}", n.veth));
        v.push(format!("link del {}", n.bridge));
    }
    if !nets.is_empty() {
        v.extend(block_rules().iter().rev().map(|r| format!("rule del {r}")));
    }
    v
}

/// nmstate's input for what its kernel mode can apply: interfaces, addresses and routes
/// (it applies no route rules and no tables above 255; see [`Tables::Folded`]).
/// `replaced`: the old default route of a changed network, which nmstate wants removed
/// explicitly (`state: absent`) before it accepts another gateway in the same table.
pub fn nmstate_yaml(nets: &[Net], replaced: Option<&Net>) -> String {
    let mut s = String::from("interfaces:\n");
    for n in nets {
        let _ = write!(
            s,
            "- name: {ve}\n  type: veth\n  state: up\n  veth: {{peer: {pe}}}\n\
             - name: {pe}\n  type: veth\n  state: up\n  veth: {{peer: {ve}}}\n\
             - name: {br}\n  type: linux-bridge\n  state: up\n  bridge:\n    options: {{stp: {{enabled: false}}}}\n    port: [{{name: {ve}}}]\n  ipv4:\n    enabled: true\n    address: [{{ip: {addr}, prefix-length: 24}}]\n",
            ve = n.veth,
            pe = n.peer,
            br = n.bridge,
            addr = n.address()
        );
    }
    s.push_str("routes:\n  config:\n");
    if let Some(n) = replaced {
        let _ = writeln!(
            s,
            "  - {{destination: 0.0.0.0/0, next-hop-address: {}, next-hop-interface: {}, table-id: {}, state: absent}}",
            n.gateway, n.bridge, n.table
        );
    }
    for n in nets {
        let metric = n
            .metric
            .map(|m| format!(", metric: {m}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  - {{destination: 0.0.0.0/0, next-hop-address: {}, next-hop-interface: {}, table-id: {}{metric}}}",
            n.gateway, n.bridge, n.table
        );
        let _ = writeln!(
            s,
            "  - {{destination: {}, next-hop-address: 0.0.0.0, next-hop-interface: {}, table-id: {}{metric}}}",
            n.subnet(),
            n.bridge,
            n.table
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_addresses() {
        let own = networks(300, Tables::Own, Some(2));
        assert_eq!(own[0].table, 1001);
        assert_eq!(own[255].prefix, "10.1.0");
        assert_eq!(own[1].gateway, "10.0.2.253");
        let folded = networks(300, Tables::Folded, None);
        assert_eq!((folded[0].table, folded[0].metric), (1, Some(100)));
        assert_eq!((folded[250].table, folded[250].metric), (1, Some(101)));
        assert_eq!(ip_ops(&own).len(), 9 * 300 + 3);
    }
}
