//! The model's alternative names, with the kernel's rules (checked on 6.18): names and
//! alternative names share one namespace (a taken one is EEXIST, also for a new link's
//! name); at most 127 bytes (ERANGE, the attribute policy); removing a name the link
//! lacks is ENOENT, its own name or another link's EINVAL. The kernel checks nothing
//! else of the name: validation does.

use crate::netdev::KernelState;

/// ALTIFNAMSIZ 128 with its NUL.
pub const MAX_ALT_NAME: usize = 127;

pub(super) fn apply(
    s: &mut KernelState,
    name: &str,
    alt: &str,
    add: bool,
) -> Result<(), (i32, &'static str)> {
    if !s.links.contains_key(name) {
        return Err((libc::ENODEV, "no such device"));
    }
    if add {
        if alt.len() > MAX_ALT_NAME {
            return Err((libc::ERANGE, "alternative name longer than 127 bytes"));
        }
        if s.named(alt).is_some() {
            return Err((libc::EEXIST, "name taken"));
        }
        s.alt_names
            .entry(name.to_string())
            .or_default()
            .insert(alt.to_string());
        return Ok(());
    }
    match s.named(alt) {
        None => Err((libc::ENOENT, "no such name")),
        Some(owner) if owner != name || alt == name => {
            Err((libc::EINVAL, "not an alternative name of this device"))
        }
        Some(_) => {
            if let Some(set) = s.alt_names.get_mut(name) {
                set.remove(alt);
                if set.is_empty() {
                    s.alt_names.remove(name);
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::netdev::model::ModelDriver;
    use crate::netdev::{Driver, DriverError, LinkKind, NewLink, Op};

    fn alt(name: &str, alt: &str, add: bool) -> Op {
        Op::AltName {
            name: name.into(),
            alt: alt.into(),
            add,
        }
    }

    fn errno(r: &Result<(), DriverError>) -> Option<i32> {
        match r {
            Err(DriverError::Rejected { errno, .. }) => Some(*errno),
            _ => None,
        }
    }

    fn veth(name: &str, peer: &str) -> Op {
        Op::CreateLink(NewLink {
            name: name.into(),
            kind: LinkKind::Veth {
                peer: Some(peer.into()),
            },
            up: false,
            mtu: None,
            mac: None,
            controller: None,
            peer: Some(Default::default()),
        })
    }

    #[test]
    fn names_are_one_namespace() {
        let mut m = ModelDriver::fresh_namespace();
        let r = m.execute(&[
            veth("a1", "a2"),
            alt("a1", "port1", true),
            alt("a2", "port1", true),
            alt("a2", "a1", true),
            alt("a1", "a1", true),
            alt("a1", &"x".repeat(128), true),
            alt("a1", &"x".repeat(127), true),
            alt("nope", "p", true),
            veth("port1", "p2"),
        ]);
        let got: Vec<Option<i32>> = r.iter().map(errno).collect();
        let (ex, inval) = (Some(libc::EEXIST), Some(libc::ERANGE));
        assert_eq!(
            got,
            [None, None, ex, ex, ex, inval, None, Some(libc::ENODEV), ex]
        );
        assert_eq!(m.state().named("port1"), Some("a1"));
        assert_eq!(m.state().alt_names["a1"].len(), 2);
    }

    #[test]
    fn removal_follows_the_kernel() {
        let mut m = ModelDriver::fresh_namespace();
        let r = m.execute(&[
            veth("a1", "a2"),
            alt("a1", "port1", true),
            alt("a2", "port1", false),
            alt("a1", "a1", false),
            alt("a1", "gone", false),
            alt("a1", "port1", false),
        ]);
        let got: Vec<Option<i32>> = r.iter().map(errno).collect();
        let inval = Some(libc::EINVAL);
        assert_eq!(got, [None, None, inval, inval, Some(libc::ENOENT), None]);
        assert!(m.state().alt_names.is_empty());
    }

    #[test]
    fn a_deleted_link_takes_its_names() {
        let mut m = ModelDriver::fresh_namespace();
        let r = m.execute(&[
            veth("a1", "a2"),
            alt("a1", "port1", true),
            alt("a2", "port2", true),
            Op::DeleteLink { name: "a1".into() },
            veth("port1", "port2"),
        ]);
        assert!(r.iter().all(Result::is_ok), "{r:?}");
        assert!(m.state().alt_names.is_empty());
    }
}
