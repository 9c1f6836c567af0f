// Training data on the trainer's side, torch-free: epoch shuffles and the augmentation of the
// reference recipe (random crop with 2-pixel zero padding, horizontal flip), drawn from one
// std::mt19937_64 whose state the checkpoint stores, so a resumed run sees the same batches.
#pragma once

#include "stqn/idx.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace stqn {

inline constexpr int kCropPadding = 2;  // pixels of zero padding before a random crop

using TrainRng = std::mt19937_64;

// A random permutation of [0, count).
std::vector<int> epoch_order(int count, TrainRng& rng);

// Writes `count` images (selected by `indices`) as floats pixel * scale into out (count, H, W).
// With `augment`, each image is shifted by (dy, dx) in [-2, 2]^2 with zero fill (a random crop of
// the padded image) and flipped horizontally with probability 1/2.
void batch_fill(const Dataset& data, const int* indices, int count, bool augment, TrainRng& rng,
                float scale, float* out);

// The RNG state as text (for checkpoints), and back. Throws Error naming `where`.
std::string rng_save(const TrainRng& rng);
TrainRng rng_load(const std::string& text, const std::string& where);

}  // namespace stqn
