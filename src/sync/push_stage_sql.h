// The staging tables of a staged push (sync/push_stage.h) and the SQL that reads them: where each staged
// value lies (one table, or several joined on seq for a wide table), the row and guard conditions shared by
// the final batch (push_stage_apply.cpp) and the conflict probes (push_stage.cpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sync/push_batch.h"
#include "turso_sync/changeset.h"

namespace turso_sync::stage {

// Aliases in the final batch's statements: `turso_sync_` names are never user tables, so they cannot clash
// with the table they are joined to. kS is a table's staged rows (its first staging table, or a derived
// table of them), kS followed by j its j-th continuation table.
inline constexpr const char* kS = "turso_sync_s";
inline constexpr const char* kP = "turso_sync_p";  // the parent table of a parent guard
// SQLite's default SQLITE_MAX_COLUMN: the most columns of a table, of a result set and of the derived table
// that UPDATE … FROM makes of its FROM clause.
inline constexpr size_t kMaxColumns = 2000;

size_t key_width(const TableDesc& t);

// Where the staged values of a table lie. Its value slots are n0 … n(C-1), then b0 … b(C-1). The first
// staging table holds seq, op, m, k0 … k(K-1) and as many slots as fit in kMaxColumns; each continuation
// table j (1, 2, …) holds seq and the next kMaxColumns - 1 slots. A table of up to about 997 columns has no
// continuation (the format of narrower tables is unchanged); one of 2000 columns has two.
class StageLayout {
 public:
  explicit StageLayout(const TableDesc& t);
  size_t tables() const { return m_tables; }
  size_t columns() const { return m_columns; }
  // The slot of column c's new value / base value, and the staging table holding a slot.
  size_t new_slot(size_t c) const { return c; }
  size_t base_slot(size_t c) const { return m_columns + c; }
  size_t table_of(size_t slot) const;
  // "n5" / "b5", and that column qualified by its table's alias ("turso_sync_s.n5", "turso_sync_s1.b5").
  std::string slot_name(size_t slot) const;
  std::string ref(size_t slot) const;
  // The column definitions of staging table j.
  std::string columns_sql(size_t j) const;

 private:
  size_t m_key_width = 0, m_columns = 0, m_first = 0, m_tables = 1;
};

// "turso_sync_stage_<push id>_<index>" (j = 0), "turso_sync_stage_<push id>_<index>_<j>" (continuations).
std::string stage_table_part_name(const std::string& push_id, size_t index, size_t j);

// What the staged rows of one table hold, for choosing its statements.
struct StagedTable {
  size_t index = 0;
  const TableDesc* table = nullptr;
  StageLayout layout;
  std::vector<std::string> stages;  // quoted staging table names, the first one and its continuations
  std::string target;               // quoted table name
  bool inserts = false, updates = false, deletes = false;
  std::vector<bool> updated;            // columns some update changes
  std::optional<std::string> one_mask;  // the mask every update shares, if they all share one
  bool mixed_masks = false;

  // kS.n<c> / kS.b<c> wherever they lie (use with from()).
  std::string n(size_t c) const { return layout.ref(layout.new_slot(c)); }
  std::string b(size_t c) const { return layout.ref(layout.base_slot(c)); }
  // The staged rows for a FROM clause: the first staging table AS kS, joined with its continuations on seq.
  // Only a SELECT may read it (SQLite's UPDATE … FROM counts every column of a join: see derived()).
  std::string from() const;
  // The staged rows as a derived table AS kS of op, m, the key and the new values of `columns` (at most
  // kMaxColumns - 2 - key width of them), under the names from() gives them: for UPDATE … FROM.
  std::string derived(const std::vector<size_t>& columns) const;
};

// A rowid table without an alias column of 2000 columns: its staged inserts leave out this column (the last
// one that is nullable or has a default; nullopt when none is) and set it right after: the rowid and 2000
// columns are one column too many for the result set of INSERT … SELECT. nullopt for every other table.
std::optional<size_t> deferred_insert_column(const TableDesc& t);
// Whether the changes of `t` can be staged: ErrorKind::usage naming the table when they cannot (a key of
// about 2000 columns; a table needing a deferred insert column without one).
Status check_stageable(const TableDesc& t);

Result<StagedTable> describe_staged(const Changeset& cs, size_t index, const std::string& push_id);

// `target`'s key equals the staged row's: "T".rowid = turso_sync_s.k0, or "T"."a" = turso_sync_s.k0 AND ….
// The target column is on the left, so its affinity and collation apply, as with a bound key.
std::string key_match(const TableDesc& t, const std::string& target);
// The condition that a staged update or delete finds its row in its base state (the guard; the probe). Its
// terms are joined as a balanced tree (SQLite's expression depth, for 2000 columns).
std::string guard_holds(const StagedTable& s);
// Staged rows of the child table `s` of a foreign key over `cols` that reference a parent: inserts, and
// updates changing a column of the foreign key; with every referencing value non-NULL.
std::string referencing_rows(const StagedTable& s, const std::vector<size_t>& cols);
std::string parent_missing(const StagedTable& s, const ForeignReference& r, const std::vector<size_t>& cols);

}  // namespace turso_sync::stage
