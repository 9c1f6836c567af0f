#!/usr/bin/env bash
# Prints the stqn-sim model that runs a package on the UP5K array: "up5k" if the package fits
# the up5k configuration, otherwise "up5k-ref" (the same array with 2,048-word activation banks;
# sim/README.md), after telling stderr what does not fit. Usage: up5k_model.sh BUILD PACKAGE
set -euo pipefail
BUILD=$1
PKG=$2
if out=$("$BUILD/sim/stqn-sim" --model "$PKG" --config up5k --limit 1 --jobs 1 2>&1); then
  echo up5k
elif grep -q "does not fit" <<< "$out"; then
  {
    echo "the package does not fit the up5k configuration's banks yet:"
    sed 's/^/  /' <<< "$out"
    echo "running the up5k array with 2,048-word activation banks (up5k-ref) instead"
  } >&2
  echo up5k-ref
else
  echo "$out" >&2
  exit 1
fi
