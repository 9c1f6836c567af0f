// The host driver (see stqn/accel/driver.hpp).
#include "stqn/accel/driver.hpp"

#include "stqn/accel/regs.hpp"
#include "stqn/error.hpp"

namespace stqn::accel {

namespace {
int log2_of(int v) {
  int b = 0;
  while ((1 << b) < v) ++b;
  return b;
}
}  // namespace

std::string error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::None: return "none";
    case ErrorCode::Opcode: return "unknown opcode";
    case ErrorCode::Region: return "region beyond its memory";
    case ErrorCode::Overlap: return "input and output regions overlap";
    case ErrorCode::Shape: return "shape the configuration cannot hold";
    case ErrorCode::Accumulator: return "accumulator bound beyond ACC_W";
    case ErrorCode::ProgramLength: return "program length 0 or beyond the program memory";
  }
  return "error code " + std::to_string(static_cast<std::uint32_t>(code));
}

std::uint32_t Driver::read(std::uint32_t address) {
  std::uint32_t data = 0;
  if (!bus_.read32(address, data)) fail("accelerator bus", "read of 0x{:08x} answered SLVERR", address);
  return data;
}

void Driver::write(std::uint32_t address, std::uint32_t data) {
  if (!bus_.write32(address, data)) fail("accelerator bus", "write of 0x{:08x} answered SLVERR", address);
}

void Driver::check_identity() {
  const Config& c = config_;
  auto expect = [&](const char* name, std::uint32_t address, std::uint32_t want) {
    const std::uint32_t got = read(address);
    if (got != want) {
      fail("accelerator", "{} reads 0x{:08x}, configuration \"{}\" expects 0x{:08x}", name, got, c.name, want);
    }
  };
  expect("ID", regs::kId, regs::kIdValue);
  expect("VERSION", regs::kVersion, regs::kMapVersion | (std::uint32_t(format::kFormatVersion) << 16));
  expect("CONFIG0", regs::kConfig0, std::uint32_t(c.lanes) | std::uint32_t(c.rows) << 8 |
                                        std::uint32_t(c.cols) << 16 | std::uint32_t(c.acc_w) << 24);
  expect("CONFIG1", regs::kConfig1, std::uint32_t(log2_of(c.act_bank_depth)) |
                                        std::uint32_t(log2_of(c.wgt_depth)) << 8 |
                                        std::uint32_t(log2_of(c.thr_depth)) << 16 |
                                        std::uint32_t(log2_of(c.prog_depth)) << 24);
  expect("CONFIG2", regs::kConfig2, std::uint32_t(c.nth) | std::uint32_t(c.wgt_spram) << 8 |
                                        std::uint32_t(log2_of(c.line_depth)) << 16);
}

void Driver::soft_reset() { write(regs::kCtrl, regs::kCtrlSoftReset); }

void Driver::write_wide(std::uint32_t base, const WideImage& image) {
  const int slices = word_slices(image.bits), stride = word_stride(image.bits);
  for (std::size_t a = 0; a < image.words.size(); ++a)
    for (int s = 0; s < slices; ++s)
      write(base + 4u * static_cast<std::uint32_t>(a * stride + s), image.words[a][s]);
}

void Driver::load_program(const std::vector<Word>& program, int length) {
  for (std::size_t i = 0; i < program.size(); ++i) write(regs::kProgram + 4u * std::uint32_t(i), program[i]);
  write(regs::kProgramLen, static_cast<std::uint32_t>(length));
}

void Driver::load(const Compiled& c) {
  load_program(c.program(), static_cast<int>(c.steps.size()));
  write_wide(regs::kWeights, c.weights);
  write_wide(regs::kThresholds, c.thresholds);
}

void Driver::write_act_word(int bank, int address, const std::vector<Word>& slices) {
  const int stride = word_stride(config_.act_word_bits());
  for (std::size_t s = 0; s < slices.size(); ++s)
    write(regs::act_address(config_.cols, stride, bank, address, static_cast<int>(s)), slices[s]);
}

std::vector<Word> Driver::read_act_word(int bank, int address) {
  const int stride = word_stride(config_.act_word_bits());
  std::vector<Word> slices(word_slices(config_.act_word_bits()));
  for (std::size_t s = 0; s < slices.size(); ++s)
    slices[s] = read(regs::act_address(config_.cols, stride, bank, address, static_cast<int>(s)));
  return slices;
}

void Driver::write_input(const Compiled& c, const Tensor& input) {
  for (const ActWord& w : input_words(c, input)) write_act_word(w.bank, w.address, w.slices);
}

void Driver::start() { write(regs::kCtrl, regs::kCtrlStart); }

RunResult Driver::wait_result(const Compiled& c, std::uint64_t max_cycles, std::uint64_t poll) {
  RunResult r;
  std::uint32_t status = 0;
  for (std::uint64_t waited = 0;; waited += poll) {
    status = read(regs::kStatus);
    if ((status & regs::kStatusBusy) == 0) break;
    if (waited >= max_cycles) {
      r.timed_out = true;
      return r;
    }
    bus_.wait(poll);
  }
  r.done = (status & regs::kStatusDone) != 0;
  r.error = (status & regs::kStatusError) != 0;
  r.error_code = static_cast<ErrorCode>(read(regs::kErrorCode));
  r.error_pc = static_cast<int>(read(regs::kErrorPc));
  r.cycles = read(regs::kCycles);
  if (r.error) return r;
  r.predicted = static_cast<int>(read(regs::kClass));
  for (int i = 0; i < c.num_classes; ++i)
    r.logits.push_back(static_cast<std::int32_t>(read(regs::kLogits + 4u * std::uint32_t(i))));
  r.step_cycles = read_step_cycles(c.steps.size());
  return r;
}

std::vector<std::uint32_t> Driver::read_step_cycles(std::size_t steps) {
  // Word i numbers descriptor i's last cycle from 0 at the run's first; "descriptor -1" ends in
  // cycle -1 (the unsigned wrap makes descriptor 0's count word 0 + 1).
  std::vector<std::uint32_t> counts;
  std::uint32_t before = ~std::uint32_t{0};
  for (std::size_t i = 0; i < steps; ++i) {
    const std::uint32_t last = read(regs::kLayerCycles + 4u * std::uint32_t(i));
    counts.push_back(last - before);
    before = last;
  }
  return counts;
}

RunResult Driver::run(const Compiled& c, const Tensor& input, std::uint64_t max_cycles) {
  write_input(c, input);
  start();
  return wait_result(c, max_cycles);
}

Tensor Driver::read_output(const Step& step) {
  const ConvGeometry& g = step.out;
  std::vector<std::vector<Digits>> banks(g.cols, std::vector<Digits>(g.act_words_per_bank(), Digits(g.lanes, 0)));
  for (int b = 0; b < g.cols; ++b)
    for (int a = g.in_base; a < g.act_words_per_bank(); ++a)
      banks[b][a] = digits_unpack(read_act_word(b, a), g.lanes);
  return act_tensor(g, banks);
}

}  // namespace stqn::accel
