#include "stqn/random_package.hpp"

#include "stqn/error.hpp"
#include "stqn/reference.hpp"

#include <algorithm>
#include <limits>
#include <random>

namespace stqn {

using format::Op;
using format::Output;

namespace {

using Rng = std::mt19937_64;

int uniform(Rng& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

template <typename T>
const T& pick(Rng& rng, const std::vector<T>& items) {
  return items[std::size_t(uniform(rng, 0, int(items.size()) - 1))];
}

// Random weights: uniform over the type's valid values, with extra zeros for ternary
// (trained ternary layers are about one-third zero).
void weights_fill(Layer& layer, Rng& rng) {
  const ValueRange r = layer.weight_type.range();
  const std::size_t count = std::size_t(layer.fan_in()) * layer.out_channels;
  layer.weights.resize(count);
  for (auto& w : layer.weights) {
    std::int32_t v = 0;
    do {
      v = uniform(rng, r.lo, r.hi);
    } while (!layer.weight_type.value_valid(v));
    w = static_cast<WeightValue>(v);
  }
}

Tensor random_input(const Package& package, Rng& rng) {
  Tensor t(package.input_shape);
  const ValueRange r = package.input_act.range();
  for (auto& v : t.data) v = uniform(rng, r.lo, r.hi);
  return t;
}

// Moves a few thresholds to edge cases: a tie with its neighbour, the extremes of int32, and
// just beyond the reachable accumulator range. Keeps each channel non-decreasing.
void thresholds_perturb(Layer& layer, Rng& rng, double fraction) {
  const int levels = layer.out_act.num_thresholds();
  const auto bound = static_cast<std::int32_t>(layer.accumulator_bound);
  std::bernoulli_distribution hit(fraction);
  for (int o = 0; o < layer.out_channels; ++o) {
    std::int32_t* theta = layer.thresholds.data() + std::size_t(o) * levels;
    if (!hit(rng)) continue;
    switch (uniform(rng, 0, 4)) {
      case 0: std::fill(theta, theta + levels, std::numeric_limits<std::int32_t>::min()); break;
      case 1: std::fill(theta, theta + levels, std::numeric_limits<std::int32_t>::max()); break;
      case 2: std::fill(theta, theta + levels, -bound); break;      // always reached
      case 3: std::fill(theta, theta + levels, bound + 1); break;   // never reached
      case 4: std::fill(theta, theta + levels, theta[levels / 2]); break;  // all tied
    }
  }
}

}  // namespace

void thresholds_calibrate(Layer& layer, const std::vector<std::int32_t>& accumulators) {
  const int levels = layer.out_act.num_thresholds();
  const std::size_t per_channel = accumulators.size() / std::size_t(layer.out_channels);
  layer.thresholds.assign(std::size_t(layer.out_channels) * levels, 0);
  std::vector<std::int32_t> values(per_channel);
  for (int o = 0; o < layer.out_channels; ++o) {
    std::copy_n(accumulators.begin() + std::ptrdiff_t(o * per_channel), per_channel,
                values.begin());
    std::sort(values.begin(), values.end());
    for (int l = 0; l < levels; ++l) {
      const std::size_t q = std::min(per_channel - 1, per_channel * (l + 1) / (levels + 1));
      // +1 on odd levels so that ties with an accumulator value occur in tests.
      layer.thresholds[std::size_t(o) * levels + l] = values[q] + (l % 2);
    }
    std::sort(layer.thresholds.begin() + std::ptrdiff_t(o) * levels,
              layer.thresholds.begin() + std::ptrdiff_t(o + 1) * levels);
  }
}

namespace {

// Appends `layer`, calibrates it on `current` (the running calibration activation) and advances.
void layer_append(Package& package, Layer layer, Tensor& current, Rng& rng, double edges) {
  package.layers.push_back(std::move(layer));
  Layer& added = package.layers.back();
  // Validate with placeholder thresholds to derive shapes and bounds, then calibrate.
  added.in_shape = current.shape;
  if (added.has_weights()) {
    weights_fill(added, rng);
    if (added.output == Output::Threshold) {
      added.thresholds.assign(std::size_t(added.out_channels) * added.out_act.num_thresholds(), 0);
    }
  }
  package_validate_prefix(package);
  if (added.has_weights()) {
    const Tensor acc = added.op == Op::Conv2d ? conv2d_accumulate(added, current)
                                              : dense_accumulate(added, current);
    if (added.output == Output::Threshold) {
      thresholds_calibrate(added, acc.data);
      thresholds_perturb(added, rng, edges);
    }
  }
  current = layer_forward(added, current);
}

Layer conv_layer(const std::string& name, int out_channels, int kernel, int stride, int padding,
                 WeightType weights, ActType act) {
  Layer l;
  l.name = name;
  l.op = Op::Conv2d;
  l.out_channels = out_channels;
  l.kernel = kernel;
  l.stride = stride;
  l.padding = padding;
  l.weight_type = weights;
  l.output = Output::Threshold;
  l.out_act = act;
  return l;
}

Layer pool_layer(const std::string& name, int kernel, int stride) {
  Layer l;
  l.name = name;
  l.op = Op::MaxPool;
  l.kernel = kernel;
  l.stride = stride;
  return l;
}

Layer gap_layer() {
  Layer l;
  l.name = "gap";
  l.op = Op::GlobalAvgPool;
  return l;
}

// The logits layer: int8 weights, biases around the logit spread.
void logits_append(Package& package, Tensor& current, Rng& rng, int classes) {
  Layer fc;
  fc.name = "fc";
  fc.op = Op::Dense;
  fc.out_channels = classes;
  fc.weight_type = {format::WeightKind::Int, 8};  // narrowed below if the bound demands it
  fc.output = Output::Logits;
  fc.logit_scale = 1.0 / 64;
  fc.bias.assign(std::size_t(classes), 0);
  package.layers.push_back(fc);
  Layer& added = package.layers.back();
  added.in_shape = current.shape;
  // Wide pooled sums on a large fan-in can exceed the accumulator bound with int8 weights.
  for (const int bits : {8, 4, 2}) {
    added.weight_type = {format::WeightKind::Int, bits};
    Package probe = package;
    probe.layers.back().weights.assign(std::size_t(added.fan_in()) * classes, 0);
    try {
      package_validate(probe);
      break;
    } catch (const Error&) {
      if (bits == 2) throw;
    }
  }
  weights_fill(added, rng);
  package_validate(package);
  const auto spread = static_cast<int>(std::min<std::int64_t>(added.accumulator_bound / 8, 1 << 20));
  for (auto& b : added.bias) b = uniform(rng, -spread, spread);
  package_validate(package);
  current = layer_forward(added, current);
}

}  // namespace

Package random_package(std::uint64_t seed, const RandomPackageOptions& options) {
  Rng rng(seed);
  Package package;
  package.name = "random-" + std::to_string(seed);
  package.input_shape = {uniform(rng, 1, options.max_input_channels),
                         uniform(rng, options.min_size, options.max_size),
                         uniform(rng, options.min_size, options.max_size)};
  package.input_act = {format::ActKind::Uint, 8};
  package.meta = {{"generator", "random_package"}, {"seed", seed}};
  Tensor current = random_input(package, rng);
  const double edges = options.edge_threshold_fraction;

  // Appends a layer drawn by `draw`; a draw whose accumulators could exceed the format's bound
  // (wide operands on a large fan-in) is drawn again.
  auto append_drawn = [&](auto&& draw) {
    constexpr int kDraws = 20;
    for (int attempt = 0;; ++attempt) {
      const Package before = package;
      try {
        layer_append(package, draw(attempt), current, rng, edges);
        return;
      } catch (const Error&) {
        package = before;
        if (attempt + 1 == kDraws) throw;
      }
    }
  };

  const int convs = uniform(rng, 1, options.max_conv_layers);
  for (int i = 0; i < convs; ++i) {
    const Shape in = current.shape;
    append_drawn([&](int attempt) {
      const int k = pick(rng, options.kernels);
      const int padding = uniform(rng, std::max(0, k - std::min(in.h, in.w)), k - 1);
      const int stride = std::min(in.h, in.w) > 4 ? pick(rng, options.strides) : 1;
      const WeightType ternary{format::WeightKind::Ternary, 2};
      const WeightType wt = attempt > 10 ? ternary
                            : i == 0     ? pick(rng, options.first_weight_types)
                                         : pick(rng, options.weight_types);
      return conv_layer("conv" + std::to_string(i), uniform(rng, 1, options.max_channels), k,
                        stride, padding, wt, pick(rng, options.act_types));
    });
    const int side = std::min(current.shape.h, current.shape.w);
    if (side >= 4 && uniform(rng, 0, 2) == 0) {
      const int k = pick(rng, options.pool_kernels);
      const int stride = options.pool_strides.empty() ? uniform(rng, 1, k) : pick(rng, options.pool_strides);
      layer_append(package, pool_layer("pool" + std::to_string(i), k, stride), current, rng, 0);
    }
  }
  if (uniform(rng, 0, 3) != 0) {
    layer_append(package, gap_layer(), current, rng, 0);
    // A 1x1 conv on the pooled sums (a conv after the global pool).
    if (uniform(rng, 0, 3) == 0) {
      append_drawn([&](int) {
        return conv_layer("conv_pooled", uniform(rng, 1, options.max_channels), 1, 1, 0,
                          {format::WeightKind::Ternary, 2}, pick(rng, options.act_types));
      });
    }
  }
  if (std::bernoulli_distribution(options.hidden_dense_probability)(rng)) {
    append_drawn([&](int attempt) {
      Layer dense;
      dense.name = "dense_hidden";
      dense.op = Op::Dense;
      dense.out_channels = uniform(rng, 1, options.max_channels);
      dense.weight_type = attempt > 10 ? WeightType{format::WeightKind::Ternary, 2}
                                       : pick(rng, options.weight_types);
      dense.output = Output::Threshold;
      dense.out_act = pick(rng, options.act_types);
      return dense;
    });
  }
  logits_append(package, current, rng, uniform(rng, 2, 10));
  return package;
}

Package reference_topology_package(std::uint64_t seed, WeightType block_weights,
                                   ActType block_acts) {
  Rng rng(seed);
  Package package;
  package.name = "reference-random-" + block_weights.name() + "-" + block_acts.name();
  package.input_shape = {1, 28, 28};
  package.input_act = {format::ActKind::Uint, 8};
  package.meta = {{"generator", "reference_topology_package"}, {"seed", seed}};
  Tensor current = random_input(package, rng);
  const WeightType stem_weights{format::WeightKind::Int, 8};
  layer_append(package, conv_layer("stem", 32, 3, 1, 1, stem_weights, block_acts), current, rng, 0);
  layer_append(package, conv_layer("block1", 32, 3, 1, 1, block_weights, block_acts), current, rng, 0);
  layer_append(package, pool_layer("pool1", 2, 2), current, rng, 0);
  layer_append(package, conv_layer("block2", 64, 3, 1, 1, block_weights, block_acts), current, rng, 0);
  layer_append(package, conv_layer("block3", 64, 3, 1, 1, block_weights, block_acts), current, rng, 0);
  layer_append(package, pool_layer("pool2", 2, 2), current, rng, 0);
  layer_append(package, conv_layer("block4", 128, 3, 1, 1, block_weights, block_acts), current, rng, 0);
  layer_append(package, gap_layer(), current, rng, 0);
  logits_append(package, current, rng, 10);
  return package;
}

}  // namespace stqn
