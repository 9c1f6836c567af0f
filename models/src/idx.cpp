#include "stqn/idx.hpp"

#include "stqn/error.hpp"
#include "stqn/fileio.hpp"

#include <zlib.h>

#include <cstring>

namespace stqn {

namespace {

constexpr unsigned char kGzipMagic[2] = {0x1f, 0x8b};
constexpr int kMaxImageSide = 1024;
constexpr std::size_t kMaxImages = std::size_t{1} << 24;
constexpr std::size_t kImagesHeader = 16, kLabelsHeader = 8;
// Room for gzip headers and incompressible data when checking a compressed file's size.
constexpr std::size_t kGzipOverhead = 1 << 16;

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

std::string file_read_maybe_gzip(const std::filesystem::path& path, std::size_t max_bytes,
                                 bool prefix_only) {
  // Stored (incompressible) deflate data grow by well under 1% plus headers.
  std::string raw = file_read(path, prefix_only ? kDefaultMaxFileBytes
                                                : max_bytes + max_bytes / 100 + kGzipOverhead);
  const bool gzip = raw.size() >= 2 && std::memcmp(raw.data(), kGzipMagic, 2) == 0;
  if (!gzip) {
    if (raw.size() > max_bytes) {
      if (prefix_only) raw.resize(max_bytes);
      else fail(path.string(), "size: more than the {} bytes expected", max_bytes);
    }
    return raw;
  }

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
    // Stop inflating as soon as the data exceed what the caller can use (no gzip bombs).
    if (out.size() > max_bytes) {
      inflateEnd(&stream);
      if (prefix_only) {
        out.resize(max_bytes);
        return out;
      }
      fail(path.string(), "size: decompresses to more than the {} bytes expected", max_bytes);
    }
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
  const std::string iname = images_path.string(), lname = labels_path.string();

  // Headers first, so that sizes are known before anything large is read or inflated.
  const std::string header = file_read_maybe_gzip(images_path, kImagesHeader, true);
  if (header.size() < kImagesHeader) {
    fail(iname, "header: expected {} bytes, file has {}", kImagesHeader, header.size());
  }
  if (read_be32(header, 0) != kIdxImagesMagic) {
    fail(iname, "magic: expected {:#010x} (uint8 images, 3 dims), got {:#010x}", kIdxImagesMagic,
         read_be32(header, 0));
  }
  const std::uint32_t count = read_be32(header, 4), rows = read_be32(header, 8),
                      cols = read_be32(header, 12);
  if (count < 1 || count > kMaxImages) {
    fail(iname, "count: expected 1 to {} images, got {}", kMaxImages, count);
  }
  if (rows < 1 || rows > kMaxImageSide || cols < 1 || cols > kMaxImageSide) {
    fail(iname, "dimensions: expected 1 to {} rows and columns, got {}x{}", kMaxImageSide, rows,
         cols);
  }
  const std::uint64_t expected = kImagesHeader + std::uint64_t{count} * rows * cols;
  const std::string images = file_read_maybe_gzip(images_path, expected);
  if (images.size() != expected) {
    fail(iname, "size: {} images of {}x{} need {} bytes, file has {}", count, rows, cols, expected,
         images.size());
  }
  const std::string labels = file_read_maybe_gzip(labels_path, kLabelsHeader + count);
  if (labels.size() < kLabelsHeader) {
    fail(lname, "header: expected {} bytes, file has {}", kLabelsHeader, labels.size());
  }
  if (read_be32(labels, 0) != kIdxLabelsMagic) {
    fail(lname, "magic: expected {:#010x} (uint8 labels, 1 dim), got {:#010x}", kIdxLabelsMagic,
         read_be32(labels, 0));
  }
  if (read_be32(labels, 4) != count) {
    fail(lname, "count: {} labels, but {} has {} images", read_be32(labels, 4), iname, count);
  }
  if (labels.size() != kLabelsHeader + std::uint64_t{count}) {
    fail(lname, "size: {} labels need {} bytes, file has {}", count, kLabelsHeader + count,
         labels.size());
  }

  Dataset ds;
  ds.images_file = iname;
  ds.count = static_cast<int>(count);
  ds.height = static_cast<int>(rows);
  ds.width = static_cast<int>(cols);
  ds.images.assign(images.begin() + kImagesHeader, images.end());
  ds.labels.assign(labels.begin() + kLabelsHeader, labels.end());
  for (std::uint32_t i = 0; i < count; ++i) {
    if (ds.labels[i] >= kNumClasses) {
      fail(lname, "label {}: value {} is not a class in [0, {}]", i, int{ds.labels[i]},
           kNumClasses - 1);
    }
  }
  return ds;
}

}  // namespace stqn
