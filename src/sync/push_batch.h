// Turns a changeset (replica -> working copy) into the Hrana batch that applies it to the remote atomically
// and only if the remote still holds the base state of every row it touches (docs/protocol.md, "Push: one
// guarded batch"). A change set too large for one request is staged instead (sync/push_stage.h); its final
// batch shares the frame below (receipt, guards, triggers, schema statements, COMMIT/ROLLBACK) and replaces
// the per-row steps by set operations over the staged rows.
//
// One batch, every step conditioned on the previous one being ok:
//   0  BEGIN IMMEDIATE
//   1  CREATE TABLE IF NOT EXISTS turso_sync_pushes (...)      push receipts: "did my push land?"
//   2  INSERT INTO turso_sync_pushes VALUES (push id, time)
//      identity guard: fails unless the remote holds the         a replica of another database must not
//        receipt state.json knows                                 write its rows there
//   3  schema guard: fails unless the remote's schema is still the replica's
//      DROP TRIGGER IF EXISTS for every trigger of the remote     the rows already hold what triggers did
//        (as last pulled) and of the target
//      schema statements (changeset order; trigger changes are
//        done by the suspension and the restore)
//      per row: [guard] statement                                 guard = SELECT that fails unless the remote
//                                                                 row is exactly in its base state
//      CREATE TRIGGER for every target trigger
//      reference guards: no remote child still references a     a teammate's new child of a row this
//        row this batch deletes                                   push deletes would dangle
//      parent guards: every parent that this batch's inserted    a teammate's delete of a parent since the
//        or updated children reference is on the remote           last pull would leave them dangling
//   N  COMMIT
//   N+1 ROLLBACK, when BEGIN succeeded and COMMIT did not
// A guard is `SELECT json(CASE WHEN EXISTS (SELECT 1 FROM t WHERE <key> AND <base values>) THEN '1' ELSE 'x'
// END)`: json('x') raises "malformed JSON" on SQLite and on the Turso server alike, so the step fails and the
// chain stops. INSERTs need no guard: an existing key makes them fail. `--force`: no row guards; inserts and
// updates become an UPDATE of the key plus an INSERT ... WHERE NOT EXISTS (never INSERT OR REPLACE, which
// would delete other rows holding one of the row's UNIQUE values). Reference and parent guards stay with
// `--force`: local wins for the rows the changeset names, and it cannot settle a foreign key that another
// row (a teammate's child, a parent a teammate deleted) would leave dangling.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "turso_sync/changeset.h"
#include "turso_sync/remote.h"

namespace turso_sync {

inline constexpr const char* kPushReceiptTable = "turso_sync_pushes";

// Key or parent values, compared exactly (Value's total order): sets of the rows a guard checks.
struct ValuesLess {
  bool operator()(const std::vector<Value>& a, const std::vector<Value>& b) const {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i)
      if (int c = compare(a[i], b[i]); c != 0) return c < 0;
    return a.size() < b.size();
  }
};
using ValueTuples = std::set<std::vector<Value>, ValuesLess>;

// A declared foreign key of the working copy: `child` (`columns`) references `parent` (`parent_columns`:
// as declared, or the parent's PRIMARY KEY when the declaration names none). Composite keys have several
// columns, in declaration order.
struct ForeignReference {
  std::string child, parent;
  std::vector<std::string> columns, parent_columns;
};

// A row of a parent guard: an inserted or updated child row and the parent key values it references.
struct ReferencingRow {
  RowOp op = RowOp::insert;
  std::vector<Value> key;
  std::vector<std::string> key_names;
  std::vector<Value> values;  // in ForeignReference::columns order; none is NULL
};

// What a step of the batch does, for reporting which row a failing step was about.
struct StepOrigin {
  enum class Kind {
    control,
    identity_guard,
    schema_guard,
    schema,
    trigger,
    guard,
    row,
    reference_guard,
    parent_guard,
    // staged push (sync/push_stage.h): an upload part
    stage_part_receipt,  // the part's receipt: fails (UNIQUE) when the part already landed
    stage_table,         // a staging table created or rows staged into it
    // staged push: the final batch
    stage_parts_guard,   // every part of the push is staged on the remote
    stage_guard,         // every staged update and delete of `table` finds its row in the base state
    stage_rows,          // the staged deletes, updates or inserts (`op`) of `table`, as one statement
    stage_parent_guard,  // every parent the staged rows of `table` reference is on the remote
  };
  Kind kind = Kind::control;
  std::string table;
  RowOp op = RowOp::insert;
  std::vector<Value> key;
  std::vector<std::string> key_names;
  std::vector<std::string> guarded_columns;  // guard: the columns whose base values it checks
  std::vector<Value> expected;               // guard: those base values
  // insert/update steps: the row's columns and new values (to name the row holding a clashing UNIQUE value)
  std::vector<std::string> row_columns;
  std::vector<Value> row_values;
  std::string description;  // the statement, shortened (row: "the update of "t" [id=5]")
  // guard and guarded insert: a read-only statement whose one value is 1 when the step would pass on the
  // remote as it is now and 0 when it conflicts; lets a refused push list every conflict, not only the first.
  std::optional<SqlStatement> probe;
  // parent_guard: the foreign key, the rows it checks, and a read-only statement returning the referenced
  // values (one row per parent, ForeignReference::columns order) that are not on the remote.
  std::optional<ForeignReference> reference;
  std::vector<ReferencingRow> referencing;
  std::optional<SqlStatement> missing_parents;
};

struct PushBatch {
  std::vector<BatchStep> steps;
  std::vector<StepOrigin> origins;  // one per step
  int begin_step = 0;
  int commit_step = 0;
  int64_t row_changes = 0;
  size_t approx_bytes = 0;
};

