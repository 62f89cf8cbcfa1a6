// The merge's shared state: one Merger per merge_into_working_copy call. The coordinator (merge.cpp) holds
// the transaction and the step order; each concept is defined in its own file, named beside its members
// below. Rules for users: docs/conflicts.md.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "db/schema.h"
#include "db/sqlite.h"
#include "merge/merge.h"
#include "merge/policy.h"
#include "merge/pushed_rows.h"
#include "merge/table_writer.h"
#include "turso_sync/changeset.h"
#include "turso_sync/status.h"

namespace turso_sync::merge {

// A declared single-column FOREIGN KEY of the working copy.
struct ForeignKey {
  std::string child;
  std::string column;
  std::string parent;
  std::optional<std::string> parent_column;  // nullopt: the parent's PRIMARY KEY
};

// A view or trigger of the working copy, set aside during the merge.
struct DerivedObject {
  std::string type;  // "view" or "trigger"
  std::string name;
  std::string sql;
  bool theirs = false;  // the remote's version (a decision of this merge), not the working copy's
  std::string table;    // the table (or view) it belongs to, when set aside from the working copy
};

// Turns foreign-key enforcement off for the merge and back on afterwards (it cannot change inside a
// transaction).
class ForeignKeysOff {
 public:
  explicit ForeignKeysOff(db::Database& db) : m_db(db) {}
  ForeignKeysOff(const ForeignKeysOff&) = delete;
  ForeignKeysOff& operator=(const ForeignKeysOff&) = delete;
  ~ForeignKeysOff() {
    if (m_was_on) sqlite3_exec(m_db.handle(), "PRAGMA foreign_keys = ON", nullptr, nullptr, nullptr);
  }
  Status engage() {
    m_was_on = TS_TRY(db::query_int(m_db, "PRAGMA foreign_keys")) != 0;
    if (m_was_on) TS_TRY_STATUS(m_db.exec("PRAGMA foreign_keys = OFF"));
    return {};
  }

 private:
  db::Database& m_db;
  bool m_was_on = false;
};

class Merger {
 public:
  Merger(db::Database& ours, const Changeset& delta, const MergeOptions& options)
      : m_db(ours), m_delta(delta), m_options(options), m_decide(conflict_handler(options.on_conflict)) {
    if (!options.pushed) return;
    for (const SchemaChange& c : options.pushed->schema)
      m_pushed_objects.insert(schema_object_key(c.object_type, c.name));
  }

  // merge.cpp: the coordinator.
  Result<MergeReport> run();

  // schema_decision.cpp: what to do with each schema object the delta touches (a decision on meanings).
  enum class Action { apply, skip, adopt, conflict, dependent };
  struct Decision {
    Action action = Action::skip;
    std::string ours, base, theirs;  // meanings; "" = absent
  };

  // schema_apply.cpp: the working copy's indexes on `table` that no decision of this merge handles: they
  // are recreated after the table is rebuilt (DROP TABLE takes them along; views and triggers are set aside
  // for the whole merge).
  struct OwnObject {
    std::string type, name, sql;
  };

  // foreign_keys.cpp: a reference PRAGMA foreign_key_check reports (child table lower-cased, its rowid, the
  // foreign key's id).
  struct Dangling {
    std::string child;
    int64_t rowid = 0;
    int64_t fk = 0;
    bool operator<(const Dangling& o) const {
      return std::tie(child, rowid, fk) < std::tie(o.child, o.rowid, o.fk);
    }
  };
  // How the working copy's child row `d` is found on another side: by rowid, or by the declared key where the
  // rowid is not the key. nullopt for a WITHOUT ROWID table or a row that is gone.
  struct ChildKey {
    std::vector<std::string> names;  // quoted
    std::vector<Value> values;
    std::string where;  // names = ?1 AND …
  };

 private:
  // merge.cpp
  Result<MergeReport> apply(db::Transaction& tx);
  Status carry_counters();
  Error locked_or(Error e) const;
  Result<db::Database*> side(const std::string& path, std::unique_ptr<db::Database>& slot, const char* what);
  Result<db::Database*> base_db() {
    return side(m_options.base_path, m_base, "the replica (the merge's base)");
  }
  Result<db::Database*> theirs_db() { return side(m_options.theirs_path, m_theirs, "the new replica"); }

  // policy.h: the one place where the policy decides a conflict of `kind`.
  ConflictDecision decide(ConflictKind kind) const { return m_decide(kind); }

