// The trainer's network and quantizers (internal; includes torch). Only the trainer's few torch
// translation units include this header.
//
// The reference network (docs/reference-net.md), "block = BN -> act -> conv":
//   x = pixel / 255                                   (1, 28, 28)
//   z0 = conv(x, Q8(stem))                            stem: int8 weights, per-channel scale
//   block b = 1..4: u = BN_b(z_{b-1}); a = act(u); [maxpool 2x2 for b = 2, 4]; z_b = conv(a, Qw(W_b))
//   head: u = BN_5(z_4); a = act(u); g = mean_{7x7}(a); logits = g Q8(W_fc)^T + Qb(b_fc)
// The golden model max-pools codes; training pools u before the activation by default (the same
// values, another gradient: config pool_before_act, docs/training.md).
#pragma once

#include "stqn/idx.hpp"
#include "stqn/package.hpp"
#include "stqn/train.hpp"

#include <torch/torch.h>

#include <array>
#include <vector>

namespace stqn::trainer {

inline constexpr int kImageSize = 28;
inline constexpr int kClasses = 10;
inline constexpr int kConvs = 5;  // stem + blocks 1-4
inline constexpr std::array<int, kConvs + 1> kChannels = {1, 32, 32, 64, 64, 128};
inline constexpr std::array<bool, kConvs> kPoolBefore = {false, false, true, false, true};
inline constexpr double kPixelScale = 1.0 / 255.0;
inline constexpr double kBnEps = 1e-5;
inline constexpr int kInt8Max = 127;   // int8 weights are symmetric in [-127, 127]
inline constexpr double kTernaryThreshold = 0.5;
inline constexpr double kSteWindow = 1.0;  // ternary activation STE passes |u| <= 1
inline constexpr double kLatentClamp = 1.0;

// ---- Quantizers (autograd functions; tensors of any floating dtype) ----------------------------
// Weights w: (M, O, ...) latent binary kernels -> alpha_o * sum_m sign(w_m), sign(0) = +1,
// alpha_o = sum_m ||w_m,o||_1 / (M n). Exact or code-style gradient (method.md section 2).
torch::Tensor quant_soft(const torch::Tensor& w, SoftGrad grad);
// TWN: alpha_o * t, t = sign(w) [|w| > 0.7 mean|w_o|]; identity STE.
torch::Tensor quant_twn(const torch::Tensor& w);
// Odd grid with a learned step s_o (LSQ): s * clamp(2 round((w/s + M) / 2) - M, -M, M).
torch::Tensor quant_rtn(const torch::Tensor& w, const torch::Tensor& step, int bits);
// Symmetric int8: per output channel (per_channel) or one scale per tensor; identity STE.
torch::Tensor quant_int8(const torch::Tensor& w, bool per_channel);
// round(b / scale) * scale with scale a constant; identity STE.
torch::Tensor quant_bias(const torch::Tensor& b, const torch::Tensor& scale);
// Activations: ternary codes (STE |u| <= 1) and uint:K values code / M (STE on [0, 1]).
torch::Tensor act_ternary(const torch::Tensor& u);
torch::Tensor act_uint(const torch::Tensor& u, int bits);

// sign with sign(0) = +1, and the activations' code functions of u (no gradient).
torch::Tensor sign_pos(const torch::Tensor& w);
torch::Tensor ternary_codes(const torch::Tensor& u);
torch::Tensor uint_codes(const torch::Tensor& u, int bits);

// The activation as thresholds on u: code = act_min + #{l : u > tau_l (strict) or u >= tau_l}.
struct ActThreshold {
  float tau;
  bool strict;
};
std::vector<ActThreshold> act_thresholds(const ActSpec& acts);
int act_min(const ActSpec& acts);
double act_scale(const ActSpec& acts);  // float value of one code step

// One conv layer's integer form: codes (O, I, 3, 3) as exact small integers in float, and the
// float value of one code step per output channel.
struct IntConv {
  torch::Tensor codes, scale;
};
struct IntHead {
  torch::Tensor codes;     // (10, 128) int8 values
  torch::Tensor bias;      // (10) integer bias (float-held)
  double logit_scale = 1;  // float logit per integer logit
};
// Per-channel fold of a conv's accumulator into the next quantizer's input: u = S * k + c,
// evaluated in float32 exactly as written (one multiply, then one add).
struct Fold {
  torch::Tensor k, c;  // (O) float32
};

class NetImpl : public torch::nn::Module {
 public:
  explicit NetImpl(const TrainConfig& config);

