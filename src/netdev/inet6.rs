//! nmstate's IPv6 `addr-gen-mode` and `token` of a link (IFLA_AF_SPEC{AF_INET6}), kept
//! apart from `disable_ipv6`/`autoconf`, which are sysctls.

use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

/// IN6_ADDR_GEN_MODE_EUI64: the interface identifier from the MAC address.
pub const EUI64: u8 = 0;
/// IN6_ADDR_GEN_MODE_STABLE_PRIVACY (RFC 7217), which needs a `stable_secret`.
pub const STABLE_PRIVACY: u8 = 2;

/// A link's IPv6 address generation as the kernel has it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inet6Link {
    /// IN6_ADDR_GEN_MODE_*: 0 eui64, 1 none (hostnet's bridge ports), 2 stable privacy,
    /// 3 random.
    pub addr_gen_mode: u8,
    /// The interface identifier SLAAC uses (`::`: none).
    pub token: Option<Ipv6Addr>,
    /// The kernel takes a token here: not loopback, router advertisements accepted
    /// (`accept_ra` 1, or 2 with `forwarding` on) and `router_solicitations` not 0.
    pub token_settable: bool,
}

/// A change of them (`None`: left as it is).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inet6Change {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr_gen_mode: Option<u8>,
    /// `::` removes the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Ipv6Addr>,
}

impl Inet6Change {
    pub fn is_empty(&self) -> bool {
        *self == Inet6Change::default()
    }

    /// What of `self` `have` lacks (`have` unknown: all of it).
    pub fn missing_from(&self, have: Option<&Inet6Link>) -> Inet6Change {
        let Some(h) = have else { return self.clone() };
        let token = h.token.unwrap_or(Ipv6Addr::UNSPECIFIED);
        Inet6Change {
            addr_gen_mode: self.addr_gen_mode.filter(|m| *m != h.addr_gen_mode),
            token: self.token.filter(|t| *t != token),
        }
    }

    /// What takes `have` back to `want`.
    pub fn between(have: &Inet6Link, want: &Inet6Link) -> Inet6Change {
        Inet6Change {
            addr_gen_mode: Some(want.addr_gen_mode).filter(|m| *m != have.addr_gen_mode),
            token: Some(want.token.unwrap_or(Ipv6Addr::UNSPECIFIED))
                .filter(|_| want.token != have.token),
        }
    }

    /// Applies it to `l`.
    pub fn apply_to(&self, l: &mut Inet6Link) {
        if let Some(m) = self.addr_gen_mode {
            l.addr_gen_mode = m;
        }
        if let Some(t) = self.token {
            l.token = Some(t).filter(|t| !t.is_unspecified());
        }
    }

    /// Words for a plan line (` addrgenmode stable-privacy token ::1`).
    pub fn words(&self) -> String {
        let mut out = String::new();
        if let Some(m) = self.addr_gen_mode {
            let name = match m {
                EUI64 => "eui64".to_string(),
                1 => "none".to_string(),
                STABLE_PRIVACY => "stable-privacy".to_string(),
                3 => "random".to_string(),
                n => n.to_string(),
            };
            out.push_str(&format!(" addrgenmode {name}"));
        }
        if let Some(t) = self.token {
            out.push_str(&format!(" token {t}"));
        }
        out
    }
}
