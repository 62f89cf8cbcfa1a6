// A small streaming JSON writer: appends to a std::string, no DOM. Used for Hrana requests and --json output.
// Strings must be valid UTF-8 (callers check with is_valid_utf8); control characters are escaped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace turso_sync {

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& string(std::string_view value);
  JsonWriter& integer(int64_t value);
  // A finite double, shortest round-trip form. Non-finite values are a programmer error (JSON cannot carry
  // them).
  JsonWriter& real(double value);
  JsonWriter& boolean(bool value);
  JsonWriter& null();
  // Splices already-encoded JSON.
  JsonWriter& raw(std::string_view json);

  const std::string& str() const { return m_out; }
  std::string take() { return std::move(m_out); }
  size_t size() const { return m_out.size(); }

 private:
  void separate();
  std::string m_out;
  std::vector<bool> m_first;  // per open container: no element written yet
  bool m_after_key = false;
};

// Appends `value` JSON-escaped (without quotes) to `out`.
void append_json_escaped(std::string& out, std::string_view value);

}  // namespace turso_sync
