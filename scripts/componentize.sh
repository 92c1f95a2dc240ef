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
    # A backbone whose modules (any .py under DIR) import the SDK's Tensor
    # gets the GPU world, sdk-backbone-world (tensor and weights imported,
    # plus the batch hook); others keep batch-backbone-world, importing
    # nothing GPU. The SDK imports the tensor bindings only where they exist.
    # The imports are read from the syntax tree: parenthesised multi-line
    # import lists count, comments and strings do not.
    world=batch-backbone-world
    if .tools/python/bin/python3 - "$dir" <<'EOF'
import ast, pathlib, sys

def uses(tree):
    sdk = set()  # names bound to the motionmcp_guest package itself
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "motionmcp_guest.tensor" or (
                node.module == "motionmcp_guest"
                and any(a.name in ("Tensor", "tensor") for a in node.names)):
                return True
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "motionmcp_guest.tensor":
                    return True
                if a.name == "motionmcp_guest":
                    sdk.add(a.asname or a.name)
    # `import motionmcp_guest as g` ... `g.Tensor` / `g.tensor`
    return any(isinstance(n, ast.Attribute) and n.attr in ("Tensor", "tensor")
               and isinstance(n.value, ast.Name) and n.value.id in sdk
               for n in ast.walk(tree))

root = pathlib.Path(sys.argv[1])
sys.exit(0 if any(uses(ast.parse(p.read_bytes(), str(p))) for p in root.rglob("*.py")) else 1)
EOF
    then
        world=sdk-backbone-world
    fi
    # `app` is the module componentize-py wraps; the SDK comes from its own path.
    .tools/python/bin/componentize-py -d wit -w "$world" componentize \
        -p guest-sdk/python -p "$dir" app -o "$out.tmp" >/dev/null
elif [ -f "$dir/backbone.js" ]; then
    node_tools
    # The world follows from the source (scripts/js-world.mjs): a module that
    # exports `batch` (the SDK's `exportBatch`) gets the batch hook, one whose
    # imports reach the tensor interfaces (the SDK's `gpu.js`) the GPU world;
    # others keep the plain world, importing nothing GPU. componentize-js
    # ignores an export the world lacks and binds every import it has, used
    # or not, hence the look at the source.
    world=$(node scripts/js-world.mjs "$dir/backbone.js")
    # Only our interfaces are imported: no stdio, random, clocks or http.
    .tools/node/node_modules/.bin/componentize-js "$dir/backbone.js" --wit wit -n "$world" \
        -d stdio random clocks http fetch-event -o "$out.tmp" >/dev/null
else
    echo "$dir has neither app.py nor backbone.js" >&2
    exit 2
fi
mv "$out.tmp" "$out"
