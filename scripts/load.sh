#!/usr/bin/env bash
# Saturation load on loopback: our server (release build) serving the null
# component, and with --compare the reference server (motionmcp-sdk from
# PyPI in target/reference-venv) on the same request, side by side.
#
#   scripts/load.sh [--compare] [--seconds 60] [--connections 32] [--frames 300]
set -euo pipefail
cd "$(dirname "$0")/.."

compare=0
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --compare) compare=1 ;;
        *) args+=("$1") ;;
    esac
    shift
done

./scripts/build-components.sh >/dev/null
cargo build --release -p motionmcp-host
cargo bench -p motionmcp-host --bench load --no-run

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.2
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# Ours opens its port before the models are loaded: wait for /readyz.
wait_ready() {
    for _ in $(seq 1 300); do
        status=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" &&
            printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && timeout 5 head -n1 <&3) 2>/dev/null || true)
        case "$status" in *" 200 "*) return 0 ;; esac
        sleep 0.2
    done
    echo "the server on port $1 did not become ready" >&2
    return 1
}

OURS=18081
./target/release/motionmcp-host serve target/components/null.wasm --addr 127.0.0.1:$OURS \
    --cache-dir target/load-cache >/dev/null 2>target/load-ours.log &
pids+=($!)
targets=("ours=http://127.0.0.1:$OURS@$!")
wait_ready $OURS

if [ "$compare" = 1 ]; then
    venv=target/reference-venv
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import fastapi, uvicorn' 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            'motionmcp-sdk[server]==0.13.0' 'motionmcp-client-sdk==0.1.0' 'numpy<2'
    fi
    REF=18082
    "$venv/bin/python" -m motionmcp.null_backbone --host 127.0.0.1 --port $REF \
        >/dev/null 2>target/load-reference.log &
    pids+=($!)
    targets+=("reference=http://127.0.0.1:$REF@$!")
    wait_port $REF
fi

cargo bench -p motionmcp-host --bench load -- "${args[@]}" "${targets[@]}"
