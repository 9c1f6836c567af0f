// stqn_top: the whole accelerator through its AXI4-Lite slave only, driven by the host driver of
// the accelerator library (stqn::accel::Driver) over an AXI master with random stalls and
// back-pressure: the shipped reference package (its stem in the int8 mode) on the up5k
// configuration, layer by layer (program prefixes re-run, each step's output read back), and
// random packages (int8 and im2col'd stems) bit-exact against the golden model (a mismatch is
// located by re-running program prefixes and naming the first differing layer, channel and
// pixel), the identity and configuration registers against the driver's check, every error code of a malformed program (no hang, nothing written to the
// banks), reset in the middle of a run, and bus errors (SLVERR, never a hang).
#include STQN_TB_HEADER

#include "stqn/accel/driver.hpp"
#include "stqn/accel/regs.hpp"
#include "stqn/error.hpp"
#include "stqn/fileio.hpp"
#include "stqn/idx.hpp"
#include "stqn/random_package.hpp"
#include "stqn/reference.hpp"
#include "stqn_tb/axil.hpp"
#include "stqn_tb/harness.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

using Dut = STQN_TB_MODEL;
namespace accel = stqn::accel;
namespace regs = stqn::accel::regs;
using accel::ErrorCode;
using accel::Opcode;

// The configuration this binary's RTL was verilated with (its parameters).
accel::Config point_config() {
  accel::Config c;
  c.name = STQN_TB_POINT;
  c.lanes = STQN_P_LANES, c.rows = STQN_P_ROWS, c.cols = STQN_P_COLS;
  c.acc_w = STQN_P_ACC_W, c.nth = STQN_P_NTH;
  c.act_bank_depth = STQN_P_ACT_BANK_DEPTH, c.wgt_depth = STQN_P_WGT_DEPTH;
  c.thr_depth = STQN_P_THR_DEPTH, c.prog_depth = accel::kDefaultProgDepth;
  c.line_depth = STQN_P_LINE_DEPTH;
  c.wgt_spram = STQN_P_WGT_SPRAM != 0;
  c.thr_units = STQN_P_THR_UNITS;
  return c;
}

// Pools as the write-back fuses them: 2 x 2 windows, stride 2.
void fusable_pools(stqn::RandomPackageOptions& opt) {
  opt.pool_kernels = {2};
  opt.pool_strides = {2};
}

// A malformed first descriptor and the error code it must stop with.
struct MalformedCase {
  const char* name;
  ErrorCode code;
  std::function<void(accel::Descriptor&, const accel::Config&)> mutate;
};

