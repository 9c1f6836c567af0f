// An AXI4-Lite master for Verilated models with s_aw*/s_w*/s_b*/s_ar*/s_r* pins: it is the
// accelerator driver's Bus (stqn/accel/driver.hpp), with random stalls before every AW, W and AR
// beat and random BREADY/RREADY back-pressure. It holds VALID and the payload until each beat
// moves (the RTL's stqn_hs_check assertions watch both sides) and gives up on an access that
// takes longer than a timeout: a hung bus is a test failure, not a hung test.
#pragma once

#include "stqn/accel/driver.hpp"
#include "stqn_tb/harness.hpp"

#include <cstdint>
#include <random>

namespace stqn_tb {

template <class Model>
class AxilMaster : public stqn::accel::Bus {
 public:
  static constexpr int kOkay = 0, kSlvErr = 2;
  // p_stall: chance that a source waits another cycle before raising VALID; p_ready: chance
  // that BREADY/RREADY is high in a cycle.
  AxilMaster(Harness<Model>& h, std::mt19937_64& rng, double p_stall = 0.3, double p_ready = 0.7)
      : h_(h), rng_(rng), p_stall_(p_stall), p_ready_(p_ready) {
    idle();
  }
  void set_stalls(double p_stall, double p_ready) { p_stall_ = p_stall, p_ready_ = p_ready; }

  // Drives every master output low (call after construction and after a reset).
  void idle() {
    h_->s_awvalid_i = 0;
    h_->s_wvalid_i = 0;
    h_->s_bready_i = 0;
    h_->s_arvalid_i = 0;
    h_->s_rready_i = 0;
  }

  // One write with an explicit strobe; returns BRESP, or -1 if the slave did not answer.
  int write(std::uint32_t address, std::uint32_t data, std::uint32_t strobe = 0xf) {
    int aw_wait = stall(), w_wait = stall();
    bool aw_done = false, w_done = false;
    for (std::uint64_t n = 0; n < kTimeout; ++n) {
      h_->s_awvalid_i = !aw_done && aw_wait == 0;
      h_->s_awaddr_i = address;
      h_->s_wvalid_i = !w_done && w_wait == 0;
      h_->s_wdata_i = data;
      h_->s_wstrb_i = strobe;
      h_->s_bready_i = coin(p_ready_);
      h_.settle();
      const bool aw_fire = h_->s_awvalid_i && h_->s_awready_o;
      const bool w_fire = h_->s_wvalid_i && h_->s_wready_o;
      const bool b_fire = h_->s_bvalid_o && h_->s_bready_i;
      const int resp = h_->s_bresp_o;
      if (b_fire && !(aw_done && w_done)) ++protocol_errors_;  // a response before the request
      h_.tick();
      aw_done = aw_done || aw_fire;
      w_done = w_done || w_fire;
      if (aw_wait > 0) --aw_wait;
      if (w_wait > 0) --w_wait;
      if (b_fire) {
        idle();
        return resp;
      }
    }
    idle();
    ++timeouts_;
    return -1;
  }

  // One read; returns RRESP (data in `data`), or -1 if the slave did not answer.
  int read(std::uint32_t address, std::uint32_t& data) {
    int ar_wait = stall();
    bool ar_done = false;
    for (std::uint64_t n = 0; n < kTimeout; ++n) {
      h_->s_arvalid_i = !ar_done && ar_wait == 0;
      h_->s_araddr_i = address;
      h_->s_rready_i = coin(p_ready_);
      h_.settle();
      const bool ar_fire = h_->s_arvalid_i && h_->s_arready_o;
      const bool r_fire = h_->s_rvalid_o && h_->s_rready_i;
      const int resp = h_->s_rresp_o;
      const std::uint32_t value = h_->s_rdata_o;
      if (r_fire && !ar_done) ++protocol_errors_;
      h_.tick();
      ar_done = ar_done || ar_fire;
      if (ar_wait > 0) --ar_wait;
      if (r_fire) {
        idle();
        data = value;
        return resp;
      }
    }
    idle();
    ++timeouts_;
    return -1;
  }

  // stqn::accel::Bus
  bool write32(std::uint32_t address, std::uint32_t data) override { return write(address, data) == kOkay; }
  bool read32(std::uint32_t address, std::uint32_t& data) override { return read(address, data) == kOkay; }
  void wait(std::uint64_t cycles) override {
    for (std::uint64_t i = 0; i < cycles; ++i) h_.tick();
  }

  int timeouts() const { return timeouts_; }
  int protocol_errors() const { return protocol_errors_; }

 private:
  static constexpr std::uint64_t kTimeout = 1000;
  bool coin(double p) { return std::bernoulli_distribution(p)(rng_); }
  int stall() {  // cycles before VALID rises: 0 with probability 1 - p_stall, else 1..4
    return coin(p_stall_) ? 1 + static_cast<int>(rng_() % 4) : 0;
  }

  Harness<Model>& h_;
  std::mt19937_64& rng_;
  double p_stall_, p_ready_;
  int timeouts_ = 0, protocol_errors_ = 0;
};

}  // namespace stqn_tb
