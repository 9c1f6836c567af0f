#include "stqn/train_data.hpp"

#include "stqn/error.hpp"

#include <algorithm>
#include <numeric>
#include <sstream>

namespace stqn {

std::vector<int> epoch_order(int count, TrainRng& rng) {
  std::vector<int> order(static_cast<std::size_t>(count));
  std::iota(order.begin(), order.end(), 0);
  // Fisher-Yates with our own index draws, so the order does not depend on std::shuffle.
  for (int i = count - 1; i > 0; --i) {
    const int j = static_cast<int>(rng() % static_cast<std::uint64_t>(i + 1));
    std::swap(order[std::size_t(i)], order[std::size_t(j)]);
  }
  return order;
}

void batch_fill(const Dataset& data, const int* indices, int count, bool augment, TrainRng& rng,
                float scale, float* out) {
  const int h = data.height, w = data.width;
  constexpr int kShifts = 2 * kCropPadding + 1;
  for (int n = 0; n < count; ++n) {
    const std::uint8_t* src = data.image(indices[n]);
    float* dst = out + std::size_t(n) * h * w;
    int dy = 0, dx = 0;
    bool flip = false;
    if (augment) {
      const std::uint64_t r = rng();
      dy = static_cast<int>(r % kShifts) - kCropPadding;
      dx = static_cast<int>((r / kShifts) % kShifts) - kCropPadding;
      flip = ((r / (kShifts * kShifts)) & 1) != 0;
    }
    // out[y][x] = padded[y + dy][x + dx] of the (optionally flipped) image; outside reads 0.
    for (int y = 0; y < h; ++y) {
      const int sy = y + dy;
      for (int x = 0; x < w; ++x) {
        const int fx = x + dx;
        const int sx = flip ? w - 1 - fx : fx;
        const bool inside = sy >= 0 && sy < h && fx >= 0 && fx < w;
        dst[y * w + x] = inside ? float(src[sy * w + sx]) * scale : 0.0f;
      }
    }
  }
}

std::string rng_save(const TrainRng& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

TrainRng rng_load(const std::string& text, const std::string& where) {
  std::istringstream in(text);
  TrainRng rng;
  in >> rng;
  if (in.fail()) fail(where, "rng: not a std::mt19937_64 state");
  return rng;
}

}  // namespace stqn
