#include "stqn/package.hpp"

#include "stqn/error.hpp"
#include "stqn/fileio.hpp"
#include "stqn/json_field.hpp"

#include <unistd.h>

#include <algorithm>
#include <random>

namespace stqn {

using format::ActKind;
using format::Op;
using format::Output;
using format::WeightKind;
using format::Word;

// ---- Number types -------------------------------------------------------------------------------

ValueRange ActType::range() const {
  switch (kind) {
    case ActKind::Ternary: return {-1, 1};
    case ActKind::Uint: return {0, (1 << bits) - 1};
    case ActKind::Int: return {-(1 << (bits - 1)), (1 << (bits - 1)) - 1};
  }
  return {};
}

std::string ActType::name() const {
  switch (kind) {
    case ActKind::Ternary: return "ternary";
    case ActKind::Uint: return fmt::format("uint{}", bits);
    case ActKind::Int: return fmt::format("int{}", bits);
  }
  return "?";
}

ValueRange WeightType::range() const {
  switch (kind) {
    case WeightKind::Ternary: return {-1, 1};
    case WeightKind::Odd: return {-((1 << bits) - 1), (1 << bits) - 1};
    case WeightKind::Int: return {-(1 << (bits - 1)), (1 << (bits - 1)) - 1};
  }
  return {};
}

bool WeightType::code_valid(Word code) const {
  if (code >> bits) return false;
  return !(kind == WeightKind::Ternary && code == 0b10);
}

std::int32_t WeightType::decode(Word code) const {
  switch (kind) {
    case WeightKind::Ternary:
    case WeightKind::Int: {
      const std::int32_t sign_bit = 1 << (bits - 1);
      return (static_cast<std::int32_t>(code & ((1u << bits) - 1)) ^ sign_bit) - sign_bit;
    }
    case WeightKind::Odd: return 2 * static_cast<std::int32_t>(code) - ((1 << bits) - 1);
  }
  return 0;
}

bool WeightType::value_valid(std::int32_t value) const {
  const ValueRange r = range();
  if (value < r.lo || value > r.hi) return false;
  if (kind == WeightKind::Odd) return (value - r.lo) % 2 == 0;
  return true;
}

Word WeightType::encode(std::int32_t value) const {
  if (kind == WeightKind::Odd) return static_cast<Word>((value + (1 << bits) - 1) / 2);
  return static_cast<Word>(value) & ((1u << bits) - 1);
}

std::string WeightType::name() const {
  switch (kind) {
    case WeightKind::Ternary: return "ternary";
    case WeightKind::Odd: return fmt::format("odd{}", bits);
    case WeightKind::Int: return fmt::format("int{}", bits);
  }
  return "?";
}

std::string op_name(Op op) {
  switch (op) {
    case Op::Conv2d: return "conv2d";
    case Op::MaxPool: return "maxpool";
    case Op::GlobalAvgPool: return "global_avgpool";
    case Op::Dense: return "dense";
  }
  return "?";
}

int Layer::fan_in() const {
  if (op == Op::Conv2d) return kernel * kernel * in_shape.c;
  if (op == Op::Dense) return static_cast<int>(in_shape.size());
  return 0;
}

std::int64_t Layer::macs() const {
  if (op == Op::Conv2d) return out_shape.size() * fan_in();
  if (op == Op::Dense) return std::int64_t{out_channels} * fan_in();
  return 0;
}

std::int64_t Package::macs() const {
  std::int64_t total = 0;
  for (const Layer& layer : layers) total += layer.macs();
  return total;
}

// ---- Validation ---------------------------------------------------------------------------------

namespace {

void check_shape(const Shape& s, const std::string& where, const std::string& field) {
  if (s.c < 1 || s.c > format::kMaxChannels || s.h < 1 || s.h > format::kMaxSpatial || s.w < 1 ||
      s.w > format::kMaxSpatial || s.size() > format::kMaxTensorElements) {
    fail(where, "{}: shape [{}, {}, {}] is outside [1..{}] channels x [1..{}]^2 pixels", field,
         s.c, s.h, s.w, format::kMaxChannels, format::kMaxSpatial);
  }
}

void check_act_type(const ActType& a, const std::string& where, const std::string& field) {
  const bool ok = (a.kind == ActKind::Ternary && a.bits == format::kTernaryStorageBits) ||
                  (a.kind == ActKind::Uint && a.bits >= 1 && a.bits <= format::kMaxActBits) ||
                  (a.kind == ActKind::Int && a.bits >= 2 && a.bits <= format::kMaxActBits);
  if (!ok) fail(where, "{}: invalid activation type {} with {} bits", field, a.name(), a.bits);
}

void check_weight_type(const WeightType& t, const std::string& where, const std::string& field) {
  const bool ok = (t.kind == WeightKind::Ternary && t.bits == format::kTernaryStorageBits) ||
                  (t.kind != WeightKind::Ternary && t.bits >= format::kMinWeightBits &&
                   t.bits <= format::kMaxWeightBits);
  if (!ok) fail(where, "{}: invalid weight type {} with {} bits", field, t.name(), t.bits);
}


// Output shape of a layer on an input of `shape`, after checking the layer's geometry.
Shape layer_geometry(const Layer& layer, Shape shape, const std::string& where,
                     const std::string& field) {
  switch (layer.op) {
    case Op::Conv2d:
    case Op::MaxPool: {
      if (layer.kernel < 1 || layer.kernel > format::kMaxKernel) {
        fail(where, "{}.kernel: expected 1 to {}, got {}", field, format::kMaxKernel, layer.kernel);
      }
      if (layer.stride < 1 || layer.stride > format::kMaxStride) {
        fail(where, "{}.stride: expected 1 to {}, got {}", field, format::kMaxStride, layer.stride);
      }
      const int max_padding = layer.op == Op::Conv2d ? layer.kernel - 1 : 0;
      if (layer.padding < 0 || layer.padding > max_padding) {
        fail(where, "{}.padding: expected 0 to {}, got {}", field, max_padding, layer.padding);
      }
      const int h = shape.h + 2 * layer.padding, w = shape.w + 2 * layer.padding;
      if (h < layer.kernel || w < layer.kernel) {
        fail(where, "{}: a {}x{} input (padding {}) is smaller than the {}x{} kernel", field,
             shape.h, shape.w, layer.padding, layer.kernel, layer.kernel);
      }
      shape.h = (h - layer.kernel) / layer.stride + 1;
      shape.w = (w - layer.kernel) / layer.stride + 1;
      break;
    }
    case Op::GlobalAvgPool: shape.h = shape.w = 1; break;
    case Op::Dense: shape = {1, 1, 1}; break;
  }
  if (layer.has_weights()) {
    if (layer.out_channels < 1 || layer.out_channels > format::kMaxChannels) {
      fail(where, "{}.out_channels: expected 1 to {}, got {}", field, format::kMaxChannels,
           layer.out_channels);
    }
    shape.c = layer.out_channels;
  }
  return shape;
}

}  // namespace

namespace {

void validate(Package& package, const std::string& where, bool complete) {
  check_shape(package.input_shape, where, "input.shape");
  check_act_type(package.input_act, where, "input.act");
  if (package.layers.empty() || package.layers.size() > format::kMaxLayers) {
    fail(where, "layers: expected 1 to {} layers, got {}", format::kMaxLayers,
         package.layers.size());
  }

  Shape shape = package.input_shape;
  ValueRange range = package.input_act.range();
  for (std::size_t i = 0; i < package.layers.size(); ++i) {
    Layer& layer = package.layers[i];
    const std::string field = fmt::format("layers[{}] ({})", i, layer.name);
    const bool last = complete && i + 1 == package.layers.size();
    layer.in_shape = shape;
    layer.in_range = range;

    shape = layer_geometry(layer, shape, where, field);

    switch (layer.op) {
      case Op::MaxPool: break;
      case Op::GlobalAvgPool: {
        const std::int64_t pixels = std::int64_t{layer.in_shape.h} * layer.in_shape.w;
        if (range.max_abs() * pixels > format::kMaxAccumulator) {
          fail(where, "{}: pooled sums of {} pixels overflow the accumulator", field, pixels);
        }
        range = {static_cast<std::int32_t>(range.lo * pixels),
                 static_cast<std::int32_t>(range.hi * pixels)};
        break;
      }
      case Op::Conv2d:
      case Op::Dense: {
        check_weight_type(layer.weight_type, where, field + ".weights");
        const std::int64_t fan_in = layer.fan_in();
        const std::int64_t count = fan_in * layer.out_channels;
        if (count > format::kMaxWeights) {
          fail(where, "{}: {} weights exceed the limit of {}", field, count, format::kMaxWeights);
        }
        if (static_cast<std::int64_t>(layer.weights.size()) != count) {
          fail(where, "{}.weights: expected {} values, got {}", field, count, layer.weights.size());
        }
        for (std::size_t k = 0; k < layer.weights.size(); ++k) {
          if (!layer.weight_type.value_valid(layer.weights[k])) {
            fail(where, "{}.weights[{}]: value {} is not a {} weight", field, k,
                 int{layer.weights[k]}, layer.weight_type.name());
          }
        }
        layer.accumulator_bound =
            fan_in * layer.weight_type.range().max_abs() * std::int64_t{range.max_abs()};
        if (layer.accumulator_bound > format::kMaxAccumulator) {
          fail(where, "{}: accumulator bound {} exceeds {}", field, layer.accumulator_bound,
               format::kMaxAccumulator);
        }
        if (layer.output == Output::Threshold) {
          if (last) fail(where, "{}.output: the last layer must output logits", field);
          check_act_type(layer.out_act, where, field + ".output.act");
          const std::size_t expected =
              std::size_t(layer.out_channels) * std::size_t(layer.out_act.num_thresholds());
          if (layer.thresholds.size() != expected) {
            fail(where, "{}.thresholds: expected {} values, got {}", field, expected,
                 layer.thresholds.size());
          }
          const int per_channel = layer.out_act.num_thresholds();
          for (int o = 0; o < layer.out_channels; ++o) {
            for (int l = 1; l < per_channel; ++l) {
              const std::size_t k = std::size_t(o) * per_channel + l;
              if (layer.thresholds[k] < layer.thresholds[k - 1]) {
                fail(where, "{}.thresholds: channel {} is not non-decreasing at index {}", field,
                     o, l);
              }
            }
          }
          range = layer.out_act.range();
        } else {
          if ((complete && !last) || layer.op != Op::Dense) {
            fail(where, "{}.output: only the last layer, a dense layer, may output logits", field);
          }
          if (layer.bias.size() != std::size_t(layer.out_channels)) {
            fail(where, "{}.bias: expected {} values, got {}", field, layer.out_channels,
                 layer.bias.size());
          }
          std::int64_t max_bias = 0;
          for (std::int32_t b : layer.bias) {
            max_bias = std::max<std::int64_t>(max_bias, b < 0 ? -std::int64_t{b} : b);
          }
          if (max_bias > format::kMaxAccumulator) {
            fail(where, "{}.bias: |bias| {} exceeds {}", field, max_bias, format::kMaxAccumulator);
          }
          const auto bound = static_cast<std::int32_t>(layer.accumulator_bound + max_bias);
          range = {-bound, bound};
        }
        break;
      }
    }
    if (complete && !last && layer.has_weights() && layer.output == Output::Logits) {
      fail(where, "{}.output: logits are only allowed on the last layer", field);
    }
    if (last && !(layer.op == Op::Dense && layer.output == Output::Logits)) {
      fail(where, "{}: the last layer must be a dense layer with logits output", field);
    }
    check_shape(shape, where, field + " output shape");
    layer.out_shape = shape;
    layer.out_range = range;
  }
}

}  // namespace

void package_validate(Package& package, const std::string& where) {
  validate(package, where, true);
}

void package_validate_prefix(Package& package, const std::string& where) {
  validate(package, where, false);
}

// ---- Packing --------------------------------------------------------------------------------

namespace {

int row_codes(const Layer& layer) {
  return layer.op == Op::Conv2d ? layer.in_shape.c : static_cast<int>(layer.in_shape.size());
}

std::size_t row_count(const Layer& layer) {
  return layer.weights.size() / std::size_t(row_codes(layer));
}

std::size_t weight_words(const Layer& layer) {
  return row_count(layer) * format::words_per_row(row_codes(layer), layer.weight_type.bits);
}

std::vector<WeightValue> weights_unpack(const Layer& layer, const std::vector<Word>& words,
                                        const std::vector<std::size_t>& lines,
                                        const std::string& file) {
  const int bits = layer.weight_type.bits;
  const int per_word = format::codes_per_word(bits);
  const int codes = row_codes(layer);
  const int row_words = format::words_per_row(codes, bits);
  const std::int64_t rows =
      std::int64_t(layer.out_channels) * (layer.op == Op::Conv2d ? layer.kernel * layer.kernel : 1);
  std::vector<WeightValue> values;
  values.reserve(std::size_t(rows) * codes);
  const Word mask = (Word{1} << bits) - 1;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (int k = 0; k < row_words; ++k) {
      const std::size_t index = std::size_t(r) * row_words + k;
      const Word word = words[index];
      const int in_word = std::min(per_word, codes - k * per_word);
      for (int i = 0; i < in_word; ++i) {
        const Word code = (word >> (i * bits)) & mask;
        if (!layer.weight_type.code_valid(code)) {
          fail(file, "line {} (word {}): code {:#x} at position {} is not a valid {} code",
               lines[index], index, code, i, layer.weight_type.name());
        }
        values.push_back(static_cast<WeightValue>(layer.weight_type.decode(code)));
      }
      const int used_bits = in_word * bits;
      if (used_bits < format::kWordBits && (word >> used_bits) != 0) {
        fail(file, "line {} (word {}): unused bits above bit {} must be zero (got {:08x})",
             lines[index], index, used_bits - 1, word);
      }
    }
  }
  return values;
}

std::vector<Word> int32_words(const std::vector<std::int32_t>& values) {
  std::vector<Word> words(values.size());
  std::transform(values.begin(), values.end(), words.begin(),
                 [](std::int32_t v) { return static_cast<Word>(v); });
  return words;
}

std::vector<std::int32_t> words_int32(const std::vector<Word>& words) {
  std::vector<std::int32_t> values(words.size());
  std::transform(words.begin(), words.end(), values.begin(),
                 [](Word w) { return static_cast<std::int32_t>(w); });
  return values;
}

}  // namespace

