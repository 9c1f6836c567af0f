// The trainer's public interface: configuration of a quantization-aware training run, training
// with checkpoints and resume, and export of a trained checkpoint to a model package that the
// golden model runs bit-exactly. This header is torch-free on purpose: only the trainer's own
// translation units include <torch/torch.h>.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace stqn {

class JsonField;

// ---- Quantizer choices ------------------------------------------------------------------------
// Weights of blocks 1-4 (method.md sections 1-3):
//   fp32      full precision (baseline; cannot be exported)
//   twn       hard threshold, delta = 0.7 mean|W| per output channel, ternary codes
//   sttn      two binary latent kernels with one shared per-channel scale, ternary codes
//   stqn:K    2^K - 1 binary latent kernels with one shared per-channel scale, odd:K codes
//   rtn:K     round-to-nearest on the odd:K grid with a learned per-channel step (LSQ)
enum class WeightQuant { Fp32, Twn, Sttn, Stqn, Rtn };
struct WeightSpec {
  WeightQuant kind = WeightQuant::Sttn;
  int bits = 2;                   // code bits: 2 for ternary, K for stqn:K and rtn:K
  int kernels() const;            // latent binary kernels M: 2 (sttn), 2^K - 1 (stqn), else 1
  bool quantized() const { return kind != WeightQuant::Fp32; }
  std::string name() const;       // "sttn", "stqn:3", ...
  // Throws Error naming `option` (the command-line option or checkpoint field it came from).
  static WeightSpec parse(const std::string& text, const std::string& option = "weights");
};

// Activations after every BN (method.md section 4):
//   relu      full precision (baseline; cannot be exported)
//   ternary   +1 if u > 0.5, 0 if |u| <= 0.5, -1 if u < -0.5; STE window |u| <= 1
//   uint:K    code = #{l in 1..M : u > (l - 0.5) / M}, M = 2^K - 1, value code / M; STE on [0, 1]
enum class ActQuant { Relu, Ternary, Uint };
struct ActSpec {
  ActQuant kind = ActQuant::Ternary;
  int bits = 2;
  bool quantized() const { return kind != ActQuant::Relu; }
  std::string name() const;
  static ActSpec parse(const std::string& text, const std::string& option = "acts");
};

// Gradient of the soft-threshold (sttn / stqn) weights: the exact one of method.md section 2, or
// the simpler form of the authors' code (identity STE without the scale, per-kernel scale term).
enum class SoftGrad { Exact, Code };

// The accepted values of TrainConfig's numbers: the command line and the checkpoint reader check
// the same ranges, so every run that starts can also be resumed and exported.
inline constexpr int kMaxEpochs = 10000;
inline constexpr int kMaxBatch = 65536;
inline constexpr int kMaxImageCount = 1 << 30;  // train_limit, bn_recal, test limits
inline constexpr double kMinLr = 1e-9, kMaxLr = 10.0;
inline constexpr double kMinKdTemperature = 0.01, kMaxKdTemperature = 100.0;
inline constexpr std::uint64_t kMaxSeed = INT64_MAX;

// Everything that determines a training run's result. Stored in every checkpoint.
struct TrainConfig {
  WeightSpec weights;
  ActSpec acts;
  // The head's activation (after block 4's conv, before the global average pool): the head is
  // stem-like integer glue outside blocks 1-4, so its precision is a choice (reference-net.md).
  // Unset: the same as acts.
  std::optional<ActSpec> head_acts;
  const ActSpec& head() const { return head_acts ? *head_acts : acts; }
  bool quantized() const { return weights.quantized() && acts.quantized() && head().quantized(); }
  SoftGrad grad = SoftGrad::Exact;
  int epochs = 10;
  int batch = 128;
  double lr = 1e-3;               // Adam, cosine decay to 0 over all steps
  std::uint64_t seed = 1;
  bool augment = true;            // random crop (pad 2) + horizontal flip
  int train_limit = 0;            // use only the first N training images (0: all)
  std::string teacher;            // checkpoint of a teacher network ("" = no distillation)
  std::string init;               // fp32 checkpoint to start from ("" = random init), see --init
  // The CRC-32 of the teacher and init checkpoints the run started with (a path alone does not
  // say which file it was: a resume checks the teacher's). Unset in checkpoints written before.
  std::optional<std::uint32_t> teacher_crc32, init_crc32;
  double kd_temperature = 4.0;
  double kd_weight = 0.5;         // loss = (1 - w) CE + w T^2 KL(teacher || student)
  // After every epoch, re-estimate the batch norms' running statistics over the first N training
  // images (no augmentation, a plain average over the batches), which evaluation and export use
  // instead of the momentum average of the last batches (0: keep that average). Training itself
  // is unchanged (it normalizes with batch statistics).
  int bn_recal = 10000;
  // Where the training forward takes the 2 x 2 max-pools: on the batch norm's output before the
  // activation (true) or on the activation's codes (false). The values are the same (the
  // activation is monotone, so max(act(u)) = act(max(u))), but the gradient differs: on codes it
  // goes to the first of tied codes (often all four are +1), on u to the largest u.
  bool pool_before_act = true;

