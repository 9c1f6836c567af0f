#include "stqn/reference.hpp"

#include "stqn/error.hpp"

#include <algorithm>

namespace stqn {

using format::Op;
using format::Output;

Tensor input_from_pixels(const Package& package, const std::uint8_t* pixels, int height,
                         int width) {
  const Shape expected = package.input_shape;
  if (expected != Shape{1, height, width} || package.input_act.kind != format::ActKind::Uint ||
      package.input_act.bits != 8) {
    fail("package '" + package.name + "'",
         "input: expected a uint8 image of shape [1, {}, {}], package wants {} of [{}, {}, {}]",
         height, width, package.input_act.name(), expected.c, expected.h, expected.w);
  }
  Tensor t(expected);
  std::copy(pixels, pixels + std::size_t(height) * width, t.data.begin());
  return t;
}

// S[o, y, x] = sum over (ky, kx, i) of w[o, ky, kx, i] * in[i, y*s + ky - p, x*s + kx - p],
// where taps outside the input read 0 (zero padding).
Tensor conv2d_accumulate(const Layer& layer, const Tensor& in) {
  const int k = layer.kernel, s = layer.stride, p = layer.padding;
  const int channels_in = in.shape.c;
  Tensor acc(layer.out_shape);
  for (int o = 0; o < layer.out_shape.c; ++o) {
    for (int y = 0; y < layer.out_shape.h; ++y) {
      for (int x = 0; x < layer.out_shape.w; ++x) {
        std::int32_t sum = 0;
        for (int ky = 0; ky < k; ++ky) {
          for (int kx = 0; kx < k; ++kx) {
            const int iy = y * s + ky - p, ix = x * s + kx - p;
            if (iy < 0 || iy >= in.shape.h || ix < 0 || ix >= in.shape.w) continue;
            for (int i = 0; i < channels_in; ++i) {
              const std::int32_t w =
                  layer.weights[((std::size_t(o) * k + ky) * k + kx) * channels_in + i];
              sum += w * in.at(i, iy, ix);
            }
          }
        }
        acc.at(o, y, x) = sum;
      }
    }
  }
  return acc;
}

// S[o] = sum over n of w[o, n] * in[n], with `in` flattened in (C, H, W) order.
Tensor dense_accumulate(const Layer& layer, const Tensor& in) {
  const std::size_t fan_in = in.data.size();
  Tensor acc(layer.out_shape);
  for (int o = 0; o < layer.out_channels; ++o) {
    std::int32_t sum = 0;
    for (std::size_t n = 0; n < fan_in; ++n) {
      sum += std::int32_t{layer.weights[o * fan_in + n]} * in.data[n];
    }
    acc.data[o] = sum;
  }
  return acc;
}

// code = act_min + #{l : S >= theta[o, l]}.
Tensor threshold_apply(const Layer& layer, const Tensor& acc) {
  const int levels = layer.out_act.num_thresholds();
  const std::int32_t act_min = layer.out_act.range().lo;
  const std::size_t pixels = std::size_t(acc.shape.h) * acc.shape.w;
  Tensor out(acc.shape);
  for (int o = 0; o < acc.shape.c; ++o) {
    const std::int32_t* theta = layer.thresholds.data() + std::size_t(o) * levels;
    for (std::size_t p = 0; p < pixels; ++p) {
      const std::int32_t s = acc.data[o * pixels + p];
      std::int32_t code = act_min;
      for (int l = 0; l < levels; ++l) code += s >= theta[l] ? 1 : 0;
      out.data[o * pixels + p] = code;
    }
  }
  return out;
}

Tensor logits_apply(const Layer& layer, const Tensor& acc) {
  Tensor out(acc.shape);
  for (int o = 0; o < acc.shape.c; ++o) out.data[o] = acc.data[o] + layer.bias[o];
  return out;
}

// out[c, y, x] = max over the kernel window of in[c, y*s + ky, x*s + kx] (no padding).
Tensor maxpool_apply(const Layer& layer, const Tensor& in) {
  Tensor out(layer.out_shape);
  for (int c = 0; c < out.shape.c; ++c) {
    for (int y = 0; y < out.shape.h; ++y) {
      for (int x = 0; x < out.shape.w; ++x) {
        std::int32_t best = in.at(c, y * layer.stride, x * layer.stride);
        for (int ky = 0; ky < layer.kernel; ++ky) {
          for (int kx = 0; kx < layer.kernel; ++kx) {
            best = std::max(best, in.at(c, y * layer.stride + ky, x * layer.stride + kx));
          }
        }
        out.at(c, y, x) = best;
      }
    }
  }
  return out;
}

// out[c] = sum over (y, x) of in[c, y, x]. The division by H*W is folded into the next layer.
Tensor global_avgpool_apply(const Tensor& in) {
  Tensor out(Shape{in.shape.c, 1, 1});
  const std::size_t pixels = std::size_t(in.shape.h) * in.shape.w;
  for (int c = 0; c < in.shape.c; ++c) {
    std::int32_t sum = 0;
    for (std::size_t p = 0; p < pixels; ++p) sum += in.data[c * pixels + p];
    out.data[c] = sum;
  }
  return out;
}

Tensor layer_forward(const Layer& layer, const Tensor& in) {
  switch (layer.op) {
    case Op::MaxPool: return maxpool_apply(layer, in);
    case Op::GlobalAvgPool: return global_avgpool_apply(in);
    case Op::Conv2d:
    case Op::Dense: {
      const Tensor acc =
          layer.op == Op::Conv2d ? conv2d_accumulate(layer, in) : dense_accumulate(layer, in);
      return layer.output == Output::Threshold ? threshold_apply(layer, acc)
                                               : logits_apply(layer, acc);
    }
  }
  return {};
}

std::vector<Tensor> reference_forward(const Package& package, const Tensor& input) {
  std::vector<Tensor> outputs;
  outputs.reserve(package.layers.size());
  const Tensor* current = &input;
  for (const Layer& layer : package.layers) {
    outputs.push_back(layer_forward(layer, *current));
    current = &outputs.back();
  }
  return outputs;
}

int logits_argmax(const std::int32_t* logits, int count) {
  int best = 0;
  for (int i = 1; i < count; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

}  // namespace stqn
