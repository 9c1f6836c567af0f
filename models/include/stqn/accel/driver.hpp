// The host driver of the accelerator: loads a compiled program, its weights and thresholds and an
// image through an abstract 32-bit bus, starts a run, polls STATUS and reads the results.
// The bus is whatever connects the host: Verilated AXI4-Lite pins (tb/), a SystemC TLM-2.0
// socket (sim/), or a real bus.
#pragma once

#include "stqn/accel/program.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace stqn::accel {

class Bus {
 public:
  virtual ~Bus() = default;
  // One 32-bit access at a byte address; false when the slave answers with an error (SLVERR).
  virtual bool write32(std::uint32_t address, std::uint32_t data) = 0;
  virtual bool read32(std::uint32_t address, std::uint32_t& data) = 0;
  // Lets `cycles` clock cycles pass (the driver calls it between STATUS polls).
  virtual void wait(std::uint64_t cycles) = 0;
};

struct RunResult {
  bool done = false, error = false, timed_out = false;
  ErrorCode error_code = ErrorCode::None;
  int error_pc = 0;
  int predicted = -1;                       // CLASS
  std::uint32_t cycles = 0;                 // CYCLES
  std::vector<std::int32_t> logits;         // num_classes of the program
  std::vector<std::uint32_t> step_cycles;   // per descriptor (Driver::read_step_cycles)
};

std::string error_code_name(ErrorCode code);

class Driver {
 public:
  Driver(Bus& bus, Config config) : bus_(bus), config_(std::move(config)) {}

  // Reads ID, VERSION and CONFIG0..2 (LINE_DEPTH included) and throws Error if they differ from
  // the configuration.
  void check_identity();
  void soft_reset();
  // Program, weights and thresholds (once per package).
  void load(const Compiled& compiled);
  void load_program(const std::vector<Word>& program, int length);
  // The input tensor (package input shape) in the banks, as the first step reads it (packed
  // uint8 rows for an int8 stem, im2col'd taps, or digit planes).
  void write_input(const Compiled& compiled, const Tensor& input);
  void start();
  // Polls STATUS every `poll` cycles until done or error, at most `max_cycles`.
  RunResult wait_result(const Compiled& compiled, std::uint64_t max_cycles, std::uint64_t poll = 64);
  RunResult run(const Compiled& compiled, const Tensor& input, std::uint64_t max_cycles);

  // A step's output tensor read back from the banks (for debugging dumps).
  Tensor read_output(const Step& step);
  // Raw access to one bank word.
  std::vector<Word> read_act_word(int bank, int address);
  void write_act_word(int bank, int address, const std::vector<Word>& slices);

  std::uint32_t read(std::uint32_t address);
  // Cycles of each of the first `steps` descriptors of the last run: the step-cycle window holds
  // the number of each descriptor's last cycle (from 0; docs/registers.md), so descriptor i took
  // the difference to descriptor i - 1 (descriptor 0: its word + 1). Valid after a run without
  // error; they add up to CYCLES.
  std::vector<std::uint32_t> read_step_cycles(std::size_t steps);
  void write(std::uint32_t address, std::uint32_t data);

 private:
  void write_wide(std::uint32_t base, const WideImage& image);
  Bus& bus_;
  Config config_;
};

}  // namespace stqn::accel
