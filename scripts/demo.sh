#!/usr/bin/env bash
# make demo: the main job. Takes the shipped reference package (or, with TRAIN=1, trains a short
# run first), runs the golden model on the whole Fashion-MNIST test set, runs stqn-sim on the
# first SIM_IMAGES test images through the accelerator's RTL (Verilated stqn_top, bit-exact
# against the golden model), checks that the RTL's accuracy on those images equals stqn-infer's,
# and prints one summary. Results go to reports/demo/.
# Env: TRAIN=1 (short training run), SIM_IMAGES (default 300), SIM_JOBS (default: all CPUs),
#      ECP5_IMAGES (default 20; used when the build has an ecp5 model).
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/reports/demo"
SIM_IMAGES=${SIM_IMAGES:-300}
SIM_JOBS=${SIM_JOBS:-0}
ECP5_IMAGES=${ECP5_IMAGES:-20}
TRAIN=${TRAIN:-0}
INFER="$BUILD/models/stqn-infer"
SIM="$BUILD/sim/stqn-sim"
mkdir -p "$OUT"

# ---- 1. The package ----------------------------------------------------------------------------
PKG="$ROOT/models/packages/reference-sttn"
if [ "$TRAIN" = 1 ]; then
  # One epoch on the first 6,000 training images: a couple of minutes on two cores. The point is
  # the path from training to the RTL, not the accuracy (the shipped package has 92.00%).
  echo "demo: TRAIN=1: a short STTN run (1 epoch, 6,000 training images), then export"
  "$BUILD/sw/stqn-train" train --force --weights sttn --acts ternary --epochs 1 --train-limit 6000 \
    --test-limit 1000 --seed 1 --threads 2 --out "$OUT/train"
  "$BUILD/sw/stqn-train" export --checkpoint "$OUT/train/checkpoint.bin" --name demo-sttn \
    --package "$OUT/demo-sttn" --report "$OUT/train/export.json" --threads 2
  PKG="$OUT/demo-sttn"
fi

# ---- 2. Golden model on the whole test set, and on the images the RTL runs -----------------------
echo "demo: golden model (stqn-infer) on the 10,000 test images"
"$INFER" --model "$PKG" --json "$OUT/golden.json"
"$INFER" --model "$PKG" --limit "$SIM_IMAGES" --json "$OUT/golden-$SIM_IMAGES.json" > /dev/null

# ---- 3. The RTL ------------------------------------------------------------------------------------
# The up5k configuration (stqn-sim says what does not fit if a trained package does not).
UP5K=up5k
echo "demo: stqn-sim on $SIM_IMAGES test images through the RTL ($UP5K), bit-exact against the golden model"
"$SIM" --model "$PKG" --config "$UP5K" --limit "$SIM_IMAGES" --jobs "$SIM_JOBS" \
  --json "$OUT/sim-$UP5K.json" | tee "$OUT/sim-$UP5K.txt"

ECP5_JSON=""
if "$SIM" --model "$PKG" --config ecp5 --limit "$ECP5_IMAGES" --jobs "$SIM_JOBS" \
     --json "$OUT/sim-ecp5.json" > "$OUT/sim-ecp5.txt" 2>&1; then
  ECP5_JSON="$OUT/sim-ecp5.json"
elif grep -q 'no model of configuration "ecp5"' "$OUT/sim-ecp5.txt"; then
  # No ecp5 model in this build (it is large to compile): the compiler's array beats give a bound.
  "$BUILD/models/stqn-compile" --model "$PKG" --config ecp5 --out "$OUT/ecp5-program" > /dev/null
else
  # A mismatch (exit 2) or an accelerator error (exit 1) on ECP5 fails the demo.
  cat "$OUT/sim-ecp5.txt"
  echo "demo: FAILED: stqn-sim on the ecp5 configuration (output above, $OUT/sim-ecp5.txt)"
  exit 1
fi

# ---- 4. Plot and summary -------------------------------------------------------------------------
python3 - "$OUT" "$UP5K" "$SIM_IMAGES" "$ECP5_JSON" "$PKG" "$ROOT" <<'PY'
import json, os, subprocess, sys
out, up5k, n, ecp5_json, pkg, root = sys.argv[1:7]
n = int(n)
load = lambda p: json.load(open(p))
golden, golden_n, sim = load(f"{out}/golden.json"), load(f"{out}/golden-{n}.json"), load(f"{out}/sim-{up5k}.json")
configs = load(f"{root}/rtl/configs/configs.json")["configs"]
ecp5_mhz = configs["ecp5"]["device"]["target_clock_mhz"]

