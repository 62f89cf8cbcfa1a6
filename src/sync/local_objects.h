// Local objects in the sync operations (diff/local_objects.h says which objects stay local): the diff options
// that leave them out, and the full-text indexes a pull keeps in step with the rows it wrote.
#pragma once

#include <string>
#include <vector>

#include "db/sqlite.h"
#include "turso_sync/changeset.h"
#include "turso_sync/config.h"
#include "turso_sync/diff.h"

namespace turso_sync {

// The options of a pull's delta (replica -> new replica): local_diff_options(c) and the names of the working
// copy's own local objects, so that a remote object of such a name is never pulled over the local one.
Result<DiffOptions> delta_diff_options(const Config& c);

// After a merge wrote `delta` into `working` (inside its transaction, the application's triggers set aside
// while it wrote): every external-content full-text index whose content table the delta touched is rebuilt,
// so that each copy's index follows the rows its copy received. Returns the indexes rebuilt.
Result<std::vector<std::string>> follow_local_indexes(db::Database& working, const Changeset& delta);

}  // namespace turso_sync
