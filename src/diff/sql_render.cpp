// SQL rendering of a changeset: exact literals and the diff.sql script.
#include <fmt/format.h>
#include <sqlite3.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "turso_sync/diff.h"
#include "util/large_store.h"
#include "util/text.h"

namespace turso_sync {

namespace {

// Checks REAL literals against SQLite's own text-to-double conversion (the one its parser uses), because
// SQLite 3.40's conversion is not correctly rounded for every shortest decimal
// (e.g. 4.4501477170144023e-308).
class RealChecker {
 public:
  RealChecker() {
    if (sqlite3_open_v2(":memory:", &m_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) == SQLITE_OK)
      sqlite3_prepare_v2(m_db, "SELECT ?1", -1, &m_stmt, nullptr);
  }
  ~RealChecker() {
    sqlite3_finalize(m_stmt);
    sqlite3_close(m_db);
  }
  RealChecker(const RealChecker&) = delete;
  RealChecker& operator=(const RealChecker&) = delete;

  bool reads_back(const std::string& literal, double v) {
    if (!m_stmt) return false;
    // sqlite3_column_double() of a TEXT value converts it with sqlite3AtoF(), the parser's own conversion.
    sqlite3_bind_text(m_stmt, 1, literal.data(), static_cast<int>(literal.size()), SQLITE_STATIC);
    bool ok = sqlite3_step(m_stmt) == SQLITE_ROW &&
              std::bit_cast<uint64_t>(sqlite3_column_double(m_stmt, 0)) == std::bit_cast<uint64_t>(v);
    sqlite3_reset(m_stmt);
    return ok;
  }

 private:
  sqlite3* m_db = nullptr;
  sqlite3_stmt* m_stmt = nullptr;
};

std::string real_literal(double v) {
  if (std::isinf(v)) return v > 0 ? "9e999" : "-9e999";
  if (std::isnan(v)) return "NULL";  // SQLite stores NaN as NULL
  thread_local RealChecker checker;
  std::string s = format_real(v);
  if (checker.reads_back(s, v)) return s;
  for (int digits = 16; digits <= 19; ++digits) {
    std::string p = fmt::format("{:.{}e}", v, digits);
    if (checker.reads_back(p, v)) return p;
  }
  // Exact product M * 2^E: M has at most 53 bits (exact as an integer and as a double), every power of two
  // reads back exactly, and the product of two doubles whose exact product is a double is exact.
  int e = 0;
  double f = std::frexp(v, &e);
  auto m = static_cast<int64_t>(std::ldexp(f, 53));
  e -= 53;
  while (m != 0 && m % 2 == 0) {
    m /= 2;
    ++e;
  }
  return fmt::format("({}*{})", m, format_real(std::ldexp(1.0, e)));
}

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7F;
}

// The readable form of TEXT ('…'||char(N, …)||'…') is one term per run of printable or control characters.
// SQLite refuses an expression deeper than 1000 (SQLITE_MAX_EXPR_DEPTH: a text of 500 short lines) and a
// function call of more than 127 arguments (SQLITE_MAX_FUNCTION_ARG: 128 control characters in a row), so
// TEXT past these bounds is written in hex instead.
constexpr size_t k_max_control_runs = 100;
constexpr size_t k_max_control_run_length = 100;

bool readable_form_fits(const std::string& bytes) {
  size_t runs = 0, run_length = 0;
  for (unsigned char c : bytes) {
    if (!is_control(c)) {
      run_length = 0;
      continue;
    }
    if (run_length++ == 0 && ++runs > k_max_control_runs) return false;
    if (run_length > k_max_control_run_length) return false;
  }
  return true;
}

void append_text_literal(std::string& out, const std::string& bytes) {
  if (bytes.find('\0') != std::string::npos || !is_valid_utf8(bytes) || !readable_form_fits(bytes)) {
    out += "CAST(X'";
    out += to_hex(bytes);
    out += "' AS TEXT)";
    return;
  }
  // Printable runs as quoted literals, control characters as char(N, ...), joined with ||.
  bool first = true;
  size_t i = 0, n = bytes.size();
  if (n == 0) {
    out += "''";
    return;
  }
  while (i < n) {
    if (!first) out += "||";
    first = false;
    auto c = static_cast<unsigned char>(bytes[i]);
    if (is_control(c)) {
      out += "char(";
      bool first_code = true;
      while (i < n && is_control(static_cast<unsigned char>(bytes[i]))) {
        if (!first_code) out += ",";
        first_code = false;
        out += std::to_string(static_cast<unsigned char>(bytes[i]));
        ++i;
      }
      out += ")";
    } else {
      out += "'";
      while (i < n && !is_control(static_cast<unsigned char>(bytes[i]))) {
        if (bytes[i] == '\'') out += "'";
        out += bytes[i];
        ++i;
      }
      out += "'";
    }
  }
}

void append_literal(std::string& out, const Value& v) {
  switch (v.type()) {
    case ValueType::null:
      out += "NULL";
      break;
    case ValueType::integer:
      // -9223372036854775808 would be read as minus a REAL: write it as an integer expression.
      if (v.as_integer() == INT64_MIN)
        out += "(-9223372036854775807-1)";
      else
        out += std::to_string(v.as_integer());
      break;
    case ValueType::real:
      out += real_literal(v.as_real());
      break;
    case ValueType::text:
      append_text_literal(out, v.as_bytes());
      break;
    case ValueType::blob: {
      static constexpr char k_digits[] = "0123456789ABCDEF";
      out += "X'";
      for (unsigned char c : v.as_bytes()) {
        out.push_back(k_digits[c >> 4]);
        out.push_back(k_digits[c & 15]);
      }
      out += "'";
      break;
    }
  }
}

// Ends a statement with ";" on its own line when its last line holds a "--" comment.
void append_statement(std::string& out, const std::string& sql) {
  out += sql;
  size_t last_line = sql.rfind('\n');
  std::string_view tail = std::string_view(sql).substr(last_line == std::string::npos ? 0 : last_line);
  out += tail.find("--") != std::string_view::npos ? "\n;\n" : ";\n";
}

}  // namespace

