// The training loop: Adam with cosine decay, the reference augmentation, optional distillation,
// per-epoch metrics and atomic checkpoints that resume exactly.
#include "net.hpp"

#include "stqn/checkpoint_file.hpp"
#include "stqn/error.hpp"
#include "stqn/fileio.hpp"
#include "stqn/json_field.hpp"
#include "stqn/progress.hpp"
#include "stqn/train_data.hpp"

#include <fmt/ranges.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>
#include <sstream>

namespace stqn::trainer {

using torch::Tensor;

namespace {

constexpr std::string_view kCheckpointFormat = "stqn-checkpoint";
constexpr int kEvalBatch = 500;
constexpr long kStatusSteps = 8;  // progress status (running loss) every this many steps
constexpr double kPi = 3.14159265358979323846;

double cosine_lr(double base, long step, long total) {
  return base * 0.5 * (1.0 + std::cos(kPi * double(step) / double(std::max(1L, total))));
}

// A change of the run's total epochs on resume (--resume CKPT --epochs N), kept in the checkpoint.
struct ScheduleChange {
  long after_epoch, from_epochs, to_epochs;
  nlohmann::json to_json() const {
    return {{"after_epoch", after_epoch}, {"from_epochs", from_epochs}, {"to_epochs", to_epochs}};
  }
};

// The learning rate at `step`: a cosine from `base` over the run's first epoch count; each change
// starts a new cosine from the rate reached at its epoch, down to 0 at its new end. Computed from
// the whole list, so a run resumed any number of times after a change follows the same curve.
double scheduled_lr(double base, long step, long steps_per_epoch, long epochs,
                    const std::vector<ScheduleChange>& changes) {
  double lr = base;
  long start = 0;
  long end = steps_per_epoch * (changes.empty() ? epochs : changes.front().from_epochs);
  for (const ScheduleChange& c : changes) {
    const long at = steps_per_epoch * c.after_epoch;
    if (step < at) break;
    lr = cosine_lr(lr, at - start, end - start);
    start = at;
    end = steps_per_epoch * c.to_epochs;
  }
  return cosine_lr(lr, step - start, end - start);
}

// Checks that a checkpoint a run uses (`option`: teacher or init) is the file the run recorded
// (its CRC-32), and records it if none is (a fresh start, or a checkpoint written before the
// field existed: from then on the file is held to what it is now).
void provenance(std::optional<std::uint32_t>& recorded, std::uint32_t found, const std::string& option,
                const std::string& file, const std::string& where) {
  if (recorded && *recorded != found) {
    fail(where, "config.{}_crc32: the run started from a {} with CRC-32 {:08x}, but {} now has "
         "{:08x} (the file changed or was replaced since)", option, option, *recorded, file, found);
  }
  recorded = found;
}

Tensor pixels_tensor(const Dataset& data, int first, int count, float scale) {
  Tensor x = torch::empty({count, 1, data.height, data.width});
  std::vector<int> idx(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) idx[std::size_t(i)] = first + i;
  TrainRng unused;
  batch_fill(data, idx.data(), count, /*augment=*/false, unused, scale, x.data_ptr<float>());
  return x;
}

std::string optimizer_save(torch::optim::Optimizer& opt) {
  torch::serialize::OutputArchive archive;
  opt.save(archive);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

void optimizer_load(torch::optim::Optimizer& opt, const std::string& bytes, const std::string& where) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(bytes.data(), bytes.size());
    opt.load(archive);
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    fail(where, "optimizer state: {}", msg.substr(0, msg.find('\n')));
  }
  // libtorch takes state of any shape; a mismatch would only fail at the first step, unnamed.
  const auto& state = opt.state();
  for (const auto& group : opt.param_groups()) {
    for (const Tensor& p : group.params()) {
      const auto it = state.find(c10::guts::to_string(p.unsafeGetTensorImpl()));  // libtorch keys it so
      if (it == state.end()) continue;  // no step taken yet
      const auto& s = static_cast<const torch::optim::AdamParamState&>(*it->second);
      if (!s.exp_avg().sizes().equals(p.sizes()) || !s.exp_avg_sq().sizes().equals(p.sizes())) {
        fail(where, "optimizer state: moments of shape {} for a parameter of shape {}",
             fmt::join(s.exp_avg().sizes(), "x"), fmt::join(p.sizes(), "x"));
      }
    }
  }
}

const std::string& blob(const CheckpointFile& f, const std::string& name, const std::string& where) {
  const auto it = f.blobs.find(name);
  if (it == f.blobs.end()) fail(where, "blobs: missing blob '{}'", name);
  return it->second;
}

// One training batch: augmented images (count, 1, 28, 28) in [0, 1] and their labels.
struct Batch {
  Tensor x, y;
};

Batch batch_load(const Dataset& data, const int* indices, int count, bool augment, TrainRng& rng) {
  Batch b{torch::empty({count, 1, data.height, data.width}), torch::empty({count}, torch::kLong)};
  batch_fill(data, indices, count, augment, rng, static_cast<float>(kPixelScale), b.x.data_ptr<float>());
  int64_t* labels = b.y.data_ptr<int64_t>();
  for (int i = 0; i < count; ++i) labels[i] = int64_t{data.labels[std::size_t(indices[i])]};
  return b;
}

// The network, its optimizer and the optional teacher: one training step at a time.
struct StepRunner {
  const TrainConfig& config;
  Net net;
  Net teacher{nullptr};
  torch::optim::Adam optimizer;

