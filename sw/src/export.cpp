// Export: merge latent kernels into codes, fold BN and scales into integer thresholds, write the
// package, run the golden model and compare it with the trainer's evaluations.
//
// Thresholds are found by binary search over the integer accumulator S of the very float32
// expression that the trainer's integer-faithful evaluation computes, u = fl(fl(S * k) + c), so
// the two agree on every input (docs/training.md, "Export").
#include "net.hpp"

#include "stqn/error.hpp"
#include "stqn/fast.hpp"
#include "stqn/fileio.hpp"
#include "stqn/json_field.hpp"
#include "stqn/package.hpp"
#include "stqn/plot.hpp"

#include <chrono>
#include <limits>

namespace stqn::trainer {

using torch::Tensor;

namespace {

constexpr std::int32_t kNever = std::numeric_limits<std::int32_t>::max();
constexpr std::int32_t kAlways = std::numeric_limits<std::int32_t>::min();

// u at accumulator s, exactly as forward_integer computes it (two float32 roundings; this file is
// compiled with -ffp-contract=off so no fused multiply-add merges them).
float fold_value(std::int64_t s, float k, float c) {
  const float product = static_cast<float>(s) * k;
  return product + c;
}

bool passes(float u, const ActThreshold& t) { return t.strict ? u > t.tau : u >= t.tau; }

}  // namespace

// Smallest integer S_e in [-bound, bound] whose code reaches threshold t, where the exported
// accumulator is S_e = sign * S. kAlways if every reachable S_e does, kNever if none does.
std::int32_t threshold_search(float k, float c, int sign, const ActThreshold& t, std::int64_t bound) {
  auto ok = [&](std::int64_t se) { return passes(fold_value(sign * se, k, c), t); };
  if (ok(-bound)) return kAlways;
  if (!ok(bound)) return kNever;
  std::int64_t lo = -bound, hi = bound;  // ok(lo) false, ok(hi) true
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    (ok(mid) ? hi : lo) = mid;
  }
  return static_cast<std::int32_t>(hi);
}

namespace {

format::WeightKind block_weight_kind(const WeightSpec& ws) {
  return ws.kind == WeightQuant::Twn || ws.kind == WeightQuant::Sttn ? format::WeightKind::Ternary
                                                                     : format::WeightKind::Odd;
}

ActType package_act(const ActSpec& acts) {
  if (acts.kind == ActQuant::Ternary) return {format::ActKind::Ternary, format::kTernaryStorageBits};
  return {format::ActKind::Uint, acts.bits};
}

Layer conv_layer(Net& net, int j, const std::string& name, std::int64_t in_max_abs) {
  const TrainConfig& config = net->config();
  const IntConv ic = net->int_conv(j);
  const Fold f = net->fold(j);
  Layer l;
  l.name = name;
  l.op = format::Op::Conv2d;
  l.kernel = 3;
  l.stride = 1;
  l.padding = 1;
  l.out_channels = kChannels[std::size_t(j) + 1];
  l.weight_type = j == 0 ? WeightType{format::WeightKind::Int, 8}
                         : WeightType{block_weight_kind(config.weights),
                                      block_weight_kind(config.weights) == format::WeightKind::Ternary
                                          ? format::kTernaryStorageBits
                                          : config.weights.bits};
  l.output = format::Output::Threshold;
  l.out_act = package_act(net->out_acts(j));

  // (O, I, 3, 3) -> OHWI
  const Tensor codes = ic.codes.permute({0, 2, 3, 1}).contiguous().to(torch::kFloat);
  const float* w = codes.data_ptr<float>();
  const float* k = f.k.data_ptr<float>();
  const float* c = f.c.data_ptr<float>();
  const std::int64_t fan_in = codes.numel() / l.out_channels;
  const std::int64_t bound = fan_in * l.weight_type.range().max_abs() * in_max_abs;
  const std::vector<ActThreshold> taus = act_thresholds(net->out_acts(j));
  l.weights.resize(std::size_t(codes.numel()));
  for (int o = 0; o < l.out_channels; ++o) {
    // A negative k would make the code decrease with S: negate the channel's weights instead.
    const int sign = k[o] < 0 ? -1 : 1;
    for (std::int64_t i = 0; i < fan_in; ++i) {
      const std::size_t at = std::size_t(o * fan_in + i);
      l.weights[at] = static_cast<std::int8_t>(sign * static_cast<int>(w[at]));
    }
    for (const ActThreshold& t : taus) l.thresholds.push_back(threshold_search(k[o], c[o], sign, t, bound));
  }
  return l;
}

Layer pool_layer(const std::string& name) {
  Layer l;
  l.name = name;
  l.op = format::Op::MaxPool;
  l.kernel = 2;
  l.stride = 2;
  return l;
}

}  // namespace

