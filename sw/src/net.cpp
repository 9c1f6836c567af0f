// Quantizers (autograd functions) and the reference network, with its integer-faithful evaluation.
#include "net.hpp"

#include "stqn/error.hpp"

#include <fmt/ranges.h>

#include <cmath>
#include <sstream>

namespace stqn::trainer {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

constexpr int kHeadPixels = 7 * 7;  // the global average pool's window; its 1/49 is folded
constexpr double kMinStep = 1e-6;   // smallest rtn step and int8 scale
constexpr double kTwnDelta = 0.7;   // TWN: delta = 0.7 mean|W|
constexpr int64_t kGrain = 32768;   // elements per parallel task of the fused element-wise kernels

// Dimensions 0..dim-1 except `keep`.
std::vector<int64_t> dims_except(int64_t dim, int64_t keep) {
  std::vector<int64_t> d;
  for (int64_t i = 0; i < dim; ++i) {
    if (i != keep) d.push_back(i);
  }
  return d;
}

// A shape (O) viewed for broadcasting along dimension `at` of a `dim`-dimensional tensor.
Tensor along(const Tensor& v, int64_t dim, int64_t at) {
  std::vector<int64_t> shape(std::size_t(dim), 1);
  shape[std::size_t(at)] = v.numel();
  return v.reshape(shape);
}


// ---- Soft threshold: sum of M binary kernels, shared per-channel scale ------------------------
struct SoftFn : public torch::autograd::Function<SoftFn> {
  // w: (M, O, ...) -> alpha_o * sum_m sign(w_m): (O, ...)
  static Tensor forward(AutogradContext* ctx, Tensor w, bool exact) {
    const int64_t m = w.size(0), n = w[0][0].numel();
    const Tensor b = sign_pos(w);
    const Tensor bsum = b.sum(0);
    const Tensor alpha = w.abs().sum(dims_except(w.dim(), 1)).div(double(m * n));  // (O)
    ctx->save_for_backward({w, b, bsum, alpha});
    ctx->saved_data["exact"] = exact;
    return bsum.mul(along(alpha, bsum.dim(), 0));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &w = saved[0], &b = saved[1], &bsum = saved[2], &alpha = saved[3];
    const Tensor g = grads[0].unsqueeze(0);  // (1, O, ...)
    const int64_t m = w.size(0), n = w[0][0].numel();
    const Tensor inside = w.abs().le(kLatentClamp).to(w.dtype());
    Tensor dw;
    if (ctx->saved_data["exact"].toBool()) {
      // dL/dw_m,i = alpha g_i 1[|w_m,i| <= 1] + (b_m,i / (M n)) sum_j g_j bsum_j
      const Tensor dalpha = grads[0].mul(bsum).sum(dims_except(bsum.dim(), 0));  // (O)
      dw = g.mul(along(alpha, w.dim(), 1)).mul(inside) +
           b.mul(along(dalpha, w.dim(), 1)).div(double(m * n));
    } else {
      // The authors' code: identity STE without alpha, per-kernel scale term.
      std::vector<int64_t> inner;
      for (int64_t i = 2; i < w.dim(); ++i) inner.push_back(i);
      const Tensor per_kernel = g.mul(b).sum(inner, /*keepdim=*/true);  // (M, O, 1, ...)
      dw = g.mul(inside) + b.mul(per_kernel).div(double(n));
    }
    return {dw, Tensor()};
  }
};

// ---- TWN: hard threshold -----------------------------------------------------------------------
std::pair<Tensor, Tensor> twn_parts(const Tensor& w) {  // -> (t (O, ...), alpha (O))
  const auto dims = dims_except(w.dim(), 0);
  const Tensor aw = w.abs();
  const Tensor delta = aw.mean(dims, /*keepdim=*/true).mul(kTwnDelta);
  const Tensor mask = aw.gt(delta).to(w.dtype());
  const Tensor alpha = aw.mul(mask).sum(dims).div(mask.sum(dims).clamp_min(1));
  return {sign_pos(w).mul(mask), alpha};
}

struct TwnFn : public torch::autograd::Function<TwnFn> {
  static Tensor forward(AutogradContext*, Tensor w) {
    const auto [t, alpha] = twn_parts(w);
    return t.mul(along(alpha, w.dim(), 0));
  }
  static variable_list backward(AutogradContext*, variable_list grads) { return {grads[0]}; }
};

// ---- RTN on the odd grid with a learned step (LSQ) ---------------------------------------------
Tensor rtn_codes(const Tensor& x, int64_t m) {  // x = w / s -> odd values in [-M, M]
  return x.add(double(m)).div(2).round().mul(2).sub(double(m)).clamp(-double(m), double(m));
}

struct RtnFn : public torch::autograd::Function<RtnFn> {
  static Tensor forward(AutogradContext* ctx, Tensor w, Tensor step, int64_t bits) {
    const int64_t m = (int64_t{1} << bits) - 1;
    const Tensor s = along(step, w.dim(), 0);
    const Tensor x = w.div(s);
    const Tensor q = rtn_codes(x, m);
    ctx->save_for_backward({x, q});
    ctx->saved_data["m"] = m;
    return q.mul(s);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &q = saved[1];
    const int64_t m = ctx->saved_data["m"].toInt();
    const Tensor g = grads[0];
    const Tensor inside = x.abs().le(double(m)).to(x.dtype());
    // LSQ: dv/dw = 1 inside the grid; dv/ds = q - w/s inside, q (= +-M) outside; the step
    // gradient is scaled by 1 / sqrt(n M).
    const double n = double(x[0].numel());
    const Tensor ds_elem = q.sub(x.mul(inside));
    const Tensor ds = g.mul(ds_elem).sum(dims_except(x.dim(), 0)).div(std::sqrt(n * double(m)));
    return {g.mul(inside), ds, Tensor()};
  }
};

// ---- Symmetric int8 ------------------------------------------------------------------------------
std::pair<Tensor, Tensor> int8_parts(const Tensor& w, bool per_channel) {  // -> (q, scale)
  const Tensor max_abs =
      per_channel ? w.abs().amax(dims_except(w.dim(), 0)) : w.abs().max().reshape({1});
  const Tensor scale = max_abs.div(double(kInt8Max)).clamp_min(kMinStep);
  const Tensor s = per_channel ? along(scale, w.dim(), 0) : scale.reshape({});
  return {w.div(s).round().clamp(-kInt8Max, kInt8Max), scale};
}

struct Int8Fn : public torch::autograd::Function<Int8Fn> {
  static Tensor forward(AutogradContext*, Tensor w, bool per_channel) {
    const auto [q, scale] = int8_parts(w, per_channel);
    return q.mul(per_channel ? along(scale, w.dim(), 0) : scale.reshape({}));
  }
  static variable_list backward(AutogradContext*, variable_list grads) {
    return {grads[0], Tensor()};
  }
};

struct BiasFn : public torch::autograd::Function<BiasFn> {
  static Tensor forward(AutogradContext*, Tensor b, Tensor scale) {
    return b.div(scale).round().mul(scale);
  }
  static variable_list backward(AutogradContext*, variable_list grads) {
    return {grads[0], Tensor()};
  }
};

}  // namespace

