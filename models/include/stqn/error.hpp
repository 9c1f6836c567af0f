// One error type for every bad input stqn reads: the message names the file, the field and what
// was expected. Command-line tools print it on one line and exit non-zero.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace stqn {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws Error("<where>: <formatted message>"). `where` is usually a file, optionally with a field.
template <typename... Args>
[[noreturn]] void fail(const std::string& where, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(where + ": " + fmt::format(format, std::forward<Args>(args)...));
}

// Text from a file, made safe for a one-line message: control characters become \xNN and the
// result is cut at `max_chars` with "...".
inline std::string printable(std::string_view text, std::size_t max_chars = 40) {
  std::string out;
  for (char c : text.substr(0, max_chars)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  if (text.size() > max_chars) out += "...";
  return out;
}

}  // namespace stqn
