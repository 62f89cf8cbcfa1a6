#include "db/blob.h"

#include <fmt/format.h>

#include <algorithm>
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

bool may_hold_large_blob(const ColumnDesc& column) {
  std::string type = lower_ascii(column.decl_type);
  return column.pk_position == 0 && (type.empty() || type == "any" || type.find("blob") != std::string::npos);
}

std::string large_value_left_out(const std::string& quoted) {
  return fmt::format("CASE WHEN typeof({0}) = 'blob' AND length({0}) >= {1} THEN NULL ELSE {0} END", quoted,
                     k_large_value_bytes);
}

std::string large_value_mask_bit(const std::string& quoted, int bit) {
  return fmt::format("((typeof({0}) = 'blob' AND length({0}) >= {1}) << {2})", quoted, k_large_value_bytes,
                     bit);
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
