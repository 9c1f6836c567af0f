// stqn-bench-golden: images/s of the golden model's fast engine, its reference engine and an fp32
// libtorch forward pass of the same network (same weight values as floats, thresholds as float
// compares, so it computes the same logits), at batch 1 and batch 256, on 1 and N threads.
// Prints a table and writes JSON. A benchmark, not a test: it checks only that the three agree.
#include "stqn/error.hpp"
#include "stqn/fast.hpp"
#include "stqn/fileio.hpp"
#include "stqn/idx.hpp"
#include "stqn/package.hpp"
#include "stqn/random_package.hpp"
#include "stqn/reference.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <chrono>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The package as an fp32 libtorch network. Codes and thresholds are small integers, exact in
// float32, and every accumulator stays below 2^24, so this computes the golden logits exactly.
class TorchNet {
 public:
  TorchNet(const stqn::Package& package, torch::MemoryFormat format)
      : package_(package), format_(format) {
    for (const stqn::Layer& l : package.layers) {
      Stage stage;
      if (l.has_weights()) {
        std::vector<float> w(l.weights.begin(), l.weights.end());
        const int fan_in = l.fan_in();
        if (l.op == stqn::format::Op::Conv2d) {
          // (O, K, K, I) -> (O, I, K, K)
          // clone() first: from_blob does not own `w`, and a permute of a tensor with unit
          // dimensions can already count as contiguous, so nothing later would copy it.
          stage.weight = torch::from_blob(w.data(), {l.out_channels, l.kernel, l.kernel,
                                                     l.in_shape.c})
                             .clone()
                             .permute({0, 3, 1, 2})
                             .contiguous()
                             .contiguous(format);
        } else {
          stage.weight = torch::from_blob(w.data(), {l.out_channels, fan_in}).clone();
        }
        if (l.output == stqn::format::Output::Threshold) {
          const int levels = l.out_act.num_thresholds();
          std::vector<float> t(l.thresholds.size());
          for (std::size_t i = 0; i < t.size(); ++i) {
            // Clamp to the reachable range so the float compare stays exact.
            const auto bound = static_cast<float>(l.accumulator_bound + 1);
            t[i] = std::max(-bound, std::min(bound, static_cast<float>(l.thresholds[i])));
          }
          stage.thresholds =
              torch::from_blob(t.data(), {l.out_channels, levels}).clone().t().contiguous().view(
                  {levels, 1, l.out_channels, 1, 1});  // [level] broadcasts over (N, O, H, W)
        } else {
          std::vector<float> b(l.bias.begin(), l.bias.end());
          stage.bias = torch::from_blob(b.data(), {l.out_channels}).clone();
        }
      }
      stages_.push_back(stage);
    }
  }

  torch::Tensor forward(torch::Tensor x, std::size_t layers = ~std::size_t{0}) const {
    for (std::size_t i = 0; i < std::min(layers, stages_.size()); ++i) {
      const stqn::Layer& l = package_.layers[i];
      const Stage& s = stages_[i];
      switch (l.op) {
        case stqn::format::Op::Conv2d:
          x = torch::conv2d(x, s.weight, {}, l.stride, l.padding);
          x = codes(l, s, x);
          break;
        case stqn::format::Op::MaxPool: x = torch::max_pool2d(x, l.kernel, l.stride); break;
        case stqn::format::Op::GlobalAvgPool: x = x.sum({2, 3}, true); break;
        case stqn::format::Op::Dense:
          x = torch::linear(x.flatten(1), s.weight);
          x = l.output == stqn::format::Output::Logits ? x + s.bias : codes(l, s, x);
          break;
      }
    }
    return x;
  }

 private:
  struct Stage {
    torch::Tensor weight, thresholds, bias;
  };
  // code = act_min + sum_l [S >= theta_l], one compare per level as a float network would
  // spend on its batch norm and activation.
  static torch::Tensor codes(const stqn::Layer& l, const Stage& s, const torch::Tensor& acc) {
    torch::Tensor out;
    for (int level = 0; level < l.out_act.num_thresholds(); ++level) {
      auto theta = s.thresholds[level];
      if (l.op == stqn::format::Op::Dense) theta = theta.flatten(1);
      const torch::Tensor step = (acc >= theta).to(torch::kFloat32);
      out = out.defined() ? out.add_(step) : step;
    }
    return out.add_(static_cast<float>(l.out_act.range().lo));
  }
  const stqn::Package& package_;
  torch::MemoryFormat format_;
  std::vector<Stage> stages_;

