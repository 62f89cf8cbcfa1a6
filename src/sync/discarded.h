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

// The SQL that turns the replica into the working copy (the local changes), with `title` as header comment.
Result<std::string> changes_as_sql(const std::string& replica, const std::string& working,
                                   const std::string& title);

// The SQL that applies `changeset` to its base, with `title` as header comment.
Result<std::string> changeset_as_sql(const Changeset& changeset, const std::string& title);

}  // namespace turso_sync
