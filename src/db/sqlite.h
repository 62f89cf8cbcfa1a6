// RAII wrappers over the SQLite C API that report failures as Error values.
// Database and Statement are move-only; a Statement must not outlive its Database.
#pragma once

#include <sqlite3.h>

#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "turso_sync/status.h"
#include "turso_sync/value.h"

namespace turso_sync::db {

enum class OpenMode { read_only, read_write, create };

class Statement;

class Database {
 public:
  Database() = default;
  ~Database();
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Opens `path`. read_only and read_write require the file to exist; create makes it if missing.
  // Waits up to `busy_timeout_ms` on locks held by other connections before failing with ErrorKind::busy.
  static Result<Database> open(const std::string& path, OpenMode mode, int busy_timeout_ms = 5000);

  sqlite3* handle() const { return m_db; }
  // Gives up ownership of the connection; the caller closes it with sqlite3_close.
  sqlite3* release() { return std::exchange(m_db, nullptr); }
  const std::string& path() const { return m_path; }

  // Runs one or more statements that return no rows.
  Status exec(std::string_view sql);
  // Runs the SQL script in the file `path` (a file of ours, never a database file) statement by statement,
  // read in chunks: a script of any size in bounded memory. Errors: ErrorKind::io when it cannot be read,
  // else as exec().
  Status exec_file(const std::string& path);
  Result<Statement> prepare(std::string_view sql);

  // An Error built from the connection's last error: "<what> (<path>): <sqlite message>".
  Error last_error(std::string_view what) const;

 private:
  sqlite3* m_db = nullptr;
  std::string m_path;
};

class Statement {
 public:
  Statement() = default;
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Status bind(int index, const Value& value);  // 1-based, as sqlite3_bind_*
  Status bind_all(std::span<const Value> values);
  // Steps once: true when a row is available, false when done.
  Result<bool> step();
  Status reset();  // reset and clear bindings

  int column_count() const;
  std::string column_name(int index) const;
  Value column(int index) const;  // 0-based, exact (TEXT bytes as stored, REAL bits as stored)
  int64_t column_int64(int index) const;
  std::string column_text(int index) const;

  sqlite3_stmt* handle() const { return m_stmt; }

 private:
  friend class Database;
  Statement(sqlite3_stmt* stmt, const Database* db) : m_stmt(stmt), m_db(db) {}
  sqlite3_stmt* m_stmt = nullptr;
  const Database* m_db = nullptr;
};

// A transaction that rolls back unless committed. begin_immediate takes the write lock at once.
class Transaction {
 public:
  enum class Kind { deferred, immediate };
  static Result<Transaction> begin(Database& db, Kind kind = Kind::deferred);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();
  Status commit();

 private:
  explicit Transaction(Database* db) : m_db(db) {}
  Database* m_db;
};

// Maps an SQLite result code to the error kind a caller acts on.
ErrorKind error_kind_for(int sqlite_code);

// Copies the whole content of the database at `source_path` into `destination` in one SQLite transaction
// (sqlite3_backup): other connections to `destination` see the old content or the new, never a mix.
Status copy_database(const std::string& source_path, Database& destination);

// Convenience: runs a query returning one integer (e.g. "SELECT count(*) FROM t").
Result<int64_t> query_int(Database& db, std::string_view sql);

}  // namespace turso_sync::db
