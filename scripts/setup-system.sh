#!/usr/bin/env bash
# Installs the system packages the tests need on Debian 12, idempotently:
# Chromium (browser e2e with SwiftShader WebGPU) and Mesa lavapipe from bookworm-backports
# (Node WebGPU with f16 and subgroups). Needs root; does nothing where everything is present.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -f /usr/share/vulkan/icd.d/lvp_icd.json ] || need+=(mesa)
dpkg -s libvulkan1 >/dev/null 2>&1 || need+=(libvulkan1)
[ ${#need[@]} -eq 0 ] && { echo "setup-system: chromium, lavapipe and libvulkan1 already present"; exit 0; }
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: not a Debian system; install Chromium and a Vulkan driver by hand (missing: ${need[*]})" >&2
  exit 0
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
src=/etc/apt/sources.list.d/brix-backports.sources
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  $SUDO tee "$src" >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-liberation xz-utils
$SUDO apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers libvulkan1
echo "setup-system: done"
