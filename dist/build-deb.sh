#!/bin/sh
# Builds the Debian package (target/debian/hostnet_VERSION-1_ARCH.deb): the binary, then
# its shell completions and man pages generated from it, then `cargo deb` packs them with
# the units and files the [package.metadata.deb] section of Cargo.toml lists.
# Needs cargo-deb (cargo install cargo-deb). Extra arguments go to cargo deb.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --locked
bin=${CARGO_TARGET_DIR:-target}/release/hostnet
out=target/dist
rm -rf "$out"
mkdir -p "$out/completions" "$out/man"
"$bin" completions bash > "$out/completions/hostnet.bash"
"$bin" completions zsh > "$out/completions/_hostnet"
"$bin" completions fish > "$out/completions/hostnet.fish"
"$bin" man --out-dir "$out/man"
cargo deb --no-build --locked "$@"
