// RowList: a table's row changes, in memory or spilled to an anonymous temporary file (changeset.h).
//
// A spilled row is one record: the op (1 byte), then the key, the old values and the new values (each a
// count, then the values), then the changed columns (a count, then the indexes). Counts, lengths and
// indexes are unsigned LEB128; a value is its type (1 byte), then 8 bytes (INTEGER, REAL bits) or a length
// and the bytes (TEXT, BLOB). Records are written through a buffer; `offsets` holds where each begins (and
// one past the last), so a record is read back with one pread. The spill file is a LargeStore: a value of
// k_large_value_bytes or more goes from its own store (or memory) to the file in chunks, and is read back as
// a large value referring to its place in the file, never into memory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "turso_sync/changeset.h"
#include "util/large_store.h"

namespace turso_sync {

namespace {

constexpr size_t kWriteBuffer = k_large_value_bytes;
constexpr uint64_t kReadAhead = 256 << 10;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_fixed(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Writes a value's bytes too long for the write buffer straight to the file (given by RowList::append).
using LongWriter = std::function<Status(const Value& value)>;

Status put_value(std::string& out, const Value& v, const LongWriter& long_bytes) {
  out.push_back(static_cast<char>(v.type()));
  switch (v.type()) {
    case ValueType::null:
      break;
    case ValueType::integer:
      put_fixed(out, static_cast<uint64_t>(v.as_integer()));
      break;
    case ValueType::real: {
      double d = v.as_real();
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      put_fixed(out, bits);
      break;
    }
    case ValueType::text:
    case ValueType::blob:
      put_varint(out, v.byte_size());
      if (long_bytes && v.byte_size() >= kWriteBuffer) return long_bytes(v);
      out += v.as_bytes();
      break;
  }
  return {};
}

Status put_values(std::string& out, const std::vector<Value>& values, const LongWriter& long_bytes) {
  put_varint(out, values.size());
  for (const Value& v : values) TS_TRY_STATUS(put_value(out, v, long_bytes));
  return {};
}

Status encode(std::string& out, const RowChange& r, const LongWriter& long_bytes) {
  out.push_back(static_cast<char>(r.op));
  TS_TRY_STATUS(put_values(out, r.key, long_bytes));
  TS_TRY_STATUS(put_values(out, r.old_values, long_bytes));
  TS_TRY_STATUS(put_values(out, r.new_values, long_bytes));
  put_varint(out, r.changed_columns.size());
  for (int c : r.changed_columns) put_varint(out, static_cast<uint64_t>(c));
  return {};
}

// The bytes of a record in memory.
class MemoryReader {
 public:
  MemoryReader(const char* p, const char* end) : m_p(p), m_end(end) {}
  size_t left() const { return static_cast<size_t>(m_end - m_p); }
  // Records in memory hold no large value (those records are written to the file at once).
  bool take_large(ValueType, uint64_t, Value&) { return false; }
  bool take(char* out, size_t n) {
    if (n > left()) return false;
    std::memcpy(out, m_p, n);
    m_p += n;
    return true;
  }

 private:
  const char* m_p;
  const char* m_end;
};

// The bytes of a record in the spill file, read through a small buffer; a long value goes straight from
// the file into its string (the record of a 50 MB value is never held twice).
class FileReader {
 public:
  FileReader(std::shared_ptr<LargeStore> file, uint64_t begin, uint64_t end)
      : m_file(std::move(file)), m_pos(begin), m_end(end) {}
  size_t left() const { return static_cast<size_t>(m_end - m_pos) + (m_buffer.size() - m_used); }
  // The next `n` bytes as a large value referring to their place in the file, skipped.
  bool take_large(ValueType type, uint64_t n, Value& out) {
    if (n > left()) return false;
    size_t buffered = m_buffer.size() - m_used;
    uint64_t at = m_pos - buffered;
    size_t from_buffer = static_cast<size_t>(std::min<uint64_t>(n, buffered));
    m_used += from_buffer;
    m_pos += n - from_buffer;
    out = Value::large(type, LargeBytes{m_file, at, n, nullptr});
    return true;
  }
  bool take(char* out, size_t n) {
    size_t buffered = std::min(n, m_buffer.size() - m_used);
    std::memcpy(out, m_buffer.data() + m_used, buffered);
    m_used += buffered;
    out += buffered;
    n -= buffered;
    if (n == 0) return true;
    if (n > m_end - m_pos) return false;
    if (n >= kChunk) return read(out, n);
    m_buffer.resize(static_cast<size_t>(std::min<uint64_t>(kChunk, m_end - m_pos)));
    if (!read(m_buffer.data(), m_buffer.size())) return false;
    std::memcpy(out, m_buffer.data(), n);
    m_used = n;
    return true;
  }
  bool failed() const { return m_failed; }

 private:
  static constexpr size_t kChunk = 64 << 10;
  bool read(char* out, size_t n) {
    while (n > 0) {
      if (!m_file->read(m_pos, n, out).ok()) {
        m_failed = true;
        return false;
      }
      m_pos += n;
      n = 0;
    }
    return true;
  }
  std::shared_ptr<LargeStore> m_file;
  uint64_t m_pos, m_end;
  std::string m_buffer;
  size_t m_used = 0;
  bool m_failed = false;
};

// Reads a record written by encode(), from a MemoryReader or a FileReader; false when it is cut short or
// malformed.
template <class Reader>
class Decoder {
 public:
  explicit Decoder(Reader& in) : m_in(in) {}

  bool row(RowChange& r) {
    uint8_t op;
    if (!byte(op) || op > static_cast<uint8_t>(RowOp::remove)) return false;
    r.op = static_cast<RowOp>(op);
    if (!values(r.key) || !values(r.old_values) || !values(r.new_values)) return false;
    uint64_t n;
    if (!varint(n) || n > m_in.left()) return false;
    r.changed_columns.resize(n);
    for (int& c : r.changed_columns) {
      uint64_t v;
      if (!varint(v)) return false;
      c = static_cast<int>(v);
    }
    return m_in.left() == 0;
  }

 private:
  bool byte(uint8_t& b) {
    char c;
    if (!m_in.take(&c, 1)) return false;
    b = static_cast<uint8_t>(c);
    return true;
  }
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!byte(b)) return false;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool fixed(uint64_t& v) {
    unsigned char b[8];
    if (!m_in.take(reinterpret_cast<char*>(b), 8)) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
    return true;
  }
  bool value(Value& out) {
    uint8_t type;
    uint64_t n;
    if (!byte(type)) return false;
    switch (static_cast<ValueType>(type)) {
      case ValueType::null:
        out = Value::null();
        return true;
      case ValueType::integer:
        if (!fixed(n)) return false;
        out = Value::integer(static_cast<int64_t>(n));
        return true;
      case ValueType::real: {
        if (!fixed(n)) return false;
        double d;
        std::memcpy(&d, &n, sizeof d);
        out = Value::real(d);
        return true;
      }
      case ValueType::text:
      case ValueType::blob: {
        if (!varint(n) || n > m_in.left()) return false;
        if (n >= kWriteBuffer && m_in.take_large(static_cast<ValueType>(type), n, out)) return true;
        std::string bytes(static_cast<size_t>(n), '\0');
        if (!m_in.take(bytes.data(), bytes.size())) return false;
        out = static_cast<ValueType>(type) == ValueType::text ? Value::text(std::move(bytes))
                                                              : Value::blob(std::move(bytes));
        return true;
      }
    }
    return false;
  }
  bool values(std::vector<Value>& out) {
    uint64_t n;
    if (!varint(n) || n > m_in.left()) return false;
    out.resize(n);
    for (Value& v : out)
      if (!value(v)) return false;
    return true;
  }

  Reader& m_in;
};

size_t value_memory(const Value& v) {
  size_t n = sizeof(Value);
  if (v.is_large()) return n + sizeof(LargeBytes);
  if ((v.type() == ValueType::text || v.type() == ValueType::blob) && v.as_bytes().size() > 15)
    n += v.as_bytes().size() + 1;
  return n;
}

size_t row_memory(const RowChange& r) {
  size_t n = sizeof(RowChange) + r.changed_columns.size() * sizeof(int);
  for (const auto* values : {&r.key, &r.old_values, &r.new_values})
    for (const Value& v : *values) n += value_memory(v);
  return n;
}

}  // namespace

struct RowList::Spill {
  std::string dir;                   // where the file is
  std::shared_ptr<LargeStore> file;  // shared with the large values read back from it
  uint64_t flushed = 0;              // bytes in the file; the rest of the records are in `pending`
  std::string pending;               // records not yet written
  std::vector<uint64_t> offsets;     // where each record begins, and one past the last
  // Appends `n` bytes at the end of the file (after `pending` has been flushed).
  Status write(const char* data, size_t n) {
    TS_TRY(file->append(std::string_view(data, n)));
    flushed += n;
    return {};
  }
  Status flush() {
    TS_TRY_STATUS(write(pending.data(), pending.size()));
    pending.clear();
    return {};
  }
};

RowList::RowList() = default;
RowList::~RowList() = default;
RowList::RowList(RowList&&) noexcept = default;
RowList& RowList::operator=(RowList&&) noexcept = default;

size_t RowList::size() const {
  return m_spill ? m_spill->offsets.size() - 1 : m_rows.size();
}

bool RowList::spilled() const {
  return m_spill != nullptr;
}

size_t RowList::memory_bytes() const {
  return m_spill ? m_spill->offsets.capacity() * sizeof(uint64_t) + m_spill->pending.capacity() : m_memory;
}

Status RowList::push_back(RowChange change) {
  if (m_spill) return append(change);
  m_memory += row_memory(change);
  m_rows.push_back(std::move(change));
  return {};
}

Status RowList::append(const RowChange& change) {
  if (!m_spill) return push_back(change);
  Spill& spill = *m_spill;
  bool direct = false;
  TS_TRY_STATUS(encode(spill.pending, change, [&](const Value& value) -> Status {
    TS_TRY_STATUS(spill.flush());
    direct = true;
    Status written;
    bool read = value.for_each_chunk(kWriteBuffer, [&](std::string_view piece) {
      written = spill.write(piece.data(), piece.size());
      return written.ok();
    });
    TS_TRY_STATUS(std::move(written));
    if (!read) return Error(ErrorKind::io, "read a large value back from its temporary file");
    return {};
  }));
  // A record is wholly in the file or wholly in the write buffer: the readers rely on it.
  if (direct || spill.pending.size() >= kWriteBuffer) TS_TRY_STATUS(spill.flush());
  spill.offsets.push_back(spill.flushed + spill.pending.size());
  return {};
}

size_t RowList::memory_of(const RowChange& change) {
  return row_memory(change);
}

Status RowList::spill(const std::string& dir) {
  if (m_spill) return {};
  std::string where = dir;
  if (where.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    where = tmp && *tmp ? tmp : "/tmp";
  }
  auto spill = std::make_unique<Spill>();
  spill->dir = where;
  spill->file = TS_TRY(LargeStore::create(where, "the row changes"));
  spill->offsets.push_back(0);
  m_spill = std::move(spill);
  std::vector<RowChange> rows = std::move(m_rows);
  m_rows = {};
  m_memory = 0;
  for (RowChange& r : rows) {
    TS_TRY_STATUS(append(r));
    r = RowChange();  // each row's memory goes as it is written
  }
  return {};
}

Status RowList::read_file(uint64_t offset, size_t size, std::string& buffer) const {
  buffer.resize(size);
  return m_spill->file->read(offset, size, buffer.data());
}

Status RowList::decode(size_t index, const char* chunk, uint64_t chunk_start, RowChange& out) const {
  uint64_t begin = m_spill->offsets[index], end = m_spill->offsets[index + 1];
  const char* p = chunk + (begin - chunk_start);
  MemoryReader in(p, p + (end - begin));
  if (!Decoder<MemoryReader>(in).row(out))
    return Error(ErrorKind::internal, "row changes: a spilled record does not decode");
  return {};
}

Status RowList::decode_from_file(size_t index, RowChange& out) const {
  FileReader in(m_spill->file, m_spill->offsets[index], m_spill->offsets[index + 1]);
  if (Decoder<FileReader>(in).row(out)) return {};
  if (in.failed())
    return Error(ErrorKind::io, fmt::format("read the row changes back from their temporary file: {}",
                                            std::strerror(errno)));
  return Error(ErrorKind::internal, "row changes: a spilled record does not decode");
}

Result<RowChange> RowList::at(size_t index) const {
  if (index >= size()) return Error(ErrorKind::internal, "row changes: index out of range");
  if (!m_spill) return m_rows[index];
  RowChange r;
  if (m_spill->offsets[index] >= m_spill->flushed)
    TS_TRY_STATUS(decode(index, m_spill->pending.data(), m_spill->flushed, r));
  else
    TS_TRY_STATUS(decode_from_file(index, r));
  return r;
}

RowCursor RowList::cursor() const {
  return RowCursor(*this);
}

Status RowList::retain(const std::function<bool(const RowChange&)>& keep) {
  if (!m_spill) {
    std::vector<RowChange> kept;
    m_memory = 0;
    for (RowChange& r : m_rows)
      if (keep(r)) {
        m_memory += row_memory(r);
        kept.push_back(std::move(r));
      }
    m_rows = std::move(kept);
    return {};
  }
  RowList kept;
  TS_TRY_STATUS(kept.spill(m_spill->dir));
  RowCursor rows = cursor();
  while (const RowChange* r = TS_TRY(rows.next()))
    if (keep(*r)) TS_TRY_STATUS(kept.append(*r));
  *this = std::move(kept);
  return {};
}

Result<const RowChange*> RowCursor::next() {
  if (m_index >= m_list->size()) return static_cast<const RowChange*>(nullptr);
  size_t i = m_index++;
  if (!m_list->m_spill) return &m_list->m_rows[i];
  const RowList::Spill& spill = *m_list->m_spill;
  uint64_t begin = spill.offsets[i], end = spill.offsets[i + 1];
  if (begin >= spill.flushed) {  // still in the write buffer
    TS_TRY_STATUS(m_list->decode(i, spill.pending.data(), spill.flushed, m_row));
    return static_cast<const RowChange*>(&m_row);
  }
  if (end - begin > kReadAhead) {  // a long record: its values read straight into place
    TS_TRY_STATUS(m_list->decode_from_file(i, m_row));
    return static_cast<const RowChange*>(&m_row);
  }
  if (begin < m_buffer_start || end > m_buffer_start + m_buffer.size()) {  // read ahead from this record
    size_t want = static_cast<size_t>(kReadAhead);
    m_buffer_start = begin;
    TS_TRY_STATUS(m_list->read_file(
        begin, static_cast<size_t>(std::min<uint64_t>(want, spill.flushed - begin)), m_buffer));
  }
  TS_TRY_STATUS(m_list->decode(i, m_buffer.data(), m_buffer_start, m_row));
  return static_cast<const RowChange*>(&m_row);
}

}  // namespace turso_sync
