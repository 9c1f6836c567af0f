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

TEST(FastEngine, EqualsReferenceOnRandomPackages) {
  const std::uint64_t base = base_seed();
  std::set<std::string> kernels_seen;
  for (std::uint64_t i = 0; i < 60; ++i) {
    const std::uint64_t seed = base + i;
    const Package package = random_package(seed);
    const FastEngine engine(package);
    for (const auto& k : engine.layer_kernels()) kernels_seen.insert(k.substr(0, 9));
    std::mt19937_64 rng(seed);
    for (int n = 0; n < 3; ++n) {
      const Tensor input = random_input(package, rng);
      expect_layers_equal(package, reference_forward(package, input), engine.forward_all(input),
                          seed);
    }
  }
  // The random packages must have exercised every kind of kernel.
  for (const char* kernel : {"bit-plane", "bit-seria", "direct in", "maxpool", "global av"}) {
    EXPECT_TRUE(kernels_seen.count(kernel)) << kernel << " never ran";
  }
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