Package package_build(Net& net, const std::string& name) {
  const TrainConfig& config = net->config();
  const ActType act = package_act(config.acts);
  const std::int64_t act_abs = act.range().max_abs();
  Package p;
  p.name = name;
  p.input_shape = {1, kImageSize, kImageSize};
  p.input_act = {format::ActKind::Uint, 8};
  p.layers.push_back(conv_layer(net, 0, "stem", 255));
  p.layers.push_back(conv_layer(net, 1, "block1", act_abs));
  p.layers.push_back(pool_layer("pool1"));
  p.layers.push_back(conv_layer(net, 2, "block2", act_abs));
  p.layers.push_back(conv_layer(net, 3, "block3", act_abs));
  p.layers.push_back(pool_layer("pool2"));
  p.layers.push_back(conv_layer(net, 4, "block4", act_abs));
  Layer gap;
  gap.name = "gap";
  gap.op = format::Op::GlobalAvgPool;
  p.layers.push_back(gap);

  const IntHead h = net->int_head();
  Layer fc;
  fc.name = "fc";
  fc.op = format::Op::Dense;
  fc.out_channels = kClasses;
  fc.weight_type = {format::WeightKind::Int, 8};
  fc.output = format::Output::Logits;
  fc.logit_scale = h.logit_scale;
  const Tensor q = h.codes.contiguous();
  for (int64_t i = 0; i < q.numel(); ++i) fc.weights.push_back(static_cast<std::int8_t>(q.data_ptr<float>()[i]));
  const Tensor b = h.bias.contiguous();
  for (int64_t i = 0; i < b.numel(); ++i) fc.bias.push_back(static_cast<std::int32_t>(b.data_ptr<float>()[i]));
  p.layers.push_back(fc);
  package_validate(p, name);
  return p;
}

}  // namespace stqn::trainer

