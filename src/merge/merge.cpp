// The three-way merge of a pull, its coordinator (contract in merge.h, rules for users in docs/conflicts.md):
// it holds the transaction and the step order; each step is a concept of its own file in this folder.
//
// Order inside the one transaction: the working copy's views and triggers set aside (derived.cpp); schema
// changes of the delta (schema_decision.cpp, schema_apply.cpp: tables and indexes; views and triggers only
// decided); local renames mapped (local_renames.cpp); colliding local rows moved (id_moves.cpp: before any
// row of theirs lands, so that the foreign-key columns that follow a moved row are only ours); then per
// table deletes, updates and inserts (row_rules.cpp: deletes first free UNIQUE values); foreign keys
// checked and settled (foreign_keys.cpp); views and triggers created in their merged versions.
#include "merge/merge.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "db/schema.h"
#include "diff/schema_plan.h"
#include "diff/sql_text.h"
#include "merge/merger.h"
#include "sync/sequences.h"
#include "util/text.h"

namespace turso_sync::merge {

Result<MergeReport> Merger::run() {
  if (!sqlite3_get_autocommit(m_db.handle()))
    return Error(ErrorKind::internal,
                 fmt::format("merge into working copy {}: the connection is already inside a "
                             "transaction",
                             m_db.path()));
  if (m_delta.empty()) {  // nothing to merge: do not wait for the application's lock
    m_report.applied = true;
    return std::move(m_report);
  }
  if (m_options.pushed)
    for (size_t i = 0; i < m_delta.tables.size(); ++i)
      for (const TableChanges& tc : m_options.pushed->tables)
        if (same_columns(m_delta.tables[i].table, tc.table)) {
          PushedRows& rows = m_pushed_rows.emplace(i, PushedRows(tc.rows)).first->second;
          TS_TRY_STATUS(rows.index());
        }
  ForeignKeysOff fk_off(m_db);
  TS_TRY_STATUS(fk_off.engage());
  auto begun = db::Transaction::begin(m_db, db::Transaction::Kind::immediate);
  if (!begun.ok()) return locked_or(std::move(begun).error());
  db::Transaction tx = std::move(begun).value();
  auto merged = apply(tx);
  if (!merged.ok() && merged.error().kind() == ErrorKind::busy) return locked_or(std::move(merged).error());
  return merged;
}

// Everything after BEGIN; `tx` rolls back on every path that does not commit.
Result<MergeReport> Merger::apply(db::Transaction& tx) {
  // Views and triggers hold no rows: they are set aside for the whole merge (a table rebuild re-checks
  // every view and trigger, and the merge's writes must not fire triggers) and created again at the end.
  std::vector<DerivedObject> derived = TS_TRY(suspend_derived());
  TS_TRY_STATUS(apply_schema());
  if (!m_delta.tables.empty()) {
    TS_TRY_STATUS(map_local_columns());
    // A table held as a whole (here or by an earlier pull): its rows wait for `resolve`.
    for (size_t i = 0; i < m_delta.tables.size(); ++i)
      if (held_whole(m_delta.tables[i].table.name)) m_ours_tables[i] = "";
    for (size_t i = 0; i < m_delta.tables.size(); ++i) {
      m_writers.push_back(std::make_unique<TableWriter>(m_db, m_delta.tables[i].table,
                                                        m_ours_tables[i].value_or(""), m_column_maps[i]));
      if (!skipped(i)) TS_TRY_STATUS(m_writers.back()->check_columns());
    }
    if (m_options.on_insert_collision == InsertCollision::move_local) TS_TRY_STATUS(move_colliding_rows());
    auto fk_tables = TS_TRY(foreign_key_tables());
    auto dangling_before = TS_TRY(dangling_references(fk_tables));
    for (size_t i = 0; i < m_delta.tables.size(); ++i) TS_TRY_STATUS(merge_table(i));
    if (!m_stopped) TS_TRY_STATUS(settle_dangling_references(fk_tables, dangling_before));
  }

  if (m_stopped) {
    m_report.applied = false;
    return std::move(m_report);  // `tx` rolls back everything, schema changes and moves included
  }
  TS_TRY_STATUS(carry_counters());
  TS_TRY_STATUS(restore_derived(derived));
  m_report.applied = true;
  m_report.discarded_sql = discarded_script();
  if (m_options.before_commit) TS_TRY_STATUS(m_options.before_commit(m_report));
  TS_TRY_STATUS(tx.commit());
  return std::move(m_report);
}

// The AUTOINCREMENT counters of the tables the delta touched (or whose rows moved) follow theirs and the
// moved rows (sync/sequences.h).
Status Merger::carry_counters() {
  std::vector<std::string> tables;
  for (size_t i = 0; i < m_delta.tables.size(); ++i)
    if (!skipped(i) && m_delta.tables[i].table.keyed_by_rowid())
      tables.push_back(m_ours_tables.size() > i && m_ours_tables[i] ? *m_ours_tables[i]
                                                                    : m_delta.tables[i].table.name);
  db::Database* theirs = m_options.theirs_path.empty() ? nullptr : TS_TRY(theirs_db());
  return carry_autoincrement_counters(m_db, theirs, tables);
}

Error Merger::locked_or(Error e) const {
  if (e.kind() != ErrorKind::busy) return e.context(fmt::format("merge into working copy {}", m_db.path()));
  return Error(ErrorKind::busy,
               fmt::format("merge into working copy {}: the file stayed locked by another connection (the "
                           "application holds a write transaction?) for the whole busy timeout; nothing was "
                           "changed. Retry when the application is idle",
                           m_db.path()));
}

Result<db::Database*> Merger::side(const std::string& path, std::unique_ptr<db::Database>& slot,
                                   const char* what) {
  if (!slot) {
    auto opened = db::Database::open(path, db::OpenMode::read_only);
    if (!opened.ok()) return std::move(opened).error().context(fmt::format("read {}", what));
    slot = std::make_unique<db::Database>(std::move(opened).value());
  }
  return slot.get();
}

}  // namespace turso_sync::merge

namespace turso_sync {

std::string schema_object_key(const std::string& type, const std::string& name) {
  std::string key = type + ":";
  for (char c : name) key.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  return key;
}

Result<MergeReport> merge_into_working_copy(db::Database& ours, const Changeset& delta,
                                            const MergeOptions& options) {
  merge::Merger merger(ours, delta, options);
  return merger.run();
}

}  // namespace turso_sync
