// Byte access to database files through SQLite's own file handles, never a descriptor of ours.
//
// POSIX advisory locks belong to the process: closing any descriptor of a database file drops every lock the
// process holds on that file, those of the application's own SQLite connections in the same process included
// (sqlite.org "How To Corrupt An SQLite Database File", §2.2.1). So the library never open()s, reads or
// closes a working copy, a replica or their -wal/-shm/-journal itself: page reads go through the
// `sqlite3_file` of a connection (SQLITE_FCNTL_FILE_POINTER, and SQLITE_FCNTL_JOURNAL_POINTER for the WAL),
// whose descriptor SQLite owns and keeps open while any lock on the file is held. tests/support/open_guard.c
// checks this at run time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "db/sqlite.h"
#include "turso_sync/status.h"
#include "util/fs.h"

struct sqlite3_file;

namespace turso_sync::db {

// One file of a connection: the database file of an attached schema, or its WAL. Valid while the
// connection is open (the WAL: while the connection stays in WAL mode).
class ConnectionFile {
 public:
  // The database file of `schema` ("main", or an attached name) of `db`.
  static Result<ConnectionFile> database(Database& db, const std::string& schema);
  // Its write-ahead log, when the connection has one open (WAL mode, after the connection's first read of
  // that schema); nullopt otherwise (rollback-journal mode: the database file is the whole truth).
  static std::optional<ConnectionFile> wal(Database& db, const std::string& schema);

  // Reads `n` bytes at `offset`; false on an I/O error or when the file ends before.
  bool read(void* buf, size_t n, uint64_t offset) const;
  // The file's size in bytes; nullopt on an I/O error.
  std::optional<uint64_t> size() const;
  // Makes the file's content durable (SQLite's xSync: fsync of SQLite's own descriptor); false on failure.
  bool sync() const;

 private:
  explicit ConnectionFile(sqlite3_file* file) : m_file(file) {}
  sqlite3_file* m_file;
};

// A database file in rollback-journal mode (the replica, a page image) held still for reading its bytes: an
// SQLite read transaction (a SHARED lock, so no writer can change the file) on a read-only connection.
// Makes the database file `path` durable through a read-only SQLite connection's own file handle (a new
// page image of ours, while SQLite connections may have it open).
Status sync_database_file(const std::string& path);

class FileSnapshot {
 public:
  // Fails with ErrorKind::local_db when `path` is not a database or cannot be read.
  static Result<std::unique_ptr<FileSnapshot>> open(const std::string& path);
  ~FileSnapshot();
  FileSnapshot(const FileSnapshot&) = delete;
  FileSnapshot& operator=(const FileSnapshot&) = delete;

  uint64_t size() const { return m_size; }
  // Reads `n` bytes at `offset` (ErrorKind::local_db on failure, naming the file).
  Status read(void* buf, size_t n, uint64_t offset) const;
  using CopyTarget = turso_sync::CopyTarget;
  // Copies bytes [0, size()) into each target at the same offsets (copy_bytes, util/fs.h). No fsync.
  Status copy_to(const std::vector<CopyTarget>& targets, bool start_writeback = false) const;
  Status copy_to(int to, const std::string& to_path) const { return copy_to({CopyTarget{to, to_path}}); }

 private:
  FileSnapshot(Database db, ConnectionFile file, uint64_t size);
  Database m_db;
  ConnectionFile m_file;
  uint64_t m_size;
};

}  // namespace turso_sync::db
