#!/usr/bin/env bash
# Installs (or checks) every Debian package stqn needs. Idempotent: it asks dpkg first and only
# calls apt-get for what is missing. As root it installs; otherwise it prints the exact command.
set -euo pipefail

# One list for the whole project. Keep Recommends on: fpga-icestorm-chipdb comes that way.
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git jq python3
  zlib1g-dev libgtest-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libtorch-dev python3-torch
  libsystemc-dev verilator iverilog
  yosys nextpnr-ice40 fpga-icestorm
  dataset-fashion-mnist gnuplot-nox
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#PACKAGES[@]} Debian packages present"
  exit 0
fi

cmd="apt-get install -y ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps: missing packages: ${missing[*]}" >&2
  echo "setup-deps: run as root:  apt-get update && $cmd" >&2
  exit 1
fi

echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}"
