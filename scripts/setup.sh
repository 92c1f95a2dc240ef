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

# The OCI test (components by digest) pushes to and pulls from Debian's
# docker-registry (the CNCF distribution registry), run on loopback.
if [ -z "${DOCKER_REGISTRY:-}" ] && [ ! -x /usr/bin/docker-registry ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "installing Debian's docker-registry for the OCI test" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null
    else
        echo "warning: no /usr/bin/docker-registry: the OCI test will fail (install Debian's docker-registry package or set DOCKER_REGISTRY)" >&2
    fi
fi

# The shared job store's tests run Debian's redis-server, and two replicas
# behind Debian's haproxy, on loopback.
for tool in redis-server:redis-server:REDIS_SERVER haproxy:haproxy:HAPROXY; do
    program=${tool%%:*} rest=${tool#*:}
    package=${rest%%:*} var=${rest#*:}
    if [ -z "${!var:-}" ] && ! command -v "$program" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$program" ]; then
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            echo "installing Debian's $package for the job store's tests" >&2
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
        else
            echo "warning: no $program: the job store's tests will fail (install Debian's $package package or set $var)" >&2
        fi
    fi
done

# The packaging test (tests/deploy.rs) renders deploy/ with kubectl's
# Kustomize (Debian's kubectl is too old for Kustomize components: install a
# current one) and builds the Dockerfile's image with Debian's buildah, on a
# base made by debootstrap (both need root; as another user it is skipped).
if [ -z "${KUBECTL:-}" ] && ! command -v kubectl >/dev/null 2>&1; then
    echo "warning: no kubectl: the packaging test will fail (install kubectl 1.21 or newer, or set KUBECTL)" >&2
fi
if ! command -v buildah >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "installing Debian's buildah and debootstrap for the image test" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah debootstrap >/dev/null
    else
        echo "warning: no buildah or debootstrap: the image test is skipped unless run as root with both" >&2
    fi
fi
