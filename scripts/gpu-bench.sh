#!/usr/bin/env bash
# The GPU benchmark of issue #15, in one run that builds nothing where it
# runs. Two steps:
#
#   scripts/gpu-bench.sh --prepare
#       On the development machine: release builds of the host, the
#       gpu-bench example and the kernel tests (gpu/tests/gpu_ops.rs),
#       kimodo.wasm and the Vulkan loader (with libglvnd's dispatch library,
#       which NVIDIA's driver links), stripped into target/gpu-bench/ (the
#       bundle; about 50 MB, it travels as is).
#
#   scripts/gpu-bench.sh [--small | --full | --smoke] [--steps N]
#                        [--bundle DIR]
#                        [--gpu-bench BIN] [--host BIN] [--wasm FILE]
#                        [--python BIN] [--skip-kernel-tests]
#       Where the GPU is: runs the kernel tests on that adapter (a kernel
#       that is wrong there makes its rates meaningless), then prints the
#       adapter, the host's cost per recorded
#       op, matmul per kernel variant, attention and the memory-bound ops,
#       a Kimodo-shaped forward and generation on the tensor API, the same
#       in PyTorch eager fp32 and bf16 (when PyTorch is there), and Kimodo
#       as a component through the real server. --full is issue #15's sizes
#       (the default on a GPU), --small lavapipe's, --smoke every row once
#       at toy sizes (CI runs it, with the debug builds of `cargo test`
#       named by --gpu-bench/--host/--wasm and the tests' virtualenv's
#       Python, which has NumPy, and --skip-kernel-tests: CI runs them).
#       Each part has its own deadline, clamped so that the whole run ends
#       within 8 minutes (a part with under 20 s left is skipped).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$root/target/gpu-bench
size=
steps=
gpu_bench=
host=
wasm=
python=
prepare=
kernel_tests=1

while [ $# -gt 0 ]; do
    case $1 in
        --prepare) prepare=1 ;;
        --small | --full | --smoke) size=$1 ;;
        --steps) steps=$2; shift ;;
        --bundle) bundle=$2; shift ;;
        --gpu-bench) gpu_bench=$2; shift ;;
        --host) host=$2; shift ;;
        --wasm) wasm=$2; shift ;;
        --python) python=$2; shift ;;
        --skip-kernel-tests) kernel_tests= ;;
        -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "gpu-bench.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
    esac
    shift
done

if [ -n "$prepare" ]; then
    cd "$root"
    ./scripts/setup.sh
    ./scripts/build-components.sh
    cargo build --release -p motionmcp-host
    cargo build --release -p motionmcp-gpu --example gpu-bench
    # The test binary's path carries a hash: cargo names it.
    tests=$(cargo test --release -p motionmcp-gpu --test gpu_ops --no-run --message-format=json \
        | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "gpu_ops" and m.get("executable"):
        print(m["executable"])')
    mkdir -p "$bundle/lib"
    strip -o "$bundle/motionmcp-host" target/release/motionmcp-host
    strip -o "$bundle/gpu-bench" target/release/examples/gpu-bench
    strip -o "$bundle/gpu-ops-tests" "$tests"
    cp target/components/kimodo.wasm "$bundle/"
    # The loader, and libglvnd's dispatch library NVIDIA's ICD links (the
    # driver itself is the GPU machine's): wgpu dlopens the loader.
    for lib in libvulkan.so.1 libGLdispatch.so.0; do
        path=$(ldconfig -p | awk -v lib="$lib" '$1 == lib && /x86-64/ { print $NF; exit }')
        [ -n "$path" ] || { echo "gpu-bench.sh: no $lib here to bundle (apt-get install libvulkan1 libglvnd0)" >&2; exit 1; }
        cp -L "$path" "$bundle/lib/$lib"
    done
    du -sh "$bundle"
    echo "bundle ready: run scripts/gpu-bench.sh where the GPU is, carrying ${bundle#"$root"/}"
    exit 0
fi

gpu_bench=${gpu_bench:-$bundle/gpu-bench}
gpu_ops=$bundle/gpu-ops-tests
host=${host:-$bundle/motionmcp-host}
wasm=${wasm:-$bundle/kimodo.wasm}
[ -x "$gpu_bench" ] || { echo "gpu-bench.sh: no $gpu_bench: run with --prepare first" >&2; exit 2; }

# A machine without the Vulkan loader gets the bundle's (and libglvnd's
# dispatch library where that is missing too); NVIDIA's driver installed
# under /usr/local/nvidia (their containers), outside the loader's search
# path, is named to it.
missing=
for lib in libvulkan.so.1 libGLdispatch.so.0; do
    ldconfig -p 2>/dev/null | grep -q "$lib" || missing="$missing $lib"
done
if [ -n "$missing" ] && [ -d "$bundle/lib" ]; then
    export LD_LIBRARY_PATH=$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    echo "from the bundle ($bundle/lib):$missing"
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ] \
    && ! compgen -G '/usr/share/vulkan/icd.d/*nvidia*' >/dev/null \
    && ! compgen -G '/etc/vulkan/icd.d/*nvidia*' >/dev/null; then
    export VK_DRIVER_FILES=$nvidia_icd
