// StqnTlmTarget: the accelerator as a SystemC module for virtual platforms. It wraps stqn_top
// verilated with --sc (one configuration per Verilated model class) and exposes its register and
// memory map (docs/registers.md) on a TLM-2.0 target socket with blocking transport. Each 32-bit
// word of a transaction becomes one AXI4-Lite access on the RTL's pins, clocked by clk_i.
//
// Timing: b_transport first waits for the delay the initiator annotated (so the RTL sees the
// access at the initiator's local time), then runs the AXI4-Lite handshakes cycle by cycle on
// clk_i. That time is real simulated time, so the returned delay is zero.
#pragma once

#include "stqn/sim/axil.hpp"

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_target_socket.h>

#include <cstdint>
#include <cstring>

namespace stqn::sim {

template <class Model>
class StqnTlmTarget : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<StqnTlmTarget> socket;
  sc_core::sc_in<bool> clk_i;    // the accelerator's clock
  sc_core::sc_in<bool> rst_ni;   // synchronous, active low
  sc_core::sc_out<bool> busy_o;  // STATUS bits as pins (done_o can drive an interrupt)
  sc_core::sc_out<bool> done_o;
  sc_core::sc_out<bool> error_o;

  explicit StqnTlmTarget(sc_core::sc_module_name name)
      : sc_core::sc_module(name), socket("socket"), rtl_("rtl") {
    socket.register_b_transport(this, &StqnTlmTarget::b_transport);
    rtl_.clk_i(clk_i);
    rtl_.rst_ni(rst_ni);
    rtl_.s_awvalid_i(awvalid_);
    rtl_.s_awready_o(awready_);
    rtl_.s_awaddr_i(awaddr_);
    rtl_.s_wvalid_i(wvalid_);
    rtl_.s_wready_o(wready_);
    rtl_.s_wdata_i(wdata_);
    rtl_.s_wstrb_i(wstrb_);
    rtl_.s_bvalid_o(bvalid_);
    rtl_.s_bready_i(bready_);
    rtl_.s_bresp_o(bresp_);
    rtl_.s_arvalid_i(arvalid_);
    rtl_.s_arready_o(arready_);
    rtl_.s_araddr_i(araddr_);
    rtl_.s_rvalid_o(rvalid_);
    rtl_.s_rready_i(rready_);
    rtl_.s_rdata_o(rdata_);
    rtl_.s_rresp_o(rresp_);
    rtl_.busy_o(busy_o);
    rtl_.done_o(done_o);
    rtl_.error_o(error_o);
  }

  // ---- Pins (stqn/sim/axil.hpp): inputs change right after an edge, outputs are read at the
  // next rising edge, where sc_signal still returns the values from before it.
  void drive(const AxilIn& in) {
    awvalid_.write(in.awvalid);
    awaddr_.write(in.awaddr);
    wvalid_.write(in.wvalid);
    wdata_.write(in.wdata);
    wstrb_.write(in.wstrb);
    bready_.write(in.bready);
    arvalid_.write(in.arvalid);
    araddr_.write(in.araddr);
    rready_.write(in.rready);
  }
  AxilOut edge() {
    wait(clk_i.posedge_event());
    AxilOut out;
    out.awready = awready_.read();
    out.wready = wready_.read();
    out.bvalid = bvalid_.read();
    out.bresp = static_cast<std::uint8_t>(bresp_.read());
    out.arready = arready_.read();
    out.rvalid = rvalid_.read();
    out.rdata = rdata_.read();
    out.rresp = static_cast<std::uint8_t>(rresp_.read());
    return out;
  }

 private:
  // Word-aligned transactions of whole 32-bit words (any number of them, byte enables all set
  // or absent). One AXI4-Lite access per word, at consecutive addresses.
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
    wait(delay);
    delay = sc_core::SC_ZERO_TIME;
    const std::uint64_t address = trans.get_address();
    const unsigned length = trans.get_data_length();
    if (address % 4 != 0 || length % 4 != 0 || length == 0 || address + length > kAddressSpace ||
        trans.get_streaming_width() < length) {
      trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
      return;
    }
    if (const unsigned char* be = trans.get_byte_enable_ptr()) {
      for (unsigned i = 0; i < trans.get_byte_enable_length(); ++i)
        if (be[i] != TLM_BYTE_ENABLED) {
          trans.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
          return;
        }
    }
    unsigned char* data = trans.get_data_ptr();
    bool ok = true;
    for (unsigned offset = 0; offset < length; offset += 4) {
      const auto word_address = static_cast<std::uint32_t>(address + offset);
      std::uint32_t word = 0;
      if (trans.is_write()) {
        std::memcpy(&word, data + offset, 4);  // host byte order, as the initiator wrote it
        ok = axil_write(*this, word_address, word) && ok;
      } else if (trans.is_read()) {
        ok = axil_read(*this, word_address, word) && ok;
        std::memcpy(data + offset, &word, 4);
      } else {
        trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
        return;
      }
    }
    trans.set_response_status(ok ? tlm::TLM_OK_RESPONSE : tlm::TLM_GENERIC_ERROR_RESPONSE);
  }

  static constexpr std::uint64_t kAddressSpace = std::uint64_t{1} << 22;  // stqn_top ADDR_W

  Model rtl_;
  sc_core::sc_signal<bool> awvalid_{"awvalid"}, awready_{"awready"}, wvalid_{"wvalid"},
      wready_{"wready"}, bvalid_{"bvalid"}, bready_{"bready"}, arvalid_{"arvalid"},
      arready_{"arready"}, rvalid_{"rvalid"}, rready_{"rready"};
  sc_core::sc_signal<std::uint32_t> awaddr_{"awaddr"}, wdata_{"wdata"}, araddr_{"araddr"},
      rdata_{"rdata"}, wstrb_{"wstrb"}, bresp_{"bresp"}, rresp_{"rresp"};
};

}  // namespace stqn::sim
