// Reader for the IDX files of MNIST and Fashion-MNIST (plain or gzip-compressed).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace stqn {

struct Dataset {
  std::string images_file;  // where the images came from, for error messages
  int count = 0, height = 0, width = 0;
  std::vector<std::uint8_t> images;  // (count, height, width), row-major
  std::vector<std::uint8_t> labels;  // (count)
  const std::uint8_t* image(int i) const {
    return images.data() + std::size_t(i) * height * width;
  }
};

// IDX magic numbers: 0x00000803 for uint8 images (3 dims), 0x00000801 for uint8 labels (1 dim).
inline constexpr std::uint32_t kIdxImagesMagic = 0x00000803;
inline constexpr std::uint32_t kIdxLabelsMagic = 0x00000801;
inline constexpr int kNumClasses = 10;

// Loads split "train" or "t10k" from `dir`: <split>-images-idx3-ubyte[.gz] and
// <split>-labels-idx1-ubyte[.gz]. Validates magic numbers, dimensions, counts, sizes and labels
// (< kNumClasses), and that there is at least one image. Throws Error naming the file.
Dataset idx_load(const std::filesystem::path& dir, const std::string& split);

// Reads a file, inflating it if it is gzip-compressed. More than `max_bytes` (after inflation)
// is an error, or, with `prefix_only`, the first `max_bytes` are returned. Throws Error naming
// the file.
std::string file_read_maybe_gzip(const std::filesystem::path& path, std::size_t max_bytes,
                                 bool prefix_only = false);

}  // namespace stqn
