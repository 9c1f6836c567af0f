// Shared testbench drivers: seeds, the Verilator context and clock, random handshakes and bit
// fields of wide Verilator signals. Every RTL test uses these; no test opens its own context.
#pragma once

#include <verilated.h>
#if VM_COVERAGE
#include <verilated_cov.h>
#include <unistd.h>
#include <cstdlib>
#include <string>
#endif

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <type_traits>

namespace stqn_tb {

// The seed of a randomized test: $STQN_SEED if set, else fresh. Printed, so that every failure
// can be replayed with STQN_SEED=<seed>.
std::uint64_t test_seed();

#if VM_COVERAGE
// Coverage builds: writes the context's counters to $STQN_COVERAGE_DIR/<unique>.dat (if set).
inline void coverage_write(VerilatedContext& ctx) {
  const char* dir = std::getenv("STQN_COVERAGE_DIR");
  if (dir == nullptr || *dir == '\0') return;
  static int serial = 0;
  const std::string path = std::string(dir) + "/cov-" + std::to_string(::getpid()) + "-" +
                           std::to_string(serial++) + ".dat";
  ctx.coveragep()->write(path.c_str());
}
#endif

// Owns the VerilatedContext and the model. Randomizes initial values (the model must be built
// with --x-initial unique) from the seed, reports assertion failures instead of aborting.
template <class Model>
class Harness {
 public:
  explicit Harness(std::uint64_t seed) : ctx_(std::make_unique<VerilatedContext>()) {
    ctx_->randReset(2);
    ctx_->randSeed(static_cast<int>(seed % 0x7fffffffu) + 1);
    ctx_->fatalOnError(false);
    dut_ = std::make_unique<Model>(ctx_.get(), "dut");
  }
  ~Harness() {
    dut_->final();
#if VM_COVERAGE
    coverage_write(*ctx_);
#endif
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  Model& dut() { return *dut_; }
  Model* operator->() { return dut_.get(); }
  VerilatedContext& context() { return *ctx_; }
  // True once an assertion ($error under --assert) fired.
  bool assertion_failed() const { return ctx_->gotError(); }

  // Settles the inputs set so far (call before reading combinational outputs).
  void settle() { dut_->eval(); }
  // One rising edge: inputs set before the call are sampled.
  void tick() {
    dut_->clk_i = 0;
    dut_->eval();
    ctx_->timeInc(1);
    dut_->clk_i = 1;
    dut_->eval();
    ctx_->timeInc(1);
    ++cycles_;
  }
  void reset(int cycles = 2) {
    dut_->rst_ni = 0;
    for (int i = 0; i < cycles; ++i) tick();
    dut_->rst_ni = 1;
    settle();
  }
  std::uint64_t cycles() const { return cycles_; }

 private:
  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<Model> dut_;
  std::uint64_t cycles_ = 0;
};

// A random handshake partner: a source that offers a pending beat with probability p_valid per
// cycle (and then holds it until it moves), or a sink that is ready with probability p_ready.
class Coin {
 public:
  Coin(std::mt19937_64& rng, double p) : rng_(&rng), p_(p) {}
  bool flip() { return std::bernoulli_distribution(p_)(*rng_); }
  void set(double p) { p_ = p; }

 private:
  std::mt19937_64* rng_;
  double p_;
};

// ---- Bit fields of Verilator signals ------------------------------------------------------------
// Narrow signals are integers, wide ones (> 64 bits) VlWide<N> (arrays of 32-bit words).
template <class T>
void field_put(T& sig, int lsb, int width, std::uint64_t value) {
  if constexpr (std::is_integral_v<T>) {
    const std::uint64_t mask = width >= 64 ? ~0ull : ((1ull << width) - 1);
    sig = static_cast<T>((static_cast<std::uint64_t>(sig) & ~(mask << lsb)) |
                         ((value & mask) << lsb));
  } else {
    for (int b = 0; b < width; ++b) {
      const int bit = lsb + b;
      const std::uint32_t m = 1u << (bit % 32);
      if ((value >> b) & 1) sig[bit / 32] |= m;
      else sig[bit / 32] &= ~m;
    }
  }
}

template <class T>
std::uint64_t field_get(const T& sig, int lsb, int width) {
  if constexpr (std::is_integral_v<T>) {
    const std::uint64_t mask = width >= 64 ? ~0ull : ((1ull << width) - 1);
    return (static_cast<std::uint64_t>(sig) >> lsb) & mask;
  } else {
    std::uint64_t v = 0;
    for (int b = 0; b < width; ++b) {
      const int bit = lsb + b;
      v |= std::uint64_t{(sig[bit / 32] >> (bit % 32)) & 1u} << b;
    }
    return v;
  }
}

// Sign-extends the low `width` bits of v.
inline std::int64_t sign_extend(std::uint64_t v, int width) {
  const std::uint64_t m = 1ull << (width - 1);
  v &= width >= 64 ? ~0ull : ((1ull << width) - 1);
  return static_cast<std::int64_t>((v ^ m) - m);
}

}  // namespace stqn_tb
