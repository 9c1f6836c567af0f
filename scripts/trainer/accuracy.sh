#!/usr/bin/env bash
# make accuracy: trains and exports every variant of the accuracy table with the same recipe and
# epoch budget, then writes reports/accuracy.json (one entry per variant and seed).
# Usage: accuracy.sh STQN_TRAIN RUNS_DIR EPOCHS THREADS [SEEDS...]
set -euo pipefail
TRAIN=$1 RUNS=$2 EPOCHS=$3 THREADS=$4
shift 4
SEEDS=${*:-1 2 3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$RUNS" "$ROOT/reports/training"

# name weights acts
VARIANTS="fp32:fp32:relu twn:twn:ternary sttn:sttn:ternary rtn2:rtn:2:uint:2 stqn2:stqn:2:uint:2 rtn3:rtn:3:uint:2 stqn3:stqn:3:uint:2"
for seed in $SEEDS; do
  for v in $VARIANTS; do
    name=${v%%:*}
    rest=${v#*:}
    case $rest in
      rtn:?:*|stqn:?:*) weights=${rest%:*:*}; acts=${rest#*:*:} ;;
      *) weights=${rest%%:*}; acts=${rest#*:} ;;
    esac
    run="$RUNS/$name-s$seed"
    if [ -f "$run/checkpoint.bin" ]; then resume=(--resume "$run/checkpoint.bin"); else resume=(); fi
    "$TRAIN" train --weights "$weights" --acts "$acts" --epochs "$EPOCHS" --seed "$seed" \
      --threads "$THREADS" --out "$run" "${resume[@]}"
    if [ "$weights" != fp32 ]; then
      "$TRAIN" export --checkpoint "$run/checkpoint.bin" --package "$run/package" \
        --report "$run/export.json" --threads "$THREADS"
    fi
  done
done

python3 - "$RUNS" "$ROOT/reports/accuracy.json" <<'PY'
import json, os, sys, glob
runs, out = sys.argv[1], sys.argv[2]
entries = []
for d in sorted(glob.glob(os.path.join(runs, "*-s*"))):
    m = json.load(open(os.path.join(d, "metrics.json")))
    c, last = m["config"], m["epochs"][-1]
    e = {"name": os.path.basename(d), "weights": c["weights"], "acts": c["acts"],
         "seed": c["seed"], "epochs": last["epoch"], "wall_seconds": last["wall_seconds"],
         "images_per_second": last["images_per_second"], "trainer_top1": last["test_top1"],
         "golden_top1": None, "agreement": None}
    x = os.path.join(d, "export.json")
    if os.path.exists(x):
        r = json.load(open(x))
        e.update(golden_top1=r["golden_top1"], trainer_top1=r["trainer_top1"], agreement=r["agreement"])
    entries.append(e)
tmp = out + ".tmp"
json.dump({"variants": entries}, open(tmp, "w"), indent=2)
os.replace(tmp, out)
print(f"wrote {out} ({len(entries)} runs)")
PY