// A buffer that spills to an anonymous temporary file, so that a table's updates and inserts can be written
// after its deletes without holding them in memory.
class SqlWriter::Spool {
 public:
  Spool() = default;
  ~Spool() {
    if (m_file) std::fclose(m_file);
  }
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  std::string& buffer() { return m_buf; }
  Status maybe_spill() {
    if (m_buf.size() < (4u << 20)) return {};
    if (!m_file) m_file = std::tmpfile();
    if (!m_file || std::fwrite(m_buf.data(), 1, m_buf.size(), m_file) != m_buf.size())
      return Error(ErrorKind::io, fmt::format("write diff: a temporary file: {}", std::strerror(errno)));
    m_buf.clear();
    return {};
  }
  static Error output_failed() {
    return Error(ErrorKind::io, fmt::format("write diff: {}", std::strerror(errno)));
  }
  // Appends everything spooled to `out` and empties the spool.
  Status drain(std::FILE* out) {
    if (m_file) {
      std::rewind(m_file);
      char chunk[1 << 16];
      size_t n;
      while ((n = std::fread(chunk, 1, sizeof chunk, m_file)) > 0)
        if (std::fwrite(chunk, 1, n, out) != n) return output_failed();
      std::fclose(m_file);
      m_file = nullptr;
    }
    if (!m_buf.empty() && std::fwrite(m_buf.data(), 1, m_buf.size(), out) != m_buf.size())
      return output_failed();
    m_buf.clear();
    return {};
  }

 private:
  std::string m_buf;
  std::FILE* m_file = nullptr;
};

std::string sql_literal(const Value& value) {
  std::string out;
  append_literal(out, value);
  return out;
}

// What the rendering of one table needs, captured when the table begins (TableDesc references do not outlive
// the sink call).
struct SqlWriter::TableRender {
  std::string name;                    // quoted
  std::vector<std::string> columns;    // quoted
  std::vector<std::string> key_names;  // quoted key columns (KeyKind::primary_key)
  std::string rowid_expr;
  bool by_rowid = false;
  bool explicit_rowid = false;  // inserts name the rowid (it is the key and no column holds it)
  bool deletes_first = false;   // the table has UNIQUE indexes: order deletes first
};

// One row change, reduced to what its SQL needs: ranges of its batch's flat arrays (no allocation per row).
struct SqlWriter::RowJob {
  RowOp op = RowOp::insert;
  uint32_t key = 0, key_count = 0;  // in RowBatch::values: the key
  uint32_t values = 0;              // in RowBatch::values: update: the changed columns' new values; insert:
                                    // the whole new row
  uint32_t columns = 0, column_count = 0;  // in RowBatch::columns: update: the changed columns
};