  nlohmann::json to_json() const;
  static TrainConfig from_json(const JsonField& field);
};

// How a run is executed; does not change its result (except threads, see docs/training.md).
struct RunOptions {
  std::filesystem::path out_dir;        // checkpoint.bin, metrics.json, metrics.csv
  std::filesystem::path data_dir;       // Fashion-MNIST IDX files
  std::filesystem::path resume;         // checkpoint to continue from ("" = fresh start)
  int threads = 2;                      // torch intra-op threads
  int test_limit = 0;                   // evaluate on the first N test images (0: all)
  int stop_after_epochs = 0;            // stop after this many epochs of this process (0: never)
  // With resume: change the run's total epochs (and so the cosine schedule) from here on, e.g. to
  // anneal a run early. 0 keeps the checkpoint's. The result then differs from an
  // uninterrupted run; the change is recorded in the checkpoint ("schedule_changes").
  int resume_epochs = 0;
  bool quiet = false;
};

struct EpochMetrics {
  int epoch = 0;
  double lr = 0, train_loss = 0, train_top1 = 0, test_top1 = 0;
  double seconds = 0, images_per_second = 0, wall_seconds = 0;
  nlohmann::json to_json() const;
  static EpochMetrics from_json(const JsonField& field);
};

struct TrainResult {
  std::vector<EpochMetrics> history;
  std::filesystem::path checkpoint;
};

// Trains (or resumes) and writes out_dir/checkpoint.bin after every epoch, atomically.
TrainResult train_run(const TrainConfig& config, const RunOptions& options);

// Training throughput: `steps` timed training steps (data loading and augmentation, forward,
// loss, backward, Adam, latent clamp) after `warmup` untimed ones, at the config's batch size.
struct BenchOptions {
  TrainConfig config;
  std::filesystem::path data_dir;
  int threads = 2;
  int steps = 20;
  int warmup = 3;
  std::filesystem::path profile;  // writes a Chrome trace of the timed steps ("" = none)
};

struct BenchResult {
  int steps = 0, batch = 0, threads = 0;
  double seconds = 0, cpu_seconds = 0, images_per_second = 0, mean_loss = 0;
};

BenchResult bench_run(const BenchOptions& options);

struct ExportOptions {
  std::filesystem::path checkpoint;
  std::filesystem::path package_dir;
  std::filesystem::path data_dir;
  std::filesystem::path report;          // JSON report ("" = none)
  std::string name;                      // package name ("" = from the config)
  int threads = 2;
  int test_limit = 0;
  // Re-estimate the batch norms' statistics over the first N training images before exporting
  // (0: as checkpointed; checkpoints of runs with bn_recal already hold re-estimated ones).
  int bn_recal = 0;
};

struct Disagreement {
  int image = 0, label = 0, golden = 0, trainer = 0;
};

struct ExportResult {
  int images = 0;
  double golden_top1 = 0;           // golden model (fast engine) on the exported package
  double trainer_top1 = 0;          // trainer's integer-faithful quantized evaluation
  double trainer_float_top1 = 0;    // trainer's ordinary float evaluation (BN, scales in float)
  double agreement = 0;             // golden vs integer-faithful evaluation (target 1.0)
  double float_agreement = 0;       // golden vs float evaluation (ties may differ, see docs)
  std::vector<Disagreement> disagreements;        // golden vs integer-faithful
  std::vector<Disagreement> float_disagreements;  // golden vs float evaluation
  nlohmann::json to_json() const;
};

// Merges the latent kernels into codes, folds BN and scales into integer thresholds
// (docs/training.md), writes the package with package_save, runs the golden model on the test
// set and compares it with the trainer's own evaluation.
ExportResult export_run(const ExportOptions& options);

}  // namespace stqn