namespace stqn {

using namespace stqn::trainer;

ExportResult export_run(const ExportOptions& options) {
  torch::set_num_threads(options.threads);
  LoadedNet loaded = net_load(options.checkpoint);
  const TrainConfig& config = loaded.config;
  if (!config.quantized()) {
    fail(options.checkpoint.string(),
         "config: {} weights with {} activations ({} in the head) have no integer form; export "
         "needs quantized weights and activations",
         config.weights.name(), config.acts.name(), config.head().name());
  }
  const std::string name = options.name.empty()
                               ? fmt::format("stqn-{}-{}", config.weights.name(), config.acts.name())
                               : options.name;
  if (options.bn_recal > 0) {
    const Dataset train = dataset_load(options.data_dir, "train");
    bn_recalibrate(loaded.net, train, std::min(options.bn_recal, train.count), 500);
  }
  Package package = package_build(loaded.net, name);

  const Dataset test = dataset_load(options.data_dir, "t10k");
  const int n = options.test_limit > 0 ? std::min(options.test_limit, test.count) : test.count;
  ExportResult r;
  r.images = n;

  // The golden model on the in-memory package (saved below, then reloaded from disk and re-run).
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::int32_t> logits(std::size_t(n) * kClasses);
  FastEngine(package).run(test.images.data(), n, logits.data(), options.threads);
  std::vector<int> golden(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) golden[std::size_t(i)] = logits_argmax(&logits[std::size_t(i) * kClasses], kClasses);
  const double golden_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const std::vector<int> faithful = evaluate(loaded.net, test, n, /*integer=*/true, 500);
  const std::vector<int> floating = evaluate(loaded.net, test, n, /*integer=*/false, 500);
  long g_ok = 0, t_ok = 0, f_ok = 0;
  for (int i = 0; i < n; ++i) {
    const int label = test.labels[std::size_t(i)];
    g_ok += golden[std::size_t(i)] == label;
    t_ok += faithful[std::size_t(i)] == label;
    f_ok += floating[std::size_t(i)] == label;
    if (golden[std::size_t(i)] != faithful[std::size_t(i)]) {
      r.disagreements.push_back({i, label, golden[std::size_t(i)], faithful[std::size_t(i)]});
    }
    if (golden[std::size_t(i)] != floating[std::size_t(i)]) {
      r.float_disagreements.push_back({i, label, golden[std::size_t(i)], floating[std::size_t(i)]});
    }
  }
  r.golden_top1 = double(g_ok) / std::max(1, n);
  r.trainer_top1 = double(t_ok) / std::max(1, n);
  r.trainer_float_top1 = double(f_ok) / std::max(1, n);
  r.agreement = 1.0 - double(r.disagreements.size()) / std::max(1, n);
  r.float_agreement = 1.0 - double(r.float_disagreements.size()) / std::max(1, n);

  const JsonField header(loaded.header, options.checkpoint.string(), "");
  const JsonField history = header.at("history");
  const std::size_t epochs = history.array_size();
  package.meta = {{"trainer", "stqn-train"},
                  {"recipe", config.to_json()},
                  {"epochs_trained", epochs},
                  {"train_wall_seconds", header.at("wall_seconds").number()},
                  {"train_threads", loaded.header.value("threads", 0)},
                  {"schedule_changes", loaded.header.value("schedule_changes", nlohmann::json::array())},
                  {"export_bn_recal", options.bn_recal},
                  {"test_images", n},
                  {"golden_top1", r.golden_top1},
                  {"trainer_top1", r.trainer_top1},
                  {"trainer_float_top1", r.trainer_float_top1},
                  {"agreement", r.agreement},
                  {"history", loaded.header.at("history")}};
  package_save(package, options.package_dir);

  // Round trip: the package on disk must give the same predictions.
  const Package reloaded = package_load(options.package_dir);
  std::vector<std::int32_t> logits2(logits.size());
  FastEngine(reloaded).run(test.images.data(), n, logits2.data(), options.threads);
  if (logits2 != logits) {
    fail(options.package_dir.string(), "the saved package gives different logits than the exported one");
  }

  if (!options.report.empty()) {
    nlohmann::json j = r.to_json();
    j["checkpoint"] = options.checkpoint.string();
    j["package"] = options.package_dir.string();
    j["config"] = config.to_json();
    j["epochs"] = epochs;
    j["export_bn_recal"] = options.bn_recal;
    j["train_wall_seconds"] = header.at("wall_seconds").number();
    j["golden_seconds"] = golden_seconds;
    file_write_atomic(options.report, j.dump(2) + "\n");
  }
  return r;
}

LatentPanel latent_weights(const std::filesystem::path& checkpoint, int layer) {
  torch::NoGradGuard no_grad;
  if (layer < 1 || layer >= kConvs) fail("--layer", "{}: expected a block 1..{}", layer, kConvs - 1);
  LoadedNet loaded = net_load(checkpoint);
  const WeightSpec& ws = loaded.config.weights;
  if (!ws.quantized()) fail(checkpoint.string(), "config: fp32 weights map to no codes");
  const auto params = loaded.net->named_parameters();
  const torch::Tensor w = params[fmt::format("w{}", layer)].to(torch::kFloat);
  torch::Tensor value;
  std::string xlabel;
  if (ws.kind == WeightQuant::Sttn || ws.kind == WeightQuant::Stqn) {
    value = w.mean(0);  // (O, I, 3, 3): for M = 2, c = (W1 + W2) / 2
    xlabel = "mean latent weight / its channel's mean |.|";
  } else {
    value = w;
    xlabel = ws.kind == WeightQuant::Twn ? "latent weight / its channel's mean |w| (threshold 0.7)"
                                         : "latent weight / its channel's step s";
  }
  const torch::Tensor norm = ws.kind == WeightQuant::Rtn
                          ? params[fmt::format("step{}", layer)].to(torch::kFloat)
                          : value.abs().mean({1, 2, 3}).clamp_min(1e-12);
  value = value.div(norm.view({-1, 1, 1, 1})).contiguous();
  const torch::Tensor codes = loaded.net->int_conv(layer).codes.to(torch::kInt).contiguous();
  LatentPanel panel;
  panel.title = fmt::format("{} / {}: block {} ({} weights)", ws.name(), loaded.config.acts.name(),
                            layer, value.numel());
  panel.xlabel = xlabel;
  panel.value.assign(value.data_ptr<float>(), value.data_ptr<float>() + value.numel());
  panel.code.assign(codes.data_ptr<int>(), codes.data_ptr<int>() + codes.numel());
  return panel;
}

}  // namespace stqn
