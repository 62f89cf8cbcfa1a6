// The universal pull path (docs/protocol.md, "SQL snapshot"): copies the remote's user schema and rows into a
// new local SQLite file via SQL over Hrana, paged by rowid or primary key so each response stays a few MB and
// memory stays bounded.
//
// Exactness: every column is selected through an encoding expression, because JSON cannot carry TEXT that is
// not valid UTF-8 (the server substitutes U+FFFD) nor infinite REALs (the server sends null). TEXT travels as
// CAST(c AS BLOB) and infinities as NULL; one extra column per row holds a type tag per column
// ('t' text, 'P' +Inf, 'M' -Inf, '.' other) that restores them.
#pragma once

#include <string>
#include <vector>

#include "turso_sync/remote.h"
#include "turso_sync/sync.h"

namespace turso_sync {

struct SnapshotStats {
  int64_t tables = 0;
  int64_t rows = 0;
  int64_t other_objects = 0;
  uint64_t bytes_received = 0;
  int64_t requests = 0;
  std::vector<std::string> warnings;
};

// Downloads into `path`, which must not exist; on error `path` is removed. The file is complete and durable
// (fsynced) on success. Target response size per page: `page_bytes`.
Result<SnapshotStats> download_snapshot(RemoteClient& remote, const std::string& path,
                                        const ProgressCallback& progress, size_t page_bytes = 2 << 20);

}  // namespace turso_sync
