//! Regression tests from the state-transition fuzzer's reproducers (`tests/fuzz.rs`):
//! each applies its files in a fresh fuzz sandbox and checks that the dry run and the
//! apply succeed and agree with the kernel, and that a second apply and `show`'s output
//! re-applied change nothing.

#[path = "fuzz/mod.rs"]
mod fuzz;
