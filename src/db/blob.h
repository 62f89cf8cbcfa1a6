// The bytes of one TEXT or BLOB value of a rowid table read or written in place, in chunks
// (sqlite3_blob_*): how a large value (value.h, LargeBytes) goes from a database into its store, is compared
// with another database's, and is written into a row, without ever being held whole in memory.
#pragma once

#include <memory>
#include <optional>
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

// At most this many columns of a table are read with their large values left out: each takes two bits of a
// 64-bit mask (large_value_mask_bits).
inline constexpr int k_max_large_columns = 31;

// Whether a column may hold a large value read in place: it is not part of the key and its declared type
// lets it hold a BLOB or a TEXT (BLOB or TEXT affinity: none, BLOB, ANY, or a type naming CHAR, CLOB or
// TEXT). Columns of numeric affinity are read whole, as any value, whatever they hold.
bool may_hold_large_value(const ColumnDesc& column);
// A SELECT term for a column `quoted` read with large values left out: NULL when it holds a BLOB or a TEXT
// of k_large_value_bytes or more, else the column. A BLOB's size comes from the record (its pages are not
// read); SQLite 3.40 has no way to size a TEXT without loading it, so a large TEXT is loaded once by SQLite
// (never by us) and dropped: the term keeps that to a single load per row.
std::string large_value_left_out(const std::string& quoted);
// The same term for a scan that must not load a large TEXT at all (a statement keeps the memory of the
// largest value it loaded until it ends, so two scans stepping side by side would each hold one): the rows
// whose column holds one were found beforehand, by a pass of large_text_bit's own, and are given here as an
// SQL list of rowids, e.g. "(3, 7)" ("()" when none).
std::string large_value_left_out(const std::string& quoted, const std::string& rowid_expr,
                                 const std::string& text_rowids);
// A term whose bit `slot` says whether column `quoted` holds a TEXT of k_large_value_bytes or more (SQLite
// loads such a value to size it, once per row).
std::string large_text_bit(const std::string& quoted, int slot);
// Two bits of a mask, at 2 * `slot`, that say with large_value_left_out's term which value it left out:
// bit 0 a large BLOB, bit 1 a TEXT (large when the term read NULL). Neither loads the value.
std::string large_value_mask_bits(const std::string& quoted, int slot);
// The type of the value left out at `slot` of a row read with `mask`, given whether the column's term read
// NULL; nullopt when the column's value was read as is.
std::optional<ValueType> left_out_type(int64_t mask, int slot, bool read_null);

// Binds a placeholder of `value`'s size and type, to be filled by write_in_place once the row is written: a
// zeroblob for a BLOB in the column stored last (`last_column`: SQLite writes it without ever holding its
// bytes); otherwise NUL bytes from a mapping never written (the kernel's zero page), so that SQLite's copy
// of them into the row is the only copy of the value's size in memory (a zeroblob before another column is
// expanded first: a second copy).
Status bind_large_placeholder(Database& db, sqlite3_stmt* stmt, int index, const Value& value,
                              bool last_column);

// The value at `place` copied into `store` in chunks: a large value of type `type`.
Result<Value> read_large(Database& db, const BlobPlace& place, ValueType type,
                         const std::shared_ptr<LargeStore>& store);
// Whether the values at two places (of the same connection) hold the same bytes, compared in chunks.
Result<bool> same_in_place(Database& db, const BlobPlace& a, const BlobPlace& b);
// Writes the bytes of `value` (any form) into the value at `place`, which holds a zeroblob of its size.
Status write_in_place(Database& db, const BlobPlace& place, const Value& value);

}  // namespace turso_sync::db
