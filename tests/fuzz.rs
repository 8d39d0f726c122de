//! The kernel-differential state-transition fuzzer: see `tests/fuzz/mod.rs` for what a
//! step checks and the environment variables of the long (soak) mode.

#[path = "fuzz/mod.rs"]
mod fuzz;

/// A bounded run: a few hundred transitions in walks of 20, from a fixed seed.
#[test]
fn state_transitions_match_the_model_and_converge() {
    if !fuzz::may_run("state_transitions_match_the_model_and_converge") {
        return;
    }
    fuzz::run("state_transitions_match_the_model_and_converge");
}

/// The generator makes files hostnet accepts, with no kernel needed: `validate` and
/// `expand` of a few thousand of them.
#[test]
fn generated_files_are_valid() {
    use fuzz::gen::{self, Bug, Effective, Switches, WalkConsts};
    let all = Switches {
        bugs: Bug::ALL.into_iter().collect(),
        dhcp: true,
    };
    let none = Switches {
        bugs: Default::default(),
        dhcp: true,
    };
    for sw in [all, none] {
        for seed in 0..40 {
            if let Err(e) = gen::admissible(&fuzz::walk::draw(seed, 20, &sw), &sw) {
                panic!(
                    "seed {seed}: the generator broke its own rules ({}): {e}",
                    sw.describe()
                );
            }
            let mut rng = fuzz::rng::Rng::new(seed);
            let wc = WalkConsts::draw(&mut rng);
            let mut eff = Effective::default();
            for _ in 0..20 {
                let doc = gen::next(&mut rng, &eff, &sw, &wc);
                let yaml = doc.to_yaml();
                let d = hostnet::model::parse(&yaml)
                    .unwrap_or_else(|e| panic!("seed {seed}: does not parse: {e}\n{yaml}"));
                if let Err(e) = hostnet::model::validate(&d) {
                    panic!("seed {seed}: invalid: {e}\n{yaml}");
                }
                hostnet::expand::expand(&d)
                    .unwrap_or_else(|e| panic!("seed {seed}: does not expand: {e}\n{yaml}"));
                eff = eff.after(&doc);
            }
        }
    }
}
