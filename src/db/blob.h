// The bytes of one TEXT or BLOB value of a rowid table read or written in place, in chunks
// (sqlite3_blob_*): how a large value (value.h, LargeBytes) goes from a database into its store, is compared
// with another database's, and is written into a row, without ever being held whole in memory.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "db/sqlite.h"
#include "turso_sync/changeset.h"
#include "util/large_store.h"

namespace turso_sync::db {

struct BlobPlace {
  std::string schema;  // "main", "base", "temp", ...
  std::string table;
  std::string column;
  int64_t rowid = 0;
};

class Blob {
 public:
  // Opens the value at `place` for reading, or for writing (its size is fixed: write a zeroblob of the
  // right size first). Errors as SQLite's (e.g. no such row).
  static Result<Blob> open(Database& db, const BlobPlace& place, bool write);
  Blob(Blob&& other) noexcept : m_blob(std::exchange(other.m_blob, nullptr)), m_db(other.m_db) {}
  Blob& operator=(Blob&&) = delete;
  Blob(const Blob&) = delete;
  ~Blob();

  uint64_t size() const;
  Status read(uint64_t offset, size_t n, char* out);
  Status write(uint64_t offset, std::string_view bytes);

 private:
  Blob(sqlite3_blob* blob, Database* db) : m_blob(blob), m_db(db) {}
  sqlite3_blob* m_blob;
  Database* m_db;
};

// Whether a column may hold a large value read in place: its declared type lets it hold a BLOB (none, BLOB,
// ANY) and it is not part of the key.
bool may_hold_large_blob(const ColumnDesc& column);
// SELECT terms for a column `quoted` read with large values left out: the column, NULL when it holds a BLOB
// of k_large_value_bytes or more (its pages are not read); and that condition as bit `bit` of a mask.
std::string large_value_left_out(const std::string& quoted);
std::string large_value_mask_bit(const std::string& quoted, int bit);

// The value at `place` copied into `store` in chunks: a large value of type `type`.
Result<Value> read_large(Database& db, const BlobPlace& place, ValueType type,
                         const std::shared_ptr<LargeStore>& store);
// Whether the values at two places (of the same connection) hold the same bytes, compared in chunks.
Result<bool> same_in_place(Database& db, const BlobPlace& a, const BlobPlace& b);
// Writes the bytes of `value` (any form) into the value at `place`, which holds a zeroblob of its size.
Status write_in_place(Database& db, const BlobPlace& place, const Value& value);

}  // namespace turso_sync::db
