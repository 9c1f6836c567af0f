# stqn task runner: a thin layer over scripts/, cmake and ctest. Parts add their targets in
# scripts/mk/*.mk (one fragment per part).
BUILD       ?= build
BUILD_ASAN  ?= build-asan
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST_FLAGS ?=
BIN          = $(BUILD)
export STQN_ROOT := $(CURDIR)

.PHONY: help deps configure build test test-asan demo bench bench-golden clean

help:
	@echo "make deps           install/check the Debian packages (scripts/setup-deps.sh)"
	@echo "make build          configure and build everything into $(BUILD)/"
	@echo "make test           build and run every test (CTest); test-rtl, test-sim, test-trainer run one part"
	@echo "make test-asan      the C++ libraries and tools under AddressSanitizer + UBSan"
	@echo "make demo           the main job: golden model on the test set, then the RTL (stqn-sim) bit-exactly"
	@echo "                    on the first 300 images, one summary (TRAIN=1: train a short run first)"
	@echo "make bench          every benchmark: bench-golden bench-rtl bench-sim bench-trainer (bench/results/*.json)"
	@echo "make lint           RTL lint (Verilator -Wall per configuration, Yosys parse, no latches)"
	@echo "make area           Yosys synthesis per configuration -> reports/area.json"
	@echo "make coverage       Verilator line/toggle coverage -> reports/coverage.txt"
	@echo "make regress        long RTL regression: 1,000 test images and random networks (not in CI)"
	@echo "make accuracy       train, export and evaluate every variant, 3 seeds (hours, resumable; not in CI)"
	@echo "make accuracy-report  rebuild reports/accuracy.json and the README table from finished runs"
	@echo "make reference-package  retrain the shipped models/packages/reference-sttn"

deps:
	@scripts/setup-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

# The sanitizer configuration covers the C++ libraries and tools without libtorch and Verilator.
test-asan: deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSTQN_SANITIZE=ON \
	  -DSTQN_WITH_TORCH=OFF -DSTQN_WITH_RTL=OFF -DSTQN_NATIVE=ON
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

demo: build
	@scripts/demo.sh $(BUILD)

# Each part's fragment in scripts/mk/ adds its own benchmark as a prerequisite of `bench`.
bench: bench-golden

bench-golden: build
	@mkdir -p bench/results
	$(BUILD)/models/bench/stqn-bench-golden --json bench/results/golden.json

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

-include scripts/mk/*.mk
