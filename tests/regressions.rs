//! Regressions from review: foreign state made with `ip` (an independent tool, so that
//! what hostnet reads back is not only what it wrote), then hostnet's apply, rollback or
//! validation on it. Each test runs in its own namespace.
mod common;

use std::process::Command;

use common::*;
use hostnet::engine::{self, ApplyOptions};
use hostnet::expand::expand;
use hostnet::model::{parse, validate};
use hostnet::netdev::linux::LinuxDriver;

fn ip(args: &str) -> String {
    let o = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("ip");
    assert!(
        o.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn apply(yaml: &str) -> Result<engine::Report, engine::ApplyError> {
    let d = parse(yaml).expect("parses");
    validate(&d).expect("valid");
    let i = expand(&d).expect("expands");
    let mut drv = LinuxDriver::new().expect("netlink");
    engine::apply(&mut drv, &i, ApplyOptions::default(), |p, _| {
        print!("plan:\n{p}");
        Ok(())
    })
}

fn invalid(yaml: &str) -> String {
    let d = parse(yaml).expect("parses");
    validate(&d).expect_err("must be rejected").to_string()
}

fn report(r: &Result<engine::Report, engine::ApplyError>) {
    match r {
        Ok(_) => println!("=> applied"),
        Err(e) => println!("=> {e} (exit {}): {:#?}", e.exit_code(), e.details()),
    }
}

#[test]
fn rules_with_selectors_hostnet_does_not_model_are_never_touched() {
    if !enter_private_netns(module_path!()) {
        return;
    }
    run_ops(&[veth("up0", "up0p")]);
    ip("rule add priority 100 not from 10.0.0.0/8 lookup 100");
    ip("rule add priority 101 lookup main suppress_prefixlength 0");
    let before = ip("-4 rule show");
    println!("before:\n{before}");
    // Delete both by wildcard; a later op fails (gateway not reachable) -> rollback.
    let r = apply(
        "
route-rules:
  config:
    - {priority: 100, family: ipv4, state: absent}
    - {priority: 101, family: ipv4, state: absent}
routes:
  config:
    - {destination: 10.9.0.0/16, next-hop-address: 203.0.113.1, next-hop-interface: up0}
",
    );
    report(&r);
    let after = ip("-4 rule show");
    println!("after:\n{after}");
    assert_eq!(before, after, "rollback said restored but the rules differ");
}

#[test]
fn someone_elses_ipv6_default_route_is_a_plan_error() {
    if !enter_private_netns(module_path!()) {
        return;
    }
    run_ops(&[veth("up-red", "up-red-p"), veth("up0", "up0p")]);
    ip("-6 addr add 2001:db8:9::2/64 dev up0 nodad");
    ip("-6 route add default via 2001:db8:9::1 dev up0");
    let r = apply(
        "
networks:
  - name: red
    uplink: up-red
    ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}
    default-route: true
",
    );
    report(&r);
    assert!(
        matches!(r, Err(engine::ApplyError::Plan(_))),
        "expected a plan error naming the foreign default route"
    );
}

#[test]
fn ipv6_route_next_hop_can_change() {
    if !enter_private_netns(module_path!()) {
        return;
    }
    run_ops(&[veth("up0", "up0p")]);
    ip("-6 addr add 2001:db8:9::2/64 dev up0 nodad");
    let y = |gw: &str| {
        format!(
            "
routes:
  config:
    - {{destination: '2001:db8:5::/64', next-hop-address: '{gw}', next-hop-interface: up0}}
"
        )
    };
    let r = apply(&y("2001:db8:9::1"));
    report(&r);
    assert!(r.is_ok());
    let r = apply(&y("2001:db8:9::3"));
    report(&r);
    println!("{}", ip("-6 route show table main"));
    assert!(r.is_ok(), "changing the next hop of an IPv6 route fails");
}

#[test]
fn ipv6_route_metric_zero_means_the_kernel_default() {
    if !enter_private_netns(module_path!()) {
        return;
    }
    run_ops(&[veth("up0", "up0p")]);
    let r = apply(
        "
routes:
  config:
    - {destination: '2001:db8:5::/64', next-hop-interface: up0, metric: 0}
",
    );
    report(&r);
    assert!(r.is_ok(), "metric 0 passes validation but cannot converge");
}

#[test]
fn removing_a_primary_address_keeps_the_secondaries() {
    if !enter_private_netns(module_path!()) {
        return;
    }
    run_ops(&[veth("up0", "up0p")]);
    let y = |list: &str| {
        format!(
            "
interfaces:
  - {{name: up0, type: veth, ipv4: {{address: [{list}]}}}}
"
        )
    };
    let r = apply(&y(
        "{ip: 10.0.0.1, prefix-length: 24}, {ip: 10.0.0.2, prefix-length: 24}",
    ));
    report(&r);
    assert!(r.is_ok());
    println!("{}", ip("-4 addr show dev up0"));
    let r = apply(&y("{ip: 10.0.0.2, prefix-length: 24}"));
    report(&r);
    assert!(r.is_ok(), "removing the primary of two addresses fails");
}

#[test]
fn onlink_routes_and_route_metrics_are_never_touched() {
    if !enter_private_netns(module_path!()) {
        return;
    }
    run_ops(&[veth("up0", "up0p")]);
    ip("addr add 10.0.0.5/32 dev up0");
    ip("route add default via 172.31.1.1 dev up0 onlink");
    ip("route add 10.5.0.0/16 via 172.31.1.1 dev up0 onlink mtu 1400");
    let before = ip("-4 route show table main");
    println!("before:\n{before}");
    let r = apply(
        "
routes:
  config:
    - {next-hop-interface: up0, state: absent}
    - {destination: 10.9.0.0/16, next-hop-address: 203.0.113.1, next-hop-interface: up0}
",
    );
    report(&r);
    let after = ip("-4 route show table main");
    println!("after:\n{after}");
    assert_eq!(before, after);
}

#[test]
fn link_local_addresses_are_rejected_up_front() {
    if !enter_private_netns(module_path!()) {
        return;
    }
    run_ops(&[veth("up0", "up0p")]);
    let errs = invalid(
        "
interfaces:
  - {name: up0, type: veth, ipv6: {address: [{ip: 'fe80::10', prefix-length: 64}]}}
",
    );
    assert!(
        errs.contains("interfaces[0].ipv6.address[0].ip: fe80::10 is link-local"),
        "{errs}"
    );
}

#[test]
fn fwmark_zero_with_a_mask_converges() {
    if !enter_private_netns(module_path!()) {
        return;
    }
    let r = apply(
        "
route-rules:
  config:
    - {family: ipv4, fwmark: 0, fwmask: 0xff, priority: 500, route-table: 100}
",
    );
    report(&r);
    assert!(r.is_ok());
}

#[test]
fn unspecified_gateway_without_interface_is_rejected_up_front() {
    if !enter_private_netns(module_path!()) {
        return;
    }
    let errs = invalid(
        "
routes:
  config:
    - {destination: 10.9.0.0/16, next-hop-address: 0.0.0.0}
",
    );
    assert!(
        errs.contains("routes.config[0]: a route needs next-hop-address"),
        "{errs}"
    );
}