# Per-layer cycles and utilization as an SVG (gnuplot), beside the JSON.
rows = [(l["name"], l["cycles"], 100 * l["utilization"]) for l in sim["layers"]]
with open(f"{out}/layers-{up5k}.dat", "w") as f:
    for name, cycles, util in rows:
        f.write(f"{name} {cycles:.0f} {util:.1f}\n")
plot = f"{out}/layers-{up5k}.svg"
gp = f"""set terminal svg size 800,420 font 'sans,11'
set output '{plot}'
set title 'stqn-sim: cycles per layer ({sim['model']} on {up5k}, {sim['cycles_per_image']:,.0f} cycles/image)'
set style data histograms
set style fill solid 0.8
set ylabel 'cycles'
set y2label 'utilization (%)'
set y2range [0:110]
set ytics nomirror
set y2tics
set xtics rotate by -30
plot '{out}/layers-{up5k}.dat' using 2:xtic(1) title 'cycles', '' using 0:3 axes x1y2 with linespoints lw 2 title 'utilization'
"""
try:
    subprocess.run(["gnuplot"], input=gp, text=True, check=True, capture_output=True)
except (OSError, subprocess.CalledProcessError) as e:
    plot = f"(no plot: gnuplot failed: {e})"

ok = True
print("\n================================ stqn demo ================================")
print(f"package           {sim['model']}  ({pkg})")
print(f"golden model      {100 * golden['accuracy']:.2f}% on {golden['images']:,} test images "
      f"({golden['images_per_s']:,.0f} images/s)")
print(f"RTL ({up5k:<8})    {100 * sim['accuracy']:.2f}% on the first {sim['images']} test images; "
      f"golden on the same images {100 * golden_n['accuracy']:.2f}%")
same = sim["correct"] == golden_n["correct"] and sim["predictions"] == golden_n["predictions"]
print(f"  bit-exact       {sim['mismatches']} mismatches (logits compared value for value); "
      f"RTL predictions {'equal' if same else 'DIFFER FROM'} stqn-infer's")
ok = ok and sim["mismatches"] == 0 and same
cpi = sim["cycles_per_image"]
print(f"  cycles/image    {cpi:,.0f} (utilization {100 * sim['utilization']:.1f}% of "
      f"{sim['peak_macs_per_cycle']} MACs/cycle)")
print(f"  UP5K            {sim['images_per_s']:,.1f} images/s at {sim['clock_mhz']:g} MHz (target clock)")
if ecp5_json:
    e = load(ecp5_json)
    ok = ok and e["mismatches"] == 0
    print(f"  ECP5            {e['images_per_s']:,.1f} images/s at {e['clock_mhz']:g} MHz: "
          f"{e['cycles_per_image']:,.0f} cycles/image, simulated on {e['images']} images, "
          f"{e['mismatches']} mismatches")
else:
    layout = load(f"{out}/ecp5-program/layout.json")
    beats = sum(s["beats"] for s in layout["steps"])
    print(f"  ECP5            at most {ecp5_mhz * 1e6 / beats:,.0f} images/s at {ecp5_mhz:g} MHz "
          f"(bound: >= {beats:,} array beats/image from the compiled program;")
    print(f"                  not simulated: no ecp5 model in this build, "
          f"cmake -DSTQN_SIM_CONFIGS='up5k;tiny;ecp5' adds one)")
s = sim["simulation"]
print(f"  simulation      {s['jobs']} jobs, {s['wall_s']:.1f} s, {s['cycles_per_s'] / 1e6:.2f} M cycles/s, "
      f"{s['images_per_s']:.2f} images/wall-s")
print(f"results           {out}/: golden.json, sim-{up5k}.json (+ .txt), plot {os.path.basename(plot)}")
print(f"waveform          stqn-sim --model {pkg} --config {up5k} --limit 1 --trace {out}/image0.fst")
print("===========================================================================")
if not ok:
    print("demo: FAILED: the RTL does not match the golden model")
    sys.exit(1)
PY
