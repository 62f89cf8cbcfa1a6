#include "sync/push_stage.h"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "sync/pending_push.h"
#include "sync/push_conflicts.h"
#include "sync/push_stage_sql.h"
#include "turso_sync/cancel.h"
#include "util/crash_point.h"
#include "util/fs.h"
#include "util/text.h"

namespace turso_sync {

using namespace stage;

namespace {

constexpr size_t kMaxParamsPerInsert = 999;  // SQLite's historical SQLITE_MAX_VARIABLE_NUMBER
constexpr size_t kMaxRowsPerInsert = 500;
constexpr size_t kExplained = 50;  // conflicts explained by reading the remote row

char op_code(RowOp op) {
  return op == RowOp::insert ? 'i' : op == RowOp::update ? 'u' : 'd';
}

std::optional<size_t> find_table(const Changeset& cs, const std::string& name) {
  for (size_t i = 0; i < cs.tables.size(); ++i)
    if (lower_ascii(cs.tables[i].table.name) == lower_ascii(name)) return i;
  return std::nullopt;
}

// The columns of `t` that belong to a foreign key the working copy declares on it: an update stages their
// new values even when unchanged, for the parent guards of composite keys.
std::vector<bool> foreign_key_columns(const TableDesc& t, const std::vector<ForeignReference>& references) {
  std::vector<bool> out(t.columns.size(), false);
  for (const ForeignReference& r : references) {
    if (lower_ascii(r.child) != lower_ascii(t.name)) continue;
    if (auto cols = t.column_indexes(r.columns))
      for (size_t c : *cols) out[c] = true;
  }
  return out;
}

// A value in a staged row: NULL as a literal, anything else as exact_placeholder carries it.
Result<std::string> staged_value(const Value& v, std::vector<Value>& args) {
  if (v.is_null()) return std::string("NULL");
  return exact_placeholder(v, args);
}

// One staged row: per staging table of the layout, its tuple and the tuple's arguments.
struct StagedTuples {
  std::vector<std::string> tuples;
  std::vector<std::vector<Value>> args;
};

// "(seq, op, mask, k…, values…)" for the first staging table, "(seq, values…)" for each continuation: the
// value slots n… then b… of `row`, spread as the layout says.
Result<StagedTuples> staged_row(const TableDesc& t, const StageLayout& layout, const RowChange& row,
                                size_t seq, const std::vector<bool>& fk, bool force) {
  StagedTuples out;
  out.tuples.assign(layout.tables(), std::to_string(seq));
  out.args.assign(layout.tables(), {});
  std::string mask(t.columns.size(), row.op == RowOp::remove ? '1' : '0');
  for (int c : row.changed_columns) mask[static_cast<size_t>(c)] = '1';
  out.tuples[0] += fmt::format(", '{}', '{}'", op_code(row.op), mask);
  for (const Value& k : row.key) out.tuples[0] += ", " + TS_TRY(staged_value(k, out.args[0]));
  auto add = [&](size_t slot, const Value* v) -> Status {
    size_t j = layout.table_of(slot);
    out.tuples[j] += ", " + (v ? TS_TRY(staged_value(*v, out.args[j])) : std::string("NULL"));
    return {};
  };
  for (size_t c = 0; c < t.columns.size(); ++c) {
    bool staged = row.op == RowOp::insert || (row.op == RowOp::update && (force || mask[c] == '1' || fk[c]));
    TS_TRY_STATUS(add(layout.new_slot(c), staged ? &row.new_values.at(c) : nullptr));
  }
  for (size_t c = 0; c < t.columns.size(); ++c) {
    bool staged = row.op == RowOp::remove || (row.op == RowOp::update && !force && mask[c] == '1');
    TS_TRY_STATUS(add(layout.base_slot(c), staged ? &row.old_values.at(c) : nullptr));
  }
  return out;
}

size_t args_bytes(const std::vector<Value>& args, size_t from) {
  size_t out = 0;
  for (size_t i = from; i < args.size(); ++i) out += args[i].payload_size() * 4 / 3 + 48;
  return out;
}

// The parent keys the changeset writes (inserted or updated rows of `r.parent`), as in the one-batch push:
// a child of one of them is not a conflict when the remote lacks that parent now.
Result<ValueTuples> written_parents(const Changeset& cs, const ForeignReference& r) {
  ValueTuples out;
  auto parent = find_table(cs, r.parent);
  if (!parent) return out;
  const TableDesc& t = cs.tables[*parent].table;
  auto cols = t.column_indexes(r.parent_columns);
  if (!cols) return out;
  RowCursor rows = cs.tables[*parent].rows.cursor();
  while (const RowChange* row = TS_TRY(rows.next())) {
    if (row->op == RowOp::remove) continue;
    std::vector<Value> key;
    for (size_t c : *cols) key.push_back(row->new_values.at(c));
    out.insert(std::move(key));
  }
  return out;
}

// A step sent with BEGIN refused (another transaction open on the server) waits and is sent again.
void wait_busy(int attempt) {
  std::this_thread::sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 5)));
}

