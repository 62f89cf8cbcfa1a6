// Choosing the pull path (docs/protocol.md, "Which pull path"): the page protocol when the server offers
// complete, consistent images, else the SQL snapshot. One entry point for init and pull, so both fall back
// the same way.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sync/page_pull.h"
#include "sync/state.h"
#include "turso_sync/remote.h"
#include "turso_sync/sync.h"

namespace turso_sync {

struct FetchedReplica {
  std::string protocol;      // "pages" or "sql"
  std::string reason;        // why this path was taken (fallbacks name what failed)
  std::string revision;      // pages: the server revision of the image
  bool up_to_date = false;   // incremental pull found nothing new: no file was created
  bool incremental = false;  // the image was built from the replica plus the changed pages
  bool copies_made = false;  // a page bootstrap also wrote the `image_copies` asked for
  bool synced = true;        // false: the caller syncs `tmp_path` (see fetch_replica's `sync_incremental`)
  uint64_t pages_received = 0;
  // Incremental page pulls: the pages (0-based) where the new image differs from the replica.
  std::optional<std::vector<uint32_t>> changed_pages;
  uint64_t bytes_received = 0;
  int64_t requests = 0;
  // Filled for init (describe == true): what the new replica holds.
  int64_t tables = 0, rows = 0, other_objects = 0;
  std::vector<std::string> warnings;
};

enum class FetchMode {
  bootstrap,    // init: a whole new replica
  incremental,  // pull: changed pages on top of the replica when the state allows, else a whole new one
};

// Writes the remote's current state into `tmp_path` (a new file, fsynced; removed on error), or reports
// up_to_date. `state` is the state dir's content (may be empty). `describe` counts tables and rows. When
// the whole image comes by pages, each of `image_copies` (new files of ours) becomes a byte copy of it too
// (`copies_made`), cheaper than copying the replica later; otherwise they are not created. `on_changes`
// (may be empty) is called once, when the remote may hold something the replica lacks (update_page_image
// says when), so that the caller can start what only changes need while the pages are asked for. Without
// `sync_incremental`, an image made incrementally is not fsynced (`synced` false): the caller does it
// (db::sync_database_file) while it reads the image, before anything durable names the file.
Result<FetchedReplica> fetch_replica(RemoteClient& remote, const Config& config,
                                     const std::optional<SyncState>& state, FetchMode mode,
                                     const std::string& tmp_path, bool describe,
                                     const ProgressCallback& progress,
                                     const std::vector<ImageCopy>& image_copies = {},
                                     const std::function<void()>& on_changes = {},
                                     bool sync_incremental = true);

// The state record for a fetched replica, once it is in place at config.replica_path.
PullRecord pull_record(const Config& config, const FetchedReplica& fetched);

}  // namespace turso_sync
