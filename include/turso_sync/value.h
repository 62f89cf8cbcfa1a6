// One SQLite value, held exactly: the storage class and its bytes. REALs compare bit for bit (so -0.0 != 0.0
// and every NaN payload is distinct), TEXT is a byte string that need not be valid UTF-8 and may contain NUL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace turso_sync {

enum class ValueType { null, integer, real, text, blob };

const char* to_string(ValueType type);

class Value {
 public:
  Value() = default;  // NULL
  static Value null() { return Value(); }
  static Value integer(int64_t v) { return Value(Data(std::in_place_index<1>, v)); }
  static Value real(double v) { return Value(Data(std::in_place_index<2>, v)); }
  static Value text(std::string bytes) { return Value(Data(std::in_place_index<3>, std::move(bytes))); }
  static Value blob(std::string bytes) { return Value(Data(std::in_place_index<4>, std::move(bytes))); }

  // Makes this value TEXT or BLOB holding bytes [p, p + n), reusing its buffer when it already holds TEXT or
  // BLOB (no allocation when rows of the same shape are read one after another into the same Values).
  void assign_bytes(ValueType type, const char* p, size_t n) {
    std::string buffer = m_data.index() >= 3
                             ? std::move(m_data.index() == 3 ? std::get<3>(m_data) : std::get<4>(m_data))
                             : std::string();
    buffer.assign(p, n);
    if (type == ValueType::text)
      m_data.emplace<3>(std::move(buffer));
    else
      m_data.emplace<4>(std::move(buffer));
  }

  ValueType type() const { return static_cast<ValueType>(m_data.index()); }
  bool is_null() const { return type() == ValueType::null; }

  // Accessors; calling the wrong one for type() is a programmer error.
  int64_t as_integer() const { return std::get<1>(m_data); }
  double as_real() const { return std::get<2>(m_data); }
  // The bytes of a TEXT or BLOB value.
  const std::string& as_bytes() const {
    return type() == ValueType::text ? std::get<3>(m_data) : std::get<4>(m_data);
  }

  // Exact equality: same storage class and same bytes (REAL compared by bit pattern).
  friend bool operator==(const Value& a, const Value& b);
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

  // A total order consistent with SQLite's: NULL < INTEGER/REAL (numeric) < TEXT (binary) < BLOB (memcmp).
  // Integers and reals compare numerically; ties between equal numeric values of different classes order
  // INTEGER first so the order stays total and consistent with operator==.
  friend int compare(const Value& a, const Value& b);

  // Number of bytes this value occupies in memory beyond sizeof(Value); used to bound batch sizes.
  size_t payload_size() const;

 private:
  using Data = std::variant<std::monostate, int64_t, double, std::string, std::string>;
  explicit Value(Data data) : m_data(std::move(data)) {}
  Data m_data;
};

// Renders the value for messages and logs (not SQL): 42, 0.1, 'text', X'00ff', NULL. Long values are cut.
std::string describe(const Value& value, size_t max_chars = 60);

}  // namespace turso_sync