// sign with sign(0) = +1.
Tensor sign_pos(const Tensor& w) { return torch::where(w.ge(0), 1.0, -1.0).to(w.dtype()); }

// ---- Activations ------------------------------------------------------------------------------
// The activations are the trainer's largest element-wise tensors (up to 128 x 32 x 28 x 28), so
// each one is a single fused pass over memory (one read, one write) instead of a chain of torch
// ops with temporaries and bool -> float copies.
namespace {

// out_i = f(u_i) (unary) or f(u_i, g_i) (binary) over float or double tensors of one dense layout;
// `out` gets u's layout (channels-last stays channels-last).
template <typename Op>
Tensor map_unary(const Tensor& u_in, Op op) {
  const Tensor u = u_in.contiguous(u_in.suggest_memory_format());
  Tensor out = torch::empty_like(u);
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "stqn_map_unary", [&] {
    const scalar_t* in = u.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, u.numel(), kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) o[i] = op(in[i]);
    });
  });
  return out;
}

template <typename Op>
Tensor map_binary(const Tensor& u_in, const Tensor& g_in, Op op) {
  const auto format = u_in.suggest_memory_format();
  const Tensor u = u_in.contiguous(format), g = g_in.to(u.dtype()).contiguous(format);
  // Strides of size-1 dimensions may differ between two dense tensors of one layout.
  TORCH_CHECK(u.sizes() == g.sizes() && u.is_contiguous(format) && g.is_contiguous(format),
              "map_binary: layouts differ");
  Tensor out = torch::empty_like(u);
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "stqn_map_binary", [&] {
    const scalar_t* a = u.data_ptr<scalar_t>();
    const scalar_t* b = g.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, u.numel(), kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) o[i] = op(a[i], b[i]);
    });
  });
  return out;
}

