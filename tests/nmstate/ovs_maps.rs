//! A rollback takes back the keys of a Bridge, bond Port or Interface row's maps that
//! hostnet changed, each to its old value or removed, and keeps the keys another tool set
//! in the same maps after the apply began: the maps change key by key (`SetRowKey`).

use super::*;
use hostnet::netdev::{DriverError, Op};

/// The rows as hostnet leaves them before the test: a bridge, an internal interface on it
/// and a bond, each with maps of its own.
const BEFORE: &str = "\
interfaces:
  - name: ovs-br-mw
    type: ovs-bridge
    state: up
    ovs-db:
      external_ids: {owner: rack-a, purpose: guests}
      other_config: {mac-table-size: 4096}
    bridge:
      options: {datapath: netdev}
      port:
        - name: ovsmw0
        - name: bond-mw
          link-aggregation:
            mode: active-backup
            ovs-db:
              external_ids: {owner: rack-a}
            port: [{name: eth1}, {name: eth2}]
  - name: ovsmw0
    type: ovs-interface
    state: up
    ovs-db:
      external_ids: {vm-slot: 1, spare: x}
";

/// The same rows changed in every map: keys changed, added and removed.
fn changed() -> String {
    BEFORE
        .replace(
            "{owner: rack-a, purpose: guests}",
            "{owner: rack-b, new: y}",
        )
        .replace("{mac-table-size: 4096}", "{mac-table-size: 8192}")
        .replace(
            "external_ids: {owner: rack-a}\n",
            "external_ids: {owner: rack-b}\n",
        )
        .replace("{vm-slot: 1, spare: x}", "{vm-slot: 2}")
}

/// What another tool sets in the same maps.
const THEIRS: [&str; 7] = [
    "set",
    "Bridge",
    "ovs-br-mw",
    "external_ids:theirs=b",
    "other_config:theirs=c",
    "--",
    "set",
];

fn other_tool(ovs: &Ovs) {
    let mut args = THEIRS.to_vec();
    args.extend([
        "Interface",
        "ovsmw0",
        "external_ids:theirs=i",
        "--",
        "set",
        "Port",
        "bond-mw",
        "external_ids:theirs=p",
    ]);
    super::ovs_db::vsctl(ovs, &args);
}

/// The maps of the three rows, as `ovs-vsctl get` prints them.
fn maps(ovs: &Ovs) -> Vec<String> {
    [
        get(
            ovs,
            "Bridge",
            "ovs-br-mw",
            &["external_ids", "other_config"],
        ),
        get(ovs, "Interface", "ovsmw0", &["external_ids"]),
        get(ovs, "Port", "bond-mw", &["external_ids"]),
    ]
    .concat()
}

/// `maps` before the apply with the other tool's keys added.
const RESTORED_WITH_THEIRS: [&str; 4] = [
    "{owner=rack-a, purpose=guests, theirs=b}",
    "{mac-table-size=\"4096\", theirs=c}",
    "{spare=x, theirs=i, vm-slot=\"1\"}",
    "{hostnet-created=\"true\", owner=rack-a, theirs=p}",
];

/// The Linux driver with the private database; runs `midway` once, right after the
/// apply's Open vSwitch transaction.
struct MidWay<'a> {
    inner: LinuxDriver,
    midway: Option<Box<dyn FnOnce() + 'a>>,
}

impl Driver for MidWay<'_> {
    fn query(&mut self) -> Result<KernelState, DriverError> {
        self.inner.query()
    }
    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), DriverError>> {
        let r = self.inner.execute(ops);
        if ops.iter().any(|o| matches!(o, Op::Ovs(_))) {
            if let Some(f) = self.midway.take() {
                f();
            }
        }
        r
    }
    fn name(&self) -> &'static str {
        "midway"
    }
    fn consider_ovs(&mut self, involved: bool) {
        self.inner.consider_ovs(involved);
    }
    fn consider_firewall(&mut self, involved: bool) {
        self.inner.consider_firewall(involved);
    }
    fn focus_firewall(&mut self, focus: Option<hostnet::firewall::Focus>) {
        self.inner.focus_firewall(focus);
    }
}

#[test]
fn a_failed_apply_keeps_keys_another_tool_set_in_the_same_maps() {
    let test = "a_failed_apply_keeps_keys_another_tool_set_in_the_same_maps";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    fixture();
    converges_ovs(&ovs, "the rows' maps", BEFORE);
    let before = maps(&ovs);
    assert_eq!(
        before,
        [
            "{owner=rack-a, purpose=guests}",
            "{mac-table-size=\"4096\"}",
            "{spare=x, vm-slot=\"1\"}",
            "{hostnet-created=\"true\", owner=rack-a}",
        ]
    );
    // The apply changes every map; another tool adds a key to each of them right after
    // the OVS transaction; a route after it fails, and the apply rolls back.
    let yaml = super::ovs_db::failing(&changed());
    let intent =
        hostnet::expand::expand(&hostnet::model::parse(&yaml).expect("parses")).expect("expands");
    let mut d = MidWay {
        inner: LinuxDriver::new().expect("netlink").with_ovs(ovs.vsctl()),
        midway: Some(Box::new(|| other_tool(&ovs))),
    };
    let r = hostnet::engine::apply(&mut d, &intent, Default::default(), |_, _| Ok(()));
    assert!(
        matches!(r, Err(hostnet::engine::ApplyError::RolledBack { .. })),
        "{r:?}"
    );
    assert!(d.midway.is_none(), "the OVS transaction ran");
    assert_eq!(maps(&ovs), RESTORED_WITH_THEIRS);
}

#[test]
fn a_checkpoint_rollback_keeps_keys_another_tool_set_in_the_same_maps() {
    let test = "a_checkpoint_rollback_keeps_keys_another_tool_set_in_the_same_maps";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    fixture();
    converges_ovs(&ovs, "the rows' maps", BEFORE);
    let o = run(
        &ovs,
        &["apply", "--confirm-timeout", "120", "-"],
        &changed(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        maps(&ovs),
        [
            "{new=y, owner=rack-b}",
            "{mac-table-size=\"8192\"}",
            "{vm-slot=\"2\"}",
            "{hostnet-created=\"true\", owner=rack-b}",
        ]
    );
    other_tool(&ovs);
    let o = run(&ovs, &["rollback"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(maps(&ovs), RESTORED_WITH_THEIRS);
}
