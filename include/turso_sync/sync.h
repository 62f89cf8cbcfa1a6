// The sync operations on one configured database (SPEC §3, §6): a SyncContext bundles the configuration, the
// remote client and the local files. Every operation returns a report or an Error (see status.h); none throws.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "turso_sync/config.h"
#include "turso_sync/remote.h"
#include "turso_sync/status.h"

namespace turso_sync {

// Progress of long operations, for a progress line on a terminal. Called from the calling thread.
struct Progress {
  std::string phase;        // "schema", "rows", "indexes", "working copy"
  std::string table;        // current table, when copying rows
  int64_t rows_done = 0;    // rows copied so far, all tables
  int64_t rows_total = -1;  // -1 when unknown
  uint64_t bytes_received = 0;
};
using ProgressCallback = std::function<void(const Progress&)>;

struct InitOptions {
  // Replace an existing working copy (its content is replaced in place, through SQLite, by the replica's).
  bool force = false;
  ProgressCallback progress;
};

struct InitReport {
  int64_t tables = 0;
  int64_t rows = 0;
  int64_t other_objects = 0;  // indexes, views, triggers
  uint64_t bytes_received = 0;
  int64_t requests = 0;
  std::string protocol;  // "sql"
  std::chrono::milliseconds elapsed{0};
  bool working_copy_replaced = false;  // an existing working copy was overwritten (--force)
  std::vector<std::string> warnings;   // e.g. a table without a primary key
};

struct FileInfo {
  std::string path;
  bool exists = false;
  uint64_t size = 0;      // main file
  uint64_t wal_size = 0;  // -wal file, if any
};

struct StatusReport {
  // Configuration (the token only masked).
  std::string database_url;
  std::string remote_http_url;  // resolved endpoint, empty if the URL is invalid
  std::string token_masked;
  std::map<std::string, std::string> sources;  // variable -> where it came from
  std::vector<std::string> config_files;
  std::vector<std::string> warnings;
  // Files.
  FileInfo replica, working_copy;
  std::string state_dir;
  bool initialized = false;  // replica and working copy both exist
  // From the state dir.
  std::string protocol, last_pull_at, last_push_at, remote_revision;
  // Remote.
  bool remote_checked = false;
  bool remote_reachable = false;
  double round_trip_ms = 0;
  std::string remote_error;
  int remote_exit_code = 0;  // exit code the error maps to, 0 when reachable
};

struct StatusOptions {
  bool check_remote = true;
};

class SyncContext {
 public:
  // Validates nothing remote yet: commands that need the remote fail later with a clear error if it is not
  // configured. `transport` is for tests (fault injection); nullptr = libcurl.
  static Result<std::unique_ptr<SyncContext>> open(Config config, std::unique_ptr<HttpTransport> transport = nullptr);

  const Config& config() const { return m_config; }

  // Downloads the remote into the replica (atomically: temp file, fsync, rename) and creates the working copy
  // from it. ErrorKind::refused when the working copy exists and !options.force (nothing is changed then).
  Result<InitReport> init(const InitOptions& options);

  // Configuration, files, state and (optionally) a round trip to the remote. Errors only for local failures;
  // an unreachable remote is reported inside the StatusReport.
  Result<StatusReport> status(const StatusOptions& options);

  // Opens the working copy for the application (read-write, busy timeout set). The caller owns the handle and
  // closes it with sqlite3_close. ErrorKind::refused when not initialized ("run `turso-sync init`").
  Result<sqlite3*> open_working_copy();

  ~SyncContext();

 private:
  SyncContext(Config config, std::unique_ptr<HttpTransport> transport);
  Result<RemoteClient*> remote();

  Config m_config;
  std::unique_ptr<HttpTransport> m_transport;  // consumed when the client is created
  std::unique_ptr<RemoteClient> m_remote;
};

}  // namespace turso_sync