Status send_part(RemoteClient& remote, const PushBatch& part, int number) {
  for (int attempt = 1;; ++attempt) {
    if (cancel_requested()) return Error(ErrorKind::cancelled, "push interrupted while staging");
    auto sent = remote.batch(part.steps, Retry::unsafe);
    if (!sent.ok()) {
      ErrorKind k = sent.error().kind();
      bool unknown = k == ErrorKind::unreachable || k == ErrorKind::timeout || k == ErrorKind::server ||
                     k == ErrorKind::protocol;
      // Sent again: when the lost one landed, its receipt makes this one fail harmlessly.
      if (unknown && attempt < 3) continue;
      return sent.error().context(fmt::format("push: staging part {}", number));
    }
    const auto& steps = *sent;
    if (steps[static_cast<size_t>(part.commit_step)].result) return {};
    size_t failed = 0;
    while (failed < steps.size() && !steps[failed].error) ++failed;
    if (failed >= steps.size())
      return Error(ErrorKind::protocol, fmt::format("push: staging part {}: the remote neither committed nor "
                                                    "reported an error",
                                                    number));
    const std::string& message = *steps[failed].error;
    const StepOrigin& origin = part.origins[failed];
    if (static_cast<int>(failed) == part.begin_step && attempt < 8) {
      wait_busy(attempt);
      continue;
    }
    if (origin.kind == StepOrigin::Kind::stage_part_receipt &&
        (message.find("UNIQUE") != std::string::npos || message.find("PRIMARY KEY") != std::string::npos))
      return {};  // this part landed before (its answer was lost)
    return Error(ErrorKind::sql, fmt::format("push: the remote rejected staging part {} ({}): {}", number,
                                             origin.description, message));
  }
}

std::string stage_prefix(const std::string& push_id) {
  return fmt::format("{}{}_", kStageTablePrefix, push_id);
}

}  // namespace

std::string stage_table_name(const std::string& push_id, size_t table_index) {
  return fmt::format("{}{}", stage_prefix(push_id), table_index);
}

StagePartBuilder::StagePartBuilder(const Changeset& cs, const PushBatchOptions& options, size_t part_bytes)
    : m_cs(cs), m_options(options), m_part_bytes(part_bytes) {}

Status StagePartBuilder::check() const {
  std::vector<Value> args;
  for (const TableChanges& tc : m_cs.tables) {
    const TableDesc& t = tc.table;
    TS_TRY_STATUS(check_stageable(t));
    RowCursor rows = tc.rows.cursor();
    while (const RowChange* row = TS_TRY(rows.next()))
      for (const auto* values : {&row->key, &row->new_values, &row->old_values})
        for (const Value& v : *values) {
          auto p = exact_placeholder(v, args);
          if (!p.ok()) return p.error().context(fmt::format("push table {}", quote_identifier(t.name)));
          args.clear();
        }
  }
  return {};
}

