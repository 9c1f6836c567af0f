#include "stqn/idx.hpp"

#include "stqn/error.hpp"
#include "stqn/fileio.hpp"

#include <zlib.h>

#include <cstring>

namespace stqn {

namespace {

constexpr unsigned char kGzipMagic[2] = {0x1f, 0x8b};
constexpr int kMaxImageSide = 1024;

std::uint32_t read_be32(const std::string& data, std::size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data()) + offset;
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

std::filesystem::path find_idx(const std::filesystem::path& dir, const std::string& stem) {
  const std::filesystem::path plain = dir / stem;
  if (std::filesystem::exists(plain)) return plain;
  const std::filesystem::path gz = dir / (stem + ".gz");
  if (std::filesystem::exists(gz)) return gz;
  fail(plain.string(), "file not found (nor {}.gz)", stem);
}

}  // namespace

std::string file_read_maybe_gzip(const std::filesystem::path& path) {
  std::string raw = file_read(path);
  if (raw.size() < 2 || std::memcmp(raw.data(), kGzipMagic, 2) != 0) return raw;

  z_stream stream{};
  if (inflateInit2(&stream, 15 + 32) != Z_OK) fail(path.string(), "zlib initialisation failed");
  stream.next_in = reinterpret_cast<Bytef*>(raw.data());
  stream.avail_in = static_cast<uInt>(raw.size());
  std::string out;
  char buffer[1 << 16];
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    status = inflate(&stream, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) {
      inflateEnd(&stream);
      fail(path.string(), "corrupt or truncated gzip data ({})",
           stream.msg ? stream.msg : "inflate error");
    }
    out.append(buffer, sizeof buffer - stream.avail_out);
    if (status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) {
      inflateEnd(&stream);
      fail(path.string(), "truncated gzip data");
    }
  }
  inflateEnd(&stream);
  return out;
}

Dataset idx_load(const std::filesystem::path& dir, const std::string& split) {
  const auto images_path = find_idx(dir, split + "-images-idx3-ubyte");
  const auto labels_path = find_idx(dir, split + "-labels-idx1-ubyte");
  const std::string images = file_read_maybe_gzip(images_path);
  const std::string labels = file_read_maybe_gzip(labels_path);
  const std::string iname = images_path.string(), lname = labels_path.string();

  if (images.size() < 16) fail(iname, "header: expected 16 bytes, file has {}", images.size());
  if (read_be32(images, 0) != kIdxImagesMagic) {
    fail(iname, "magic: expected {:#010x} (uint8 images, 3 dims), got {:#010x}", kIdxImagesMagic,
         read_be32(images, 0));
  }
  const std::uint32_t count = read_be32(images, 4), rows = read_be32(images, 8),
                      cols = read_be32(images, 12);
  if (rows < 1 || rows > kMaxImageSide || cols < 1 || cols > kMaxImageSide) {
    fail(iname, "dimensions: expected 1 to {} rows and columns, got {}x{}", kMaxImageSide, rows,
         cols);
  }
  const std::uint64_t expected = 16 + std::uint64_t{count} * rows * cols;
  if (images.size() != expected) {
    fail(iname, "size: {} images of {}x{} need {} bytes, file has {}", count, rows, cols, expected,
         images.size());
  }
  if (labels.size() < 8) fail(lname, "header: expected 8 bytes, file has {}", labels.size());
  if (read_be32(labels, 0) != kIdxLabelsMagic) {
    fail(lname, "magic: expected {:#010x} (uint8 labels, 1 dim), got {:#010x}", kIdxLabelsMagic,
         read_be32(labels, 0));
  }
  if (read_be32(labels, 4) != count) {
    fail(lname, "count: {} labels, but {} has {} images", read_be32(labels, 4), iname, count);
  }
  if (labels.size() != 8 + std::uint64_t{count}) {
    fail(lname, "size: {} labels need {} bytes, file has {}", count, 8 + std::uint64_t{count},
         labels.size());
  }

  Dataset ds;
  ds.count = static_cast<int>(count);
  ds.height = static_cast<int>(rows);
  ds.width = static_cast<int>(cols);
  ds.images.assign(images.begin() + 16, images.end());
  ds.labels.assign(labels.begin() + 8, labels.end());
  for (std::uint32_t i = 0; i < count; ++i) {
    if (ds.labels[i] >= kNumClasses) {
      fail(lname, "label {}: value {} is not a class in [0, {}]", i, int{ds.labels[i]},
           kNumClasses - 1);
    }
  }
  return ds;
}

}  // namespace stqn
