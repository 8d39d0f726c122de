//! A link whose IPv6 is disabled (`net.ipv6.conf.IF.disable_ipv6=1`) refuses IPv6
//! addresses (EACCES, "IPv6 is disabled on this device"): the query reads the switch, the
//! model driver refuses as the kernel does, and `apply` (dry run or not) refuses such a
//! file before changing anything, naming the interface and the sysctl (review finding 9).
//! Each test in a namespace of its own.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{enter_private_netns, run_ops, text, veth, NO_OVSDB};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::model::ModelDriver;
use hostnet::netdev::{Address, Driver, DriverError, Op};

/// Disables IPv6 on `dev` of the calling thread's namespace (`/proc/sys/net` is the
/// namespace of the thread that opens it).
fn disable_ipv6(dev: &str) {
    std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1")
        .expect("write disable_ipv6");
}

fn errno(r: &Result<(), DriverError>) -> Option<i32> {
    match r {
        Err(DriverError::Rejected { errno, .. }) => Some(*errno),
        _ => None,
    }
}

#[test]
fn the_model_refuses_an_ipv6_address_where_the_kernel_does() {
    if !enter_private_netns("the_model_refuses_an_ipv6_address_where_the_kernel_does") {
        return;
    }
    run_ops(&[veth("d0", "d1")]);
    disable_ipv6("d0");
    let mut linux = LinuxDriver::new().expect("netlink");
    let state = linux.query().expect("query");
    assert!(
        state.ipv6_disabled.contains("d0") && !state.ipv6_disabled.contains("d1"),
        "{:?}",
        state.ipv6_disabled
    );
    let mut model = ModelDriver::new(state);
    let v6 = |dev: &str| Op::AddAddress(Address::new(dev, "2001:db8::1/64".parse().expect("net")));
    let v4 = Op::AddAddress(Address::new("d0", "192.0.2.1/24".parse().expect("net")));
    let ops = [v6("d0"), v4, v6("d1")];
    let kernel = linux.execute(&ops);
    let predicted = model.execute(&ops);
    assert_eq!(errno(&kernel[0]), Some(libc::EACCES), "{kernel:?}");
    assert_eq!(errno(&predicted[0]), Some(libc::EACCES), "{predicted:?}");
    for (k, m) in kernel.iter().zip(&predicted).skip(1) {
        assert!(k.is_ok() && m.is_ok(), "kernel {k:?}, model {m:?}");
    }
}

/// Runs hostnet in the calling thread's namespace with its records under `dir`.
fn hostnet(dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(args)
        .env("HOSTNET_OVSDB", NO_OVSDB)
        .env("HOSTNET_STATE_DIR", dir.join("run"))
        .env("HOSTNET_LIB_DIR", dir.join("lib"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hostnet");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write");
    drop(input);
    child.wait_with_output().expect("runs")
}

#[test]
fn apply_refuses_an_ipv6_address_on_a_link_with_ipv6_disabled_before_changing_anything() {
    if !enter_private_netns("apply_refuses_an_ipv6_address_on_a_link_with_ipv6_disabled") {
        return;
    }
    run_ops(&[veth("d0", "d1")]);
    disable_ipv6("d0");
    let dir = std::env::temp_dir().join(format!("hostnet-ipv6-disabled-{}", std::process::id()));
    let file = "networks:\n  - {name: lan, uplink: d0, bridged: false, ipv4: {address: [192.0.2.10/24]}, ipv6: {address: ['2001:db8::10/64']}}\n";
    for dry in [true, false] {
        let mut args = vec!["apply", "-"];
        if dry {
            args.push("--dry-run");
        }
        let o = hostnet(&dir, &args, file);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "dry run {dry}: {}", text(&o));
        assert!(
            stderr.contains("networks[0].ipv6.address")
                && stderr.contains("IPv6 is disabled on d0")
                && stderr.contains("net.ipv6.conf.d0.disable_ipv6"),
            "dry run {dry}: {}",
            text(&o)
        );
    }
    // Nothing changed: not even the IPv4 address, which the kernel would have taken.
    let state = LinuxDriver::new().expect("netlink").query().expect("query");
    assert!(
        !state.addresses.iter().any(|a| a.ifname == "d0"),
        "{:?}",
        state.addresses
    );
    // With IPv6 on again, the same file applies.
    std::fs::write("/proc/sys/net/ipv6/conf/d0/disable_ipv6", "0").expect("enable");
    let o = hostnet(&dir, &["apply", "-"], file);
    assert!(o.status.success(), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
