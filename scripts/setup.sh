#!/usr/bin/env bash
# One-time set-up every command needs; safe to run again.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install Rust with rustup (https://rustup.rs)" >&2
    exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "installing the wasm32-wasip2 target" >&2
    rustup target add wasm32-wasip2
fi

# The tensor API runs WGSL kernels through wgpu on Vulkan. Without a GPU
# driver, Mesa's software rasteriser (lavapipe) provides one: slow, exact.
if ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "installing Mesa's Vulkan drivers (lavapipe) for the GPU tests" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
    else
        echo "no Vulkan driver found: install mesa-vulkan-drivers and libvulkan1 (lavapipe) or a GPU driver" >&2
        exit 1
    fi
fi

# The viewer's three.js is vendored from npm by the host's build script, and
# its browser test drives Debian's Chromium through playwright-core (from
# npm, which downloads no browser).
if ! command -v npm >/dev/null 2>&1; then
    echo "npm is missing: install Node.js 18 or newer with npm" >&2
    exit 1
fi
if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "installing Debian's chromium for the viewer's browser test" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "warning: no /usr/bin/chromium: the viewer's browser test will fail (install chromium or set CHROMIUM)" >&2
    fi
fi

# The metrics test checks /metrics with promtool, from Debian's prometheus
# package (only promtool is used).
if [ -z "${PROMTOOL:-}" ] && ! command -v promtool >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "installing Debian's prometheus package for promtool (the metrics test)" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    else
        echo "warning: no promtool: the metrics test will fail (install Debian's prometheus package or set PROMTOOL)" >&2
    fi
fi
