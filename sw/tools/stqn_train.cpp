// stqn-train: quantization-aware training of the reference network (STTN, STQN and baselines),
// and export of a checkpoint to a model package checked against the golden model.
#include "stqn/error.hpp"
#include "stqn/train.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>

namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stqn-train: quantization-aware training (STTN/STQN) and export to a model package"};
  app.require_subcommand(1);

  stqn::TrainConfig config;
  stqn::RunOptions run;
  run.data_dir = STQN_DEFAULT_DATA_DIR;
  std::string weights = "sttn", acts = "ternary", grad = "exact";
  CLI::App* train = app.add_subcommand("train", "train (or resume) a network; checkpoints every epoch");
  train->add_option("--weights", weights, "fp32 | twn | sttn | stqn:K | rtn:K (K = 2..4)")->capture_default_str();
  train->add_option("--acts", acts, "relu | ternary | uint:K (K = 1..4)")->capture_default_str();
  train->add_option("--grad", grad, "soft-threshold gradient: exact | code")->capture_default_str();
  train->add_option("--epochs", config.epochs, "epochs")->capture_default_str()->check(CLI::Range(1, 10000));
  train->add_option("--batch", config.batch, "batch size")->capture_default_str()->check(CLI::Range(1, 65536));
  train->add_option("--lr", config.lr, "Adam learning rate (cosine decay)")->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--seed", config.seed, "seed of init, shuffling and augmentation")->capture_default_str();
  train->add_option("--train-limit", config.train_limit, "use the first N training images (0: all)")->capture_default_str();
  train->add_option("--teacher", config.teacher, "teacher checkpoint for distillation");
  train->add_option("--kd-temperature", config.kd_temperature, "distillation temperature")->capture_default_str();
  train->add_option("--kd-weight", config.kd_weight, "distillation loss weight in [0, 1]")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  bool no_augment = false;
  train->add_flag("--no-augment", no_augment, "no random crop / flip");
  train->add_option("--out", run.out_dir, "run directory (checkpoint.bin, metrics.json, metrics.csv)")->required();
  train->add_option("--resume", run.resume, "continue from this checkpoint (its config is used)");
  train->add_option("--data", run.data_dir, "Fashion-MNIST IDX directory")->capture_default_str();
  train->add_option("--threads", run.threads, "torch threads")->capture_default_str()->check(CLI::Range(1, 256));
  train->add_option("--test-limit", run.test_limit, "evaluate on the first N test images (0: all)")->capture_default_str();
  train->add_option("--stop-after", run.stop_after_epochs, "stop after N epochs of this process (0: never)")->capture_default_str();
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
  exp->add_option("--test-limit", ex.test_limit, "use the first N test images (0: all)")->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  try {
    if (*train) {
      if (run.resume.empty()) {
        config.weights = stqn::WeightSpec::parse(weights);
        config.acts = stqn::ActSpec::parse(acts);
        if (grad != "exact" && grad != "code") stqn::fail("--grad", "'{}': expected exact or code", grad);
        config.grad = grad == "exact" ? stqn::SoftGrad::Exact : stqn::SoftGrad::Code;
        config.augment = !no_augment;
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
