#!/usr/bin/env bash
# Builds the wgpu backend and compares it with flex (crates/csvae-transfer/tests/wgpu_parity.rs).
#
# Without a GPU it runs on lavapipe, Mesa's software Vulkan driver from Debian's
# mesa-vulkan-drivers. The build has its own target folder (target-wgpu, about 3 GB) so that it
# never locks or invalidates the main one. A cold build takes about 30 minutes on 2 cores.
#
# Usage: scripts/check_wgpu.sh            (as root, or with the packages already installed)
#        SKIP_APT=1 scripts/check_wgpu.sh (skip the package install)
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ "${SKIP_APT:-0}" != 1 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # libvulkan1 is the Vulkan loader that wgpu opens at run time. mesa-vulkan-drivers brings
    # lavapipe, and vulkan-tools brings vulkaninfo for diagnosis.
    apt-get install -y --no-install-recommends libvulkan1 mesa-vulkan-drivers vulkan-tools
fi

# The Vulkan loader warns when XDG_RUNTIME_DIR is unset.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target-wgpu}"

if command -v vulkaninfo >/dev/null; then
    vulkaninfo --summary 2>/dev/null | grep -E "deviceName|driverName" || true
fi

start=$(date +%s)
nice -n "${NICE:-10}" cargo test -p csvae-transfer --features wgpu --test wgpu_parity --no-run
built=$(date +%s)
echo "build: $((built - start)) s"

nice -n "${NICE:-10}" cargo test -p csvae-transfer --features wgpu --test wgpu_parity -- --nocapture
echo "test run: $(($(date +%s) - built)) s"
