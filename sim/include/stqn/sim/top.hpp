// The simulated accelerator as the host driver sees it: stqn_top's AXI4-Lite pins behind the
// driver's 32-bit bus interface, plus what a simulator adds (a cycle count, reset, waveforms).
// Each Verilated configuration is built into its own model (sim/CMakeLists.txt); top_make()
// picks one by configuration name.
#pragma once

#include "stqn/accel/driver.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace stqn::sim {

class Top : public accel::Bus {
 public:
  // Clock cycles simulated so far (bus transfers, waits and reset).
  virtual std::uint64_t cycles() const = 0;
  // Holds rst_ni low for kResetCycles cycles.
  virtual void reset() = 0;
  // Starts an FST waveform of every following cycle (trace models only; throws Error otherwise).
  virtual void trace_open(const std::string& path) = 0;
  virtual void trace_close() = 0;
};

inline constexpr int kResetCycles = 4;

// The models this build contains. A model is a named configuration of rtl/configs/configs.json,
// or a variant of one with some parameters overridden (sim/CMakeLists.txt, STQN_SIM_VARIANTS:
// e.g. "up5k-big=up5k,ACT_BANK_DEPTH=2048"; none by default).
struct ModelInfo {
  std::string config;  // the name stqn-sim --config takes
  std::string base;    // the configuration in configs.json
  std::vector<std::pair<std::string, int>> overrides;
  bool trace = false;  // FST waveforms
  std::unique_ptr<Top> (*make)() = nullptr;
};
const std::vector<ModelInfo>& models_built();

// The model of `config`; throws Error naming the models this build has if there is none.
const ModelInfo& model_find(const std::string& config, bool trace = false);

// The configuration the model runs (its base configuration with the overrides applied).
accel::Config model_config(const std::string& config);

// A new model of configuration `config` (held in reset for kResetCycles, then released), with
// FST tracing if `trace`.
std::unique_ptr<Top> top_make(const std::string& config, bool trace = false);

// Records every access of a bus to a text file while passing it on, for a replay of the same
// work in another simulator (scripts/sim/replay_tb.v): one line per access, in hex,
//   1 <address> <data>     write
//   2 <address> <data>     read, and the data it returned
//   3 <cycles> 0           idle cycles
class RecordingBus : public accel::Bus {
 public:
  RecordingBus(accel::Bus& bus, const std::string& path);
  ~RecordingBus() override;
  bool write32(std::uint32_t address, std::uint32_t data) override;
  bool read32(std::uint32_t address, std::uint32_t& data) override;
  void wait(std::uint64_t cycles) override;
  // Writes the file (atomically). Called by the destructor if not called before.
  void close();

 private:
  accel::Bus& bus_;
  std::string path_, text_;
  bool closed_ = false;
};

inline constexpr int kRecordWrite = 1, kRecordRead = 2, kRecordIdle = 3;

}  // namespace stqn::sim