std::vector<Word> weights_pack(const Layer& layer) {
  const int bits = layer.weight_type.bits;
  const int per_word = format::codes_per_word(bits);
  const int codes = row_codes(layer);
  const int row_words = format::words_per_row(codes, bits);
  std::vector<Word> words(weight_words(layer), 0);
  for (std::size_t r = 0; r < row_count(layer); ++r) {
    for (int i = 0; i < codes; ++i) {
      const Word code = layer.weight_type.encode(layer.weights[r * codes + i]);
      words[r * row_words + i / per_word] |= code << ((i % per_word) * bits);
    }
  }
  return words;
}

std::string weights_file_name(std::size_t index, const Layer& layer) {
  return fmt::format("{:02d}_{}.weights.hex", index, layer.name);
}
std::string thresholds_file_name(std::size_t index, const Layer& layer) {
  return fmt::format("{:02d}_{}.thresholds.hex", index, layer.name);
}
std::string bias_file_name(std::size_t index, const Layer& layer) {
  return fmt::format("{:02d}_{}.bias.hex", index, layer.name);
}

// ---- Manifest -------------------------------------------------------------------------------

namespace {

nlohmann::json shape_json(const Shape& s) { return nlohmann::json::array({s.c, s.h, s.w}); }

Shape shape_parse(const JsonField& f) {
  f.array_size(3, 3);
  return {static_cast<int>(f.at(0).integer(1, format::kMaxChannels)),
          static_cast<int>(f.at(1).integer(1, format::kMaxSpatial)),
          static_cast<int>(f.at(2).integer(1, format::kMaxSpatial))};
}

nlohmann::json act_json(const ActType& a) {
  if (a.kind == ActKind::Ternary) return {{"kind", "ternary"}};
  return {{"kind", a.kind == ActKind::Uint ? "uint" : "int"}, {"bits", a.bits}};
}

ActType act_parse(const JsonField& f) {
  f.allow_only({"kind", "bits"});
  const std::string kind = f.at("kind").one_of({"ternary", "uint", "int"});
  ActType a;
  if (kind == "ternary") {
    a.kind = ActKind::Ternary;
    a.bits = format::kTernaryStorageBits;
    if (f.has("bits")) f.at("bits").integer(2, 2);
    return a;
  }
  a.kind = kind == "uint" ? ActKind::Uint : ActKind::Int;
  a.bits = static_cast<int>(f.at("bits").integer(a.kind == ActKind::Uint ? 1 : 2,
                                                 format::kMaxActBits));
  return a;
}

nlohmann::json weight_type_json(const WeightType& t) {
  switch (t.kind) {
    case WeightKind::Ternary: return {{"kind", "ternary"}};
    case WeightKind::Odd: return {{"kind", "odd"}, {"bits", t.bits}};
    case WeightKind::Int: return {{"kind", "int"}, {"bits", t.bits}};
  }
  return {};
}

WeightType weight_type_parse(const JsonField& f) {
  f.allow_only({"kind", "bits", "file", "words"});
  const std::string kind = f.at("kind").one_of({"ternary", "odd", "int"});
  WeightType t;
  if (kind == "ternary") {
    t.kind = WeightKind::Ternary;
    t.bits = format::kTernaryStorageBits;
    if (f.has("bits")) f.at("bits").integer(2, 2);
    return t;
  }
  t.kind = kind == "odd" ? WeightKind::Odd : WeightKind::Int;
  t.bits = static_cast<int>(f.at("bits").integer(format::kMinWeightBits, format::kMaxWeightBits));
  return t;
}

// A memory-image reference: {"file": NAME, "words": N}. NAME must be a plain file name.
std::filesystem::path image_path(const JsonField& f, const std::filesystem::path& dir,
                                 std::size_t expected_words) {
  const JsonField file_field = f.at("file");
  const std::string name = file_field.string();
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    file_field.error("a plain file name inside the package directory");
  }
  f.at("words").integer(static_cast<std::int64_t>(expected_words),
                        static_cast<std::int64_t>(expected_words));
  return dir / name;
}

}  // namespace

