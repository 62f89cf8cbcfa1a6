#include "db/sqlite.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace turso_sync::db {

namespace {

// SQLite's message, with the operating system's reason for an I/O failure when SQLite kept it ("unable to
// open database file (Permission denied)"). A failed write rarely keeps it (SQLite rolls back first), so it
// says what usually causes one.
std::string sqlite_message(sqlite3* db, int code, std::string message) {
  int primary = code & 0xFF;
  int os_error = db ? sqlite3_system_errno(db) : 0;
  if (os_error != 0 && (primary == SQLITE_IOERR || primary == SQLITE_FULL || primary == SQLITE_CANTOPEN))
    message += fmt::format(" ({})", std::strerror(os_error));
  else if (code == SQLITE_IOERR_WRITE || primary == SQLITE_FULL)
    message += " (a write failed: the disk may be full, or a file size limit or quota reached)";
  return message;
}

}  // namespace

ErrorKind error_kind_for(int code) {
  switch (code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorKind::busy;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PERM:
      return ErrorKind::local_db;
    case SQLITE_INTERRUPT:
      return ErrorKind::cancelled;
    default:
      return ErrorKind::sql;
  }
}

Database::~Database() {
  if (m_db) sqlite3_close_v2(m_db);
}

Database::Database(Database&& other) noexcept
    : m_db(std::exchange(other.m_db, nullptr)), m_path(std::move(other.m_path)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    if (m_db) sqlite3_close_v2(m_db);
    m_db = std::exchange(other.m_db, nullptr);
    m_path = std::move(other.m_path);
  }
  return *this;
}

Result<Database> Database::open(const std::string& path, OpenMode mode, int busy_timeout_ms) {
  int flags = SQLITE_OPEN_NOMUTEX;
  switch (mode) {
    case OpenMode::read_only:
      flags |= SQLITE_OPEN_READONLY;
      break;
    case OpenMode::read_write:
      flags |= SQLITE_OPEN_READWRITE;
      break;
    case OpenMode::create:
      flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
      break;
  }
  Database db;
  db.m_path = path;
  int rc = sqlite3_open_v2(path.c_str(), &db.m_db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db.m_db ? sqlite3_errmsg(db.m_db) : sqlite3_errstr(rc);
    return Error(error_kind_for(rc), fmt::format("open {}: {}", path, msg));
  }
  sqlite3_extended_result_codes(db.m_db, 1);
  sqlite3_busy_timeout(db.m_db, busy_timeout_ms);
  // "name" is always an identifier, never a string: otherwise a definition that names a missing column (an
  // index on a renamed column) is silently accepted as an expression on a string constant.
  sqlite3_db_config(db.m_db, SQLITE_DBCONFIG_DQS_DDL, 0, nullptr);
  sqlite3_db_config(db.m_db, SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
  // A file that is not a database only fails on first read: check now so the error names the file.
  rc = sqlite3_exec(db.m_db, "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return db.last_error("open");
  return db;
}

Status Database::exec(std::string_view sql) {
  std::string copy(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(m_db, copy.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = sqlite_message(m_db, rc, err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return Error(error_kind_for(rc), fmt::format("{}: {}", m_path, msg));
  }
  return {};
}

Status Database::exec_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Error(ErrorKind::io, fmt::format("open {}: {}", path, std::strerror(errno)));
  std::string text;  // the statements not run yet
  size_t scanned = 0;
  // Where the scan is: in a quoted string or name ('…', "…", `…`, […]), a comment, or neither. Only a ';'
  // outside them may end a statement; sqlite3_complete() then decides (a trigger body holds several).
  char quote = 0;  // the closing character, '\n' for a line comment, '*' for a block comment
  char chunk[1 << 16];
  Status status;
  while (status.ok()) {
    size_t n = std::fread(chunk, 1, sizeof chunk, f);
    if (n == 0 && std::ferror(f)) {
      status = Error(ErrorKind::io, fmt::format("read {}: {}", path, std::strerror(errno)));
      break;
    }
    text.append(chunk, n);
    size_t start = 0;
    for (size_t i = scanned; i < text.size() && status.ok(); ++i) {
      char c = text[i];
      if (quote == '*') {
        if (c == '/' && i > 0 && text[i - 1] == '*') quote = 0;
      } else if (quote) {
        if (c == quote) quote = 0;  // a doubled quote reopens at once: the same state
      } else if (c == '\'' || c == '"' || c == '`') {
        quote = c;
      } else if (c == '[') {
        quote = ']';
      } else if (c == '-' && i + 1 < text.size() && text[i + 1] == '-') {
        quote = '\n';
      } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
        quote = '*';
        ++i;
      } else if (c == ';') {
        char after = i + 1 < text.size() ? text[i + 1] : 0;
        text.push_back(0);  // keeps `after` readable while the statement is NUL-terminated below
        text[i + 1] = 0;
        bool complete = sqlite3_complete(text.c_str() + start) != 0;
        text[i + 1] = after;
        text.pop_back();
        if (!complete) continue;
        status = exec(std::string_view(text).substr(start, i + 1 - start));
        start = i + 1;
      }
    }
    // A '-' or '/' at the very end may start a comment with the next chunk's first byte: scanned again.
    size_t rescan = !text.empty() && !quote && (text.back() == '-' || text.back() == '/') ? 1 : 0;
    text.erase(0, start);
    scanned = text.size() - rescan;
    if (n == 0) {
      if (status.ok() && text.find_first_not_of(" \t\r\n") != std::string::npos) status = exec(text);
      break;
    }
  }
  std::fclose(f);
  return status;
}

Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(m_db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return last_error(fmt::format("prepare `{}`", sql.substr(0, 200)));
  return Statement(stmt, this);
}

Error Database::last_error(std::string_view what) const {
  int code = sqlite3_extended_errcode(m_db);
  return Error(error_kind_for(code),
               fmt::format("{} ({}): {}", what, m_path, sqlite_message(m_db, code, sqlite3_errmsg(m_db))));
}

Statement::~Statement() {
  if (m_stmt) sqlite3_finalize(m_stmt);
}

Statement::Statement(Statement&& other) noexcept
    : m_stmt(std::exchange(other.m_stmt, nullptr)), m_db(std::exchange(other.m_db, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (m_stmt) sqlite3_finalize(m_stmt);
    m_stmt = std::exchange(other.m_stmt, nullptr);
    m_db = std::exchange(other.m_db, nullptr);
  }
  return *this;
}

Status Statement::bind(int index, const Value& value) {
  int rc = SQLITE_OK;
  switch (value.type()) {
    case ValueType::null:
      rc = sqlite3_bind_null(m_stmt, index);
      break;
    case ValueType::integer:
      rc = sqlite3_bind_int64(m_stmt, index, value.as_integer());
      break;
    case ValueType::real:
      rc = sqlite3_bind_double(m_stmt, index, value.as_real());
      break;
    case ValueType::text:
      rc = sqlite3_bind_text64(m_stmt, index, value.as_bytes().data(), value.as_bytes().size(),
                               SQLITE_TRANSIENT, SQLITE_UTF8);
      break;
    case ValueType::blob:
      rc = sqlite3_bind_blob64(m_stmt, index, value.as_bytes().data(), value.as_bytes().size(),
                               SQLITE_TRANSIENT);
      break;
  }
  if (rc != SQLITE_OK) return m_db->last_error(fmt::format("bind parameter {}", index));
  return {};
}

Status Statement::bind_all(std::span<const Value> values) {
  for (size_t i = 0; i < values.size(); ++i) TS_TRY_STATUS(bind(static_cast<int>(i + 1), values[i]));
  return {};
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(m_stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const char* sql = sqlite3_sql(m_stmt);
  return m_db->last_error(fmt::format("run `{}`", std::string_view(sql ? sql : "").substr(0, 200)));
}

Status Statement::reset() {
  sqlite3_reset(m_stmt);
  sqlite3_clear_bindings(m_stmt);
  return {};
}

int Statement::column_count() const {
  return sqlite3_column_count(m_stmt);
}

std::string Statement::column_name(int index) const {
  const char* name = sqlite3_column_name(m_stmt, index);
  return name ? name : "";
}

Value Statement::column(int index) const {
  switch (sqlite3_column_type(m_stmt, index)) {
    case SQLITE_INTEGER:
      return Value::integer(sqlite3_column_int64(m_stmt, index));
    case SQLITE_FLOAT:
      return Value::real(sqlite3_column_double(m_stmt, index));
    case SQLITE_TEXT: {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(m_stmt, index));
      int n = sqlite3_column_bytes(m_stmt, index);
      return Value::text(std::string(p ? p : "", static_cast<size_t>(n)));
    }
    case SQLITE_BLOB: {
      const auto* p = static_cast<const char*>(sqlite3_column_blob(m_stmt, index));
      int n = sqlite3_column_bytes(m_stmt, index);
      return Value::blob(std::string(p ? p : "", static_cast<size_t>(n)));
    }
    default:
      return Value::null();
  }
}

int64_t Statement::column_int64(int index) const {
  return sqlite3_column_int64(m_stmt, index);
}

std::string Statement::column_text(int index) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(m_stmt, index));
  int n = sqlite3_column_bytes(m_stmt, index);
  return std::string(p ? p : "", static_cast<size_t>(n));
}