struct SqlWriter::RowBatch {
  std::shared_ptr<const TableRender> table;
  std::vector<RowJob> jobs;
  std::vector<Value> values;
  std::vector<int> columns;
  bool end_of_table = false;
};

// Rendering runs on a worker thread fed with batches (so formatting overlaps with the diff engine's reading),
// or inline when there is no second core.
struct SqlWriter::State {
  std::FILE* out = nullptr;
  SqlWriter::Threading threading = SqlWriter::Threading::automatic;
  std::string title;
  std::vector<TriggerDef> triggers;
  std::vector<std::string> warnings;

  // Producer side (the engine's thread).
  std::shared_ptr<const TableRender> table;
  RowBatch batch;

  // Shared.
  std::mutex mutex;
  std::condition_variable work_ready, space_ready;
  std::deque<RowBatch> queue;
  bool closing = false;
  std::atomic<bool> failed{false};
  std::optional<Error> error;  // set by the worker, read after join or under the mutex
  std::thread worker;

  // Worker side.
  Spool deletes, updates, inserts;
  const TableRender* header_written_for = nullptr;
  bool triggers_suspended = false;
};

namespace {

constexpr size_t k_batch_rows = 2048;
constexpr size_t k_max_queued_batches = 8;

// The WHERE condition that selects a row by its key: the rowid, or every key column.
void append_key(std::string& out, bool by_rowid, const std::string& rowid_expr,
                const std::vector<std::string>& key_names, const Value* key) {
  if (by_rowid) {
    out += rowid_expr;
    out += "=";
    append_literal(out, key[0]);
    return;
  }
  for (size_t k = 0; k < key_names.size(); ++k) {
    if (k) out += " AND ";
    out += key_names[k];
    out += "=";
    append_literal(out, key[k]);
  }
}

}  // namespace

SqlWriter::SqlWriter(std::FILE* out, std::string title, Threading threading)
    : m_state(std::make_unique<State>()) {
  m_state->out = out;
  m_state->threading = threading;
  m_state->title = std::move(title);
}

SqlWriter::~SqlWriter() {
  State& st = *m_state;
  if (st.worker.joinable()) {
    // Not finished (the producer failed): drop what is queued, write nothing more.
    {
      std::lock_guard<std::mutex> lock(st.mutex);
      st.failed.store(true);
      st.closing = true;
    }
    st.work_ready.notify_all();
    st.worker.join();
  }
}

Status SqlWriter::schema(const std::vector<SchemaChange>& changes, const std::vector<TriggerDef>& triggers) {
  State& st = *m_state;
  st.triggers = triggers;
  std::string& out = st.deletes.buffer();
  out += "-- " + printable(st.title) + "\n";
  out +=
      "-- Generated by turso-sync. Run on a copy of the base (e.g. sqlite3 base.db < diff.sql); of a page\n"
      "-- replica, make the copy with `WORKING_DB=base.db turso-sync copy` (a byte copy keeps the server's\n"
      "-- lower-case schema names, which SQLite's ALTER TABLE does not find).\n";
  out += "-- Foreign-key actions are off: every table's rows are reproduced exactly, dependents included.\n";
  out += "PRAGMA foreign_keys=OFF;\nBEGIN;\n";
  for (const SchemaChange& c : changes) {
    out += fmt::format("-- {} {} {} ({})\n", to_string(c.op), c.object_type,
                       printable(quote_identifier(c.name)), to_string(c.reason));
    for (const std::string& sql : c.statements) append_statement(out, sql);
  }
  TS_TRY_STATUS(st.deletes.drain(st.out));
  bool background =
      st.threading == SqlWriter::Threading::background ||
      (st.threading == SqlWriter::Threading::automatic && std::thread::hardware_concurrency() >= 2);
  if (background) st.worker = std::thread([this] { work(); });
  return {};
}

Status SqlWriter::table_begin(const TableDesc& t) {
  auto render = std::make_shared<TableRender>();
  render->name = quote_identifier(t.name);
  for (const ColumnDesc& c : t.columns) render->columns.push_back(quote_identifier(c.name));
  for (int k : t.key_columns) render->key_names.push_back(render->columns[k]);
  render->rowid_expr = t.rowid_expr;
  render->by_rowid = t.keyed_by_rowid();
  render->explicit_rowid = t.keyed_by_rowid() && t.rowid_alias < 0;
  render->deletes_first = t.has_unique_index;
  m_state->table = std::move(render);
  m_state->batch = RowBatch{m_state->table, {}, {}, {}, false};
  return {};
}