// The uint:K thresholds tau_l = float((l - 0.5) / M), l = 1..M, in the tensor's dtype.
template <typename T>
std::array<T, 16> uint_taus(int m) {
  std::array<T, 16> taus{};
  for (int l = 1; l <= m; ++l) taus[std::size_t(l) - 1] = T(static_cast<float>((l - 0.5) / m));
  return taus;
}

}  // namespace

// Ternary: code = -1 + [u >= -0.5] + [u > 0.5] (0 on |u| <= 0.5, method.md section 4).
Tensor ternary_codes(const Tensor& u) {
  return map_unary(u, [](auto x) {
    using T = decltype(x);
    return T(x >= T(-kTernaryThreshold)) + T(x > T(kTernaryThreshold)) - T(1);
  });
}

// uint:K: code = #{l in 1..M : u > tau_l}, tau_l = float((l - 0.5) / M); times `value_scale`.
namespace {
Tensor uint_values(const Tensor& u, int bits, double value_scale) {
  const int m = (1 << bits) - 1;
  Tensor out;
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "stqn_uint", [&] {
    const auto taus = uint_taus<scalar_t>(m);
    const auto scale = scalar_t(value_scale);
    out = map_unary(u, [&](scalar_t x) {
      int code = 0;
      for (int l = 0; l < m; ++l) code += x > taus[std::size_t(l)];
      return scalar_t(code) / scale;
    });
  });
  return out;
}
}  // namespace

Tensor uint_codes(const Tensor& u, int bits) { return uint_values(u, bits, 1.0); }

namespace {

struct TernaryFn : public torch::autograd::Function<TernaryFn> {
  static Tensor forward(AutogradContext* ctx, Tensor u) {
    ctx->save_for_backward({u});
    return ternary_codes(u);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Tensor u = ctx->get_saved_variables()[0];
    return {map_binary(u, grads[0], [](auto x, auto g) {
      using T = decltype(x);
      return std::abs(x) <= T(kSteWindow) ? g : T(0);
    })};
  }
};

// Value code / M; the division (not a multiply by 1/M) matches the package's act scale exactly.
struct UintFn : public torch::autograd::Function<UintFn> {
  static Tensor forward(AutogradContext* ctx, Tensor u, int64_t bits) {
    ctx->save_for_backward({u});
    return uint_values(u, int(bits), double((1 << bits) - 1));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Tensor u = ctx->get_saved_variables()[0];
    return {map_binary(u, grads[0], [](auto x, auto g) {
              using T = decltype(x);
              return x >= T(0) && x <= T(1) ? g : T(0);
            }),
            Tensor()};
  }
};

}  // namespace