  // schema_decision.cpp
  static std::string object_key(const std::string& type, const std::string& name) {
    return schema_object_key(type, name);
  }
  static Action decide_object(const Decision& meanings, bool dependent, bool pushed_by_us,
                              ConflictDecision on_conflict);
  Result<std::map<std::string, Decision>> decide_schema(db::Database& base, db::Database& theirs,
                                                        std::vector<std::string>& conflicts,
                                                        std::string& saved);
  static Result<std::optional<std::string>> object_sql(db::Database& db, const std::string& type,
                                                       const std::string& name);
  static Result<std::string> object_meaning(db::Database& db, const std::string& type,
                                            const std::string& name);
  Result<std::string> ours_meaning(const std::string& type, const std::string& name);
  static std::string describe_object(const SchemaChange& c);
  static std::string describe_state(const std::string& meaning, const char* changed);
  static Result<std::vector<std::string>> column_names(db::Database& db, const std::string& table);
  Result<std::string> local_additions_lost(const std::string& table, db::Database& base,
                                           db::Database& theirs);
  static std::string join_names(const std::vector<std::string>& names);
  Result<std::string> local_edits_of(const std::string& table, const std::vector<std::string>& columns);

  // schema_apply.cpp
  Status apply_schema();
  Result<bool> schema_already_applied(const SchemaChange& c);
  Result<bool> check_no_local_rows_lost(const SchemaChange& c);
  Result<bool> same_rows(const std::string& table);
  Status exec_schema_statements(const SchemaChange& c, const std::vector<std::string>& statements);
  Result<std::vector<OwnObject>> own_objects_on(const std::string& table,
                                                const std::map<std::string, Decision>& decisions);
  Status restore_own_objects(const std::string& table, const std::vector<OwnObject>& own);
  Status adopt(const SchemaChange& c, const Decision& d);
  Status adopt_table(const std::string& table, SchemaOp op);
  Status fill_from_theirs(db::Database& theirs, const std::string& table, const db::TableInfo& o,
                          const db::TableInfo& t, bool rowids_kept);

  // derived.cpp
  static bool derived_type(const std::string& type) { return type == "view" || type == "trigger"; }
  void set_derived(const std::string& type, const std::string& name, std::optional<std::string> sql);
  Result<std::vector<DerivedObject>> suspend_derived();
  Status restore_derived(const std::vector<DerivedObject>& saved);
  static std::string view_check_sql(const std::string& view);
  Status create_derived(const DerivedObject& o);

  // local_renames.cpp
  Status map_local_columns();
  Result<std::string> local_rename_of(const std::string& table);
  Status map_missing_table(size_t i, std::vector<std::string>& conflicts);
  bool skipped(size_t i) const;
  // Whether `table` is held as a whole: by an earlier pull (a record with no key, MergeOptions::is_held) or
  // by this merge (hold_whole_table).
  bool held_whole(const std::string& table) const;
  // Holds `table` as a whole (a conflict of `kind`; `what` says why): the working copy keeps it as it is, and
  // nothing of it is merged or pushed until `resolve` (docs/conflicts.md, "Held conflicts").
  void hold_whole_table(const std::string& table, ConflictKind kind, std::string what);
  Result<std::string> remote_writes_of(const TableChanges& tc, const TableDesc& base,
                                       const std::vector<size_t>& columns);
  Result<bool> undo_local_renames_for(const std::string& sql);

  // foreign_keys.cpp
  Result<const std::vector<ForeignKey>*> foreign_keys();
  Result<std::vector<std::string>> foreign_key_tables();
  Result<std::set<Dangling>> dangling_references(const std::vector<std::string>& tables);
  Status settle_dangling_references(const std::vector<std::string>& tables, const std::set<Dangling>& before);
  Result<std::string> settle_dangling(const Dangling& d, bool& settled);
  Result<std::optional<ChildKey>> child_key(const Dangling& d);
  Result<std::optional<Value>> reference_in(db::Database& side, const Dangling& d, const std::string& column);
  Result<bool> restore_reference(db::Database& winner, const Dangling& d, const std::string& column,
                                 const std::string& parent, const Value& ours, const std::string& row);
  Status follow_children_of(const std::string& table, int64_t rowid);
  Result<bool> copy_row(db::Database& from, const std::string& table, const std::string& key,
                        const Value& value);

  // id_moves.cpp
  static Result<int64_t> max_rowid(db::Database& db, const TableDesc& table);
  Result<int64_t> next_free_key(size_t table_index);
  Result<std::vector<std::string>> move_row(size_t table_index, int64_t from);
  Status move_colliding_rows();
  Result<bool> records_events(size_t table_index);
  size_t writer_index(const TableWriter& w) const {
    size_t i = 0;
    while (i + 1 < m_writers.size() && m_writers[i].get() != &w) ++i;
    return i;
  }