 public:
  torch::MemoryFormat memory_format() const { return format_; }
};

struct Row {
  std::string engine;
  int batch, threads, images;
  double images_per_s;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stqn-bench-golden: golden-model speed against fp32 libtorch"};
  std::string data_dir = STQN_DEFAULT_DATA_DIR, json_out;
  int images = 2048, reference_images = 64, repeats = 3;
  std::vector<int> thread_counts;
  app.add_option("--data", data_dir, "Fashion-MNIST IDX directory")->capture_default_str();
  constexpr int kBatch = 256;
  app.add_option("--images", images, "images per measurement (at least one batch of 256)")
      ->check(CLI::Range(kBatch, 10000))
      ->capture_default_str();
  app.add_option("--reference-images", reference_images, "images for the reference engine")
      ->check(CLI::Range(8, 10000))
      ->capture_default_str();
  app.add_option("--repeats", repeats, "take the best of this many runs")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--threads", thread_counts, "thread counts to measure (default: 1 and all CPUs)")
      ->check(CLI::Range(1, 256));
  app.add_option("--json", json_out, "write results as JSON");
  CLI11_PARSE(app, argc, argv);
  try {
    const int cpus = stqn::default_thread_count();
    if (thread_counts.empty()) thread_counts = cpus > 1 ? std::vector<int>{1, cpus} : std::vector<int>{1};
    const stqn::Package package = stqn::reference_topology_package(
        1, {stqn::format::WeightKind::Ternary, 2}, {stqn::format::ActKind::Ternary, 2});
    const stqn::Dataset data = stqn::idx_load(data_dir, "t10k");
    images = std::min(images, data.count);
    reference_images = std::min(reference_images, data.count);
    const int classes = package.num_classes();

    // Agreement: the three engines must compute the same logits.
    const stqn::FastEngine engine(package);
    // libtorch in both memory formats; the faster one is the baseline.
    const TorchNet torch_net(package, torch::MemoryFormat::Contiguous);
    const TorchNet torch_nhwc(package, torch::MemoryFormat::ChannelsLast);
    torch::InferenceMode inference;
    std::vector<std::int32_t> fast_logits(std::size_t(images) * classes);
    engine.run(data.image(0), images, fast_logits.data(), cpus);
    const torch::Tensor all_pixels =
        torch::from_blob(const_cast<std::uint8_t*>(data.image(0)),
                         {images, 1, data.height, data.width}, torch::kUInt8)
            .to(torch::kFloat32);
    const torch::Tensor torch_logits = torch_net.forward(all_pixels).to(torch::kInt32).contiguous();
    const std::vector<std::int32_t> torch_flat(torch_logits.data_ptr<std::int32_t>(),
                                               torch_logits.data_ptr<std::int32_t>() + fast_logits.size());
    for (std::size_t i = 0; i < fast_logits.size(); ++i) {
      if (torch_flat[i] != fast_logits[i]) {
        stqn::fail("bench", "libtorch and the fast engine disagree at image {} class {}: {} vs {}",
                   i / classes, i % classes, torch_flat[i], fast_logits[i]);
      }
    }
    for (int i = 0; i < 8; ++i) {
      const auto out = stqn::reference_forward(
          package, stqn::input_from_pixels(package, data.image(i), data.height, data.width));
      if (!std::equal(out.back().data.begin(), out.back().data.end(),
                      fast_logits.begin() + std::ptrdiff_t(i) * classes)) {
        stqn::fail("bench", "the reference and fast engines disagree on image {}", i);
      }
    }

    std::vector<Row> rows;
    auto best_of = [&](auto&& body) {
      double best = 0;
      for (int r = 0; r < repeats; ++r) best = std::max(best, body());
      return best;
    };
    for (const int threads : thread_counts) {
      at::set_num_threads(threads);
      for (const int batch : {1, kBatch}) {
        const int n = batch == 1 ? std::min(images, 512) : images / batch * batch;
        std::vector<std::int32_t> logits(std::size_t(n) * classes);
        const double fast = best_of([&] {
          const auto start = Clock::now();
          for (int i = 0; i < n; i += batch) {
            engine.run(data.image(i), batch, logits.data() + std::size_t(i) * classes, threads);
          }
          return n / seconds_since(start);
        });
        rows.push_back({"fast", batch, threads, n, fast});
        for (const TorchNet* net : {&torch_net, &torch_nhwc}) {
          const double fp32 = best_of([&] {
            const auto start = Clock::now();
            for (int i = 0; i < n; i += batch) {
              const torch::Tensor x =
                  torch::from_blob(const_cast<std::uint8_t*>(data.image(i)),
                                   {batch, 1, data.height, data.width}, torch::kUInt8)
                      .to(torch::kFloat32)
                      .contiguous(net->memory_format());
              net->forward(x);
            }
            return n / seconds_since(start);
          });
          const bool nhwc = net->memory_format() == torch::MemoryFormat::ChannelsLast;
          rows.push_back({nhwc ? "libtorch-nhwc" : "libtorch-nchw", batch, threads, n, fp32});
        }
      }
    }
    const double reference = best_of([&] {
      const auto start = Clock::now();
      for (int i = 0; i < reference_images; ++i) {
        stqn::reference_forward(package,
                                stqn::input_from_pixels(package, data.image(i), data.height,
                                                        data.width));
      }
      return reference_images / seconds_since(start);
    });
    rows.push_back({"reference", 1, 1, reference_images, reference});

    auto row_rate = [&](const std::string& e, int batch, int threads) {
      for (const Row& r : rows) {
        if (r.engine == e && r.batch == batch && r.threads == threads) return r.images_per_s;
      }
      return 0.0;
    };
    // "libtorch-fp32" is the better of the two memory formats.
    auto rate = [&](const std::string& e, int batch, int threads) {
      if (e != "libtorch-fp32") return row_rate(e, batch, threads);
      return std::max(row_rate("libtorch-nchw", batch, threads),
                      row_rate("libtorch-nhwc", batch, threads));
    };
    fmt::print("golden model on the reference network ({} MACs/image), ternary weights and "
               "activations; best of {} runs\n\n",
               package.macs(), repeats);
    fmt::print("| engine        | batch | threads | images | images/s | vs libtorch | vs reference |\n");
    fmt::print("|---------------|------:|--------:|-------:|---------:|------------:|-------------:|\n");
    nlohmann::json results = nlohmann::json::array();
    for (const Row& r : rows) {
      const double torch_rate = rate("libtorch-fp32", r.batch, r.threads);  // best format
      const double vs_torch = torch_rate > 0 ? r.images_per_s / torch_rate : 0.0;
      const double vs_ref = r.images_per_s / reference;
      fmt::print("| {:<13} | {:>5} | {:>7} | {:>6} | {:>8.0f} | {:>10.2f}x | {:>11.1f}x |\n",
                 r.engine, r.batch, r.threads, r.images, r.images_per_s, vs_torch, vs_ref);
      results.push_back({{"engine", r.engine}, {"batch", r.batch}, {"threads", r.threads},
                         {"images", r.images}, {"images_per_s", r.images_per_s},
                         {"vs_libtorch_fp32", r.engine == "reference" ? nlohmann::json() : nlohmann::json(vs_torch)},
                         {"vs_reference", vs_ref}});
    }
    const int headline_threads = thread_counts.back();
    const double headline = rate("fast", 256, headline_threads) / rate("libtorch-fp32", 256, headline_threads);
    fmt::print("\nThe fast engine spreads a batch's images over its threads, so at batch 1 it uses "
               "one thread whatever the setting; libtorch uses its threads inside each layer.\n");
    fmt::print("fast / libtorch fp32 at batch 256, {} threads: {:.2f}x (target >= 5x)\n",
               headline_threads, headline);
    if (!json_out.empty()) {
      const nlohmann::json doc = {
          {"benchmark", "golden"},
          {"network", "reference topology, ternary weights and activations (random codes)"},
          {"macs_per_image", package.macs()},
          {"cpus", cpus},
          {"repeats", repeats},
          {"results", results},
          {"fast_vs_libtorch_batch256", headline},
          {"headline_threads", headline_threads},
          {"logits_agree", true}};
      stqn::file_write_atomic(json_out, doc.dump(2) + "\n");
      fmt::print("wrote {}\n", json_out);
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "stqn-bench-golden: error: {}\n", e.what());
    return 1;
  }
}
