//! The reach's guarantee over the fuzzer's generator (no kernel): along random walks of
//! files applied to the model driver, each file, whole and cut down to each of its
//! networks and to its interfaces (partial files), plans the same on the host narrowed to
//! its reach as on the whole host (ops, errors and notes).

#[path = "fuzz/mod.rs"]
mod fuzz;

use fuzz::gen::{self, Effective, Switches, WalkConsts};
use hostnet::engine::{self, ApplyOptions};
use hostnet::model::Desired;
use hostnet::netdev::model::ModelDriver;
use hostnet::netdev::Driver;
use hostnet::plan::{plan, scope::reach};

/// The file and its parts.
fn parts(d: &Desired) -> Vec<Desired> {
    let mut out = vec![d.clone()];
    for i in 0..d.networks.len() {
        let mut p = d.clone();
        p.interfaces.clear();
        p.routes = None;
        p.route_rules = None;
        p.networks = vec![d.networks[i].clone()];
        out.push(p);
    }
    let mut p = d.clone();
    p.networks.clear();
    out.push(p);
    out
}

#[test]
fn plans_on_the_narrowed_host_match_along_generated_walks() {
    let sw = Switches {
        bugs: Default::default(),
        dhcp: true,
    };
    let (mut compared, mut scoped) = (0usize, 0usize);
    for seed in 0..24 {
        let mut rng = fuzz::rng::Rng::new(seed);
        let wc = WalkConsts::draw(&mut rng);
        let mut eff = Effective::default();
        let mut m = ModelDriver::fresh_namespace();
        for step in 0..12 {
            let doc = gen::next(&mut rng, &eff, &sw, &wc);
            let yaml = doc.to_yaml();
            let d = hostnet::model::parse(&yaml).expect("parses");
            let full = m.query().expect("query");
            for p in parts(&d) {
                if hostnet::model::validate(&p).is_err() {
                    continue;
                }
                let Ok(intent) = hostnet::expand::expand(&p) else {
                    continue;
                };
                let r = reach(&intent);
                let narrowed = r
                    .as_ref()
                    .map_or_else(|| full.clone(), |r| full.narrowed(r));
                assert_eq!(
                    plan(&narrowed, &intent),
                    plan(&full, &intent),
                    "seed {seed} step {step}: reach {r:?}\n{yaml}"
                );
                compared += 1;
                scoped += usize::from(r.is_some());
            }
            if let Ok(intent) = hostnet::expand::expand(&d) {
                let _ = engine::apply(&mut m, &intent, ApplyOptions::default(), |_, _| Ok(()));
            }
            eff = eff.after(&doc);
        }
    }
    eprintln!("{compared} files compared, {scoped} of them with a bounded reach");
    assert!(
        scoped * 4 > compared,
        "{scoped} of {compared} bounded: too few"
    );
}