Tensor quant_soft(const Tensor& w, SoftGrad grad) { return SoftFn::apply(w, grad == SoftGrad::Exact); }
Tensor quant_twn(const Tensor& w) { return TwnFn::apply(w); }
Tensor quant_rtn(const Tensor& w, const Tensor& step, int bits) {
  return RtnFn::apply(w, step, int64_t{bits});
}
Tensor quant_int8(const Tensor& w, bool per_channel) { return Int8Fn::apply(w, per_channel); }
Tensor quant_bias(const Tensor& b, const Tensor& scale) { return BiasFn::apply(b, scale); }
Tensor act_ternary(const Tensor& u) { return TernaryFn::apply(u); }
Tensor act_uint(const Tensor& u, int bits) { return UintFn::apply(u, int64_t{bits}); }

std::vector<ActThreshold> act_thresholds(const ActSpec& acts) {
  if (acts.kind == ActQuant::Ternary) {
    return {{static_cast<float>(-kTernaryThreshold), false},
            {static_cast<float>(kTernaryThreshold), true}};
  }
  if (acts.kind != ActQuant::Uint) fail("acts", "relu activations have no integer codes");
  const int m = (1 << acts.bits) - 1;
  std::vector<ActThreshold> out;
  for (int l = 1; l <= m; ++l) out.push_back({static_cast<float>((l - 0.5) / m), true});
  return out;
}

int act_min(const ActSpec& acts) { return acts.kind == ActQuant::Ternary ? -1 : 0; }

double act_scale(const ActSpec& acts) {
  switch (acts.kind) {
    case ActQuant::Ternary: return 1.0;
    case ActQuant::Uint: return 1.0 / double((1 << acts.bits) - 1);
    case ActQuant::Relu: break;
  }
  fail("acts", "relu activations have no integer codes");
}

// ---- The network ------------------------------------------------------------------------------

NetImpl::NetImpl(const TrainConfig& config) : config_(config) {
  const WeightSpec& ws = config.weights;
  for (int j = 0; j < kConvs; ++j) {
    const int cin = kChannels[std::size_t(j)], cout = kChannels[std::size_t(j) + 1];
    const double fan_in = 9.0 * cin;
    Tensor w;
    if (j > 0 && (ws.kind == WeightQuant::Sttn || ws.kind == WeightQuant::Stqn)) {
      // Independent latent kernels, normal with variance 1 / fan-in (method.md section 2).
      w = torch::randn({ws.kernels(), cout, cin, 3, 3}).mul(std::sqrt(1.0 / fan_in)).clamp(-1, 1);
    } else {
      w = torch::randn({cout, cin, 3, 3}).mul(std::sqrt(2.0 / fan_in));  // He init
    }
    w_.push_back(register_parameter(fmt::format("w{}", j), w));
    if (j > 0 && ws.kind == WeightQuant::Rtn) {
      const int m = (1 << ws.bits) - 1;
      const Tensor step = w.detach().abs().mean({1, 2, 3}).mul(2.0 / m);
      step_.push_back(register_parameter(fmt::format("step{}", j), step));
    } else {
      step_.emplace_back();
    }
    bns_.push_back(register_module(fmt::format("bn{}", j),
                                   torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(cout).eps(kBnEps))));
  }
  const double bound = 1.0 / std::sqrt(double(kChannels.back()));
  fc_w_ = register_parameter("fc_w", torch::rand({kClasses, kChannels.back()}).mul(2 * bound).sub(bound));
  fc_b_ = register_parameter("fc_b", torch::zeros({kClasses}));
}

Tensor NetImpl::conv_weight(int j) {
  const Tensor& w = w_[std::size_t(j)];
  const WeightSpec& ws = config_.weights;
  if (ws.kind == WeightQuant::Fp32) return w;
  if (j == 0) return quant_int8(w, /*per_channel=*/true);
  switch (ws.kind) {
    case WeightQuant::Twn: return quant_twn(w);
    case WeightQuant::Sttn:
    case WeightQuant::Stqn: return quant_soft(w, config_.grad);
    case WeightQuant::Rtn: return quant_rtn(w, step_[std::size_t(j)], ws.bits);
    case WeightQuant::Fp32: break;
  }
  return w;
}