Result<std::optional<PushBatch>> StagePartBuilder::next() {
  while (m_table < m_cs.tables.size() && m_row >= m_cs.tables[m_table].rows.size()) ++m_table, m_row = 0;
  if (m_table >= m_cs.tables.size()) return std::optional<PushBatch>();
  ++m_part;
  PushBatchWriter w;
  StepOrigin control;
  control.description = "BEGIN IMMEDIATE";
  w.batch().begin_step = w.add({"BEGIN IMMEDIATE", {}}, control);
  control.description = "part receipts";
  w.add({fmt::format("CREATE TABLE IF NOT EXISTS {} (push_id TEXT NOT NULL, part INTEGER NOT NULL, staged_at "
                     "TEXT NOT NULL, PRIMARY KEY (push_id, part))",
                     kStagePartsTable),
         {}},
        control);
  StepOrigin receipt;
  receipt.kind = StepOrigin::Kind::stage_part_receipt;
  receipt.description = fmt::format("the receipt of part {}", m_part);
  w.add({fmt::format("INSERT INTO {} (push_id, part, staged_at) VALUES (?, ?, ?)", kStagePartsTable),
         {Value::text(m_options.push_id), Value::integer(m_part), Value::text(m_options.pushed_at)}},
        receipt);
  while (m_table < m_cs.tables.size() &&
         (w.batch().row_changes == 0 || w.batch().approx_bytes < m_part_bytes)) {
    const TableChanges& tc = m_cs.tables[m_table];
    if (m_row >= tc.rows.size()) {
      ++m_table, m_row = 0;
      continue;
    }
    const TableDesc& t = tc.table;
    StageLayout layout(t);
    size_t width = 3 + key_width(t) + 2 * t.columns.size();
    StepOrigin origin;
    origin.kind = StepOrigin::Kind::stage_table;
    origin.table = t.name;
    origin.description = fmt::format("the staging of {}", quote_identifier(t.name));
    std::vector<std::string> stages;
    for (size_t j = 0; j < layout.tables(); ++j) {
      stages.push_back(quote_identifier(stage_table_part_name(m_options.push_id, m_table, j)));
      w.add({fmt::format("CREATE TABLE IF NOT EXISTS {} ({})", stages.back(), layout.columns_sql(j)), {}},
            origin);
    }
    std::vector<bool> fk = foreign_key_columns(t, m_options.references);
    if (m_row == 0) m_cursor.emplace(tc.rows);
    // Every part carries at least one row, however small the part size against the staging tables'
    // definitions (a part without one would be followed by the same part again, forever).
    while (m_row < tc.rows.size() && (w.batch().row_changes == 0 || w.batch().approx_bytes < m_part_bytes)) {
      std::vector<std::vector<Value>> args(layout.tables());
      std::vector<std::string> values(layout.tables());
      size_t rows = 0, bytes = 0, params = 0;
      while (m_row < tc.rows.size() && rows < kMaxRowsPerInsert &&
             (rows == 0 || params + width <= kMaxParamsPerInsert) &&
             (w.batch().row_changes + static_cast<int64_t>(rows) == 0 ||
              w.batch().approx_bytes + bytes < m_part_bytes)) {
        const RowChange* row = TS_TRY(m_cursor->next());
        if (!row) return Error(ErrorKind::internal, "push: the staged rows ended early");
        auto staged = staged_row(t, layout, *row, m_row, fk, m_options.force);
        if (!staged.ok())
          return staged.error().context(fmt::format("push table {}", quote_identifier(t.name)));
        for (size_t j = 0; j < layout.tables(); ++j) {
          values[j] += fmt::format("{}({})", values[j].empty() ? "" : ", ", staged->tuples[j]);
          bytes += staged->tuples[j].size() + 4 + args_bytes(staged->args[j], 0);
          params += staged->args[j].size();
          std::move(staged->args[j].begin(), staged->args[j].end(), std::back_inserter(args[j]));
        }
        ++m_row, ++rows;
      }
      for (size_t j = 0; j < layout.tables(); ++j)
        w.add({fmt::format("INSERT INTO {} VALUES {}", stages[j], values[j]), std::move(args[j])}, origin);
      w.batch().row_changes += static_cast<int64_t>(rows);
    }
  }
  end_push_batch(w);
  return std::optional<PushBatch>(w.take());
}

int64_t StagePartBuilder::rows_built() const {
  int64_t n = 0;
  for (size_t i = 0; i < m_table && i < m_cs.tables.size(); ++i)
    n += static_cast<int64_t>(m_cs.tables[i].rows.size());
  if (m_table < m_cs.tables.size()) n += static_cast<int64_t>(m_row);
  return n;
}

