#include "sync/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <simdjson.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <utility>

#include "util/fs.h"
#include "util/json_writer.h"

namespace turso_sync {

Result<std::optional<SyncState>> load_state(const std::string& state_dir) {
  std::string path = state_dir + "/state.json";
  if (!file_exists(path)) return std::optional<SyncState>();
  std::string text = TS_TRY(read_file(path));
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text).get(root) != simdjson::SUCCESS || !root.is_object())
    return Error(
        ErrorKind::local_db,
        fmt::format("{} is damaged (not valid JSON). It records which remote the replica was pulled "
                    "from and at which revision; nothing was changed. Run `turso-sync init --force`: "
                    "it downloads the replica again and first saves the working copy's local changes "
                    "to {}/discarded-<time>.sql",
                    path, state_dir));
  SyncState s;
  auto str = [&](const char* key) -> std::string {
    std::string_view v;
    return root[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
  };
  auto num = [&](const char* key) -> int64_t {
    int64_t v = 0;
    return root[key].get(v) == simdjson::SUCCESS ? v : 0;
  };
  s.remote_url = str("remote_url");
  s.protocol = str("protocol");
  s.remote_revision = str("remote_revision");
  s.pull_path_reason = str("pull_path_reason");
  s.replica_fingerprint = str("replica_fingerprint");
  s.last_pull_at = str("last_pull_at");
  s.last_push_at = str("last_push_at");
  s.remote_receipt = str("remote_receipt");
  s.replica_tables = num("replica_tables");
  s.replica_rows = num("replica_rows");
  return std::optional<SyncState>(std::move(s));
}

Status save_state(const std::string& state_dir, const SyncState& s) {
  TS_TRY_STATUS(make_dirs(state_dir));
  JsonWriter w;
  w.begin_object()
      .key("version")
      .integer(1)
      .key("remote_url")
      .string(s.remote_url)
      .key("protocol")
      .string(s.protocol)
      .key("remote_revision")
      .string(s.remote_revision)
      .key("pull_path_reason")
      .string(s.pull_path_reason)
      .key("replica_fingerprint")
      .string(s.replica_fingerprint)
      .key("last_pull_at")
      .string(s.last_pull_at)
      .key("last_push_at")
      .string(s.last_push_at)
      .key("remote_receipt")
      .string(s.remote_receipt)
      .key("replica_tables")
      .integer(s.replica_tables)
      .key("replica_rows")
      .integer(s.replica_rows)
      .end_object();
  return atomic_write_file(state_dir + "/state.json", w.str() + "\n", 0600);
}

Status record_pull(const std::string& state_dir, const std::string& remote_url, const std::string& protocol,
                   int64_t tables, int64_t rows) {
  SyncState state;
  if (auto old = load_state(state_dir); old.ok() && old->has_value()) state = **old;
  state.remote_url = remote_url;
  state.protocol = protocol;
  state.last_pull_at = utc_timestamp();
  state.replica_tables = tables;
  state.replica_rows = rows;
  state.remote_revision.clear();
  state.replica_fingerprint.clear();
  state.pull_path_reason.clear();
  return save_state(state_dir, state);
}

Status record_pull(const std::string& state_dir, const std::string& remote_url, const PullRecord& record) {
  SyncState state;
  if (auto old = load_state(state_dir); old.ok() && old->has_value()) state = **old;
  state.remote_url = remote_url;
  state.protocol = record.protocol;
  state.pull_path_reason = record.reason;
  state.remote_revision = record.revision;
  state.replica_fingerprint = record.fingerprint;
  state.last_pull_at = utc_timestamp();
  if (record.tables) state.replica_tables = *record.tables;
  if (record.rows) state.replica_rows = *record.rows;
  if (record.receipt) state.remote_receipt = *record.receipt;
  return save_state(state_dir, state);
}

namespace {

// flock()s <state_dir>/<name> without waiting and writes our pid into it; `busy` builds the error from the
// holder's pid (" (pid N)" or "").
Result<int> lock_file(const std::string& state_dir, const std::string& name,
                      const std::function<Error(const std::string&)>& busy) {
  TS_TRY_STATUS(make_dirs(state_dir));
  std::string path = state_dir + "/" + name;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error(ErrorKind::io, fmt::format("open {}: {}", path, std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    return busy(n > 0 ? fmt::format(" (pid {})", std::string(buf, static_cast<size_t>(n))) : "");
  }
  std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) == 0) {
    ssize_t ignored = ::pwrite(fd, pid.data(), pid.size(), 0);
    (void)ignored;
  }
  return fd;
}

}  // namespace

Result<StateLock> StateLock::acquire(const std::string& state_dir) {
  int fd = TS_TRY(lock_file(state_dir, "lock", [&](const std::string& holder) {
    return Error(ErrorKind::busy, fmt::format("another turso-sync is working on {}{}; wait for it to finish "
                                              "(a background `turso-sync workflow` holds this lock while it "
                                              "syncs)",
                                              state_dir, holder));
  }));
  return StateLock(fd);
}

Result<StateLock> StateLock::acquire_workflow(const std::string& state_dir) {
  int fd = TS_TRY(lock_file(state_dir, "workflow.lock", [&](const std::string& holder) {
    return Error(ErrorKind::busy,
                 fmt::format("a turso-sync workflow is already running for {}{}", state_dir, holder));
  }));
  return StateLock(fd);
}

int64_t StateLock::running_workflow(const std::string& state_dir) {
  std::string path = state_dir + "/workflow.lock";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  int64_t pid = 0;
  // A shared lock is refused while the workflow holds its exclusive one; when granted, it is released at
  // once.
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    char buf[32] = {0};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    pid = n > 0 ? std::strtoll(buf, nullptr, 10) : -1;
  }
  ::close(fd);
  return pid;
}

StateLock::StateLock(StateLock&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}

StateLock::~StateLock() {
  if (m_fd >= 0) ::close(m_fd);  // closing releases the flock
}

}  // namespace turso_sync
