#!/usr/bin/env bash
# make bench-sim: simulation speed of the reference network on the Verilated accelerator
# (simulated cycles per wall second, images per wall second with 1 and 2 jobs) and, in the same
# run, of the same RTL and work under Icarus Verilog: stqn-sim records every host bus access of
# one image (package load included) and scripts/sim/replay_tb.v replays it, checking every read.
# Usage: bench.sh BUILD OUT.json IMAGES
# Env: BENCH_SIM_CONFIG (default: up5k), ICARUS_MAX_CYCLES (default 0: Icarus replays the whole record,
# package load and one image, about five minutes; N > 0 stops after N cycles and the result says
# that its images/s is extrapolated. The load phase simulates faster than the array phase under
# Icarus, so a short prefix flatters Icarus).
set -euo pipefail
BUILD=$1
OUT=$2
IMAGES=$3
ICARUS_MAX_CYCLES=${ICARUS_MAX_CYCLES:-0}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PKG="$ROOT/models/packages/reference-sttn"
CONFIG=${BENCH_SIM_CONFIG:-up5k}
WORK="$BUILD/bench-sim"
SIM="$BUILD/sim/stqn-sim"
mkdir -p "$WORK"

echo "bench-sim: $IMAGES images of $(basename "$PKG") on $CONFIG, 1 job, then 2 jobs"
"$SIM" --model "$PKG" --config "$CONFIG" --limit "$IMAGES" --jobs 1 --json "$WORK/jobs1.json" > "$WORK/jobs1.txt"
"$SIM" --model "$PKG" --config "$CONFIG" --limit "$IMAGES" --jobs 2 --json "$WORK/jobs2.json" > "$WORK/jobs2.txt"
echo "bench-sim: recording the host bus of one image for the Icarus replay"
"$SIM" --model "$PKG" --config "$CONFIG" --limit 1 --record "$WORK/record.txt" \
  --json "$WORK/record.json" > "$WORK/record.txt.log"

if [ "$ICARUS_MAX_CYCLES" = 0 ]; then
  echo "bench-sim: Icarus Verilog on the same RTL, the whole record (about five minutes)"
else
  echo "bench-sim: Icarus Verilog on the same RTL, the first $ICARUS_MAX_CYCLES cycles of the record"
fi
# The model's configuration and overridden parameters, as stqn-sim reports them.
mapfile -t overrides < <(jq -r '.overrides | to_entries[] | "\(.key)=\(.value)"' "$WORK/record.json")
"$ROOT/scripts/sim/icarus_build.sh" "$(jq -r .base_config "$WORK/record.json")" "$WORK/replay.vvp" \
  "${overrides[@]}"
start=$(date +%s.%N)
plusargs=("+record=$WORK/record.txt")
if [ "$ICARUS_MAX_CYCLES" != 0 ]; then plusargs+=("+max_cycles=$ICARUS_MAX_CYCLES"); fi
vvp -n "$WORK/replay.vvp" "${plusargs[@]}" | tee "$WORK/icarus.txt"
end=$(date +%s.%N)

python3 - "$WORK" "$OUT" "$start" "$end" "$CONFIG" "$ICARUS_MAX_CYCLES" <<'PY'
import json, re, sys
work, out, start, end, config, max_cycles = sys.argv[1:]
def load(name):
    with open(f"{work}/{name}") as f:
        return json.load(f)
j1, j2, rec = load("jobs1.json"), load("jobs2.json"), load("record.json")
text = open(f"{work}/icarus.txt").read()
m = re.search(r"(?:done|stopped) at cycle (\d+).*?(\d+) errors", text)
if not m:
    sys.exit(f"bench-sim: {work}/icarus.txt: no 'replay: done/stopped at cycle N' line")
icarus_cycles, icarus_errors = int(m.group(1)), int(m.group(2))
partial = "stopped" in text
wall = float(end) - float(start)
ic_rate = icarus_cycles / wall
v1 = j1["simulation"]
record_cycles = rec["simulation"]["cycles"]
cycles_per_image = j1["cycles_per_image"] + j1["simulation"]["host_cycles_per_image"]
doc = {
    "config": config, "model": j1["model"], "images": j1["images"],
    "cycles_per_image": j1["cycles_per_image"],
    "host_cycles_per_image": j1["simulation"]["host_cycles_per_image"],
    "mismatches": j1["mismatches"] + j2["mismatches"],
    "verilator": {
        "jobs1": {"cycles_per_s": v1["cycles_per_s"], "images_per_s": v1["images_per_s"],
                  "wall_s": v1["wall_s"], "cpu_s": v1["cpu_s"],
                  "cycles_per_cpu_s": v1["cycles_per_cpu_s"]},
        "jobs2": {"cycles_per_s": j2["simulation"]["cycles_per_s"],
                  "images_per_s": j2["simulation"]["images_per_s"], "wall_s": j2["simulation"]["wall_s"],
                  "cpu_s": j2["simulation"]["cpu_s"],
                  "cycles_per_cpu_s": j2["simulation"]["cycles_per_cpu_s"]},
    },
    "icarus": {"cycles": icarus_cycles, "record_cycles": record_cycles, "partial": partial,
               "wall_s": wall, "cycles_per_s": ic_rate,
               "images_per_s": ic_rate / cycles_per_image,
               "read_errors": icarus_errors},
    "speedup_cycles_per_s": v1["cycles_per_s"] / ic_rate,
    "targets": {"images_per_wall_s": 10, "speedup": 100},
}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
import os
os.replace(tmp, out)
print(f"\n{'simulator':<28} {'cycles/s':>12} {'images/wall-s':>14} {'cycles/CPU-s':>14}")
print(f"{'Verilator, 1 job':<28} {v1['cycles_per_s']:>12,.0f} {v1['images_per_s']:>14.2f} "
      f"{v1['cycles_per_cpu_s']:>14,.0f}")
print(f"{'Verilator, 2 jobs':<28} {j2['simulation']['cycles_per_s']:>12,.0f} {j2['simulation']['images_per_s']:>14.2f} "
      f"{j2['simulation']['cycles_per_cpu_s']:>14,.0f}")
note = f" (first {icarus_cycles:,} of {record_cycles:,} cycles; images/s extrapolated)" if partial else ""
print(f"{'Icarus Verilog':<28} {ic_rate:>12,.0f} {ic_rate / cycles_per_image:>14.4f}{note}")
print(f"speed-up Verilator (1 job) / Icarus: {doc['speedup_cycles_per_s']:.0f}x (target >= 100x); "
      f"images/wall-s with 2 jobs: {j2['simulation']['images_per_s']:.2f} (target >= 10)")
print(f"Icarus replay read checks: {icarus_errors} errors; RTL mismatches vs golden: {doc['mismatches']}")
print(f"bench-sim: wrote {out}")
if icarus_errors or doc["mismatches"]:
    sys.exit(1)
PY
