// stqn_top verilated as plain C++ (stqn-sim): the AXI4-Lite pins driven from C++ with
// stqn/sim/axil.hpp. Included only by sim/src/model_instance.cpp, which is compiled once per
// Verilated configuration.
#pragma once

#include "stqn/sim/axil.hpp"
#include "stqn/sim/top.hpp"

#include <verilated.h>
#if VM_TRACE_FST
#include <verilated_fst_c.h>
#endif

#include <memory>
#include <string>

namespace stqn::sim {

template <class Model>
class VerilatedTop final : public Top {
 public:
  VerilatedTop() : ctx_(std::make_unique<VerilatedContext>()) {
#if VM_TRACE_FST
    ctx_->traceEverOn(true);
#endif
    model_ = std::make_unique<Model>(ctx_.get(), "stqn_top");
    drive(AxilIn{});
    reset();
  }
  ~VerilatedTop() override {
    trace_close();
    model_->final();
  }

  // ---- Pins (stqn/sim/axil.hpp) ----
  void drive(const AxilIn& in) {
    Model& m = *model_;
    m.s_awvalid_i = in.awvalid;
    m.s_awaddr_i = in.awaddr;
    m.s_wvalid_i = in.wvalid;
    m.s_wdata_i = in.wdata;
    m.s_wstrb_i = in.wstrb;
    m.s_bready_i = in.bready;
    m.s_arvalid_i = in.arvalid;
    m.s_araddr_i = in.araddr;
    m.s_rready_i = in.rready;
  }
  AxilOut edge() {
    Model& m = *model_;
    m.clk_i = 0;
    eval_dump();
    AxilOut out;
    out.awready = m.s_awready_o;
    out.wready = m.s_wready_o;
    out.bvalid = m.s_bvalid_o;
    out.bresp = m.s_bresp_o;
    out.arready = m.s_arready_o;
    out.rvalid = m.s_rvalid_o;
    out.rdata = m.s_rdata_o;
    out.rresp = m.s_rresp_o;
    m.clk_i = 1;
    eval_dump();
    ++cycles_;
    return out;
  }

  // ---- accel::Bus ----
  bool write32(std::uint32_t address, std::uint32_t data) override {
    return axil_write(*this, address, data);
  }
  bool read32(std::uint32_t address, std::uint32_t& data) override {
    return axil_read(*this, address, data);
  }
  void wait(std::uint64_t cycles) override {
    Model& m = *model_;
    for (std::uint64_t i = 0; i < cycles; ++i) {
      m.clk_i = 0;
      eval_dump();
      m.clk_i = 1;
      eval_dump();
    }
    cycles_ += cycles;
  }

  // ---- Top ----
  std::uint64_t cycles() const override { return cycles_; }
  void reset() override {
    model_->rst_ni = 0;
    wait(kResetCycles);
    model_->rst_ni = 1;
  }
  void trace_open(const std::string& path) override {
#if VM_TRACE_FST
    trace_close();
    trace_ = std::make_unique<VerilatedFstC>();
    model_->trace(trace_.get(), 99);
    trace_->open(path.c_str());
#else
    fail(path, "this model was built without FST tracing (sim/CMakeLists.txt, STQN_SIM_TRACE_CONFIGS)");
#endif
  }
  void trace_close() override {
#if VM_TRACE_FST
    if (trace_) trace_->close();
    trace_.reset();
#endif
  }

 private:
  void eval_dump() {
    model_->eval();
#if VM_TRACE_FST
    if (trace_) trace_->dump(ctx_->time());
#endif
    ctx_->timeInc(1);
  }

  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<Model> model_;
#if VM_TRACE_FST
  std::unique_ptr<VerilatedFstC> trace_;
#endif
  std::uint64_t cycles_ = 0;
};

}  // namespace stqn::sim
