// UNIQUE values on the push side (docs/conflicts.md, "Push: UNIQUE clashes"): a row change of the push that
// takes a UNIQUE value which a row of the remote keeps. The working copy freed the value (it deleted that
// row, or moved it to another value), but that change is not in this push: it is held (a delete/update, say),
// so the remote keeps the row and would refuse the whole batch. Found here first, before anything is sent,
// the row change is held (policy hold) and the rest of the push goes.
#pragma once

#include <string>
#include <vector>

#include "turso_sync/changeset.h"
#include "turso_sync/config.h"
#include "turso_sync/conflict.h"

namespace turso_sync {

struct LocalUniqueTaker {
  // The row as a held conflict of kind "unique": base and theirs the replica's row (empty for an insert),
  // ours the working copy's.
  HeldConflict row;
};

// The inserts and updates of `changeset` (replica -> working copy, held rows already left out) that write a
// value of a UNIQUE index (not the key; NULLs never clash) which the replica, the remote as last pulled,
// holds in a row at another key that `changeset` neither deletes nor changes in that index's columns. Best
// effort: an index the replica cannot be asked about (its columns were renamed by this push) is not checked;
// the server's own refusal stands then.
Result<std::vector<LocalUniqueTaker>> find_unique_takers(const Config& config, const Changeset& changeset);

// The order in which `updates` (of one table with a UNIQUE index), run one statement at a time, never meet
// a UNIQUE value that moves from one row to another within the push (contact 3 gives its address to contact
// 2): an update that writes a value which another update takes away (its old value of the same column) runs
// after it. TEXT compares case-insensitively in ASCII, so that a COLLATE NOCASE index is covered too (an
// order that was not needed costs nothing); NULLs never clash. Rows that swap values (a cycle) keep their
// order, and the remote refuses them as before. Indexes into `updates`.
std::vector<size_t> order_value_moves(const std::vector<RowChange>& updates);

}  // namespace turso_sync
