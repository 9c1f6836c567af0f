// One Verilated configuration of stqn_top behind the Top interface. sim/CMakeLists.txt compiles
// this file once per model, with the model class (STQN_SIM_MODEL, header STQN_SIM_HEADER) and the
// name of its factory (STQN_SIM_FACTORY), which the generated registry lists.
#include STQN_SIM_HEADER

#include "stqn/sim/verilated_top.hpp"

namespace stqn::sim {

std::unique_ptr<Top> STQN_SIM_FACTORY() { return std::make_unique<VerilatedTop<STQN_SIM_MODEL>>(); }

}  // namespace stqn::sim
