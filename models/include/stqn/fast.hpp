// The golden model's fast engine: the same integer semantics as reference.hpp, computed with
// bit-plane AND/popcount kernels (ternary and k-bit layers), direct integer dot products (8-bit
// layers) and one thread per slice of a batch. A test proves it equal to the reference.
#pragma once

#include "stqn/package.hpp"
#include "stqn/reference.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace stqn {

class FastEngine {
 public:
  explicit FastEngine(const Package& package);
  ~FastEngine();
  FastEngine(const FastEngine&) = delete;
  FastEngine& operator=(const FastEngine&) = delete;

  // Runs `count` input images (each the package's input shape, uint8, contiguous) on `threads`
  // threads and writes count x num_classes logits.
  void run(const std::uint8_t* images, int count, std::int32_t* logits, int threads) const;

  // Runs one input and returns every layer's output, as reference_forward does.
  std::vector<Tensor> forward_all(const Tensor& input) const;

  // How each layer is computed ("bitplane-ternary", "bitplane 2x3", "direct", "maxpool", ...).
  std::vector<std::string> layer_kernels() const;

  const Package& package() const { return package_; }

  struct Plan;  // how one layer runs; defined in fast.cpp

 private:
  Package package_;
  std::vector<std::unique_ptr<Plan>> plans_;
};

// Worker threads that suit this machine: the number of online CPUs.
int default_thread_count();

}  // namespace stqn
