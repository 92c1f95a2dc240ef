# The two commands of the README, and the pieces they are made of.
# Each step is idempotent: run any of them again at will.

ADDR ?= 127.0.0.1:8000

# wgpu's Vulkan backend: a GPU's driver, or Mesa's lavapipe without one.
export WGPU_BACKEND ?= vulkan

.PHONY: serve test lint components host setup

## Build everything needed and serve the humanoid and null models on $(ADDR).
serve: components host
	./target/release/motionmcp-host serve target/components/humanoid.wasm target/components/null.wasm --addr $(ADDR)

## Run every test: unit tests, HTTP integration tests against the real
## binary, and the reference's own Python clients against our server.
test: components
	cargo test --workspace

## Formatting and lints, as CI runs them.
lint: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

## Every backbone component, into target/components/<name>.wasm.
components: setup
	./scripts/build-components.sh

host: setup
	cargo build --release -p motionmcp-host

setup:
	./scripts/setup.sh
