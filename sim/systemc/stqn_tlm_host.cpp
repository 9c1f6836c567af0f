// The SystemC host model (see stqn_tlm_host.hpp).
#include "stqn_tlm_host.hpp"

#include "stqn/error.hpp"

#include <exception>

namespace stqn::sim {

namespace {
// Runs can take a few million cycles; a run that takes more is reported as timed out.
constexpr std::uint64_t kRunCycleLimit = std::uint64_t{1} << 26;
}  // namespace

TlmBus::TlmBus(tlm_utils::simple_initiator_socket<StqnTlmHost>& socket, sc_core::sc_time clock_period)
    : socket_(socket), period_(clock_period) {}

bool TlmBus::transport(tlm::tlm_command command, std::uint32_t address, std::uint32_t& data) {
  tlm::tlm_generic_payload trans;
  trans.set_command(command);
  trans.set_address(address);
  trans.set_data_ptr(reinterpret_cast<unsigned char*>(&data));
  trans.set_data_length(4);
  trans.set_streaming_width(4);
  trans.set_byte_enable_ptr(nullptr);
  trans.set_dmi_allowed(false);
  trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  socket_->b_transport(trans, delay);
  sc_core::wait(delay);
  ++transactions_;
  if (trans.get_response_status() == tlm::TLM_OK_RESPONSE) return true;
  if (trans.get_response_status() == tlm::TLM_GENERIC_ERROR_RESPONSE) return false;  // SLVERR
  fail("TLM", "transaction at 0x{:08x}: {}", address, trans.get_response_string());
}

bool TlmBus::write32(std::uint32_t address, std::uint32_t data) {
  return transport(tlm::TLM_WRITE_COMMAND, address, data);
}

bool TlmBus::read32(std::uint32_t address, std::uint32_t& data) {
  return transport(tlm::TLM_READ_COMMAND, address, data);
}

void TlmBus::wait(std::uint64_t cycles) { sc_core::wait(period_ * static_cast<double>(cycles)); }

StqnTlmHost::StqnTlmHost(sc_core::sc_module_name name, const accel::Compiled& compiled,
                         std::vector<Tensor> inputs, sc_core::sc_time clock_period)
    : sc_core::sc_module(name), socket("socket"), rst_ni("rst_ni"), compiled_(compiled), inputs_(std::move(inputs)),
      bus_(socket, clock_period) {
  SC_HAS_PROCESS(StqnTlmHost);
  SC_THREAD(run);
}

void StqnTlmHost::run() {
  try {
    while (!rst_ni.read()) sc_core::wait(rst_ni.posedge_event());
    accel::Driver driver(bus_, compiled_.config);
    driver.check_identity();
    driver.load(compiled_);
    for (const Tensor& input : inputs_) results_.push_back(driver.run(compiled_, input, kRunCycleLimit));
  } catch (const std::exception& e) {
    error_ = e.what();
  }
  sc_core::sc_stop();
}

}  // namespace stqn::sim
