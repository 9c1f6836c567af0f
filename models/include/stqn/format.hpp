// The stqn model package format: every number format and file-format constant, defined once.
//
// The trainer writes packages with these definitions, and the golden model, the testbenches and
// the RTL memory-image tools read them. docs/formats.md is the prose version of this header;
// docs/semantics.md gives the integer arithmetic that runs on the decoded values.
#pragma once

#include <cstdint>
#include <limits>
#include <string_view>

namespace stqn::format {

// ---- Package identity -------------------------------------------------------------------------
inline constexpr std::string_view kFormatName = "stqn-package";
inline constexpr int kFormatVersion = 1;
inline constexpr std::string_view kManifestFile = "manifest.json";

// ---- Memory images ----------------------------------------------------------------------------
// Every image is $readmemh text: one 32-bit word per line, exactly 8 hex digits, most significant
// digit first. Lines that start with "//" are comments. No address (@) markers.
inline constexpr int kWordBits = 32;
inline constexpr int kHexDigitsPerWord = kWordBits / 4;
using Word = std::uint32_t;
static_assert(sizeof(Word) * 8 == kWordBits, "a memory word is 32 bits");

// ---- Limits that keep every valid package inside int32 arithmetic and sane memory -------------
inline constexpr int kMaxLayers = 64;
inline constexpr int kMaxChannels = 4096;
inline constexpr int kMaxSpatial = 1024;           // height and width
inline constexpr int kMaxKernel = 11;
inline constexpr int kMaxStride = 8;
inline constexpr std::int64_t kMaxTensorElements = std::int64_t{1} << 24;
inline constexpr std::int64_t kMaxWeights = std::int64_t{1} << 24;
// |accumulator| and |logit| bound that every valid package must respect (checked at load).
inline constexpr std::int64_t kMaxAccumulator = (std::int64_t{1} << 30) - 1;
static_assert(kMaxAccumulator < std::numeric_limits<std::int32_t>::max(),
              "accumulators must fit int32 with room for the logit bias");

// ---- Weight codes -----------------------------------------------------------------------------
// ternary : value v in {-1, 0, +1}, stored as the 2-bit two's complement of v (0b01 = +1,
//           0b11 = -1, 0b00 = 0; 0b10 is invalid). Bit 0 is "nonzero", bit 1 is "negative".
// odd:K   : K in [2, 8]. Code j in [0, M] with M = 2^K - 1, value 2j - M (the STQN/RTN levels
//           of method.md section 3: M+1 uniform odd levels, no zero). Stored as unsigned j.
// int:K   : K in [2, 8]. Value v in [-2^(K-1), 2^(K-1) - 1], stored as K-bit two's complement.
enum class WeightKind : std::uint8_t { Ternary, Odd, Int };

inline constexpr int kTernaryStorageBits = 2;
inline constexpr int kMinWeightBits = 2;
inline constexpr int kMaxWeightBits = 8;

// ---- Activation codes -------------------------------------------------------------------------
// ternary : value in {-1, 0, +1}, stored as 2-bit two's complement (as ternary weights).
// uint:K  : K in [1, 8], value in [0, 2^K - 1].
// int:K   : K in [2, 8], value in [-2^(K-1), 2^(K-1) - 1].
// Every kind represents 0, so zero padding is exact. The code of an activation IS its value.
enum class ActKind : std::uint8_t { Ternary, Uint, Int };

inline constexpr int kMinActBits = 1;
inline constexpr int kMaxActBits = 8;

// ---- Layers -----------------------------------------------------------------------------------
enum class Op : std::uint8_t { Conv2d, MaxPool, GlobalAvgPool, Dense };
// What a conv2d or dense layer emits: codes of the next activation (per-channel thresholds),
// or integer logits (accumulator + per-class integer bias; last layer only).
enum class Output : std::uint8_t { Threshold, Logits };

// ---- Packing of codes into words ----------------------------------------------------------------
// A weight tensor is a list of rows: conv2d rows are (out_channel, ky, kx) in that order, each
// holding in_channels codes (OHWI order, channels innermost); dense rows are out_features, each
// holding in_features codes. Within a row, code i sits in word i / codes_per_word at bit offset
// (i % codes_per_word) * storage_bits, least significant first. Every row starts on a new word;
// unused high bits are zero.
constexpr int codes_per_word(int storage_bits) { return kWordBits / storage_bits; }
constexpr int words_per_row(int codes, int storage_bits) {
  return (codes + codes_per_word(storage_bits) - 1) / codes_per_word(storage_bits);
}
static_assert(codes_per_word(kTernaryStorageBits) == 16, "16 ternary codes per word");
static_assert(codes_per_word(3) == 10 && codes_per_word(8) == 4, "3-bit and 8-bit packing");
static_assert(words_per_row(32, 2) == 2 && words_per_row(33, 2) == 3, "rows round up to words");

// Thresholds: for each output channel o, L = (act max - act min) signed 32-bit words, o-major,
// non-decreasing within a channel. Output code = act min + #{l : S_o >= theta_{o,l}}.
// Logit biases: one signed 32-bit word per output feature. Logit = S_o + bias_o.

}  // namespace stqn::format
