// The model package in memory: decoded integer weights, thresholds and biases plus the topology,
// loaded from and saved to the on-disk format of format.hpp / docs/formats.md.
#pragma once

#include "stqn/format.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace stqn {

struct Shape {
  int c = 0, h = 0, w = 0;
  std::int64_t size() const { return std::int64_t{c} * h * w; }
  bool operator==(const Shape& o) const { return c == o.c && h == o.h && w == o.w; }
  bool operator!=(const Shape& o) const { return !(*this == o); }
};

// Inclusive integer range of the values a tensor can hold.
struct ValueRange {
  std::int32_t lo = 0, hi = 0;
  std::int32_t max_abs() const { return hi > -lo ? hi : -lo; }
};

struct ActType {
  format::ActKind kind = format::ActKind::Ternary;
  int bits = 2;  // storage bits; 2 for ternary
  ValueRange range() const;
  int num_thresholds() const { return range().hi - range().lo; }
  std::string name() const;  // "ternary", "uint4", "int8"
};

struct WeightType {
  format::WeightKind kind = format::WeightKind::Ternary;
  int bits = 2;  // storage bits per code; 2 for ternary
  ValueRange range() const;                 // of decoded values
  std::int32_t decode(format::Word code) const;  // code -> value (code must be valid)
  bool code_valid(format::Word code) const;
  format::Word encode(std::int32_t value) const;  // value -> code (value must be representable)
  bool value_valid(std::int32_t value) const;
  std::string name() const;  // "ternary", "odd2", "int8"
};

// A decoded weight value: int8 holds every kind but odd8, whose levels reach +-255.
using WeightValue = std::int16_t;

struct Layer {
  std::string name;
  format::Op op = format::Op::Conv2d;
  // conv2d and maxpool geometry (maxpool has no padding).
  int kernel = 0, stride = 1, padding = 0;
  // conv2d: output channels; dense: output features.
  int out_channels = 0;

  // conv2d and dense only.
  WeightType weight_type;
  std::vector<WeightValue> weights;  // decoded values; conv2d (O, K, K, I), dense (O, I)
  format::Output output = format::Output::Threshold;
  ActType out_act;                        // Output::Threshold
  std::vector<std::int32_t> thresholds;   // (O, L), non-decreasing along L
  std::vector<std::int32_t> bias;         // Output::Logits: (O)
  double logit_scale = 1.0;               // Output::Logits: float logit = scale * integer logit

  // Derived at validation: shapes and value ranges flowing in and out.
  Shape in_shape, out_shape;
  ValueRange in_range, out_range;
  std::int64_t accumulator_bound = 0;  // max |S| over all valid inputs (conv2d, dense)

  bool has_weights() const { return op == format::Op::Conv2d || op == format::Op::Dense; }
  int fan_in() const;  // codes per output: K*K*I (conv2d) or I (dense)
  std::int64_t macs() const;
};

struct Package {
  std::string name;
  Shape input_shape;
  ActType input_act;
  std::vector<Layer> layers;
  nlohmann::json meta = nlohmann::json::object();  // provenance: trainer, recipe, accuracy

  int num_classes() const { return layers.empty() ? 0 : layers.back().out_channels; }
  std::int64_t macs() const;
};

// Checks topology, shapes, codes and value bounds, and fills the derived fields of every layer.
// `where` names the manifest in messages. Throws Error.
void package_validate(Package& package, const std::string& where = "package");

// As package_validate, for a network under construction: the last layer need not be the logits
// layer (generators and the exporter build packages layer by layer).
void package_validate_prefix(Package& package, const std::string& where = "package");

// Loads and validates a package directory. Throws Error naming the file and the field.
Package package_load(const std::filesystem::path& dir);

// Validates and writes a package directory. Each file is written atomically; the directory is
// assembled under a temporary name and renamed into place, replacing any previous package. Anything
// else at `dir` (a non-empty directory without a manifest, a file) is an Error, and is kept.
void package_save(const Package& package, const std::filesystem::path& dir);

// Memory-image file names and contents, as package_save writes them (for RTL loaders and tools).
std::vector<format::Word> weights_pack(const Layer& layer);
std::string weights_file_name(std::size_t layer_index, const Layer& layer);
std::string thresholds_file_name(std::size_t layer_index, const Layer& layer);
std::string bias_file_name(std::size_t layer_index, const Layer& layer);

std::string op_name(format::Op op);

}  // namespace stqn