Status SqlWriter::row(const TableDesc&, const RowChange& c) {
  State& st = *m_state;
  RowBatch& b = st.batch;
  RowJob job;
  job.op = c.op;
  job.key = static_cast<uint32_t>(b.values.size());
  job.key_count = static_cast<uint32_t>(c.key.size());
  b.values.insert(b.values.end(), c.key.begin(), c.key.end());
  job.values = static_cast<uint32_t>(b.values.size());
  job.columns = static_cast<uint32_t>(b.columns.size());
  if (c.op == RowOp::update) {
    job.column_count = static_cast<uint32_t>(c.changed_columns.size());
    b.columns.insert(b.columns.end(), c.changed_columns.begin(), c.changed_columns.end());
    for (int col : c.changed_columns) b.values.push_back(c.new_values[col]);
  } else if (c.op == RowOp::insert) {
    b.values.insert(b.values.end(), c.new_values.begin(), c.new_values.end());
  }
  b.jobs.push_back(job);
  if (st.batch.jobs.size() >= k_batch_rows) return submit(false);
  return {};
}

Status SqlWriter::table_end(const TableDesc&, const TableCounts&) {
  return submit(true);
}

// Hands the current batch to the worker, waiting while it is far behind (bounded memory).
Status SqlWriter::submit(bool end_of_table) {
  State& st = *m_state;
  if (st.failed.load()) {
    std::lock_guard<std::mutex> lock(st.mutex);
    return *st.error;
  }
  st.batch.end_of_table = end_of_table;
  if (!st.worker.joinable()) {
    Status status = render(st.batch);
    st.batch = RowBatch{st.table, {}, {}, {}, false};
    return status;
  }
  {
    std::unique_lock<std::mutex> lock(st.mutex);
    st.space_ready.wait(lock, [&] { return st.queue.size() < k_max_queued_batches || st.failed.load(); });
    st.queue.push_back(std::move(st.batch));
  }
  st.work_ready.notify_one();
  st.batch = RowBatch{st.table, {}, {}, {}, false};
  return {};
}

void SqlWriter::work() {
  State& st = *m_state;
  while (true) {
    RowBatch batch;
    {
      std::unique_lock<std::mutex> lock(st.mutex);
      st.work_ready.wait(lock, [&] { return !st.queue.empty() || st.closing; });
      if (st.queue.empty()) return;
      batch = std::move(st.queue.front());
      st.queue.pop_front();
    }
    st.space_ready.notify_one();
    if (st.failed.load()) continue;
    Status status = render(batch);
    if (!status.ok()) {
      std::lock_guard<std::mutex> lock(st.mutex);
      st.error = status.error();
      st.failed.store(true);
      st.space_ready.notify_all();
    }
  }
}

// A value's literal; a large value goes to the spool in pieces, spilled as it grows (bounded memory): a BLOB
// as hex, a TEXT as a quoted literal with its quotes doubled (as CAST of its hex when it holds a NUL byte or
// is not valid UTF-8, which a literal cannot carry exactly), found by a first read of its bytes.
Status SqlWriter::append_value(Spool& spool, const Value& v) {
  if (!v.is_large()) {
    append_literal(spool.buffer(), v);
    return {};
  }
  bool quoted = false;
  if (v.type() == ValueType::text) {
    TextScan scan = TS_TRY(scan_text(v));
    quoted = scan.valid_utf8 && !scan.has_nul;
  }
  spool.buffer() += quoted ? "'" : v.type() == ValueType::text ? "CAST(X'" : "X'";
  Status spilled;
  bool read = v.for_each_chunk(256 << 10, [&](std::string_view piece) {
    if (!quoted) {
      spool.buffer() += to_hex(piece);
    } else {
      for (char c : piece) {
        spool.buffer() += c;
        if (c == '\'') spool.buffer() += c;
      }
    }
    spilled = spool.maybe_spill();
    return spilled.ok();
  });
  TS_TRY_STATUS(std::move(spilled));
  if (!read) return Error(ErrorKind::io, "write diff: read a large value back from its temporary file");
  spool.buffer() += quoted || v.type() == ValueType::blob ? "'" : "' AS TEXT)";
  return {};
}

