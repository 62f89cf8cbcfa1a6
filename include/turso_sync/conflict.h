// Conflicts between local changes and the remote's, and the policies that settle them (SPEC §6; user-facing
// rules in docs/conflicts.md). Policy belongs to the caller: the engine reports, the policy decides.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "turso_sync/value.h"

namespace turso_sync {

// What pull does when both sides changed the same thing.
enum class ConflictPolicy {
  abort,   // apply nothing, list the conflicts (exit 3)
  local,   // keep ours; it will be pushed
  remote,  // take theirs; ours is saved to .turso-sync/discarded-<time>.sql
};

// What pull does when both sides inserted a row with the same auto-assigned integer key.
enum class InsertCollision {
  move_local,  // move our row to a fresh key above both sides' maximum (foreign keys follow)
  conflict,    // report an insert/insert conflict
};

struct MergeConflict {
  std::string table;
  std::vector<Value> key;
  std::string
      kind;  // "update/update", "update/delete" (we updated, they deleted), "delete/update", "insert/insert"
  std::vector<std::string> columns;       // column names of the rows below
  std::vector<Value> base, ours, theirs;  // full rows; empty when the row does not exist on that side
  std::vector<int> conflicting_columns;   // update/update: the columns both sides changed differently
};

struct MovedRow {
  std::string table;
  int64_t from = 0;
  int64_t to = 0;
  std::vector<std::string> updated_references;  // "child.column" entries that were rewritten to follow
};

}  // namespace turso_sync
