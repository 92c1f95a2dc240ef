#!/usr/bin/env bash
# Builds one Python or JavaScript backbone into a component:
#   scripts/componentize.sh DIR OUT.wasm
# DIR holds `app.py` (Python: componentize-py, with guest-sdk/python on the
# path) or `backbone.js` (JavaScript: componentize-js; DIR must be inside this
# repository, whose root componentize-js maps into the build so that
# `../../guest-sdk/js/src/index.js` resolves). The pinned tools are installed
# into .tools/ on first use.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
[ $# -eq 2 ] || { echo "usage: $0 DIR OUT.wasm" >&2; exit 2; }
out=$(realpath -m "$2")
dir=$(realpath "$1")
cd "$(dirname "$0")/.."
root=$(pwd)
dir=${dir#"$root"/}

python_tools() {
    local venv=.tools/python
    if ! cmp -s scripts/tools/requirements.txt "$venv/.installed" 2>/dev/null; then
        echo "installing componentize-py into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/tools/requirements.txt
        cp scripts/tools/requirements.txt "$venv/.installed"
    fi
}

node_tools() {
    local tools=.tools/node
    if ! cmp -s scripts/tools/package-lock.json "$tools/.installed" 2>/dev/null; then
        echo "installing componentize-js into $tools" >&2
        mkdir -p "$tools"
        cp scripts/tools/package.json scripts/tools/package-lock.json "$tools/"
        (cd "$tools" && npm ci --silent --no-audit --no-fund)
        cp scripts/tools/package-lock.json "$tools/.installed"
    fi
}

mkdir -p "$(dirname "$out")"
if [ -f "$dir/app.py" ]; then
    python_tools
    # `app` is the module componentize-py wraps; the SDK comes from its own path.
    .tools/python/bin/componentize-py -d wit -w batch-backbone-world componentize \
        -p guest-sdk/python -p "$dir" app -o "$out.tmp" >/dev/null
elif [ -f "$dir/backbone.js" ]; then
    node_tools
    # A module names its exports itself: one that exports `batch` (the SDK's
    # `exportBatch`), as a declaration or in a one-line export list, gets the
    # world with the batch hook; others keep the plain world, so existing
    # backbones build unchanged. componentize-js ignores an export the world
    # lacks, hence the look at the source.
    world=backbone-world
    if grep -Eq '^\s*export\s+(const|let|var|function)\s+batch\b|^\s*export\s*\{[^}]*\bbatch\b' "$dir/backbone.js"; then
        world=batch-backbone-world
    fi
    # Only our interfaces are imported: no stdio, random, clocks or http.
    .tools/node/node_modules/.bin/componentize-js "$dir/backbone.js" --wit wit -n "$world" \
        -d stdio random clocks http fetch-event -o "$out.tmp" >/dev/null
else
    echo "$dir has neither app.py nor backbone.js" >&2
    exit 2
fi
mv "$out.tmp" "$out"