const ActSpec& NetImpl::out_acts(int j) const { return j == kConvs - 1 ? config_.head() : config_.acts; }

Tensor NetImpl::act(const Tensor& u, int j) {
  const ActSpec& acts = out_acts(j);
  switch (acts.kind) {
    case ActQuant::Relu: return torch::relu(u);
    case ActQuant::Ternary: return act_ternary(u);
    case ActQuant::Uint: return act_uint(u, acts.bits);
  }
  return u;
}

namespace {
// The head's logit scale, in the dtype of the weights: s_w * act_scale / 49 (same ops in training
// and export so the quantized bias is identical).
Tensor head_logit_scale(const Tensor& int8_scale, const ActSpec& acts) {
  const double a = acts.quantized() ? act_scale(acts) : 1.0;
  return int8_scale.reshape({}).mul(a).div(double(kHeadPixels));
}
}  // namespace

Tensor NetImpl::head_logits(const Tensor& pooled) {
  if (!config_.weights.quantized()) return torch::nn::functional::linear(pooled, fc_w_, fc_b_);
  const Tensor wq = quant_int8(fc_w_, /*per_channel=*/false);
  Tensor scale;
  {
    torch::NoGradGuard no_grad;
    scale = head_logit_scale(int8_parts(fc_w_, false).second, config_.head());
  }
  return torch::nn::functional::linear(pooled, wq, quant_bias(fc_b_, scale));
}

Tensor NetImpl::forward(const Tensor& x) {
  namespace F = torch::nn::functional;
  const auto conv = F::Conv2dFuncOptions().padding(1);
  Tensor z = F::conv2d(x, conv_weight(0), conv);
  for (int j = 1; j < kConvs; ++j) {
    Tensor u = bns_[std::size_t(j) - 1]->forward(z);
    Tensor a;
    if (!kPoolBefore[std::size_t(j)]) {
      a = act(u, j - 1);
    } else if (config_.pool_before_act) {
      a = act(F::max_pool2d(u, F::MaxPool2dFuncOptions(2)), j - 1);
    } else {
      a = F::max_pool2d(act(u, j - 1), F::MaxPool2dFuncOptions(2));
    }
    z = F::conv2d(a, conv_weight(j), conv);
  }
  const Tensor a = act(bns_.back()->forward(z), kConvs - 1);
  return head_logits(a.mean({2, 3}));
}

std::vector<Tensor> NetImpl::forward_codes(const Tensor& x) {
  namespace F = torch::nn::functional;
  torch::NoGradGuard no_grad;
  const auto conv = F::Conv2dFuncOptions().padding(1);
  std::vector<Tensor> codes;
  Tensor z = F::conv2d(x, conv_weight(0), conv);
  for (int j = 1; j <= kConvs; ++j) {
    Tensor a = act(bns_[std::size_t(j) - 1]->forward(z), j - 1);
    codes.push_back(a.mul(1.0 / act_scale(out_acts(j - 1))).round());
    if (j == kConvs) break;
    if (kPoolBefore[std::size_t(j)]) a = F::max_pool2d(a, F::MaxPool2dFuncOptions(2));
    z = F::conv2d(a, conv_weight(j), conv);
  }
  return codes;
}

