// File helpers shared by every stqn reader and writer: whole-file reads with clear errors,
// atomic writes (temporary file, then rename), and $readmemh memory images.
#pragma once

#include "stqn/format.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace stqn {

// Reads a whole file of at most `max_bytes`; throws Error naming the file if it is missing,
// unreadable, not a regular file or larger.
inline constexpr std::size_t kDefaultMaxFileBytes = std::size_t{1} << 30;
std::string file_read(const std::filesystem::path& path,
                      std::size_t max_bytes = kDefaultMaxFileBytes);

// Writes `contents` to `path` atomically: a temporary file in the same directory is written,
// flushed and renamed over `path`, so a reader never sees a half-written file.
void file_write_atomic(const std::filesystem::path& path, std::string_view contents);

// Reads a $readmemh image of exactly `expected_words` 32-bit words (see format.hpp). If `lines`
// is given, it receives the file line number of each word, for error messages.
std::vector<format::Word> hex_read(const std::filesystem::path& path, std::size_t expected_words,
                                   std::vector<std::size_t>* lines = nullptr);

// Formats words as a $readmemh image, one 8-digit word per line, after `// comment` lines.
std::string hex_format(const std::vector<format::Word>& words, std::string_view comment);

}  // namespace stqn
