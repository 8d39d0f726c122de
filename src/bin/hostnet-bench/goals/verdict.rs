//! Issue 18's three goals, judged from the figures of one run: pure (no I/O), so that the
//! met/not-met logic is tested on its own.
//!
//! Each goal is stated for particular N (1,000 and 4,000 networks). A run at other N (a
//! trial run, `--n 100,400`) is judged the same way at the N it has, and says so: its
//! verdict does not claim the goal.

use crate::report::stats;

/// Forwarded rate with the networks' rules over the rate without rules: at least this.
pub const FORWARDING_MIN_RATIO: f64 = 0.9;
/// Apply time per network at the larger N over that at the smaller N: at most this.
pub const APPLY_MAX_RATIO: f64 = 1.2;
/// A one-network firewall change: strictly under this, in milliseconds.
pub const FIREWALL_MAX_MS: f64 = 25.0;

/// The N each goal names.
pub const FORWARDING_N: usize = 1000;
pub const APPLY_N: (usize, usize) = (1000, 4000);
pub const FIREWALL_N: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    /// No figure (a part left out, or too few N to form a ratio).
    NotMeasured,
}

impl Verdict {
    fn of(value: f64, ok: impl Fn(f64) -> bool) -> Verdict {
        if !value.is_finite() {
            Verdict::NotMeasured
        } else if ok(value) {
            Verdict::Met
        } else {
            Verdict::NotMet
        }
    }
}

/// One goal, its measured figure and the verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    /// A short key for the JSON (`forwarding`, `apply-per-network`, `firewall-change`).
    pub key: &'static str,
    /// The goal as the issue states it.
    pub statement: &'static str,
    /// The figure judged: a ratio or milliseconds.
    pub value: f64,
    /// Its spread over the repetitions (min, max), where there is one.
    pub spread: Option<(f64, f64)>,
    /// The N the figure was measured at.
    pub measured_at: String,
    /// Whether those are the N the goal names.
    pub at_goal_n: bool,
    pub verdict: Verdict,
}

impl Goal {
    /// "met", "not met", "not measured"; at other N than the goal's, said so.
    pub fn verdict_text(&self) -> String {
        let v = match self.verdict {
            Verdict::Met => "met",
            Verdict::NotMet => "not met",
            Verdict::NotMeasured => return "not measured".into(),
        };
        if self.at_goal_n {
            v.into()
        } else {
            format!(
                "{v} at {} (not the goal's N: a trial run)",
                self.measured_at
            )
        }
    }
}

fn spread(v: &[f64]) -> Option<(f64, f64)> {
    let (_, lo, hi) = stats(v);
    (lo.is_finite() && hi.is_finite()).then_some((lo, hi))
}

/// The forwarding goal: `ratios` are, per repetition, the forwarded rate with hostnet's
/// rules for `n` networks over the rate on the same host without rules; the median is
/// judged.
pub fn forwarding(n: usize, ratios: &[f64]) -> Goal {
    let value = stats(ratios).0;
    Goal {
        key: "forwarding",
        statement: "forwarding rate with 1,000 networks ≥ 0.9× the rate with none",
        value,
        spread: spread(ratios),
        measured_at: format!("N={n}"),
        at_goal_n: n == FORWARDING_N,
        verdict: Verdict::of(value, |r| r >= FORWARDING_MIN_RATIO),
    }
}

/// Time per network at `hi.0` networks over time per network at `lo.0` networks, from
/// the medians of the samples (seconds).
pub fn per_network_ratio(lo: (usize, &[f64]), hi: (usize, &[f64])) -> f64 {
    if lo.0 == 0 || hi.0 == 0 {
        return f64::NAN;
    }
    let (a, b) = (stats(lo.1).0, stats(hi.1).0);
    (b / hi.0 as f64) / (a / lo.0 as f64)
}

