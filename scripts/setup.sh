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
