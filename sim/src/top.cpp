// Model lookup and the recording bus (see stqn/sim/top.hpp).
#include "stqn/sim/top.hpp"

#include "stqn/accel/config.hpp"
#include "stqn/error.hpp"
#include "stqn/fileio.hpp"

#include <fmt/format.h>

namespace stqn::sim {

namespace {
std::string models_list() {
  std::string built;
  for (const ModelInfo& m : models_built())
    built += fmt::format("{}{}{}", built.empty() ? "" : ", ", m.config, m.trace ? " (FST trace)" : "");
  return built;
}
}  // namespace

const ModelInfo& model_find(const std::string& config, bool trace) {
  for (const ModelInfo& m : models_built())
    if (m.config == config && m.trace == trace) return m;
  fail("--config", "no {}model of configuration \"{}\" in this build (built: {}); add it to "
       "STQN_SIM_{}CONFIGS in CMake", trace ? "waveform-tracing " : "", config, models_list(),
       trace ? "TRACE_" : "");
}

std::unique_ptr<Top> top_make(const std::string& config, bool trace) { return model_find(config, trace).make(); }

accel::Config model_config(const std::string& config) {
  const ModelInfo& m = model_find(config);
  accel::Config c = accel::config_load(m.base);
  c.name = m.config;
  for (const auto& [name, value] : m.overrides) {
    if (name == "ACT_BANK_DEPTH") c.act_bank_depth = value;
    else if (name == "WGT_DEPTH") c.wgt_depth = value;
    else if (name == "THR_DEPTH") c.thr_depth = value;
    else fail("--config", "model {} overrides {}, which stqn-sim cannot apply", config, name);
  }
  return c;
}

RecordingBus::RecordingBus(accel::Bus& bus, const std::string& path) : bus_(bus), path_(path) {}

RecordingBus::~RecordingBus() {
  try {
    close();
  } catch (const std::exception& e) {
    fmt::print(stderr, "stqn-sim: error: {}\n", e.what());
  }
}

bool RecordingBus::write32(std::uint32_t address, std::uint32_t data) {
  text_ += fmt::format("{} {:08x} {:08x}\n", kRecordWrite, address, data);
  return bus_.write32(address, data);
}

bool RecordingBus::read32(std::uint32_t address, std::uint32_t& data) {
  const bool ok = bus_.read32(address, data);
  text_ += fmt::format("{} {:08x} {:08x}\n", kRecordRead, address, data);
  return ok;
}

void RecordingBus::wait(std::uint64_t cycles) {
  text_ += fmt::format("{} {:08x} 0\n", kRecordIdle, cycles);
  bus_.wait(cycles);
}

void RecordingBus::close() {
  if (closed_) return;
  closed_ = true;
  file_write_atomic(path_, text_);
}

}  // namespace stqn::sim