// Appends steps to a batch, each conditioned on the previous one being ok (the chain stops at the first
// failure); counts the request's approximate size.
class PushBatchWriter {
 public:
  int add(SqlStatement stmt, StepOrigin origin);
  PushBatch& batch() { return m_batch; }
  PushBatch take() { return std::move(m_batch); }

 private:
  PushBatch m_batch;
};

// A user object of the replica's schema, exactly as the remote stored it.
struct SchemaObjectText {
  std::string type, name, sql;
};

// The rows, as last pulled, of a table the push drops: the remote must still hold exactly these, or the
// drop would take a teammate's rows along unseen. Up to kDroppedRowsListed rows are each checked by value;
// a larger table by its row count, rowid total and per-column byte totals (a change keeping all of them
// equal goes unnoticed; docs/protocol.md).
struct DroppedTableRows {
  TableDesc table;
  int64_t count = 0;
  std::vector<std::pair<std::vector<Value>, std::vector<Value>>>
      rows;                   // key, values; empty when over the limit
  std::vector<Value> totals;  // over the limit: total(rowid) then total(length(CAST(c AS BLOB))) per column
};
inline constexpr int64_t kDroppedRowsListed = 200;
inline constexpr size_t kParentsPerGuard = 200;

// What the last pull saw of the remote's schema.
struct BaseSchema {
  std::vector<SchemaObjectText> objects;  // user objects (internal ones excluded)
  int64_t user_version = 0;
  std::vector<DroppedTableRows> dropped;  // the tables the push drops
};

// The origin of a reference guard of `r` (single-column): no remote child row may reference a row the push
// deletes; its description says what to do.
StepOrigin reference_guard_origin(const ForeignReference& r);

// SELECT of the totals compared for a dropped table over kDroppedRowsListed rows (run on both sides).
std::string dropped_table_totals_sql(const TableDesc& table);

struct PushBatchOptions {
  bool force = false;     // local wins: no row or schema guards, upserts instead of inserts
  std::string push_id;    // unique id recorded in the receipt table
  std::string pushed_at;  // RFC 3339 time recorded with it
  // When set, the batch runs only if the remote holds this receipt (sync/remote_identity.h), also with
  // --force.
  std::string known_receipt;
  // A changeset whose batch would exceed this is not built as one batch (build_push_batch returns nullopt):
  // it is staged, in parts of about this size (sync/push_stage.h). Config::push_part_bytes.
  size_t max_batch_bytes = 6 << 20;
  // When set, the batch runs only if the remote's user objects (type, name, SQL) and user_version are
  // still exactly these: a schema changed on the remote since the last pull (a teammate's migration, a
  // trigger replaced, a table of the same name created) refuses the push (a conflict, "run pull") instead of
  // being undone or clashing halfway. The guard is the step right after the receipt.
  // Its triggers are also suspended during the batch (with the target's).
  std::optional<BaseSchema> base_schema;
  bool guard_schema = true;  // false: no schema guard (push --force)
  // The working copy's foreign keys. Before COMMIT, for each of them:
  // - single-column ones whose parent table the batch deletes rows of: a guard that the remote has no child
  //   row referencing a deleted row (a teammate's new child would be left dangling);
  // - every one whose child table the batch inserts rows of, or updates the key columns of: a guard that
  //   each parent those rows reference (values all non-NULL) is on the remote, unless the push writes that
  //   parent key itself (a teammate's delete since the last pull would leave the child dangling). Grouped
  //   per foreign key, up to kParentsPerGuard parents per step.
  // Also with --force.
  std::vector<ForeignReference> references;
};

// The SQL condition that the remote's user objects are exactly `schema` (with `args` to bind).
std::string schema_guard_condition(const BaseSchema& schema, std::vector<Value>& args);

// The frame of a push batch, shared by the one-batch push and the final batch of a staged push:
// open_push_batch adds BEGIN IMMEDIATE, the receipt, the identity guard and the schema guard;
// suspend_triggers_and_change_schema the triggers' suspension and the schema statements; after the rows,
// restore_push_triggers the target's triggers; after the reference guards, end_push_batch COMMIT and
// ROLLBACK. Triggers are suspended only when the changeset changes something.
void open_push_batch(PushBatchWriter& w, const PushBatchOptions& options);
void suspend_triggers_and_change_schema(PushBatchWriter& w, const Changeset& cs,
                                        const PushBatchOptions& options);
void restore_push_triggers(PushBatchWriter& w, const Changeset& cs);
void end_push_batch(PushBatchWriter& w);

// The names of a table's key in RowChange::key order ("rowid" or the alias column; the key columns).
std::vector<std::string> key_names(const TableDesc& t);
// The guard of an update or delete, for reporting: the columns it checks (an update's changed columns, every
// column of a delete) and their base values, with the row's key.
StepOrigin row_guard_origin(const TableDesc& t, const RowChange& row);
// An insert or update as a row step names it: its key, columns and new values (for UNIQUE clashes).
StepOrigin row_origin(const TableDesc& t, const RowChange& row);

// The one batch of a push; nullopt when it would exceed options.max_batch_bytes (the push is then staged).
// ErrorKind::usage when a value cannot be stored exactly on the remote (TEXT that is not valid UTF-8).
Result<std::optional<PushBatch>> build_push_batch(const Changeset& changeset,
                                                  const PushBatchOptions& options);

// The SQL of a batch with its arguments inlined, for `push --dry-run`.
std::string render_batch_sql(const PushBatch& batch);

}  // namespace turso_sync
