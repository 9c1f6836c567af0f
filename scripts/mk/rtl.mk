# RTL targets (accelerator in rtl/, testbenches in tb/). Scripts live in scripts/rtl/.
.PHONY: lint area test-rtl

# verilator --lint-only -Wall for every named configuration, and Yosys parse + no-latch check.
lint:
	@scripts/rtl/lint.sh

# Yosys synthesis of each configuration; cells by type and LUT4 per ternary MAC in
# reports/area.json.
area:
	@scripts/rtl/area.py --out reports/area.json

# Only the RTL testbenches (label "rtl") of the default build.
test-rtl: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -L rtl $(CTEST_FLAGS)

# Cycles per layer of the shipped reference package on one image through the whole accelerator
# (AXI4-Lite, controller, datapath; the stem in the int8 mode), with MACs and utilization: the
# up5k configuration in bench/results/rtl.json, ecp5 in bench/results/rtl-ecp5.json. The
# datapath alone: the conv datapath on blocks 1-4 at the up5k point (one beat per cycle) in
# bench/results/rtl-datapath.json, and stqn_core (conv, thresholds, write-back, fused pools) on
# blocks 1-4 at the ecp5 point in bench/results/rtl-core-ecp5.json. The ecp5 models are not part
# of `make build` (tb/CMakeLists.txt BENCH_ONLY); they are built here.
.PHONY: bench-rtl
bench: bench-rtl
bench-rtl: build
	@mkdir -p bench/results
	cmake --build $(BUILD) -j $(JOBS) --target stqn_top_ecp5_test stqn_core_ecp5_test
	STQN_BENCH_OUT=bench/results/rtl.json $(BUILD)/tb/stqn_top_up5k_test \
	  --gtest_filter='*ReferencePackageImageMatchesGolden'
	STQN_BENCH_OUT=bench/results/rtl-ecp5.json $(BUILD)/tb/bench/stqn_top_ecp5_test \
	  --gtest_filter='*ReferencePackageImageMatchesGolden'
	STQN_BENCH_OUT=bench/results/rtl-datapath.json $(BUILD)/tb/stqn_conv_up5k_test \
	  --gtest_filter='*ReferenceBlocksRunAtOneBeatPerCycle'
	STQN_BENCH_OUT=bench/results/rtl-core-ecp5.json $(BUILD)/tb/bench/stqn_core_ecp5_test \
	  --gtest_filter='*ReferenceBlocksKeepTheArrayBusy'
	@echo "bench-rtl: wrote bench/results/rtl.json, rtl-ecp5.json, rtl-datapath.json and rtl-core-ecp5.json"

# Long RTL regression (not in CI): REGRESS_IMAGES reference-network test images through the whole
# accelerator (stqn-sim, up5k), then REGRESS_SEEDS seeds of every randomized RTL bench (random
# packages, layers, pools, malformed programs, stalls). Zero mismatches expected.
REGRESS_IMAGES ?= 1000
REGRESS_SEEDS  ?= 100
.PHONY: regress
regress: build
	@scripts/rtl/regress.sh $(BUILD) $(REGRESS_IMAGES) $(REGRESS_SEEDS)

# Verilator line + toggle coverage of rtl/ over the RTL testbenches (own build directory
# $(BUILD)-cov); prints "line coverage: X%" and writes reports/coverage.txt.
.PHONY: coverage
coverage: deps
	@scripts/rtl/coverage.sh $(BUILD)-cov $(JOBS)
