// A small streaming JSON writer: appends to a std::string, no DOM. Used for Hrana requests and --json output.
// Strings must be valid UTF-8 (callers check with is_valid_utf8); control characters are escaped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "turso_sync/value.h"

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
  // A JSON string holding the base64 of a BLOB's bytes, left empty here: its place and the value are kept
  // in spliced(), for the sender to encode as it sends (remote/request_body.h).
  JsonWriter& spliced_base64(const Value& blob);
  // A JSON string holding a TEXT's bytes escaped (valid UTF-8, `escaped_size` bytes once escaped: see
  // json_escaped_size), likewise left empty here and kept in spliced().
  JsonWriter& spliced_text(const Value& text, uint64_t escaped_size);
  struct Splice {
    size_t at;      // the byte of str() before which the value goes (after the opening quote)
    Value value;    // a BLOB goes in base64, a TEXT JSON-escaped
    uint64_t size;  // the bytes it takes there
  };
  std::vector<Splice>& spliced() { return m_spliced; }

  const std::string& str() const { return m_out; }
  std::string take() { return std::move(m_out); }
  size_t size() const { return m_out.size(); }

 private:
  void separate();
  std::string m_out;
  std::vector<Splice> m_spliced;
  std::vector<bool> m_first;  // per open container: no element written yet
  bool m_after_key = false;
};

// Appends `value` JSON-escaped (without quotes) to `out`. Each byte is escaped on its own (bytes of 0x80 and
// above are kept as they are), so a value escaped in pieces cut anywhere, even inside a character, gives the
// same bytes as escaped whole.
void append_json_escaped(std::string& out, std::string_view value);
// The number of bytes append_json_escaped appends for `value`.
uint64_t json_escaped_size(std::string_view value);

}  // namespace turso_sync
