// Whole networks on the Verilated accelerator (see stqn/sim/simulate.hpp).
#include "stqn/sim/simulate.hpp"

#include "stqn/accel/driver.hpp"
#include "stqn/error.hpp"
#include "stqn/fast.hpp"
#include "stqn/fileio.hpp"
#include "stqn/json_field.hpp"
#include "stqn/reference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <exception>
#include <mutex>
#include <thread>

namespace stqn::sim {

namespace {

// A run that takes longer than this is hung: four cycles per array beat (pooling and
// write-back included) plus a fixed margin for pooling steps and the host.
constexpr std::uint64_t kRunMarginCycles = std::uint64_t{1} << 22;
std::uint64_t run_cycle_limit(const accel::Compiled& c) {
  std::uint64_t beats = 0;
  for (const accel::Step& s : c.steps) beats += static_cast<std::uint64_t>(s.beats);
  return 4 * beats + kRunMarginCycles;
}

Tensor image_input(const Package& package, const Dataset& data, int image) {
  return input_from_pixels(package, data.image(image), data.height, data.width);
}

// Checks a finished run; throws Error naming the image if the accelerator failed.
void run_check(const accel::RunResult& r, int image, std::uint64_t limit) {
  if (r.timed_out) fail(fmt::format("image {}", image), "the accelerator did not finish within {} cycles", limit);
  if (r.error) {
    fail(fmt::format("image {}", image), "the accelerator stopped with error {} ({}) at step {}",
         static_cast<std::uint32_t>(r.error_code), accel::error_code_name(r.error_code), r.error_pc);
  }
  if (!r.done) fail(fmt::format("image {}", image), "the accelerator went idle without STATUS.done");
}

std::string thousands(double v) {
  std::string digits = fmt::format("{:.0f}", v);
  std::string out;
  const std::size_t start = digits[0] == '-' ? 1 : 0;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > start && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

constexpr double kMaxClockMhz = 10000;

// CPU time the calling thread has used, in seconds.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

double per_image(std::uint64_t total, int images) { return images > 0 ? double(total) / images : 0.0; }

}  // namespace

std::string Mismatch::describe() const {
  if (step < 0) return fmt::format("image {}: logits differ, but every step's output matched when rerun", image);
  if (y < 0) {
    return fmt::format("image {}: first difference at step {} ({}), class {}: RTL {}, golden {}", image,
                       step, layer, channel, rtl, golden);
  }
  return fmt::format("image {}: first difference at step {} ({}), channel {}, pixel (y {}, x {}): RTL {}, golden {}",
                     image, step, layer, channel, y, x, rtl, golden);
}

std::vector<std::int32_t> golden_logits(const Package& package, const Dataset& data, int first, int count) {
  std::vector<std::int32_t> logits(std::size_t(count) * package.num_classes());
  if (count == 0) return logits;
  image_input(package, data, first);  // checks the input shape with a clear message
  const FastEngine engine(package);
  engine.run(data.image(first), count, logits.data(), default_thread_count());
  return logits;
}

SimResult simulate(const Package& package, const accel::Compiled& compiled, const Dataset& data,
                   const std::vector<std::int32_t>& golden, const SimOptions& opt,
                   const std::function<void(int)>& progress) {
  const int classes = compiled.num_classes;
  if (classes != package.num_classes() || golden.size() != std::size_t(opt.count) * classes) {
    fail("stqn-sim", "golden logits do not match the package ({} classes, {} images)", classes, opt.count);
  }
  SimResult result;
  result.images = opt.count;
  result.jobs = (opt.trace.empty() && opt.record.empty()) ? std::max(1, std::min(opt.jobs, opt.count)) : 1;
  result.predictions.assign(std::size_t(opt.count), -1);
  result.step_cycles.assign(compiled.steps.size(), 0);
  const std::uint64_t limit = run_cycle_limit(compiled);

  std::mutex mutex;  // guards result, done and progress
  std::atomic<int> next{0};
  int done = 0;
  std::exception_ptr failure;
  const auto start = std::chrono::steady_clock::now();

  auto worker = [&]() {
    const double cpu_start = thread_cpu_seconds();
    try {
      std::unique_ptr<Top> top = top_make(opt.config, !opt.trace.empty());
      if (!opt.trace.empty()) top->trace_open(opt.trace);
      std::unique_ptr<RecordingBus> recorder;
      if (!opt.record.empty()) recorder = std::make_unique<RecordingBus>(*top, opt.record);
      accel::Bus& bus = recorder ? static_cast<accel::Bus&>(*recorder) : *top;
      accel::Driver driver(bus, compiled.config);
      driver.check_identity();
      const std::uint64_t before_load = top->cycles();
      driver.load(compiled);
      const std::uint64_t load_cycles = top->cycles() - before_load;
      for (int i = next++; i < opt.count; i = next++) {
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (failure) return;
        }
        const int image = opt.first + i;
        const accel::RunResult r = driver.run(compiled, image_input(package, data, image), limit);
        run_check(r, image, limit);
        const std::int32_t* want = golden.data() + std::size_t(i) * classes;
        const bool same = std::equal(r.logits.begin(), r.logits.end(), want) &&
                          r.logits.size() == std::size_t(classes) &&
                          r.predicted == logits_argmax(r.logits.data(), classes);
        const int label = data.labels[std::size_t(image)];
        std::lock_guard<std::mutex> lock(mutex);
        result.predictions[std::size_t(i)] = r.predicted;
        result.correct += r.predicted == label;
        result.golden_correct += logits_argmax(want, classes) == label;
        result.accel_cycles += r.cycles;
        for (std::size_t s = 0; s < r.step_cycles.size() && s < result.step_cycles.size(); ++s)
          result.step_cycles[s] += r.step_cycles[s];
        if (!same) {
          ++result.mismatches;
          if (!result.first_mismatch || result.first_mismatch->image > image) {
            Mismatch m;
            m.image = image;
            result.first_mismatch = m;
          }
        }
        ++done;
        if (progress) progress(done);
      }
      if (recorder) recorder->close();
      top->trace_close();
      std::lock_guard<std::mutex> lock(mutex);
      result.sim_cycles += top->cycles();
      result.load_cycles += load_cycles;
      result.cpu_seconds += thread_cpu_seconds() - cpu_start;
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!failure) failure = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (int j = 1; j < result.jobs; ++j) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
  result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

Mismatch mismatch_locate(const Package& package, const accel::Compiled& compiled, const Dataset& data,
                         int image, const std::string& config) {
  std::unique_ptr<Top> top = top_make(config);
  accel::Driver driver(*top, compiled.config);
  driver.check_identity();
  driver.load(compiled);
  const Tensor input = image_input(package, data, image);
  const std::vector<Tensor> golden = reference_forward(package, input);
  const std::vector<format::Word> program = compiled.program();
  const std::uint64_t limit = run_cycle_limit(compiled);
  Mismatch m;
  m.image = image;
  for (std::size_t k = 0; k < compiled.steps.size(); ++k) {
    const accel::Step& step = compiled.steps[k];
    driver.load_program(program, static_cast<int>(k + 1));
    const accel::RunResult r = driver.run(compiled, input, limit);
    run_check(r, image, limit);
    const Tensor& want = golden.at(std::size_t(step.layer));
    m.step = static_cast<int>(k);
    m.layer = step.name;
    if (step.desc.op == accel::Opcode::Logits) {
      for (std::size_t c = 0; c < want.data.size(); ++c) {
        const std::int32_t got = c < r.logits.size() ? r.logits[c] : 0;
        if (got != want.data[c]) {
          m.channel = static_cast<int>(c), m.rtl = got, m.golden = want.data[c];
          return m;
        }
      }
      continue;
    }
    const Tensor got = driver.read_output(step);
    if (got.shape != want.shape) {
      fail(step.name, "RTL output shape ({}, {}, {}) differs from the golden ({}, {}, {})", got.shape.c,
           got.shape.h, got.shape.w, want.shape.c, want.shape.h, want.shape.w);
    }
    for (int c = 0; c < want.shape.c; ++c)
      for (int y = 0; y < want.shape.h; ++y)
        for (int x = 0; x < want.shape.w; ++x)
          if (got.at(c, y, x) != want.at(c, y, x)) {
            m.channel = c, m.y = y, m.x = x, m.rtl = got.at(c, y, x), m.golden = want.at(c, y, x);
            return m;
          }
  }
  m.step = -1;
  return m;
}

double target_clock_mhz(const std::string& config) {
  const std::filesystem::path path = accel::configs_default_path();
  const nlohmann::json doc = JsonField::parse_file(path);
  const JsonField mhz =
      JsonField(doc, path.string(), "").at("configs").at(model_find(config).base).at("device").at("target_clock_mhz");
  const double value = mhz.number();
  if (!(value > 0 && value < kMaxClockMhz)) mhz.error(fmt::format("a clock in (0, {}) MHz", kMaxClockMhz));
  return value;
}

nlohmann::json Report::json(const accel::Compiled& compiled, const SimResult& r) const {
  const double cpi = per_image(r.accel_cycles, r.images);
  std::int64_t macs = 0;
  nlohmann::json layers = nlohmann::json::array();
  for (std::size_t s = 0; s < compiled.steps.size(); ++s) {
    const accel::Step& step = compiled.steps[s];
    const double cycles = per_image(r.step_cycles[s], r.images);
    macs += step.macs;
    layers.push_back({{"step", s}, {"name", step.name}, {"layer", step.layer},
                      {"cycles", cycles}, {"macs", step.macs},
                      {"utilization", cycles > 0 ? step.macs / (cycles * peak_macs_per_cycle) : 0.0}});
  }
  const double accuracy = r.images > 0 ? double(r.correct) / r.images : 0.0;
  nlohmann::json doc = {
      {"model", model}, {"config", config}, {"images", r.images}, {"correct", r.correct},
      {"accuracy", accuracy}, {"golden_correct", r.golden_correct},
      {"golden_accuracy", r.images > 0 ? double(r.golden_correct) / r.images : 0.0},
      {"mismatches", r.mismatches}, {"cycles_per_image", cpi},
      {"utilization", cpi > 0 ? macs / (cpi * peak_macs_per_cycle) : 0.0},
      {"peak_macs_per_cycle", peak_macs_per_cycle}, {"macs_per_image", macs},
      {"clock_mhz", clock_mhz}, {"images_per_s", cpi > 0 ? clock_mhz * 1e6 / cpi : 0.0},
      {"layers", layers}, {"predictions", r.predictions},
      {"simulation", {{"jobs", r.jobs}, {"wall_s", r.wall_seconds}, {"cycles", r.sim_cycles},
                      {"load_cycles", r.load_cycles},
                      {"host_cycles_per_image",
                       per_image(r.sim_cycles - r.load_cycles - r.accel_cycles, r.images)},
                      {"cycles_per_s", r.wall_seconds > 0 ? r.sim_cycles / r.wall_seconds : 0.0},
                      {"cpu_s", r.cpu_seconds},
                      {"cycles_per_cpu_s", r.cpu_seconds > 0 ? r.sim_cycles / r.cpu_seconds : 0.0},
                      {"images_per_s", r.wall_seconds > 0 ? r.images / r.wall_seconds : 0.0}}}};
  doc["first_mismatch"] = nullptr;
  if (r.first_mismatch) {
    const Mismatch& m = *r.first_mismatch;
    doc["first_mismatch"] = {{"image", m.image}, {"step", m.step}, {"layer", m.layer}, {"channel", m.channel},
                             {"y", m.y}, {"x", m.x}, {"rtl", m.rtl}, {"golden", m.golden},
                             {"text", m.describe()}};
  }
  return doc;
}

std::string Report::table(const Package& package, const accel::Compiled& compiled, const SimResult& r) const {
  std::string out = fmt::format("{:>4}  {:<12} {:<14} {:>11} {:>12} {:>12}\n", "step", "layer", "op",
                                "cycles", "MACs", "utilization");
  std::int64_t total_macs = 0;
  for (std::size_t s = 0; s < compiled.steps.size(); ++s) {
    const accel::Step& step = compiled.steps[s];
    const double cycles = per_image(r.step_cycles[s], r.images);
    total_macs += step.macs;
    const std::string util =
        step.macs > 0 && cycles > 0 ? fmt::format("{:.1f}%", 100.0 * step.macs / (cycles * peak_macs_per_cycle)) : "-";
    out += fmt::format("{:>4}  {:<12} {:<14} {:>11} {:>12} {:>12}\n", s, step.name,
                       op_name(package.layers.at(std::size_t(step.layer)).op),
                       thousands(cycles), step.macs > 0 ? thousands(double(step.macs)) : "-", util);
  }
  const double cpi = per_image(r.accel_cycles, r.images);
  out += fmt::format("{:>4}  {:<12} {:<14} {:>11} {:>12} {:>12}\n", "", "total", "",
                     thousands(cpi), thousands(double(total_macs)),
                     cpi > 0 ? fmt::format("{:.1f}%", 100.0 * total_macs / (cpi * peak_macs_per_cycle)) : "-");
  return out;
}

std::string Report::summary(const SimResult& r) const {
  const double cpi = per_image(r.accel_cycles, r.images);
  const double pct = r.images > 0 ? 100.0 / r.images : 0.0;
  std::string out = fmt::format(
      "{} on {}: {} images, RTL accuracy {:.2f}% ({} correct), golden {:.2f}%, {} mismatches\n", model, config,
      r.images, r.correct * pct, r.correct, r.golden_correct * pct, r.mismatches);
  out += fmt::format("  {} cycles/image on the accelerator; at {:g} MHz: {:.1f} images/s ({:.2f} ms/image)\n",
                     thousands(cpi), clock_mhz, cpi > 0 ? clock_mhz * 1e6 / cpi : 0.0,
                     cpi > 0 ? cpi / (clock_mhz * 1e3) : 0.0);
  out += fmt::format("  host bus: {} cycles/image (image in, results out), {} cycles to load the package\n",
                     thousands(per_image(r.sim_cycles - r.load_cycles - r.accel_cycles, r.images)),
                     thousands(per_image(r.load_cycles, r.jobs)));
  out += fmt::format("  simulation: {} job{}, {:.1f} s wall, {:.2f} M simulated cycles/s, {:.2f} images/wall-s "
                     "({:.1f} CPU-s, {:.2f} M cycles/CPU-s)\n",
                     r.jobs, r.jobs == 1 ? "" : "s", r.wall_seconds,
                     r.wall_seconds > 0 ? r.sim_cycles / r.wall_seconds / 1e6 : 0.0,
                     r.wall_seconds > 0 ? r.images / r.wall_seconds : 0.0, r.cpu_seconds,
                     r.cpu_seconds > 0 ? r.sim_cycles / r.cpu_seconds / 1e6 : 0.0);
  return out;
}

}  // namespace stqn::sim
