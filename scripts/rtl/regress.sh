#!/usr/bin/env bash
# RTL regression (not in CI): N seeds (default 1000) of every randomized RTL bench. Per seed, the
# whole accelerator (stqn_top_up5k_test, through AXI4-Lite and the controller) runs the shipped
# reference package on Fashion-MNIST test image #seed mod 10000 layer by layer and random
# packages, logits and class compared with reference_forward; the datapath bench (stqn_core_ref_test) runs a random
# reference_topology_package layer by layer. Prints the failing seeds; exit status 1 if any failed.
# Usage: scripts/rtl/regress.sh [BUILD_DIR] [N]
set -uo pipefail
build="${1:-build}"
n="${2:-1000}"
tb="$build/tb"
[[ -x "$tb/stqn_core_ref_test" ]] || { echo "regress: build $build first (make build)"; exit 2; }
failures=0
runs=0
for ((seed = 1; seed <= n; seed++)); do
  for bin in "$tb"/stqn_*_test; do
    filter='*'
    # The reference network takes ~2.5 s; every other bench well under a second.
    if [[ "$bin" == *stqn_core_ref_test ]]; then filter='*ReferenceNetwork*'; fi
    if ! STQN_SEED=$seed "$bin" --gtest_filter="$filter" > /tmp/stqn_regress.$$ 2>&1; then
      echo "regress: FAIL $(basename "$bin") STQN_SEED=$seed"
      grep -m 5 -E "Failure|RTL|channel|logit" /tmp/stqn_regress.$$ | sed 's/^/    /'
      failures=$((failures + 1))
    fi
    runs=$((runs + 1))
  done
  (( seed % 50 == 0 )) && echo "regress: $seed / $n seeds, $failures failure(s)"
done
rm -f /tmp/stqn_regress.$$
echo "regress: $runs bench runs over $n seeds, $failures mismatch(es)"
(( failures == 0 ))
