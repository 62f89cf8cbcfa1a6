// Whether a new image of the remote can descend from the replica, for remotes without a push receipt
// (remote_identity.h: a remote turso-sync never pushed to has no identity to check). Without it, a
// TURSO_DATABASE_URL pointed at another database, or a database recreated or restored to an earlier point,
// would be merged as a teammate's deletes and inserts: every local row it lacks deleted from the working
// copy.
//
// Asked only when nothing else proves the lineage (no receipt known, and not an incremental page pull, whose
// frame-R proof shows the server's history holds the replica's). Refused (ErrorKind::refused, naming
// `init --force`) when:
//   - both are page images and the new one's schema cookie is lower: a database's schema cookie never goes
//     back (every schema change and VACUUM raise it);
//   - the replica holds at least 10 rows and the new image holds none of them unchanged (same table, same
//     rowid or key, the same values in the columns both have); fewer tell too little (all of a few rows are
//     often rewritten at once).
// Known limits: a remote on which every one of 10 or more rows was rewritten or deleted while the page
// history could not be followed (an SQL pull, a checkpoint) looks replaced too (`init --force` is then the
// way on, as the message says); a replaced database is not told from the replica's when the replica holds
// fewer than 10 rows, or shares a row with it at its schema version or above.
#pragma once

#include <optional>
#include <string>

#include "sync/state.h"
#include "turso_sync/config.h"
#include "turso_sync/remote.h"
#include "turso_sync/status.h"
#include "turso_sync/sync.h"

namespace turso_sync {

// `new_replica`: the remote's image just fetched (not yet merged).
Status check_remote_lineage(const Config& c, const std::string& new_replica, bool both_page_images);

// For a push to a remote without a receipt known (the first push to it through turso-sync): fetches the
// remote's image beside the replica (removed afterwards) and checks it as above, unless the page history
// proves it (an incremental or up-to-date page pull).
Status check_remote_before_push(RemoteClient& remote, const Config& c, const std::optional<SyncState>& state,
                                const ProgressCallback& progress);

}  // namespace turso_sync
