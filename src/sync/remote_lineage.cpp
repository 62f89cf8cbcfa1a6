#include "sync/remote_lineage.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include <unistd.h>

#include "db/schema.h"
#include "db/sqlite.h"
#include "sync/remote_identity.h"
#include "sync/replica_fetch.h"
#include "util/sql_expr.h"
#include "util/text.h"

namespace turso_sync {
namespace {

Result<int64_t> schema_cookie(db::Database& db, const std::string& schema) {
  auto stmt = TS_TRY(db.prepare(fmt::format("PRAGMA {}.schema_version", schema)));
  return TS_TRY(stmt.step()) ? stmt.column_int64(0) : 0;
}

// A replica with fewer rows than this tells too little: every row of a small table is often rewritten in
// one go (a status column set on all of them), so "none kept" is taken for another database only above it.
constexpr int64_t kRowsToTell = 10;

Result<int64_t> count_up_to(db::Database& db, const std::string& table, int64_t limit) {
  auto stmt =
      TS_TRY(db.prepare(fmt::format("SELECT count(*) FROM (SELECT 1 FROM main.{} LIMIT {})", table, limit)));
  return TS_TRY(stmt.step()) ? stmt.column_int64(0) : 0;
}

Result<bool> has_row(db::Database& db, const std::string& sql) {
  auto stmt = TS_TRY(db.prepare(sql));
  return TS_TRY(stmt.step());
}

// Whether `table` of the replica (schema main) keeps at least one row unchanged in the new image (schema n):
// the same rowid (or key) and the same values in the columns both tables have. Stops at the first one.
Result<bool> keeps_a_row(db::Database& db, const db::TableInfo& old_table, const db::TableInfo& new_table) {
  auto has_column = [&](const std::string& name) {
    return std::any_of(new_table.columns.begin(), new_table.columns.end(),
                       [&](const db::Column& c) { return same_identifier(c.name, name); });
  };
  std::vector<std::string> match;
  if (!old_table.without_rowid && !old_table.rowid_expr.empty() && !new_table.rowid_expr.empty()) {
    match.push_back(fmt::format("x.{} = o.{}", new_table.rowid_expr, old_table.rowid_expr));
  } else {
    for (int k : old_table.key_columns) {
      const std::string& name = old_table.columns[static_cast<size_t>(k)].name;
      if (!has_column(name)) return false;
      match.push_back(fmt::format("x.{0} = o.{0}", quote_identifier(name)));
    }
    if (match.empty()) return false;
  }
  for (int i : old_table.stored_columns()) {
    const std::string& name = old_table.columns[static_cast<size_t>(i)].name;
    if (has_column(name)) match.push_back(fmt::format("x.{0} IS o.{0}", quote_identifier(name)));
  }
  std::string table = quote_identifier(old_table.name);
  return has_row(db,
                 fmt::format("SELECT 1 FROM main.{0} AS o WHERE EXISTS (SELECT 1 FROM n.{0} AS x WHERE {1}) "
                             "LIMIT 1",
                             table, balanced_sql(match)));
}

Error replaced_error(const Config& c, const std::string& why) {
  return Error(
      ErrorKind::refused,
      fmt::format("{} does not look like the database the replica {} was pulled from: {}. Nothing was "
                  "changed. If the URL points where you want (or every row of the remote was "
                  "rewritten on purpose), {}",
                  c.database_url, c.replica_path, why, init_force_way_on(c)));
}

}  // namespace

Status check_remote_lineage(const Config& c, const std::string& new_replica, bool both_page_images) {
  db::Database db = TS_TRY(db::Database::open(c.replica_path, db::OpenMode::read_only));
  {
    auto attach = TS_TRY(db.prepare("ATTACH DATABASE ? AS n"));
    TS_TRY_STATUS(attach.bind(1, Value::text(new_replica)));
    TS_TRY(attach.step());
  }
  if (both_page_images) {
    int64_t before = TS_TRY(schema_cookie(db, "main")), now = TS_TRY(schema_cookie(db, "n"));
    if (now < before)
      return replaced_error(c, fmt::format("its schema version went back from {} to {}", before, now));
  }
  std::vector<db::SchemaObject> old_objects = TS_TRY(db::read_schema(db));
  auto new_names = TS_TRY(db.prepare("SELECT name FROM n.sqlite_schema WHERE type = 'table'"));
  std::vector<std::string> new_tables;
  while (TS_TRY(new_names.step())) new_tables.push_back(new_names.column_text(0));
  // The new image's tables are described through a connection of its own (read_table_info reads `main`).
  db::Database fresh = TS_TRY(db::Database::open(new_replica, db::OpenMode::read_only));
  int64_t rows = 0;
  for (const db::SchemaObject& o : old_objects) {
    if (o.type != "table" || starts_with_icase(o.sql, "CREATE VIRTUAL")) continue;
    std::string table = quote_identifier(o.name);
    int64_t here = TS_TRY(count_up_to(db, table, kRowsToTell));
    if (here == 0) continue;
    rows += here;
    auto found = std::find_if(new_tables.begin(), new_tables.end(),
                              [&](const std::string& n) { return same_identifier(n, o.name); });
    if (found == new_tables.end()) continue;
    db::TableInfo old_table = TS_TRY(db::read_table_info(db, o.name));
    db::TableInfo new_table = TS_TRY(db::read_table_info(fresh, *found));
    if (TS_TRY(keeps_a_row(db, old_table, new_table))) return {};
  }
  if (rows < kRowsToTell) return {};
  return replaced_error(c, "it holds none of the replica's rows unchanged");
}

Status check_remote_before_push(RemoteClient& remote, const Config& c, const std::optional<SyncState>& state,
                                const ProgressCallback& progress) {
  if (!state) return {};
  std::string image = fmt::format("{}.tmp-{}", c.replica_path, ::getpid());
  auto fetched = fetch_replica(remote, c, state, FetchMode::incremental, image, /*describe=*/false, progress);
  if (!fetched.ok()) return std::move(fetched).error();
  if (fetched->up_to_date) return {};
  Status checked;
  if (!fetched->incremental)
    checked = check_remote_lineage(c, image, state->protocol == "pages" && fetched->protocol == "pages");
  ::unlink(image.c_str());
  return checked;
}

}  // namespace turso_sync
