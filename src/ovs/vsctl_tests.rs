//! Tests of the ovs-vsctl arguments and of decoding its answers.

use super::*;
use crate::ovs::{GlobalColumn, RowTable};

mod transaction {
    use super::*;

    #[test]
    fn one_transaction_with_quoted_values() {
        let mut ids = BTreeMap::new();
        ids.insert("attached-mac".to_string(), "fa:16:3e:00:00:01".to_string());
        let args = transaction_args(&[
            OvsOp::AddBridge {
                name: "br-int".into(),
                datapath: Some("netdev".into()),
                options: OvsBridgeOptions::default(),
            },
            OvsOp::AddPort {
                bridge: "br-int".into(),
                port: "tap0".into(),
                settings: OvsPort {
                    tag: Some(100),
                    internal: false,
                    external_ids: ids,
                    managed: true,
                    ..OvsPort::default()
                },
            },
            OvsOp::SetPort {
                port: "eth2".into(),
                settings: OvsPort {
                    tag: Some(20),
                    vlan_mode: Some("native-untagged".into()),
                    trunks: [21, 30, 31].into(),
                    ..OvsPort::default()
                },
            },
            OvsOp::SetBridge {
                name: "br-int".into(),
                options: OvsBridgeOptions {
                    mcast_snooping: true,
                    fail_mode: Some("secure".into()),
                    stp_priority: Some(28672),
                    external_ids: [("owner".to_string(), "x y".to_string())].into(),
                    ..OvsBridgeOptions::default()
                },
            },
            // An existing row's maps change key by key, not with the SetBridge above.
            OvsOp::SetRowKey {
                table: RowTable::Port,
                name: "bond0".into(),
                column: GlobalColumn::OtherConfig,
                key: "bond-detect-mode".into(),
                value: Some("miimon".into()),
            },
            OvsOp::SetRowKey {
                table: RowTable::Interface,
                name: "eth2".into(),
                column: GlobalColumn::ExternalIds,
                key: "iface-id".into(),
                value: None,
            },
            OvsOp::DelPort {
                bridge: "br-int".into(),
                port: "old".into(),
            },
        ]);
        assert_eq!(
            args.join(" "),
            "-- add-br br-int -- set Bridge br-int datapath_type=\"netdev\" \
             -- add-port br-int tap0 -- set Port tap0 tag=100 \
             -- set Interface tap0 external_ids:\"attached-mac\"=\"fa:16:3e:00:00:01\" \
             -- set Port tap0 external_ids:hostnet-created=\"true\" \
             -- set Port eth2 tag=20 vlan_mode=\"native-untagged\" trunks=[21,30,31] \
             -- remove Port eth2 external_ids hostnet-created \
             -- remove Bridge br-int other_config \"stp-forward-delay\" \
             -- remove Bridge br-int other_config \"stp-hello-time\" \
             -- remove Bridge br-int other_config \"stp-max-age\" \
             -- set Bridge br-int stp_enable=false rstp_enable=false mcast_snooping_enable=true \
             fail_mode=\"secure\" other_config:stp-priority=\"28672\" \
             -- set Port bond0 other_config:\"bond-detect-mode\"=\"miimon\" \
             -- remove Interface eth2 external_ids \"iface-id\" \
             -- --if-exists del-port br-int old"
        );
    }

    #[test]
    fn list_output_is_decoded() {
        let out = r#"{"data":[[["uuid","u1"],"p1",100],[["uuid","u2"],"p2",["set",[]]]],"headings":["_uuid","name","tag"]}"#;
        let r = rows(out).expect("rows");
        assert_eq!(r.len(), 2);
        assert_eq!(uuid_of(&r[0]["_uuid"]).as_deref(), Some("u1"));
        assert_eq!(set_items(&r[0]["tag"])[0].as_u64(), Some(100));
        assert!(set_items(&r[1]["tag"]).is_empty());
        let m = serde_json::json!(["map", [["iface-id", "x"]]]);
        assert_eq!(map_items(&m)["iface-id"], "x");
    }
}

mod decode {
    use super::*;

    fn table(json: &str) -> Vec<Row> {
        rows(json).expect("rows")
    }

