# The trainer (sw/): stqn-train, its tests, the shipped reference package and the accuracy table.
# Builds go to $(TRAIN_BUILD) (default: $(BUILD)); runs go to $(TRAIN_RUNS).
TRAIN_BUILD   ?= $(BUILD)
TRAIN_RUNS    ?= $(TRAIN_BUILD)/runs
TRAIN_THREADS ?= 2
TRAIN_EPOCHS  ?= 10
STQN_TRAIN     = $(TRAIN_BUILD)/sw/stqn-train

.PHONY: trainer test-trainer reference-package accuracy

trainer: configure
	cmake --build $(TRAIN_BUILD) -j $(JOBS) --target stqn-train trainer_test trainer_io_test

test-trainer: trainer
	ctest --test-dir $(TRAIN_BUILD) --output-on-failure -L trainer $(CTEST_FLAGS)

# Reproduces models/packages/reference-sttn: STTN ternary weights / ternary activations, the
# reference recipe (Adam 1e-3 cosine, batch 128, crop + flip, seed 1), 10 epochs.
reference-package: trainer
	@mkdir -p reports/training
	$(STQN_TRAIN) train --weights sttn --acts ternary --epochs $(TRAIN_EPOCHS) --seed 1 \
	  --threads $(TRAIN_THREADS) --out $(TRAIN_RUNS)/reference-sttn
	$(STQN_TRAIN) export --checkpoint $(TRAIN_RUNS)/reference-sttn/checkpoint.bin \
	  --name reference-sttn --package models/packages/reference-sttn \
	  --report reports/training/reference-sttn-export.json --threads $(TRAIN_THREADS)

# Long (hours; not in CI): every variant of the accuracy table, same recipe and epoch budget.
accuracy: trainer
	scripts/trainer/accuracy.sh $(STQN_TRAIN) $(TRAIN_RUNS) $(TRAIN_EPOCHS) $(TRAIN_THREADS)
