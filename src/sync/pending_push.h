// A push in flight, made durable so that a crash at any point is settled by the next command: the marker
// <state dir>/push.pending holds the push id (its receipt row on the remote tells whether it committed), and
// push.pending.sql what it sends, as the SQL that turns the replica into the pushed state (written first).
// A pull after a push that committed, but whose own pull never ran (killed, answer lost, remote gone), uses
// that changeset as PullOptions::pushed: the pushed values are the push's own, never a conflict with itself,
// and what the application wrote since stays a local change.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "turso_sync/changeset.h"
#include "turso_sync/config.h"
#include "turso_sync/remote.h"
#include "turso_sync/status.h"

namespace turso_sync {

std::string push_marker(const Config& c);

// Writes push.pending.sql (what `sent` changes), then the marker with `push_id`, each atomically.
Status save_pending_push(const Config& c, const std::string& push_id, const Changeset& sent);
// Removes the marker, then the SQL (no error: both may be missing).
void clear_pending_push(const Config& c);

// Whether the batch carrying receipt `id` committed on the remote. Safe to retry (a read).
Result<bool> receipt_exists(RemoteClient& remote, const std::string& id);

// The changeset the pending push sent, rebuilt by applying push.pending.sql to a copy of the replica and
// diffing (only on this recovery path; a normal push keeps it in memory). nullopt when no SQL is saved or it
// no longer applies to the replica (a note in `notes` then; the pull proceeds as a plain three-way merge).
std::optional<Changeset> load_pending_push(const Config& c, std::vector<std::string>& notes);

// For a pull: a pending push that never committed is forgotten (its changes are still local changes; rows it
// staged on the remote are dropped: settle_staged_push); one that committed is loaded into `pushed` (true is
// returned: clear it once the pull has applied).
Result<bool> settle_pending_push(const Config& c, RemoteClient& remote, std::optional<Changeset>& pushed,
                                 std::vector<std::string>& notes);

}  // namespace turso_sync
