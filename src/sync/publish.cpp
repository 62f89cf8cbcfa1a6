#include "sync/publish.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "db/blob.h"
#include "db/schema.h"
#include "db/sqlite.h"
#include "diff/local_objects.h"
#include "diff/sql_text.h"
#include "sync/pending_push.h"
#include "sync/push_batch.h"
#include "turso_sync/cancel.h"
#include "util/crash_point.h"
#include "util/fs.h"
#include "util/large_store.h"
#include "util/text.h"

namespace turso_sync {

namespace {

constexpr const char* kPartsTable = "turso_sync_publish_parts";
// Bound values per INSERT statement (the server's cost per statement grows faster than its size past a few
// thousand), and rows per statement.
constexpr size_t kValuesPerStatement = 3000;
constexpr size_t kRowsPerStatement = 500;

// User objects on the remote: what db::is_internal_name does not leave out.
constexpr const char* kUserObjectFilter =
    "sql IS NOT NULL AND lower(name) NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND lower(name) NOT LIKE "
    "'turso\\_cdc%' ESCAPE '\\' AND lower(name) NOT LIKE 'turso\\_sync\\_%' ESCAPE '\\' AND lower(name) NOT "
    "LIKE 'libsql\\_%' ESCAPE '\\' AND lower(name) NOT LIKE '\\_litestream%' ESCAPE '\\'";

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += separator;
    out += parts[i];
  }
  return out;
}

std::string stage_name(const std::string& id, size_t n) {
  return fmt::format("turso_sync_publish_{}_{}", id, n);
}

std::string marker_path(const Config& c) {
  return c.state_dir + "/init-from.pending";
}

std::string new_publish_id() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  return fmt::format("{:016x}", rng());
}

// What a run left in the state dir: its publish id, FILE and FILE's fingerprint, one per line.
struct Marker {
  std::string id, file, fingerprint;
};

std::optional<Marker> load_marker(const Config& c) {
  auto text = read_file(marker_path(c));
  if (!text.ok()) return std::nullopt;
  std::vector<std::string> lines;
  size_t at = 0;
  for (size_t nl; (nl = text->find('\n', at)) != std::string::npos; at = nl + 1)
    lines.push_back(text->substr(at, nl - at));
  if (lines.size() < 3 || lines[0].empty()) return std::nullopt;
  return Marker{lines[0], lines[1], lines[2]};
}

std::string file_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "-";
  return fmt::format("{}:{}:{}.{:09}", static_cast<uint64_t>(st.st_ino), static_cast<int64_t>(st.st_size),
                     static_cast<int64_t>(st.st_mtim.tv_sec), static_cast<int64_t>(st.st_mtim.tv_nsec));
}

// FILE as this run reads it: its file and WAL (inode, size, modification time) and schema version. A resumed
// run sends the parts the remote lacks only when this is unchanged (the parts are then cut the same way).
Result<std::string> fingerprint(db::Database& db, const std::string& path) {
  int64_t version = TS_TRY(db::query_int(db, "PRAGMA schema_version"));
  return fmt::format("{} {} {}", file_identity(path), file_identity(path + "-wal"), version);
}

// One table of FILE and how its rows are staged.
struct SourceTable {
  std::string name, sql;
  std::string definition;            // the SQL after the table's name: its staging table is created with it
  std::vector<std::string> columns;  // stored columns, in order
  bool rowid_column = false;         // the rowid is staged too (first), under the name rowid_name
  std::string rowid_name;
  std::string select_sql;  // [rowid,] columns[, mask, rowid of large values], in rowid or key order
  // A BLOB or TEXT of k_large_value_bytes or more in these columns (indexes into `columns`; slot j of the
  // mask is large_columns[j]) is selected as NULL and read in place, in chunks (db/blob.h), never whole.
  std::vector<size_t> large_columns;
  int64_t rows = 0;
  size_t stage = 0;  // index of its staging table
  bool staged = false;
};

