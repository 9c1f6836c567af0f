# Whole-network simulation (sim/): stqn-sim on the Verilated accelerator, the SystemC/TLM-2.0
# model, and the simulation benchmark. Scripts live in scripts/sim/.
.PHONY: sim test-sim bench-sim

sim: configure
	cmake --build $(BUILD) -j $(JOBS) --target stqn-sim stqn-tlm-test

# Only the simulation tests (label "sim") of the default build.
test-sim: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -L sim $(CTEST_FLAGS)

# Simulated cycles/s and reference-network images per wall second (up5k, Verilator), and the
# same RTL and image under Icarus Verilog for the speed-up; writes bench/results/sim.json.
BENCH_SIM_IMAGES ?= 40
bench: bench-sim
bench-sim: build
	@mkdir -p bench/results
	@scripts/sim/bench.sh $(BUILD) bench/results/sim.json $(BENCH_SIM_IMAGES)
