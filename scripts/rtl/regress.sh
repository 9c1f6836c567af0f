#!/usr/bin/env bash
# RTL regression (not in CI), two parts:
#  1. IMAGES Fashion-MNIST test images (default 1,000) of the shipped reference package through the
#     whole accelerator (stqn-sim, up5k configuration, Verilated stqn_top behind AXI4-Lite), every
#     image's logits and class compared with the golden model;
#  2. SEEDS seeds (default 100) of every randomized RTL bench, built with assertions and random
#     initial values: the reference package on test image #seed layer by layer and random
#     packages through stqn_top (tiny and up5k) behind a stalling AXI master, random layers,
#     pools, int8 stems, malformed programs, stalls and back-pressure in the unit benches, and a
#     random reference-topology package layer by layer in stqn_core_ref_test.
# Part 1 adds image count (the fast model: no assertions, logits and class only); part 2 adds
# the checks. IMAGES = 0 skips part 1.
# Prints the failing seeds and the first lines of their failure; exit status 1 on any mismatch.
# Usage: scripts/rtl/regress.sh [BUILD_DIR] [IMAGES] [SEEDS]
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-build}"
images="${2:-1000}"
seeds="${3:-100}"
tb="$build/tb"
sim="$build/sim/stqn-sim"
for f in "$tb/stqn_core_ref_test" "$sim"; do
  [[ -x "$f" ]] || { echo "regress: $f is missing: build $build first (make build)"; exit 2; }
done
out="$build/regress"
mkdir -p "$out"
log=$(mktemp "$out/bench.XXXXXX.log")
trap 'rm -f "$log"' EXIT
failures=0
sim_images=0
sim_mismatches=0

if (( images > 0 )); then
  echo "regress: part 1: $images reference-network test images through the accelerator (stqn-sim)"
  rm -f "$out/sim.json"
  if ! "$sim" --model "$root/models/packages/reference-sttn" --config up5k --limit "$images" \
      --json "$out/sim.json"; then
    echo "regress: FAIL stqn-sim (see above)"
    failures=$((failures + 1))
  fi
  sim_images=$(jq -r '.images' "$out/sim.json" 2>/dev/null || echo 0)
  sim_mismatches=$(jq -r '.mismatches' "$out/sim.json" 2>/dev/null || echo "?")
  if [[ "$sim_images" != "$images" || "$sim_mismatches" != "0" ]]; then
    echo "regress: FAIL stqn-sim ran $sim_images of $images images, $sim_mismatches mismatch(es)"
    failures=$((failures + 1))
  fi
fi

echo "regress: part 2: $seeds seeds of every randomized RTL bench"
runs=0
for ((seed = 1; seed <= seeds; seed++)); do
  for bin in "$tb"/stqn_*_test; do
    filter='*'
    # The datapath bench's reference test is the random reference-topology package.
    if [[ "$bin" == *stqn_core_ref_test ]]; then filter='*ReferenceNetwork*'; fi
    if ! STQN_SEED=$seed "$bin" --gtest_filter="$filter" > "$log" 2>&1; then
      echo "regress: FAIL $(basename "$bin") STQN_SEED=$seed"
      grep -m 5 -E "Failure|RTL|channel|logit" "$log" | sed 's/^/    /'
      failures=$((failures + 1))
    fi
    runs=$((runs + 1))
  done
  (( seed % 10 == 0 )) && echo "regress: $seed / $seeds seeds, $failures failure(s)"
done
echo "regress: $sim_images images (stqn-sim, $sim_mismatches mismatches) and $runs bench runs over $seeds seeds: $failures failure(s)"
(( failures == 0 ))
