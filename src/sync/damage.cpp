// Naming a damaged local file. SQLite reports corruption on the connection that read it, which is not always
// the damaged file's own (the diff engine reads the replica ATTACHed to the working copy's connection), so
// the raw message can blame the working copy for a damaged replica; a user who trusts it restores or deletes
// the file that holds their unpushed changes. Each file is checked on its own instead.
#include "sync/damage.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "db/sqlite.h"
#include "turso_sync/sync.h"
#include "util/fs.h"

namespace turso_sync {

std::string damage_of(const std::string& path) {
  if (!file_exists(path)) return "";
  auto db = db::Database::open(path, db::OpenMode::read_only, /*busy_timeout_ms=*/5000);
  if (!db.ok()) return db.error().kind() == ErrorKind::local_db ? db.error().message() : "";
  auto check = db->prepare("PRAGMA quick_check(1)");
  if (!check.ok()) return check.error().kind() == ErrorKind::local_db ? check.error().message() : "";
  auto row = check->step();
  if (!row.ok()) return row.error().kind() == ErrorKind::local_db ? row.error().message() : "";
  if (!*row) return "quick_check returned nothing";
  std::string verdict = check->column_text(0);
  if (verdict == "ok") return "";
  std::replace(verdict.begin(), verdict.end(), '\n', ' ');
  return "quick_check: " + verdict;
}

Result<std::string> move_damaged_aside(const std::string& path) {
  std::string aside = fmt::format("{}.damaged-{}", path, utc_timestamp_for_file());
  for (int i = 2; file_exists(aside); ++i)
    aside = fmt::format("{}.damaged-{}-{}", path, utc_timestamp_for_file(), i);
  // Its journal goes with it: left behind, a hot journal would be rolled back into the new file of that name.
  // The files are renamed, never opened: their content is SQLite's (db/file_reader.h).
  for (const char* suffix : {"-journal", "-wal"})
    if (file_exists(path + suffix))
      TS_TRY_STATUS(durable_rename(path + suffix, aside + suffix, FsyncSource::no));
  ::unlink((path + "-shm").c_str());
  TS_TRY_STATUS(durable_rename(path, aside, FsyncSource::no));
  return aside;
}

Error explain_damaged_files(const Config& config, Error error) {
  if (error.kind() != ErrorKind::local_db) return error;
  std::string replica = damage_of(config.replica_path);
  std::string working = damage_of(config.working_path);
  if (!replica.empty() && working.empty())
    return Error(ErrorKind::local_db,
                 fmt::format("the replica {} is damaged ({}). It is turso-sync's own copy of the remote, not "
                             "your data: the working copy {} is intact and holds your local changes (do not "
                             "delete or restore it). Run `turso-sync init --force`: it downloads the replica "
                             "again and first saves the working copy's changes to {}/discarded-<time>.sql",
                             config.replica_path, replica, config.working_path, config.state_dir));
  if (!working.empty() && replica.empty())
    return Error(
        ErrorKind::local_db,
        fmt::format("the working copy {} is damaged ({}); the replica {} is intact. Restore the "
                    "working copy from a backup, or run `turso-sync init --force` to start again from the "
                    "remote: it keeps the damaged file as {}.damaged-<time> (`sqlite3 <that file> .recover` "
                    "may save some rows)",
                    config.working_path, working, config.replica_path, config.working_path));
  if (!working.empty() && !replica.empty())
    return Error(ErrorKind::local_db,
                 fmt::format("both the replica {} ({}) and the working copy {} ({}) are damaged. Restore the "
                             "working copy from a backup, or move both aside and run `turso-sync init` to "
                             "start again from the remote",
                             config.replica_path, replica, config.working_path, working));
  return error;
}

}  // namespace turso_sync