// The deletes spool goes straight to the output (nothing of the table precedes it); the others wait in
// temporary files until the table ends.
Status SqlWriter::settle(Spool& spool) {
  if (&spool != &m_state->deletes) return spool.maybe_spill();
  if (spool.buffer().size() < (1u << 20)) return {};
  return spool.drain(m_state->out);
}

Status SqlWriter::render(const RowBatch& batch) {
  State& st = *m_state;
  const TableRender& t = *batch.table;
  // Without UNIQUE indexes the order of a table's row changes does not matter: write them as they come.
  Spool& updates = t.deletes_first ? st.updates : st.deletes;
  Spool& inserts = t.deletes_first ? st.inserts : st.deletes;
  if (!batch.jobs.empty() && !st.triggers_suspended && !st.triggers.empty()) {
    st.triggers_suspended = true;
    std::string& out = st.deletes.buffer();
    out += "-- triggers are suspended while rows are replayed (the rows already hold their effects)\n";
    for (const TriggerDef& tr : st.triggers) out += "DROP TRIGGER " + quote_identifier(tr.name) + ";\n";
  }
  if (!batch.jobs.empty() && st.header_written_for != &t) {
    st.header_written_for = &t;
    st.deletes.buffer() += fmt::format("-- rows of {}\n", printable(t.name));
  }
  for (const RowJob& job : batch.jobs) {
    switch (job.op) {
      case RowOp::remove: {
        std::string& out = st.deletes.buffer();
        out += "DELETE FROM ";
        out += t.name;
        out += " WHERE ";
        append_key(out, t.by_rowid, t.rowid_expr, t.key_names, &batch.values[job.key]);
        out += ";\n";
        TS_TRY_STATUS(settle(st.deletes));
        break;
      }
      case RowOp::update: {
        std::string& out = updates.buffer();
        out += "UPDATE ";
        out += t.name;
        out += " SET ";
        for (uint32_t k = 0; k < job.column_count; ++k) {
          if (k) out += ", ";
          out += t.columns[static_cast<size_t>(batch.columns[job.columns + k])];
          out += "=";
          TS_TRY_STATUS(append_value(updates, batch.values[job.values + k]));
        }
        out += " WHERE ";
        append_key(out, t.by_rowid, t.rowid_expr, t.key_names, &batch.values[job.key]);
        out += ";\n";
        TS_TRY_STATUS(settle(updates));
        break;
      }
      case RowOp::insert: {
        std::string& out = inserts.buffer();
        out += "INSERT INTO ";
        out += t.name;
        out += "(";
        if (t.explicit_rowid) out += t.rowid_expr;
        for (size_t i = 0; i < t.columns.size(); ++i) {
          if (i || t.explicit_rowid) out += ",";
          out += t.columns[i];
        }
        out += ") VALUES(";
        if (t.explicit_rowid) append_literal(out, batch.values[job.key]);
        for (size_t i = 0; i < t.columns.size(); ++i) {
          if (i || t.explicit_rowid) out += ",";
          TS_TRY_STATUS(append_value(inserts, batch.values[job.values + i]));
        }
        out += ");\n";
        TS_TRY_STATUS(settle(inserts));
        break;
      }
    }
  }
  if (batch.end_of_table) {
    // Deletes first, then updates, then inserts: a value freed by a delete can be reused by an update or
    // insert without tripping a UNIQUE constraint.
    TS_TRY_STATUS(st.deletes.drain(st.out));
    TS_TRY_STATUS(st.updates.drain(st.out));
    TS_TRY_STATUS(st.inserts.drain(st.out));
  }
  return {};
}

Status SqlWriter::finish(const std::vector<std::string>& warnings) {
  State& st = *m_state;
  if (st.worker.joinable()) {
    {
      std::lock_guard<std::mutex> lock(st.mutex);
      st.closing = true;
    }
    st.work_ready.notify_all();
    st.worker.join();
  }
  if (st.error) return *st.error;
  std::string& out = st.deletes.buffer();
  if (st.triggers_suspended) {
    out += "-- triggers back in place\n";
    for (const TriggerDef& tr : st.triggers) append_statement(out, tr.sql);
  }
  out += "COMMIT;\n";
  for (const std::string& w : warnings) out += "-- warning: " + printable(w) + "\n";
  TS_TRY_STATUS(st.deletes.drain(st.out));
  if (std::fflush(st.out) != 0) return Error(ErrorKind::io, "write diff: flush failed");
  return {};
}

}  // namespace turso_sync
