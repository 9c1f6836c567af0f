#include "stqn/fileio.hpp"

#include "stqn/error.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace stqn {

std::string file_read(const std::filesystem::path& path, std::size_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path.string(), "file not found");
  if (!std::filesystem::is_regular_file(path, ec)) {
    fail(path.string(), "not a regular file (a directory or device?)");
  }
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > max_bytes) {
    fail(path.string(), "file of {} bytes exceeds the limit of {} bytes for this kind of file",
         size, max_bytes);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string(), "cannot open: {}", std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) fail(path.string(), "read error");
  return std::move(buffer).str();
}

void file_write_atomic(const std::filesystem::path& path, std::string_view contents) {
  std::random_device entropy;
  const std::filesystem::path tmp =
      path.string() + fmt::format(".tmp-{}-{:08x}", ::getpid(), entropy());
  {
    std::FILE* file = std::fopen(tmp.c_str(), "wb");
    if (!file) fail(path.string(), "cannot create a file beside it: {}", std::strerror(errno));
    const bool written = std::fwrite(contents.data(), 1, contents.size(), file) == contents.size();
    const bool flushed = std::fflush(file) == 0 && ::fsync(::fileno(file)) == 0;
    const bool closed = std::fclose(file) == 0;
    if (!written || !flushed || !closed) {
      std::filesystem::remove(tmp);
      fail(path.string(), "write failed: {}", std::strerror(errno));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    fail(path.string(), "cannot rename temporary file into place: {}", ec.message());
  }
}

namespace {

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::vector<format::Word> hex_read(const std::filesystem::path& path, std::size_t expected_words,
                                   std::vector<std::size_t>* lines) {
  // Room for every word plus comments and line ends; anything larger is not a valid image.
  constexpr std::size_t kCommentAllowance = std::size_t{1} << 20;
  const std::string text =
      file_read(path, expected_words * (format::kHexDigitsPerWord + 2) + kCommentAllowance);
  if (lines) {
    lines->clear();
    lines->reserve(expected_words);
  }
  std::vector<format::Word> words;
  words.reserve(expected_words);
  std::size_t line_number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.substr(0, 2) == "//") continue;
    if (line.size() != format::kHexDigitsPerWord) {
      fail(path.string(), "line {}: expected a word of exactly {} hex digits, got \"{}\"",
           line_number, format::kHexDigitsPerWord, printable(line));
    }
    format::Word word = 0;
    for (char c : line) {
      const int digit = hex_digit_value(c);
      if (digit < 0) {
        fail(path.string(), "line {}: '{}' is not a hex digit in \"{}\"", line_number,
             printable(std::string_view(&c, 1)), printable(line));
      }
      word = (word << 4) | static_cast<format::Word>(digit);
    }
    if (words.size() == expected_words) {
      fail(path.string(), "line {}: more words than the {} expected", line_number, expected_words);
    }
    words.push_back(word);
    if (lines) lines->push_back(line_number);
  }
  if (words.size() != expected_words) {
    fail(path.string(), "expected {} words, found {} (truncated image?)", expected_words,
         words.size());
  }
  return words;
}

std::string hex_format(const std::vector<format::Word>& words, std::string_view comment) {
  std::string out;
  out.reserve(words.size() * (format::kHexDigitsPerWord + 1) + comment.size() + 64);
  std::size_t start = 0;
  while (start <= comment.size() && !comment.empty()) {
    std::size_t end = comment.find('\n', start);
    if (end == std::string_view::npos) end = comment.size();
    out += "// ";
    out += comment.substr(start, end - start);
    out += '\n';
    start = end + 1;
  }
  for (format::Word word : words) {
    out += fmt::format("{:08x}\n", word);
  }
  return out;
}

}  // namespace stqn