  std::uint32_t teacher_crc32 = 0;

  StepRunner(const TrainConfig& c, Net n)
      : config(c), net(std::move(n)), optimizer(net->parameters(), torch::optim::AdamOptions(c.lr)) {
    if (!config.teacher.empty()) {
      LoadedNet t = net_load(config.teacher);
      teacher = t.net;
      teacher_crc32 = t.crc32;
      teacher->eval();
    }
  }

  // Forward, loss, backward, Adam step at learning rate `lr`, latent clamp. Returns the detached
  // loss and logits; nothing here waits for a value (no .item()).
  std::pair<Tensor, Tensor> step(const Batch& b, double lr) {
    for (auto& group : optimizer.param_groups()) {
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    }
    const Tensor logits = net->forward(b.x);
    Tensor teacher_logits;
    if (teacher) {
      torch::NoGradGuard no_grad;
      teacher_logits = teacher->forward(b.x);
    }
    const Tensor loss = training_loss(logits, b.y, teacher_logits, config);
    // Gradients are released rather than zero-filled; backward allocates them afresh.
    for (auto& p : net->parameters()) p.mutable_grad() = Tensor();
    loss.backward();
    optimizer.step();
    net->clamp_latent();
    return {loss.detach(), logits.detach()};
  }
};

void metrics_write(const std::filesystem::path& dir, const TrainConfig& config,
                   const std::vector<EpochMetrics>& history) {
  nlohmann::json j = {{"config", config.to_json()}, {"epochs", nlohmann::json::array()}};
  std::string csv = "epoch,lr,train_loss,train_top1,test_top1,seconds,images_per_second,wall_seconds\n";
  for (const auto& m : history) {
    j["epochs"].push_back(m.to_json());
    csv += fmt::format("{},{:.6g},{:.6f},{:.6f},{:.6f},{:.3f},{:.1f},{:.3f}\n", m.epoch, m.lr,
                       m.train_loss, m.train_top1, m.test_top1, m.seconds, m.images_per_second,
                       m.wall_seconds);
  }
  file_write_atomic(dir / "metrics.json", j.dump(2) + "\n");
  file_write_atomic(dir / "metrics.csv", csv);
}

}  // namespace

Dataset dataset_load(const std::filesystem::path& dir, const std::string& split) {
  Dataset d = idx_load(dir, split);
  if (d.height != kImageSize || d.width != kImageSize) {
    fail(d.images_file, "dimensions: the reference network takes {}x{} images, the file has {}x{}",
         kImageSize, kImageSize, d.height, d.width);
  }
  return d;
}

