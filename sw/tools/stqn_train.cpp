// stqn-train: quantization-aware training of the reference network (STTN, STQN and baselines),
// and export of a checkpoint to a model package checked against the golden model.
#include "stqn/error.hpp"
#include "stqn/fileio.hpp"
#include "stqn/json_field.hpp"
#include "stqn/plot.hpp"
#include "stqn/train.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <malloc.h>
#include <unistd.h>

namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

constexpr int kMmapThreshold = 32 << 20;          // glibc's largest allowed value
constexpr std::size_t kTrimThreshold = std::size_t{1} << 30;

// Process set-up for training speed (docs/training.md, "Speed"):
// - libgomp reads OMP_WAIT_POLICY when it is loaded, before main, so it is set here and the
//   process re-executes itself once. By default idle OpenMP threads spin for a long time, and on
//   a shared machine a spinning libtorch thread starves the one it waits for (2 threads ran at
//   about a third of the images/s of 1 under load); passive threads sleep instead.
// - glibc serves the activations (up to 13 MB each) with mmap and returns them on free, so every
//   step page-faulted and zeroed ~1 GB afresh; keeping them in the heap saved ~15% CPU.
void process_setup(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then run with the default policy
  }
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(std::min<std::size_t>(kTrimThreshold, INT32_MAX)));
}

// A number in [lo, hi]. CLI11's Range lets NaN through (every comparison with it is false).
CLI::Validator number_in(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !(v >= lo && v <= hi)) {
          return fmt::format("{} is not a number in [{}, {}]", text, lo, hi);
        }
        return std::string();
      },
      fmt::format("NUMBER in [{}, {}]", lo, hi));
}

}  // namespace

