//! `hostnet show --graph`: the host as a picture. DOT for people who post-process it, SVG
//! (laid out in-process by layout-rs, so no Graphviz is needed) for people who look at it.
//!
//! Devices are boxes (bridges, bonds, OVS bridges filled), edges run from a port to what
//! it is a port of, from a VLAN, VXLAN or MACVLAN to its base, between veth peers
//! (dashed), and from each device to the recorded network on it, with the network's addresses,
//! gateways, table and its firewall and DHCP server marks.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::netdev::{KernelState, LinkKind};

use super::status::NetworkReport;

/// What `--graph` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Svg,
    Dot,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("cannot lay out the picture: {0}")]
    Layout(String),
}

/// The picture in the asked format.
pub fn render(
    state: &KernelState,
    networks: &[NetworkReport],
    format: GraphFormat,
) -> Result<String, GraphError> {
    let dot = dot(state, networks);
    match format {
        GraphFormat::Dot => Ok(dot),
        GraphFormat::Svg => svg(&dot),
    }
}

fn svg(dot: &str) -> Result<String, GraphError> {
    use layout::backends::svg::SVGWriter;
    use layout::gv::{DotParser, GraphBuilder};
    let mut parser = DotParser::new(dot);
    let graph = parser.process().map_err(GraphError::Layout)?;
    let mut builder = GraphBuilder::new();
    builder.visit_graph(&graph);
    let mut visual = builder.get();
    let mut writer = SVGWriter::new();
    visual.do_it(false, false, false, &mut writer);
    Ok(writer.finalize())
}

/// A DOT string literal.
fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A label of several lines (DOT's `\n`).
fn lines(parts: &[String]) -> String {
    let parts: Vec<String> = parts.iter().map(|p| escape(p)).collect();
    format!("\"{}\"", parts.join("\\n"))
}

/// The base device a stacked device sits on, and the word for the edge.
fn base(kind: &LinkKind) -> Option<(&str, &'static str)> {
    match kind {
        LinkKind::Vlan(o) => o.base.as_deref().map(|b| (b, "vlan")),
        LinkKind::Vxlan(o) => o.base.as_deref().map(|b| (b, "vxlan")),
        LinkKind::MacVlan(o) | LinkKind::MacVtap(o) => o.base.as_deref().map(|b| (b, "on")),
        _ => None,
    }
}

fn kind_words(kind: &LinkKind) -> String {
    match kind {
        LinkKind::Vlan(o) => format!("vlan {}", o.id),
        LinkKind::Vxlan(o) => format!("vxlan {}", o.id),
        k => k.type_name().to_string(),
    }
}

fn fill(kind: &LinkKind) -> Option<&'static str> {
    match kind {
        LinkKind::Bridge(_) => Some("lightblue"),
        LinkKind::Bond(_) => Some("lightyellow"),
        _ => None,
    }
}

