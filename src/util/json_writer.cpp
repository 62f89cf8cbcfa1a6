#include "util/json_writer.h"

#include <cassert>
#include <charconv>
#include <cmath>

namespace turso_sync {

uint64_t json_escaped_size(std::string_view value) {
  uint64_t n = 0;
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t')
      n += 2;
    else if (c < 0x20 || c == 0x7F)
      n += 6;
    else
      n += 1;
  }
  return n;
}

void append_json_escaped(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
}

void JsonWriter::separate() {
  if (m_after_key) {
    m_after_key = false;
    return;
  }
  if (!m_first.empty()) {
    if (!m_first.back()) m_out.push_back(',');
    m_first.back() = false;
  }
}

JsonWriter& JsonWriter::begin_object() {
  separate();
  m_out.push_back('{');
  m_first.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  m_out.push_back('}');
  m_first.pop_back();
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  separate();
  m_out.push_back('[');
  m_first.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  m_out.push_back(']');
  m_first.pop_back();
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  separate();
  m_out.push_back('"');
  append_json_escaped(m_out, name);
  m_out += "\":";
  m_after_key = true;
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view value) {
  separate();
  m_out.push_back('"');
  append_json_escaped(m_out, value);
  m_out.push_back('"');
  return *this;
}

JsonWriter& JsonWriter::integer(int64_t value) {
  separate();
  m_out += std::to_string(value);
  return *this;
}

JsonWriter& JsonWriter::real(double value) {
  assert(std::isfinite(value));
  separate();
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, value);
  std::string_view s(buf, static_cast<size_t>(res.ptr - buf));
  m_out += s;
  if (s.find_first_of(".eE") == std::string_view::npos) m_out += ".0";
  return *this;
}

JsonWriter& JsonWriter::boolean(bool value) {
  separate();
  m_out += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::null() {
  separate();
  m_out += "null";
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json) {
  separate();
  m_out += json;
  return *this;
}

JsonWriter& JsonWriter::spliced_base64(const Value& blob) {
  separate();
  m_out += '"';
  m_spliced.push_back(Splice{m_out.size(), blob, (blob.byte_size() + 2) / 3 * 4});
  m_out += '"';
  return *this;
}

JsonWriter& JsonWriter::spliced_text(const Value& text, uint64_t escaped_size) {
  separate();
  m_out += '"';
  m_spliced.push_back(Splice{m_out.size(), text, escaped_size});
  m_out += '"';
  return *this;
}

}  // namespace turso_sync