Tensor training_loss(const Tensor& logits, const Tensor& labels, const Tensor& teacher_logits,
                     const TrainConfig& config) {
  namespace F = torch::nn::functional;
  const Tensor ce = F::cross_entropy(logits, labels);
  if (!teacher_logits.defined()) return ce;
  const double t = config.kd_temperature, w = config.kd_weight;
  const Tensor soft = torch::softmax(teacher_logits.detach().div(t), 1);
  const Tensor kd = F::kl_div(torch::log_softmax(logits.div(t), 1), soft,
                              F::KLDivFuncOptions().reduction(torch::kBatchMean));
  return ce.mul(1 - w) + kd.mul(w * t * t);
}

LoadedNet net_load(const std::filesystem::path& checkpoint) {
  const std::string where = checkpoint.string();
  LoadedNet out;
  const CheckpointFile file = checkpoint_file_read(checkpoint);
  const JsonField root(file.header, where, "");
  if (root.at("format").string() != kCheckpointFormat) {
    root.at("format").error(fmt::format("\"{}\"", kCheckpointFormat));
  }
  out.config = TrainConfig::from_json(root.at("config"));
  out.header = file.header;
  out.crc32 = file.crc32;
  out.net = Net(out.config);
  module_load(*out.net, blob(file, "model", where), where);
  out.net->eval();
  return out;
}

std::vector<int> evaluate(Net& net, const Dataset& data, int count, bool integer, int batch) {
  torch::NoGradGuard no_grad;
  net->eval();
  std::vector<int> preds;
  preds.reserve(std::size_t(count));
  for (int first = 0; first < count; first += batch) {
    const int n = std::min(batch, count - first);
    const Tensor logits =
        integer ? net->forward_integer(pixels_tensor(data, first, n, 1.0f), nullptr)
                : net->forward(pixels_tensor(data, first, n, static_cast<float>(kPixelScale)));
    const std::vector<int> p = predictions(logits);
    preds.insert(preds.end(), p.begin(), p.end());
  }
  return preds;
}

void bn_recalibrate(Net& net, const Dataset& data, int count, int batch) {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<torch::nn::BatchNorm2dImpl*, c10::optional<double>>> momenta;
  for (const auto& m : net->modules(/*include_self=*/false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      momenta.emplace_back(bn, bn->options.momentum());
      bn->reset_running_stats();
      bn->options.momentum(c10::nullopt);  // cumulative average over the batches
    }
  }
  net->train();
  for (int first = 0; first < count; first += batch) {
    const int n = std::min(batch, count - first);
    net->forward(pixels_tensor(data, first, n, static_cast<float>(kPixelScale)));
  }
  for (auto& [bn, momentum] : momenta) bn->options.momentum(momentum);
  net->eval();
}

}  // namespace stqn::trainer