Package package_load(const std::filesystem::path& dir) {
  const std::filesystem::path manifest_path = dir / std::string(format::kManifestFile);
  const nlohmann::json doc = JsonField::parse_file(manifest_path);
  const std::string where = manifest_path.string();
  const JsonField root(doc, where, "");
  root.allow_only({"format", "version", "name", "input", "layers", "meta"});

  if (root.at("format").string() != format::kFormatName) {
    root.at("format").error(fmt::format("\"{}\"", format::kFormatName));
  }
  const std::int64_t version = root.at("version").integer(0, 1 << 20);
  if (version != format::kFormatVersion) {
    fail(where, "version: unsupported format version {} (this build reads version {})", version,
         format::kFormatVersion);
  }

  Package package;
  package.name = root.at("name").string();
  root.at("input").allow_only({"shape", "act"});
  package.input_shape = shape_parse(root.at("input").at("shape"));
  check_shape(package.input_shape, where, "input.shape");
  package.input_act = act_parse(root.at("input").at("act"));
  if (root.has("meta")) {
    if (!root.at("meta").json().is_object()) root.at("meta").error("an object");
    package.meta = root.at("meta").json();
  }

  const JsonField layers = root.at("layers");
  const std::size_t n = layers.array_size(1, format::kMaxLayers);
  // First pass: topology only, so that shapes can be validated before any image is read.
  for (std::size_t i = 0; i < n; ++i) {
    const JsonField l = layers.at(i);
    Layer layer;
    layer.name = l.at("name").string();
    const bool name_ok = !layer.name.empty() && layer.name.size() <= 64 &&
                         std::all_of(layer.name.begin(), layer.name.end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                  c == '-';
                         });
    if (!name_ok) l.at("name").error("a name of 1 to 64 characters [A-Za-z0-9_-]");
    const std::string op = l.at("op").one_of({"conv2d", "maxpool", "global_avgpool", "dense"});
    layer.op = op == "conv2d"           ? Op::Conv2d
               : op == "maxpool"        ? Op::MaxPool
               : op == "global_avgpool" ? Op::GlobalAvgPool
                                        : Op::Dense;
    // Each op has its own fields; a field of another op is a mistake, not something to ignore.
    const std::vector<std::string> common = {"name", "op", "in_shape", "out_shape"};
    std::vector<std::string> allowed = common;
    switch (layer.op) {
      case Op::Conv2d:
        allowed.insert(allowed.end(),
                       {"kernel", "stride", "padding", "out_channels", "weights", "output"});
        break;
      case Op::MaxPool: allowed.insert(allowed.end(), {"kernel", "stride"}); break;
      case Op::GlobalAvgPool: break;
      case Op::Dense: allowed.insert(allowed.end(), {"out_features", "weights", "output"}); break;
    }
    l.allow_only(allowed);
    if (layer.op == Op::Conv2d || layer.op == Op::MaxPool) {
      layer.kernel = static_cast<int>(l.at("kernel").integer(1, format::kMaxKernel));
      layer.stride = static_cast<int>(l.at("stride").integer(1, format::kMaxStride));
    }
    if (layer.op == Op::Conv2d) {
      layer.padding = static_cast<int>(l.at("padding").integer(0, format::kMaxKernel - 1));
    }
    if (layer.has_weights()) {
      layer.out_channels = static_cast<int>(
          l.at(layer.op == Op::Conv2d ? "out_channels" : "out_features")
              .integer(1, format::kMaxChannels));
      layer.weight_type = weight_type_parse(l.at("weights"));
      const JsonField out = l.at("output");
      const std::string kind = out.at("kind").one_of({"threshold", "logits"});
      if (kind == "threshold") {
        out.allow_only({"kind", "act", "file", "words"});
        layer.output = Output::Threshold;
        layer.out_act = act_parse(out.at("act"));
      } else {
        out.allow_only({"kind", "scale", "file", "words"});
        layer.output = Output::Logits;
        layer.logit_scale = out.at("scale").number();
        if (!(layer.logit_scale > 0)) out.at("scale").error("a positive number");
      }
    }
    package.layers.push_back(std::move(layer));
  }
  // Shapes are checked against the derived chain before any file is opened.
  Shape shape = package.input_shape;
  for (std::size_t i = 0; i < n; ++i) {
    Layer& layer = package.layers[i];
    const JsonField l = layers.at(i);
    const std::string field = fmt::format("layers[{}] ({})", i, layer.name);
    if (shape_parse(l.at("in_shape")) != shape) {
      fail(where, "{}.in_shape: expected [{}, {}, {}] (the previous layer's output)", field,
           shape.c, shape.h, shape.w);
    }
    layer.in_shape = shape;
    const bool last = i + 1 == n;
    const bool logits = layer.has_weights() && layer.output == Output::Logits;
    if (logits != last || (logits && layer.op != Op::Dense)) {
      fail(where, "{}.output: the last layer, and only it, must be a dense layer with logits",
           field);
    }
    shape = layer_geometry(layer, shape, where, field);
    if (shape_parse(l.at("out_shape")) != shape) {
      fail(where, "{}.out_shape: expected [{}, {}, {}] from the layer's geometry", field, shape.c,
           shape.h, shape.w);
    }
    if (layer.has_weights() &&
        std::int64_t{layer.fan_in()} * layer.out_channels > format::kMaxWeights) {
      fail(where, "{}: {} weights exceed the limit of {}", field,
           std::int64_t{layer.fan_in()} * layer.out_channels, format::kMaxWeights);
    }
  }
  // Second pass: memory images.
  for (std::size_t i = 0; i < n; ++i) {
    Layer& layer = package.layers[i];
    if (!layer.has_weights()) continue;
    const JsonField l = layers.at(i);
    const int codes = row_codes(layer);
    const std::size_t rows =
        std::size_t(layer.out_channels) * (layer.op == Op::Conv2d ? layer.kernel * layer.kernel : 1);
    const std::size_t words = rows * format::words_per_row(codes, layer.weight_type.bits);
    std::vector<std::size_t> lines;
    const auto weights_path = image_path(l.at("weights"), dir, words);
    const std::vector<Word> weight_words = hex_read(weights_path, words, &lines);
    layer.weights = weights_unpack(layer, weight_words, lines, weights_path.string());
    const JsonField out = l.at("output");
    if (layer.output == Output::Threshold) {
      const int levels = layer.out_act.num_thresholds();
      const std::size_t count = std::size_t(layer.out_channels) * levels;
      const auto path = image_path(out, dir, count);
      layer.thresholds = words_int32(hex_read(path, count, &lines));
      for (std::size_t k = 1; k < count; ++k) {
        if (k % std::size_t(levels) != 0 && layer.thresholds[k] < layer.thresholds[k - 1]) {
          fail(path.string(), "line {}: threshold {} of channel {} is below the previous one "
               "(thresholds must be non-decreasing within a channel)",
               lines[k], k % levels, k / levels);
        }
      }
    } else {
      const auto path = image_path(out, dir, std::size_t(layer.out_channels));
      layer.bias = words_int32(hex_read(path, std::size_t(layer.out_channels), &lines));
      for (std::size_t k = 0; k < layer.bias.size(); ++k) {
        if (std::llabs(layer.bias[k]) > format::kMaxAccumulator) {
          fail(path.string(), "line {}: bias {} is outside [-{}, {}]", lines[k], layer.bias[k],
               format::kMaxAccumulator, format::kMaxAccumulator);
        }
      }
    }
  }
  package_validate(package, where);
  return package;
}

