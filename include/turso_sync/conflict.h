// Conflicts between local changes and the remote's, and the policies that settle them (user-facing
// rules in docs/conflicts.md). Policy belongs to the caller: the engine reports, the policy decides.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "turso_sync/status.h"
#include "turso_sync/value.h"

namespace turso_sync {

// What pull does when both sides changed the same thing.
enum class ConflictPolicy {
  abort,   // apply nothing, list the conflicts (exit 3)
  local,   // keep ours; it will be pushed
  remote,  // take theirs; ours is saved to .turso-sync/discarded-<time>.sql
  hold,    // apply everything else; keep ours in each conflicting row and hold it (never pushed, never
           // overwritten) until `resolve` settles it (docs/conflicts.md, "Held conflicts")
};
const char* to_string(ConflictPolicy policy);
// The policy named `text` ("abort", "local", "remote", "hold"): the one parser of the policy's text, for the
// CLI's --on-conflict, the C API's on_conflict and the state dir's pull.pending. ErrorKind::usage naming the
// choices for any other word (never a silent default).
Result<ConflictPolicy> parse_conflict_policy(std::string_view text);

// What pull does when both sides inserted a row with the same auto-assigned integer key.
enum class InsertCollision {
  move_local,  // move our row to a fresh key above both sides' maximum (foreign keys follow)
  conflict,    // report an insert/insert conflict
};
const char* to_string(InsertCollision collision);  // "move", "conflict"
// "move" or "conflict"; ErrorKind::usage naming the choices otherwise.
Result<InsertCollision> parse_insert_collision(std::string_view text);

// Every kind of disagreement between the working copy and the remote: one conflict model. A
// conflict's name reads "what you did / what the remote did". Each policy decides every kind
// (docs/conflicts.md, "What each policy does with each kind").
enum class ConflictKind {
  update_update,   // both changed the same column(s) of a row, differently
  update_delete,   // we updated a row, the remote deleted it
  delete_update,   // we deleted a row, the remote updated it
  insert_insert,   // both inserted a row with the same key and different values
  unique,          // a row of ours and one of the remote's hold the same UNIQUE value under different keys
  dangling,        // merged, a reference would point at a row that one side deleted
  schema,          // a schema object both sides changed differently (or dropped or rebuilt under edits)
  dropped_column,  // a column (or table) one side dropped or renamed while the other wrote into it
};
// "update/update", "update/delete", "delete/update", "insert/insert", "unique", "dangling reference",
// "schema", "dropped column": the `kind` of conflicts.json, `conflicts --json` and the reports. (A held
// row may also be of kind "refused": not a disagreement but a row the remote cannot take, which push sets
// aside under every policy; docs/conflicts.md, "Rows the remote cannot take".)
const char* to_string(ConflictKind kind);

struct MergeConflict {
  std::string table;
  std::vector<Value> key;
  std::string kind;  // to_string(ConflictKind); "held" for a row left alone because it is held
  std::vector<std::string> columns;       // column names of the rows below
  std::vector<Value> base, ours, theirs;  // full rows; empty when the row does not exist on that side
  std::vector<int> conflicting_columns;   // update/update: the columns both sides changed differently
  // The constraint or object it concerns, in words ("" when the row says it all): e.g. the columns one side
  // dropped while the other wrote them, for a table held as a whole.
  std::string about;
  // The key's form, as HeldConflict's, for a row of a table the delta does not change (a dangling
  // reference's child, say); empty key_names: the delta's table says.
  bool keyed_by_rowid = true;
  std::vector<std::string> key_names;
};

struct MovedRow {
  std::string table;
  int64_t from = 0;
  int64_t to = 0;
  std::vector<std::string> updated_references;  // "child.column" entries that were rewritten to follow
};

// A conflicting row held by ConflictPolicy::hold, as recorded in <state dir>/conflicts.json. The working copy
// keeps `ours` for it; push and sync skip it until SyncContext::resolve() settles it.
struct HeldConflict {
  std::string table;
  bool keyed_by_rowid = true;          // the key is the rowid (see KeyKind in changeset.h)
  std::vector<std::string> key_names;  // for messages: the rowid's alias column (or "rowid"), else the
                                       // PRIMARY KEY columns in key order
  std::vector<Value> key;
  std::string kind;                       // as MergeConflict::kind
  std::vector<std::string> columns;       // column names of the rows below
  std::vector<Value> base, ours, theirs;  // empty when the row does not exist on that side
  std::vector<int> conflicting_columns;   // update/update: the columns both sides changed differently
  std::string about;                      // as MergeConflict::about
  std::string since;                      // RFC 3339 UTC: when the conflict was first held
  std::string theirs_changed_at;          // when the remote changed the row again while held ("" never)
  std::string ours_changed_at;            // when the application changed the held row again ("" never)
};

enum class Resolution { ours, theirs };

struct ResolveOptions {
  Resolution take = Resolution::ours;
  std::string table;              // "" = every table
  std::vector<std::string> keys;  // "" = every key; else keys as text: "5", "abc", "a,b" (composite keys)
};

struct ResolvedConflict {
  std::string table;
  std::vector<Value> key;
  // "ours": the next push sends the local row; "theirs": the remote's row was written into the working copy;
  // "agreed": both sides already held the same row.
  std::string outcome;
  bool theirs_changed = false;  // the remote changed the row again since it was held (re-checked)
};

struct ResolveReport {
  std::vector<ResolvedConflict> resolved;
  std::string discarded_path;  // --theirs: where the local versions were saved ("" when none)
  int64_t still_held = 0;      // held conflicts left after this call
  // --theirs: rows of the working copy that referenced a row the remote does not have, which --theirs
  // removed: each took the remote's version as last pulled, or was removed when the remote has none (saved
  // to discarded_path with the rest).
  int64_t dependents = 0;
};

}  // namespace turso_sync
