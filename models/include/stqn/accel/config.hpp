// A named accelerator configuration (rtl/configs/configs.json, docs/architecture.md section 3):
// the Verilog parameters the host-side tools need, read and validated with clear errors.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace stqn::accel {

// Program memory words when a configuration does not set PROG_DEPTH: stqn_top's default.
inline constexpr int kDefaultProgDepth = 512;

struct Config {
  std::string name;
  int lanes = 0, rows = 0, cols = 0;  // input channels per PE, output channels, pixels
  int acc_w = 0, nth = 0;             // accumulator bits, thresholds per threshold-memory word
  int act_bank_depth = 0;             // words per activation bank (COLS banks)
  int wgt_depth = 0, thr_depth = 0;   // weight and threshold memory words
  int line_depth = 0;                 // write-back line buffer words (fused pooling, logits)
  int prog_depth = 0;                 // program memory, 32-bit words (8 per descriptor)
  bool wgt_spram = false;
  int thr_units = 1;                  // write-back threshold units (pixels of one channel per cycle)

  int act_word_bits() const { return 2 * lanes; }
  int wgt_word_bits() const { return 2 * lanes * rows; }
  int thr_word_bits() const { return nth * acc_w; }
  int max_descriptors() const;
  int macs_per_cycle() const { return lanes * rows * cols; }
};

// The configurations file of the source tree (set at build time).
std::filesystem::path configs_default_path();

// Every configuration in the file, in file order. Throws Error naming the file and the field
// (unknown or missing parameter, a value out of range, a size that is not a power of two).
std::vector<Config> configs_load(const std::filesystem::path& file = configs_default_path());

// One configuration by name; an unknown name lists the known ones.
Config config_load(const std::string& name, const std::filesystem::path& file = configs_default_path());

// 32-bit host slices of a memory word of `bits` bits, and the address stride of one word in a
// host window (the slice count rounded up to a power of two).
int word_slices(int bits);
int word_stride(int bits);

}  // namespace stqn::accel
