// The AXI4-Lite master protocol, written once for every way of reaching the accelerator's pins:
// the Verilated C++ model (stqn-sim) and the Verilated SystemC model (the TLM-2.0 target).
// `Pins` supplies two calls:
//   void drive(const AxilIn&)   sets the master's outputs for the coming clock edge;
//   AxilOut edge()              lets one rising edge pass and returns the slave's outputs as
//                               they were just before it (when the handshakes were decided).
#pragma once

#include "stqn/error.hpp"

#include <cstdint>

namespace stqn::sim {

struct AxilIn {  // master -> slave
  bool awvalid = false, wvalid = false, bready = false, arvalid = false, rready = false;
  std::uint32_t awaddr = 0, wdata = 0, araddr = 0;
  std::uint8_t wstrb = 0xf;
};

struct AxilOut {  // slave -> master
  bool awready = false, wready = false, bvalid = false, arready = false, rvalid = false;
  std::uint8_t bresp = 0, rresp = 0;
  std::uint32_t rdata = 0;
};

inline constexpr std::uint8_t kAxiRespOkay = 0;
// A slave that has not answered after this many cycles is broken: stop instead of hanging.
inline constexpr int kAxilTimeoutCycles = 1000;

// One write: address and data offered together, the response accepted as soon as it comes.
// Returns false if the slave answered with an error response (SLVERR).
template <class Pins>
bool axil_write(Pins& pins, std::uint32_t address, std::uint32_t data) {
  AxilIn in;
  in.awvalid = in.wvalid = in.bready = true;
  in.awaddr = address;
  in.wdata = data;
  for (int cycle = 0; cycle < kAxilTimeoutCycles; ++cycle) {
    pins.drive(in);
    const AxilOut out = pins.edge();
    if (in.awvalid && out.awready) in.awvalid = false;
    if (in.wvalid && out.wready) in.wvalid = false;
    if (out.bvalid) {
      pins.drive(AxilIn{});
      return out.bresp == kAxiRespOkay;
    }
  }
  fail("AXI4-Lite", "no write response for address 0x{:08x} within {} cycles", address,
       kAxilTimeoutCycles);
}

// One read. Returns false (data 0) if the slave answered with an error response.
template <class Pins>
bool axil_read(Pins& pins, std::uint32_t address, std::uint32_t& data) {
  AxilIn in;
  in.arvalid = in.rready = true;
  in.araddr = address;
  for (int cycle = 0; cycle < kAxilTimeoutCycles; ++cycle) {
    pins.drive(in);
    const AxilOut out = pins.edge();
    if (in.arvalid && out.arready) in.arvalid = false;
    if (out.rvalid) {
      pins.drive(AxilIn{});
      data = out.rresp == kAxiRespOkay ? out.rdata : 0;
      return out.rresp == kAxiRespOkay;
    }
  }
  fail("AXI4-Lite", "no read response for address 0x{:08x} within {} cycles", address,
       kAxilTimeoutCycles);
}

}  // namespace stqn::sim
