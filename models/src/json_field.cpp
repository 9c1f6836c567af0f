#include "stqn/json_field.hpp"

#include "stqn/error.hpp"
#include "stqn/fileio.hpp"

#include <algorithm>
#include <cmath>

namespace stqn {

namespace {

// The type and, for scalars, a short rendering; never a dump of a large or deep value.
std::string describe(const nlohmann::json& value) {
  if (value.is_object()) return fmt::format("an object of {} fields", value.size());
  if (value.is_array()) return fmt::format("an array of {} elements", value.size());
  return fmt::format("{} {}", value.type_name(), printable(value.dump()));
}

}  // namespace

nlohmann::json JsonField::parse_file(const std::filesystem::path& file) {
  const std::string text = file_read(file, kMaxFileBytes);
  // Track the keys of every open object to refuse duplicates, and the nesting depth.
  std::vector<std::vector<std::string>> open_keys;
  std::string problem;
  const nlohmann::json::parser_callback_t check =
      [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        using Event = nlohmann::json::parse_event_t;
        if (depth > kMaxDepth && problem.empty()) {
          problem = fmt::format("nesting deeper than {} levels", kMaxDepth);
        }
        if (event == Event::object_start) open_keys.emplace_back();
        if (event == Event::object_end && !open_keys.empty()) open_keys.pop_back();
        if (event == Event::key && !open_keys.empty()) {
          const std::string key = parsed.get<std::string>();
          auto& keys = open_keys.back();
          if (std::find(keys.begin(), keys.end(), key) != keys.end() && problem.empty()) {
            problem = fmt::format("duplicate key \"{}\"", printable(key));
          }
          keys.push_back(key);
        }
        // Stop building values once something is wrong; the parse still checks syntax.
        return problem.empty();
      };
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text, check);
  } catch (const nlohmann::json::parse_error& e) {
    fail(file.string(), "invalid JSON at byte {}: {}", e.byte, printable(e.what(), 200));
  } catch (const nlohmann::json::exception& e) {
    fail(file.string(), "invalid JSON: {}", printable(e.what(), 200));
  }
  if (!problem.empty()) fail(file.string(), "invalid JSON: {}", problem);
  return doc;
}

void JsonField::allow_only(const std::vector<std::string>& allowed) const {
  if (!value_->is_object()) error("an object");
  for (const auto& item : value_->items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(file_, "{}: unknown field \"{}\" (expected only: {})",
           path_.empty() ? "(root)" : path_, printable(item.key()), list);
    }
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

double JsonField::number(double lo, double hi) const {
  const std::string expected = fmt::format("a number in [{}, {}]", lo, hi);
  if (!value_->is_number()) error(expected);
  const double v = value_->get<double>();
  if (!(v >= lo && v <= hi)) error(expected);  // NaN fails too
  return v;
}

std::string JsonField::string() const {
  if (!value_->is_string()) error("a string");
  const std::string text = value_->get<std::string>();
  if (std::any_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    error("a string without control characters");
  }
  return text;
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
