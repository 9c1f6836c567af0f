// stqn-sim end to end on the tiny configuration: a random package on a small generated data set
// runs on the Verilated stqn_top through the AXI4-Lite driver and matches the golden model; a
// golden model that differs from what the RTL runs is caught and located (layer, channel, pixel);
// the command line refuses a package that does not fit, writes JSON, waveforms and a bus record;
// and Icarus Verilog, replaying that record, reads back every value the Verilated model did.
#include "stqn/accel/program.hpp"
#include "stqn/fileio.hpp"
#include "stqn/idx.hpp"
#include "stqn/random_package.hpp"
#include "stqn/reference.hpp"
#include "stqn/sim/simulate.hpp"
#include "stqn_tb/harness.hpp"
#include "test_package.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>

namespace stqn::sim {
namespace {

namespace fs = std::filesystem;

constexpr int kSize = 8;      // image height and width of the generated data set
constexpr int kImages = 6;

// Each test works in its own directory, so that ctest -j can run them side by side.
fs::path test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(STQN_TEST_TMP) / info->name();
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string be32(std::uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// A t10k split of kImages random kSize x kSize images with random labels, as IDX files.
void dataset_write(const fs::path& dir, std::mt19937_64& rng) {
  std::string images = be32(kIdxImagesMagic) + be32(kImages) + be32(kSize) + be32(kSize);
  std::string labels = be32(kIdxLabelsMagic) + be32(kImages);
  for (int i = 0; i < kImages * kSize * kSize; ++i) images += char(rng() % 256);
  for (int i = 0; i < kImages; ++i) labels += char(rng() % kNumClasses);
  file_write_atomic(dir / "t10k-images-idx3-ubyte", images);
  file_write_atomic(dir / "t10k-labels-idx1-ubyte", labels);
}

struct CliResult {
  int status;
  std::string out, err;
};

CliResult cli_run(const fs::path& dir, const std::string& args) {
  const std::string cmd = std::string(STQN_SIM) + " " + args + " >" + (dir / "out").string() + " 2>" +
                          (dir / "err").string();
  const int raw = std::system(cmd.c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, file_read(dir / "out"), file_read(dir / "err")};
}

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  fs::path dir = test_dir();
  accel::Config config = accel::config_load("tiny");
  Package package;
  accel::Compiled compiled;
  Dataset data;

  void SetUp() override {
    fs::create_directories(dir / "data");
    dataset_write(dir / "data", rng);
    data = idx_load(dir / "data", "t10k");
    package = package_fitting(rng, config, kSize);
    compiled = accel::compile(package, config);
    package_save(package, dir / "package");
  }
};

TEST_F(Fixture, RandomPackageMatchesGoldenOnTwoJobs) {
  SimOptions opt;
  opt.config = "tiny";
  opt.count = kImages;
  opt.jobs = 2;
  const std::vector<std::int32_t> golden = golden_logits(package, data, 0, kImages);
  const SimResult r = simulate(package, compiled, data, golden, opt);
  EXPECT_EQ(r.mismatches, 0);
  EXPECT_EQ(r.jobs, 2);
  ASSERT_EQ(r.predictions.size(), std::size_t(kImages));
  for (int i = 0; i < kImages; ++i) {
    EXPECT_EQ(r.predictions[i], logits_argmax(golden.data() + std::size_t(i) * package.num_classes(),
                                              package.num_classes())) << "image " << i;
  }
  EXPECT_EQ(r.correct, r.golden_correct);
  std::uint64_t steps = 0;
  for (std::uint64_t c : r.step_cycles) {
    EXPECT_GT(c, 0u);
    steps += c;
  }
  EXPECT_LE(steps, r.accel_cycles);
  EXPECT_GT(r.sim_cycles, r.accel_cycles + r.load_cycles);

  // The comparison is value for value: one golden logit off by one is exactly one mismatch, on
  // that image.
  std::vector<std::int32_t> off = golden;
  const int image = kImages / 2;
  off[std::size_t(image) * package.num_classes() + 1] += 1;
  const SimResult bad = simulate(package, compiled, data, off, opt);
  EXPECT_EQ(bad.mismatches, 1);
  ASSERT_TRUE(bad.first_mismatch.has_value());
  EXPECT_EQ(bad.first_mismatch->image, image);
}

// The RTL runs the package as compiled; the golden model gets a copy with one change, so the
// first difference must be found exactly there.
TEST_F(Fixture, LocatesTheFirstDifferingLayerChannelAndPixel) {
  Package changed = package;
  const Tensor input = input_from_pixels(package, data.image(0), kSize, kSize);
  const std::vector<Tensor> outputs = reference_forward(package, input);
  // Layer 0's channel 0: every threshold beyond reach, so every code becomes the lowest one (or,
  // if it already is everywhere, the highest one). Step 0 writes layer 0's output, or the output
  // of the pool fused into it: the first difference is where that output changes.
  Layer& first = changed.layers[0];
  const std::size_t levels = std::size_t(first.out_act.num_thresholds());
  std::int32_t forced = first.out_act.range().lo, theta = std::numeric_limits<std::int32_t>::max();
  const Tensor& out0 = outputs[0];
  if (std::all_of(out0.data.begin(), out0.data.begin() + out0.shape.h * out0.shape.w,
                  [&](std::int32_t v) { return v == forced; })) {
    forced = first.out_act.range().hi, theta = std::numeric_limits<std::int32_t>::min();
  }
  for (std::size_t l = 0; l < levels; ++l) first.thresholds[l] = theta;
  const accel::Step& step0 = compiled.steps[0];
  const Tensor& want = outputs[std::size_t(step0.layer)];
  const Tensor changed_want = reference_forward(changed, input)[std::size_t(step0.layer)];
  int y = -1, x = -1;
  for (int py = 0; py < want.shape.h && y < 0; ++py)
    for (int px = 0; px < want.shape.w && y < 0; ++px)
      if (want.at(0, py, px) != changed_want.at(0, py, px)) y = py, x = px;
  ASSERT_GE(y, 0) << "the change does not show in step 0's output";
  const Mismatch m = mismatch_locate(changed, compiled, data, 0, "tiny");
  EXPECT_EQ(m.step, 0);
  EXPECT_EQ(m.layer, step0.name);
  EXPECT_EQ(m.channel, 0);
  EXPECT_EQ(m.y, y);
  EXPECT_EQ(m.x, x);
  EXPECT_EQ(m.rtl, want.at(0, y, x));
  EXPECT_EQ(m.golden, changed_want.at(0, y, x));

  // A changed logit bias: every step but the last matches, the logits name the class.
  Package biased = package;
  biased.layers.back().bias[1] += 1;
  const Mismatch b = mismatch_locate(biased, compiled, data, 0, "tiny");
  EXPECT_EQ(b.step, static_cast<int>(compiled.steps.size()) - 1);
  EXPECT_EQ(b.channel, 1);
  EXPECT_EQ(b.golden, b.rtl + 1);
  EXPECT_NE(b.describe().find("class 1"), std::string::npos) << b.describe();
}

TEST_F(Fixture, CommandLineWritesJsonAndRefusesWhatDoesNotFit) {
  const fs::path json = dir / "sim.json";
  const std::string common = "--model " + (dir / "package").string() + " --data " + (dir / "data").string();
  const CliResult ok = cli_run(dir, common + " --config tiny --json " + json.string());
  ASSERT_EQ(ok.status, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("0 mismatches"), std::string::npos) << ok.out;
  const auto doc = nlohmann::json::parse(file_read(json));
  for (const char* key : {"images", "correct", "accuracy", "mismatches", "cycles_per_image", "utilization",
                          "clock_mhz", "images_per_s", "layers"}) {
    EXPECT_TRUE(doc.contains(key)) << key;
  }
  EXPECT_EQ(doc["images"], kImages);
  EXPECT_EQ(doc["mismatches"], 0);
  EXPECT_EQ(doc["clock_mhz"].get<double>(), target_clock_mhz("tiny"));
  EXPECT_EQ(doc["layers"].size(), compiled.steps.size());
  // Derived figures follow their definitions (README): images/s at the clock from cycles/image,
  // utilization from the layers' MACs over cycles times the peak.
  const double cpi = doc["cycles_per_image"].get<double>();
  ASSERT_GT(cpi, 0);
  EXPECT_DOUBLE_EQ(doc["images_per_s"].get<double>(), target_clock_mhz("tiny") * 1e6 / cpi);
  double macs = 0;
  for (const auto& layer : doc["layers"]) macs += layer["macs"].get<double>();
  EXPECT_DOUBLE_EQ(doc["utilization"].get<double>(), macs / (cpi * config.macs_per_cycle()));
  // The simulation's own speed per CPU second: the jobs' threads used some CPU time, and the rate
  // is the simulated cycles over it.
  const auto& sim = doc["simulation"];
  ASSERT_GT(sim["cpu_s"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(sim["cycles_per_cpu_s"].get<double>(),
                   sim["cycles"].get<double>() / sim["cpu_s"].get<double>());

  // The reference topology does not fit tiny: refused before simulation, with the reasons and
  // the configurations that hold it.
  package_save(reference_topology_package(seed, {format::WeightKind::Ternary, 2}, {format::ActKind::Ternary, 2}),
               dir / "reference");
  const CliResult refused = cli_run(dir, "--model " + (dir / "reference").string() +
                                             " --config tiny --limit 1 --json " + (dir / "never.json").string());
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.err.find("does not fit configuration \"tiny\""), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("hold it"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(dir / "never.json"));

  const CliResult no_trace = cli_run(dir, common + " --config tiny --limit 1 --trace " + (dir / "t.fst").string());
  EXPECT_EQ(no_trace.status, 1);
  EXPECT_NE(no_trace.err.find("STQN_SIM_TRACE_CONFIGS"), std::string::npos) << no_trace.err;
}

TEST_F(Fixture, TraceWritesAWaveform) {
  const Package traced = package_fitting(rng, model_config("up5k"), kSize);  // the traced model
  package_save(traced, dir / "package");
  const fs::path fst = dir / "run.fst";
  const CliResult r = cli_run(dir, "--model " + (dir / "package").string() + " --data " +
                                       (dir / "data").string() + " --config up5k --limit 1 --trace " + fst.string());
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  ASSERT_TRUE(fs::exists(fst));
  EXPECT_GT(fs::file_size(fst), 1000u);
}

// The same work under Icarus Verilog: a recorded run on tiny, replayed by scripts/sim/replay_tb.v,
// ends on the same cycle and reads back every value the Verilated model read.
TEST_F(Fixture, IcarusReplayOfTheBusRecordReadsTheSameValues) {
  const fs::path record = dir / "record.txt", json = dir / "record.json";
  const CliResult r = cli_run(dir, "--model " + (dir / "package").string() + " --data " + (dir / "data").string() +
                                       " --config tiny --limit 1 --record " + record.string() + " --json " +
                                       json.string());
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const auto doc = nlohmann::json::parse(file_read(json));
  const std::uint64_t cycles = doc["simulation"]["cycles"];
  const std::string build = std::string(STQN_SCRIPTS) + "/sim/icarus_build.sh tiny " + (dir / "replay.vvp").string();
  ASSERT_EQ(std::system(build.c_str()), 0);
  const std::string replay = "vvp -n " + (dir / "replay.vvp").string() + " +record=" + record.string() + " >" +
                             (dir / "replay.txt").string();
  ASSERT_EQ(std::system(replay.c_str()), 0);
  const std::string out = file_read(dir / "replay.txt");
  EXPECT_NE(out.find("replay: done at cycle " + std::to_string(cycles) + ":"), std::string::npos) << out;
  EXPECT_NE(out.find(" 0 errors"), std::string::npos) << out;
}

}  // namespace
}  // namespace stqn::sim
