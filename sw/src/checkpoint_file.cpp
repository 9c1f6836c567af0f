#include "stqn/checkpoint_file.hpp"

#include "stqn/error.hpp"
#include "stqn/fileio.hpp"
#include "stqn/json_field.hpp"

#include <zlib.h>

#include <cstring>

namespace stqn {

namespace {

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t get_le(const std::string& in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}
std::uint32_t crc32_of(const char* data, std::size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

constexpr std::size_t kFixedPrefix = 8 + 4 + 8;  // magic, version, header size
constexpr std::size_t kTrailer = 4;              // CRC-32

}  // namespace

void checkpoint_file_write(const std::filesystem::path& path, const CheckpointFile& file) {
  nlohmann::json header = file.header;
  header["blobs"] = nlohmann::json::array();
  for (const auto& [name, bytes] : file.blobs) {
    header["blobs"].push_back({{"name", name}, {"bytes", bytes.size()}});
  }
  const std::string text = header.dump();
  std::string out(kCheckpointMagic);
  put_u32(out, kCheckpointVersion);
  put_u64(out, text.size());
  out += text;
  for (const auto& [name, bytes] : file.blobs) out += bytes;
  put_u32(out, crc32_of(out.data(), out.size()));
  file_write_atomic(path, out);
}

CheckpointFile checkpoint_file_read(const std::filesystem::path& path) {
  const std::string where = path.string();
  const std::string in = file_read(path);
  if (in.size() < kFixedPrefix + kTrailer ||
      in.compare(0, kCheckpointMagic.size(), kCheckpointMagic) != 0) {
    fail(where, "not an stqn checkpoint (expected magic \"{}\" and at least {} bytes, got {} bytes)",
         kCheckpointMagic, kFixedPrefix + kTrailer, in.size());
  }
  const auto version = static_cast<std::uint32_t>(get_le(in, 8, 4));
  if (version != kCheckpointVersion) {
    fail(where, "version: this trainer reads checkpoint version {}, the file has version {}",
         kCheckpointVersion, version);
  }
  const std::uint64_t header_bytes = get_le(in, 12, 8);
  if (header_bytes > kCheckpointMaxHeader || header_bytes > in.size() - kFixedPrefix - kTrailer) {
    fail(where, "header size {} does not fit in a file of {} bytes (truncated?)", header_bytes,
         in.size());
  }
  const std::uint32_t stored_crc = static_cast<std::uint32_t>(get_le(in, in.size() - kTrailer, 4));
  const std::uint32_t crc = crc32_of(in.data(), in.size() - kTrailer);
  if (stored_crc != crc) {
    fail(where, "CRC-32 mismatch (stored {:08x}, computed {:08x}): the file is corrupt or truncated",
         stored_crc, crc);
  }
  CheckpointFile file;
  file.crc32 = crc;
  try {
    file.header = nlohmann::json::parse(in.substr(kFixedPrefix, header_bytes));
  } catch (const nlohmann::json::parse_error& e) {
    fail(where, "header: invalid JSON at byte {}", e.byte);
  }
  const JsonField root(file.header, where, "");
  const JsonField blobs = root.at("blobs");
  std::size_t at = kFixedPrefix + header_bytes;
  const std::size_t end = in.size() - kTrailer;
  for (std::size_t i = 0; i < blobs.array_size(); ++i) {
    const std::string name = blobs.at(i).at("name").string();
    const auto bytes = static_cast<std::size_t>(
        blobs.at(i).at("bytes").integer(0, static_cast<std::int64_t>(end - at)));
    if (file.blobs.count(name)) fail(where, "blobs[{}]: duplicate blob '{}'", i, name);
    file.blobs[name] = in.substr(at, bytes);
    at += bytes;
  }
  if (at != end) fail(where, "blobs: {} bytes follow the last blob", end - at);
  file.header.erase("blobs");
  return file;
}

}  // namespace stqn
