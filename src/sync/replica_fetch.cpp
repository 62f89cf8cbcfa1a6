#include "sync/replica_fetch.h"

#include <unistd.h>

#include <fmt/format.h>

#include "db/schema.h"
#include "db/sqlite.h"
#include "diff/page_scan.h"
#include "sync/page_pull.h"
#include "sync/replica_spare.h"
#include "sync/snapshot.h"
#include "util/fs.h"
#include "util/text.h"

namespace turso_sync {

namespace {

// Tables, rows and other objects of a page image, and the same warnings as the SQL path. The rows of a
// rowid table are those its check counted (`rows_by_root`), else counted from the leaf pages' cell counts
// (the image has been checked): SQLite's count(*) reads every page through its cache, several times slower
// on a large image.
Status describe_image(const std::string& path, const std::map<uint32_t, int64_t>& rows_by_root,
                      FetchedReplica& out) {
  db::Database db = TS_TRY(db::Database::open(path, db::OpenMode::read_only));
  auto objects = TS_TRY(db::read_schema(db));
  auto pages = TS_TRY(diff::PageFile::open(db, "main"));
  TS_TRY(pages->load_wal());
  for (const auto& o : objects) {
    if (o.type != "table") {
      ++out.other_objects;
      continue;
    }
    ++out.tables;
    db::TableInfo info = TS_TRY(db::read_table_info(db, o.name));
    std::optional<int64_t> rows;
    if (!info.without_rowid) {
      auto root =
          db.prepare("SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE");
      if (root.ok() && root->bind(1, Value::text(o.name)).ok() && TS_TRY(root->step())) {
        auto page = static_cast<uint32_t>(root->column_int64(0));
        auto counted = rows_by_root.find(page);
        rows = counted != rows_by_root.end() ? std::optional<int64_t>(counted->second)
                                             : diff::count_rowid_table_rows(*pages, page);
      }
    }
    if (!rows) rows = TS_TRY(db::query_int(db, "SELECT count(*) FROM " + quote_identifier(o.name)));
    out.rows += *rows;
    if (!info.without_rowid && !info.has_declared_key())
      out.warnings.push_back(
          fmt::format("table {} has no PRIMARY KEY: rows are matched by rowid", quote_identifier(o.name)));
  }
  return {};
}

}  // namespace

Result<FetchedReplica> fetch_replica(RemoteClient& remote, const Config& config,
                                     const std::optional<SyncState>& state, FetchMode mode,
                                     const std::string& tmp_path, bool describe,
                                     const ProgressCallback& progress,
                                     const std::vector<ImageCopy>& image_copies,
                                     const std::function<void()>& on_changes, bool sync_incremental) {
  FetchedReplica out;
  uint64_t bytes_before = remote.bytes_received();
  int64_t requests_before = remote.requests_sent();
  auto account = [&]() {
    out.bytes_received = remote.bytes_received() - bytes_before;
    out.requests = remote.requests_sent() - requests_before;
  };
  std::string why_not_incremental;
  if (mode == FetchMode::incremental) {
    if (!state || state->protocol != "pages" || state->remote_revision.empty())
      why_not_incremental = "the replica was not made by the page path";
    else if (state->replica_fingerprint != replica_fingerprint(config.replica_path))
      why_not_incremental = "the replica file changed since its page revision was recorded";
    else if (state->remote_url != config.database_url)
      why_not_incremental = "the remote URL changed";
    if (why_not_incremental.empty()) {
      auto updated = TS_TRY(update_page_image(remote, config.replica_path, state->remote_revision, tmp_path,
                                              usable_spare(config.state_dir, config.replica_path), progress,
                                              on_changes, sync_incremental));
      if (updated.outcome != PageImageResult::Outcome::unavailable) {
        out.protocol = "pages";
        out.reason = "incremental page pull";
        out.revision = updated.revision;
        out.up_to_date = updated.outcome == PageImageResult::Outcome::up_to_date;
        out.incremental = true;
        out.synced = sync_incremental;
        out.pages_received = updated.pages_received;
        out.changed_pages = std::move(updated.changed_pages);
        account();
        return out;
      }
      why_not_incremental = "incremental page pull not possible: " + updated.reason;
    }
  }
  // The last pull found pages unavailable: ask for page 1 alone before downloading a whole image.
  std::string probe_failure;
  if (remote.server_silent())  // the page request timed out and the server never answered: one wait is enough
    probe_failure = why_not_incremental;
  else if (mode == FetchMode::incremental && state && state->protocol == "sql" &&
           !state->pull_path_reason.empty())
    probe_failure = TS_TRY(probe_first_page(remote));
  // A whole new image: the replica lacks something, or its base cannot be trusted. (Not to a server that
  // never answered: the SQL path's one wait is enough.)
  if (on_changes && !remote.server_silent()) on_changes();
  PageImageResult boot;
  if (probe_failure.empty())
    boot = TS_TRY(bootstrap_page_image(remote, tmp_path, image_copies, progress));
  else
    boot.reason = probe_failure;
  if (boot.outcome == PageImageResult::Outcome::written) {
    if (describe) TS_TRY_STATUS(describe_image(tmp_path, boot.rows_by_root, out));
    out.protocol = "pages";
    out.reason =
        why_not_incremental.empty() ? "page bootstrap" : "page bootstrap (" + why_not_incremental + ")";
    out.revision = boot.revision;
    out.pages_received = boot.pages_received;
    out.copies_made = true;
    account();
    return out;
  }
  // The SQL path: always possible, and the only one when the server offers no complete page image.
  auto snapshot = TS_TRY(download_snapshot(remote, tmp_path, progress));
  out.protocol = "sql";
  out.reason = "pages not available: " + boot.reason;
  out.tables = snapshot.tables;
  out.rows = snapshot.rows;
  out.other_objects = snapshot.other_objects;
  out.warnings = std::move(snapshot.warnings);
  account();
  return out;
}

PullRecord pull_record(const Config& config, const FetchedReplica& fetched) {
  PullRecord r;
  r.protocol = fetched.protocol;
  r.reason = fetched.reason;
  if (fetched.protocol == "pages") {
    r.revision = fetched.revision;
    r.fingerprint = replica_fingerprint(config.replica_path);
  }
  if (fetched.tables || fetched.rows) {
    r.tables = fetched.tables;
    r.rows = fetched.rows;
  }
  return r;
}

}  // namespace turso_sync
