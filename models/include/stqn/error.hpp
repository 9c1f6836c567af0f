// One error type for every bad input stqn reads: the message names the file, the field and what
// was expected. Command-line tools print it on one line and exit non-zero.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

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

}  // namespace stqn
