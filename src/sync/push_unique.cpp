// Row changes of a push that take a UNIQUE value a row of the remote keeps (push_unique.h).
#include "sync/push_unique.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "db/sqlite.h"
#include "sync/held.h"
#include "util/text.h"

namespace turso_sync {

namespace {

// A UNIQUE index of a table in the replica (not the key, not partial): its columns and their collations.
struct UniqueIndex {
  std::vector<std::string> columns;
  std::vector<std::string> collations;
};

Result<std::vector<UniqueIndex>> unique_indexes(db::Database& replica, const std::string& table) {
  std::vector<UniqueIndex> out;
  auto list = TS_TRY(replica.prepare(
      "SELECT name FROM pragma_index_list(?1) WHERE \"unique\" = 1 AND origin <> 'pk' AND partial = 0"));
  TS_TRY_STATUS(list.bind(1, Value::text(table)));
  std::vector<std::string> names;
  while (TS_TRY(list.step())) names.push_back(list.column_text(0));
  auto info =
      TS_TRY(replica.prepare("SELECT name, coll FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno"));
  for (const std::string& name : names) {
    TS_TRY_STATUS(info.reset());
    TS_TRY_STATUS(info.bind(1, Value::text(name)));
    UniqueIndex index;
    bool expression = false;
    while (TS_TRY(info.step())) {
      if (info.column(0).is_null()) expression = true;  // an index on an expression: not checked
      index.columns.push_back(info.column(0).is_null() ? "" : info.column_text(0));
      index.collations.push_back(info.column(1).is_null() ? "BINARY" : info.column_text(1));
    }
    if (!expression && !index.columns.empty()) out.push_back(std::move(index));
  }
  return out;
}

// A row change that takes the value of `index` which the replica's row `holder` keeps.
struct Candidate {
  const TableChanges* table;
  RowChange row;
  std::vector<Value> holder;
  std::vector<size_t> columns;  // the index's columns, as indexes in the table's columns
};

// The candidates of one table: its inserts and updates that write the value of one of `indexes` which
// another row of the replica holds.
Status find_candidates(db::Database& replica, const TableChanges& tc, const std::vector<UniqueIndex>& indexes,
                       std::vector<Candidate>& out) {
  const TableDesc& t = tc.table;
  std::string key_select;
  if (t.keyed_by_rowid()) {
    key_select = t.rowid_expr.empty() ? "rowid" : t.rowid_expr;
  } else {
    for (int k : t.key_columns)
      key_select +=
          (key_select.empty() ? "" : ", ") + quote_identifier(t.columns[static_cast<size_t>(k)].name);
  }
  struct Query {
    std::vector<size_t> columns;
    std::optional<db::Statement> statement;
  };
  std::vector<Query> queries;
  for (const UniqueIndex& index : indexes) {
    auto columns = t.column_indexes(index.columns);
    if (!columns) continue;  // a column this push renames or drops: the server decides
    std::string where;
    for (size_t i = 0; i < index.columns.size(); ++i)
      where += fmt::format("{}{} = ?{} COLLATE {}", i ? " AND " : "", quote_identifier(index.columns[i]),
                           i + 1, quote_identifier(index.collations[i]));
    auto st = replica.prepare(
        fmt::format("SELECT {} FROM {} WHERE {}", key_select, quote_identifier(t.name), where));
    if (!st.ok()) continue;  // the replica cannot be asked (its table differs): the server decides
    queries.push_back({*columns, std::move(*st)});
  }
  if (queries.empty()) return {};
  RowCursor rows = tc.rows.cursor();
  while (const RowChange* row = TS_TRY(rows.next())) {
    if (row->op == RowOp::remove) continue;
    for (Query& q : queries) {
      if (row->op == RowOp::update && std::none_of(q.columns.begin(), q.columns.end(), [&](size_t c) {
            return std::find(row->changed_columns.begin(), row->changed_columns.end(), static_cast<int>(c)) !=
                   row->changed_columns.end();
          }))
        continue;
      std::vector<Value> values;
      for (size_t c : q.columns) values.push_back(row->new_values.at(c));
      if (std::any_of(values.begin(), values.end(), [](const Value& v) { return v.is_null(); })) continue;
      TS_TRY_STATUS(q.statement->reset());
      TS_TRY_STATUS(q.statement->bind_all(values));
      while (TS_TRY(q.statement->step())) {
        std::vector<Value> holder;
        for (int i = 0; i < q.statement->column_count(); ++i) holder.push_back(q.statement->column(i));
        if (holder == row->key) continue;
        out.push_back({&tc, *row, std::move(holder), q.columns});
      }
    }
  }
  return {};
}

}  // namespace

Result<std::vector<LocalUniqueTaker>> find_unique_takers(const Config& config, const Changeset& changeset) {
  std::vector<LocalUniqueTaker> out;
  if (std::none_of(changeset.tables.begin(), changeset.tables.end(),
                   [](const TableChanges& tc) { return tc.table.has_unique_index; }))
    return out;
  db::Database replica = TS_TRY(db::Database::open(config.replica_path, db::OpenMode::read_only));
  std::vector<Candidate> candidates;
  for (const TableChanges& tc : changeset.tables) {
    if (!tc.table.has_unique_index) continue;
    std::vector<UniqueIndex> indexes = TS_TRY(unique_indexes(replica, tc.table.name));
    if (!indexes.empty()) TS_TRY_STATUS(find_candidates(replica, tc, indexes, candidates));
  }
  if (candidates.empty()) return out;
  // A holder this push deletes, or moves off the value, frees it in the same batch (deletes go first).
  for (const TableChanges& tc : changeset.tables) {
    RowCursor rows = tc.rows.cursor();
    while (const RowChange* row = TS_TRY(rows.next())) {
      if (row->op == RowOp::insert) continue;
      candidates.erase(
          std::remove_if(candidates.begin(), candidates.end(),
                         [&](const Candidate& c) {
                           if (c.table != &tc || c.holder != row->key) return false;
                           if (row->op == RowOp::remove) return true;
                           return std::any_of(c.columns.begin(), c.columns.end(), [&](size_t col) {
                             return std::find(row->changed_columns.begin(), row->changed_columns.end(),
                                              static_cast<int>(col)) != row->changed_columns.end();
                           });
                         }),
          candidates.end());
    }
  }
  for (Candidate& c : candidates) {
    auto same = std::find_if(out.begin(), out.end(), [&](const LocalUniqueTaker& u) {
      return same_table(u.row.table, c.table->table.name) && u.row.key == c.row.key;
    });
    if (same != out.end()) continue;
    HeldConflict h = held_push_row(c.table->table, c.row, to_string(ConflictKind::unique));
    std::string columns;
    for (size_t col : c.columns) columns += (columns.empty() ? "" : ", ") + c.table->table.columns[col].name;
    h.about = fmt::format("UNIQUE ({}): the remote's row {} holds the value (your change of it is held)",
                          printable(columns), printable(key_as_text(c.holder)));
    out.push_back({std::move(h)});
  }
  return out;
}

std::vector<size_t> order_value_moves(const std::vector<RowChange>& updates) {
  // (column, value) as text: the column's index, the type, the bytes (TEXT lower-cased in ASCII).
  auto slot = [](int column, const Value& v) -> std::optional<std::string> {
    if (v.is_null() || v.is_large()) return std::nullopt;
    std::string bytes = v.type() == ValueType::text ? lower_ascii(v.as_bytes()) : encode_held_value(v);
    return fmt::format("{}:{}:", column, static_cast<int>(v.type())) + bytes;
  };
  std::map<std::string, std::vector<size_t>> freed_by;
  for (size_t i = 0; i < updates.size(); ++i)
    for (int c : updates[i].changed_columns)
      if (auto s = slot(c, updates[i].old_values.at(static_cast<size_t>(c)))) freed_by[*s].push_back(i);
  std::vector<size_t> out;
  out.reserve(updates.size());
  if (freed_by.empty()) {
    for (size_t i = 0; i < updates.size(); ++i) out.push_back(i);
    return out;
  }
  enum class Mark { none, active, done };
  std::vector<Mark> mark(updates.size(), Mark::none);
  // Depth-first, iteratively: an update is emitted after every update that frees a value it takes.
  for (size_t root = 0; root < updates.size(); ++root) {
    if (mark[root] != Mark::none) continue;
    std::vector<std::pair<size_t, std::vector<size_t>>> stack;
    auto needs = [&](size_t j) {
      std::vector<size_t> deps;
      for (int c : updates[j].changed_columns)
        if (auto s = slot(c, updates[j].new_values.at(static_cast<size_t>(c))))
          if (auto it = freed_by.find(*s); it != freed_by.end())
            for (size_t i : it->second)
              if (i != j) deps.push_back(i);
      return deps;
    };
    mark[root] = Mark::active;
    stack.emplace_back(root, needs(root));
    while (!stack.empty()) {
      auto& [j, deps] = stack.back();
      if (deps.empty()) {
        mark[j] = Mark::done;
        out.push_back(j);
        stack.pop_back();
        continue;
      }
      size_t i = deps.back();
      deps.pop_back();
      if (mark[i] != Mark::none) continue;  // done, or on the stack: a swap keeps its order
      mark[i] = Mark::active;
      stack.emplace_back(i, needs(i));
    }
  }
  return out;
}

}  // namespace turso_sync
