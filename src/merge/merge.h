// The three-way merge that pull applies to the working copy: the remote's changes since the last pull (the
// delta, base -> theirs) are replayed onto the working copy (ours) row by row, keeping local changes, merging
// columns, moving colliding auto-assigned keys, and reporting conflicts for the caller's policy. User-facing
// rules: docs/conflicts.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "db/sqlite.h"
#include "turso_sync/changeset.h"
#include "turso_sync/conflict.h"
#include "turso_sync/status.h"
#include "turso_sync/value.h"

namespace turso_sync {

struct MergeReport;

struct MergeOptions {
  ConflictPolicy on_conflict = ConflictPolicy::abort;
  InsertCollision on_insert_collision = InsertCollision::move_local;
  // The new replica (theirs), opened read-only when a row must move: a moved row's key is above theirs'
  // largest rowid (and AUTOINCREMENT counter), not only above the keys in the delta. "" = only the delta's
  // keys. A delta with schema changes needs it, and base_path (ErrorKind::internal otherwise).
  std::string theirs_path;
  // Called inside the transaction once the merge is complete and will be applied, just before COMMIT (not
  // when conflicts abort it). An error rolls everything back and is returned. Lets the caller make durable
  // first what must exist together with the merged state (e.g. the discarded-changes file).
  std::function<Status(const MergeReport&)> before_commit;
  // The old replica (the delta's base), opened read-only when the delta drops a table or rebuilds it without
  // keeping rows: the merge refuses (ErrorKind::conflict) when the working copy's rows of that table differ
  // from the base's, i.e. hold local changes that would be lost. "" = no such check.
  std::string base_path;
  // The changeset this copy has just pushed, when the merge is the pull that ends a push (nullptr otherwise).
  // Its schema objects: theirs is the server's form of ours, taken as it is, never a conflict. Its rows: the
  // remote held exactly the pushed values when the push committed, so they are the base of the three-way
  // rules for those rows instead of the old replica's; theirs equal to them is nothing to do, and a newer
  // local value (the application wrote while the push ran) stays a local change.
  const Changeset* pushed = nullptr;
  // Rows held by an earlier pull (ConflictPolicy::hold, sync/held.h): the merge leaves them as they are in
  // the working copy, whatever the policy, and lists them in MergeReport::held_rows. Empty = none.
  std::function<bool(const std::string& table, const std::vector<Value>& key)> is_held;
  // Finishing an interrupted pull whose merge may have committed already: a local row identical to a remote
  // insert may be that insert, merged before, so it is one row even in a table that records events.
  bool redo = false;
};

struct MergeReport {
  // False only when on_conflict == abort and there were conflicts: the working copy was not changed.
  bool applied = false;
  std::vector<MergeConflict> conflicts;  // every conflict, whatever the policy
  std::vector<MovedRow> moved;           // also filled when not applied (what would have moved)
  TableCounts taken;                     // theirs' row changes written to the working copy (fully or in part)
  int64_t merged_columns = 0;            // rows where both sides changed different columns (no conflict)
  // on_conflict == remote: a SQL script that, run on the merged working copy, writes back our values for
  // every row and column where theirs overrode ours (running it gives what on_conflict == local gives).
  // "" when nothing was discarded. Meant for .turso-sync/discarded-<time>.sql (mode 0600: it holds data).
  std::string discarded_sql;
  // Rows of the delta left alone because they are held (MergeOptions::is_held): table, key, columns, base
  // (theirs before), ours (the working copy's row) and theirs (the remote's row now); kind "held".
  // conflicting_columns: columns of theirs the merge could not take into the held row (a UNIQUE value
  // another local row holds), which are in dispute from then on.
  std::vector<MergeConflict> held_rows;
};

// Applies `delta` (the changeset base -> theirs) to the working copy `ours`, an open read-write connection
// that is not inside a transaction. Everything happens in one transaction that this function begins with
// BEGIN IMMEDIATE (so it waits, per the connection's busy timeout, for an application's write transaction)
// and commits only when the merge is applied:
//   1. the delta's schema changes, in order;
//   2. the working copy's triggers are dropped (the delta's rows already hold every effect of the remote's
//      triggers) and recreated from their exact SQL before the commit;
//   3. local rows whose rowid collides with a remote insert are moved (InsertCollision::move_local);
//   4. per table, theirs' deletes, updates and inserts with the three-way rules (docs/conflicts.md).
// Foreign-key enforcement is switched off on the connection for the duration (as the changeset's SQL script
// does: rows are reproduced exactly, dependents included) and restored afterwards.
//
// Returns the report; conflicts with on_conflict == abort are not an error (applied == false, nothing
// changed). Errors (the working copy is left unchanged): ErrorKind::busy when the write lock could not be
// taken (message names the file); ErrorKind::conflict when a schema change of the delta cannot be applied
// (the working copy changed the same object) or a row of theirs violates a constraint together with a local
// row, or a changed table is missing columns in the working copy; ErrorKind::local_db / sql for other
// failures of the working copy; ErrorKind::internal when `ours` is already inside a transaction, or the delta
// changes the schema and theirs_path or base_path is "".
Result<MergeReport> merge_into_working_copy(db::Database& ours, const Changeset& delta,
                                            const MergeOptions& options);

// The key by which the merge knows a schema object (e.g. those MergeOptions::pushed sent):
// "<type>:<name lower-cased>" (type "table", "index", "view", "trigger", or "pragma" for user_version).
std::string schema_object_key(const std::string& type, const std::string& name);

}  // namespace turso_sync
