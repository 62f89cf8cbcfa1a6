// Which remote the replica belongs to. A replica is the base of a three-way merge: pulled from another
// database (TURSO_DATABASE_URL changed, a typo, a database restored to an earlier point), every row it holds
// that the other database lacks would look like a remote deletion and be deleted from the working copy.
//
// The identity is a push receipt (push_batch.h): every push adds a row with a unique id to the remote's
// turso_sync_pushes, and receipts are never removed. state.json keeps one receipt known to be on the remote
// (the newest one seen by the last init, pull or push). A pull that would merge changes, and every push (a
// guard step of its batch), first checks that the remote still holds it; a remote that has never been pushed
// to by turso-sync has no receipt, and so no identity to check (docs/reliability.md).
#pragma once

#include <optional>
#include <string>

#include "turso_sync/config.h"
#include "turso_sync/remote.h"
#include "turso_sync/status.h"

namespace turso_sync {

// What the remote holds of the receipts: whether `known` is among them, and the newest one ("" when none).
struct RemoteReceipts {
  bool holds_known = false;
  std::string newest;
};

// One small read (safe to retry). `known` may be empty (holds_known is then true).
Result<RemoteReceipts> read_remote_receipts(RemoteClient& remote, const std::string& known);

// The way on from a refused remote, for the messages that refuse one: "run `turso-sync init --force`: it
// downloads this database and first saves the working copy's local changes to <state
// dir>/discarded-<time>.sql".
std::string init_force_way_on(const Config& c);

// The refusal when the remote lacks receipt `known`: names the URL, the replica and what to do.
Error another_remote_error(const Config& c, const std::string& known);

// Reads the receipts and refuses (ErrorKind::refused) when the remote does not hold state.json's receipt.
// Returns the newest receipt, to be recorded with the pull.
Result<std::string> check_same_remote(RemoteClient& remote, const Config& c);

}  // namespace turso_sync
