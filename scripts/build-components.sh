#!/usr/bin/env bash
# Builds every backbone component (components/* and the test components in
# tests/components/*) for wasm32-wasip2 into target/components/<name>.wasm.
# Safe to run again: cargo rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "installing the wasm32-wasip2 target" >&2
    rustup target add wasm32-wasip2
fi

packages=()
for manifest in components/*/Cargo.toml tests/components/*/Cargo.toml; do
    [ -f "$manifest" ] || continue
    packages+=("$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$manifest" | head -n1)")
done

# A target directory of their own: building components never waits on (or
# invalidates) the host's build.
export CARGO_TARGET_DIR=target/wasm
args=()
for p in "${packages[@]}"; do args+=(-p "$p"); done
cargo build --release --target wasm32-wasip2 "${args[@]}"

mkdir -p target/components
for p in "${packages[@]}"; do
    cp "target/wasm/wasm32-wasip2/release/${p//-/_}.wasm" "target/components/$p.wasm"
    echo "target/components/$p.wasm"
done
