//! Files of the host's own that would keep hostnet's from taking effect, found under the
//! root before anything is written: a systemd-networkd `.network` that matches a device
//! and sorts first (networkd uses the first match: `10-eth0.network` shadows
//! `50-hostnet-eth0.network`), an `/etc/network/interfaces` that does not source
//! `interfaces.d` (ifupdown would never read hostnet's files) or that configures the
//! same interface, netplan files or NetworkManager connections or ifcfg files that
//! configure the same device. Each is a warning: the files are still written, since the
//! operator may be about to remove the other one.

use std::path::{Path, PathBuf};

use super::Format;

/// Warnings about `devices` (those the run writes files for) in `format` under `root`.
pub fn warnings(format: Format, root: &Path, devices: &[String]) -> Vec<String> {
    match format {
        Format::Networkd => networkd(root, devices),
        Format::Ifupdown => ifupdown(root, devices),
        Format::Netplan => netplan(root, devices),
        Format::Keyfile => keyed(
            root,
            super::keyfile::DIR,
            |_| true,
            |line| line.strip_prefix("interface-name="),
            devices,
            "NetworkManager may activate that connection instead of hostnet's",
        ),
        Format::Ifcfg => keyed(
            root,
            super::ifcfg::DIR,
            |name| name.starts_with("ifcfg-"),
            |line| line.strip_prefix("DEVICE="),
            devices,
            "network-scripts brings up both",
        ),
    }
}

/// The files of a directory, sorted by name, with their contents (unreadable ones and
/// hostnet's own left out).
fn foreign_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, String)> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t)))
        .filter(|(_, t)| !super::transaction::is_ours(t.as_bytes()))
        .collect();
    out.sort();
    out
}

/// A shell-style glob (`*`, `?`, `[...]`), as systemd's `Name=` and ifupdown's `source`
/// take it.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some(('[', rest)) => {
                let Some(end) = rest.iter().position(|c| *c == ']') else {
                    return n.first() == Some(&'[') && go(rest, &n[1..]);
                };
                let (set, rest) = (&rest[..end], &rest[end + 1..]);
                let Some((c, tail)) = n.split_first() else {
                    return false;
                };
                let (negate, set) = match set.split_first() {
                    Some(('!' | '^', s)) => (true, s),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= (set[i]..=set[i + 2]).contains(c);
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != negate && go(rest, tail)
            }
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// networkd reads `.network` files from these directories, all sorted together by file
/// name (one in /etc hides one of the same name elsewhere), and uses the first that
/// matches a link.
const NETWORKD_DIRS: [&str; 4] = [
    "etc/systemd/network",
    "run/systemd/network",
    "usr/local/lib/systemd/network",
    "usr/lib/systemd/network",
];

fn networkd(root: &Path, devices: &[String]) -> Vec<String> {
    let mut files: Vec<(String, PathBuf, String)> = Vec::new();
    for dir in NETWORKD_DIRS {
        for (path, text) in foreign_files(&root.join(dir)) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.ends_with(".network") && !files.iter().any(|(n, _, _)| *n == name) {
                files.push((name, path, text));
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for d in devices {
        let ours = format!("50-hostnet-{d}.network");
        for (_, path, text) in files.iter().filter(|(n, _, _)| *n < ours) {
            let (names, other_keys) = match_section(text);
            let hit = if names.is_empty() {
                other_keys
            } else {
                names.iter().any(|p| glob(p, d))
            };
            if hit {
                let how = if names.is_empty() {
                    "may match it (its [Match] has no Name=)"
                } else {
                    "matches it"
                };
                out.push(format!(
                    "{d}: {} {how} and sorts before {ours}: systemd-networkd uses the first \
                     .network that matches a link, so hostnet's would be ignored; remove it \
                     or narrow its [Match]",
                    path.display()
                ));
                break;
            }
        }
    }
    out
}

/// The `Name=` patterns of a unit file's `[Match]` sections, and whether they have other
/// keys (which this check cannot judge).
fn match_section(text: &str) -> (Vec<String>, bool) {
    let mut names = Vec::new();
    let mut other = false;
    let mut in_match = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_match = line == "[Match]";
            continue;
        }
        if !in_match || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        match line.split_once('=') {
            Some(("Name", v)) => names.extend(v.split_whitespace().map(str::to_string)),
            Some(_) => other = true,
            None => {}
        }
    }
    (names, other)
}

fn ifupdown(root: &Path, devices: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let main = root.join("etc/network/interfaces");
    let text = std::fs::read_to_string(&main).unwrap_or_default();
    let sample = format!(
        "/etc/network/interfaces.d/hostnet-{}",
        devices.first().map_or("x", |d| d)
    );
    let mut sourced = false;
    let mut by_directory = false;
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("source"), Some(p)) if glob(p, &sample) => sourced = true,
            (Some("source-directory"), Some(p))
                if p.trim_end_matches('/') == "/etc/network/interfaces.d" =>
            {
                sourced = true;
                by_directory = true;
            }
            _ => {}
        }
    }
    if !sourced {
        out.push(format!(
            "{} does not source /etc/network/interfaces.d: ifupdown will not read hostnet's \
             files; add `source /etc/network/interfaces.d/*`",
            main.display()
        ));
    }
    if by_directory {
        for d in devices
            .iter()
            .filter(|d| d.contains('.') || d.contains('@'))
        {
            out.push(format!(
                "{d}: `source-directory` skips file names with `.`: hostnet-{d} would not be \
                 read; use `source /etc/network/interfaces.d/*`"
            ));
        }
    }
    let mut others = vec![(main.clone(), text)];
    others.extend(foreign_files(&root.join(super::ifupdown::DIR)));
    for d in devices {
        for (path, text) in &others {
            let stanza = text.lines().any(|l| {
                let mut w = l.split_whitespace();
                w.next() == Some("iface") && w.next() == Some(d.as_str())
            });
            if stanza {
                out.push(format!(
                    "{d}: {} configures it too; ifupdown2 merges both stanzas (and keeps \
                     addresses either gives); remove it there",
                    path.display()
                ));
            }
        }
    }
    out
}

