// Reader of rtl/configs/configs.json (see stqn/accel/config.hpp).
#include "stqn/accel/config.hpp"

#include "stqn/accel/program.hpp"
#include "stqn/error.hpp"
#include "stqn/json_field.hpp"

namespace stqn::accel {

namespace {

bool power_of_two(std::int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

int log2_ceil(std::int64_t v) {
  int b = 0;
  while ((std::int64_t{1} << b) < v) ++b;
  return b;
}

Config config_parse(const std::string& name, const JsonField& entry) {
  entry.allow_only({"description", "params", "device"});
  const JsonField p = entry.at("params");
  p.allow_only({"LANES", "ROWS", "COLS", "ACC_W", "NTH", "ACT_BANK_DEPTH", "WGT_DEPTH",
                "THR_DEPTH", "LINE_DEPTH", "PROG_DEPTH", "WGT_SPRAM", "THR_UNITS",
                "CHECK_AHEAD"});  // CHECK_AHEAD: stqn_ctrl only, no effect on the host
  if (p.has("CHECK_AHEAD")) static_cast<void>(p.at("CHECK_AHEAD").integer(0, 1));
  auto pow2 = [&](const char* key, std::int64_t lo, std::int64_t hi) {
    const JsonField f = p.at(key);
    const std::int64_t v = f.integer(lo, hi);
    if (!power_of_two(v)) f.error(fmt::format("a power of two in [{}, {}]", lo, hi));
    return static_cast<int>(v);
  };
  Config c;
  c.name = name;
  c.lanes = pow2("LANES", 1, 64);
  c.rows = pow2("ROWS", 1, 64);
  c.cols = pow2("COLS", 2, 64);
  c.acc_w = static_cast<int>(p.at("ACC_W").integer(8, 32));
  c.nth = pow2("NTH", 1, 8);
  c.act_bank_depth = pow2("ACT_BANK_DEPTH", 16, 1 << 16);
  c.wgt_depth = pow2("WGT_DEPTH", 16, 1 << 16);
  c.thr_depth = pow2("THR_DEPTH", 16, 1 << 16);
  // The line buffer also holds the logits: at least kMaxLogits words.
  c.line_depth = pow2("LINE_DEPTH", kMaxLogits, 1 << 16);
  // Optional: stqn_top's default program memory (kDefaultProgDepth) unless a configuration sets it.
  if (p.has("PROG_DEPTH")) c.prog_depth = pow2("PROG_DEPTH", kDescriptorWords, 1 << 14);
  else c.prog_depth = kDefaultProgDepth;
  c.wgt_spram = p.at("WGT_SPRAM").integer(0, 1) != 0;
  c.thr_units = pow2("THR_UNITS", 1, 64);
  if (c.thr_units > c.cols) p.at("THR_UNITS").error("at most COLS (the units share one channel's pixels)");
  if (c.lanes % c.rows != 0) p.at("ROWS").error("a divisor of LANES (the write-back's collector)");
  if (c.thr_word_bits() < 32) p.at("ACC_W").error("NTH * ACC_W >= 32 (a logit bias fills a word)");
  // What the RTL refuses to elaborate is refused here too, naming the RTL limit.
  if (c.acc_w < log2_ceil(c.lanes) + 3) {
    p.at("ACC_W").error("ACC_W >= log2(LANES) + 3 (stqn_array's partial sums)");
  }
  const int act_slices = log2_ceil(word_slices(c.act_word_bits()));
  const int wgt_slices = log2_ceil(word_slices(c.wgt_word_bits()));
  const int thr_slices = log2_ceil(word_slices(c.thr_word_bits()));
  if (act_slices > 5 || wgt_slices > 5 || thr_slices > 5) {
    p.at("ROWS").error("memory words of at most 1,024 bits: 2 * LANES * ROWS and NTH * ACC_W "
                       "(stqn_axil's 5-bit slice counters)");
  }
  // The host windows of docs/registers.md (stqn_axil): 1 MB of weights, 256 KB of thresholds,
  // 1 MB of activations, in 32-bit slices.
  if (log2_ceil(c.wgt_depth) + wgt_slices > 18) {
    p.at("WGT_DEPTH").error("WGT_DEPTH x 32-bit slices per word <= 2^18 (the 1 MB weight window)");
  }
  if (log2_ceil(c.thr_depth) + thr_slices > 16) {
    p.at("THR_DEPTH").error("THR_DEPTH x 32-bit slices per word <= 2^16 (the 256 KB threshold window)");
  }
  if (log2_ceil(c.act_bank_depth) + log2_ceil(c.cols) + act_slices > 19) {
    p.at("ACT_BANK_DEPTH")
        .error("ACT_BANK_DEPTH x COLS x 32-bit slices per word <= 2^19 (the 1 MB activation window)");
  }
  if (c.wgt_spram && (c.wgt_depth > 16384 || c.wgt_word_bits() % 16 != 0)) {
    p.at("WGT_DEPTH").error("with WGT_SPRAM, WGT_DEPTH <= 16384 and 2 * LANES * ROWS a multiple of 16 "
                            "(stqn_wmem's SB_SPRAM256KA tiles)");
  }
  return c;
}

}  // namespace

int Config::max_descriptors() const { return prog_depth / kDescriptorWords; }

std::filesystem::path configs_default_path() { return STQN_CONFIGS_JSON; }

std::vector<Config> configs_load(const std::filesystem::path& file) {
  const nlohmann::json doc = JsonField::parse_file(file);
  const JsonField root(doc, file.string(), "");
  root.allow_only({"//", "configs"});
  const JsonField all = root.at("configs");
  if (!all.json().is_object() || all.json().empty()) all.error("an object of named configurations");
  std::vector<Config> configs;
  for (const auto& item : all.json().items()) configs.push_back(config_parse(item.key(), all.at(item.key())));
  return configs;
}

Config config_load(const std::string& name, const std::filesystem::path& file) {
  std::string known;
  for (const Config& c : configs_load(file)) {
    if (c.name == name) return c;
    known += (known.empty() ? "" : ", ") + c.name;
  }
  fail(file.string(), "no configuration named \"{}\" (known: {})", printable(name), known);
}

int word_slices(int bits) { return (bits + 31) / 32; }

int word_stride(int bits) {
  int s = 1;
  while (s < word_slices(bits)) s *= 2;
  return s;
}

}  // namespace stqn::accel
