#include "db/file_reader.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "util/text.h"

namespace turso_sync::db {

Result<ConnectionFile> ConnectionFile::database(Database& db, const std::string& schema) {
  sqlite3_file* file = nullptr;
  int rc = sqlite3_file_control(db.handle(), schema.c_str(), SQLITE_FCNTL_FILE_POINTER, &file);
  if (rc != SQLITE_OK || !file || !file->pMethods)
    return Error(ErrorKind::local_db,
                 fmt::format("read {}: SQLite has no open file for schema {}", db.path(), schema));
  return ConnectionFile(file);
}

std::optional<ConnectionFile> ConnectionFile::wal(Database& db, const std::string& schema) {
  sqlite3_file* file = nullptr;
  // Is the connection in WAL mode? Without a WAL, the journal pointer names the rollback journal, which is
  // not ours to read.
  auto mode = db.prepare(fmt::format("PRAGMA {}.journal_mode", quote_identifier(schema)));
  if (!mode.ok()) return std::nullopt;
  auto row = mode->step();
  if (!row.ok() || !*row || mode->column_text(0) != "wal") return std::nullopt;
  int rc = sqlite3_file_control(db.handle(), schema.c_str(), SQLITE_FCNTL_JOURNAL_POINTER, &file);
  if (rc != SQLITE_OK || !file || !file->pMethods) return std::nullopt;
  return ConnectionFile(file);
}

bool ConnectionFile::read(void* buf, size_t n, uint64_t offset) const {
  // xRead takes an int amount: large reads go in pieces.
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    int amount = static_cast<int>(std::min<size_t>(n, size_t{1} << 30));
    if (m_file->pMethods->xRead(m_file, p, amount, static_cast<sqlite3_int64>(offset)) != SQLITE_OK)
      return false;  // SQLITE_IOERR_SHORT_READ included: the file ended before
    p += amount;
    n -= static_cast<size_t>(amount);
    offset += static_cast<uint64_t>(amount);
  }
  return true;
}

std::optional<uint64_t> ConnectionFile::size() const {
  sqlite3_int64 size = 0;
  if (m_file->pMethods->xFileSize(m_file, &size) != SQLITE_OK || size < 0) return std::nullopt;
  return static_cast<uint64_t>(size);
}

bool ConnectionFile::sync() const {
  return m_file->pMethods->xSync(m_file, SQLITE_SYNC_NORMAL) == SQLITE_OK;
}

Status sync_database_file(const std::string& path) {
  Database db = TS_TRY(Database::open(path, OpenMode::read_only));
  ConnectionFile file = TS_TRY(ConnectionFile::database(db, "main"));
  if (!file.sync()) return Error(ErrorKind::io, fmt::format("fsync {}: SQLite's xSync failed", path));
  return {};
}

FileSnapshot::FileSnapshot(Database db, ConnectionFile file, uint64_t size)
    : m_db(std::move(db)), m_file(file), m_size(size) {}

FileSnapshot::~FileSnapshot() {
  if (m_db.handle()) (void)m_db.exec("ROLLBACK");
}

Result<std::unique_ptr<FileSnapshot>> FileSnapshot::open(const std::string& path) {
  Database db = TS_TRY(Database::open(path, OpenMode::read_only));
  // The read transaction starts with the first read: from then on the file holds still (SHARED lock).
  TS_TRY_STATUS(db.exec("BEGIN"));
  TS_TRY(query_int(db, "SELECT count(*) FROM sqlite_schema"));
  ConnectionFile file = TS_TRY(ConnectionFile::database(db, "main"));
  auto size = file.size();
  if (!size) return Error(ErrorKind::local_db, fmt::format("read {}: its size is unknown", path));
  return std::unique_ptr<FileSnapshot>(new FileSnapshot(std::move(db), file, *size));
}

Status FileSnapshot::read(void* buf, size_t n, uint64_t offset) const {
  if (offset + n > m_size || !m_file.read(buf, n, offset))
    return Error(ErrorKind::local_db,
                 fmt::format("read {}: {} bytes at offset {} could not be read", m_db.path(), n, offset));
  return {};
}

Status FileSnapshot::copy_to(const std::vector<CopyTarget>& targets, bool start_writeback) const {
  return copy_bytes([this](void* buf, size_t n, uint64_t offset) { return read(buf, n, offset); }, m_size,
                    targets, start_writeback);
}

}  // namespace turso_sync::db
