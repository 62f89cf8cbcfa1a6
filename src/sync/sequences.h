// AUTOINCREMENT counters across copies (docs/conflicts.md, "AUTOINCREMENT"): a counter never goes backwards
// on any copy. SQLite raises a table's sqlite_sequence row on INSERT, but not when a row's rowid is changed
// by UPDATE (a local row the merge moves to a fresh id), nor when another copy's counter moved (a teammate
// inserted rows, then deleted them): both would let the application reuse an id AUTOINCREMENT exists to
// protect, and the next push send the new row as an update of the old one.
#pragma once

#include <string>
#include <vector>

#include "db/sqlite.h"
#include "turso_sync/status.h"

namespace turso_sync {

// Raises the counter of each of `tables` in `working` (inside the caller's transaction) to the largest of its
// own, the one `theirs` holds (nullptr: none), and the table's largest rowid. Tables with no counter on
// either side (not AUTOINCREMENT, or never inserted into) are left alone.
Status carry_autoincrement_counters(db::Database& working, db::Database* theirs,
                                    const std::vector<std::string>& tables);

}  // namespace turso_sync
