#include "db/blob.h"

#include <fmt/format.h>

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "util/text.h"

namespace turso_sync::db {

namespace {

constexpr size_t kChunk = 256 << 10;

Error blob_error(Database& db, const BlobPlace& place, std::string_view what) {
  return db.last_error(
      fmt::format("{} the value of {}.{} at rowid {}", what, place.table, place.column, place.rowid));
}

}  // namespace

bool may_hold_large_value(const ColumnDesc& column) {
  if (column.pk_position != 0) return false;
  // SQLite's affinity rules (datatype3.html, 3.1), in their order: INT first, then CHAR/CLOB/TEXT, then BLOB
  // or no type; ANY is BLOB affinity too (and the type of STRICT tables that hold anything).
  std::string type = lower_ascii(column.decl_type);
  if (type.find("int") != std::string::npos) return false;
  for (const char* text : {"char", "clob", "text", "blob"})
    if (type.find(text) != std::string::npos) return true;
  return type.empty() || type == "any";
}

std::string large_value_left_out(const std::string& quoted) {
  return fmt::format(
      "CASE WHEN typeof({0}) = 'blob' AND length({0}) >= {1} THEN NULL WHEN typeof({0}) = 'text' AND "
      "length(CAST({0} AS BLOB)) >= {1} THEN NULL ELSE {0} END",
      quoted, k_large_value_bytes);
}

std::string large_value_left_out(const std::string& quoted, const std::string& rowid_expr,
                                 const std::string& text_rowids) {
  return fmt::format(
      "CASE WHEN typeof({0}) = 'blob' AND length({0}) >= {1} THEN NULL WHEN typeof({0}) = 'text' AND {2} IN "
      "{3} THEN NULL ELSE {0} END",
      quoted, k_large_value_bytes, rowid_expr, text_rowids);
}

std::string large_text_bit(const std::string& quoted, int slot) {
  return fmt::format(
      "(CASE WHEN typeof({0}) = 'text' THEN length(CAST({0} AS BLOB)) >= {1} ELSE 0 END << {2})", quoted,
      k_large_value_bytes, slot);
}

std::string large_value_mask_bits(const std::string& quoted, int slot) {
  // CASE, not AND: AND evaluates both sides, and length() of a TEXT loads it.
  return fmt::format(
      "(CASE typeof({0}) WHEN 'blob' THEN length({0}) >= {1} WHEN 'text' THEN 2 ELSE 0 END << {2})", quoted,
      k_large_value_bytes, 2 * slot);
}

std::optional<ValueType> left_out_type(int64_t mask, int slot, bool read_null) {
  int64_t bits = (mask >> (2 * slot)) & 3;
  if (bits & 1) return ValueType::blob;
  if ((bits & 2) && read_null) return ValueType::text;
  return std::nullopt;
}

namespace {

// A placeholder's bytes (TEXT, or a BLOB before another column): `size` NUL bytes in an anonymous mapping
// that is never written past its first page (which holds the mapping's length), so that reading it maps the
// kernel's zero page and costs no memory. SQLite owns it once bound and unmaps it through release_zero_text.
constexpr size_t kHeader = 4096;

void release_zero_text(void* p) {
  char* base = static_cast<char*>(p) - kHeader;
  size_t length = 0;
  std::memcpy(&length, base, sizeof length);
  munmap(base, length);
}

}  // namespace

Status bind_large_placeholder(Database& db, sqlite3_stmt* stmt, int index, const Value& value,
                              bool last_column) {
  if (value.type() == ValueType::blob && last_column) {
    if (sqlite3_bind_zeroblob64(stmt, index, value.byte_size()) != SQLITE_OK)
      return db.last_error("bind a large value");
    return {};
  }
  size_t length = kHeader + static_cast<size_t>(value.byte_size());
  // Anonymous memory (no file, no descriptor): never a database file.
  void* map = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED)
    return Error(ErrorKind::io,
                 fmt::format("map {} bytes for a large value: {}", length, std::strerror(errno)));
  std::memcpy(map, &length, sizeof length);
  // SQLite calls release_zero_text even when binding fails.
  char* zeros = static_cast<char*>(map) + kHeader;
  int rc = value.type() == ValueType::blob
               ? sqlite3_bind_blob64(stmt, index, zeros, value.byte_size(), release_zero_text)
               : sqlite3_bind_text64(stmt, index, zeros, value.byte_size(), release_zero_text, SQLITE_UTF8);
  if (rc != SQLITE_OK) return db.last_error("bind a large value");
  return {};
}