fn netplan(root: &Path, devices: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["etc/netplan", "run/netplan", "lib/netplan"] {
        for (path, text) in foreign_files(&root.join(dir)) {
            let Ok(v) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) else {
                continue;
            };
            let Some(net) = v.get("network").and_then(|n| n.as_mapping()) else {
                continue;
            };
            for d in devices {
                let declared = net
                    .iter()
                    .filter_map(|(_, section)| section.as_mapping())
                    .any(|m| m.contains_key(d.as_str()));
                if declared {
                    out.push(format!(
                        "{d}: {} declares it too; netplan merges both (the later file's \
                         keys win); remove it there",
                        path.display()
                    ));
                }
            }
        }
    }
    out
}

/// Files of `dir` that name a device by a `key=` line.
fn keyed(
    root: &Path,
    dir: &str,
    candidate: impl Fn(&str) -> bool,
    value: impl Fn(&str) -> Option<&str>,
    devices: &[String],
    why: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in foreign_files(&root.join(dir)) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !candidate(&name) {
            continue;
        }
        for l in text.lines() {
            let Some(v) = value(l.trim()) else { continue };
            let v = v.trim().trim_matches('"');
            if let Some(d) = devices.iter().find(|d| d.as_str() == v) {
                out.push(format!("{d}: {} configures it too; {why}", path.display()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    #[test]
    fn globs() {
        assert!(glob("eth*", "eth0") && glob("en?1", "enp1") && glob("eth[0-3]", "eth2"));
        assert!(!glob("eth[!0-3]", "eth2") && !glob("eth*", "br0") && glob("*", ""));
    }

    #[test]
    fn an_earlier_network_file_that_matches_shadows_hostnets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(
            root,
            "etc/systemd/network/10-eth0.network",
            "[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n",
        );
        write(
            root,
            "usr/lib/systemd/network/20-wired.network",
            "[Match]\nName=en* eth1\n",
        );
        write(
            root,
            "etc/systemd/network/99-late.network",
            "[Match]\nName=eth*\n",
        );
        write(
            root,
            "run/systemd/network/30-any.network",
            "[Match]\nType=ether\n",
        );
        let w = warnings(
            Format::Networkd,
            root,
            &["eth0".into(), "eth1".into(), "br0".into()],
        );
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(
            w[0].contains("10-eth0.network matches it and sorts before 50-hostnet-eth0.network")
        );
        assert!(w[1].contains("20-wired.network matches it"));
        assert!(w[2].starts_with("br0:") && w[2].contains("may match it"));
        // hostnet's own files are not in the way.
        let ours = tempfile::tempdir().expect("tempdir");
        write(
            ours.path(),
            "etc/systemd/network/10-x.network",
            &format!("{}[Match]\nName=eth0\n", crate::persist::HEADER),
        );
        assert!(warnings(Format::Networkd, ours.path(), &["eth0".into()]).is_empty());
    }

    #[test]
    fn ifupdown_needs_the_source_line_and_no_second_stanza() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let devs = vec!["vmbr0".to_string(), "eth1.10".to_string()];
        let w = warnings(Format::Ifupdown, root, &devs);
        assert!(w.len() == 1 && w[0].contains("does not source"), "{w:#?}");
        write(
            root,
            "etc/network/interfaces",
            "auto lo\niface lo inet loopback\n\niface vmbr0 inet static\n\taddress 10.0.0.1/24\n\nsource-directory /etc/network/interfaces.d\n",
        );
        let w = warnings(Format::Ifupdown, root, &devs);
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(w[0].contains("skips file names with `.`") && w[1].contains("configures it too"));
        write(
            root,
            "etc/network/interfaces",
            "source /etc/network/interfaces.d/*\n",
        );
        assert!(warnings(Format::Ifupdown, root, &devs).is_empty());
    }

    #[test]
    fn other_netplan_files_keyfiles_and_ifcfg_naming_the_device() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(
            root,
            "etc/netplan/01-netcfg.yaml",
            "network:\n  version: 2\n  ethernets:\n    eth0: {dhcp4: true}\n",
        );
        write(
            root,
            "etc/NetworkManager/system-connections/Wired.nmconnection",
            "[connection]\nid=Wired\ninterface-name=eth0\n",
        );
        write(
            root,
            "etc/sysconfig/network-scripts/ifcfg-eth0",
            "DEVICE=eth0\nBOOTPROTO=dhcp\n",
        );
        let devs = vec!["eth0".to_string()];
        for f in [Format::Netplan, Format::Keyfile, Format::Ifcfg] {
            let w = warnings(f, root, &devs);
            assert_eq!(w.len(), 1, "{f:?}: {w:#?}");
        }
    }
}