int64_t StagePartBuilder::rows_total() const {
  int64_t n = 0;
  for (const TableChanges& tc : m_cs.tables) n += static_cast<int64_t>(tc.rows.size());
  return n;
}

Result<int> upload_staged_parts(RemoteClient& remote, StagePartBuilder& parts,
                                const ProgressCallback& progress) {
  Progress p;
  p.phase = "push";
  p.rows_total = parts.rows_total();
  uint64_t sent_before = remote.stats().bytes_sent;
  while (true) {
    std::optional<PushBatch> part = TS_TRY(parts.next());
    if (!part) break;
    if (progress) {
      // Parts hold about the same number of bytes: the rows left tell about how many are to come.
      p.parts_done = parts.parts_built() - 1;
      p.rows_done = parts.rows_built();
      p.parts_total =
          p.rows_done > 0 ? (parts.parts_built() * p.rows_total + p.rows_done - 1) / p.rows_done : -1;
      p.bytes_sent = remote.stats().bytes_sent - sent_before;
      progress(p);
    }
    TS_TRY_STATUS(send_part(remote, *part, parts.parts_built()));
    if (parts.parts_built() == 1) crash_point("push.part-sent");
  }
  crash_point("push.staged");
  return parts.parts_built();
}

std::vector<PushConflict> staged_conflicts(RemoteClient& remote, const Changeset& cs,
                                           const PushBatchOptions& options, const PushBatch& apply,
                                           size_t failed, const std::string& message) {
  const StepOrigin& first = apply.origins[failed];
  std::vector<PushConflict> out;
  if (first.kind == StepOrigin::Kind::reference_guard) {
    PushConflict c;
    c.table = first.table;
    c.operation = "delete";
    c.detail = first.description;
    c.force_overrides = false;
    out.push_back(std::move(c));
  }
  // Every probe at once, in one read-only request: the staged rows joined with the remote's tables.
  enum class Probe { guard, insert, unique, parent };
  struct Asked {
    Probe probe;
    size_t table;
    const ForeignReference* reference = nullptr;
    std::vector<size_t> columns;
  };
  std::vector<Asked> asked;
  std::vector<BatchStep> probes;
  std::vector<std::string> unique = unique_clash_columns(message);
  for (size_t i = 0; i < cs.tables.size(); ++i) {
    if (cs.tables[i].rows.empty()) continue;
    auto described = describe_staged(cs, i, options.push_id);
    if (!described.ok()) continue;
    StagedTable s = std::move(described).value();
    std::string from = fmt::format("SELECT {}.seq FROM {} WHERE ", kS, s.from());
    if (!options.force && (s.updates || s.deletes)) {
      probes.push_back(
          {{from + fmt::format("{}.op <> 'i' AND NOT {} ORDER BY 1", kS, guard_holds(s)), {}}, std::nullopt});
      asked.push_back({Probe::guard, i});
    }
    if (!options.force && s.inserts) {
      probes.push_back({{from + fmt::format("{}.op = 'i' AND EXISTS (SELECT 1 FROM {} WHERE {}) ORDER BY 1",
                                            kS, s.target, key_match(*s.table, s.target)),
                         {}},
                        std::nullopt});
      asked.push_back({Probe::insert, i});
    }
    auto cols = s.table->column_indexes(unique);
    if (first.kind == StepOrigin::Kind::stage_rows &&
        lower_ascii(first.table) == lower_ascii(s.table->name) && cols && !cols->empty()) {
      std::string same;
      for (size_t c : *cols)
        same += fmt::format(" AND {}.{} = {}", s.target, quote_identifier(s.table->columns[c].name), s.n(c));
      probes.push_back(
          {{from + fmt::format("{}.op <> 'd' AND EXISTS (SELECT 1 FROM {} WHERE NOT ({}){}) ORDER "
                               "BY 1",
                               kS, s.target, key_match(*s.table, s.target), same),
            {}},
           std::nullopt});
      asked.push_back({Probe::unique, i});
    }
    for (const ForeignReference& r : options.references) {
      if (lower_ascii(r.child) != lower_ascii(s.table->name) || !(s.inserts || s.updates)) continue;
      auto fk = s.table->column_indexes(r.columns);
      if (!fk) continue;
      probes.push_back(
          {{from + fmt::format("{} AND {} ORDER BY 1", referencing_rows(s, *fk), parent_missing(s, r, *fk)),
            {}},
           std::nullopt});
      asked.push_back({Probe::parent, i, &r, *fk});
    }
  }
  auto answers = remote.batch(probes, Retry::safe);
  size_t explained = 0;
  for (size_t p = 0; answers.ok() && p < answers->size() && p < asked.size(); ++p) {
    const auto& result = (*answers)[p].result;
    if (!result) continue;
    const Asked& a = asked[p];
    const TableChanges& tc = cs.tables[a.table];
    ValueTuples written;
    if (a.probe == Probe::parent) {
      auto parents = written_parents(cs, *a.reference);
      if (!parents.ok()) continue;
      written = std::move(parents).value();
    }
    for (const auto& row : result->rows) {
      if (row.empty() || row[0].type() != ValueType::integer) continue;
      auto seq = static_cast<size_t>(row[0].as_integer());
      if (seq >= tc.rows.size()) continue;
      auto read = tc.rows.at(seq);
      if (!read.ok()) continue;
      const RowChange& change = *read;
      if (a.probe == Probe::guard) {
        StepOrigin origin = row_guard_origin(tc.table, change);
        PushConflict c = conflict_for_unexplained(origin);
        if (explained++ < kExplained) c.detail = explain_guard(remote, origin);
        out.push_back(std::move(c));
      } else if (a.probe == Probe::insert) {
        out.push_back(conflict_for_unexplained(row_origin(tc.table, change)));
      } else if (a.probe == Probe::unique) {
        StepOrigin origin = row_origin(tc.table, change);
        PushConflict c = conflict_for_unexplained(origin);
        c.force_overrides = false;
        std::optional<std::string> why;
        if (explained++ < kExplained) why = explain_unique_clash(remote, origin, message);
        c.detail = why ? *why : "another row on the remote holds one of its UNIQUE values (" + message + ")";
        out.push_back(std::move(c));
      } else {
        ReferencingRow referencing;
        referencing.op = change.op;
        referencing.key = change.key;
        referencing.key_names = key_names(tc.table);
        for (size_t c : a.columns) referencing.values.push_back(change.new_values.at(c));
        if (written.count(referencing.values)) continue;
        out.push_back(missing_parent_conflict(tc.table.name, *a.reference, referencing, true));
      }
    }
  }
  if (out.empty()) {
    PushConflict c;
    c.table = first.table.empty() ? "(push)" : first.table;
    c.operation = first.kind == StepOrigin::Kind::stage_rows ? to_string(first.op) : "push";
    c.detail = fmt::format("{}: {}", first.description, message);
    c.force_overrides = first.kind == StepOrigin::Kind::stage_guard;
    out.push_back(std::move(c));
  }
  return out;
}