// A small conv -> (maxpool) -> (gap) -> logits package every configuration holds; its stem has
// `first` weights (ternary: im2col'd; int: the int8 mode).
stqn::Package small_package(std::uint64_t seed, int lanes,
                            stqn::WeightType first = {stqn::format::WeightKind::Ternary, 2}) {
  stqn::RandomPackageOptions opt;
  opt.min_size = 6, opt.max_size = 6, opt.max_channels = lanes, opt.max_conv_layers = 1;
  opt.kernels = {3}, opt.strides = {1}, opt.hidden_dense_probability = 0.0;
  fusable_pools(opt);
  opt.first_weight_types = {first};
  opt.act_types = {{stqn::format::ActKind::Ternary, 2}};
  return stqn::random_package(seed, opt);
}

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};
  stqn_tb::AxilMaster<Dut> bus{h, rng};
  accel::Config config = point_config();
  accel::Driver driver{bus, config};

  void SetUp() override { h.reset(); }
  void TearDown() override {
    EXPECT_EQ(bus.timeouts(), 0) << "an AXI access was never answered";
    EXPECT_EQ(bus.protocol_errors(), 0);
    EXPECT_FALSE(h.assertion_failed()) << "an RTL assertion fired";
  }

  // A small package (from the seed) that this configuration holds.
  stqn::Package small_fitting_package(stqn::WeightType first = {stqn::format::WeightKind::Ternary, 2}) const {
    for (std::uint64_t s = seed;; ++s) {
      stqn::Package p = small_package(s, config.lanes, first);
      if (accel::fit_problems(p, config).empty()) return p;
    }
  }

  stqn::Tensor random_image(const stqn::Package& p) {  // uint8 pixels
    stqn::Tensor t(p.input_shape);
    for (auto& v : t.data) v = static_cast<int>(rng() % 256);
    return t;
  }

  accel::Compiled compile(const stqn::Package& p) {
    return accel::compile(p, config, accel::configs_default_path());
  }

  // Runs the first `length` descriptors on `input`; the run must finish (done or error).
  accel::RunResult run(const accel::Compiled& c, const stqn::Tensor& input, int length,
                       std::uint64_t max_cycles) {
    driver.write(regs::kProgramLen, static_cast<std::uint32_t>(length));
    driver.write_input(c, input);
    driver.start();
    accel::RunResult r = driver.wait_result(c, max_cycles);
    EXPECT_FALSE(r.timed_out) << "the run did not finish in " << max_cycles << " cycles";
    return r;
  }

  static std::uint64_t cycle_budget(const accel::Compiled& c) {
    std::uint64_t b = 100000;
    for (const auto& s : c.steps) b += 4 * static_cast<std::uint64_t>(s.beats) + 50 * s.out.h * s.out.w * 64;
    return b;
  }

  // Re-runs prefixes of the program and compares each step's output with the golden layer
  // output: names the first step, channel and pixel that differ.
  void expect_layers_golden(const stqn::Package& p, const accel::Compiled& c, const stqn::Tensor& input) {
    const std::vector<stqn::Tensor> golden = stqn::reference_forward(p, input);
    for (std::size_t i = 0; i < c.steps.size(); ++i) {
      const accel::Step& s = c.steps[i];
      if (s.desc.op == Opcode::Logits) break;
      const accel::RunResult r = run(c, input, static_cast<int>(i + 1), cycle_budget(c));
      ASSERT_TRUE(r.done && !r.error) << "prefix of " << i + 1 << " steps";
      const stqn::Tensor got = driver.read_output(s);
      const stqn::Tensor& want = golden[s.layer];
      ASSERT_EQ(got.shape, want.shape) << s.name;
      for (int ch = 0; ch < want.shape.c; ++ch)
        for (int y = 0; y < want.shape.h; ++y)
          for (int x = 0; x < want.shape.w; ++x)
            ASSERT_EQ(got.at(ch, y, x), want.at(ch, y, x))
                << "first difference: step " << i << " (layer " << s.layer << ", " << s.name
                << ") channel " << ch << " pixel (" << y << ", " << x << ")";
    }
  }

  // Each case mutates the first descriptor of `c`'s program: the run stops with the case's error
  // code at descriptor 0, and no bank word changes.
  void expect_malformed(const accel::Compiled& c, const std::vector<MalformedCase>& cases) {
    const int act_depth = config.act_bank_depth;
    for (const MalformedCase& mc : cases) {
      SCOPED_TRACE(mc.name);
      h.reset();
      bus.idle();
      // The first descriptor (the conv) is the malformed one; the rest is the valid program.
      accel::Descriptor d = c.steps[0].desc;
      mc.mutate(d, config);
      std::vector<stqn::format::Word> program = c.program();
      const auto words = d.encode();
      std::copy(words.begin(), words.end(), program.begin());
      driver.load_program(program, static_cast<int>(c.steps.size()));
      // Fill the banks with random words; none may change.
      std::vector<std::vector<std::vector<stqn::format::Word>>> before(config.cols);
      for (int b = 0; b < config.cols; ++b)
        for (int a = 0; a < act_depth; a += 1 + static_cast<int>(rng() % 3)) {
          std::vector<stqn::format::Word> w(accel::word_slices(config.act_word_bits()));
          for (auto& v : w) v = static_cast<stqn::format::Word>(rng());
          if (config.act_word_bits() < 32) w[0] &= (1u << config.act_word_bits()) - 1;
          driver.write_act_word(b, a, w);
          before[b].resize(a + 1);
          before[b][a] = w;
        }
      driver.start();
      const accel::RunResult r = driver.wait_result(c, 5000, 8);
      ASSERT_FALSE(r.timed_out);
      EXPECT_TRUE(r.error);
      EXPECT_FALSE(r.done);
      EXPECT_EQ(static_cast<int>(r.error_code), static_cast<int>(mc.code))
          << "got " << accel::error_code_name(r.error_code);
      EXPECT_EQ(r.error_pc, 0);
      for (int b = 0; b < config.cols; ++b)
        for (std::size_t a = 0; a < before[b].size(); ++a)
          if (!before[b][a].empty()) {
            ASSERT_EQ(driver.read_act_word(b, static_cast<int>(a)), before[b][a])
                << "bank " << b << " word " << a << " changed";
          }
      if (HasFailure()) return;
    }
  }

  // One image through the whole program: logits and class bit-exact against the golden model.
  void expect_golden(const stqn::Package& p, const accel::Compiled& c, const stqn::Tensor& input,
                     const char* what) {
    const std::vector<stqn::Tensor> golden = stqn::reference_forward(p, input);
    const stqn::Tensor& want = golden.back();
    const accel::RunResult r = run(c, input, static_cast<int>(c.steps.size()), cycle_budget(c));
    ASSERT_TRUE(r.done) << what;
    ASSERT_FALSE(r.error) << what << ": " << accel::error_code_name(r.error_code) << " at step " << r.error_pc;
    bool same = static_cast<int>(r.logits.size()) == want.shape.c;
    for (std::size_t o = 0; same && o < r.logits.size(); ++o) same = r.logits[o] == want.data[o];
    if (!same) {
      for (std::size_t o = 0; o < r.logits.size(); ++o)
        EXPECT_EQ(r.logits[o], want.data[o]) << what << ": logit " << o;
      expect_layers_golden(p, c, input);
      return;
    }
    EXPECT_EQ(r.predicted, stqn::logits_argmax(want.data.data(), want.shape.c)) << what << ": CLASS";
    std::uint64_t sum = 0;
    for (std::uint32_t s : r.step_cycles) {
      EXPECT_GT(s, 0u);
      sum += s;
    }
    EXPECT_EQ(sum, r.cycles) << "per-step cycles (argmax included) add up to the run's cycles";
    EXPECT_EQ(r.error_pc, 0) << "ERROR_PC reads 0 after a run without error";
  }
};

