// The accelerator library on its own (no RTL): the configurations reader and its errors, the
// descriptor encoding, the fit check's messages, the layout round trip and stqn-compile.
#include "stqn/accel/config.hpp"
#include "stqn/accel/program.hpp"
#include "stqn/accel/regs.hpp"
#include "stqn/error.hpp"
#include "stqn/fileio.hpp"
#include "stqn/package.hpp"
#include "stqn/random_package.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace stqn::accel {
namespace {

namespace fs = std::filesystem;

fs::path test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(STQN_TEST_TMP) / (std::string("accel-") + info->name());
  fs::create_directories(dir);
  return dir;
}

// The message of the Error that `f` throws ("" if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(AccelConfig, ReadsEveryNamedConfiguration) {
  const auto configs = configs_load();
  ASSERT_GE(configs.size(), 2u);
  const Config up5k = config_load("up5k");
  EXPECT_EQ(up5k.lanes * up5k.rows * up5k.cols, 128);
  EXPECT_TRUE(up5k.wgt_spram);
  EXPECT_EQ(up5k.prog_depth, kDefaultProgDepth);
  EXPECT_EQ(up5k.thr_units, 1);
  const Config ecp5 = config_load("ecp5");
  EXPECT_EQ(ecp5.thr_units, ecp5.cols) << "one channel's pixels thresholded per cycle";
  EXPECT_NE(error_of([] { config_load("nonesuch"); }).find("known: "), std::string::npos);
}

TEST(AccelConfig, BadFilesNameTheFieldAndTheExpectation) {
  const fs::path file = test_dir() / "configs.json";
  const std::string good = file_read(configs_default_path());
  struct Case { std::string from, to, expect; };
  const Case cases[] = {
      {"\"LANES\": 16", "\"LANES\": 12", "configs.up5k.params.LANES"},
      {"\"ACC_W\": 24", "\"ACC_W\": 99", "ACC_W"},
      {"\"WGT_SPRAM\": 1", "\"WGT_SPRAMM\": 1", "WGT_SPRAMM"},
      {"\"ROWS\": 2, \"COLS\": 4", "\"ROWS\": 32, \"COLS\": 4", "ROWS"},
      // Limits of the RTL (stqn_axil's slice counters and host windows, stqn_wmem's SPRAM).
      {"\"LANES\": 32, \"ROWS\": 8", "\"LANES\": 64, \"ROWS\": 32", "1,024 bits"},
      {"\"THR_DEPTH\": 512", "\"THR_DEPTH\": 65536", "threshold window"},
      {"\"WGT_DEPTH\": 16384", "\"WGT_DEPTH\": 32768", "SB_SPRAM256KA"},
      // Threshold units: a power of two, at most COLS (stqn_writeback).
      {"\"WGT_SPRAM\": 1, \"THR_UNITS\": 1", "\"WGT_SPRAM\": 1, \"THR_UNITS\": 3", "THR_UNITS"},
      {"\"WGT_SPRAM\": 1, \"THR_UNITS\": 1", "\"WGT_SPRAM\": 1, \"THR_UNITS\": 8", "at most COLS"},
  };
  for (const Case& c : cases) {
    std::string text = good;
    const auto at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    file_write_atomic(file, text);
    const std::string msg = error_of([&] { configs_load(file); });
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
  }
  file_write_atomic(file, "{\"configs\": ");
  EXPECT_NE(error_of([&] { configs_load(file); }).find("invalid JSON"), std::string::npos);
}

