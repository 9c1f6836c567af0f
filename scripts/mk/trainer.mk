# The trainer (sw/): stqn-train, its tests, the shipped reference package and the accuracy table.
# Builds go to $(TRAIN_BUILD) (default: $(BUILD)); runs go to $(TRAIN_RUNS).
TRAIN_BUILD   ?= $(BUILD)
TRAIN_RUNS    ?= $(TRAIN_BUILD)/runs
TRAIN_THREADS ?= 2
TRAIN_EPOCHS  ?= 10
STQN_TRAIN     = $(TRAIN_BUILD)/sw/stqn-train

BENCH_TRAINER_FLAGS ?=

.PHONY: trainer test-trainer reference-package accuracy accuracy-report bench-trainer

trainer: configure
	cmake --build $(TRAIN_BUILD) -j $(JOBS) --target stqn-train trainer_test trainer_io_test

test-trainer: trainer
	ctest --test-dir $(TRAIN_BUILD) --output-on-failure -L trainer $(CTEST_FLAGS)

# Training images/s of stqn-train (fp32, STTN) against the same training step in PyTorch (Python,
# Debian's python3-torch), at 1 and 2 threads, in one run -> bench/results/trainer.json.
bench: bench-trainer
bench-trainer: trainer
	@mkdir -p bench/results
	/usr/bin/python3 scripts/trainer/bench_trainer.py --stqn-train $(STQN_TRAIN) \
	  --json bench/results/trainer.json $(BENCH_TRAINER_FLAGS)

# Reproduces models/packages/reference-sttn bit-identically (same machine type): STTN ternary
# weights / ternary activations, 10 epochs, seed 1, the no-augment recipe (its options come from
# RECIPES in scripts/trainer/accuracy.py: Adam 3e-3 cosine, batch 128, no crop or flip, pools at
# bn), at 1 thread as shipped (REFERENCE_THREADS: other thread counts sum in another order and
# round differently). About 25 minutes.
REFERENCE_THREADS ?= 1
reference-package: trainer
	@mkdir -p reports/training
	recipe=$$(python3 scripts/trainer/accuracy.py --recipe no-augment --print-recipe-flags) && \
	$(STQN_TRAIN) train --force --weights sttn --acts ternary --epochs $(TRAIN_EPOCHS) --seed 1 \
	  $$recipe --threads $(REFERENCE_THREADS) --out $(TRAIN_RUNS)/reference-sttn
	$(STQN_TRAIN) export --checkpoint $(TRAIN_RUNS)/reference-sttn/checkpoint.bin \
	  --name reference-sttn --package models/packages/reference-sttn \
	  --report reports/training/reference-sttn-export.json --threads $(REFERENCE_THREADS)
	cp $(TRAIN_RUNS)/reference-sttn/metrics.csv reports/training/reference-sttn-metrics.csv.tmp
	mv reports/training/reference-sttn-metrics.csv.tmp reports/training/reference-sttn-metrics.csv

# Long (hours; not in CI): every variant of the accuracy table, 3 seeds, same recipe and epoch
# budget -> reports/accuracy.json and the README table. Resumable: run it again to continue.
# A trial budget (make accuracy EPOCHS=1 LIMIT=512) writes into its own runs directory only.
# RECIPE=no-augment trains fp32, TWN and STTN without crop + flip, into
# reports/accuracy-no-augment.json and the README's second table; VARIANTS=twn,sttn trains a
# subset of the recipe's variants (the rest stay pending).
EPOCHS ?= $(TRAIN_EPOCHS)
LIMIT  ?= 0
SEEDS  ?= 1,2,3
RECIPE ?= crop-flip
VARIANTS ?=
ACCURACY_RUNS ?= $(TRAIN_RUNS)/accuracy$(if $(filter-out crop-flip,$(RECIPE)),-$(RECIPE))-e$(EPOCHS)-limit$(LIMIT)
ACCURACY_FLAGS ?=
ACCURACY = python3 scripts/trainer/accuracy.py --stqn-train $(STQN_TRAIN) --runs $(ACCURACY_RUNS) \
	  --epochs $(EPOCHS) --official-epochs $(TRAIN_EPOCHS) --limit $(LIMIT) --seeds $(SEEDS) \
	  --threads $(TRAIN_THREADS) --recipe $(RECIPE) $(if $(VARIANTS),--variants $(VARIANTS)) $(ACCURACY_FLAGS)
accuracy: trainer
	$(ACCURACY)

# Rebuilds reports/accuracy.json, the README table and Figure 1 from the finished runs (no training).
accuracy-report: trainer
	$(ACCURACY) --report-only