struct Source {
  std::vector<SourceTable> tables;
  std::vector<db::SchemaObject> others;  // indexes and views, then triggers, in FILE's order
  std::vector<std::pair<std::string, int64_t>> sequences;
  int64_t user_version = 0;
  std::vector<std::string> warnings;
};

// Local objects (diff/local_objects.h: virtual tables, `local_tables`, what depends on them) are never
// published.
Result<Source> read_source(db::Database& db, const std::vector<std::string>& local_tables) {
  Source src;
  std::map<std::string, std::string> local;  // lower-cased name -> why
  for (const LocalObject& o : TS_TRY(diff::find_local_objects(db, "main", local_tables)))
    local[lower_ascii(o.name)] = o.why;
  std::vector<db::SchemaObject> triggers;
  for (db::SchemaObject& o : TS_TRY(db::read_schema(db))) {
    if (auto it = local.find(lower_ascii(o.name)); it != local.end()) {
      if (o.type == "table" || o.type == "trigger")
        src.warnings.push_back(fmt::format("{} {} was not published: it is local ({})", o.type,
                                           quote_identifier(o.name), it->second));
      continue;
    }
    if (o.type == "trigger") {
      triggers.push_back(std::move(o));
      continue;
    }
    if (o.type != "table") {
      src.others.push_back(std::move(o));
      continue;
    }
    db::TableInfo info = TS_TRY(db::read_table_info(db, o.name));
    SourceTable t;
    t.name = o.name;
    t.sql = o.sql;
    t.stage = src.tables.size();
    std::vector<std::string> select;
    size_t name_begin = 0, name_end = 0;
    if (!diff::find_created_name(o.sql, &name_begin, &name_end))
      return Error(ErrorKind::local_db, fmt::format("init --from: cannot read the definition of table {}",
                                                    quote_identifier(o.name)));
    t.definition = o.sql.substr(name_end);
    t.rowid_column = !info.without_rowid && info.rowid_alias < 0 && !info.rowid_expr.empty();
    if (t.rowid_column) {
      t.rowid_name = info.rowid_expr;
      select.push_back(info.rowid_expr);
    }
    if (!info.without_rowid && info.rowid_expr.empty())
      src.warnings.push_back(
          fmt::format("table {}: every rowid alias is shadowed by a column; its rows get new rowids",
                      quote_identifier(o.name)));
    bool in_place = !info.without_rowid && !info.rowid_expr.empty();  // a rowid to read large values by
    std::string mask;
    for (int i : info.stored_columns()) {
      const db::Column& c = info.columns[static_cast<size_t>(i)];
      std::string quoted = quote_identifier(c.name);
      t.columns.push_back(c.name);
      if (in_place && t.large_columns.size() < db::k_max_large_columns &&
          db::may_hold_large_value(
              ColumnDesc{c.name, c.decl_type, c.not_null, c.default_sql, c.pk_position})) {
        mask += (mask.empty() ? "" : " | ") +
                db::large_value_mask_bits(quoted, static_cast<int>(t.large_columns.size()));
        t.large_columns.push_back(t.columns.size() - 1);
        select.push_back(db::large_value_left_out(quoted));
      } else {
        select.push_back(quoted);
      }
    }
    if (!t.large_columns.empty()) {
      select.push_back(mask);
      select.push_back(info.rowid_expr);
    }
    std::vector<std::string> order;
    if (!info.without_rowid && !info.rowid_expr.empty()) {
      order.push_back(info.rowid_expr);
    } else {
      for (int k : info.key_columns)
        order.push_back(quote_identifier(info.columns[static_cast<size_t>(k)].name));
    }
    t.select_sql = fmt::format("SELECT {} FROM {}{}", join(select, ", "), quote_identifier(o.name),
                               order.empty() ? "" : " ORDER BY " + join(order, ", "));
    t.rows = TS_TRY(db::query_int(db, "SELECT count(*) FROM " + quote_identifier(o.name)));
    src.tables.push_back(std::move(t));
  }
  for (auto& t : triggers) src.others.push_back(std::move(t));
  if (TS_TRY(db::query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'")) > 0) {
    auto seq = TS_TRY(db.prepare("SELECT name, seq FROM sqlite_sequence"));
    while (TS_TRY(seq.step()))
      if (!local.count(lower_ascii(seq.column_text(0))))
        src.sequences.emplace_back(seq.column_text(0), seq.column_int64(1));
  }
  src.user_version = TS_TRY(db::query_int(db, "PRAGMA user_version"));
  return src;
}

// The remote's user objects, as "table t", "index i", ... (empty: the remote is empty).
Result<std::vector<std::string>> remote_user_objects(RemoteClient& remote) {
  auto r = TS_TRY(remote.execute(
      SqlStatement{fmt::format("SELECT type, name FROM sqlite_schema WHERE {} ORDER BY rowid LIMIT 21",
                               kUserObjectFilter),
                   {}},
      Retry::safe));
  std::vector<std::string> out;
  for (const auto& row : r.rows)
    out.push_back(fmt::format("{} {}", row.at(0).as_bytes(), quote_identifier(row.at(1).as_bytes())));
  return out;
}

Error not_empty(const RemoteClient& remote, const std::vector<std::string>& objects) {
  std::vector<std::string> shown(objects.begin(), objects.begin() + std::min<size_t>(objects.size(), 20));
  return Error(
      ErrorKind::refused,
      fmt::format("init --from: the remote at {} is not empty: it holds {}{}; nothing was changed. "
                  "Publish into an empty database, or run `turso-sync init` to sync with what it holds",
                  remote.endpoint().base_url, join(shown, ", "), objects.size() > 20 ? ", ..." : ""));
}

// The parts of publish `id` already on the remote.
Result<std::set<int64_t>> parts_on_remote(RemoteClient& remote, const std::string& id) {
  std::set<int64_t> out;
  auto r = remote.execute(
      SqlStatement{fmt::format("SELECT part FROM {} WHERE id = ?", kPartsTable), {Value::text(id)}},
      Retry::safe);
  if (!r.ok()) {
    if (r.error().kind() == ErrorKind::sql && r.error().message().find("no such table") != std::string::npos)
      return out;
    return std::move(r).error();
  }
  for (const auto& row : r->rows) out.insert(row.at(0).as_integer());
  return out;
}

// Drops what an abandoned run of publish `id` left on the remote (best effort).
void drop_staging(RemoteClient& remote, const std::string& id) {
  auto r = remote.execute(
      SqlStatement{"SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE ? ESCAPE '\\'",
                   {Value::text("turso\\_sync\\_publish\\_" + id + "\\_%")}},
      Retry::safe);
  std::vector<SqlStatement> drops;
  if (r.ok())
    for (const auto& row : r->rows)
      drops.push_back({"DROP TABLE IF EXISTS " + quote_identifier(row.at(0).as_bytes()), {}});
  drops.push_back({fmt::format("DELETE FROM {} WHERE id = ?", kPartsTable), {Value::text(id)}});
  for (const auto& d : drops) (void)remote.execute(d, Retry::safe);
}

// Steps of one transaction: BEGIN IMMEDIATE, each step on the previous one's success, COMMIT, ROLLBACK when
// COMMIT did not run.
class Transaction {
 public:
  Transaction() { add("BEGIN IMMEDIATE", {}); }
  size_t add(std::string sql, std::vector<Value> args) {
    std::optional<BatchCondition> cond;
    if (!m_steps.empty()) cond = BatchCondition::ok(static_cast<int>(m_steps.size() - 1));
    m_steps.push_back({{std::move(sql), std::move(args)}, std::move(cond)});
    return m_steps.size() - 1;
  }
  std::vector<BatchStep>& finish() {
    m_commit = add("COMMIT", {});
    m_steps.push_back(
        {{"ROLLBACK", {}},
         BatchCondition{BatchCondition::Kind::not_, 0, {BatchCondition::ok(static_cast<int>(m_commit))}}});
    return m_steps;
  }
  size_t commit_step() const { return m_commit; }

 private:
  std::vector<BatchStep> m_steps;
  size_t m_commit = 0;
};

// The first failing step of an answer, or nullopt when the transaction committed.
struct Failure {
  size_t step;
  std::string message;
};
std::optional<Failure> failure_of(const std::vector<BatchStepOutcome>& outcome, size_t commit_step) {
  if (commit_step < outcome.size() && outcome[commit_step].result) return std::nullopt;
  for (size_t i = 0; i < outcome.size(); ++i)
    if (outcome[i].error) return Failure{i, *outcome[i].error};
  return Failure{outcome.size(), "the remote neither committed nor reported an error"};
}

bool unknown_outcome(ErrorKind k) {
  return k == ErrorKind::unreachable || k == ErrorKind::timeout || k == ErrorKind::server ||
         k == ErrorKind::protocol;
}

// Uploads the rows of FILE, part by part.
class Uploader {
 public:
  // Large values are kept in temporary files in `spill_dir` ("" = $TMPDIR) while their part is sent.
  Uploader(RemoteClient& remote, const std::string& id, std::set<int64_t> done, size_t part_bytes,
           const ProgressCallback& progress, int64_t rows_total, std::string spill_dir)
      : m_remote(remote),
        m_id(id),
        m_done(std::move(done)),
        m_part_bytes(part_bytes),
        m_progress(progress),
        m_spill_dir(std::move(spill_dir)) {
    m_report.phase = "upload";
    m_report.rows_total = rows_total;
  }

  Status table(db::Database& db, SourceTable& t) {
    size_t width = t.columns.size() + (t.rowid_column ? 1 : 0);
    m_rows_per_statement = std::max<size_t>(1, std::min(kRowsPerStatement, kValuesPerStatement / width));
    m_table = &t;
    auto rows = TS_TRY(db.prepare(t.select_sql));
    int64_t row_number = 0;
    std::vector<std::string> placeholders;
    int64_t large = 0;  // the row's mask of large values
    size_t first_column = t.rowid_column ? 1 : 0;
    while (TS_TRY(rows.step())) {
      ++row_number;
      placeholders.clear();
      if (!t.large_columns.empty()) large = rows.column_int64(static_cast<int>(width));
      for (size_t i = 0; i < width; ++i) {
        Value v = rows.column(static_cast<int>(i));
        for (size_t j = 0; large && j < t.large_columns.size(); ++j) {
          if (t.large_columns[j] + first_column != i) continue;
          if (auto type = db::left_out_type(large, static_cast<int>(j), v.is_null()))
            v = TS_TRY(read_large(db, rows, width + 1, t.columns[t.large_columns[j]], *type));
        }
        if (v.type() == ValueType::text && !TS_TRY(is_valid_utf8_text(v))) {
          std::string column = t.rowid_column && i == 0 ? "rowid" : t.columns[i - (t.rowid_column ? 1 : 0)];
          return Error(
              ErrorKind::usage,
              fmt::format("init --from: table {}, row {} (in rowid or key order): column {} holds TEXT "
                          "that is not valid UTF-8, which the remote cannot store exactly; fix it "
                          "(e.g. store it as a BLOB) and run again",
                          quote_identifier(t.name), row_number, quote_identifier(column)));
        }
        m_bytes += v.payload_size() * 4 / 3 + 40;
        // REALs travel as exact expressions (neither JSON floats nor decimal literals are read exactly by
        // the server), the rest as bound values.
        placeholders.push_back(TS_TRY(exact_placeholder(v, m_values)));
      }
      m_tuples += (m_tuples.empty() ? "(" : ",(") + join(placeholders, ",") + ")";
      if (++m_rows % m_rows_per_statement == 0) end_statement();
      if (m_bytes >= m_part_bytes) TS_TRY_STATUS(flush());
    }
    TS_TRY_STATUS(flush());
    return {};
  }

  // The large value of `column` in the current row (its rowid at `rowid_index`), of type `type`, copied into
  // the part's store.
  Result<Value> read_large(db::Database& db, db::Statement& rows, size_t rowid_index,
                           const std::string& column, ValueType type) {
    if (!m_store) m_store = TS_TRY(LargeStore::create(m_spill_dir, "large values"));
    db::BlobPlace place{"main", m_table->name, column, rows.column_int64(static_cast<int>(rowid_index))};
    return db::read_large(db, place, type, m_store);
  }

  // Waits for the last part in flight: every part sent has then landed.
  Status finish() { return wait_in_flight(); }

  int64_t parts() const { return m_part; }
  int64_t parts_sent() const { return m_sent; }

 private:
  void end_statement() {
    if (m_tuples.empty()) return;
    std::vector<std::string> columns;
    if (m_table->rowid_column) columns.push_back(m_table->rowid_name);
    for (const std::string& c : m_table->columns) columns.push_back(quote_identifier(c));
    std::string sql =
        fmt::format("INSERT INTO {} ({}) VALUES {}", quote_identifier(stage_name(m_id, m_table->stage)),
                    join(columns, ", "), m_tuples);
    m_statements.push_back({std::move(sql), std::move(m_values)});
    m_values.clear();
    m_tuples.clear();
  }

  Status flush() {
    end_statement();
    if (m_statements.empty()) return {};
    SourceTable& t = *m_table;
    int64_t part = m_part++;
    int64_t rows = m_rows;
    std::vector<SqlStatement> statements = std::move(m_statements);
    m_statements.clear();
    m_store
        .reset();  // the next part's large values go to a store of its own (this one is read as it is sent)
    m_rows = 0;
    m_bytes = 0;
    t.staged = true;
    if (!m_done.count(part)) {
      // Pipelined: this part goes out on a thread of its own while the rows of the next one are read, so that
      // the client's work and the server's overlap; one part at most is in flight.
      TS_TRY_STATUS(wait_in_flight());
      const SourceTable* table = &t;
      m_in_flight = std::async(std::launch::async,
                               [this, table, part, statements = std::move(statements)]() mutable -> Status {
                                 TS_TRY_STATUS(send(*table, part, std::move(statements)));
                                 crash_point("publish.part-sent");
                                 return {};
                               });
      ++m_sent;
    }
    m_report.table = t.name;
    m_report.rows_done += rows;
    if (m_progress) m_progress(m_report);
    return {};
  }

  Status wait_in_flight() {
    if (!m_in_flight.valid()) return {};
    return m_in_flight.get();
  }

  Status send(const SourceTable& t, int64_t part, std::vector<SqlStatement> statements) {
    Transaction tx;
    tx.add(fmt::format("CREATE TABLE IF NOT EXISTS {} (id TEXT NOT NULL, part INTEGER NOT NULL, "
                       "PRIMARY KEY (id, part))",
                       kPartsTable),
           {});
    size_t receipt = tx.add(fmt::format("INSERT INTO {} (id, part) VALUES (?, ?)", kPartsTable),
                            {Value::text(m_id), Value::integer(part)});
    // The staging table has the table's own definition: the apply renames it into place, so that every row
    // is written once on the server (a copy would write it twice and leave the staging pages free).
    tx.add(fmt::format("CREATE TABLE IF NOT EXISTS {}{}", quote_identifier(stage_name(m_id, t.stage)),
                       t.definition),
           {});
    for (SqlStatement& s : statements) tx.add(std::move(s.sql), std::move(s.args));
    std::vector<BatchStep>& steps = tx.finish();
    for (int attempt = 1;; ++attempt) {
      if (cancel_requested()) return Error(ErrorKind::cancelled, "init --from interrupted");
      auto sent = m_remote.batch(steps, Retry::unsafe);
      if (!sent.ok()) {
        if (!unknown_outcome(sent.error().kind()) || attempt >= 3)
          return sent.error().context(
              fmt::format("init --from: upload of table {}", quote_identifier(t.name)));
        auto there = parts_on_remote(m_remote, m_id);  // the answer was lost: did the part land?
        if (there.ok() && there->count(part)) return {};
        continue;
      }
      auto failed = failure_of(*sent, tx.commit_step());
      if (!failed) return {};
      if (failed->step == receipt && failed->message.find("UNIQUE") != std::string::npos)
        return {};                             // sent before: its receipt is there
      if (failed->step == 0 && attempt < 8) {  // another transaction is open on the remote
        std::this_thread::sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 5)));
        continue;
      }
      return Error(ErrorKind::sql, fmt::format("init --from: the remote rejected rows of table {}: {}",
                                               quote_identifier(t.name), failed->message));
    }
  }

  RemoteClient& m_remote;
  const std::string& m_id;
  std::set<int64_t> m_done;
  size_t m_part_bytes;
  const ProgressCallback& m_progress;
  Progress m_report;
  SourceTable* m_table = nullptr;
  size_t m_rows_per_statement = 1;
  std::vector<Value> m_values;  // bound values of the current statement
  std::string m_spill_dir;
  std::shared_ptr<LargeStore> m_store;  // the current part's large values, made at the first one
  std::string m_tuples;                 // its VALUES tuples
  std::vector<SqlStatement> m_statements;
  size_t m_bytes = 0;
  int64_t m_rows = 0;  // rows in the current part
  int64_t m_part = 0;
  int64_t m_sent = 0;
  std::future<Status> m_in_flight;  // the part being sent (its thread is joined by the destructor)
};

