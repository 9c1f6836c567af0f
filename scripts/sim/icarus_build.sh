#!/usr/bin/env bash
# Compiles scripts/sim/replay_tb.v around stqn_top for one configuration with Icarus Verilog.
# Usage: icarus_build.sh CONFIG OUT.vvp [NAME=VALUE...]   (parameters overriding the configuration's)
# Icarus 11 has no elaboration-time $error (SystemVerilog 2009), which rtl/ uses for parameter
# checks inside generate blocks; the RTL is copied next to OUT with each such $error turned into
# an `initial $fatal`, which stops a bad configuration at time 0 instead. Nothing else changes.
set -euo pipefail
CONFIG=$1
OUT=$2
shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CONFIGS="$ROOT/rtl/configs/configs.json"
RTL_COPY="$(dirname "$OUT")/icarus-rtl"

jq -e ".configs.\"$CONFIG\".params" "$CONFIGS" > /dev/null ||
  { echo "icarus_build: $CONFIGS: no configuration \"$CONFIG\"" >&2; exit 1; }
mkdir -p "$RTL_COPY"
for f in "$ROOT"/rtl/*.v; do
  sed 's/^\(\s*\)\$error(/\1initial $fatal(1, /' "$f" > "$RTL_COPY/$(basename "$f")"
done
params=()
for name in $(jq -r ".configs.\"$CONFIG\".params | keys[]" "$CONFIGS"); do
  value=$(jq -r ".configs.\"$CONFIG\".params.\"$name\"" "$CONFIGS")
  for override in "$@"; do
    [ "${override%%=*}" = "$name" ] && value=${override#*=}
  done
  params+=("-Preplay_tb.$name=$value")
done
iverilog -g2005 -s replay_tb -y "$RTL_COPY" "${params[@]}" -o "$OUT" "$ROOT/scripts/sim/replay_tb.v"
