#include "sync/pending_push.h"

#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>

#include "db/sqlite.h"
#include "sync/discarded.h"
#include "sync/page_pull.h"
#include "sync/push_batch.h"
#include "sync/push_stage.h"
#include "turso_sync/diff.h"
#include "util/fs.h"
#include "util/text.h"

namespace turso_sync {

namespace {

std::string pending_sql_path(const Config& c) {
  return c.state_dir + "/push.pending.sql";
}

}  // namespace

std::string push_marker(const Config& c) {
  return c.state_dir + "/push.pending";
}

Status save_pending_push(const Config& c, const std::string& push_id, const Changeset& sent) {
  TS_TRY_STATUS(write_sql_script(pending_sql_path(c),
                                 "what push " + push_id + " sends (turns the replica into it)",
                                 [&](ChangeSink& sink) { return sent.replay(sink); }));
  return atomic_write_file(push_marker(c), push_id + "\n", 0600);
}

void clear_pending_push(const Config& c) {
  ::unlink(push_marker(c).c_str());
  ::unlink(pending_sql_path(c).c_str());
}

Result<bool> receipt_exists(RemoteClient& remote, const std::string& id) {
  auto r = remote.execute(
      SqlStatement{fmt::format("SELECT count(*) FROM {} WHERE id = ?", kPushReceiptTable), {Value::text(id)}},
      Retry::safe);
  if (!r.ok()) {
    if (r.error().kind() == ErrorKind::sql && r.error().message().find("no such table") != std::string::npos)
      return false;
    return r.error();
  }
  return !r->rows.empty() && r->rows[0][0] != Value::integer(0);
}

std::optional<Changeset> load_pending_push(const Config& c, std::vector<std::string>& notes) {
  if (!file_exists(pending_sql_path(c))) return std::nullopt;
  std::string copy = fmt::format("{}/push.pending.db.tmp-{}", c.state_dir, ::getpid());
  auto rebuild = [&]() -> Result<Changeset> {
    // With SQLite's own schema names: on a byte copy of a page image, an ALTER TABLE of a table whose name
    // has an upper-case letter does nothing (page_pull.h, copy_replica_into).
    ::unlink(copy.c_str());
    TS_TRY_STATUS(create_working_copy_file(c.replica_path, copy));
    {
      db::Database db = TS_TRY(db::Database::open(copy, db::OpenMode::read_write));
      TS_TRY_STATUS(db.exec_file(pending_sql_path(c)));
    }
    ChangesetCollector collector(c.state_dir);
    TS_TRY(diff_databases(c.replica_path, copy, collector, local_diff_options(c)));
    return collector.take();
  };
  auto rebuilt = rebuild();
  ::unlink(copy.c_str());
  if (!rebuilt.ok()) {
    notes.push_back("what the interrupted push sent could not be rebuilt (" + rebuilt.error().message() +
                    "); its rows are merged like a teammate's");
    return std::nullopt;
  }
  return std::move(rebuilt).value();
}

Result<bool> settle_pending_push(const Config& c, RemoteClient& remote, std::optional<Changeset>& pushed,
                                 std::vector<std::string>& notes) {
  if (!file_exists(push_marker(c))) return false;
  std::string id = trim(TS_TRY(read_file(push_marker(c))));
  // Its receipt tells whether it committed; if not, the rows it staged (a staged push) are dropped.
  if (!TS_TRY(settle_staged_push(remote, id))) {
    clear_pending_push(c);
    return false;
  }
  pushed = load_pending_push(c, notes);
  return true;
}

}  // namespace turso_sync
