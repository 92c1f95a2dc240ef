#!/usr/bin/env bash
# Builds every backbone component into target/components/<name>.wasm, where
# <name> is the component's directory name:
#   Rust        components/*/Cargo.toml, tests/components/*/Cargo.toml
#               (cargo, wasm32-wasip2)
#   Python      components/*/app.py, tests/components/*/app.py
#   JavaScript  components/*/backbone.js, tests/components/*/backbone.js
#               (both through scripts/componentize.sh, which installs the
#               pinned componentize-py / componentize-js into .tools/)
# Safe to run again: each component is rebuilt only when its sources, its
# SDK, the WIT or the pinned tool changed.
set -euo pipefail
# Compiled bytecode next to the sources would only make them look changed.
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/.."
mkdir -p target/components

# ---- Rust ------------------------------------------------------------------
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
args=()
for p in "${packages[@]}"; do args+=(-p "$p"); done
CARGO_TARGET_DIR=target/wasm cargo build --release --target wasm32-wasip2 "${args[@]}"
for p in "${packages[@]}"; do
    cp "target/wasm/wasm32-wasip2/release/${p//-/_}.wasm" "target/components/$p.wasm"
    echo "target/components/$p.wasm"
done

# True when $1 is missing or older than any file under the other arguments.
stale() {
    local out=$1
    shift
    [ -f "$out" ] || return 0
    [ -n "$(find "$@" -type f -newer "$out" -not -path "*/__pycache__/*" -print -quit)" ]
}

# ---- Python and JavaScript ---------------------------------------------------
for source in components/*/app.py tests/components/*/app.py \
              components/*/backbone.js tests/components/*/backbone.js; do
    [ -f "$source" ] || continue
    dir=$(dirname "$source")
    out="target/components/$(basename "$dir").wasm"
    case "$source" in
        *.py) deps=(guest-sdk/python scripts/tools/requirements.txt scripts/componentize.sh) ;;
        *.js) deps=(guest-sdk/js scripts/tools/package-lock.json scripts/componentize.sh scripts/js-world.mjs) ;;
    esac
    if stale "$out" "$dir" wit "${deps[@]}"; then
        scripts/componentize.sh "$dir" "$out"
    fi
    echo "$out"
done