// The one transaction that makes the published database appear.
Status apply(RemoteClient& remote, const std::string& id, const Source& src, int64_t parts) {
  Transaction tx;
  size_t empty_guard =
      tx.add(fmt::format(
                 "SELECT json(CASE WHEN EXISTS (SELECT 1 FROM sqlite_schema WHERE {}) THEN 'x' ELSE '1' END)",
                 kUserObjectFilter),
             {});
  if (parts > 0)
    tx.add(
        fmt::format("SELECT json(CASE WHEN (SELECT count(*) FROM {} WHERE id = ?) = ? THEN '1' ELSE 'x' END)",
                    kPartsTable),
        {Value::text(id), Value::integer(parts)});
  tx.add(fmt::format("CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, pushed_at TEXT NOT NULL)",
                     kPushReceiptTable),
         {});
  tx.add(fmt::format("INSERT INTO {} (id, pushed_at) VALUES (?, ?)", kPushReceiptTable),
         {Value::text(id), Value::text(utc_timestamp())});
  for (const SourceTable& t : src.tables) {
    if (t.staged)
      tx.add(fmt::format("ALTER TABLE {} RENAME TO {}", quote_identifier(stage_name(id, t.stage)),
                         quote_identifier(t.name)),
             {});
    else
      tx.add(t.sql, {});
  }
  for (const db::SchemaObject& o : src.others) tx.add(o.sql, {});
  for (const auto& [name, seq] : src.sequences) {
    tx.add("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", {Value::integer(seq), Value::text(name)});
    tx.add(
        "INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence "
        "WHERE name = ?)",
        {Value::text(name), Value::integer(seq), Value::text(name)});
  }
  if (src.user_version != 0) tx.add(fmt::format("PRAGMA user_version = {}", src.user_version), {});
  if (parts > 0) tx.add(fmt::format("DELETE FROM {} WHERE id = ?", kPartsTable), {Value::text(id)});
  std::vector<BatchStep>& steps = tx.finish();
  for (int attempt = 1;; ++attempt) {
    if (cancel_requested()) return Error(ErrorKind::cancelled, "init --from interrupted");
    auto sent = remote.batch(steps, Retry::unsafe);
    if (!sent.ok()) {
      if (!unknown_outcome(sent.error().kind())) return sent.error().context("init --from");
      // The answer was lost: the receipt tells whether the transaction committed.
      auto landed = receipt_exists(remote, id);
      if (landed.ok() && *landed) return {};
      if (attempt >= 3) return sent.error().context("init --from (not applied; run it again to resume)");
      continue;
    }
    auto failed = failure_of(*sent, tx.commit_step());
    if (!failed) return {};
    if (failed->step == 0 && attempt < 8) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 5)));
      continue;
    }
    if (failed->step == empty_guard) {
      auto objects = remote_user_objects(remote);
      drop_staging(remote, id);
      return not_empty(remote,
                       objects.ok() ? *objects : std::vector<std::string>{"objects created meanwhile"});
    }
    const std::string what =
        failed->step < steps.size() ? steps[failed->step].stmt.sql.substr(0, 120) : std::string("the batch");
    return Error(
        ErrorKind::sql,
        fmt::format("init --from: the remote rejected `{}`: {}; nothing was applied (the staged rows "
                    "stay for a resumed run)",
                    what, failed->message));
  }
}

}  // namespace

