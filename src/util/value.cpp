#include "turso_sync/value.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>

#include "util/large_store.h"
#include "util/text.h"

namespace turso_sync {

const char* to_string(ValueType type) {
  switch (type) {
    case ValueType::null:
      return "null";
    case ValueType::integer:
      return "integer";
    case ValueType::real:
      return "real";
    case ValueType::text:
      return "text";
    case ValueType::blob:
      return "blob";
  }
  return "unknown";
}

bool operator==(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case ValueType::null:
      return true;
    case ValueType::integer:
      return a.as_integer() == b.as_integer();
    case ValueType::real:
      return std::bit_cast<uint64_t>(a.as_real()) == std::bit_cast<uint64_t>(b.as_real());
    case ValueType::text:
    case ValueType::blob:
      if (a.is_large() || b.is_large()) return same_bytes(a, b);
      return a.as_bytes() == b.as_bytes();
  }
  return false;
}

uint64_t Value::byte_size() const {
  switch (m_data.index()) {
    case 3:
    case 4:
      return as_bytes().size();
    case 5:
    case 6:
      return large_bytes().size;
    default:
      return 0;
  }
}

bool Value::for_each_chunk(size_t chunk, const ChunkFn& fn) const {
  if (!is_large()) return fn(as_bytes());
  const LargeBytes& lb = large_bytes();
  std::string buffer(static_cast<size_t>(std::min<uint64_t>(chunk, lb.size)), '\0');
  for (uint64_t at = 0; at < lb.size; at += chunk) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, lb.size - at));
    if (!lb.store->read(lb.offset + at, n, buffer.data()).ok()) return false;
    if (!fn(std::string_view(buffer.data(), n))) return false;
  }
  return true;
}

// as_bytes() of a large value: its bytes read whole, once. A store that cannot be read back (our own
// temporary file) gives what could be read: callers that must not lose bytes stream with for_each_chunk().
const std::string& Value::read_whole() const {
  const LargeBytes& lb = large_bytes();
  if (!lb.whole) {
    auto bytes = std::make_shared<std::string>(static_cast<size_t>(lb.size), '\0');
    if (!lb.store->read(lb.offset, bytes->size(), bytes->data()).ok()) bytes->clear();
    lb.whole = std::move(bytes);
  }
  return *lb.whole;
}

namespace {

int class_rank(ValueType t) {
  switch (t) {
    case ValueType::null:
      return 0;
    case ValueType::integer:
    case ValueType::real:
      return 1;
    case ValueType::text:
      return 2;
    case ValueType::blob:
      return 3;
  }
  return 4;
}

// Compares an integer with a double exactly (no precision loss for |i| > 2^53).
int compare_int_real(int64_t i, double r) {
  if (std::isnan(r)) return 1;
  if (r >= 9223372036854775808.0) return -1;
  if (r < -9223372036854775808.0) return 1;
  double truncated = std::trunc(r);
  auto ri = static_cast<int64_t>(truncated);
  if (i < ri) return -1;
  if (i > ri) return 1;
  if (r > truncated) return -1;
  if (r < truncated) return 1;
  return 0;
}

}  // namespace

int compare(const Value& a, const Value& b) {
  int ra = class_rank(a.type()), rb = class_rank(b.type());
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (a.type()) {
    case ValueType::null:
      return 0;
    case ValueType::integer:
    case ValueType::real: {
      int c = 0;
      if (a.type() == ValueType::integer && b.type() == ValueType::integer) {
        c = a.as_integer() < b.as_integer() ? -1 : (a.as_integer() > b.as_integer() ? 1 : 0);
      } else if (a.type() == ValueType::real && b.type() == ValueType::real) {
        double x = a.as_real(), y = b.as_real();
        c = x < y ? -1 : (x > y ? 1 : 0);
        if (c == 0) {
          auto bx = std::bit_cast<uint64_t>(x), by = std::bit_cast<uint64_t>(y);
          c = bx < by ? -1 : (bx > by ? 1 : 0);
        }
        return c;
      } else if (a.type() == ValueType::integer) {
        c = compare_int_real(a.as_integer(), b.as_real());
        if (c == 0) c = -1;
      } else {
        c = -compare_int_real(b.as_integer(), a.as_real());
        if (c == 0) c = 1;
      }
      return c;
    }
    case ValueType::text:
    case ValueType::blob: {
      if (a.is_large() || b.is_large()) return compare_bytes(a, b);
      int c = a.as_bytes().compare(b.as_bytes());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
  }
  return 0;
}

size_t Value::payload_size() const {
  return static_cast<size_t>(byte_size());
}

std::string describe(const Value& value, size_t max_chars) {
  std::string out;
  switch (value.type()) {
    case ValueType::null:
      return "NULL";
    case ValueType::integer:
      return std::to_string(value.as_integer());
    case ValueType::real:
      return format_real(value.as_real());
    case ValueType::text:
    case ValueType::blob: {
      std::string head;
      value.for_each_chunk(max_chars, [&](std::string_view piece) {
        head = piece.substr(0, max_chars);
        return false;
      });
      out = value.type() == ValueType::text ? "'" + printable(head) + "'" : "X'" + to_hex(head) + "'";
      break;
    }
  }
  if (out.size() > max_chars) out = out.substr(0, max_chars) + "…";
  return out;
}

}  // namespace turso_sync
