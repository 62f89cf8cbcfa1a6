// The page pull path (docs/protocol.md "Page protocol"): the replica as a byte image of
// the remote's pages, fetched with `POST /pull-updates`, from scratch (bootstrap) or as the pages changed
// since the stored revision (incremental).
//
// Never trust an incomplete or inconsistent image: every check that fails makes the result `unavailable`
// with a reason (the caller then re-bootstraps, or takes the SQL path), and nothing is written over the
// replica. What is checked:
//   bootstrap    every page 0..db_size-1 arrived, each 4096 bytes, page 1 is an SQLite header with page size
//                4096, no virtual table, then the new file's structure (sync/image_check.h; `PRAGMA
//                quick_check` for a layout that check does not cover).
//   incremental  the revision did not move backwards (decimal revisions), the server's history still holds
//                the replica's last revision R (the pages of frame R, asked for again pinned at R, are
//                byte-identical to the replica's), new pages past the old size all arrived; for opaque
//                revisions, a sample of unchanged pages read back at the new revision equals the image.
// Local failures (I/O, SQLite) and interruption are errors, not `unavailable`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "db/sqlite.h"
#include "sync/replica_spare.h"
#include "turso_sync/remote.h"
#include "turso_sync/sync.h"

namespace turso_sync {

struct PageImageResult {
  enum class Outcome { written, up_to_date, unavailable };
  Outcome outcome = Outcome::unavailable;
  std::string reason;    // unavailable: why, for the report and `status`
  std::string revision;  // written / up_to_date: the server revision the image is at
  uint64_t db_size = 0;  // pages
  uint64_t pages_received = 0;
  // written by update_page_image: the pages (0-based, sorted) where the image differs from the replica.
  std::optional<std::vector<uint32_t>> changed_pages;
  // written by bootstrap_page_image: the rows of each rowid table by root page, as its check counted them
  // (empty when quick_check checked the image instead).
  std::map<uint32_t, int64_t> rows_by_root;
};

// Copies the replica into the working copy (db::copy_database), then gives the copy's sqlite_schema the names
// SQLite itself would have written. A page image holds the server's sqlite_schema, whose `name` and
// `tbl_name` the server lower-cases while the SQL keeps the original case ("t1 accounts" for CREATE TABLE
// "T1 Accounts"); SQLite's own DDL matches those columns by exact text (DROP TABLE "T1 Accounts" deletes
// `WHERE tbl_name = 'T1 Accounts'`), so the application's next migration on such a file would leave stale
// schema rows behind. The replica itself stays a byte image of the remote.
Status copy_replica_into(const std::string& replica, db::Database& working);

// Creates a new working copy file at `path` (which must not exist) with the replica's content and SQLite's
// own schema names, as copy_replica_into would: a byte copy of the file when the replica is a
// rollback-journal database with nothing pending (page images always are), else SQLite's backup. Fsynced; the
// caller renames it into place.
Status create_working_copy_file(const std::string& replica, const std::string& path);

// Makes `path`, a fsynced byte copy of a page image (bootstrap_page_image's `copies`), a working copy as
// create_working_copy_file would have: SQLite's own schema names, written through SQLite (durably).
Status finish_working_copy_file(const std::string& path);

// A byte copy of a page image, made beside it by bootstrap_page_image: a new file of ours, not yet in place.
// A working copy is fsynced; a spare need not be (sync/replica_spare.h).
struct ImageCopy {
  std::string path;
  bool fsync = true;
};

// Downloads every page into a new file at `path` (removed first; removed again unless written). On success
// the file is complete, checked (sync/image_check.h, else PRAGMA quick_check) and fsynced, and each of
// `copies` is a byte copy of it, written once the image is whole.
Result<PageImageResult> bootstrap_page_image(RemoteClient& remote, const std::string& path,
                                             const std::vector<ImageCopy>& copies,
                                             const ProgressCallback& progress);

// Brings the image `replica` (at `from_revision`) to the server's latest revision: written = `path` holds a
// copy of the replica with the changed pages applied (fsynced unless `sync` is false); up_to_date = nothing
// changed, no file was created; unavailable = the caller must re-bootstrap. `replica` is never modified. With
// a `spare` (replica_spare.h), the image is made from it (renamed to `path`, so it is consumed) instead of a
// copy of the whole replica. With frame-count revisions, the request that proves the server's history
// continues the replica's is sent at the same time as the first, on a connection of its own. `on_changes`
// (may be empty) is called once: with frame counts, as the first request is sent (its answer may show
// changes), else once that answer shows a newer revision; the caller may start a request of its own
// meanwhile.
Result<PageImageResult> update_page_image(RemoteClient& remote, const std::string& replica,
                                          const std::string& from_revision, const std::string& path,
                                          const std::optional<SpareImage>& spare,
                                          const ProgressCallback& progress,
                                          const std::function<void()>& on_changes = {}, bool sync = true);

// One small request for page 1 alone: "" when the server serves it (a bootstrap may be complete), else why
// not. Used before a bootstrap when the last one found pages unavailable, so a server that keeps offering
// partial images costs a 4 KB request per pull instead of a partial download.
Result<std::string> probe_first_page(RemoteClient& remote);

// Whether the server has a revision newer than `revision`, asked with one small request (page 1 selected, so
// an answer costs at most one page): the server's revision, "" when the page path cannot tell (the caller
// then runs a pull to find out). `wait` > 0 lets a server that long-polls hold the request that long while
// nothing is new.
struct RevisionCheck {
  std::string server_revision;  // "" when unknown
  bool changed = false;         // the server's revision differs from `revision`
};
Result<RevisionCheck> check_revision(RemoteClient& remote, const std::string& revision, uint32_t wait_ms);

// Identifies one version of a file (inode, size, modification time): stored with the revision, so a replica
// replaced by any other path (or a crash between the rename and the state write) is never taken for the
// image of that revision. "" when the file does not exist.
std::string replica_fingerprint(const std::string& path);

}  // namespace turso_sync
