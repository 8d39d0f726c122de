//! The settings of a device kind in `ip -d link` words, for plan lines and messages.

use std::fmt::Write;

use super::LinkKind;

pub(super) fn settings(kind: &LinkKind) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write_settings(&mut s, kind);
    s.trim_start().to_string()
}

fn write_settings(s: &mut String, kind: &LinkKind) -> std::fmt::Result {
    let base = |s: &mut String, b: &Option<String>| match b {
        Some(b) => write!(s, " link {b}"),
        None => Ok(()),
    };
    match kind {
        LinkKind::Bridge(b) => {
            write!(s, " stp {}", if b.stp { "on" } else { "off" })?;
            // What differs from a bridge hostnet makes without settings.
            let plain = super::BridgeOptions {
                stp: b.stp,
                ..super::BridgeOptions::new_bridge()
            };
            let change = super::BridgeChange::between(&plain, b);
            if !change.is_empty() {
                write!(s, " {change}")?;
            }
            Ok(())
        }
        LinkKind::Vlan(v) => {
            base(s, &v.base)?;
            if v.protocol != super::VlanProtocol::Dot1Q {
                write!(s, " protocol {}", v.protocol.as_str())?;
            }
            write!(s, " id {}", v.id)?;
            // What differs from the kernel's defaults, in `ip link`'s words.
            let plain = super::VlanOptions::new(None, 0);
            for (name, on, default) in [
                ("reorder_hdr", v.reorder_headers, plain.reorder_headers),
                ("loose_binding", v.loose_binding, plain.loose_binding),
                ("gvrp", v.gvrp, plain.gvrp),
                ("mvrp", v.mvrp, plain.mvrp),
            ] {
                if on != default {
                    write!(s, " {name} {}", if on { "on" } else { "off" })?;
                }
            }
            Ok(())
        }
        LinkKind::Bond(b) => write!(s, " mode {} miimon {}", b.mode, b.miimon),
        LinkKind::Vxlan(v) => {
            write!(s, " id {}", v.id)?;
            base(s, &v.base)?;
            if let Some(r) = v.remote {
                write!(s, " remote {r}")?;
            }
            if let Some(l) = v.local {
                write!(s, " local {l}")?;
            }
            write!(s, " dstport {}", v.dst_port)?;
            if !v.learning {
                write!(s, " nolearning")?;
            }
            Ok(())
        }
        LinkKind::MacVlan(m) | LinkKind::MacVtap(m) => {
            base(s, &m.base)?;
            write!(s, " mode {}", m.mode.as_str())?;
            if !m.promiscuous {
                write!(s, " nopromisc")?;
            }
            Ok(())
        }
        LinkKind::Tap(t) => {
            if let Some(u) = t.owner {
                write!(s, " user {u}")?;
            }
            if let Some(g) = t.group {
                write!(s, " group {g}")?;
            }
            if t.multi_queue {
                write!(s, " multi_queue")?;
            }
            if !t.persistent {
                write!(s, " transient")?;
            }
            Ok(())
        }
        LinkKind::Veth { .. } | LinkKind::Ethernet | LinkKind::Loopback | LinkKind::Other(_) => {
            Ok(())
        }
    }
}
