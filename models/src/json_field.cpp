#include "stqn/json_field.hpp"

#include "stqn/error.hpp"
#include "stqn/fileio.hpp"

#include <algorithm>
#include <cmath>

namespace stqn {

namespace {

std::string describe(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return fmt::format("{} {}", value.type_name(), text);
}

}  // namespace

nlohmann::json JsonField::parse_file(const std::filesystem::path& file) {
  const std::string text = file_read(file);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(file.string(), "invalid JSON at byte {}: {}", e.byte, e.what());
  }
}

void JsonField::error(const std::string& expected) const {
  fail(file_, "{}: expected {}, got {}", path_.empty() ? "(root)" : path_, expected,
       describe(*value_));
}

bool JsonField::has(const std::string& key) const {
  return value_->is_object() && value_->contains(key);
}

JsonField JsonField::at(const std::string& key) const {
  if (!value_->is_object()) error("an object");
  const auto it = value_->find(key);
  const std::string child = path_.empty() ? key : path_ + "." + key;
  if (it == value_->end()) fail(file_, "{}: missing field", child);
  return JsonField(*it, file_, child);
}

JsonField JsonField::at(std::size_t index) const {
  if (!value_->is_array() || index >= value_->size()) {
    error(fmt::format("an array with an element {}", index));
  }
  return JsonField((*value_)[index], file_, fmt::format("{}[{}]", path_, index));
}

std::size_t JsonField::array_size() const {
  if (!value_->is_array()) error("an array");
  return value_->size();
}

std::size_t JsonField::array_size(std::size_t lo, std::size_t hi) const {
  if (!value_->is_array() || value_->size() < lo || value_->size() > hi) {
    error(lo == hi ? fmt::format("an array of {} elements", lo)
                   : fmt::format("an array of {} to {} elements", lo, hi));
  }
  return value_->size();
}

std::int64_t JsonField::integer(std::int64_t lo, std::int64_t hi) const {
  const std::string expected = fmt::format("an integer in [{}, {}]", lo, hi);
  if (!value_->is_number_integer()) error(expected);
  std::int64_t v = 0;
  if (value_->is_number_unsigned()) {
    const auto u = value_->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi)) error(expected);
    v = static_cast<std::int64_t>(u);
  } else {
    v = value_->get<std::int64_t>();
  }
  if (v < lo || v > hi) error(expected);
  return v;
}

double JsonField::number() const {
  if (!value_->is_number() || !std::isfinite(value_->get<double>())) error("a finite number");
  return value_->get<double>();
}

std::string JsonField::string() const {
  if (!value_->is_string()) error("a string");
  return value_->get<std::string>();
}

std::string JsonField::one_of(const std::vector<std::string>& choices) const {
  std::string expected = "one of";
  for (const auto& c : choices) expected += " \"" + c + "\"";
  if (!value_->is_string()) error(expected);
  const auto it = std::find(choices.begin(), choices.end(), value_->get<std::string>());
  if (it == choices.end()) error(expected);
  return *it;
}

bool JsonField::boolean() const {
  if (!value_->is_boolean()) error("true or false");
  return value_->get<bool>();
}

}  // namespace stqn
