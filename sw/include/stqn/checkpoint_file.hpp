// The trainer's checkpoint container: a small, validated binary file that holds a JSON header
// (config, epoch, RNG state, metrics history) and named binary blobs (serialized model and
// optimizer state). Torch-free; the torch parts fill and read the blobs.
//
// Layout (all integers little-endian):
//   magic "STQNCKPT" (8 bytes) | u32 version | u64 header bytes | header (JSON, UTF-8)
//   | blobs, concatenated in the order the header lists them | u32 CRC-32 of everything before
// The header holds {"blobs": [{"name", "bytes"}, ...], ...}.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

namespace stqn {

inline constexpr std::string_view kCheckpointMagic = "STQNCKPT";
inline constexpr std::uint32_t kCheckpointVersion = 1;
inline constexpr std::uint64_t kCheckpointMaxHeader = std::uint64_t{1} << 26;

struct CheckpointFile {
  nlohmann::json header = nlohmann::json::object();  // everything but "blobs"
  std::map<std::string, std::string> blobs;
  std::uint32_t crc32 = 0;  // the file's CRC-32 (its last 4 bytes), set by checkpoint_file_read
};

// Writes atomically (temporary file + rename).
void checkpoint_file_write(const std::filesystem::path& path, const CheckpointFile& file);

// Reads and validates magic, version, sizes, CRC and the blob table. Throws Error naming the file.
CheckpointFile checkpoint_file_read(const std::filesystem::path& path);

}  // namespace stqn