// ---- Saving ---------------------------------------------------------------------------------

namespace {

std::string layer_comment(const Package& package, std::size_t i, const std::string& what) {
  const Layer& l = package.layers[i];
  return fmt::format("{} '{}' layer {} ({}): {}", format::kFormatName, package.name, i, l.name, what);
}

// Writes the manifest and every memory image of a validated package into `dir`.
void package_write_files(const Package& package, const std::filesystem::path& tmp_dir) {
  nlohmann::json manifest;
  manifest["format"] = format::kFormatName;
  manifest["version"] = format::kFormatVersion;
  manifest["name"] = package.name;
  manifest["input"] = {{"shape", shape_json(package.input_shape)},
                       {"act", act_json(package.input_act)}};
  manifest["layers"] = nlohmann::json::array();
  for (std::size_t i = 0; i < package.layers.size(); ++i) {
    const Layer& l = package.layers[i];
    nlohmann::json j;
    j["name"] = l.name;
    j["op"] = op_name(l.op);
    j["in_shape"] = shape_json(l.in_shape);
    j["out_shape"] = shape_json(l.out_shape);
    if (l.op == Op::Conv2d || l.op == Op::MaxPool) {
      j["kernel"] = l.kernel;
      j["stride"] = l.stride;
    }
    if (l.op == Op::Conv2d) j["padding"] = l.padding;
    if (l.has_weights()) {
      j[l.op == Op::Conv2d ? "out_channels" : "out_features"] = l.out_channels;
      const std::vector<Word> words = weights_pack(l);
      const std::string wname = weights_file_name(i, l);
      file_write_atomic(
          tmp_dir / wname,
          hex_format(words, layer_comment(package, i,
                                          fmt::format("{} weights, {} rows of {} codes",
                                                      l.weight_type.name(), row_count(l),
                                                      row_codes(l)))));
      j["weights"] = weight_type_json(l.weight_type);
      j["weights"]["file"] = wname;
      j["weights"]["words"] = words.size();
      if (l.output == Output::Threshold) {
        const std::string tname = thresholds_file_name(i, l);
        file_write_atomic(tmp_dir / tname,
                          hex_format(int32_words(l.thresholds),
                                     layer_comment(package, i,
                                                   fmt::format("{} thresholds per channel",
                                                               l.out_act.num_thresholds()))));
        j["output"] = {{"kind", "threshold"},
                       {"act", act_json(l.out_act)},
                       {"file", tname},
                       {"words", l.thresholds.size()}};
      } else {
        const std::string bname = bias_file_name(i, l);
        file_write_atomic(tmp_dir / bname,
                          hex_format(int32_words(l.bias), layer_comment(package, i, "logit bias")));
        j["output"] = {{"kind", "logits"},
                       {"scale", l.logit_scale},
                       {"file", bname},
                       {"words", l.bias.size()}};
      }
    }
    manifest["layers"].push_back(j);
  }
  manifest["meta"] = package.meta;
  file_write_atomic(tmp_dir / std::string(format::kManifestFile), manifest.dump(2) + "\n");

}

}  // namespace

