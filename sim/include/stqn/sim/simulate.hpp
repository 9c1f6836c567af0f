// Whole networks on the Verilated accelerator: load a compiled package through the host
// driver, run test images, compare every image's logits with the golden model's, and, on a
// mismatch, find the first step whose output differs (layer, channel, pixel).
#pragma once

#include "stqn/accel/program.hpp"
#include "stqn/idx.hpp"
#include "stqn/package.hpp"
#include "stqn/sim/top.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace stqn::sim {

struct SimOptions {
  std::string config;
  int first = 0, count = 0;  // test images [first, first + count)
  int jobs = 1;              // models simulated side by side, one thread each
  std::string trace;         // FST waveform of the whole run (trace model, one job)
  std::string record;        // bus record of the whole run (one job)
};

// The first difference between the RTL and the golden model for one image.
struct Mismatch {
  int image = -1;
  int step = -1;            // program step; -1: not located (only the logits differ)
  std::string layer;        // package layer name
  int channel = -1, y = -1, x = -1;
  std::int32_t rtl = 0, golden = 0;
  std::string describe() const;
};

struct SimResult {
  int images = 0, correct = 0, golden_correct = 0, mismatches = 0, jobs = 1;
  std::vector<int> predictions;              // RTL class per image
  std::vector<std::uint64_t> step_cycles;    // per program step, summed over images
  std::uint64_t accel_cycles = 0;            // CYCLES summed over images
  std::uint64_t sim_cycles = 0;              // every simulated cycle (loads, bus, runs)
  std::uint64_t load_cycles = 0;             // package loads (once per job)
  double wall_seconds = 0;
  // CPU time of the jobs' threads, summed: on a shared machine, simulated cycles per CPU second
  // compare builds more steadily than per wall second (time slices taken by other processes
  // do not count).
  double cpu_seconds = 0;
  std::optional<Mismatch> first_mismatch;
};

// Golden logits of images [first, first + count), num_classes each (fast engine).
std::vector<std::int32_t> golden_logits(const Package& package, const Dataset& data, int first,
                                        int count);

// Runs the images on models of options.config. `golden` holds golden_logits() of the same
// images. `progress(done)` is called after every image (from worker threads, serialized).
SimResult simulate(const Package& package, const accel::Compiled& compiled, const Dataset& data,
                   const std::vector<std::int32_t>& golden, const SimOptions& options,
                   const std::function<void(int)>& progress = {});

// Reruns image `image` on a fresh model with program prefixes of 1, 2, ... steps and compares
// each step's output read back from the activation banks (or the logits) with the golden
// model's layer output. Returns the first difference (step -1 if every step matches).
Mismatch mismatch_locate(const Package& package, const accel::Compiled& compiled,
                         const Dataset& data, int image, const std::string& config);

// The configuration's target clock (configs.json device.target_clock_mhz). Throws Error.
double target_clock_mhz(const std::string& config);

// The report: per-layer table and summary as text, and the JSON document of stqn-sim --json.
struct Report {
  std::string model, config;
  double clock_mhz = 0;
  int peak_macs_per_cycle = 0;
  nlohmann::json json(const accel::Compiled& compiled, const SimResult& r) const;
  std::string table(const Package& package, const accel::Compiled& compiled, const SimResult& r) const;
  std::string summary(const SimResult& r) const;
};

}  // namespace stqn::sim
