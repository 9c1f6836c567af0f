// stqn-infer: runs a model package on Fashion-MNIST with the golden model and reports accuracy.
#include "stqn/error.hpp"
#include "stqn/fast.hpp"
#include "stqn/fileio.hpp"
#include "stqn/idx.hpp"
#include "stqn/package.hpp"
#include "stqn/progress.hpp"
#include "stqn/reference.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cstdio>

namespace {

constexpr int kChunk = 256;  // images per fast-engine call between progress updates
constexpr int kMaxCount = 1 << 30;  // bound for counts and indices given on the command line

struct Options {
  std::string model, data = STQN_DEFAULT_DATA_DIR, split = "t10k", json_out, dump_out;
  std::string engine = "fast";
  int limit = 0, threads = 0, dump_layer = -1, image = 0;
};

// Writes one layer's integer output for one image as JSON: {"layer", "name", "shape", "values"}.
void dump_layer(const stqn::Package& package, const stqn::Dataset& data, const Options& opt) {
  if (opt.dump_layer >= static_cast<int>(package.layers.size())) {
    stqn::fail("--dump-layer", "layer {} does not exist (the package has {} layers)",
               opt.dump_layer, package.layers.size());
  }
  if (opt.image < 0 || opt.image >= data.count) {
    stqn::fail("--image", "image {} does not exist (the split has {})", opt.image, data.count);
  }
  const stqn::Tensor input =
      stqn::input_from_pixels(package, data.image(opt.image), data.height, data.width);
  const std::vector<stqn::Tensor> outputs = stqn::reference_forward(package, input);
  const stqn::Tensor& t = outputs[std::size_t(opt.dump_layer)];
  nlohmann::json doc = {{"image", opt.image},
                        {"label", data.labels[std::size_t(opt.image)]},
                        {"layer", opt.dump_layer},
                        {"name", package.layers[std::size_t(opt.dump_layer)].name},
                        {"layout", "CHW"},
                        {"shape", {t.shape.c, t.shape.h, t.shape.w}},
                        {"values", t.data}};
  const std::string text = doc.dump() + "\n";
  if (opt.dump_out.empty()) std::fputs(text.c_str(), stdout);
  else stqn::file_write_atomic(opt.dump_out, text);
}

int run(const Options& opt) {
  // Check where results go before the work, not after it.
  for (const std::string& out : {opt.json_out, opt.dump_out}) {
    if (out.empty()) continue;
    const std::filesystem::path parent = std::filesystem::absolute(out).parent_path();
    if (!std::filesystem::is_directory(parent)) {
      stqn::fail(out, "cannot write here: directory {} does not exist", parent.string());
    }
  }
  const stqn::Package package = stqn::package_load(opt.model);
  const stqn::Dataset data = stqn::idx_load(opt.data, opt.split);
  if (opt.dump_layer >= 0) {
    dump_layer(package, data, opt);
    return 0;
  }
  const int count = opt.limit > 0 ? std::min(opt.limit, data.count) : data.count;
  const int classes = package.num_classes();
  // Checks the input shape once, with a clear message.
  stqn::input_from_pixels(package, data.image(0), data.height, data.width);

  std::vector<std::int32_t> logits(std::size_t(count) * classes);
  // Threads split each chunk of images, so more than a chunk's worth would sit idle.
  const int threads = std::min({opt.threads > 0 ? opt.threads : stqn::default_thread_count(),
                                kChunk, count});
  stqn::Progress progress(fmt::format("stqn-infer ({})", opt.engine), count);
  const auto start = std::chrono::steady_clock::now();
  if (opt.engine == "fast") {
    const stqn::FastEngine engine(package);
    for (int i = 0; i < count; i += kChunk) {
      const int n = std::min(kChunk, count - i);
      engine.run(data.image(i), n, logits.data() + std::size_t(i) * classes, threads);
      progress.update(i + n);
    }
  } else {
    for (int i = 0; i < count; ++i) {
      const auto outputs = stqn::reference_forward(
          package, stqn::input_from_pixels(package, data.image(i), data.height, data.width));
      std::copy(outputs.back().data.begin(), outputs.back().data.end(),
                logits.begin() + std::ptrdiff_t(i) * classes);
      progress.update(i + 1);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.finish();

  std::vector<int> predictions(static_cast<std::size_t>(count));
  int correct = 0;
  for (int i = 0; i < count; ++i) {
    predictions[i] = stqn::logits_argmax(logits.data() + std::size_t(i) * classes, classes);
    correct += predictions[i] == data.labels[std::size_t(i)];
  }
  const double accuracy = count > 0 ? double(correct) / count : 0.0;
  const double rate = seconds > 0 ? count / seconds : 0.0;
  fmt::print("{}: {} images, {} correct, accuracy {:.2f}%, {:.0f} images/s ({} engine, {} threads)\n",
             package.name, count, correct, 100.0 * accuracy, rate, opt.engine,
             opt.engine == "fast" ? threads : 1);
  if (!opt.json_out.empty()) {
    const nlohmann::json doc = {{"model", opt.model},     {"images", count},
                                {"correct", correct},     {"accuracy", accuracy},
                                {"predictions", predictions}, {"images_per_s", rate},
                                {"engine", opt.engine},   {"threads", threads}};
    stqn::file_write_atomic(opt.json_out, doc.dump(2) + "\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stqn-infer: run a model package on Fashion-MNIST with the golden model"};
  Options opt;
  app.add_option("--model", opt.model, "model package directory")->required();
  app.add_option("--data", opt.data, "directory of IDX files")->capture_default_str();
  app.add_option("--split", opt.split, "data split: t10k or train")
      ->check(CLI::IsMember({"t10k", "train"}))
      ->capture_default_str();
  app.add_option("--limit", opt.limit, "run only the first N images (0: all)")
      ->check(CLI::Range(0, kMaxCount));
  app.add_option("--json", opt.json_out, "write results as JSON to this file");
  app.add_option("--engine", opt.engine, "fast (bit-plane) or reference (plain loops)")
      ->check(CLI::IsMember({"fast", "reference"}))
      ->capture_default_str();
  app.add_option("--threads", opt.threads, "worker threads for the fast engine (0: all CPUs)")
      ->check(CLI::Range(0, kMaxCount));
  app.add_option("--dump-layer", opt.dump_layer,
                 "write layer L's integer output for one image (--image) as JSON and exit")
      ->check(CLI::Range(0, kMaxCount));
  app.add_option("--image", opt.image, "image index for --dump-layer")->check(CLI::Range(0, kMaxCount));
  app.add_option("--dump-out", opt.dump_out, "file for --dump-layer (default: stdout)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(opt);
  } catch (const stqn::Error& e) {
    fmt::print(stderr, "stqn-infer: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "stqn-infer: error: {}\n", e.what());
    return 1;
  }
}
