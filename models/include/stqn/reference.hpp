// The golden model's reference implementation: the integer semantics of docs/semantics.md written
// as plain loops. It is the specification that the fast engine and the RTL are checked against.
#pragma once

#include "stqn/package.hpp"

#include <cstdint>
#include <vector>

namespace stqn {

// An integer tensor (C, H, W), row-major. Holds activation codes, pooled sums or logits.
struct Tensor {
  Shape shape;
  std::vector<std::int32_t> data;

  Tensor() = default;
  explicit Tensor(Shape s) : shape(s), data(std::size_t(s.size()), 0) {}
  std::int32_t& at(int c, int y, int x) {
    return data[(std::size_t(c) * shape.h + y) * shape.w + x];
  }
  std::int32_t at(int c, int y, int x) const {
    return data[(std::size_t(c) * shape.h + y) * shape.w + x];
  }
};

// Wraps 8-bit pixels (H, W) as the package's input tensor (1, H, W). Throws Error if the package
// input is not a single-channel uint8 image of that size.
Tensor input_from_pixels(const Package& package, const std::uint8_t* pixels, int height, int width);

// Single layers. `in` must have the layer's validated input shape.
Tensor conv2d_accumulate(const Layer& layer, const Tensor& in);  // -> S: (O, H', W')
Tensor dense_accumulate(const Layer& layer, const Tensor& in);   // -> S: (O, 1, 1)
Tensor threshold_apply(const Layer& layer, const Tensor& acc);   // -> codes of layer.out_act
Tensor logits_apply(const Layer& layer, const Tensor& acc);      // -> S + bias
Tensor maxpool_apply(const Layer& layer, const Tensor& in);
Tensor global_avgpool_apply(const Tensor& in);                   // -> sums (C, 1, 1)
Tensor layer_forward(const Layer& layer, const Tensor& in);

// Runs every layer; returns each layer's output (the last one holds the logits).
std::vector<Tensor> reference_forward(const Package& package, const Tensor& input);

// Index of the largest logit; ties go to the lowest index.
int logits_argmax(const std::int32_t* logits, int count);

}  // namespace stqn
