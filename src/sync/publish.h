// `init --from FILE`: migration from plain SQLite (README, "Migration from plain SQLite"). Publishes an
// existing SQLite database into an empty remote as one transaction, in bounded memory, resumable after a
// crash; SyncContext::init then makes the replica and the working copy from the remote as usual.
//
//   upload     the rows of each table, in rowid (or key) order, go in parts of about Config::push_part_bytes
//   into a
//              staging table of ours on the remote (turso_sync_publish_<id>_<n>, created with the table's own
//              definition; rowids kept); each part is one transaction that also records its part receipt
//              (turso_sync_publish_parts), so a part sent again after a lost answer or a crash is recognised
//              and skipped.
//   apply      one batch: BEGIN IMMEDIATE; the remote still holds no user object; every part arrived; each
//              staging table renamed to its table (every row written once on the server), the tables without
//              rows created; indexes, views, triggers (after the rows: they must not fire), the AUTOINCREMENT
//              counters (sqlite_sequence), user_version, a push receipt (the remote's identity, and how a
//              lost answer is settled); the part receipts deleted; COMMIT.
//   resume     <state dir>/init-from.pending names the publish id, FILE and FILE's fingerprint: a new run on
//              the same, unchanged FILE sends only the parts the remote lacks; a run after the apply
//              committed finds its receipt and goes straight to init. Another FILE, or FILE changed, drops
//              the old staging tables and starts again.
// Not published: local objects (diff/local_objects.h: virtual tables and their shadow tables, the
// tables of Config::local_tables, the triggers and indexes that depend on them); each table and trigger is
// named in a warning.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "turso_sync/config.h"
#include "turso_sync/remote.h"
#include "turso_sync/status.h"
#include "turso_sync/sync.h"

namespace turso_sync {

// Publishes the SQLite database `from` into `remote`, which must hold no user object: otherwise
// ErrorKind::refused naming what it holds, and nothing changed. ErrorKind::usage when FILE cannot be
// published exactly (TEXT that is not valid UTF-8, named by table and row). Call with the state lock held.
Result<PublishReport> publish_database(RemoteClient& remote, const Config& config, const std::string& from,
                                       const ProgressCallback& progress);

// Forgets the marker of an interrupted publish, once init has made the replica and the working copy.
void forget_publish(const Config& config);

}  // namespace turso_sync
