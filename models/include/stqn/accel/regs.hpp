// The accelerator's host register and memory map (docs/registers.md). rtl/stqn_axil.v decodes
// the same addresses; the stqn_top testbench checks the two agree.
#pragma once

#include <cstdint>

namespace stqn::accel::regs {

inline constexpr std::uint32_t kId = 0x000;          // reads kIdValue
inline constexpr std::uint32_t kVersion = 0x004;     // [15:0] map version, [31:16] package format
inline constexpr std::uint32_t kConfig0 = 0x008;     // LANES, ROWS, COLS, ACC_W (8 bits each)
inline constexpr std::uint32_t kConfig1 = 0x00C;     // log2 ACT_BANK_DEPTH, WGT, THR, PROG depth
inline constexpr std::uint32_t kCtrl = 0x010;        // [0] start, [1] soft reset
inline constexpr std::uint32_t kStatus = 0x014;      // [0] busy, [1] done, [2] error
inline constexpr std::uint32_t kErrorCode = 0x018;
inline constexpr std::uint32_t kErrorPc = 0x01C;
inline constexpr std::uint32_t kProgramLen = 0x020;  // descriptors to run (R/W)
inline constexpr std::uint32_t kClass = 0x024;       // argmax of the logits, ties -> lowest
inline constexpr std::uint32_t kCycles = 0x028;      // cycles of the last run
inline constexpr std::uint32_t kConfig2 = 0x02C;     // [7:0] NTH, [8] WGT_SPRAM, [23:16] log2 LINE_DEPTH

inline constexpr std::uint32_t kIdValue = 0x5354514E;  // "STQN"
// Register map and layer-program version: 4 since the int8 stem's image is stored two rows per
// word, one per half word (3: the step-cycle window holds each descriptor's last cycle).
inline constexpr std::uint32_t kMapVersion = 4;

inline constexpr std::uint32_t kCtrlStart = 1u << 0, kCtrlSoftReset = 1u << 1;
inline constexpr std::uint32_t kStatusBusy = 1u << 0, kStatusDone = 1u << 1, kStatusError = 1u << 2;

// Windows (byte addresses). Memory words wider than 32 bits take word_stride(bits) consecutive
// 32-bit host words, low slice first; writing the last slice writes the memory word.
inline constexpr std::uint32_t kLogits = 0x0000'1000;       // int32 per class (R)
inline constexpr std::uint32_t kLayerCycles = 0x0000'2000;  // each descriptor's last cycle (R)
inline constexpr std::uint32_t kProgram = 0x0001'0000;      // 32-bit words (R/W idle)
inline constexpr std::uint32_t kThresholds = 0x0004'0000;   // NTH*ACC_W-bit words (W idle)
inline constexpr std::uint32_t kWeights = 0x0010'0000;      // ROWS*LANES*2-bit words (W idle)
inline constexpr std::uint32_t kActivations = 0x0020'0000;  // 2*LANES-bit words (R/W idle)

// Activation window: host word a = (address * COLS + bank) * stride + slice.
inline std::uint32_t act_address(int cols, int stride, int bank, int address, int slice) {
  return kActivations + 4u * static_cast<std::uint32_t>((address * cols + bank) * stride + slice);
}

}  // namespace stqn::accel::regs