TEST(AccelProgram, DescriptorsRoundTrip) {
  std::mt19937_64 rng(7);
  for (int n = 0; n < 200; ++n) {
    Descriptor d;
    d.op = static_cast<Opcode>(1 + rng() % 2);
    d.aplanes = 1 + rng() % 15, d.wplanes = 1 + rng() % 15, d.out_planes = 1 + rng() % 15;
    d.out_ternary = rng() & 1, d.out_signed = rng() & 1;
    d.pool = static_cast<Pool>(rng() % 4);
    d.int8 = rng() & 1;
    d.in_c = rng() % 65536, d.out_c = rng() % 65536, d.in_h = rng() % 65536, d.in_w = rng() % 65536;
    d.out_h = rng() % 65536, d.out_w = rng() % 65536;
    d.kernel = rng() % 256, d.pad = rng() % 256, d.stride = rng() % 256, d.levels = rng() % 256;
    d.act_min = static_cast<int>(rng() % 65536) - 32768;
    d.in_base = rng() % 65536, d.out_base = rng() % 65536, d.w_base = rng() % 65536, d.thr_base = rng() % 65536;
    const auto w = d.encode();
    ASSERT_EQ(w.size(), std::size_t(kDescriptorWords));
    const Descriptor e = Descriptor::decode(w.data());
    EXPECT_EQ(e.encode(), w);
    EXPECT_EQ(e.act_min, d.act_min);
    EXPECT_EQ(e.int8, d.int8);
    EXPECT_EQ(w[0] >> 20 & 1, d.int8 ? 1u : 0u) << "int8 stem mode in w0[20]";
    EXPECT_EQ(e.reserved, 0u);
  }
}