IntConv NetImpl::int_conv(int j) {
  torch::NoGradGuard no_grad;
  const WeightSpec& ws = config_.weights;
  const Tensor w = w_[std::size_t(j)].to(torch::kFloat);
  if (!ws.quantized()) fail("weights", "fp32 weights have no integer form");
  if (j == 0) {
    auto [q, scale] = int8_parts(w, /*per_channel=*/true);
    return {q, scale};
  }
  const int64_t n = w.dim() == 5 ? w[0][0].numel() : w[0].numel();
  switch (ws.kind) {
    case WeightQuant::Twn: {
      auto [t, alpha] = twn_parts(w);
      return {t, alpha};
    }
    case WeightQuant::Sttn:
    case WeightQuant::Stqn: {
      const int64_t m = w.size(0);
      const Tensor alpha = w.abs().sum({0, 2, 3, 4}).div(double(m * n));
      const Tensor bsum = sign_pos(w).sum(0);  // values in {-M, -M+2, ..., M}
      // STTN stores t = bsum / 2 in {-1, 0, 1} with scale 2 alpha; STQN stores bsum (odd:K).
      if (ws.kind == WeightQuant::Sttn) return {bsum.div(2), alpha.mul(2)};
      return {bsum, alpha};
    }
    case WeightQuant::Rtn: {
      const Tensor step = step_[std::size_t(j)].to(torch::kFloat);
      return {rtn_codes(w.div(along(step, 4, 0)), (int64_t{1} << ws.bits) - 1), step};
    }
    case WeightQuant::Fp32: break;
  }
  return {};
}

Fold NetImpl::fold(int j) {
  torch::NoGradGuard no_grad;
  const IntConv ic = int_conv(j);
  const auto& bn = bns_[std::size_t(j)];
  const double in_scale = j == 0 ? kPixelScale : act_scale(config_.acts);
  const Tensor gamma = bn->weight.to(torch::kDouble), beta = bn->bias.to(torch::kDouble);
  const Tensor mean = bn->running_mean.to(torch::kDouble), var = bn->running_var.to(torch::kDouble);
  const Tensor inv = gamma.div(var.add(bn->options.eps()).sqrt());
  const Tensor k = ic.scale.to(torch::kDouble).mul(in_scale).mul(inv);
  const Tensor c = beta.sub(mean.mul(inv));
  return {k.to(torch::kFloat).contiguous(), c.to(torch::kFloat).contiguous()};
}

IntHead NetImpl::int_head() {
  torch::NoGradGuard no_grad;
  auto [q, scale] = int8_parts(fc_w_, /*per_channel=*/false);
  const Tensor ls = head_logit_scale(scale, config_.head());
  IntHead h;
  h.codes = q.to(torch::kFloat);
  h.bias = fc_b_.div(ls).round().to(torch::kFloat);
  h.logit_scale = ls.item<double>();
  return h;
}

Tensor NetImpl::forward_integer(const Tensor& pixels, std::vector<Tensor>* codes) {
  namespace F = torch::nn::functional;
  torch::NoGradGuard no_grad;
  if (!config_.quantized()) {
    fail("config", "{} weights with {} activations ({} in the head) have no integer form",
         config_.weights.name(), config_.acts.name(), config_.head().name());
  }
  const auto conv = F::Conv2dFuncOptions().padding(1);
  Tensor a = pixels.to(torch::kFloat);
  for (int j = 0; j < kConvs; ++j) {
    if (kPoolBefore[std::size_t(j)]) a = F::max_pool2d(a, F::MaxPool2dFuncOptions(2));
    const IntConv ic = int_conv(j);
    const Fold f = fold(j);
    // S is a sum of small integer products, exact in float32; round() removes any error of the
    // convolution algorithm.
    const Tensor s = F::conv2d(a, ic.codes.to(torch::kFloat), conv).round();
    const Tensor u = s.mul(along(f.k, 4, 1)).add(along(f.c, 4, 1));
    const ActSpec& acts = out_acts(j);
    a = acts.kind == ActQuant::Ternary ? ternary_codes(u) : uint_codes(u, acts.bits);
    if (codes) codes->push_back(a);
  }
  const IntHead h = int_head();
  return a.sum({2, 3}).matmul(h.codes.t()).add(h.bias);
}