void package_save(const Package& original, const std::filesystem::path& requested_dir) {
  Package package = original;
  // "out/pkg/" names the directory "out/pkg".
  std::filesystem::path dir = requested_dir.lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  package_validate(package, dir.string());
  // Replacing a previous package is the point of writing one; replacing anything else (a run
  // directory given by mistake, a file) would lose it.
  std::error_code ec;
  const bool exists = std::filesystem::exists(dir, ec);
  if (ec) fail(dir.string(), "cannot inspect: {}", ec.message());
  if (exists) {
    const bool empty_dir = std::filesystem::is_directory(dir, ec) && std::filesystem::is_empty(dir, ec);
    const bool package = std::filesystem::is_regular_file(dir / std::string(format::kManifestFile), ec);
    if (!empty_dir && !package) {
      fail(dir.string(), "exists and is not a model package (no {}): refusing to replace it",
           format::kManifestFile);
    }
  }

  std::random_device entropy;
  const std::filesystem::path tmp_dir =
      dir.string() + fmt::format(".tmp-{}-{:08x}", ::getpid(), entropy());
  std::filesystem::create_directories(tmp_dir, ec);
  if (ec) fail(tmp_dir.string(), "cannot create directory: {}", ec.message());
  try {
    package_write_files(package, tmp_dir);
  } catch (...) {
    std::filesystem::remove_all(tmp_dir, ec);
    throw;
  }

  // Swap the finished directory into place; the previous package survives until then.
  const std::filesystem::path old_dir = tmp_dir.string() + ".old";
  const bool had_old = std::filesystem::exists(dir);
  if (had_old) std::filesystem::rename(dir, old_dir, ec);
  if (ec) {
    const std::string message = ec.message();
    std::filesystem::remove_all(tmp_dir, ec);
    fail(dir.string(), "cannot move the previous package aside: {}", message);
  }
  std::filesystem::rename(tmp_dir, dir, ec);
  if (ec) {
    const std::string message = ec.message();
    if (had_old) std::filesystem::rename(old_dir, dir, ec);
    std::filesystem::remove_all(tmp_dir, ec);
    fail(dir.string(), "cannot move the new package into place: {}", message);
  }
  if (had_old) std::filesystem::remove_all(old_dir);
}

}  // namespace stqn
