#!/usr/bin/env bash
# Builds every backbone component into target/components/<name>.wasm, where
# <name> is the component's directory name:
#   Rust        components/*/Cargo.toml, tests/components/*/Cargo.toml
#               (cargo, wasm32-wasip2)
#   Python      components/*/app.py, tests/components/*/app.py
#               (componentize-py, installed into .tools/python on first use)
#   JavaScript  components/*/backbone.js, tests/components/*/backbone.js
#               (componentize-js, installed into .tools/node on first use)
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

# ---- Python ----------------------------------------------------------------
python_tools() {
    local venv=.tools/python
    if ! cmp -s scripts/tools/requirements.txt "$venv/.installed" 2>/dev/null; then
        echo "installing componentize-py into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/tools/requirements.txt
        cp scripts/tools/requirements.txt "$venv/.installed"
    fi
}

for app in components/*/app.py tests/components/*/app.py; do
    [ -f "$app" ] || continue
    dir=$(dirname "$app")
    out="target/components/$(basename "$dir").wasm"
    if stale "$out" "$dir" guest-sdk/python wit scripts/tools/requirements.txt; then
        python_tools
        # `app` is the module componentize-py wraps; the SDK comes from its own path.
        .tools/python/bin/componentize-py -d wit -w backbone-world componentize \
            -p guest-sdk/python -p "$dir" app -o "$out.tmp" >/dev/null
        mv "$out.tmp" "$out"
    fi
    echo "$out"
done

# ---- JavaScript --------------------------------------------------------------
node_tools() {
    local dir=.tools/node
    if ! cmp -s scripts/tools/package-lock.json "$dir/.installed" 2>/dev/null; then
        echo "installing componentize-js into $dir" >&2
        mkdir -p "$dir"
        cp scripts/tools/package.json scripts/tools/package-lock.json "$dir/"
        (cd "$dir" && npm ci --silent --no-audit --no-fund)
        cp scripts/tools/package-lock.json "$dir/.installed"
    fi
}

for entry in components/*/backbone.js tests/components/*/backbone.js; do
    [ -f "$entry" ] || continue
    dir=$(dirname "$entry")
    out="target/components/$(basename "$dir").wasm"
    if stale "$out" "$dir" guest-sdk/js wit scripts/tools/package-lock.json; then
        node_tools
        # Run from the repository root: componentize-js maps the working
        # directory into the build, so relative imports of guest-sdk/js resolve.
        # Only our interfaces are imported: no stdio, random, clocks or http.
        .tools/node/node_modules/.bin/componentize-js "$entry" --wit wit -n backbone-world \
            -d stdio random clocks http fetch-event -o "$out.tmp" >/dev/null
        mv "$out.tmp" "$out"
    fi
    echo "$out"
done