Result<bool> settle_staged_push(RemoteClient& remote, const std::string& push_id) {
  std::string prefix = stage_prefix(push_id);
  auto found = TS_TRY(remote.execute(
      SqlStatement{
          "SELECT name FROM sqlite_schema WHERE type = 'table' AND (substr(name, 1, ?) = ? OR name = ?)",
          {Value::integer(static_cast<int64_t>(prefix.size())), Value::text(prefix),
           Value::text(kStagePartsTable)}},
      Retry::safe));
  std::vector<std::string> tables;
  bool parts_table = false;
  for (const auto& row : found.rows) {
    if (row.empty() || row[0].type() != ValueType::text) continue;
    if (row[0].as_bytes() == kStagePartsTable)
      parts_table = true;
    else
      tables.push_back(row[0].as_bytes());
  }
  bool parts = false;
  if (parts_table) {
    auto counted = TS_TRY(remote.execute(
        SqlStatement{fmt::format("SELECT count(*) FROM {} WHERE push_id = ?", kStagePartsTable),
                     {Value::text(push_id)}},
        Retry::safe));
    parts = !counted.rows.empty() && !counted.rows[0].empty() && counted.rows[0][0] != Value::integer(0);
  }
  if (tables.empty() && !parts) return receipt_exists(remote, push_id);

  PushBatchWriter w;
  StepOrigin control;
  control.description = "BEGIN IMMEDIATE";
  w.batch().begin_step = w.add({"BEGIN IMMEDIATE", {}}, control);
  w.add({fmt::format("CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, pushed_at TEXT NOT NULL)",
                     kPushReceiptTable),
         {}},
        control);
  StepOrigin guard;
  guard.kind = StepOrigin::Kind::guard;
  guard.description = "the push did not commit";
  int guard_step =
      w.add({fmt::format("SELECT json(CASE WHEN NOT EXISTS (SELECT 1 FROM {} WHERE id = ?) THEN '1' "
                         "ELSE 'x' END)",
                         kPushReceiptTable),
             {Value::text(push_id)}},
            guard);
  for (const std::string& t : tables) w.add({"DROP TABLE IF EXISTS " + quote_identifier(t), {}}, control);
  if (parts)
    w.add({fmt::format("DELETE FROM {} WHERE push_id = ?", kStagePartsTable), {Value::text(push_id)}},
          control);
  end_push_batch(w);
  PushBatch batch = w.take();
  for (int attempt = 1;; ++attempt) {
    auto answer = remote.batch(batch.steps, Retry::unsafe);
    if (!answer.ok())
      return answer.error().context(fmt::format("dropping the staged rows of push {}", push_id));
    const auto& sent = *answer;
    if (sent[static_cast<size_t>(batch.commit_step)].result) return false;
    if (sent[static_cast<size_t>(guard_step)].error) return true;  // its receipt is there: it committed
    if (sent[static_cast<size_t>(batch.begin_step)].error && attempt < 8) {
      wait_busy(attempt);
      continue;
    }
    std::string message = "the remote neither committed nor reported an error";
    for (const auto& step : sent)
      if (step.error) {
        message = *step.error;
        break;
      }
    return Error(ErrorKind::sql, fmt::format("dropping the staged rows of push {}: {}", push_id, message));
  }
}