fi
# Python's output reaches the log as it is printed, so a part stopped at
# its deadline still shows the tables it finished.
export PYTHONUNBUFFERED=1
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv || true
fi

# Sizes follow the adapter unless given: the bench binary decides, and the
# other parts follow what it printed.
failed=0
# The whole run's end: 8 minutes from here, less a margin for the output.
end=$((SECONDS + 460))
part() { # name, seconds, command...
    local name=$1 limit=$2
    shift 2
    echo
    echo "== $name"
    local left=$((end - SECONDS))
    if [ $left -lt 20 ]; then
        echo "!! $name: skipped, the run's 8 minutes are spent"
        failed=1
        return
    fi
    [ $limit -le $left ] || limit=$left
    local started=$SECONDS rc=0
    timeout --kill-after=10 "$limit" "$@" || rc=$?
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "!! $name: past its ${limit} s deadline"
        failed=1
    elif [ $rc -eq 3 ]; then
        : # skipped, and it said why
    elif [ $rc -ne 0 ]; then
        echo "!! $name failed (exit $rc)"
        failed=1
    fi
    echo "-- $name: $((SECONDS - started)) s"
}

if [ -n "$kernel_tests" ] && [ -x "$gpu_ops" ]; then
    part "kernel tests on this adapter (gpu_ops)" 120 "$gpu_ops" --test-threads 4
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
part "tensor API (gpu-bench)" 300 bash -c '"$@" | tee "'"$log"'"; exit "${PIPESTATUS[0]}"' _ \
    "$gpu_bench" $size ${steps:+--steps "$steps"}
if [ -z "$size" ]; then
    if grep -q '^sizes: full' "$log"; then
        size=--full
    elif grep -q '^sizes: ' "$log" || ! command -v nvidia-smi >/dev/null; then
        size=--small
    else
        size=--full # the bench died before saying; a GPU machine gets full
    fi
fi

python=${python:-$(command -v python3 || true)}
if [ -z "$python" ]; then
    echo "no python3 here: PyTorch and the component's rows are skipped"
else
    part "PyTorch eager, the same architecture" 120 \
        "$python" "$root/scripts/torch_bench.py" $size ${steps:+--steps "$steps"}
    if [ -x "$host" ] && [ -f "$wasm" ] && "$python" -c 'import numpy' 2>/dev/null; then
        case $size in
            --full) shape=(--width 1024 --layers 16 --heads 8 --frames 300 --steps "${steps:-100}") ;;
            --small) shape=(--width 64 --layers 2 --heads 2 --frames 16 --steps "${steps:-2}") ;;
            *) shape=(--width 32 --layers 1 --heads 2 --frames 8 --steps "${steps:-2}") ;;
        esac
        part "Kimodo component through the server" 180 \
            "$python" "$root/scripts/kimodo_bench.py" --host "$host" --wasm "$wasm" "${shape[@]}"
    else
        echo
        echo "== Kimodo component: skipped (needs $host, $wasm and NumPy)"
    fi
fi
exit $failed
