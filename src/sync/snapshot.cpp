#include "sync/snapshot.h"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "db/schema.h"
#include "db/sqlite.h"
#include "turso_sync/cancel.h"
#include "util/fs.h"
#include "util/text.h"

namespace turso_sync {

namespace {

struct RemoteObject {
  std::string type, name, tbl_name, sql;
};

// The remote's user objects and its user_version, in one request.
Result<std::vector<RemoteObject>> read_remote_schema(RemoteClient& remote, SnapshotStats& stats,
                                                     int64_t* user_version) {
  auto results = TS_TRY(remote.execute(
      std::vector<SqlStatement>{
          {"SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL", {}},
          {"PRAGMA user_version", {}}},
      Retry::safe));
  ++stats.requests;
  if (results.size() != 2) return Error(ErrorKind::protocol, "unexpected answer from the server: schema");
  const auto& result = results[0];
  *user_version = 0;
  if (!results[1].rows.empty() && !results[1].rows[0].empty() &&
      results[1].rows[0][0].type() == ValueType::integer)
    *user_version = results[1].rows[0][0].as_integer();
  std::vector<RemoteObject> out;
  for (const auto& row : result.rows) {
    if (row.size() != 4)
      return Error(ErrorKind::protocol, "unexpected answer from the server: sqlite_schema row");
    auto text = [](const Value& v) { return v.type() == ValueType::text ? v.as_bytes() : std::string(); };
    RemoteObject o{text(row[0]), text(row[1]), text(row[2]), text(row[3])};
    if (db::is_internal_name(o.name) || db::is_internal_name(o.tbl_name)) continue;
    if (o.type == "table" && starts_with_icase(o.sql, "CREATE VIRTUAL TABLE"))
      return Error(ErrorKind::refused, fmt::format("table {}: virtual tables are not supported by turso-sync",
                                                   quote_identifier(o.name)));
    out.push_back(std::move(o));
  }
  return out;
}

// SQLite's default SQLITE_MAX_COLUMN: the most columns a table or a result set may have, here and on the
// server.
constexpr size_t kMaxResultColumns = 2000;

// How one table is read page by page.
struct TablePlan {
  std::string name;
  std::vector<std::string> columns;  // stored columns, in order
  std::vector<int> key_in_row;       // positions of the paging key within the decoded row
  std::string select_prefix;         // "SELECT … FROM t"
  // A row too wide for one result set (SQLite's SQLITE_MAX_COLUMN, 2000, counts the rowid and the tag
  // column too) is read by two statements of one request, each starting with the key: the first half of
  // the columns with the tag column, then the second half. Empty for a table that fits in one.
  std::string first_half_prefix, second_half_prefix;
  size_t first_half_columns = 0;
  std::vector<std::string> key_exprs;
  std::string insert_sql;
  bool rowid_first = false;  // the row starts with the rowid (rowid tables without an INTEGER PRIMARY KEY)
};

std::string encoded_column(const std::string& q) {
  return fmt::format(
      "CASE typeof({0}) WHEN 'text' THEN CAST({0} AS BLOB) WHEN 'real' THEN "
      "CASE WHEN {0} IN (9e999, -9e999) THEN NULL ELSE {0} END ELSE {0} END",
      q);
}

std::string type_tag(const std::string& q) {
  return fmt::format(
      "CASE typeof({0}) WHEN 'text' THEN 't' WHEN 'real' THEN "
      "CASE WHEN {0} = 9e999 THEN 'P' WHEN {0} = -9e999 THEN 'M' ELSE '.' END ELSE '.' END",
      q);
}

Result<TablePlan> plan_table(db::Database& local, const std::string& table,
                             std::vector<std::string>& warnings) {
  db::TableInfo info = TS_TRY(db::read_table_info(local, table));
  TablePlan plan;
  plan.name = table;
  std::vector<std::string> select_list, tags, insert_cols;
  if (!info.without_rowid) {
    if (info.rowid_expr.empty())
      return Error(
          ErrorKind::refused,
          fmt::format(
              "table {}: its columns shadow rowid, _rowid_ and oid and it has no INTEGER PRIMARY KEY, "
              "so its rows cannot be addressed; rename a column",
              quote_identifier(table)));
    if (info.rowid_alias < 0) {
      plan.rowid_first = true;
      select_list.push_back(info.rowid_expr);
      insert_cols.push_back(info.rowid_expr);
      plan.key_in_row.push_back(0);
    }
    plan.key_exprs.push_back(info.rowid_expr);
    if (!info.has_declared_key())
      warnings.push_back(
          fmt::format("table {} has no PRIMARY KEY: rows are matched by rowid", quote_identifier(table)));
  }
  for (int idx : info.stored_columns()) {
    std::string q = quote_identifier(info.columns[idx].name);
    int pos = static_cast<int>(select_list.size());
    select_list.push_back(encoded_column(q));
    tags.push_back(type_tag(q));
    insert_cols.push_back(q);
    plan.columns.push_back(info.columns[idx].name);
    if (!info.without_rowid && idx == info.rowid_alias) plan.key_in_row.push_back(pos);
  }
  if (info.without_rowid) {
    for (int key_col : info.key_columns) {
      std::string q = quote_identifier(info.columns[key_col].name);
      plan.key_exprs.push_back(q);
      auto it = std::find(plan.columns.begin(), plan.columns.end(), info.columns[key_col].name);
      plan.key_in_row.push_back(static_cast<int>(it - plan.columns.begin()));
    }
  }
  if (tags.empty()) tags.push_back("''");
  std::string tag_expr;
  for (size_t i = 0; i < tags.size(); ++i) tag_expr += (i ? " || " : "") + tags[i];
  select_list.push_back(tag_expr);
  std::string list;
  for (size_t i = 0; i < select_list.size(); ++i) list += (i ? ", " : "") + select_list[i];
  plan.select_prefix = fmt::format("SELECT {} FROM {}", list, quote_identifier(table));
  if (select_list.size() > kMaxResultColumns) {
    std::string keys;
    for (size_t i = 0; i < plan.key_exprs.size(); ++i) keys += (i ? ", " : "") + plan.key_exprs[i];
    size_t first = plan.rowid_first ? 1 : 0, stored = plan.columns.size();
    plan.first_half_columns = stored / 2;
    std::string a = keys, b = keys;
    for (size_t i = 0; i < stored; ++i)
      (i < plan.first_half_columns ? a : b) += ", " + select_list[first + i];
    a += ", " + tag_expr;
    plan.first_half_prefix = fmt::format("SELECT {} FROM {}", a, quote_identifier(table));
    plan.second_half_prefix = fmt::format("SELECT {} FROM {}", b, quote_identifier(table));
  }

  std::string cols, params;
  for (size_t i = 0; i < insert_cols.size(); ++i) {
    cols += (i ? ", " : "") + insert_cols[i];
    params += i ? ", ?" : "?";
  }
  plan.insert_sql = fmt::format("INSERT INTO {} ({}) VALUES ({})", quote_identifier(table), cols, params);
  return plan;
}

// Restores the exact values of one encoded row in place (drops the trailing tag column).
Status decode_row(std::vector<Value>& row, const TablePlan& plan) {
  if (row.empty() || row.back().type() != ValueType::text)
    return Error(ErrorKind::protocol,
                 fmt::format("unexpected row shape from table {}", quote_identifier(plan.name)));
  std::string tags = row.back().as_bytes();
  row.pop_back();
  size_t offset = plan.rowid_first ? 1 : 0;
  if (tags.size() != row.size() - offset && !(tags.empty() && row.size() == offset))
    return Error(ErrorKind::protocol,
                 fmt::format("unexpected row shape from table {}", quote_identifier(plan.name)));
  for (size_t i = 0; i < tags.size(); ++i) {
    Value& v = row[offset + i];
    switch (tags[i]) {
      case 't':
        if (v.type() != ValueType::blob)
          return Error(ErrorKind::protocol,
                       fmt::format("unexpected encoding in table {}", quote_identifier(plan.name)));
        v = Value::text(v.as_bytes());
        break;
      case 'P':
        v = Value::real(std::numeric_limits<double>::infinity());
        break;
      case 'M':
        v = Value::real(-std::numeric_limits<double>::infinity());
        break;
      default:
        break;
    }
  }
  return {};
}

// Reads one page of a table too wide for one result set (TablePlan::first_half_prefix): `stmt` with its
// SELECT list replaced by each half's, both in one request, joined on the key that starts both; each row is
// handed to `read` as the one-statement read would give it. The two statements may see different states of
// a remote being written to: a page whose halves do not hold the same keys is read again.
Status read_in_halves(RemoteClient& remote, const TablePlan& plan, const SqlStatement& stmt,
                      const std::function<Status(std::span<const Value>)>& read, size_t* bytes) {
  std::string suffix = stmt.sql.substr(plan.select_prefix.size());
  std::vector<SqlStatement> halves{{plan.first_half_prefix + suffix, stmt.args},
                                   {plan.second_half_prefix + suffix, stmt.args}};
  size_t keys = plan.key_exprs.size();
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto results = TS_TRY(remote.execute(halves, Retry::safe));
    if (results.size() != 2) return Error(ErrorKind::protocol, "unexpected answer from the server: rows");
    const auto& a = results[0].rows;
    const auto& b = results[1].rows;
    bool same = a.size() == b.size();
    for (size_t i = 0; same && i < a.size(); ++i)
      same = a[i].size() == keys + plan.first_half_columns + 1 && b[i].size() >= keys &&
             std::equal(a[i].begin(), a[i].begin() + static_cast<std::ptrdiff_t>(keys), b[i].begin());
    if (!same) continue;
    std::vector<Value> row;
    for (size_t i = 0; i < a.size(); ++i) {
      row.clear();
      if (plan.rowid_first) row.push_back(a[i][0]);
      row.insert(row.end(), a[i].begin() + static_cast<std::ptrdiff_t>(keys), a[i].end() - 1);
      row.insert(row.end(), b[i].begin() + static_cast<std::ptrdiff_t>(keys), b[i].end());
      row.push_back(a[i].back());
      for (const Value& v : row) *bytes += v.payload_size() + 1;
      TS_TRY_STATUS(read(row));
    }
    return {};
  }
  return Error(ErrorKind::server,
               fmt::format("read table {}: its rows kept changing between the two halves of a page",
                           quote_identifier(plan.name)));
}

Status copy_table(RemoteClient& remote, db::Database& local, const TablePlan& plan, size_t page_bytes,
                  SnapshotStats& stats, Progress& progress, const ProgressCallback& on_progress) {
  auto insert = TS_TRY(local.prepare(plan.insert_sql));
  std::vector<Value> last_key;
  size_t limit = 256;
  std::string order;
  for (size_t i = 0; i < plan.key_exprs.size(); ++i) order += (i ? ", " : "") + plan.key_exprs[i];
  progress.phase = "rows";
  progress.table = plan.name;
  for (;;) {
    if (cancel_requested()) return Error(ErrorKind::cancelled, "interrupted");
    SqlStatement stmt;
    stmt.sql = plan.select_prefix;
    if (!last_key.empty()) {
      std::string placeholders;
      for (size_t i = 0; i < last_key.size(); ++i)
        placeholders += (i ? ", " : "") + TS_TRY(exact_placeholder(last_key[i], stmt.args));
      stmt.sql += last_key.size() == 1 ? fmt::format(" WHERE {} > {}", order, placeholders)
                                       : fmt::format(" WHERE ({}) > ({})", order, placeholders);
    }
    stmt.sql += fmt::format(" ORDER BY {} LIMIT {}", order, limit);
    size_t rows = 0, bytes = 0;
    std::vector<Value> row;
    auto read = [&](std::span<const Value> cells) -> Status {
      row.assign(cells.begin(), cells.end());
      TS_TRY_STATUS(decode_row(row, plan));
      TS_TRY_STATUS(insert.bind_all(row));
      auto step = insert.step();
      if (!step.ok())
        return step.error().context(fmt::format("copy a row of table {}", quote_identifier(plan.name)));
      TS_TRY_STATUS(insert.reset());
      last_key.clear();
      for (int k : plan.key_in_row) last_key.push_back(row[static_cast<size_t>(k)]);
      ++rows;
      return {};
    };
    if (plan.first_half_prefix.empty())
      TS_TRY_STATUS(remote.query_rows(stmt, Retry::safe, read, &bytes));
    else
      TS_TRY_STATUS(read_in_halves(remote, plan, stmt, read, &bytes));
    ++stats.requests;
    stats.rows += static_cast<int64_t>(rows);
    stats.bytes_received += bytes;
    progress.rows_done = stats.rows;
    progress.bytes_received = stats.bytes_received;
    if (on_progress) on_progress(progress);
    if (rows < limit) break;
    // Aim the next page at `page_bytes` from the bytes per row seen so far.
    double per_row = static_cast<double>(bytes) / static_cast<double>(std::max<size_t>(rows, 1));
    limit = static_cast<size_t>(
        std::clamp(static_cast<double>(page_bytes) / std::max(per_row, 1.0), 16.0, 20000.0));
  }
  return {};
}

Result<SnapshotStats> download_into(RemoteClient& remote, db::Database& local,
                                    const ProgressCallback& on_progress, size_t page_bytes) {
  SnapshotStats stats;
  Progress progress;
  progress.phase = "schema";
  if (on_progress) on_progress(progress);
  int64_t user_version = 0;
  auto objects = TS_TRY(read_remote_schema(remote, stats, &user_version));

  TS_TRY_STATUS(local.exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN"));
  std::vector<std::string> tables;
  for (const auto& o : objects) {
    if (o.type != "table") continue;
    auto st = local.exec(o.sql);
    if (!st.ok())
      return st.error().context(
          fmt::format("create table {} from the remote's definition", quote_identifier(o.name)));
    tables.push_back(o.name);
  }
  // Row counts, for progress: one request for all tables.
  if (on_progress && !tables.empty()) {
    std::vector<SqlStatement> counts;
    for (const auto& t : tables)
      counts.push_back({fmt::format("SELECT count(*) FROM {}", quote_identifier(t)), {}});
    auto results = TS_TRY(remote.execute(counts, Retry::safe));
    ++stats.requests;
    progress.rows_total = 0;
    for (const auto& r : results)
      if (!r.rows.empty() && r.rows[0][0].type() == ValueType::integer)
        progress.rows_total += r.rows[0][0].as_integer();
  }
  for (const auto& t : tables) {
    TablePlan plan = TS_TRY(plan_table(local, t, stats.warnings));
    TS_TRY_STATUS(copy_table(remote, local, plan, page_bytes, stats, progress, on_progress));
    ++stats.tables;
  }
  // Indexes, then views, then triggers: after the rows (faster, and no trigger fires during the copy).
  progress.phase = "indexes";
  progress.table.clear();
  if (on_progress) on_progress(progress);
  for (const char* type : {"index", "view", "trigger"}) {
    for (const auto& o : objects) {
      if (o.type != type) continue;
      auto st = local.exec(o.sql);
      if (!st.ok()) return st.error().context(fmt::format("create {} {}", type, quote_identifier(o.name)));
      ++stats.other_objects;
    }
  }
  TS_TRY_STATUS(local.exec(fmt::format("PRAGMA user_version = {}", user_version)));
  TS_TRY_STATUS(local.exec("COMMIT"));
  TS_TRY_STATUS(local.exec("PRAGMA journal_mode=DELETE"));
  return stats;
}

}  // namespace

Result<SnapshotStats> download_snapshot(RemoteClient& remote, const std::string& path,
                                        const ProgressCallback& progress, size_t page_bytes) {
  ::unlink(path.c_str());
  auto result = [&]() -> Result<SnapshotStats> {
    TS_TRY_STATUS(create_private_file(path));
    db::Database local = TS_TRY(db::Database::open(path, db::OpenMode::create));
    auto stats = TS_TRY(download_into(remote, local, progress, page_bytes));
    local = db::Database();  // close before fsync
    TS_TRY_STATUS(fsync_path(path));
    return stats;
  }();
  if (!result.ok()) {
    ::unlink(path.c_str());
    ::unlink((path + "-journal").c_str());
  }
  return result;
}

}  // namespace turso_sync
