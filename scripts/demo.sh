#!/usr/bin/env bash
# make demo: the main job. Runs the shipped reference package (or, until one is shipped, a
# generated package of the reference topology, and says so) through the golden model on the
# Fashion-MNIST test set.
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/reports/demo"
mkdir -p "$OUT"

PKG="$ROOT/models/packages/reference-sttn"
if [ ! -f "$PKG/manifest.json" ]; then
  PKG="$OUT/generated-reference"
  echo "demo: no trained package is shipped yet; generating a random package of the reference"
  echo "demo: topology (ternary weights and activations). Its accuracy is chance level (~10%)."
  "$BUILD/models/stqn-gen-package" --topology reference --seed 1 --out "$PKG"
fi

"$BUILD/models/stqn-infer" --model "$PKG" --json "$OUT/golden.json"
echo
echo "demo: golden-model results in $OUT/golden.json"