int drop_abandoned_stages(RemoteClient& remote) {
  size_t n = std::string(kStageTablePrefix).size();
  auto found = remote.execute(
      SqlStatement{
          "SELECT name FROM sqlite_schema WHERE type = 'table' AND (substr(name, 1, ?) = ? OR name = ?)",
          {Value::integer(static_cast<int64_t>(n)), Value::text(kStageTablePrefix),
           Value::text(kStagePartsTable)}},
      Retry::safe);
  if (!found.ok()) return 0;
  std::set<std::string> ids;  // push ids with staged rows or part receipts
  bool parts_table = false;
  for (const auto& row : found->rows) {
    if (row.empty() || row[0].type() != ValueType::text) continue;
    const std::string& name = row[0].as_bytes();
    if (name == kStagePartsTable) {
      parts_table = true;
      continue;
    }
    // turso_sync_stage_<push id>_<n>[_<j>]: push ids have no '_'.
    auto end = name.find('_', n);
    if (end != std::string::npos && end > n) ids.insert(name.substr(n, end - n));
  }
  std::map<std::string, std::string> newest;  // push id -> its newest part's staged_at
  if (parts_table) {
    auto parts = remote.execute(
        SqlStatement{fmt::format("SELECT push_id, max(staged_at) FROM {} GROUP BY push_id", kStagePartsTable),
                     {}},
        Retry::safe);
    if (!parts.ok()) return 0;
    for (const auto& row : parts->rows) {
      if (row.size() < 2 || row[0].type() != ValueType::text || row[1].type() != ValueType::text) continue;
      newest[row[0].as_bytes()] = row[1].as_bytes();
      ids.insert(row[0].as_bytes());
    }
  }
  auto cutoff = std::chrono::system_clock::now() - std::chrono::hours(kAbandonedStageHours);
  int dropped = 0;
  for (const std::string& id : ids) {
    auto it = newest.find(id);
    // Staging tables without any part receipt are never a push in progress (a part writes both in one
    // transaction, a final batch or a cleanup removes both): abandoned.
    if (it != newest.end()) {
      auto at = parse_utc_timestamp(it->second);
      if (!at || *at > cutoff) continue;
    }
    auto settled = settle_staged_push(remote, id);
    if (settled.ok() && !*settled) ++dropped;
  }
  return dropped;
}

}  // namespace turso_sync
