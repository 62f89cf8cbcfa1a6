// The state dir (.turso-sync/ by default; layout in docs/operations.md):
//   state.json   sync metadata, rewritten atomically (no token, ever)
//   lock           flock()ed by every command that writes the replica or the working copy
//   workflow.lock  flock()ed by a running `workflow` for its whole run (one per state dir)
#pragma once

#include <optional>
#include <string>

#include "turso_sync/status.h"

namespace turso_sync {

struct SyncState {
  std::string remote_url;       // as configured (URLs never contain the token; parse_database_url refuses it)
  std::string protocol;         // how the replica was last brought up to date: "sql" or "pages"
  std::string remote_revision;  // opaque revision of the page protocol, when known ("" after an SQL pull)
  std::string pull_path_reason;     // why the last pull took its path ("pages" or "sql")
  std::string replica_fingerprint;  // replica_fingerprint() of the replica at remote_revision
  std::string last_pull_at;         // RFC 3339 UTC
  std::string last_push_at;
  std::string remote_receipt;  // a push receipt the remote holds: its identity (sync/remote_identity.h)
  int64_t replica_tables = 0;
  int64_t replica_rows = 0;
};

// nullopt when the state dir or its state.json does not exist; ErrorKind::local_db when it is unreadable.
Result<std::optional<SyncState>> load_state(const std::string& state_dir);
Status save_state(const std::string& state_dir, const SyncState& state);
// Records a completed pull (or init): remote, protocol, time, replica size; other fields are kept.
Status record_pull(const std::string& state_dir, const std::string& remote_url, const std::string& protocol,
                   int64_t tables, int64_t rows);

// What a pull (or init) that replaced or confirmed the replica records: the path taken and why, and for the
// page path the revision and the fingerprint of the replica file it describes. Written after the replica
// was renamed into place: a crash in between leaves a fingerprint that no longer matches, which only costs a
// re-bootstrap.
struct PullRecord {
  std::string protocol;  // "pages" or "sql"
  std::string reason;
  std::string revision;  // pages only
  std::string fingerprint;
  std::optional<int64_t> tables, rows;  // kept from the previous state when unknown
  std::optional<std::string> receipt;   // the remote's newest push receipt, when read ("" when it has none)
};
Status record_pull(const std::string& state_dir, const std::string& remote_url, const PullRecord& record);

// An exclusive lock on <state_dir>/lock, held until destruction. Fails at once with ErrorKind::busy when
// another turso-sync process holds it (the message names that process's pid).
class StateLock {
 public:
  static Result<StateLock> acquire(const std::string& state_dir);
  // <state_dir>/workflow.lock: one background workflow per state dir, held for its whole run.
  static Result<StateLock> acquire_workflow(const std::string& state_dir);
  // The pid of the workflow holding <state_dir>/workflow.lock, or 0 when none runs.
  static int64_t running_workflow(const std::string& state_dir);
  StateLock(StateLock&& other) noexcept;
  StateLock& operator=(StateLock&&) = delete;
  StateLock(const StateLock&) = delete;
  ~StateLock();

 private:
  explicit StateLock(int fd) : m_fd(fd) {}
  int m_fd = -1;
};

}  // namespace turso_sync