    #[test]
    fn what_hostnet_does_not_model_is_noted() {
        let bridges = table(
            r#"{"headings":["name","ports","datapath_type","controller","fail_mode","stp_enable","rstp_enable","mcast_snooping_enable","other_config"],"data":[
              ["br-int",["set",[["uuid","p1"],["uuid","p2"],["uuid","p3"],["uuid","p4"]]],"",["set",[["uuid","c1"]]],"secure",true,false,true,["map",[["stp-priority","28672"],["stp-max-age","x"]]]]]}"#,
        );
        let ports = table(
            r#"{"headings":["_uuid","name","tag","vlan_mode","trunks","interfaces","external_ids"],"data":[
              [["uuid","p1"],"patch-tun",["set",[]],["set",[]],["set",[]],["uuid","i1"],["map",[]]],
              [["uuid","p2"],"bond0",["set",[]],["set",[]],["set",[]],["set",[["uuid","i2"],["uuid","i3"]]],["map",[]]],
              [["uuid","p3"],"tap0",7,["set",[]],["set",[]],["uuid","i4"],["map",[["hostnet-created","true"]]]],
              [["uuid","p4"],"tap1",20,"native-untagged",["set",[21,30,31]],["uuid","i5"],["map",[]]]]}"#,
        );
        let ifaces = table(
            r#"{"headings":["_uuid","name","type","external_ids"],"data":[
              [["uuid","i1"],"patch-tun","patch",["map",[]]],
              [["uuid","i2"],"eth1","",["map",[]]],
              [["uuid","i3"],"eth2","",["map",[["owner","other"]]]],
              [["uuid","i4"],"tap0","",["map",[["iface-id","x"]]]],
              [["uuid","i5"],"tap1","",["map",[]]]]}"#,
        );
        let s = decode(&bridges, &ports, &ifaces);
        let b = &s.bridges["br-int"];
        assert_eq!(
            b.unmodelled.as_deref(),
            Some("a controller, other_config:stp-max-age=x")
        );
        let o = &b.options;
        assert!(o.stp && !o.rstp && o.mcast_snooping);
        assert_eq!(
            (o.fail_mode.as_deref(), o.stp_priority, o.stp_max_age),
            (Some("secure"), Some(28672), None)
        );
        let trunk = &b.ports["tap1"];
        assert!(trunk.unmodelled.is_none());
        assert_eq!(
            (trunk.vlan_mode.as_deref(), trunk.tag),
            (Some("native-untagged"), Some(20))
        );
        assert_eq!(trunk.trunks, [21, 30, 31].into());
        assert_eq!(
            b.ports["patch-tun"].unmodelled.as_deref(),
            Some("interface type patch")
        );
        assert_eq!(
            b.ports["bond0"].unmodelled.as_deref(),
            Some("2 interfaces (a bond) with settings of their own")
        );
        let members = b.ports["bond0"].bond.as_ref().map(|b| b.members.clone());
        assert_eq!(
            members,
            Some(["eth1".to_string(), "eth2".to_string()].into())
        );
        let tap = &b.ports["tap0"];
        assert!(tap.managed && tap.unmodelled.is_none());
        assert_eq!(
            (tap.tag, tap.external_ids["iface-id"].as_str()),
            (Some(7), "x")
        );
    }
}

mod patch {
    use super::*;

    #[test]
    fn a_patch_port_with_its_peer_is_modelled() {
        let bridges =
            rows(r#"{"headings":["name","ports"],"data":[["br-a",["uuid","p1"]]]}"#).expect("rows");
        let ports = rows(
            r#"{"headings":["_uuid","name","interfaces"],"data":[[["uuid","p1"],"patch-a",["uuid","i1"]]]}"#,
        )
        .expect("rows");
        let ifaces = rows(
            r#"{"headings":["_uuid","name","type","options"],"data":[[["uuid","i1"],"patch-a","patch",["map",[["peer","patch-b"]]]]]}"#,
        )
        .expect("rows");
        let p = &decode(&bridges, &ports, &ifaces).bridges["br-a"].ports["patch-a"];
        assert_eq!(
            (p.patch_peer.as_deref(), p.unmodelled.as_deref()),
            (Some("patch-b"), None)
        );
        let args = transaction_args(&[OvsOp::AddPort {
            bridge: "br-a".into(),
            port: "patch-a".into(),
            settings: p.clone(),
        }]);
        assert_eq!(
            args.join(" "),
            "-- add-port br-a patch-a -- set Interface patch-a type=patch options:peer=\"patch-b\""
        );
    }
}