  // The training forward; in eval() mode the ordinary float evaluation. x: (N, 1, 28, 28) in [0, 1].
  torch::Tensor forward(const torch::Tensor& x);
  // Codes at the output of every activation of the training forward (eval mode), for tests.
  std::vector<torch::Tensor> forward_codes(const torch::Tensor& x);

  // The integer-faithful evaluation: exactly what the exported package computes. pixels:
  // (N, 1, 28, 28) float holding 0..255. Returns integer logits (float-held); `codes` receives
  // the output codes of every conv (stem, block1..4) if non-null.
  torch::Tensor forward_integer(const torch::Tensor& pixels, std::vector<torch::Tensor>* codes);

  IntConv int_conv(int j);   // j = 0 stem, 1..4 blocks
  Fold fold(int j);          // conv j into BN j (bns_[j]) and the activation after it
  IntHead int_head();

  void clamp_latent();       // after each optimizer step (sttn, stqn)
  // Starts from a trained fp32 network (--init): the stem, batch norms and head are copied, and
  // each block's float weights w become this quantizer's latent weights: TWN and RTN copy w (RTN
  // re-derives its step); soft thresholds set kernel m to w + D (M + 1 - 2m) / (M - 1) with
  // D_o = 0.7 mean|w_o|, so the merged code counts the offsets that w reaches: for ternary, TWN's
  // ternarization of w (up to ties at exactly +D). `where` names the source in errors.
  void init_from(NetImpl& fp32, const std::string& where);
  const TrainConfig& config() const { return config_; }
  const ActSpec& out_acts(int j) const;  // the activation after conv j: the head's after block 4

 private:
  torch::Tensor conv_weight(int j);   // float weights used by the training forward
  torch::Tensor act(const torch::Tensor& u, int j);  // the activation after conv j
  torch::Tensor head_logits(const torch::Tensor& pooled);

  TrainConfig config_;
  std::vector<torch::Tensor> w_;      // latent weights per conv: stem (O,I,3,3); blocks (M,O,I,3,3) or (O,I,3,3)
  std::vector<torch::Tensor> step_;   // rtn: per-channel step per block
  std::vector<torch::nn::BatchNorm2d> bns_;  // BN before block 1..4 and the head
  torch::Tensor fc_w_, fc_b_;
};
TORCH_MODULE(Net);

// Integer-valued argmax with ties to the lowest index (as logits_argmax). logits: (N, C).
std::vector<int> predictions(const torch::Tensor& logits);

// Serialized module state (parameters and buffers) as bytes, and back. Throws Error naming `where`.
std::string module_save(torch::nn::Module& module);
void module_load(torch::nn::Module& module, const std::string& bytes, const std::string& where);

// A split of the dataset (idx_load) for the reference network: 28 x 28 images, or an Error
// naming the images file.
stqn::Dataset dataset_load(const std::filesystem::path& dir, const std::string& split);

// A network and its checkpoint header, loaded from a checkpoint file (train.cpp). Throws Error
// naming the file.
struct LoadedNet {
  TrainConfig config;
  nlohmann::json header;
  Net net{nullptr};
  std::uint32_t crc32 = 0;  // the checkpoint file's CRC-32, which identifies it
};
LoadedNet net_load(const std::filesystem::path& checkpoint);

// The training loss: cross-entropy, and with teacher logits (defined) the soft-target term of
// distillation, (1 - w) CE + w T^2 KL(softmax(teacher / T) || softmax(logits / T)), batch mean
// (w = config.kd_weight, T = config.kd_temperature).
torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                            const torch::Tensor& teacher_logits, const TrainConfig& config);

// Runs the trainer's evaluations on the first `count` images of `data` (batches of `batch`):
// the integer-faithful one (integer = true) or the ordinary float one.
std::vector<int> evaluate(Net& net, const stqn::Dataset& data, int count, bool integer, int batch);

// Re-estimates every batch norm's running mean and variance over the first `count` images of
// `data` (no augmentation): train-mode forward passes without gradients, averaged over the batches
// (momentum off). Leaves the net in eval mode.
void bn_recalibrate(Net& net, const stqn::Dataset& data, int count, int batch);

// Export pieces (export.cpp). The smallest exported accumulator S_e = sign * S in [-bound, bound]
// whose float32 u = fl(fl(S * k) + c) passes threshold t (INT32_MIN: all do; INT32_MAX: none).
std::int32_t threshold_search(float k, float c, int sign, const ActThreshold& t, std::int64_t bound);
// The whole network as a validated package of the reference topology.
Package package_build(Net& net, const std::string& name);

}  // namespace stqn::trainer
