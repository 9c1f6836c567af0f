#!/usr/bin/env bash
# make coverage: builds the RTL testbenches with Verilator line + toggle coverage in their own
# build directory, runs them, merges the counters and reports coverage of rtl/ in
# reports/coverage.txt (and prints "line coverage: X%").
# Usage: scripts/rtl/coverage.sh [BUILD_DIR] [JOBS] [CTEST_REGEX]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# Absolute: the tests write their counters to $build/coverage from their own working directories.
build="$(realpath -m "${1:-$root/build-cov}")"
jobs="${2:-2}"
regex="${3:-.}"
cmake -S "$root" -B "$build" -G Ninja -DSTQN_WITH_TORCH=OFF -DSTQN_RTL_COVERAGE=ON > /dev/null
cmake --build "$build" -j "$jobs"
rm -rf "$build/coverage"
mkdir -p "$build/coverage" "$root/reports"
STQN_COVERAGE_DIR="$build/coverage" ctest --test-dir "$build" -L rtl -E lint -R "$regex" \
  -j "$jobs" --output-on-failure > "$build/coverage/ctest.log" || {
  tail -20 "$build/coverage/ctest.log"; echo "coverage: tests failed"; exit 1; }
verilator_coverage --write "$build/coverage/merged.dat" "$build"/coverage/cov-*.dat
python3 "$root/scripts/rtl/coverage_report.py" "$build/coverage/merged.dat" "$root/rtl" \
  "$root/reports/coverage.txt"
