// A SystemC host model (TLM-2.0 initiator) for StqnTlmTarget: the accelerator's C++ host driver
// (stqn/accel/driver.hpp) running over a simple_initiator_socket. It loads a compiled package,
// runs images and keeps their results, all through TLM transactions.
#pragma once

#include "stqn/accel/driver.hpp"
#include "stqn/accel/program.hpp"

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace stqn::sim {

// The driver's bus over a TLM-2.0 initiator socket: one 4-byte transaction per access (blocking
// transport; the initiator's local time is kept at zero), and waits as clock periods.
class TlmBus : public accel::Bus {
 public:
  TlmBus(tlm_utils::simple_initiator_socket<class StqnTlmHost>& socket, sc_core::sc_time clock_period);
  bool write32(std::uint32_t address, std::uint32_t data) override;
  bool read32(std::uint32_t address, std::uint32_t& data) override;
  void wait(std::uint64_t cycles) override;
  std::uint64_t transactions() const { return transactions_; }

 private:
  bool transport(tlm::tlm_command command, std::uint32_t address, std::uint32_t& data);
  tlm_utils::simple_initiator_socket<StqnTlmHost>& socket_;
  sc_core::sc_time period_;
  std::uint64_t transactions_ = 0;
};

class StqnTlmHost : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<StqnTlmHost> socket;
  sc_core::sc_in<bool> rst_ni;  // the host starts once the accelerator is out of reset

  // Runs `inputs` (package input tensors) on `compiled` once the simulation starts, then stops
  // the simulation. Errors (identity, bus, accelerator) end up in error().
  StqnTlmHost(sc_core::sc_module_name name, const accel::Compiled& compiled,
              std::vector<Tensor> inputs, sc_core::sc_time clock_period);

  const std::vector<accel::RunResult>& results() const { return results_; }
  const std::string& error() const { return error_; }
  std::uint64_t transactions() const { return bus_.transactions(); }

 private:
  void run();
  const accel::Compiled& compiled_;
  std::vector<Tensor> inputs_;
  TlmBus bus_;
  std::vector<accel::RunResult> results_;
  std::string error_;
};

}  // namespace stqn::sim