Result<PublishReport> publish_database(RemoteClient& remote, const Config& config, const std::string& from,
                                       const ProgressCallback& progress) {
  PublishReport report;
  if (!file_exists(from)) return Error(ErrorKind::usage, fmt::format("init --from: {} does not exist", from));
  db::Database db = TS_TRY(db::Database::open(from, db::OpenMode::read_only));
  // One read transaction: the rows, schema and counters of one moment of FILE.
  auto txn = TS_TRY(db::Transaction::begin(db));
  Source src = TS_TRY(read_source(db, config.local_tables));
  std::string print = TS_TRY(fingerprint(db, from));
  std::string file = std::filesystem::absolute(from).lexically_normal().string();

  std::optional<Marker> marker = load_marker(config);
  bool resuming = marker && marker->file == file && marker->fingerprint == print;
  if (resuming && TS_TRY(receipt_exists(remote, marker->id))) {
    report.already_published = true;  // the apply committed before a crash: init takes it from here
  } else {
    std::vector<std::string> objects = TS_TRY(remote_user_objects(remote));
    if (!objects.empty()) return not_empty(remote, objects);
    if (marker && !resuming) drop_staging(remote, marker->id);
    std::string id = resuming ? marker->id : new_publish_id();
    std::set<int64_t> done;
    if (resuming) done = TS_TRY(parts_on_remote(remote, id));
    TS_TRY_STATUS(make_dirs(config.state_dir));
    TS_TRY_STATUS(atomic_write_file(marker_path(config), fmt::format("{}\n{}\n{}\n", id, file, print), 0600));
    int64_t rows_total = 0;
    for (const SourceTable& t : src.tables) rows_total += t.rows;
    Uploader up(remote, id, std::move(done), static_cast<size_t>(config.push_part_bytes), progress,
                rows_total, config.state_dir);
    for (SourceTable& t : src.tables) TS_TRY_STATUS(up.table(db, t));
    TS_TRY_STATUS(up.finish());
    report.parts = up.parts();
    report.parts_sent = up.parts_sent();
    crash_point("publish.staged");
    if (progress) {
      Progress p;
      p.phase = "apply";
      p.rows_done = p.rows_total = rows_total;
      progress(p);
    }
    TS_TRY_STATUS(apply(remote, id, src, report.parts));
    crash_point("publish.applied");
  }
  for (const SourceTable& t : src.tables) report.rows += t.rows;
  report.tables = static_cast<int64_t>(src.tables.size());
  report.other_objects = static_cast<int64_t>(src.others.size());
  report.warnings = std::move(src.warnings);
  return report;
}

void forget_publish(const Config& config) {
  ::unlink(marker_path(config).c_str());
}

}  // namespace turso_sync
