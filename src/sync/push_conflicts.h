// Naming what a refused push conflicts on (docs/protocol.md, "Outcomes"): every function reads the remote
// as it is now, best effort: when a read fails the conflict is still reported, only less precisely. Shared
// by the one-batch push (sync/push.cpp) and the staged push (sync/push_stage.cpp).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sync/push_batch.h"
#include "turso_sync/changeset.h"
#include "turso_sync/conflict.h"
#include "turso_sync/remote.h"
#include "turso_sync/sync.h"

namespace turso_sync {

// What differs between the remote row and the base values a guard (`o`: Kind::guard) expected, e.g.
// "subject is 'B' on the remote, expected 'A'", or that the row was deleted.
std::string explain_guard(RemoteClient& remote, const StepOrigin& o);

// The columns of "UNIQUE constraint failed: t.a, t.b" in a server's error message (empty when none).
std::vector<std::string> unique_clash_columns(const std::string& error);

// A UNIQUE constraint on other columns than the key: names the constraint and the remote row that holds the
// value of the row step `o` (row_columns/row_values). nullopt when the clash is on the key itself.
std::optional<std::string> explain_unique_clash(RemoteClient& remote, const StepOrigin& o,
                                                const std::string& error);

// A conflict named by its row only, without reading the remote: a guard's "the row changed on the remote",
// an insert's "a row with this key already exists on the remote".
PushConflict conflict_for_unexplained(const StepOrigin& o);
// The conflict of the step `o` that failed with `error` (a guard or a row statement), explained.
PushConflict conflict_for(RemoteClient& remote, const StepOrigin& o, const std::string& error);

// The rows of `changeset` the remote cannot take as they are (TEXT that is not valid UTF-8: JSON cannot carry
// it and the server would replace its bytes), as held conflicts of kind "refused" (ours: the local row, base
// and theirs: the replica's), each named by table and key, with `why` per row in the same order.
Result<std::vector<HeldConflict>> rows_the_remote_cannot_take(const Changeset& changeset,
                                                              std::vector<std::string>* why);
// The row changes of `table` in `changeset` that `which` selects, as held conflicts of kind "refused" (a
// statement the remote rejected: its own limits, e.g. "UPDATE of WITHOUT ROWID tables is not supported"),
// their changed columns the conflicting ones.
Result<std::vector<HeldConflict>> rows_the_remote_rejected(
    const Changeset& changeset, const std::string& table, const std::function<bool(const RowChange&)>& which);

// The conflict of a child row whose parent (`row.values` in `r.parent_columns`) is not on the remote;
// `known` false when that could not be read (the parent may be missing).
PushConflict missing_parent_conflict(const std::string& child, const ForeignReference& r,
                                     const ReferencingRow& row, bool known);
// The rows of a parent guard (`o`: Kind::parent_guard) whose parent is not on the remote.
std::vector<PushConflict> explain_missing_parents(RemoteClient& remote, const StepOrigin& o);

// After the first conflict stopped `batch` at `first_step`: every later step that would conflict too, found
// by running the steps' read-only probes against the remote as it is now (a probe that cannot run reports
// nothing). The first 50 guards are explained by reading the remote row.
void add_later_conflicts(RemoteClient& remote, const PushBatch& batch, size_t first_step,
                         std::vector<PushConflict>& conflicts);

// Says which objects differ between the remote's schema now and `base`, the replica's.
PushConflict explain_schema_guard(RemoteClient& remote, const BaseSchema& base);

}  // namespace turso_sync