namespace stqn {

using namespace stqn::trainer;

TrainResult train_run(const TrainConfig& requested, const RunOptions& options) {
  torch::set_num_threads(options.threads);
  TrainConfig config = requested;
  CheckpointFile resume;
  const std::string resume_where = options.resume.string();
  if (!options.resume.empty()) {
    resume = checkpoint_file_read(options.resume);
    const JsonField root(resume.header, resume_where, "");
    if (root.at("format").string() != kCheckpointFormat) {
      root.at("format").error(fmt::format("\"{}\"", kCheckpointFormat));
    }
    config = TrainConfig::from_json(root.at("config"));
  }

  torch::manual_seed(config.seed);
  StepRunner runner(config, Net(config));
  Net& net = runner.net;
  torch::optim::Adam& optimizer = runner.optimizer;
  const bool resuming = !options.resume.empty();
  if (!config.teacher.empty()) {
    provenance(config.teacher_crc32, runner.teacher_crc32, "teacher", config.teacher, resume_where);
  }

  const Dataset train = dataset_load(options.data_dir, "train");
  const Dataset test = dataset_load(options.data_dir, "t10k");
  const int n_train = config.train_limit > 0 ? std::min(config.train_limit, train.count) : train.count;
  const int n_test = options.test_limit > 0 ? std::min(options.test_limit, test.count) : test.count;
  const bool integer_eval = config.quantized();

  TrainRng rng(config.seed);
  int start_epoch = 0;
  long step = 0;
  double wall = 0;
  std::vector<EpochMetrics> history;
  std::vector<ScheduleChange> schedule_changes;
  if (resuming) {
    const JsonField root(resume.header, resume_where, "");
    module_load(*net, blob(resume, "model", resume_where), resume_where);
    optimizer_load(optimizer, blob(resume, "optimizer", resume_where), resume_where);
    rng = rng_load(root.at("rng").string(), resume_where);
    start_epoch = static_cast<int>(root.at("epoch").integer(0, config.epochs));
    if (root.has("schedule_changes")) {
      const JsonField changes = root.at("schedule_changes");
      for (std::size_t i = 0; i < changes.array_size(0, kMaxEpochs); ++i) {
        const JsonField c = changes.at(i);
        const bool first = schedule_changes.empty();
        const long after = c.at("after_epoch").integer(first ? 0 : schedule_changes.back().after_epoch, start_epoch);
        const long from = c.at("from_epochs").integer(after, kMaxEpochs);
        if (!first && from != schedule_changes.back().to_epochs) {
          c.at("from_epochs").error(fmt::format("{}, the previous change's to_epochs", schedule_changes.back().to_epochs));
        }
        schedule_changes.push_back({after, from, c.at("to_epochs").integer(std::max(after, 1L), kMaxEpochs)});
      }
      if (!schedule_changes.empty() && schedule_changes.back().to_epochs != config.epochs) {
        root.at("schedule_changes").error(fmt::format("changes ending at config.epochs = {}", config.epochs));
      }
    }
    if (options.resume_epochs > 0 && options.resume_epochs != config.epochs) {
      if (options.resume_epochs < start_epoch) {
        fail("--epochs", "{} is fewer than the {} epochs the checkpoint has done", options.resume_epochs,
             start_epoch);
      }
      if (start_epoch == config.epochs) {
        fail("--epochs", "the checkpoint has finished its {} epochs, where the cosine reaches a learning "
             "rate of 0: {} epochs more would train at 0", config.epochs, options.resume_epochs - start_epoch);
      }
      schedule_changes.push_back({start_epoch, config.epochs, options.resume_epochs});
      config.epochs = options.resume_epochs;
    }
    step = static_cast<long>(root.at("step").integer(0, INT64_MAX));
    wall = root.at("wall_seconds").number();
    const JsonField h = root.at("history");
    for (std::size_t i = 0; i < h.array_size(); ++i) history.push_back(EpochMetrics::from_json(h.at(i)));
  } else if (!config.init.empty()) {
    LoadedNet start = net_load(config.init);
    net->init_from(*start.net, config.init);
    provenance(config.init_crc32, start.crc32, "init", config.init, config.init);
  }

  std::filesystem::create_directories(options.out_dir);
  const long steps_per_epoch = (n_train + config.batch - 1) / config.batch;
  TrainResult result;
  result.checkpoint = options.out_dir / "checkpoint.bin";
  int epochs_here = 0;

  for (int epoch = start_epoch + 1; epoch <= config.epochs; ++epoch) {
    net->train();
    const std::vector<int> order = epoch_order(n_train, rng);
    Progress progress(fmt::format("epoch {}/{}", epoch, config.epochs), n_train);
    const auto t0 = std::chrono::steady_clock::now();
    // Running sums stay in tensors; the progress status reads them every kStatusSteps steps.
    Tensor loss_sum = torch::zeros({}, torch::kDouble);
    Tensor correct = torch::zeros({}, torch::kLong);
    double lr = 0;
    for (long b = 0; b < steps_per_epoch; ++b) {
      const int first = static_cast<int>(b * config.batch);
      const int count = std::min(config.batch, n_train - first);
      const Batch batch = batch_load(train, order.data() + first, count, config.augment, rng);
      lr = scheduled_lr(config.lr, step, steps_per_epoch, config.epochs, schedule_changes);
      const auto [loss, logits] = runner.step(batch, lr);
      ++step;
      loss_sum += loss.to(torch::kDouble) * count;
      correct += logits.argmax(1).eq(batch.y).sum();
      if (!options.quiet && (b % kStatusSteps == kStatusSteps - 1 || b == steps_per_epoch - 1)) {
        progress.update(first + count,
                        fmt::format("loss {:.4f}", loss_sum.item<double>() / (first + count)));
      }
    }
    const double train_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (config.bn_recal > 0) {
      bn_recalibrate(net, train, std::min(config.bn_recal, n_train), kEvalBatch);
    }
    const std::vector<int> preds = evaluate(net, test, n_test, integer_eval, kEvalBatch);
    long test_correct = 0;
    for (int i = 0; i < n_test; ++i) test_correct += preds[std::size_t(i)] == test.labels[std::size_t(i)];
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    wall += seconds;

    EpochMetrics m;
    m.epoch = epoch;
    m.lr = lr;
    m.train_loss = loss_sum.item<double>() / n_train;
    m.train_top1 = double(correct.item<int64_t>()) / n_train;
    m.test_top1 = double(test_correct) / std::max(1, n_test);
    m.seconds = seconds;
    m.images_per_second = n_train / train_seconds;
    m.wall_seconds = wall;
    history.push_back(m);
    if (!options.quiet) {
      progress.finish(fmt::format("loss {:.4f} train {:.2f}% test {:.2f}% ({})", m.train_loss,
                                  100 * m.train_top1, 100 * m.test_top1,
                                  integer_eval ? "integer eval" : "float eval"));
    }

    nlohmann::json changes_json = nlohmann::json::array();
    for (const ScheduleChange& c : schedule_changes) changes_json.push_back(c.to_json());
    CheckpointFile ck;
    ck.header = {{"format", kCheckpointFormat},
                 {"config", config.to_json()},
                 {"epoch", epoch},
                 {"step", step},
                 {"rng", rng_save(rng)},
                 {"wall_seconds", wall},
                 {"threads", options.threads},
                 {"schedule_changes", changes_json},
                 {"history", nlohmann::json::array()}};
    for (const auto& h : history) ck.header["history"].push_back(h.to_json());
    ck.blobs["model"] = module_save(*net);
    ck.blobs["optimizer"] = optimizer_save(optimizer);
    checkpoint_file_write(result.checkpoint, ck);
    metrics_write(options.out_dir, config, history);
    if (options.stop_after_epochs > 0 && ++epochs_here >= options.stop_after_epochs) break;
  }
  result.history = history;
  return result;
}

BenchResult bench_run(const BenchOptions& options) {
  torch::set_num_threads(options.threads);
  const TrainConfig& config = options.config;
  torch::manual_seed(config.seed);
  StepRunner runner(config, Net(config));
  runner.net->train();
  const Dataset train = dataset_load(options.data_dir, "train");
  TrainRng rng(config.seed);
  const std::vector<int> order = epoch_order(train.count, rng);
  const long total = long(options.warmup) + options.steps;
  if (total * config.batch > train.count) {
    fail("--steps", "{} steps of {} images exceed the {} training images", total, config.batch, train.count);
  }
  auto run = [&](long first_step, long steps) {
    Tensor loss_sum = torch::zeros({});
    for (long s = first_step; s < first_step + steps; ++s) {
      const Batch b = batch_load(train, order.data() + s * config.batch, config.batch, config.augment, rng);
      loss_sum += runner.step(b, config.lr).first;
    }
    return loss_sum.item<double>();
  };
  run(0, options.warmup);  // oneDNN creates its kernels on the first calls
  BenchResult r;
  r.steps = options.steps;
  r.batch = config.batch;
  r.threads = options.threads;
  const auto t0 = std::chrono::steady_clock::now();
  const std::clock_t c0 = std::clock();
  {
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
    if (!options.profile.empty()) {
      profile = std::make_unique<torch::autograd::profiler::RecordProfile>(options.profile.string());
    }
    r.mean_loss = run(options.warmup, options.steps) / options.steps;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.cpu_seconds = double(std::clock() - c0) / CLOCKS_PER_SEC;
  r.images_per_second = double(options.steps) * config.batch / r.seconds;
  return r;
}

}  // namespace stqn