void NetImpl::clamp_latent() {
  torch::NoGradGuard no_grad;
  const WeightQuant kind = config_.weights.kind;
  for (int j = 1; j < kConvs; ++j) {
    if (kind == WeightQuant::Sttn || kind == WeightQuant::Stqn) {
      w_[std::size_t(j)].clamp_(-kLatentClamp, kLatentClamp);
    }
    if (kind == WeightQuant::Rtn) step_[std::size_t(j)].clamp_min_(kMinStep);
  }
}

void NetImpl::init_from(NetImpl& src, const std::string& where) {
  if (src.config_.weights.kind != WeightQuant::Fp32) {
    fail(where, "config.weights: expected an fp32 checkpoint to start from, got {}",
         src.config_.weights.name());
  }
  torch::NoGradGuard no_grad;
  // Everything but the block weights (and RTN steps) has the same shape in every variant.
  const auto from = src.named_parameters(), from_buffers = src.named_buffers();
  for (auto& p : named_parameters()) {
    const bool block = p.key().size() == 2 && p.key()[0] == 'w' && p.key() != "w0";
    if (block || p.key().rfind("step", 0) == 0) continue;
    p.value().copy_(from[p.key()]);
  }
  for (auto& b : named_buffers()) b.value().copy_(from_buffers[b.key()]);

  const WeightSpec& ws = config_.weights;
  for (int j = 1; j < kConvs; ++j) {
    const Tensor w = src.w_[std::size_t(j)];
    Tensor& latent = w_[std::size_t(j)];
    if (ws.kind == WeightQuant::Sttn || ws.kind == WeightQuant::Stqn) {
      const int64_t m = latent.size(0);
      const Tensor d = w.abs().mean({1, 2, 3}, /*keepdim=*/true).mul(kTwnDelta);
      for (int64_t k = 0; k < m; ++k) {
        latent[k].copy_(w.add(d.mul(double(m - 1 - 2 * k) / double(m - 1))).clamp(-kLatentClamp, kLatentClamp));
      }
    } else {
      latent.copy_(w);
    }
    if (ws.kind == WeightQuant::Rtn) {
      step_[std::size_t(j)].copy_(w.abs().mean({1, 2, 3}).mul(2.0 / double((1 << ws.bits) - 1)));
    }
  }
}

std::vector<int> predictions(const Tensor& logits) {
  const Tensor l = logits.to(torch::kDouble).contiguous();
  const int64_t rows = l.size(0), cols = l.size(1);
  const double* p = l.data_ptr<double>();
  std::vector<int> out(std::size_t(rows), 0);
  for (int64_t r = 0; r < rows; ++r) {
    int best = 0;
    for (int64_t c = 1; c < cols; ++c) {
      if (p[r * cols + c] > p[r * cols + best]) best = int(c);
    }
    out[std::size_t(r)] = best;
  }
  return out;
}

std::string module_save(torch::nn::Module& module) {
  torch::serialize::OutputArchive archive;
  module.save(archive);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

void module_load(torch::nn::Module& module, const std::string& bytes, const std::string& where) {
  // libtorch replaces each tensor with the stored one whatever its shape, so the shapes the
  // config implies are compared afterwards: a mismatch (an edited or foreign file) is named here
  // instead of failing later inside a convolution.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const auto& t : module.named_parameters()) expected.emplace_back(t.key(), t.value().sizes().vec());
  for (const auto& t : module.named_buffers()) expected.emplace_back(t.key(), t.value().sizes().vec());
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(bytes.data(), bytes.size());
    module.load(archive);
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    fail(where, "{}", msg.substr(0, msg.find('\n')));
  }
  auto loaded = module.named_parameters();
  for (const auto& b : module.named_buffers()) loaded.insert(b.key(), b.value());
  for (const auto& [name, shape] : expected) {
    const Tensor t = loaded[name];
    if (!t.sizes().equals(shape)) {
      fail(where, "model tensor '{}': shape {} does not match the config's {}", name,
           fmt::join(t.sizes(), "x"), fmt::join(shape, "x"));
    }
  }
}

}  // namespace stqn::trainer
