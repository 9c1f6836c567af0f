// Typed, validated access to JSON documents that stqn reads (manifests, configs, checkpoints'
// metadata). Every error names the file, the field path and what was expected.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace stqn {

class JsonField {
 public:
  JsonField(const nlohmann::json& value, std::string file, std::string path)
      : value_(&value), file_(std::move(file)), path_(std::move(path)) {}

  // Parses a whole file (at most kMaxFileBytes). A syntax error names the file and the byte
  // position; so do duplicate keys in an object and nesting deeper than kMaxDepth.
  static nlohmann::json parse_file(const std::filesystem::path& file);
  static constexpr int kMaxDepth = 64;
  static constexpr std::size_t kMaxFileBytes = std::size_t{64} << 20;

  // The value must be an object whose keys are all in `allowed` (a misspelt or misplaced field
  // is an error, not silently ignored).
  void allow_only(const std::vector<std::string>& allowed) const;

  bool has(const std::string& key) const;
  JsonField at(const std::string& key) const;      // object member; missing -> error
  JsonField at(std::size_t index) const;           // array element
  std::size_t array_size() const;                  // value must be an array
  std::size_t array_size(std::size_t lo, std::size_t hi) const;  // ... with a size in [lo, hi]

  std::int64_t integer(std::int64_t lo, std::int64_t hi) const;  // integer in [lo, hi]
  double number() const;                                          // finite number
  double number(double lo, double hi) const;                      // ... in [lo, hi]
  std::string string() const;
  std::string one_of(const std::vector<std::string>& choices) const;  // string in choices
  bool boolean() const;

  const nlohmann::json& json() const { return *value_; }
  const std::string& path() const { return path_; }
  [[noreturn]] void error(const std::string& expected) const;

 private:
  const nlohmann::json* value_;
  std::string file_;
  std::string path_;
};

}  // namespace stqn
