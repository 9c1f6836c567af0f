// The accelerator's layer program and its compiler (docs/registers.md "Layer program"): a model
// package and a named configuration become a program image (8-word descriptors), weight and
// threshold memory images laid out for that configuration, and the placement of every layer's
// activations in the banks. A package that does not fit gets one message per problem and the
// named configurations that would hold it.
#pragma once

#include "stqn/accel/config.hpp"
#include "stqn/accel/layout.hpp"
#include "stqn/format.hpp"
#include "stqn/package.hpp"
#include "stqn/reference.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace stqn::accel {

using format::Word;

inline constexpr int kDescriptorWords = 8;

// Limits of the RTL's descriptor fields and units (rtl/stqn_ctrl.v checks the same ones).
inline constexpr int kMaxDim = (1 << 11) - 1;     // heights and widths (DIM_W = 11)
inline constexpr int kMaxCount = (1 << 10) - 1;   // chunks, output groups (CNT_W = 10)
inline constexpr int kMaxKernel = 255, kMaxPad = 255, kMaxStride = 255;
inline constexpr int kMaxPlanes = 8;              // weight, input and conv output planes
inline constexpr int kMaxShift = 15;              // wplanes - 1 + aplanes - 1 (array SHIFT_W = 4)
inline constexpr int kMaxLevels = 255;            // thresholds per channel
inline constexpr int kMaxLogits = 64;             // logit registers
inline constexpr int kMaxPoolSum = (1 << 15) - 1; // |sum| of a fused sum-pool (16-bit line-buffer lanes)
inline constexpr int kMaxSumPoolPlanes = 15;      // fused sum-pool output planes
inline constexpr int kInt8MaxAbsWeight = 128;     // int8 stem mode: |weight| <= 128 ...
inline constexpr int kInt8MaxPixel = 255;         // ... and pixels <= 255 (accumulator bound)

// Pooling has no opcode: it runs fused into the write-back of the conv before it (Pool).
enum class Opcode : std::uint32_t {
  Conv = 1,     // stride-1 conv, multi-threshold output codes (optionally pooled)
  Logits = 2,   // conv on a map with a 1x1 output, logits = S + bias, then argmax
};

// Pooling fused into a conv descriptor's write-back (w0[19:18]; docs/registers.md).
enum class Pool : std::uint32_t {
  None = 0,
  Max2 = 1,  // 2 x 2 max-pool, stride 2, on codes (floor: odd last row/column dropped)
  Sum = 2,   // global sum-pool: per channel, the sum of the map's codes as int:out_planes
};

// Error codes of ERROR_CODE (docs/registers.md).
enum class ErrorCode : std::uint32_t {
  None = 0,
  Opcode = 1,         // unknown opcode or a reserved bit set
  Region = 2,         // input, output, weight or threshold region beyond its memory
  Overlap = 3,        // input and output regions overlap
  Shape = 4,          // a shape or field the configuration cannot hold
  Accumulator = 5,    // accumulator bound >= 2^(ACC_W-1) - 1
  ProgramLength = 6,  // PROGRAM_LEN 0 or beyond the program memory
};

// One layer descriptor, decoded (8 words; bit layout in docs/registers.md).
struct Descriptor {
  Opcode op = Opcode::Conv;
  int aplanes = 1, wplanes = 1, out_planes = 1;  // input, weight, output digit planes
  bool out_ternary = true, out_signed = true;    // output code encoding
  Pool pool = Pool::None;                        // conv: pooling fused into the write-back
  bool int8 = false;  // int8 stem mode (w0[20]): packed uint8 image rows x int8 weights
  int in_c = 0, out_c = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int kernel = 1, pad = 0, stride = 1, levels = 0;  // levels: thresholds per channel
  int act_min = 0;                                  // code of zero threshold crossings
  int in_base = 0, out_base = 0, w_base = 0, thr_base = 0;
  // Must be zero: bits [10:0] -> w0[31:21], [31:16] -> w7[31:16].
  std::uint32_t reserved = 0;

  std::vector<Word> encode() const;
  static Descriptor decode(const Word* words);
};

// What the controller derives from a descriptor and drives into the datapath (stqn_agen and
// stqn_writeback fields; docs/registers.md "Layer program").
struct Derived {
  int chunks = 0, out_chunks = 0, ogroups = 0, in_wb = 0, out_wb = 0, thr_words = 0;
  std::int64_t pix_words = 0, row_words = 0;
  std::uint32_t row_off = 0, col_off = 0;  // modulo 2^log2(ACT_BANK_DEPTH)
  std::int64_t in_words = 0, out_words = 0, w_words = 0, thr_total = 0, acc_bound = 0;
  int pool_h = 0, pool_w = 0;      // the output map as written (after a fused pool)
  std::int64_t line_words = 0;     // fused pooling: line-buffer words used
  std::int64_t sum_bound = 0;      // fused sum-pool: out_h * out_w * max |code|
};
Derived descriptor_derive(const Descriptor& d, const Config& config);

// The controller's check of one descriptor, in its order (the first failing check wins):
// ErrorCode::None if rtl/stqn_ctrl.v would run it.
ErrorCode descriptor_check(const Descriptor& d, const Config& config);

// What one descriptor computes: the package layer and where its output lives in the banks.
struct Step {
  int layer = 0;            // index into Package::layers
  std::string name;
  Descriptor desc;
  ConvGeometry in, out;     // tensor layouts (k = 1); out unused for Logits
  std::int64_t beats = 0;   // array beats (conv, logits) or 0
  std::int64_t macs = 0;
};

// Memory words wider than 32 bits are lists of 32-bit slices, least significant first.
struct WideImage {
  int bits = 0;
  std::vector<std::vector<Word>> words;
};

struct Compiled {
  Config config;
  std::string package_name;
  std::vector<Step> steps;
  WideImage weights, thresholds;
  // The input image as the first step reads it: im2col'd taps of the first conv's windows
  // (input_kernel x input_kernel x C channels at each output pixel) when input_im2col; packed
  // uint8 rows for the int8 stem mode when input.packed; else the tensor's digit planes.
  bool input_im2col = false;
  int input_kernel = 1, input_pad = 0, input_stride = 1;
  ConvGeometry input;
  int num_classes = 0;

  std::vector<Word> program() const;  // 8 words per step
};

// Every reason the package does not fit the configuration (empty: it fits).
std::vector<std::string> fit_problems(const Package& package, const Config& config);

// Compiles; throws Error listing what does not fit and the named configurations (from
// `configs_file`) that would hold the package.
Compiled compile(const Package& package, const Config& config,
                 const std::filesystem::path& configs_file = configs_default_path());

// The input tensor as the first step reads it (im2col'd if the compiler chose to).
Tensor input_tensor(const Compiled& compiled, const Tensor& input);

// Activation words to write for an input: bank, address and the word's 32-bit slices.
struct ActWord {
  int bank = 0, address = 0;
  std::vector<Word> slices;
};
std::vector<ActWord> input_words(const Compiled& compiled, const Tensor& input);

// Packs 2-bit lane digits (lane i at bits 2i+1..2i) into 32-bit slices.
std::vector<Word> digits_pack(const Digits& digits);
// Codes of a bank word's lanes from its slices.
Digits digits_unpack(const std::vector<Word>& slices, int lanes);

// Writes the program, weight and threshold images as $readmemh files (program.hex, words of 32
// bits; weights.hex and thresholds.hex, one memory word per line, as wide as the memory) and
// layout.json (steps, regions, input placement) into `dir`, each file atomically.
void compiled_write(const Compiled& compiled, const std::filesystem::path& dir);

}  // namespace stqn::accel
