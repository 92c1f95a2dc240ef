# motionmcp-host in a container: the server and the default models (humanoid,
# null), serving on 0.0.0.0:8000 as an unprivileged user.
#
#   docker build -t motionmcp-host .          (or: podman build / buildah bud)
#   docker run --rm -p 8000:8000 motionmcp-host
#
# Build arguments:
#   BUILDER_IMAGE  the Rust toolchain the binaries are built with
#   RUNTIME_IMAGE  the Debian the image runs on
#   RUNTIME_PACKAGES  what is added to it: the Vulkan loader, and libxext6,
#                  which NVIDIA's Vulkan driver (libGLX_nvidia.so.0, mounted
#                  from the node) loads even headless
#   COMPONENTS     the Rust backbones built into /opt/motionmcp/models (the
#                  default command serves humanoid and null)
#
# The `builder` stage leaves its results in /dist (dist/motionmcp-host and
# dist/models/*.wasm). Binaries built elsewhere (for the same Debian release)
# can stand in for it: `--build-context builder=DIR`, DIR holding that layout,
# builds only the runtime stage (tests/deploy.rs builds the image this way).

ARG BUILDER_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

# ---- builder -----------------------------------------------------------------
FROM ${BUILDER_IMAGE} AS builder
ARG COMPONENTS="humanoid null"
# host/build.rs vendors the viewer's three.js with npm; the backbones are
# wasm32-wasip2 components.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
# What `make host` and the Rust half of scripts/build-components.sh do, for
# the host and the default backbones only (the Python and JavaScript
# backbones, and the test components, need more tools and are not served).
RUN cargo build --release --locked -p motionmcp-host \
    && packages="" \
    && for p in $COMPONENTS; do packages="$packages -p $p"; done \
    && CARGO_TARGET_DIR=target/wasm cargo build --release --locked --target wasm32-wasip2 $packages \
    && mkdir -p /dist/models \
    && cp target/release/motionmcp-host /dist/motionmcp-host \
    && for p in $COMPONENTS; do \
           cp "target/wasm/wasm32-wasip2/release/$(echo "$p" | tr - _).wasm" "/dist/models/$p.wasm"; \
       done

# ---- runtime -----------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
ARG RUNTIME_PACKAGES="libvulkan1 libxext6"
# The Vulkan loader, and no driver: a GPU's driver (its ICD) comes from the
# node (the NVIDIA container toolkit mounts it with the `graphics`
# capability). A base that already has the packages skips the download.
RUN set -eu; \
    missing=""; \
    for p in $RUNTIME_PACKAGES; do \
        dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"; \
    done; \
    if [ -n "$missing" ]; then \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    groupadd --gid 10001 motionmcp; \
    useradd --uid 10001 --gid 10001 --home-dir /var/lib/motionmcp --create-home \
        --shell /usr/sbin/nologin motionmcp; \
    install -d -o 10001 -g 10001 /var/cache/motionmcp-host
COPY --from=builder /dist/motionmcp-host /usr/local/bin/motionmcp-host
COPY --from=builder /dist/models/ /opt/motionmcp/models/
# Compiled components are cached here (an emptyDir in the Kubernetes manifests).
ENV MOTIONMCP_CACHE_DIR=/var/cache/motionmcp-host \
    WGPU_BACKEND=vulkan
# Numeric, so a runAsNonRoot check can verify it.
USER 10001:10001
WORKDIR /var/lib/motionmcp
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/motionmcp-host"]
CMD ["serve", "--addr", "0.0.0.0:8000", "/opt/motionmcp/models/humanoid.wasm", "/opt/motionmcp/models/null.wasm"]
