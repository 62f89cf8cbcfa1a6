// One SQLite value, held exactly: the storage class and its bytes. REALs compare bit for bit (so -0.0 != 0.0
// and every NaN payload is distinct), TEXT is a byte string that need not be valid UTF-8 and may contain NUL.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace turso_sync {

enum class ValueType { null, integer, real, text, blob };

const char* to_string(ValueType type);

// A file of ours holding the bytes of large values (util/large_store.h).
class LargeStore;

// Where a large value's bytes are: a range of a LargeStore, which lives as long as a value refers to it.
struct LargeBytes {
  std::shared_ptr<LargeStore> store;
  uint64_t offset = 0;
  uint64_t size = 0;
  // The bytes read whole, for a caller that asks for as_bytes() (kept: the value is immutable).
  mutable std::shared_ptr<const std::string> whole;
};

// TEXT and BLOB values of at least this many bytes are read by the diff into a LargeStore instead of
// memory, and travel from there to the wire, the spill file and the working copy in chunks.
inline constexpr uint64_t k_large_value_bytes = 1 << 20;

class Value {
 public:
  Value() = default;  // NULL
  static Value null() { return Value(); }
  static Value integer(int64_t v) { return Value(Data(std::in_place_index<1>, v)); }
  static Value real(double v) { return Value(Data(std::in_place_index<2>, v)); }
  static Value text(std::string bytes) { return Value(Data(std::in_place_index<3>, std::move(bytes))); }
  static Value blob(std::string bytes) { return Value(Data(std::in_place_index<4>, std::move(bytes))); }
  // A TEXT or BLOB value whose bytes stay in a LargeStore.
  static Value large(ValueType type, LargeBytes bytes) {
    return type == ValueType::text ? Value(Data(std::in_place_index<5>, std::move(bytes)))
                                   : Value(Data(std::in_place_index<6>, std::move(bytes)));
  }

  // Makes this value TEXT or BLOB holding bytes [p, p + n), reusing its buffer when it already holds TEXT or
  // BLOB (no allocation when rows of the same shape are read one after another into the same Values).
  void assign_bytes(ValueType type, const char* p, size_t n) {
    size_t i = m_data.index();
    std::string buffer =
        i == 3 || i == 4 ? std::move(i == 3 ? std::get<3>(m_data) : std::get<4>(m_data)) : std::string();
    buffer.assign(p, n);
    if (type == ValueType::text)
      m_data.emplace<3>(std::move(buffer));
    else
      m_data.emplace<4>(std::move(buffer));
  }

  ValueType type() const {
    size_t i = m_data.index();
    return i < 5 ? static_cast<ValueType>(i) : (i == 5 ? ValueType::text : ValueType::blob);
  }
  bool is_null() const { return type() == ValueType::null; }
  // Whether the bytes of this TEXT or BLOB value are in a LargeStore rather than in memory.
  bool is_large() const { return m_data.index() >= 5; }
  const LargeBytes& large_bytes() const {
    return m_data.index() == 5 ? std::get<5>(m_data) : std::get<6>(m_data);
  }
  // The number of bytes of a TEXT or BLOB value, in either form (0 for the other types).
  uint64_t byte_size() const;
  // Calls `fn` with the bytes of a TEXT or BLOB value in order, in pieces of at most `chunk` bytes (one
  // piece for a value in memory). Stops at the first error (of `fn`, or ErrorKind::io reading the store).
  using ChunkFn = std::function<bool(std::string_view piece)>;
  bool for_each_chunk(size_t chunk, const ChunkFn& fn) const;

  // Accessors; calling the wrong one for type() is a programmer error.
  int64_t as_integer() const { return std::get<1>(m_data); }
  double as_real() const { return std::get<2>(m_data); }
  // The bytes of a TEXT or BLOB value. A large value is read whole into memory the first time: code on the
  // paths that must stay in bounded memory uses byte_size() and for_each_chunk() instead.
  const std::string& as_bytes() const {
    switch (m_data.index()) {
      case 3:
        return std::get<3>(m_data);
      case 4:
        return std::get<4>(m_data);
      default:
        return read_whole();
    }
  }

  // Exact equality: same storage class and same bytes (REAL compared by bit pattern).
  friend bool operator==(const Value& a, const Value& b);
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

  // A total order consistent with SQLite's: NULL < INTEGER/REAL (numeric) < TEXT (binary) < BLOB (memcmp).
  // Integers and reals compare numerically; ties between equal numeric values of different classes order
  // INTEGER first so the order stays total and consistent with operator==.
  friend int compare(const Value& a, const Value& b);

  // Number of bytes of this value's content (in memory or in its store); used to bound batch sizes.
  size_t payload_size() const;

 private:
  const std::string& read_whole() const;
  using Data =
      std::variant<std::monostate, int64_t, double, std::string, std::string, LargeBytes, LargeBytes>;
  explicit Value(Data data) : m_data(std::move(data)) {}
  Data m_data;
};

// Renders the value for messages and logs (not SQL): 42, 0.1, 'text', X'00ff', NULL. Long values are cut.
std::string describe(const Value& value, size_t max_chars = 60);

}  // namespace turso_sync