Result<Transaction> Transaction::begin(Database& db, Kind kind) {
  TS_TRY_STATUS(db.exec(kind == Kind::immediate ? "BEGIN IMMEDIATE" : "BEGIN"));
  return Transaction(&db);
}

Transaction::Transaction(Transaction&& other) noexcept : m_db(std::exchange(other.m_db, nullptr)) {}

Transaction::~Transaction() {
  if (m_db && !sqlite3_get_autocommit(m_db->handle()))
    sqlite3_exec(m_db->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

Status Transaction::commit() {
  Database* db = std::exchange(m_db, nullptr);
  auto st = db->exec("COMMIT");
  if (!st.ok() && !sqlite3_get_autocommit(db->handle()))
    sqlite3_exec(db->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  return st;
}

Status copy_database(const std::string& source_path, Database& destination) {
  Database source = TS_TRY(Database::open(source_path, OpenMode::read_only));
  sqlite3_backup* backup = sqlite3_backup_init(destination.handle(), "main", source.handle(), "main");
  if (!backup) return destination.last_error(fmt::format("copy {} into", source_path));
  int rc;
  int busy_retries = 0;
  do {
    rc = sqlite3_backup_step(backup, -1);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(50);
  } while (rc == SQLITE_OK || ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && ++busy_retries < 200));
  sqlite3_backup_finish(backup);
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
    return Error(ErrorKind::busy,
                 fmt::format("copy {} into {}: the database stayed locked by another process for 10 s; "
                             "close the application or retry",
                             source_path, destination.path()));
  if (rc != SQLITE_DONE) return destination.last_error(fmt::format("copy {} into", source_path));
  return {};
}

Result<int64_t> query_int(Database& db, std::string_view sql) {
  auto stmt = TS_TRY(db.prepare(sql));
  bool row = TS_TRY(stmt.step());
  if (!row) return Error(ErrorKind::internal, fmt::format("query `{}` returned no row", sql));
  return stmt.column_int64(0);
}

}  // namespace turso_sync::db
