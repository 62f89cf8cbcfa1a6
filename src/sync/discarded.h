// Saving local changes before they are discarded (reset, copy --force, init --force, pull
// --on-conflict=remote): nothing a user wrote is lost without a file that restores it.
#pragma once

#include <string>

#include "turso_sync/changeset.h"
#include "turso_sync/config.h"
#include "turso_sync/status.h"

namespace turso_sync {

// Saves `sql` as <state dir>/discarded-<time>.sql (mode 0600, atomically); returns its path.
Result<std::string> save_discarded(const Config& config, const std::string& sql);

// Saves the SQL that turns `base` into `target` (e.g. the replica into the working copy: the local changes),
// with `title` as header comment, as <state dir>/discarded-<time>.sql (mode 0600, atomically, streamed:
// never whole in memory); returns its path. Errors: ErrorKind::io when the file cannot be written; those of
// diff_databases() when a file cannot be read.
Result<std::string> save_discarded_changes(const Config& config, const std::string& base,
                                           const std::string& target, const std::string& title);

}  // namespace turso_sync