int main(int argc, char** argv) {
  process_setup(argv);
  CLI::App app{"stqn-train: quantization-aware training (STTN/STQN) and export to a model package"};
  app.require_subcommand(1);

  stqn::TrainConfig config;
  stqn::RunOptions run;
  run.data_dir = STQN_DEFAULT_DATA_DIR;
  std::string weights = "sttn", acts = "ternary", grad = "exact";
  CLI::App* train = app.add_subcommand("train", "train (or resume) a network; checkpoints every epoch");
  train->add_option("--weights", weights, "fp32 | twn | sttn | stqn:K | rtn:K (K = 2..4)")->capture_default_str();
  train->add_option("--acts", acts, "relu | ternary | uint:K (K = 1..4)")->capture_default_str();
  std::string head_acts;
  train->add_option("--head-acts", head_acts,
                    "the head's activation (after block 4, before the average pool): relu | "
                    "ternary | uint:K (default: --acts)");
  train->add_option("--grad", grad, "soft-threshold gradient: exact | code")->capture_default_str();
  // The ranges are the checkpoint reader's (stqn/train.hpp): a run that starts can be resumed.
  const auto images = CLI::Range(0, stqn::kMaxImageCount);
  train->add_option("--epochs", config.epochs, "epochs")->capture_default_str()->check(CLI::Range(1, stqn::kMaxEpochs));
  train->add_option("--batch", config.batch, "batch size")->capture_default_str()->check(CLI::Range(1, stqn::kMaxBatch));
  train->add_option("--lr", config.lr, "Adam learning rate (cosine decay)")->capture_default_str()->check(number_in(stqn::kMinLr, stqn::kMaxLr));
  train->add_option("--seed", config.seed, "seed of init, shuffling and augmentation")->capture_default_str()->check(CLI::Range(std::uint64_t{0}, stqn::kMaxSeed));
  train->add_option("--train-limit", config.train_limit, "use the first N training images (0: all)")->capture_default_str()->check(images);
  train->add_option("--teacher", config.teacher, "teacher checkpoint for distillation");
  train->add_option("--init", config.init,
                    "start from this fp32 checkpoint (stem, batch norms, head copied; block weights "
                    "quantized from it, TWN-style for soft thresholds)");
  train->add_option("--kd-temperature", config.kd_temperature, "distillation temperature")->capture_default_str()->check(number_in(stqn::kMinKdTemperature, stqn::kMaxKdTemperature));
  train->add_option("--kd-weight", config.kd_weight, "distillation loss weight in [0, 1]")->capture_default_str()->check(number_in(0.0, 1.0));
  train->add_option("--bn-recal", config.bn_recal,
                    "after every epoch, re-estimate batch-norm statistics over the first N "
                    "training images (0: keep the momentum averages)")
      ->capture_default_str()->check(images);
  std::string pool_at = "bn";
  train->add_option("--pool-at", pool_at,
                    "where training takes the max-pools: bn (before the activation; gradient to "
                    "the largest input) or codes (after it); the same values either way")
      ->capture_default_str()->check(CLI::IsMember({"bn", "codes"}));
  bool no_augment = false;
  train->add_flag("--no-augment", no_augment, "no random crop / flip");
  train->add_option("--out", run.out_dir, "run directory (checkpoint.bin, metrics.json, metrics.csv)")->required();
  train->add_option("--resume", run.resume, "continue from this checkpoint (its config is used)");
  bool force = false;
  train->add_flag("--force", force, "start afresh even if --out already holds a checkpoint (it is replaced)");
  train->add_option("--data", run.data_dir, "Fashion-MNIST IDX directory")->capture_default_str();
  train->add_option("--threads", run.threads, "torch threads")->capture_default_str()->check(CLI::Range(1, 256));
  train->add_option("--test-limit", run.test_limit, "evaluate on the first N test images (0: all)")->capture_default_str()->check(images);
  train->add_option("--stop-after", run.stop_after_epochs, "stop after N epochs of this process (0: never)")->capture_default_str()->check(CLI::Range(0, stqn::kMaxEpochs));
  train->add_flag("--quiet", run.quiet, "no progress output");

  stqn::ExportOptions ex;
  ex.data_dir = STQN_DEFAULT_DATA_DIR;
  CLI::App* exp = app.add_subcommand("export", "export a checkpoint to a package and check it with the golden model");
  exp->add_option("--checkpoint", ex.checkpoint, "checkpoint.bin of a quantized run")->required();
  exp->add_option("--package", ex.package_dir, "package directory to write")->required();
  exp->add_option("--report", ex.report, "JSON report (accuracy, agreement, every disagreement)");
  exp->add_option("--name", ex.name, "package name");
  exp->add_option("--data", ex.data_dir, "Fashion-MNIST IDX directory")->capture_default_str();
  exp->add_option("--threads", ex.threads, "threads")->capture_default_str()->check(CLI::Range(1, 256));
  exp->add_option("--test-limit", ex.test_limit, "use the first N test images (0: all)")->capture_default_str()->check(images);
  exp->add_option("--bn-recal", ex.bn_recal,
                  "re-estimate batch-norm statistics over the first N training images first (0: as "
                  "checkpointed)")
      ->capture_default_str()->check(images);

  stqn::BenchOptions bench;
  bench.data_dir = STQN_DEFAULT_DATA_DIR;
  std::string bench_json;
  CLI::App* bn = app.add_subcommand("bench", "training images/s: timed training steps on the training set");
  bn->add_option("--weights", weights, "fp32 | twn | sttn | stqn:K | rtn:K")->capture_default_str();
  bn->add_option("--acts", acts, "relu | ternary | uint:K")->capture_default_str();
  bn->add_option("--grad", grad, "soft-threshold gradient: exact | code")->capture_default_str();
  bn->add_option("--batch", bench.config.batch, "batch size")->capture_default_str()->check(CLI::Range(1, stqn::kMaxBatch));
  bn->add_option("--threads", bench.threads, "torch threads")->capture_default_str()->check(CLI::Range(1, 256));
  bn->add_option("--steps", bench.steps, "timed steps")->capture_default_str()->check(CLI::Range(1, 100000));
  bn->add_option("--warmup", bench.warmup, "untimed steps first")->capture_default_str()->check(CLI::Range(0, 100000));
  bn->add_option("--data", bench.data_dir, "Fashion-MNIST IDX directory")->capture_default_str();
  bn->add_option("--profile", bench.profile, "write a Chrome trace (per torch op) of the timed steps");
  bn->add_option("--json", bench_json, "write the result as JSON");

  std::filesystem::path plot_run;
  std::vector<std::filesystem::path> plot_compare;
  std::filesystem::path latent_png;
  int plot_layer = 2;
  CLI::App* pl = app.add_subcommand(
      "plot", "PNG plots (gnuplot): RUN/curves.png, and RUN/latent-blockL.png for a quantized run");
  pl->add_option("--run", plot_run, "run directory (metrics.json, checkpoint.bin)")->required();
  pl->add_option("--compare", plot_compare, "more run directories whose latent weights go beside RUN's");
  pl->add_option("--layer", plot_layer, "block whose latent weights are plotted")->capture_default_str()->check(CLI::Range(1, 4));
  pl->add_option("--latent-out", latent_png, "latent-weight PNG (default RUN/latent-blockL.png)");

  CLI11_PARSE(app, argc, argv);
  try {
    auto set_quantizers = [&](stqn::TrainConfig& c) {
      c.weights = stqn::WeightSpec::parse(weights, "--weights");
      c.acts = stqn::ActSpec::parse(acts, "--acts");
      if (grad != "exact" && grad != "code") stqn::fail("--grad", "'{}': expected exact or code", grad);
      c.grad = grad == "exact" ? stqn::SoftGrad::Exact : stqn::SoftGrad::Code;
    };
    if (*bn) {
      set_quantizers(bench.config);
      const stqn::BenchResult r = stqn::bench_run(bench);
      fmt::print("{} / {}: {:.1f} images/s ({} steps of {}, {} threads, {:.2f} s wall, {:.2f} s CPU)\n",
                 bench.config.weights.name(), bench.config.acts.name(), r.images_per_second, r.steps,
                 r.batch, r.threads, r.seconds, r.cpu_seconds);
      if (!bench_json.empty()) {
        const nlohmann::json j = {{"weights", bench.config.weights.name()},
                                  {"acts", bench.config.acts.name()},
                                  {"batch", r.batch},
                                  {"threads", r.threads},
                                  {"steps", r.steps},
                                  {"warmup", bench.warmup},
                                  {"seconds", r.seconds},
                                  {"cpu_seconds", r.cpu_seconds},
                                  {"images_per_second", r.images_per_second},
                                  {"mean_loss", r.mean_loss}};
        stqn::file_write_atomic(bench_json, j.dump(2) + "\n");
      }
    } else if (*pl) {
      const auto history = stqn::metrics_read(plot_run / "metrics.json");
      const stqn::TrainConfig c = [&] {
        const nlohmann::json j = stqn::JsonField::parse_file(plot_run / "metrics.json");
        return stqn::TrainConfig::from_json(stqn::JsonField(j, (plot_run / "metrics.json").string(), "").at("config"));
      }();
      // Every input is read before anything is written.
      std::vector<stqn::LatentPanel> panels;
      if (c.weights.quantized()) {
        panels.push_back(stqn::latent_weights(plot_run / "checkpoint.bin", plot_layer));
        for (const auto& other : plot_compare) panels.push_back(stqn::latent_weights(other / "checkpoint.bin", plot_layer));
      }
      const auto curves = plot_run / "curves.png";
      stqn::plot_curves(history, fmt::format("{} / {}, seed {}", c.weights.name(), c.acts.name(), c.seed), curves);
      fmt::print("wrote {}\n", curves.string());
      if (!panels.empty()) {
        if (latent_png.empty()) latent_png = plot_run / fmt::format("latent-block{}.png", plot_layer);
        stqn::plot_latent(panels, latent_png);
        fmt::print("wrote {}\n", latent_png.string());
      }
    } else if (*train) {
      if (run.resume.empty()) {
        set_quantizers(config);
        if (!head_acts.empty()) config.head_acts = stqn::ActSpec::parse(head_acts, "--head-acts");
        const auto existing = run.out_dir / "checkpoint.bin";
        if (!force && std::filesystem::exists(existing)) {
          stqn::fail(existing.string(), "a run is already here: continue it with --resume {}, or "
                     "pass --force to start afresh and replace it", existing.string());
        }
        config.augment = !no_augment;
        config.pool_before_act = pool_at == "bn";
      }
      if (!run.resume.empty() && train->count("--epochs") > 0) run.resume_epochs = config.epochs;
      const stqn::TrainResult r = stqn::train_run(config, run);
      if (!r.history.empty()) {
        const auto& m = r.history.back();
        fmt::print("epoch {}: test top-1 {:.2f}%, {:.1f} s wall in total, checkpoint {}\n", m.epoch,
                   100 * m.test_top1, m.wall_seconds, r.checkpoint.string());
      }
    } else {
      const stqn::ExportResult r = stqn::export_run(ex);
      fmt::print("package {}: golden top-1 {:.2f}% on {} images; trainer integer eval {:.2f}%, "
                 "float eval {:.2f}%\n",
                 ex.package_dir.string(), 100 * r.golden_top1, r.images, 100 * r.trainer_top1,
                 100 * r.trainer_float_top1);
      fmt::print("agreement golden vs trainer integer eval: {:.4f}% ({} disagreements); vs float "
                 "eval: {:.4f}% ({} disagreements)\n",
                 100 * r.agreement, r.disagreements.size(), 100 * r.float_agreement,
                 r.float_disagreements.size());
      for (const auto& d : r.disagreements) {
        fmt::print("  disagreement: image {} label {} golden {} trainer {}\n", d.image, d.label,
                   d.golden, d.trainer);
      }
      for (const auto& d : r.float_disagreements) {
        fmt::print("  float-eval disagreement: image {} label {} golden {} float {}\n", d.image,
                   d.label, d.golden, d.trainer);
      }
      if (!r.disagreements.empty()) return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stqn-train: error: %s\n", first_line(e.what()).c_str());
    return 1;
  }
  return 0;
}
