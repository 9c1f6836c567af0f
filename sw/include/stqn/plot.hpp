// Plots of training runs as PNG files, drawn by gnuplot (Debian's gnuplot-nox) from a script and
// data files that stqn writes; torch-free. Every PNG is written atomically (temporary + rename).
#pragma once

#include "stqn/train.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace stqn {

// True if `gnuplot` can be run (found on PATH and answers --version).
bool gnuplot_available();

// Training curves: loss, and train and test top-1 per epoch, from a run's metrics history.
void plot_curves(const std::vector<EpochMetrics>& history, const std::string& title,
                 const std::filesystem::path& png);

// Reads a run's metrics.json (as train_run writes it); throws Error naming the file and field.
std::vector<EpochMetrics> metrics_read(const std::filesystem::path& metrics_json);

// One panel of the latent-weight figure: a histogram of `value` (normalised latent weights)
// with one colour per `code` the weight maps to (the paper's Figure 1).
struct LatentPanel {
  std::string title;
  std::string xlabel;
  std::vector<float> value;
  std::vector<int> code;
};

// The panels side by side, each with its own bins (80 over its value range).
void plot_latent(const std::vector<LatentPanel>& panels, const std::filesystem::path& png);

// The latent weights of conv `layer` (1..4) of a quantized checkpoint, normalised per output
// channel, and the code each one maps to: sttn/stqn the mean of the M latent kernels over the
// channel's mean |.| of it; twn w / mean|w_o| (so the hard threshold is at +-0.7 everywhere); rtn
// w / s_o (the step). Titled with the run's quantizers. Throws Error naming the file. (Defined in
// the trainer's torch code, export.cpp.)
LatentPanel latent_weights(const std::filesystem::path& checkpoint, int layer);

}  // namespace stqn
