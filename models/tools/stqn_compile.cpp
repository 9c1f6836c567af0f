// stqn-compile: turns a model package into the accelerator's memory images for a named
// configuration (program, weights, thresholds as $readmemh files, plus layout.json).
#include "stqn/accel/program.hpp"
#include "stqn/error.hpp"
#include "stqn/package.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

int main(int argc, char** argv) {
  CLI::App app{"stqn-compile: a model package -> accelerator program and memory images"};
  std::string model, config_name, out, configs = stqn::accel::configs_default_path().string();
  app.add_option("--model", model, "model package directory")->required();
  app.add_option("--config", config_name, "named configuration (rtl/configs/configs.json)")->required();
  app.add_option("--out", out, "output directory")->required();
  app.add_option("--configs", configs, "configurations file")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    const stqn::Package package = stqn::package_load(model);
    const stqn::accel::Config config = stqn::accel::config_load(config_name, configs);
    const stqn::accel::Compiled compiled = stqn::accel::compile(package, config, configs);
    stqn::accel::compiled_write(compiled, out);
    std::int64_t beats = 0;
    for (const auto& s : compiled.steps) beats += s.beats;
    fmt::print("stqn-compile: {} on {}: {} descriptors, {} weight words, {} threshold words, {} array beats -> {}\n",
               package.name, config.name, compiled.steps.size(), compiled.weights.words.size(),
               compiled.thresholds.words.size(), beats, out);
  } catch (const stqn::Error& e) {
    std::fprintf(stderr, "stqn-compile: %s\n", e.what());
    return 1;
  }
  return 0;
}
