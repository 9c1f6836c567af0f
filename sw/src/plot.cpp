// Training plots through gnuplot: stqn writes the data and a script into a temporary directory,
// runs `gnuplot script`, checks that a PNG came out and renames it into place.
#include "stqn/plot.hpp"

#include "stqn/error.hpp"
#include "stqn/fileio.hpp"
#include "stqn/json_field.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <unistd.h>

namespace stqn {

namespace fs = std::filesystem;

namespace {

constexpr int kHistogramBins = 80;
constexpr std::string_view kPngSignature = "\x89PNG\r\n\x1a\n";
constexpr int kPanelWidth = 640, kPanelHeight = 420;

// Runs gnuplot on `script` (which must write `out`); the PNG is checked, then moved to `png`.
void gnuplot_run(const std::string& script, const fs::path& work, const fs::path& out,
                 const fs::path& png) {
  const fs::path script_file = work / "plot.gp";
  file_write_atomic(script_file, script);
  const fs::path log = work / "gnuplot.log";
  const std::string cmd = fmt::format("gnuplot '{}' > '{}' 2>&1", script_file.string(), log.string());
  const int status = std::system(cmd.c_str());
  std::string message;
  if (fs::exists(log)) message = file_read(log);
  message = message.substr(0, message.find('\n'));
  if (status != 0) fail(png.string(), "gnuplot failed (status {}): {}", status, message);
  const std::string bytes = fs::exists(out) ? file_read(out) : std::string();
  if (bytes.compare(0, kPngSignature.size(), kPngSignature) != 0) {
    fail(png.string(), "gnuplot wrote no PNG: {}", message);
  }
  fs::create_directories(png.parent_path().empty() ? fs::path(".") : png.parent_path());
  file_write_atomic(png, bytes);
}

// A private scratch directory, removed when the plot is done.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device entropy;
    path_ = fs::temp_directory_path() / fmt::format("stqn-plot-{}-{:08x}", ::getpid(), entropy());
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// gnuplot string literal: single quotes, with embedded single quotes doubled.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

bool gnuplot_available() { return std::system("gnuplot --version > /dev/null 2>&1") == 0; }

std::vector<EpochMetrics> metrics_read(const fs::path& metrics_json) {
  const nlohmann::json j = JsonField::parse_file(metrics_json);
  const JsonField root(j, metrics_json.string(), "");
  const JsonField epochs = root.at("epochs");
  std::vector<EpochMetrics> out;
  for (std::size_t i = 0; i < epochs.array_size(0, 100000); ++i) {
    out.push_back(EpochMetrics::from_json(epochs.at(i)));
  }
  if (out.empty()) epochs.error("at least one epoch");
  return out;
}

void plot_curves(const std::vector<EpochMetrics>& history, const std::string& title, const fs::path& png) {
  if (history.empty()) fail(png.string(), "no epochs to plot");
  const ScratchDir work;
  std::string data = "# epoch train_loss train_top1% test_top1%\n";
  for (const auto& m : history) {
    data += fmt::format("{} {:.6g} {:.4f} {:.4f}\n", m.epoch, m.train_loss, 100 * m.train_top1,
                        100 * m.test_top1);
  }
  const fs::path dat = work.path() / "curves.dat", out = work.path() / "out.png";
  file_write_atomic(dat, data);
  // A labelled tick per epoch up to 20 epochs; beyond, every 5th (or 10th) so the labels stay apart.
  const int xtic_step = history.size() <= 20 ? 1 : history.size() <= 100 ? 5 : 10;
  const std::string script = fmt::format(
      "set terminal pngcairo size {},{} font ',10'\n"
      "set output {}\n"
      "set multiplot layout 1,2 title {}\n"
      "set xlabel 'epoch'\nset grid\nset key top right\nset xtics {}\n"
      "set ylabel 'training loss'\n"
      "plot {} using 1:2 with linespoints lw 2 pt 7 title 'train loss'\n"
      "set ylabel 'top-1 (%)'\nset key bottom right\n"
      "plot {} using 1:3 with linespoints lw 2 pt 7 title 'train', "
      "'' using 1:4 with linespoints lw 2 pt 5 title 'test'\n"
      "unset multiplot\n",
      2 * kPanelWidth, kPanelHeight, quoted(out.string()), quoted(title), xtic_step,
      quoted(dat.string()), quoted(dat.string()));
  gnuplot_run(script, work.path(), out, png);
}

void plot_latent(const std::vector<LatentPanel>& panels, const fs::path& png) {
  if (panels.empty()) fail(png.string(), "no panels to plot");
  const ScratchDir work;
  const fs::path out = work.path() / "out.png";
  std::string script = fmt::format(
      "set terminal pngcairo size {},{} font ',10'\n"
      "set output {}\n"
      "set multiplot layout 1,{}\n"
      "set style fill transparent solid 0.55 noborder\n"
      "set ylabel 'weights'\nset grid\nset key top right\n",
      int(panels.size()) * kPanelWidth, kPanelHeight, quoted(out.string()), panels.size());
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const LatentPanel& panel = panels[p];
    if (panel.value.empty() || panel.value.size() != panel.code.size()) {
      fail(png.string(), "panel '{}': {} values and {} codes", panel.title, panel.value.size(),
           panel.code.size());
    }
    const auto [lo_it, hi_it] = std::minmax_element(panel.value.begin(), panel.value.end());
    const double lo = *lo_it, hi = std::max(double(*hi_it), lo + 1e-6);
    const double width = (hi - lo) / kHistogramBins;
    // counts[code][bin]
    std::map<int, std::vector<long>> counts;
    for (std::size_t i = 0; i < panel.value.size(); ++i) {
      auto& bins = counts[panel.code[i]];
      bins.resize(kHistogramBins, 0);
      const int bin = std::clamp(int((panel.value[i] - lo) / width), 0, kHistogramBins - 1);
      ++bins[std::size_t(bin)];
    }
    std::string data = "# bin_centre";
    for (const auto& [code, bins] : counts) data += fmt::format(" code{}", code);
    data += "\n";
    for (int b = 0; b < kHistogramBins; ++b) {
      data += fmt::format("{:.6g}", lo + (b + 0.5) * width);
      for (const auto& [code, bins] : counts) data += fmt::format(" {}", bins[std::size_t(b)]);
      data += "\n";
    }
    const fs::path dat = work.path() / fmt::format("latent{}.dat", p);
    file_write_atomic(dat, data);
    script += fmt::format("set title {}\nset xlabel {}\nset boxwidth {:.6g} absolute\nplot ",
                          quoted(panel.title), quoted(panel.xlabel), width);
    int column = 2;
    for (const auto& [code, bins] : counts) {
      script += fmt::format("{}{} using 1:{} with boxes title 'code {:+d}'", column > 2 ? ", " : "",
                           quoted(dat.string()), column, code);
      ++column;
    }
    script += "\n";
  }
  script += "unset multiplot\n";
  gnuplot_run(script, work.path(), out, png);
}

}  // namespace stqn
