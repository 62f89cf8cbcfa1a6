// The staging layout and the final batch of a staged push (sync/push_stage.h, docs/protocol.md "Push:
// staged"): set operations over the staged rows, under the guards of the one-batch push.
#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "sync/push_stage.h"
#include "sync/push_stage_sql.h"
#include "util/sql_expr.h"
#include "util/text.h"

namespace turso_sync {

namespace stage {

size_t key_width(const TableDesc& t) {
  return t.keyed_by_rowid() ? 1 : t.key_columns.size();
}

StageLayout::StageLayout(const TableDesc& t) : m_key_width(key_width(t)), m_columns(t.columns.size()) {
  size_t slots = 2 * m_columns;
  size_t room = 3 + m_key_width < kMaxColumns ? kMaxColumns - 3 - m_key_width : 0;
  m_first = std::min(slots, room);
  m_tables = 1 + (slots - m_first + kMaxColumns - 2) / (kMaxColumns - 1);
}

size_t StageLayout::table_of(size_t slot) const {
  return slot < m_first ? 0 : 1 + (slot - m_first) / (kMaxColumns - 1);
}

std::string StageLayout::slot_name(size_t slot) const {
  return slot < m_columns ? fmt::format("n{}", slot) : fmt::format("b{}", slot - m_columns);
}

std::string StageLayout::ref(size_t slot) const {
  size_t j = table_of(slot);
  return j ? fmt::format("{}{}.{}", kS, j, slot_name(slot)) : fmt::format("{}.{}", kS, slot_name(slot));
}

std::string StageLayout::columns_sql(size_t j) const {
  std::string out;
  size_t from = 0, to = m_first;
  if (j == 0) {
    out = "seq INTEGER PRIMARY KEY, op TEXT NOT NULL, m TEXT";
    for (size_t i = 0; i < m_key_width; ++i) out += fmt::format(", k{}", i);
  } else {
    out = "seq INTEGER PRIMARY KEY";
    from = m_first + (j - 1) * (kMaxColumns - 1);
    to = std::min(2 * m_columns, from + kMaxColumns - 1);
  }
  for (size_t slot = from; slot < to; ++slot) out += ", " + slot_name(slot);
  return out;
}

std::string stage_table_part_name(const std::string& push_id, size_t index, size_t j) {
  std::string first = stage_table_name(push_id, index);
  return j ? fmt::format("{}_{}", first, j) : first;
}

std::string StagedTable::from() const {
  std::string out = fmt::format("{} AS {}", stages[0], kS);
  for (size_t j = 1; j < stages.size(); ++j)
    out += fmt::format(" JOIN {1} AS {0}{2} ON {0}{2}.seq = {0}.seq", kS, stages[j], j);
  return out;
}

std::string StagedTable::derived(const std::vector<size_t>& columns) const {
  if (stages.size() == 1) return from();
  std::string cols = fmt::format("{0}.op AS op, {0}.m AS m", kS);
  for (size_t i = 0; i < key_width(*table); ++i) cols += fmt::format(", {0}.k{1} AS k{1}", kS, i);
  for (size_t c : columns) cols += fmt::format(", {} AS n{}", n(c), c);
  return fmt::format("(SELECT {} FROM {}) AS {}", cols, from(), kS);
}

Result<StagedTable> describe_staged(const Changeset& cs, size_t index, const std::string& push_id) {
  StagedTable s{index, &cs.tables[index].table, StageLayout(cs.tables[index].table)};
  for (size_t j = 0; j < s.layout.tables(); ++j)
    s.stages.push_back(quote_identifier(stage_table_part_name(push_id, index, j)));
  s.target = quote_identifier(s.table->name);
  s.updated.assign(s.table->columns.size(), false);
  RowCursor rows = cs.tables[index].rows.cursor();
  while (const RowChange* next = TS_TRY(rows.next())) {
    const RowChange& row = *next;
    s.inserts |= row.op == RowOp::insert;
    s.deletes |= row.op == RowOp::remove;
    if (row.op != RowOp::update) continue;
    s.updates = true;
    std::string mask(s.table->columns.size(), '0');
    for (int c : row.changed_columns) {
      mask[static_cast<size_t>(c)] = '1';
      s.updated[static_cast<size_t>(c)] = true;
    }
    if (!s.one_mask && !s.mixed_masks)
      s.one_mask = mask;
    else if (s.one_mask && *s.one_mask != mask)
      s.one_mask.reset(), s.mixed_masks = true;
  }
  return s;
}

std::string key_match(const TableDesc& t, const std::string& target) {
  if (t.keyed_by_rowid()) return fmt::format("{}.{} = {}.k0", target, t.rowid_expr, kS);
  std::string out;
  for (size_t i = 0; i < t.key_columns.size(); ++i)
    out += fmt::format("{}{}.{} = {}.k{}", i ? " AND " : "", target,
                       quote_identifier(t.columns[static_cast<size_t>(t.key_columns[i])].name), kS, i);
  return out;
}

namespace {

// Column `c` of the target holds the staged base value exactly (type and bytes), or is not guarded by the
// row.
std::string base_match(const StagedTable& s, size_t c) {
  std::string col = fmt::format("{}.{}", s.target, quote_identifier(s.table->columns[c].name));
  return fmt::format(
      "(substr({0}.m, {1}, 1) = '0' OR ({2} IS NULL AND {3} IS NULL) OR ({3} = {2} COLLATE "
      "BINARY AND typeof({3}) = typeof({2})))",
      kS, c + 1, s.b(c), col);
}

}  // namespace

std::string guard_holds(const StagedTable& s) {
  std::vector<std::string> terms{key_match(*s.table, s.target)};
  for (size_t c = 0; c < s.table->columns.size(); ++c)
    if (s.deletes || s.updated[c]) terms.push_back(base_match(s, c));
  return fmt::format("EXISTS (SELECT 1 FROM {} WHERE {})", s.target, balanced_sql(terms));
}

std::string referencing_rows(const StagedTable& s, const std::vector<size_t>& cols) {
  std::string changed, not_null;
  for (size_t c : cols) {
    changed += fmt::format("{}substr({}.m, {}, 1) = '1'", changed.empty() ? "" : " OR ", kS, c + 1);
    not_null += fmt::format(" AND {} IS NOT NULL", s.n(c));
  }
  return fmt::format("({0}.op = 'i' OR ({0}.op = 'u' AND ({1}))){2}", kS, changed, not_null);
}

std::string parent_missing(const StagedTable& s, const ForeignReference& r, const std::vector<size_t>& cols) {
  std::string match;
  for (size_t i = 0; i < cols.size(); ++i)
    match += fmt::format("{}{}.{} = {}", i ? " AND " : "", kP, quote_identifier(r.parent_columns[i]),
                         s.n(cols[i]));
  return fmt::format("NOT EXISTS (SELECT 1 FROM {} AS {} WHERE {})", quote_identifier(r.parent), kP, match);
}

std::optional<size_t> deferred_insert_column(const TableDesc& t) {
  if (!(t.keyed_by_rowid() && t.rowid_alias < 0) || t.columns.size() + 1 <= kMaxColumns) return std::nullopt;
  for (size_t c = t.columns.size(); c-- > 0;)
    if (!t.columns[c].not_null || t.columns[c].default_sql) return c;
  return std::nullopt;
}

Status check_stageable(const TableDesc& t) {
  std::string why;
  if (3 + key_width(t) >= kMaxColumns)
    why = fmt::format("its key has too many columns ({})", key_width(t));
  else if (t.keyed_by_rowid() && t.rowid_alias < 0 && t.columns.size() + 1 > kMaxColumns &&
           !deferred_insert_column(t))
    why =
        fmt::format("its {} columns are all NOT NULL without a default, and its rows are addressed by rowid",
                    t.columns.size());
  if (why.empty()) return {};
  return Error(ErrorKind::usage,
               fmt::format("push: table {} cannot be staged ({}; a change set of this size is staged on the "
                           "remote); push its changes in smaller steps",
                           quote_identifier(t.name), why));
}

}  // namespace stage

using namespace stage;

namespace {

StepOrigin staged_origin(StepOrigin::Kind kind, const StagedTable& s, RowOp op, std::string description) {
  StepOrigin o;
  o.kind = kind;
  o.table = s.table->name;
  o.op = op;
  o.description = std::move(description);
  return o;
}

// UPDATE … FROM the staged rows, setting `columns` (`value` gives each one's new value): one statement, or,
// for a table staged over several tables, one per group of columns that fits the derived table SQLite makes
// of the FROM clause (kMaxColumns). The guard ran before, and all of them run in the one transaction.
void add_updates(PushBatchWriter& w, const StagedTable& s, const std::vector<size_t>& columns,
                 const std::function<std::string(size_t)>& value, const std::string& where,
                 const std::string& description) {
  size_t group = s.stages.size() == 1 ? columns.size() : kMaxColumns - 2 - key_width(*s.table);
  for (size_t first = 0; first < columns.size(); first += group) {
    std::vector<size_t> part(
        columns.begin() + static_cast<std::ptrdiff_t>(first),
        columns.begin() + static_cast<std::ptrdiff_t>(std::min(columns.size(), first + group)));
    std::string set;
    for (size_t c : part)
      set += fmt::format("{}{} = {}", set.empty() ? "" : ", ", quote_identifier(s.table->columns[c].name),
                         value(c));
    w.add({fmt::format("UPDATE {} SET {} FROM {} WHERE {} AND {}", s.target, set, s.derived(part), where,
                       key_match(*s.table, s.target)),
           {}},
          staged_origin(StepOrigin::Kind::stage_rows, s, RowOp::update, description));
  }
}

void add_table_steps(PushBatchWriter& w, const StagedTable& s, bool force) {
  const TableDesc& t = *s.table;
  if (!force && (s.updates || s.deletes))
    w.add({fmt::format("SELECT json(CASE WHEN NOT EXISTS (SELECT 1 FROM {} WHERE {}.op <> 'i' AND NOT {}) "
                       "THEN '1' ELSE 'x' END)",
                       s.from(), kS, guard_holds(s)),
           {}},
          staged_origin(StepOrigin::Kind::stage_guard, s, RowOp::update,
                        fmt::format("the guard of the updates and deletes of {}", s.target)));
  if (s.deletes) {
    std::string keys = fmt::format("{} AS {}", s.stages[0], kS);
    std::string sql =
        key_width(t) == 1
            ? fmt::format("DELETE FROM {0} WHERE {1} IN (SELECT {2}.k0 FROM {3} WHERE {2}.op = 'd')",
                          s.target,
                          t.keyed_by_rowid()
                              ? s.target + "." + t.rowid_expr
                              : s.target + "." +
                                    quote_identifier(t.columns[static_cast<size_t>(t.key_columns[0])].name),
                          kS, keys)
            : fmt::format("DELETE FROM {0} WHERE EXISTS (SELECT 1 FROM {1} WHERE {2}.op = 'd' AND {3})",
                          s.target, keys, kS, key_match(t, s.target));
    w.add({sql, {}}, staged_origin(StepOrigin::Kind::stage_rows, s, RowOp::remove,
                                   fmt::format("the deletes of {}", s.target)));
  }
  if (s.updates || (force && s.inserts)) {
    std::vector<size_t> columns;
    for (size_t c = 0; c < t.columns.size(); ++c)
      if (force || s.updated[c]) columns.push_back(c);
    auto value = [&](size_t c) {
      if (force || s.one_mask) return fmt::format("{}.n{}", kS, c);
      return fmt::format("CASE WHEN substr({0}.m, {1}, 1) = '1' THEN {0}.n{2} ELSE {3}.{4} END", kS, c + 1, c,
                         s.target, quote_identifier(t.columns[c].name));
    };
    add_updates(w, s, columns, value, fmt::format("{}.op {}", kS, force ? "<> 'd'" : "= 'u'"),
                fmt::format("the updates of {}", s.target));
  }
  if (s.inserts || (force && s.updates)) {
    // A rowid table without an alias inserts the rowid too; with 2000 columns that is one column too many
    // for a result set: one nullable column (or one with a default) is left out and set right after.
    bool explicit_rowid = t.keyed_by_rowid() && t.rowid_alias < 0;
    std::optional<size_t> deferred = deferred_insert_column(t);
    std::string cols = explicit_rowid ? t.rowid_expr : "";
    std::string select = explicit_rowid ? fmt::format("{}.k0", kS) : "";
    for (size_t c = 0; c < t.columns.size(); ++c) {
      if (deferred == c) continue;
      cols += fmt::format("{}{}", cols.empty() ? "" : ", ", quote_identifier(t.columns[c].name));
      select += fmt::format("{}{}", select.empty() ? "" : ", ", s.n(c));
    }
    std::string where = force ? fmt::format("{0}.op <> 'd' AND NOT EXISTS (SELECT 1 FROM {1} WHERE {2})", kS,
                                            s.target, key_match(t, s.target))
                              : fmt::format("{}.op = 'i'", kS);
    w.add({fmt::format("INSERT INTO {} ({}) SELECT {} FROM {} WHERE {} ORDER BY {}.seq", s.target, cols,
                       select, s.from(), where, kS),
           {}},
          staged_origin(StepOrigin::Kind::stage_rows, s, RowOp::insert,
                        fmt::format("the inserts of {}", s.target)));
    if (deferred)
      add_updates(
          w, s, {*deferred}, [&](size_t c) { return fmt::format("{}.n{}", kS, c); },
          fmt::format("{}.op {}", kS, force ? "<> 'd'" : "= 'i'"),
          fmt::format("the inserts of {}", s.target));
  }
}

}  // namespace

Result<PushBatch> build_stage_apply_batch(const Changeset& cs, const PushBatchOptions& options, int parts) {
  PushBatchWriter w;
  open_push_batch(w, options);
  StepOrigin parts_guard;
  parts_guard.kind = StepOrigin::Kind::stage_parts_guard;
  parts_guard.description = fmt::format("the {} staged parts", parts);
  w.add(
      {fmt::format("SELECT json(CASE WHEN (SELECT count(*) FROM {} WHERE push_id = ?) = ? THEN '1' ELSE 'x' "
                   "END)",
                   kStagePartsTable),
       {Value::text(options.push_id), Value::integer(parts)}},
      parts_guard);
  suspend_triggers_and_change_schema(w, cs, options);
  std::vector<StagedTable> staged;
  for (size_t i = 0; i < cs.tables.size(); ++i) {
    if (cs.tables[i].rows.empty()) continue;
    staged.push_back(TS_TRY(describe_staged(cs, i, options.push_id)));
    add_table_steps(w, staged.back(), options.force);
    w.batch().row_changes += static_cast<int64_t>(cs.tables[i].rows.size());
  }
  restore_push_triggers(w, cs);
  auto staged_table = [&](const std::string& name) -> const StagedTable* {
    for (const StagedTable& s : staged)
      if (lower_ascii(s.table->name) == lower_ascii(name)) return &s;
    return nullptr;
  };
  // Deleted parents: no remote child row may still reference one (also with --force).
  for (const ForeignReference& r : options.references) {
    const StagedTable* parent = staged_table(r.parent);
    if (r.columns.size() != 1 || !parent || !parent->deletes) continue;
    auto pc = parent->table->column_index(r.parent_columns[0]);
    if (!pc) continue;
    StepOrigin origin = reference_guard_origin(r);
    w.add({fmt::format(
               "SELECT json(CASE WHEN NOT EXISTS (SELECT 1 FROM {0} WHERE {1} IN (SELECT {2} FROM {3} "
               "WHERE {4}.op = 'd' AND {2} IS NOT NULL)) THEN '1' ELSE 'x' END)",
               quote_identifier(r.child), quote_identifier(r.columns[0]), parent->b(*pc), parent->from(), kS),
           {}},
          origin);
  }
  // Referenced parents: every parent a staged insert or key update references is on the remote, after
  // everything else this batch did (also with --force).
  for (const ForeignReference& r : options.references) {
    const StagedTable* child = staged_table(r.child);
    if (!child || !(child->inserts || child->updates)) continue;
    auto cols = child->table->column_indexes(r.columns);
    if (!cols) continue;
    StepOrigin origin = staged_origin(
        StepOrigin::Kind::stage_parent_guard, *child, RowOp::insert,
        fmt::format("the parents in {} of the rows of {}", quote_identifier(r.parent), child->target));
    origin.reference = r;
    w.add({fmt::format("SELECT json(CASE WHEN NOT EXISTS (SELECT 1 FROM {} WHERE {} AND {}) THEN '1' "
                       "ELSE 'x' END)",
                       child->from(), referencing_rows(*child, *cols), parent_missing(*child, r, *cols)),
           {}},
          origin);
  }
  StepOrigin cleanup;
  cleanup.description = "drop the staging tables";
  for (const StagedTable& s : staged)
    for (const std::string& table : s.stages) w.add({"DROP TABLE " + table, {}}, cleanup);
  w.add({fmt::format("DELETE FROM {} WHERE push_id = ?", kStagePartsTable), {Value::text(options.push_id)}},
        cleanup);
  end_push_batch(w);
  return w.take();
}

}  // namespace turso_sync