/// The host in DOT: stable output (sorted by name) so it can be diffed.
pub fn dot(state: &KernelState, networks: &[NetworkReport]) -> String {
    let mut out = String::from("digraph host {\n  rankdir=LR;\n");
    let names: BTreeSet<&str> = state.links.keys().map(String::as_str).collect();
    for (name, link) in &state.links {
        if matches!(link.kind, LinkKind::Loopback) {
            continue;
        }
        let mut label = vec![name.clone(), kind_words(&link.kind)];
        for a in state.addresses.iter().filter(|a| &a.ifname == name) {
            label.push(a.addr.to_string());
        }
        if !link.up {
            label.push("down".into());
        }
        let style = match fill(&link.kind) {
            Some(color) => format!(", style=filled, fillcolor={color}"),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "  {} [shape=box, label={}{style}];",
            quote(&format!("dev:{name}")),
            lines(&label)
        );
    }
    for (name, b) in &state.ovs.bridges {
        if !names.contains(name.as_str()) {
            let _ = writeln!(
                out,
                "  {} [shape=box, label={}, style=filled, fillcolor=lightgreen];",
                quote(&format!("dev:{name}")),
                lines(&[name.clone(), "ovs-bridge".into()])
            );
        } else {
            let _ = writeln!(
                out,
                "  {} [fillcolor=lightgreen, style=filled];",
                quote(&format!("dev:{name}"))
            );
        }
        for (port, p) in &b.ports {
            if !names.contains(port.as_str()) {
                let _ = writeln!(
                    out,
                    "  {} [shape=box, label={}];",
                    quote(&format!("dev:{port}")),
                    lines(&[port.clone(), "ovs-port".into()])
                );
            }
            // An OVS bond's members, and a patch port's peer (drawn from one end).
            let members = p.bond.iter().flat_map(|bd| bd.members.iter());
            let peer = p.patch_peer.iter().filter(|peer| port < *peer);
            for (from, to, label) in members
                .map(|m| (m, port, "bond member"))
                .chain(peer.map(|peer| (port, peer, "patch")))
            {
                let _ = writeln!(
                    out,
                    "  {} -> {} [label={}];",
                    quote(&format!("dev:{from}")),
                    quote(&format!("dev:{to}")),
                    quote(label)
                );
            }
            let _ = writeln!(
                out,
                "  {} -> {} [label=\"port\"];",
                quote(&format!("dev:{port}")),
                quote(&format!("dev:{name}"))
            );
        }
    }
    for (name, link) in &state.links {
        let from = quote(&format!("dev:{name}"));
        if let Some(c) = &link.controller {
            let _ = writeln!(
                out,
                "  {from} -> {} [label=\"port\"];",
                quote(&format!("dev:{c}"))
            );
        }
        if let Some((b, word)) = base(&link.kind) {
            if names.contains(b) {
                let _ = writeln!(
                    out,
                    "  {from} -> {} [label={}];",
                    quote(&format!("dev:{b}")),
                    quote(word)
                );
            }
        }
        // One edge per pair: from the name that sorts first.
        if let LinkKind::Veth { peer: Some(p) } = &link.kind {
            if name < p && names.contains(p.as_str()) {
                let _ = writeln!(
                    out,
                    "  {from} -> {} [style=dashed, label=\"veth\"];",
                    quote(&format!("dev:{p}"))
                );
            }
        }
    }
    for n in networks {
        let mut label = vec![format!("network {}", n.name)];
        if !n.gateways.is_empty() {
            label.push(format!("gateway {}", n.gateways.join(", ")));
        }
        if let Some(t) = &n.table {
            label.push(format!("table {}", t.id));
        }
        if n.firewall_expected {
            label.push("firewall".into());
        }
        if n.dhcp_server_expected {
            label.push("dhcp server".into());
        }
        let id = quote(&format!("net:{}", n.name));
        let _ = writeln!(
            out,
            "  {id} [shape=Mrecord, label={}, style=filled, fillcolor=wheat];",
            quote(&label.join(" | "))
        );
        // Left to right: ports, their bridge, the network on it.
        let _ = writeln!(
            out,
            "  {} -> {id};",
            quote(&format!("dev:{}", n.device.name))
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::{Address, BridgeOptions, Link};

    fn host() -> KernelState {
        let mut s = KernelState::default();
        for l in [
            Link::up("eth0", LinkKind::Ethernet, Some("mgmt")),
            Link::up("mgmt", LinkKind::Bridge(BridgeOptions::default()), None),
            Link::up(
                "v0",
                LinkKind::Veth {
                    peer: Some("v1".into()),
                },
                None,
            ),
            Link::up(
                "v1",
                LinkKind::Veth {
                    peer: Some("v0".into()),
                },
                None,
            ),
        ] {
            s.links.insert(l.name.clone(), l);
        }
        s.addresses.push(Address {
            ifname: "mgmt".into(),
            addr: "192.0.2.10/24".parse().expect("net"),
            dynamic: false,
        });
        s
    }

    #[test]
    fn ports_point_at_their_bridge_and_veth_pairs_are_one_dashed_edge() {
        let d = dot(&host(), &[]);
        assert!(
            d.contains("\"dev:eth0\" -> \"dev:mgmt\" [label=\"port\"];"),
            "{d}"
        );
        assert!(
            d.contains("label=\"mgmt\\nlinux-bridge\\n192.0.2.10/24\""),
            "{d}"
        );
        assert_eq!(d.matches("style=dashed").count(), 1, "{d}");
        assert!(!d.contains("dev:lo"), "{d}");
    }

    #[test]
    fn ovs_bond_members_and_patch_peers_are_edges() {
        use crate::ovs::{OvsBond, OvsBridge, OvsPort};
        let mut s = host();
        let bond = OvsPort {
            bond: Some(OvsBond {
                members: ["v0".to_string(), "v1".to_string()].into(),
                ..OvsBond::default()
            }),
            ..OvsPort::default()
        };
        let patch = |peer: &str| OvsPort {
            patch_peer: Some(peer.into()),
            ..OvsPort::default()
        };
        let mut b = OvsBridge::default();
        b.ports.insert("bond0".into(), bond);
        b.ports.insert("pa".into(), patch("pb"));
        s.ovs.bridges.insert("br-a".into(), b);
        let mut b = OvsBridge::default();
        b.ports.insert("pb".into(), patch("pa"));
        s.ovs.bridges.insert("br-b".into(), b);
        let d = dot(&s, &[]);
        assert!(
            d.contains("\"dev:v0\" -> \"dev:bond0\" [label=\"bond member\"];"),
            "{d}"
        );
        assert_eq!(d.matches("[label=\"patch\"]").count(), 1, "{d}");
    }

    #[test]
    fn the_svg_is_laid_out_in_process() {
        let s = render(&host(), &[], GraphFormat::Svg).expect("svg");
        assert!(s.contains("<svg") && s.contains("mgmt"), "{s}");
    }
}
