// The TLM-2.0 model end to end: a SystemC platform (clock, reset, StqnTlmTarget around the
// Verilated stqn_top, StqnTlmHost running the host driver) loads a random package that fits the
// configuration, runs a few random images through TLM transactions, and checks that every
// image's logits and class equal the golden model's, value for value. Exit status 0 on success.
#include STQN_SIM_HEADER

#include "stqn/accel/program.hpp"
#include "stqn/reference.hpp"
#include "stqn/sim/stqn_tlm_target.hpp"
#include "stqn_tlm_host.hpp"
#include "test_package.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <random>

namespace {

constexpr int kImages = 3;
constexpr int kResetCycles = 4;

std::uint64_t seed_pick() {
  if (const char* env = std::getenv("STQN_SEED"); env != nullptr && *env != '\0') {
    return std::strtoull(env, nullptr, 0);
  }
  return (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
}

}  // namespace

int sc_main(int, char**) {
  const std::uint64_t seed = seed_pick();
  fmt::print("tlm_test: seed {} (replay with STQN_SEED={})\n", seed, seed);
  std::mt19937_64 rng(seed);
  try {
    const stqn::accel::Config config = stqn::accel::config_load(STQN_SIM_CONFIG);
    const stqn::Package package = stqn::sim::package_fitting(rng, config);
    const stqn::accel::Compiled compiled = stqn::accel::compile(package, config);
    std::vector<stqn::Tensor> inputs;
    for (int i = 0; i < kImages; ++i) {
      stqn::Tensor t(package.input_shape);
      for (auto& v : t.data) v = static_cast<std::int32_t>(rng() % 256);
      inputs.push_back(t);
    }

    const sc_core::sc_time period(10, sc_core::SC_NS);
    sc_core::sc_clock clk("clk", period);
    sc_core::sc_signal<bool> rst_n("rst_n", false), busy("busy"), done("done"), error("error");
    stqn::sim::StqnTlmTarget<STQN_SIM_MODEL> accelerator("stqn");
    accelerator.clk_i(clk);
    accelerator.rst_ni(rst_n);
    accelerator.busy_o(busy);
    accelerator.done_o(done);
    accelerator.error_o(error);
    stqn::sim::StqnTlmHost host("host", compiled, inputs, period);
    host.socket.bind(accelerator.socket);
    host.rst_ni(rst_n);

    sc_core::sc_start(period * kResetCycles);
    rst_n.write(true);
    sc_core::sc_start();

    int failures = 0;
    if (!host.error().empty()) {
      fmt::print("FAIL host: {}\n", host.error());
      return 1;
    }
    if (host.results().size() != inputs.size()) {
      fmt::print("FAIL {} of {} images ran\n", host.results().size(), inputs.size());
      return 1;
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const stqn::accel::RunResult& r = host.results()[i];
      const stqn::Tensor golden = stqn::reference_forward(package, inputs[i]).back();
      const int golden_class = stqn::logits_argmax(golden.data.data(), package.num_classes());
      if (!r.done || r.error || r.timed_out) {
        fmt::print("FAIL image {}: done {} error {} ({}) timed out {}\n", i, r.done, r.error,
                   stqn::accel::error_code_name(r.error_code), r.timed_out);
        ++failures;
        continue;
      }
      if (r.logits != golden.data || r.predicted != golden_class) {
        fmt::print("FAIL image {}: TLM logits [{}] class {}, golden [{}] class {}\n", i,
                   fmt::join(r.logits, ", "), r.predicted, fmt::join(golden.data, ", "), golden_class);
        ++failures;
      }
    }
    fmt::print("tlm_test: {} ({} steps, {} classes) on {}: {} images, {} equal the golden model; "
               "{} TLM transactions, {} simulated\n",
               package.name, compiled.steps.size(), package.num_classes(), config.name, inputs.size(),
               inputs.size() - failures, host.transactions(), sc_core::sc_time_stamp().to_string());
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print("FAIL {}\n", e.what());
    return 1;
  }
}
