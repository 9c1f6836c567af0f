// stqn-sim: runs a model package on the Verilated accelerator (stqn_top) through its AXI4-Lite
// host interface, compares every image's logits with the golden model and reports cycles,
// utilization, throughput at the configuration's clock and the simulation's own speed.
#include "stqn/accel/config.hpp"
#include "stqn/accel/program.hpp"
#include "stqn/error.hpp"
#include "stqn/fileio.hpp"
#include "stqn/idx.hpp"
#include "stqn/package.hpp"
#include "stqn/progress.hpp"
#include "stqn/sim/simulate.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <thread>

namespace {

constexpr int kMaxCount = 1 << 30;  // bound for counts and indices given on the command line

struct Options {
  std::string model, config = "up5k", data = STQN_DEFAULT_DATA_DIR, split = "t10k", json_out;
  std::string trace, record;
  int limit = 0, offset = 0, jobs = 0;
  double clock_mhz = 0;
  bool locate = true;
};

void output_check(const std::string& path) {
  if (path.empty()) return;
  const std::filesystem::path parent = std::filesystem::absolute(path).parent_path();
  if (!std::filesystem::is_directory(parent)) {
    stqn::fail(path, "cannot write here: directory {} does not exist", parent.string());
  }
}

int run(const Options& opt) {
  for (const std::string& out : {opt.json_out, opt.trace, opt.record}) output_check(out);
  const stqn::Package package = stqn::package_load(opt.model);
  const stqn::accel::Config config = stqn::sim::model_config(opt.config);
  // Refuses a package that does not fit, before any simulation, naming what does not fit and
  // the configurations that would hold it.
  const stqn::accel::Compiled compiled = stqn::accel::compile(package, config);
  const double clock_mhz = opt.clock_mhz > 0 ? opt.clock_mhz : stqn::sim::target_clock_mhz(opt.config);
  const stqn::Dataset data = stqn::idx_load(opt.data, opt.split);
  if (opt.offset >= data.count) {
    stqn::fail("--offset", "image {} does not exist (the split has {})", opt.offset, data.count);
  }
  stqn::sim::SimOptions so;
  so.config = opt.config;
  so.first = opt.offset;
  so.count = opt.limit > 0 ? std::min(opt.limit, data.count - opt.offset) : data.count - opt.offset;
  so.jobs = opt.jobs > 0 ? opt.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  so.trace = opt.trace;
  so.record = opt.record;

  const std::vector<std::int32_t> golden = stqn::sim::golden_logits(package, data, so.first, so.count);
  stqn::Progress progress(fmt::format("stqn-sim ({})", opt.config), so.count);
  const stqn::sim::SimResult result =
      stqn::sim::simulate(package, compiled, data, golden, so, [&](int done) { progress.update(done); });
  progress.finish();

  stqn::sim::Report report;
  report.model = package.name;
  report.config = opt.config;
  report.clock_mhz = clock_mhz;
  report.peak_macs_per_cycle = config.macs_per_cycle();
  stqn::sim::SimResult shown = result;
  if (result.first_mismatch && opt.locate) {
    fmt::print("stqn-sim: logits differ on {} image(s); rerunning image {} step by step against the golden model\n",
               result.mismatches, result.first_mismatch->image);
    shown.first_mismatch =
        stqn::sim::mismatch_locate(package, compiled, data, result.first_mismatch->image, opt.config);
  }
  fmt::print("{}\n{}", report.table(package, compiled, shown), report.summary(shown));
  if (shown.first_mismatch) {
    fmt::print("MISMATCH {}\n", shown.first_mismatch->describe());
    fmt::print("  waveform of that image: stqn-sim --model {} --config {} --offset {} --limit 1 --trace mismatch.fst\n",
               opt.model, opt.config, shown.first_mismatch->image);
  }
  if (!opt.json_out.empty()) {
    nlohmann::json doc = report.json(compiled, shown);
    doc["model_path"] = opt.model;
    const stqn::sim::ModelInfo& info = stqn::sim::model_find(opt.config);
    doc["base_config"] = info.base;  // configs.json entry and the parameters this model overrides
    doc["overrides"] = nlohmann::json::object();
    for (const auto& [name, value] : info.overrides) doc["overrides"][name] = value;
    doc["first_image"] = so.first;
    stqn::file_write_atomic(opt.json_out, doc.dump(2) + "\n");
  }
  return result.mismatches == 0 ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stqn-sim: run a model package on the Verilated accelerator, bit-exactly checked"};
  Options opt;
  app.add_option("--model", opt.model, "model package directory")->required();
  app.add_option("--config", opt.config,
                 "accelerator configuration (rtl/configs/configs.json, or a variant built in sim/)")
      ->capture_default_str();
  app.add_option("--data", opt.data, "directory of IDX files")->capture_default_str();
  app.add_option("--split", opt.split, "data split: t10k or train")
      ->check(CLI::IsMember({"t10k", "train"}))
      ->capture_default_str();
  app.add_option("--limit", opt.limit, "run only N images (0: all)")->check(CLI::Range(0, kMaxCount));
  app.add_option("--offset", opt.offset, "index of the first image")->check(CLI::Range(0, kMaxCount));
  app.add_option("--clock-mhz", opt.clock_mhz,
                 "clock for images/s (default: the configuration's target clock)")
      ->check(CLI::Range(0.001, 10000.0));
  app.add_option("--jobs", opt.jobs, "models simulated side by side (0: one per CPU)")
      ->check(CLI::Range(0, 256));
  app.add_option("--trace", opt.trace, "write an FST waveform of the whole run (one job; use with --limit 1)");
  app.add_option("--record", opt.record,
                 "write every host bus access to this file (one job), for scripts/sim/replay_tb.v");
  app.add_option("--json", opt.json_out, "write results as JSON to this file");
  app.add_flag("!--no-locate", opt.locate, "on a mismatch, do not rerun the image step by step");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(opt);
  } catch (const std::exception& e) {
    fmt::print(stderr, "stqn-sim: error: {}\n", e.what());
    return 1;
  }
}
