// Staged push (docs/protocol.md, "Push: staged"): a change set too large for one request goes to the remote
// in parts, each its own small transaction, into staging tables of ours; then ONE final batch applies all of
// it with set operations over the staged rows. The remote shows all of a push or none of it, and every
// guard holds at the moment the rows are applied.
//
// On the remote, per push id P (32 hex digits):
//   turso_sync_push_parts (push_id, part, staged_at)  one receipt per staged part, PRIMARY KEY (push_id,
//   part):
//                                                     a part sent again after a lost answer fails on it and
//                                                     is known to have landed
//   turso_sync_stage_P_<n>                            the row changes of the changeset's n-th table:
//     seq INTEGER PRIMARY KEY   the row's index among the table's changes (inserts keep this order)
//     op TEXT                   'i' insert, 'u' update, 'd' delete
//     m TEXT                    one character per column: '1' where an update changes it; every column of a
//                               delete is '1' (its guard checks the whole row)
//     k0 … k(K-1)               the key: the rowid, or the declared key columns in key order
//     n0 … n(C-1)               new values: every column of an insert; of an update, the changed columns
//                               and the columns of its foreign keys (all of them with --force); else NULL
//     b0 … b(C-1)               base values: the guarded columns of an update or delete; else NULL
//   The k, n and b columns are declared without a type, so every value keeps its storage class; values are
//   bound as parameters (REALs as exact expressions), as in the one-batch push.
//   A table has at most 2000 columns (SQLite's SQLITE_MAX_COLUMN): when 3 + K + 2C is more, the n and b
//   columns that do not fit go, in that order, to continuation tables turso_sync_stage_P_<n>_<j> (j = 1, 2,
//   …), each `seq INTEGER PRIMARY KEY` and up to 1999 of them; a staged row has one row in each, joined on
//   seq (sync/push_stage_sql.h, StageLayout). A table of 2000 columns has two continuations.
//
// Upload part (one /v2/pipeline batch): BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS turso_sync_push_parts;
// INSERT its receipt; per table: CREATE TABLE IF NOT EXISTS its staging tables, multi-row INSERTs (the same
// rows into each); COMMIT; ROLLBACK when COMMIT did not run.
//
// Final batch: the frame of sync/push_batch.h (receipt, identity guard, schema guard, triggers suspended,
// schema statements), a parts guard (all N part receipts present), then per table: a guard (fails unless
// every staged update and delete finds its remote row in its base state; its terms a balanced tree, SQLite's
// expression depth), DELETE … IN (staged deletes), UPDATE … FROM staging, INSERT … SELECT staged inserts
// ORDER BY seq (an existing key fails it: a conflict); `--force`: no guard, UPDATE of every staged insert and
// update plus INSERT … WHERE NOT EXISTS. A table with continuations is read by SELECTs as a join on seq, and
// by UPDATE … FROM as a derived table of only the columns it sets (SQLite makes one of the FROM clause, all
// its columns counted): one UPDATE per group of at most 2000 - 2 - K columns. A rowid table without an alias
// of 2000 columns inserts all but one nullable column (the rowid makes 2001 result columns) and sets that one
// by an UPDATE right after. Then the triggers restored, the reference guards (no remote child references a
// staged delete) and the parent guards (every parent a staged insert or key update references is on the
// remote), computed on the server; DROP of the staging tables and DELETE of the part receipts; COMMIT;
// ROLLBACK.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sync/push_batch.h"
#include "turso_sync/changeset.h"
#include "turso_sync/remote.h"
#include "turso_sync/sync.h"

namespace turso_sync {

inline constexpr const char* kStagePartsTable = "turso_sync_push_parts";
inline constexpr const char* kStageTablePrefix = "turso_sync_stage_";
// Staged parts of a push id whose newest part is older than this were left by a killed push: any copy may
// drop them (docs/protocol.md).
inline constexpr int kAbandonedStageHours = 24;

// "turso_sync_stage_<push id>_<table index>": the first staging table of a table (its continuations add
// "_<j>").
std::string stage_table_name(const std::string& push_id, size_t table_index);

// The upload parts of a staged push, built one at a time (memory holds one part).
class StagePartBuilder {
 public:
  // `cs` and `options` must outlive the builder. Parts hold about `part_bytes` each (at least one row).
  StagePartBuilder(const Changeset& cs, const PushBatchOptions& options, size_t part_bytes);
  // The next part (numbered from 1), nullopt after the last. ErrorKind::usage for a value the remote cannot
  // store exactly (TEXT that is not valid UTF-8) or a table that cannot be staged (stage::check_stageable).
  Result<std::optional<PushBatch>> next();
  // Whether every part can be built (the errors next() would return), before anything is sent.
  Status check() const;
  int parts_built() const { return m_part; }
  // Row changes put into the parts built so far, and in the whole change set (for progress).
  int64_t rows_built() const;
  int64_t rows_total() const;

 private:
  const Changeset& m_cs;
  const PushBatchOptions& m_options;
  size_t m_part_bytes;
  size_t m_table = 0, m_row = 0;
  std::optional<RowCursor> m_cursor;  // over the rows of table m_table, at m_row
  int m_part = 0;
};

// The final batch, for `parts` staged parts.
Result<PushBatch> build_stage_apply_batch(const Changeset& cs, const PushBatchOptions& options, int parts);

// Uploads every part. A part whose answer is lost is sent again (its receipt makes a landed one fail
// harmlessly); BEGIN refused (another transaction open) is retried with backoff. Returns the number of parts.
// On error nothing of the push is applied; the staging tables may remain (settle_staged_push drops them).
// `progress` (may be empty) is told before each part goes out: phase "push", the parts sent, an estimate of
// their number, rows and bytes.
Result<int> upload_staged_parts(RemoteClient& remote, StagePartBuilder& parts,
                                const ProgressCallback& progress);

// The conflicts of a refused final batch (`apply`, failed at step `failed` with `message`): read-only
// probes joining the staged rows with the remote tables list every conflicting row. Never empty.
std::vector<PushConflict> staged_conflicts(RemoteClient& remote, const Changeset& cs,
                                           const PushBatchOptions& options, const PushBatch& apply,
                                           size_t failed, const std::string& message);

// Settles the staged rows of push `push_id` whose final batch did not (or may not) commit: one batch that,
// unless its receipt is on the remote, drops its staging tables and part receipts. A final batch of that
// push arriving later fails then (its parts guard), so the decision is final. Returns true when the receipt
// is there (the push committed: nothing was dropped), false when the staging is gone (or there was none).
Result<bool> settle_staged_push(RemoteClient& remote, const std::string& push_id);

// Drops the staging of pushes abandoned for more than kAbandonedStageHours (killed copies), never that of a
// push in progress. Best effort: failures are ignored. Returns the number of pushes dropped.
int drop_abandoned_stages(RemoteClient& remote);

}  // namespace turso_sync