// VERSION and CONFIG2 as docs/registers.md gives them, and the driver's check refuses a
// configuration that differs in any CONFIG field, LINE_DEPTH included.
TEST_F(Fixture, IdentityAndConfigurationRegisters) {
  driver.check_identity();
  EXPECT_EQ(driver.read(regs::kStatus), 0u);
  EXPECT_EQ(driver.read(regs::kVersion), 0x0001'0004u) << "map version 4, package format 1";
  int line_log2 = 0;
  while ((1 << line_log2) < config.line_depth) ++line_log2;
  EXPECT_EQ(driver.read(regs::kConfig2),
            std::uint32_t(config.nth) | std::uint32_t(config.wgt_spram) << 8 | std::uint32_t(line_log2) << 16);
  const std::vector<std::pair<const char*, std::function<void(accel::Config&)>>> others = {
      {"LINE_DEPTH", [](accel::Config& k) { k.line_depth *= 2; }},
      {"ACT_BANK_DEPTH", [](accel::Config& k) { k.act_bank_depth *= 2; }},
      {"NTH", [](accel::Config& k) { k.nth *= 2; }},
      {"LANES", [](accel::Config& k) { k.lanes *= 2; }},
  };
  for (const auto& [field, change] : others) {
    accel::Config other = config;
    change(other);
    accel::Driver mismatched{bus, other};
    EXPECT_THROW(mismatched.check_identity(), stqn::Error) << "a configuration with another " << field;
  }
}

// The shipped reference package, one Fashion-MNIST test image, through AXI only: logits and class,
// then every layer's output (program prefixes). It must fit the up5k and ecp5 configurations (its
// stem in the int8 mode); a configuration too small for it (tiny) skips.
TEST_F(Fixture, ReferencePackageImageMatchesGolden) {
  const stqn::Package p = stqn::package_load(STQN_REFERENCE_PACKAGE);
  const auto problems = accel::fit_problems(p, config);
  if (std::string(STQN_TB_POINT) == "up5k" || std::string(STQN_TB_POINT) == "ecp5") {
    ASSERT_TRUE(problems.empty()) << "the reference package does not fit " STQN_TB_POINT ": " << problems.front();
  } else if (!problems.empty()) {
    GTEST_SKIP() << "the reference package does not fit: " << problems.front();
  }
  const accel::Compiled c = compile(p);
  ASSERT_TRUE(c.steps.at(0).desc.int8) << "the stem runs in the int8 mode";
  const stqn::Dataset data = stqn::idx_load(STQN_DATA_DIR, "t10k");
  const int index = static_cast<int>(seed % static_cast<std::uint64_t>(data.count));
  std::printf("[ image    ] t10k #%d (label %d)\n", index, int(data.labels[index]));
  const stqn::Tensor input = stqn::input_from_pixels(p, data.image(index), 28, 28);
  driver.check_identity();
  driver.load(c);
  expect_golden(p, c, input, "reference package");
  if (HasFailure()) return;
  // The cycle table (make bench-rtl): per descriptor from the step-cycle registers, which count
  // the controller's fetch and checks too (those that do not overlap a layer).
  const std::uint32_t cycles = driver.read(regs::kCycles);
  const std::vector<std::uint32_t> step_cycles = driver.read_step_cycles(c.steps.size());
  const int peak = config.macs_per_cycle();
  nlohmann::json steps = nlohmann::json::array();
  std::printf("[ bench    ] %-8s %10s %10s %12s %8s\n", "step", "cycles", "beats", "MACs", "util");
  for (std::size_t i = 0; i < c.steps.size(); ++i) {
    const accel::Step& s = c.steps[i];
    const std::uint32_t n = step_cycles[i];
    const double util = double(s.macs) / (double(n) * peak);
    std::printf("[ bench    ] %-8s %10u %10lld %12lld %7.1f%%\n", s.name.c_str(), n,
                static_cast<long long>(s.beats), static_cast<long long>(s.macs), 100.0 * util);
    steps.push_back({{"layer", s.name}, {"cycles", n}, {"beats", s.beats}, {"macs", s.macs},
                     {"utilization", util}});
  }
  std::printf("[ bench    ] whole image: %u cycles (start to done, through AXI4-Lite)\n", cycles);
  // The stem's 9-beat groups are no longer than the write-back's reads plus one (8 reads on up5k),
  // so the array stays busy only if the write-back takes each group in the cycle after its last
  // read: one cycle later would add a cycle per group (3,136 on up5k, 448 on ecp5). The bound:
  // the beats, the controller's fetch and check (at most 420 cycles) and the pipeline's fill.
  EXPECT_LE(std::int64_t{step_cycles.at(0)}, c.steps.at(0).beats + 500)
      << "the int8 stem lost cycles between groups";
  if (const char* out = std::getenv("STQN_BENCH_OUT"); out != nullptr && *out != '\0') {
    const nlohmann::json doc = {{"point", STQN_TB_POINT},
                                {"array", fmt::format("{} lanes x {} rows x {} cols", config.lanes, config.rows, config.cols)},
                                {"act_bank_depth", config.act_bank_depth},
                                {"peak_macs_per_cycle", peak},
                                {"package", p.name},
                                {"image", index},
                                {"cycles", cycles},
                                {"layers", steps}};
    stqn::file_write_atomic(out, doc.dump(2) + "\n");
  }
  expect_layers_golden(p, c, input);
}

// Random packages from the generator, restricted to what the array runs (stride-1 convs, no
// hidden dense layer on a non-square map, 2 x 2 / 2 max-pools); packages that do not fit this
// configuration (e.g. a pool that follows no conv) are drawn again, until both kinds of stem ran:
// the int8 mode (int weights) and the im2col'd image (ternary weights).
TEST_F(Fixture, RandomPackagesMatchGolden) {
  stqn::RandomPackageOptions opt;
  opt.max_size = 10;
  opt.max_channels = 2 * config.lanes + 3;
  opt.max_conv_layers = 3;
  opt.strides = {1};
  opt.hidden_dense_probability = 0.0;
  fusable_pools(opt);
  int ran = 0, pools[3] = {}, int8_stems = 0;
  for (int attempt = 0; attempt < 300 && (ran < 3 || int8_stems == 0 || int8_stems == ran); ++attempt) {
    const std::uint64_t pseed = rng();
    const stqn::Package p = stqn::random_package(pseed, opt);
    if (!accel::fit_problems(p, config).empty()) continue;
    const accel::Compiled c = compile(p);
    const stqn::Tensor input = random_image(p);
    SCOPED_TRACE(testing::Message() << "package seed " << pseed << " (" << c.steps.size() << " steps)");
    driver.load(c);
    expect_golden(p, c, input, "random package");
    if (HasFailure()) return;
    ++ran;
    int8_stems += c.steps.at(0).desc.int8;
    EXPECT_EQ(c.steps.at(0).desc.int8, !c.input_im2col);
    for (const accel::Step& s : c.steps) ++pools[static_cast<int>(s.desc.pool)];
  }
  EXPECT_GT(ran, 0) << "no random package fitted";
  EXPECT_GT(int8_stems, 0) << "no int8 stem ran";
  EXPECT_LT(int8_stems, ran) << "no im2col'd stem ran";
  std::printf("[ stems    ] %d packages: %d int8 stems, %d im2col'd\n", ran, int8_stems, ran - int8_stems);
  std::printf("[ pools    ] %d packages: %d steps with a fused max-pool, %d with a fused sum-pool\n", ran,
              pools[static_cast<int>(accel::Pool::Max2)], pools[static_cast<int>(accel::Pool::Sum)]);
}

// ---- Malformed programs ---------------------------------------------------------------------------

TEST_F(Fixture, MalformedProgramsStopWithTheirErrorCode) {
  accel::Compiled c;
  const stqn::Package p = small_fitting_package();
  c = compile(p);
  ASSERT_GE(c.steps.size(), 2u);
  const int act_depth = config.act_bank_depth;
  const std::vector<MalformedCase> cases = {
      {"opcode 0", ErrorCode::Opcode, [](auto& d, auto&) { d.op = static_cast<Opcode>(0); }},
      {"opcode 9", ErrorCode::Opcode, [](auto& d, auto&) { d.op = static_cast<Opcode>(9); }},
      {"reserved bit", ErrorCode::Opcode, [](auto& d, auto&) { d.reserved = 1; }},
      {"int8 mode on the im2col'd stem (9 channels of 8 planes)", ErrorCode::Shape,
       [](auto& d, auto&) { d.int8 = true; }},
      {"pool field 3", ErrorCode::Opcode, [](auto& d, auto&) { d.pool = static_cast<accel::Pool>(3); }},
      {"sum-pool into ternary planes", ErrorCode::Shape, [](auto& d, auto&) {
         d.pool = accel::Pool::Sum;
         d.out_ternary = true, d.out_planes = 1;
       }},
      // Regions that start at the last word (every region holds at least one word) or beyond.
      {"input beyond the banks", ErrorCode::Region, [&](auto& d, auto&) { d.in_base = act_depth - 1; }},
      {"input base beyond 16 bits of banks", ErrorCode::Region, [](auto& d, auto&) { d.in_base = 0xffff; }},
      {"output beyond the banks", ErrorCode::Region, [&](auto& d, auto&) { d.out_base = act_depth; }},
      {"weights beyond WGT_DEPTH", ErrorCode::Region, [](auto& d, auto& k) { d.w_base = k.wgt_depth; }},
      {"thresholds beyond THR_DEPTH", ErrorCode::Region, [](auto& d, auto& k) { d.thr_base = k.thr_depth; }},
      {"weights end one word beyond", ErrorCode::Region, [](auto& d, auto& k) {
         const int words = (d.out_c + k.rows - 1) / k.rows * d.kernel * d.kernel *
                           ((d.in_c + k.lanes - 1) / k.lanes) * d.wplanes;
         d.w_base = k.wgt_depth - words + 1;
       }},
      {"output overlaps input", ErrorCode::Overlap, [](auto& d, auto&) { d.out_base = d.in_base; }},
      {"kernel 0", ErrorCode::Shape, [](auto& d, auto&) { d.kernel = 0; }},
      {"conv stride 2", ErrorCode::Shape, [](auto& d, auto&) { d.stride = 2; }},
      {"height 0", ErrorCode::Shape, [](auto& d, auto&) { d.in_h = 0; }},
      {"height beyond DIM_W", ErrorCode::Shape, [](auto& d, auto&) { d.in_h = 4096; }},
      {"9 input planes", ErrorCode::Shape, [](auto& d, auto&) { d.aplanes = 9; }},
      {"padding = kernel", ErrorCode::Shape, [](auto& d, auto&) { d.pad = d.kernel; }},
      {"output height inconsistent", ErrorCode::Shape, [](auto& d, auto&) { d.out_h += 1; }},
      {"0 thresholds", ErrorCode::Shape, [](auto& d, auto&) { d.levels = 0; }},
      {"accumulator bound", ErrorCode::Accumulator, [](auto& d, auto& k) {
         // The im2col'd stem (uint8 input planes) with 8 weight planes and a 5x5 kernel over
         // whole channel chunks: 25 * C * 255 * 255 >= 2^23 for C >= 6, regions unchanged.
         d.wplanes = 8, d.kernel = 5, d.pad = 2;
         d.in_c = (d.in_c + k.lanes - 1) / k.lanes * k.lanes;
       }},
  };
  expect_malformed(c, cases);
}

// The int8 stem mode's own checks through the bus, on a package whose stem runs in it: the packed
// input region (ceil(in_h / R) word rows), the fields the mode needs, its accumulator bound.
TEST_F(Fixture, MalformedInt8StemsStopWithTheirErrorCode) {
  const accel::Compiled c = compile(small_fitting_package({stqn::format::WeightKind::Int, 8}));
  ASSERT_TRUE(c.steps.at(0).desc.int8);
  const int act_depth = config.act_bank_depth, rows_per_word = accel::pack_rows(config.lanes);
  const std::vector<MalformedCase> cases = {
      {"packed input one word beyond the banks", ErrorCode::Region, [&](auto& d, auto& k) {
         const int words = (d.in_h + rows_per_word - 1) / rows_per_word * ((d.in_w + k.cols - 1) / k.cols);
         d.in_base = act_depth - words + 1;
       }},
      {"two input channels", ErrorCode::Shape, [](auto& d, auto&) { d.in_c = 2; }},
      {"two input planes", ErrorCode::Shape, [](auto& d, auto&) { d.aplanes = 2; }},
      {"two weight planes", ErrorCode::Shape, [](auto& d, auto&) { d.wplanes = 2; }},
      {"17x17 kernel: 289 * 128 * 255 >= 2^23 - 1", ErrorCode::Accumulator, [](auto& d, auto&) {
         d.kernel = 17, d.pad = 8;
         d.in_h = d.out_h, d.in_w = d.out_w;  // out = in + 16 - 17 + 1: regions as compiled or smaller
       }},
  };
  expect_malformed(c, cases);
}

TEST_F(Fixture, ErrorInALaterDescriptorNamesItsIndex) {
  const stqn::Package p = small_fitting_package();
  const accel::Compiled c = compile(p);
  std::vector<stqn::format::Word> program = c.program();
  const int bad = static_cast<int>(c.steps.size()) - 1;
  program[bad * accel::kDescriptorWords] |= 1u << 31;  // reserved bit of the last descriptor
  driver.load_program(program, static_cast<int>(c.steps.size()));
  stqn::Tensor input(p.input_shape);
  driver.write_input(c, input);
  driver.start();
  const accel::RunResult r = driver.wait_result(c, cycle_budget(c));
  ASSERT_FALSE(r.timed_out);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(static_cast<int>(r.error_code), static_cast<int>(ErrorCode::Opcode));
  EXPECT_EQ(r.error_pc, bad);
}

TEST_F(Fixture, ProgramLengthZeroOrBeyondTheMemory) {
  const accel::Compiled empty;
  for (std::uint32_t len : {0u, static_cast<std::uint32_t>(config.max_descriptors() + 1), 0xffffu}) {
    SCOPED_TRACE(len);
    driver.write(regs::kProgramLen, len);
    driver.start();
    const accel::RunResult r = driver.wait_result(empty, 100, 1);
    ASSERT_FALSE(r.timed_out);
    EXPECT_TRUE(r.error);
    EXPECT_EQ(static_cast<int>(r.error_code), static_cast<int>(ErrorCode::ProgramLength));
  }
  // A valid start clears the error.
  const stqn::Package p = small_fitting_package();
  const accel::Compiled c = compile(p);
  driver.load(c);
  const stqn::Tensor input = random_image(p);
  expect_golden(p, c, input, "after the errors");
}

// Reset (soft reset through CTRL, then the rst_ni pin) in the middle of a run, then a correct run.
TEST_F(Fixture, ResetMidRunThenCorrectRun) {
  const stqn::Package p = small_fitting_package();
  const accel::Compiled c = compile(p);
  driver.load(c);
  const stqn::Tensor input = random_image(p);
  for (int pin = 0; pin < 2; ++pin) {
    SCOPED_TRACE(pin ? "rst_ni pin" : "CTRL soft reset");
    driver.write_input(c, input);
    driver.start();
    bus.wait(50 + rng() % 400);
    EXPECT_NE(driver.read(regs::kStatus) & regs::kStatusBusy, 0u) << "should still be running";
    if (pin) {
      h.reset(1);
      bus.idle();
      driver.load(c);  // the pin resets PROGRAM_LEN too
    } else {
      driver.soft_reset();
    }
    EXPECT_EQ(driver.read(regs::kStatus), 0u) << "idle, not done, no error after the reset";
    expect_golden(p, c, input, "after the reset");
  }
  // Start and soft reset in one write (docs/registers.md): the reset wins, no run begins, and the
  // done flag of the run before is cleared.
  ASSERT_NE(driver.read(regs::kStatus) & regs::kStatusDone, 0u);
  ASSERT_EQ(bus.write(regs::kCtrl, regs::kCtrlStart | regs::kCtrlSoftReset),
            stqn_tb::AxilMaster<Dut>::kOkay);
  bus.wait(20);
  EXPECT_EQ(driver.read(regs::kStatus), 0u) << "start with soft reset: the reset wins";
}

// SLVERR for every bad access, OKAY answers never hang, and registers stay readable while busy.
TEST_F(Fixture, BadAccessesAnswerSlverr) {
  constexpr int kOk = stqn_tb::AxilMaster<Dut>::kOkay, kErr = stqn_tb::AxilMaster<Dut>::kSlvErr;
  std::uint32_t v = 0;
  EXPECT_EQ(bus.write(regs::kProgram, 1, 0x3), kErr) << "partial strobe";
  EXPECT_EQ(bus.write(regs::kProgram + 2, 1), kErr) << "unaligned";
  EXPECT_EQ(bus.write(regs::kId, 1), kErr) << "read-only register";
  EXPECT_EQ(bus.write(0x0000'3000, 1), kErr) << "hole in the map";
  EXPECT_EQ(bus.read(0x0000'3000, v), kErr);
  EXPECT_EQ(bus.read(regs::kWeights, v), kErr) << "weights are write-only";
  EXPECT_EQ(bus.write(regs::kProgram + 4u * std::uint32_t(config.prog_depth), 1), kErr) << "beyond the program";
  EXPECT_EQ(bus.write(regs::kLogits, 1), kErr) << "logits are read-only";
  EXPECT_EQ(bus.read(regs::kLogits + 4u * 64, v), kErr) << "beyond the logits";
  const int astride = accel::word_stride(config.act_word_bits());
  EXPECT_EQ(bus.write(regs::act_address(config.cols, astride, 0, config.act_bank_depth, 0), 1), kErr)
      << "beyond the banks";
  EXPECT_EQ(bus.write(regs::kProgram + 4, 0x1234), kOk);
  EXPECT_EQ(bus.read(regs::kProgram + 4, v), kOk);
  EXPECT_EQ(v, 0x1234u);
  // While busy: memory writes and bank and step-cycle reads are refused, registers answer.
  const stqn::Package p = small_fitting_package();
  const accel::Compiled c = compile(p);
  driver.load(c);
  driver.write_input(c, stqn::Tensor(p.input_shape));
  driver.start();
  EXPECT_EQ(bus.write(regs::kWeights, 1), kErr);
  EXPECT_EQ(bus.write(regs::kProgramLen, 1), kErr);
  EXPECT_EQ(bus.read(regs::act_address(config.cols, astride, 0, 0, 0), v), kErr);
  EXPECT_EQ(bus.read(regs::kLayerCycles, v), kErr) << "the controller writes the step cycles while busy";
  EXPECT_EQ(bus.read(regs::kStatus, v), kOk);
  EXPECT_NE(v & regs::kStatusBusy, 0u);
  EXPECT_EQ(bus.write(regs::kCtrl, regs::kCtrlStart), kOk) << "start while busy is ignored";
  const accel::RunResult r = driver.wait_result(c, cycle_budget(c));
  EXPECT_TRUE(r.done && !r.error);
}

// Heavy stalls and back-pressure on every channel while loading and running.
TEST_F(Fixture, RunsUnderHeavyBusStalls) {
  bus.set_stalls(0.8, 0.2);
  const stqn::Package p = small_fitting_package();
  const accel::Compiled c = compile(p);
  driver.load(c);
  const stqn::Tensor input = random_image(p);
  expect_golden(p, c, input, "heavy stalls");
}

}  // namespace