  // row_rules.cpp
  static bool same_columns(const TableDesc& a, const TableDesc& b);
  static std::optional<RowChange> rebase_on_pushed(const RowChange& r, const RowChange& pushed);
  Status merge_table(size_t index);
  static MergeConflict make_conflict(const TableWriter& w, const RowChange& r, const char* kind,
                                     const std::optional<Row>& ours, std::vector<int> conflicting = {});
  ConflictDecision row_conflict(const TableWriter& w, const RowChange& r, ConflictKind kind,
                                const std::optional<Row>& ours, std::vector<int> conflicting = {});
  Status their_insert(TableWriter& w, const RowChange& r, const std::optional<Row>& ours);
  // Theirs' row change `r` by its kind (their_delete, their_update, their_insert).
  Status their_change(TableWriter& w, const RowChange& r, const std::optional<Row>& ours);
  Result<std::optional<Row>> read_ours(TableWriter& w, const RowChange& r);
  Status their_update(TableWriter& w, const RowChange& r, const std::optional<Row>& ours);
  Status their_delete(TableWriter& w, const RowChange& r, const std::optional<Row>& ours);
  Result<std::optional<std::vector<Value>>> row_key(const std::string& table, db::Database& locate,
                                                    const std::string& where, const Value& arg);
  Status report_row(const std::string& table, const std::vector<Value>& key, ConflictKind kind,
                    const std::string& about);

  // unique_clash.cpp
  struct UniqueHolder {
    std::vector<Value> key;
    std::string row;     // the key for messages: "id = 3"
    std::string values;  // the values it holds: "email='r1@x'"
  };
  using ValueOf = std::function<std::optional<Value>(const std::string& column)>;
  Result<std::vector<UniqueHolder>> unique_holders(db::Database& db, const std::string& table,
                                                   const ValueOf& value_of,
                                                   const std::vector<Value>& own_key);
  Result<bool> held_clash(TableWriter& w, const RowChange& r, const std::optional<Row>& ours, Status written);
  Error parent_cannot_come_back(db::Database& from, const std::string& parent, const std::string& key,
                                const Value& value, const std::string& why);

  // discarded.cpp
  static Result<std::string> dump_table_sql(db::Database& db, const std::string& table,
                                            const std::string& why);
  void note_discarded(const TableWriter& w, const RowChange& r, const char* kind, const std::string& sql);
  std::string discarded_script() const;

  db::Database& m_db;
  const Changeset& m_delta;
  const MergeOptions& m_options;
  ConflictHandler m_decide;
  bool m_stopped = false;  // a row conflict the policy stops: nothing is applied
  MergeReport m_report;
  std::string m_discarded;  // the body of the discarded-changes script (discarded.cpp)
  std::vector<std::unique_ptr<TableWriter>> m_writers;  // parallel to m_delta.tables
  std::optional<std::vector<ForeignKey>> m_foreign_keys;
  std::map<size_t, int64_t> m_next_key;     // per table index: the last key handed to a moved row
  std::map<size_t, bool> m_records_events;  // per table index: records_events(), once known
  std::unique_ptr<db::Database> m_theirs;
  std::unique_ptr<db::Database> m_base;
  std::set<std::string> m_pushed_objects;              // schema_object_key of what the push sent
  std::set<std::pair<std::string, int64_t>> m_follow;  // rows (lower-cased table, rowid) a settlement touched
  std::map<std::string, std::string> m_derived_ours;   // views and triggers set aside: key -> ours' SQL
  std::vector<DerivedObject> m_set_aside;              // the same, with their tables
  std::set<std::string> m_broken_views;                // those already failing to compile before the merge
  // The views and triggers whose merged version is not ours': key -> theirs' SQL (nullopt: dropped), and
  // the order in which they were decided.
  std::map<std::string, std::optional<std::string>> m_derived_final;
  std::vector<std::pair<std::string, std::string>> m_derived_order;
  std::vector<std::vector<std::string>> m_column_maps;  // per delta table: TableWriter's ours_names
  // Per delta table: its name in the working copy when a local RENAME TO changed it, "" when the working
  // copy dropped it (its rows are skipped), nullopt otherwise.
  std::vector<std::optional<std::string>> m_ours_tables;
  // Tables this merge holds as a whole (lower-cased; a column one side dropped while the other wrote it,
  // under hold): none of their schema changes or rows is applied. See held_whole().
  std::set<std::string> m_held_tables;
  // While set (merge_table), a write of theirs that a UNIQUE value refuses waits here to run again once the
  // rest of its table is written, instead of being a clash at once (held_clash).
  std::vector<RowChange>* m_defer = nullptr;
  // Per delta table index: the rows of the same table this copy pushed.
  std::map<size_t, PushedRows> m_pushed_rows;
};

}  // namespace turso_sync::merge
