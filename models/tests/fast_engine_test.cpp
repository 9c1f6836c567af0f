// The fast engine must equal the reference, layer by layer, on random packages and inputs.
#include "stqn/fast.hpp"
#include "stqn/random_package.hpp"
#include "stqn/reference.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <set>
#include <string>

namespace stqn {
namespace {

// Base seed: STQN_SEED from the environment, else a fixed default. Printed on every run.
std::uint64_t base_seed() {
  const char* env = std::getenv("STQN_SEED");
  const std::uint64_t seed = env ? std::strtoull(env, nullptr, 0) : 20261127;
  std::printf("base seed %llu (set STQN_SEED to change)\n", static_cast<unsigned long long>(seed));
  return seed;
}

Tensor random_input(const Package& p, std::mt19937_64& rng) {
  Tensor t(p.input_shape);
  std::uniform_int_distribution<int> pixel(0, 255);
  for (auto& v : t.data) v = pixel(rng);
  return t;
}

void expect_layers_equal(const Package& p, const std::vector<Tensor>& want,
                         const std::vector<Tensor>& got, std::uint64_t seed) {
  ASSERT_EQ(want.size(), got.size());
  for (std::size_t l = 0; l < want.size(); ++l) {
    ASSERT_EQ(want[l].shape, got[l].shape) << "seed " << seed << " layer " << l;
    const Shape s = want[l].shape;
    for (int c = 0; c < s.c; ++c) {
      for (int y = 0; y < s.h; ++y) {
        for (int x = 0; x < s.w; ++x) {
          ASSERT_EQ(want[l].at(c, y, x), got[l].at(c, y, x))
              << "seed " << seed << " layer " << l << " (" << p.layers[l].name << ") channel "
              << c << " pixel (" << y << ", " << x << ")";
        }
      }
    }
  }
}

// A hand-built layer for the fixed-structure cases: a 3x3, padding-1 conv with a threshold
// output, or (kernel 0) a dense layer with logits. Weights, thresholds and biases are the caller's.
Layer fixed_layer(const std::string& name, int out_channels, WeightType weights, ActType out_act,
                  bool dense = false) {
  Layer l;
  l.name = name;
  l.out_channels = out_channels;
  l.weight_type = weights;
  if (dense) {
    l.op = format::Op::Dense;
    l.output = format::Output::Logits;
  } else {
    l.op = format::Op::Conv2d;
    l.kernel = 3;
    l.padding = 1;
    l.out_act = out_act;
  }
  return l;
}

TEST(FastEngine, EqualsReferenceOnRandomPackages) {
  const std::uint64_t base = base_seed();
  for (std::uint64_t i = 0; i < 60; ++i) {
    const std::uint64_t seed = base + i;
    const Package package = random_package(seed);
    const FastEngine engine(package);
    std::mt19937_64 rng(seed);
    for (int n = 0; n < 3; ++n) {
      const Tensor input = random_input(package, rng);
      expect_layers_equal(package, reference_forward(package, input), engine.forward_all(input),
                          seed);
    }
  }
}

// Wider packages: up to 130 channels (rows beyond the unrolled kernels), 3 input planes.
TEST(FastEngine, EqualsReferenceOnWidePackages) {
  const std::uint64_t base = base_seed() + 5000;
  RandomPackageOptions options;
  options.max_channels = 130;
  options.max_input_channels = 3;
  options.max_size = 10;
  for (std::uint64_t i = 0; i < 12; ++i) {
    const std::uint64_t seed = base + i;
    const Package package = random_package(seed, options);
    const FastEngine engine(package);
    std::mt19937_64 rng(seed);
    const Tensor input = random_input(package, rng);
    expect_layers_equal(package, reference_forward(package, input), engine.forward_all(input),
                        seed);
  }
}

// Every kernel of the fast engine, whatever the seed: one package per kernel kind.
TEST(FastEngine, EveryKernelMatchesOnFixedStructures) {
  const std::uint64_t seed = base_seed();
  struct Case {
    WeightType first;
    int channels;
    std::string kernel;
  };
  const std::vector<Case> cases = {
      {{format::WeightKind::Int, 8}, 8, "direct int16"},
      {{format::WeightKind::Int, 2}, 16, "bit-serial 8x2 planes"},
      {{format::WeightKind::Ternary, 2}, 130, "bit-serial 8x2 planes"}};
  for (const Case& c : cases) {
    RandomPackageOptions options;
    options.max_conv_layers = 1;
    options.first_weight_types = {c.first};
    options.max_channels = c.channels;
    const Package package = random_package(seed, options);
    const FastEngine engine(package);
    EXPECT_EQ(engine.layer_kernels()[0], c.kernel) << c.first.name();
    std::mt19937_64 rng(seed);
    const Tensor input = random_input(package, rng);
    expect_layers_equal(package, reference_forward(package, input), engine.forward_all(input),
                        seed);
  }
  // Ternary x ternary with rows of 5, 9 and 37 words (the last beyond the unrolled kernels).
  for (const int channels : {32, 64, 260}) {
    Package p;
    p.name = "fixed-ternary";
    p.input_shape = {1, 6, 6};
    p.input_act = {format::ActKind::Uint, 8};
    const ActType ternary{format::ActKind::Ternary, 2};
    Layer stem = fixed_layer("stem", channels, {format::WeightKind::Int, 8}, ternary);
    Layer block = fixed_layer("block", 24, {format::WeightKind::Ternary, 2}, ternary);
    Layer fc = fixed_layer("fc", 3, {format::WeightKind::Int, 8}, {}, true);
    std::mt19937_64 rng(seed);
    auto fill = [&](Layer& l, int fan_in, int lo, int hi) {
      std::uniform_int_distribution<int> v(lo, hi);
      l.weights.resize(std::size_t(fan_in) * l.out_channels);
      for (auto& w : l.weights) w = static_cast<std::int8_t>(v(rng));
    };
    fill(stem, 9, -128, 127);
    fill(block, 9 * channels, -1, 1);
    fill(fc, 24 * 36, -128, 127);
    stem.thresholds.assign(std::size_t(channels) * 2, 0);
    for (int o = 0; o < channels; ++o) stem.thresholds[o * 2] = -2000, stem.thresholds[o * 2 + 1] = 2000;
    block.thresholds.assign(24 * 2, 0);
    for (int o = 0; o < 24; ++o) block.thresholds[o * 2] = -3, block.thresholds[o * 2 + 1] = 4;
    fc.bias.assign(3, 7);
    p.layers = {stem, block, fc};
    package_validate(p);
    const FastEngine engine(p);
    EXPECT_EQ(engine.layer_kernels()[1], "bit-plane ternary") << channels;
    const Tensor input = random_input(p, rng);
    expect_layers_equal(p, reference_forward(p, input), engine.forward_all(input), seed);
  }
}

// The direct kernel multiplies 16-bit operands when every input fits int16 (the stem's pixels),
// and falls back to 32-bit products when a global pool's sums do not (255 x 16 x 16 > 32767).
TEST(FastEngine, DirectKernelWidensWhenPoolSumsExceedInt16) {
  const std::uint64_t seed = base_seed();
  std::mt19937_64 rng(seed);
  Package p;
  p.name = "wide-sums";
  p.input_shape = {1, 16, 16};
  p.input_act = {format::ActKind::Uint, 8};
  Layer conv = fixed_layer("conv", 4, {format::WeightKind::Int, 8}, {format::ActKind::Uint, 8});
  std::uniform_int_distribution<int> weight(-128, 127);
  for (int n = 0; n < 9 * 4; ++n) conv.weights.push_back(static_cast<WeightValue>(weight(rng)));
  // Codes spread over 0..255 for accumulators in [-30000, 30000).
  for (int o = 0; o < 4; ++o) {
    for (int l = 0; l < 255; ++l) conv.thresholds.push_back(-30000 + l * 235);
  }
  Layer gap;
  gap.name = "gap";
  gap.op = format::Op::GlobalAvgPool;
  Layer fc = fixed_layer("fc", 3, {format::WeightKind::Int, 8}, {}, true);
  for (int n = 0; n < 4 * 3; ++n) fc.weights.push_back(static_cast<WeightValue>(weight(rng)));
  fc.bias = {1, -2, 3};
  p.layers = {conv, gap, fc};
  package_validate(p);
  const FastEngine engine(p);
  EXPECT_EQ(engine.layer_kernels(),
            (std::vector<std::string>{"direct int16", "global avgpool", "direct int32"}));
  const Tensor input = random_input(p, rng);
  expect_layers_equal(p, reference_forward(p, input), engine.forward_all(input), seed);
}

TEST(FastEngine, EqualsReferenceOnReferenceTopologies) {
  const std::uint64_t seed = base_seed();
  const std::vector<std::pair<WeightType, ActType>> kinds = {
      {{format::WeightKind::Ternary, 2}, {format::ActKind::Ternary, 2}},
      {{format::WeightKind::Odd, 2}, {format::ActKind::Uint, 2}},
      {{format::WeightKind::Odd, 3}, {format::ActKind::Ternary, 2}}};
  for (const auto& [w, a] : kinds) {
    const Package package = reference_topology_package(seed, w, a);
    const FastEngine engine(package);
    std::mt19937_64 rng(seed);
    const Tensor input = random_input(package, rng);
    expect_layers_equal(package, reference_forward(package, input), engine.forward_all(input),
                        seed);
    // Uniform regions (as image backgrounds) take the engine's repeated-row shortcut.
    Tensor banded = input;
    for (int y = 0; y < banded.shape.h; ++y) {
      for (int x = 0; x < banded.shape.w; ++x) {
        if (x < banded.shape.w / 2 || y % 7 == 0) banded.at(0, y, x) = y < 14 ? 0 : 200;
      }
    }
    expect_layers_equal(package, reference_forward(package, banded), engine.forward_all(banded),
                        seed);
  }
}

TEST(FastEngine, BatchRunMatchesSingleImagesOnAnyThreadCount) {
  const std::uint64_t seed = base_seed();
  const Package package = random_package(seed + 1000);
  const FastEngine engine(package);
  std::mt19937_64 rng(seed);
  const int count = 13, classes = package.num_classes();
  const std::size_t image_size = std::size_t(package.input_shape.size());
  std::vector<std::uint8_t> images(count * image_size);
  for (auto& p : images) p = static_cast<std::uint8_t>(rng());
  std::vector<std::int32_t> want(std::size_t(count) * classes);
  for (int i = 0; i < count; ++i) {
    Tensor t(package.input_shape);
    std::copy_n(images.begin() + std::ptrdiff_t(i * image_size), image_size, t.data.begin());
    const auto outputs = reference_forward(package, t);
    std::copy(outputs.back().data.begin(), outputs.back().data.end(), want.begin() + i * classes);
  }
  for (int threads : {1, 2, 3, 8}) {
    std::vector<std::int32_t> got(want.size(), -1);
    engine.run(images.data(), count, got.data(), threads);
    EXPECT_EQ(want, got) << "threads " << threads << " seed " << seed;
  }
}

}  // namespace
}  // namespace stqn
