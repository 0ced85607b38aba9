#!/usr/bin/env bash
# One-time machine setup: the system libraries WebGPU needs — the Vulkan loader (through which Dawn
# finds a GPU's driver: NVIDIA, AMD or Intel) and, for GPU-less machines, Mesa's EGL/GLES (over
# which Dawn runs on the CPU with llvmpipe) — Debian's chromium (for its SwiftShader Vulkan driver:
# a core-feature-level CPU adapter that the kernel tests also run on), the Fashion-MNIST dataset,
# and the npm dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libvulkan1 libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri chromium dataset-fashion-mnist)

if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: Debian packages present (${APT_PACKAGES[*]})"
  fi
else
  echo "setup: not a Debian-like system; install Mesa's EGL/GLES drivers yourself if this machine has no GPU,"
  echo "       and put Fashion-MNIST's IDX files in a folder you pass with --data."
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