/// The apply goal: wall times (seconds) of hostnet's apply from scratch at the smaller
/// and the larger N.
pub fn apply_per_network(lo: (usize, &[f64]), hi: (usize, &[f64])) -> Goal {
    let value = if lo.0 < hi.0 {
        per_network_ratio(lo, hi)
    } else {
        f64::NAN
    };
    Goal {
        key: "apply-per-network",
        statement: "apply time per network at 4,000 networks within 1.2× of that at 1,000",
        value,
        spread: None,
        measured_at: format!("N={} vs N={}", hi.0, lo.0),
        at_goal_n: (lo.0, hi.0) == APPLY_N,
        verdict: Verdict::of(value, |r| r <= APPLY_MAX_RATIO),
    }
}

/// The firewall goal: wall times (milliseconds) of a one-network change among `n`; the
/// median is judged, and must be under the limit.
pub fn firewall_change(n: usize, walls_ms: &[f64]) -> Goal {
    let value = stats(walls_ms).0;
    Goal {
        key: "firewall-change",
        statement: "a one-network firewall change among 1,000 under 25 ms",
        value,
        spread: spread(walls_ms),
        measured_at: format!("N={n}"),
        at_goal_n: n == FIREWALL_N,
        verdict: Verdict::of(value, |ms| ms < FIREWALL_MAX_MS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_is_met_from_the_median_at_the_limit_and_above() {
        let g = forwarding(1000, &[0.85, 0.9, 0.95]);
        assert_eq!((g.value, g.verdict), (0.9, Verdict::Met));
        assert_eq!(g.spread, Some((0.85, 0.95)));
        assert_eq!(g.verdict_text(), "met");
        let g = forwarding(1000, &[0.5, 0.89, 1.2]);
        assert_eq!(g.verdict, Verdict::NotMet);
        assert_eq!(g.verdict_text(), "not met");
    }

    #[test]
    fn apply_ratio_is_per_network_and_met_up_to_the_limit() {
        // 1.5 s for 1,000 networks, 7.2 s for 4,000: 1.5 ms vs 1.8 ms per network.
        let r = per_network_ratio((1000, &[1.4, 1.5, 1.6]), (4000, &[7.2]));
        assert!((r - 1.2).abs() < 1e-9, "{r}");
        let g = apply_per_network((1000, &[1.5]), (4000, &[7.2]));
        assert_eq!(g.verdict, Verdict::Met);
        assert!(g.at_goal_n);
        let g = apply_per_network((1000, &[1.49]), (4000, &[7.99]));
        assert_eq!(g.verdict, Verdict::NotMet);
    }

    #[test]
    fn firewall_change_must_be_strictly_under_the_limit() {
        assert_eq!(
            firewall_change(1000, &[20.0, 24.9, 90.0]).verdict,
            Verdict::Met
        );
        assert_eq!(firewall_change(1000, &[25.0]).verdict, Verdict::NotMet);
        assert_eq!(
            firewall_change(1000, &[83.8, 80.0, 90.0]).verdict,
            Verdict::NotMet
        );
    }

    #[test]
    fn a_missing_figure_is_not_measured_never_met() {
        assert_eq!(forwarding(1000, &[]).verdict, Verdict::NotMeasured);
        assert_eq!(firewall_change(1000, &[]).verdict, Verdict::NotMeasured);
        // One N only: no ratio.
        let g = apply_per_network((1000, &[1.5]), (1000, &[1.5]));
        assert_eq!(g.verdict, Verdict::NotMeasured);
        assert_eq!(g.verdict_text(), "not measured");
        assert_eq!(
            apply_per_network((0, &[1.0]), (10, &[1.0])).verdict,
            Verdict::NotMeasured
        );
    }

    #[test]
    fn a_trial_at_other_n_says_so() {
        let g = forwarding(200, &[1.0]);
        assert!(!g.at_goal_n);
        assert_eq!(
            g.verdict_text(),
            "met at N=200 (not the goal's N: a trial run)"
        );
        let g = apply_per_network((100, &[0.2]), (400, &[2.0]));
        assert!(!g.at_goal_n);
        assert!(g.verdict_text().starts_with("not met at N=400 vs N=100"));
        assert!(!firewall_change(50, &[10.0]).at_goal_n);
    }
}