TEST(AccelProgram, FitCheckSaysWhatDoesNotFitAndWhatWould) {
  const Package p = reference_topology_package(1, {format::WeightKind::Ternary, 2}, {format::ActKind::Ternary, 2});
  const std::string msg = error_of([&] { compile(p, config_load("tiny")); });
  EXPECT_NE(msg.find("does not fit configuration \"tiny\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("activation bank words"), std::string::npos) << msg;
  EXPECT_NE(msg.find("configurations that hold it: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("ecp5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("up5k"), std::string::npos) << msg;
  // On up5k the stem (int8 weights, one uint8 channel) runs in the int8 mode on packed rows:
  // ceil(28 / 2) word rows x ceil(28 / 4) words per bank.
  const Compiled u = compile(p, config_load("up5k"));
  EXPECT_TRUE(u.steps.at(0).desc.int8);
  EXPECT_FALSE(u.input_im2col);
  EXPECT_EQ(u.input.tensor_words(), 98);
  EXPECT_EQ(u.steps.at(0).beats, 28 * 7 * 16 * 9);
  const Compiled c = compile(p, config_load("ecp5"));
  // stem, block1 + pool1, block2, block3 + pool2, block4 + gap, fc: pools fused.
  ASSERT_EQ(c.steps.size(), 6u);
  EXPECT_EQ(c.num_classes, 10);
  EXPECT_EQ(c.program().size(), 6u * kDescriptorWords);
  EXPECT_EQ(c.steps[1].desc.pool, Pool::Max2);
  EXPECT_EQ(c.steps[1].name, "block1+pool1");
  EXPECT_EQ(c.steps[1].layer, 2);  // its output is the pool's
  EXPECT_EQ(c.steps[1].out.h, 14);
  EXPECT_EQ(c.steps[4].desc.pool, Pool::Sum);
  EXPECT_EQ(c.steps[4].desc.out_planes, 7);  // |sum| <= 49: int7
  EXPECT_EQ(c.steps[4].out.h, 1);
  // Pools the write-back cannot fuse are refused, naming the layer and what is unsupported.
  Package wide = p;
  wide.layers[2].kernel = 3, wide.layers[2].stride = 1;
  wide.layers[2].out_shape.h = wide.layers[2].out_shape.w = 26;
  auto msgs = fit_problems(wide, config_load("ecp5"));
  ASSERT_FALSE(msgs.empty());
  EXPECT_NE(msgs.front().find("layer 2 (pool1): max-pool kernel 3 stride 1 is not supported"), std::string::npos)
      << msgs.front();
  Package orphan = p;
  orphan.layers.insert(orphan.layers.begin() + 3, orphan.layers[2]);  // a pool after a pool
  orphan.layers[3].name = "pool1b";
  msgs = fit_problems(orphan, config_load("ecp5"));
  ASSERT_FALSE(msgs.empty());
  EXPECT_NE(msgs.front().find("layer 3 (pool1b): a max-pool runs fused"), std::string::npos) << msgs.front();
  Package gap_first = p;  // a global average pool after a max-pool
  gap_first.layers.erase(gap_first.layers.begin() + 6);  // block4
  gap_first.layers[6].in_shape = gap_first.layers[5].out_shape;
  msgs = fit_problems(gap_first, config_load("ecp5"));
  ASSERT_FALSE(msgs.empty());
  EXPECT_NE(msgs.front().find("(gap): a global average pool runs fused"), std::string::npos) << msgs.front();
  // A conv with stride 2 after the first layer cannot run on the array.
  Package strided = p;
  strided.layers[1].stride = 2;
  const auto problems = fit_problems(strided, config_load("ecp5"));
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems.front().find("stride 2"), std::string::npos) << problems.front();
}

TEST(AccelLayout, ActivationImageRoundTrips) {
  std::mt19937_64 rng(3);
  for (int n = 0; n < 50; ++n) {
    ConvGeometry g;
    g.lanes = 4 << (rng() % 3), g.rows = 2, g.cols = 2 << (rng() % 2), g.k = 1;
    g.c = 1 + rng() % 40, g.h = 1 + rng() % 9, g.w = 1 + rng() % 9;
    g.aplanes = 1 + rng() % 8;
    g.asigned = g.aplanes == 1 || (rng() & 1);
    g.in_base = rng() % 5;
    Tensor t(Shape{g.c, g.h, g.w});
    for (auto& v : t.data) {
      if (g.aplanes == 1) v = static_cast<int>(rng() % 3) - 1;
      else if (g.asigned) v = static_cast<int>(rng() % (1u << g.aplanes)) - (1 << (g.aplanes - 1));
      else v = static_cast<int>(rng() % (1u << g.aplanes));
    }
    const auto banks = act_image(g, t, g.act_words_per_bank());
    EXPECT_EQ(act_tensor(g, banks).data, t.data);
  }
}

TEST(AccelCompileCli, WritesImagesAndRefusesWhatDoesNotFit) {
  const fs::path dir = test_dir();
  const fs::path pkg = dir / "package";
  package_save(reference_topology_package(2, {format::WeightKind::Ternary, 2}, {format::ActKind::Ternary, 2}), pkg);
  auto run = [&](const std::string& args) {
    const std::string cmd = std::string(STQN_COMPILE) + " " + args + " >" + (dir / "out").string() + " 2>" +
                            (dir / "err").string();
    const int raw = std::system(cmd.c_str());
    return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  };
  EXPECT_EQ(run("--model " + pkg.string() + " --config ecp5 --out " + (dir / "img").string()), 0);
  const auto program = hex_read(dir / "img" / "program.hex", 6 * kDescriptorWords);
  EXPECT_EQ(program.size(), 6u * kDescriptorWords);
  EXPECT_TRUE(fs::exists(dir / "img" / "weights.hex"));
  // The layouts are those of the register map version that the file names (the stem's packed
  // rows changed meaning in version 4).
  const auto layout = nlohmann::json::parse(file_read(dir / "img" / "layout.json"));
  EXPECT_EQ(layout.at("map_version").get<std::uint32_t>(), regs::kMapVersion);
  EXPECT_EQ(run("--model " + pkg.string() + " --config up5k --out " + (dir / "img3").string()), 0);
  EXPECT_EQ(run("--model " + pkg.string() + " --config tiny --out " + (dir / "img2").string()), 1);
  const std::string err = file_read(dir / "err");
  EXPECT_NE(err.find("does not fit"), std::string::npos) << err;
  EXPECT_EQ(run("--model " + pkg.string() + " --config nonesuch --out " + (dir / "img2").string()), 1);
  EXPECT_NE(file_read(dir / "err").find("known: "), std::string::npos);
}

}  // namespace
}  // namespace stqn::accel