Result<Blob> Blob::open(Database& db, const BlobPlace& place, bool write) {
  sqlite3_blob* blob = nullptr;
  int rc = sqlite3_blob_open(db.handle(), place.schema.c_str(), place.table.c_str(), place.column.c_str(),
                             place.rowid, write ? 1 : 0, &blob);
  if (rc != SQLITE_OK) {
    Error e = blob_error(db, place, write ? "open for writing" : "open for reading");
    sqlite3_blob_close(blob);
    return e;
  }
  return Blob(blob, &db);
}

Blob::~Blob() {
  if (m_blob) sqlite3_blob_close(m_blob);
}

uint64_t Blob::size() const {
  return static_cast<uint64_t>(sqlite3_blob_bytes(m_blob));
}

Status Blob::read(uint64_t offset, size_t n, char* out) {
  if (sqlite3_blob_read(m_blob, out, static_cast<int>(n), static_cast<int>(offset)) != SQLITE_OK)
    return m_db->last_error("read a large value");
  return {};
}

Status Blob::write(uint64_t offset, std::string_view bytes) {
  if (sqlite3_blob_write(m_blob, bytes.data(), static_cast<int>(bytes.size()), static_cast<int>(offset)) !=
      SQLITE_OK)
    return m_db->last_error("write a large value");
  return {};
}

Result<Value> read_large(Database& db, const BlobPlace& place, ValueType type,
                         const std::shared_ptr<LargeStore>& store) {
  Blob blob = TS_TRY(Blob::open(db, place, false));
  uint64_t size = blob.size();
  LargeBytes bytes{store, store->size(), size, nullptr};
  std::string buffer(std::min<size_t>(kChunk, static_cast<size_t>(size)), '\0');
  for (uint64_t at = 0; at < size; at += kChunk) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, size - at));
    TS_TRY_STATUS(blob.read(at, n, buffer.data()));
    TS_TRY(store->append(std::string_view(buffer.data(), n)));
  }
  return Value::large(type, std::move(bytes));
}

Result<bool> same_in_place(Database& db, const BlobPlace& a, const BlobPlace& b) {
  Blob x = TS_TRY(Blob::open(db, a, false));
  Blob y = TS_TRY(Blob::open(db, b, false));
  uint64_t size = x.size();
  if (size != y.size()) return false;
  std::string bx(std::min<size_t>(kChunk, static_cast<size_t>(size)), '\0'), by(bx.size(), '\0');
  for (uint64_t at = 0; at < size; at += kChunk) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, size - at));
    TS_TRY_STATUS(x.read(at, n, bx.data()));
    TS_TRY_STATUS(y.read(at, n, by.data()));
    if (std::string_view(bx.data(), n) != std::string_view(by.data(), n)) return false;
  }
  return true;
}

Status write_in_place(Database& db, const BlobPlace& place, const Value& value) {
  Blob blob = TS_TRY(Blob::open(db, place, true));
  if (blob.size() != value.byte_size())
    return Error(ErrorKind::internal,
                 fmt::format("write a large value into {}.{}: the place holds {} bytes, not {}", place.table,
                             place.column, blob.size(), value.byte_size()));
  uint64_t at = 0;
  Status written;
  bool read = value.for_each_chunk(kChunk, [&](std::string_view piece) {
    written = blob.write(at, piece);
    at += piece.size();
    return written.ok();
  });
  TS_TRY_STATUS(std::move(written));
  if (!read) return Error(ErrorKind::io, "read a large value back from its temporary file");
  return {};
}

}  // namespace turso_sync::db
