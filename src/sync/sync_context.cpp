#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <future>

#include "db/sqlite.h"
#include "sync/damage.h"
#include "sync/discarded.h"
#include "sync/page_pull.h"
#include "sync/publish.h"
#include "sync/remote_identity.h"
#include "sync/replica_fetch.h"
#include "sync/replica_spare.h"
#include "sync/state.h"
#include "turso_sync/sync.h"
#include "util/fs.h"
#include "util/text.h"

namespace turso_sync {

namespace {

FileInfo file_info(const std::string& path) {
  FileInfo f;
  f.path = path;
  if (auto size = file_size(path)) {
    f.exists = true;
    f.size = *size;
  }
  if (auto wal = file_size(path + "-wal")) f.wal_size = *wal;
  return f;
}

std::string pending_init_marker(const Config& c) {
  return c.state_dir + "/init.pending";
}

}  // namespace

SyncContext::SyncContext(Config config, std::unique_ptr<HttpTransport> transport)
    : m_config(std::move(config)), m_transport(std::move(transport)) {}

SyncContext::~SyncContext() = default;

Result<std::unique_ptr<SyncContext>> SyncContext::open(Config config,
                                                       std::unique_ptr<HttpTransport> transport) {
  return std::unique_ptr<SyncContext>(new SyncContext(std::move(config), std::move(transport)));
}

Result<RemoteClient*> SyncContext::remote() {
  if (!m_remote) m_remote = TS_TRY(RemoteClient::create(m_config, std::move(m_transport)));
  return m_remote.get();
}

Result<RemoteClient*> SyncContext::remote(const ProgressCallback& progress) {
  RemoteClient* client = TS_TRY(remote());
  if (!progress) {
    client->set_wait_callback(nullptr);
    return client;
  }
  client->set_wait_callback([progress](const Waiting& w) {
    Progress p;
    p.phase = w.stage == Waiting::Stage::connecting ? "connecting" : "waiting";
    p.server = w.server;
    p.waited_ms = w.waited_ms;
    progress(p);
  });
  return client;
}

Result<InitReport> SyncContext::init_files(const InitOptions& options) {
  auto start = std::chrono::steady_clock::now();
  const Config& c = m_config;
  bool working_exists = file_exists(c.working_path);
  // An existing working copy without local changes (equal to the replica) holds nothing to lose; nor does
  // the working copy that `init --from` publishes (it becomes the remote's content).
  std::error_code ec;
  bool publishes_working = working_exists && !options.from.empty() &&
                           std::filesystem::equivalent(options.from, c.working_path, ec);
  bool unchanged = publishes_working;
  std::string unreadable;  // why the local changes cannot be computed (a damaged replica)
  if (working_exists && !unchanged && file_exists(c.replica_path)) {
    auto changes = local_changes();
    unchanged = changes.ok() && !changes->has_changes();
    if (!changes.ok() && changes.error().kind() == ErrorKind::local_db)
      unreadable = changes.error().message();
  }
  if (working_exists && !options.force && !unchanged && !unreadable.empty())
    return Error(ErrorKind::refused, fmt::format("init: nothing was changed: {}", unreadable));
  if (working_exists && !options.force && !unchanged)
    return Error(
        ErrorKind::refused,
        fmt::format("init: working copy {} already exists and may hold local changes; nothing was changed. "
                    "Run `turso-sync pull` to bring it up to date, or `turso-sync init --force` to replace "
                    "it with the remote's content (its local changes would be lost)",
                    c.working_path));
  RemoteClient* client = TS_TRY(remote(options.progress));
  StateLock lock = TS_TRY(StateLock::acquire(c.state_dir));
  remove_stale_temp_files(c.replica_path);
  remove_stale_temp_files(c.working_path);
  remove_stale_temp_files_in(c.state_dir);
  std::optional<PublishReport> published;
  if (!options.from.empty()) {
    auto publish = publish_database(*client, c, options.from, options.progress);
    if (!publish.ok()) return std::move(publish).error();
    published = std::move(publish).value();
  }

  // The marker says "replica and working copy may disagree": set before either changes, cleared after both
  // did.
  TS_TRY_STATUS(atomic_write_file(pending_init_marker(c), utc_timestamp() + "\n", 0600));
  std::string tmp_replica = fmt::format("{}.tmp-{}", c.replica_path, ::getpid());
  std::string tmp_working = fmt::format("{}.tmp-{}", c.working_path, ::getpid());
  std::string tmp_spare = new_spare_path(c.state_dir);
  // A new working copy and the spare are written as copies of the page image while it is checked, instead
  // of being copied from the replica afterwards. The spare is fsynced only where the boot is unknown
  // (sync/replica_spare.h).
  std::vector<ImageCopy> copies;
  if (!working_exists) copies = {{tmp_working, true}, {tmp_spare, current_boot_id().empty()}};
  auto remove_temp_files = [&]() {
    for (const std::string* path : {&tmp_replica, &tmp_working, &tmp_spare}) ::unlink(path->c_str());
  };
  // The remote's identity from now on (sync/remote_identity.h): its newest push receipt, read on a second
  // connection while the pages arrive (a receipt older than the image is as good: receipts are never
  // removed).
  std::unique_ptr<RemoteClient> second = client->another();
  std::future<Result<RemoteReceipts>> receipts_meanwhile;
  if (second)
    receipts_meanwhile =
        std::async(std::launch::async, [&second] { return read_remote_receipts(*second, ""); });
  auto snapshot = fetch_replica(*client, c, std::nullopt, FetchMode::bootstrap, tmp_replica,
                                /*describe=*/true, options.progress, copies);
  auto receipts = receipts_meanwhile.valid() ? receipts_meanwhile.get() : read_remote_receipts(*client, "");
  if (second) client->add_traffic(second->stats());
  if (!snapshot.ok()) {
    remove_temp_files();
    ::unlink(pending_init_marker(c).c_str());
    return snapshot.error().context(fmt::format("init from {}", client->endpoint().base_url));
  }
  bool copies_made = snapshot->copies_made && !copies.empty();
  // A receipt of another database is forgotten.
  if (!receipts.ok()) {
    remove_temp_files();
    ::unlink(pending_init_marker(c).c_str());
    return receipts.error().context(fmt::format("init from {}", client->endpoint().base_url));
  }

  Progress progress;
  progress.phase = "working copy";
  progress.rows_done = snapshot->rows;
  progress.rows_total = snapshot->rows;
  if (options.progress) options.progress(progress);
  InitReport report;
  auto fail = [&](const Error& e) -> Error {
    remove_temp_files();
    return e.context("init");
  };
  bool working_read = unchanged;  // every row of the working copy was read: it is a readable database
  if (working_exists && !unchanged) {
    // --force: save what is discarded first (restorable with the sqlite3 shell).
    // A failure to write the file stops init; one to read the files is handled below.
    Result<std::string> saved =
        Error(ErrorKind::local_db, fmt::format("replica {} is missing", c.replica_path));
    if (file_exists(c.replica_path))
      saved = save_discarded_changes(
          c, c.replica_path, c.working_path,
          fmt::format("local changes discarded by `turso-sync init --force` at {}", utc_timestamp()));
    if (!saved.ok() && saved.error().kind() == ErrorKind::io) return fail(saved.error());
    working_read = saved.ok();
    if (!saved.ok()) {
      // The replica, the base of the local changes, is missing or damaged: save the working copy's
      // differences from the remote's content just downloaded instead. Run on the new working copy, they give
      // back the old one exactly: the local changes, and the remote's changes since the last pull reverted.
      auto against_remote = save_discarded_changes(
          c, tmp_replica, c.working_path,
          fmt::format(
              "the working copy as it was before `turso-sync init --force` at {}, as changes to the "
              "remote's content then (the replica {} was missing or damaged). Running this on the working "
              "copy restores it exactly: your local changes, but also the old values of rows other "
              "people changed since your last pull; keep only what you want",
              utc_timestamp(), c.replica_path));
      if (!against_remote.ok() && against_remote.error().kind() == ErrorKind::io)
        return fail(against_remote.error());
      if (against_remote.ok()) {
        report.warnings.push_back(fmt::format(
            "the replica {} could not be read; the working copy's differences from the remote were saved "
            "instead (they include reverting what other people changed since your last pull)",
            c.replica_path));
      } else {
        report.warnings.push_back(
            fmt::format("the working copy's local changes could not be read and were not saved: {}",
                        against_remote.error().message()));
      }
      saved = std::move(against_remote);
    }
    if (saved.ok()) report.discarded_path = *saved;
  }
  // A working copy that is not a readable database cannot be overwritten through SQLite: it is kept aside,
  // never deleted, and a new one made. (Checked only when its rows could not all be read: a full check of
  // a large file takes seconds.)
  if (working_exists && !working_read) {
    if (std::string damage = damage_of(c.working_path); !damage.empty()) {
      auto aside = move_damaged_aside(c.working_path);
      if (!aside.ok()) return fail(aside.error());
      report.warnings.push_back(
          fmt::format("the working copy {} was damaged ({}); it was kept as {} "
                      "(`sqlite3 {} .recover` may save some rows) and a new one made",
                      c.working_path, damage, *aside, *aside));
      working_exists = false;
    }
  }
  if (publishes_working && published) {
    // The application's own file was published: it already holds the remote's content, and its local
    // objects (virtual tables, the triggers feeding them) stay as they are.
  } else if (working_exists) {
    // In place, through SQLite: the application may have the file open.
    auto wc = db::Database::open(c.working_path, db::OpenMode::read_write);
    if (!wc.ok()) return fail(wc.error());
    auto st = copy_replica_into(tmp_replica, *wc);
    if (!st.ok()) return fail(st.error());
    report.working_copy_replaced = true;
  } else {
    auto created = [&]() -> Status {
      if (copies_made) {
        TS_TRY_STATUS(finish_working_copy_file(tmp_working));
        return durable_rename(tmp_working, c.working_path, FsyncSource::no);  // fsynced already
      }
      ::unlink(tmp_working.c_str());
      TS_TRY_STATUS(create_working_copy_file(tmp_replica, tmp_working));
      return durable_rename(tmp_working, c.working_path);
    }();
    if (!created.ok()) {
      ::unlink(tmp_working.c_str());
      return fail(created.error());
    }
  }
  drop_spare(c.state_dir);
  auto renamed = durable_rename(tmp_replica, c.replica_path);
  if (!renamed.ok()) return fail(renamed.error());
  // A page image gets its spare now, so that the first pull also writes only what changed.
  if (copies_made)
    adopt_spare_copy(c.state_dir, tmp_spare, c.replica_path);
  else if (snapshot->protocol == "pages")
    create_spare_copy(c.state_dir, c.replica_path);

  PullRecord record = pull_record(c, *snapshot);
  record.receipt = receipts->newest;
  TS_TRY_STATUS(record_pull(c.state_dir, c.database_url, record));
  ::unlink(pending_init_marker(c).c_str());

  report.tables = snapshot->tables;
  report.rows = snapshot->rows;
  report.other_objects = snapshot->other_objects;
  report.bytes_received = snapshot->bytes_received;
  report.requests = snapshot->requests;
  report.protocol = snapshot->protocol;
  report.protocol_reason = snapshot->reason;
  report.warnings.insert(report.warnings.end(), snapshot->warnings.begin(), snapshot->warnings.end());
  if (published) {
    forget_publish(c);
    report.warnings.insert(report.warnings.begin(), published->warnings.begin(), published->warnings.end());
    report.published = std::move(published);
  }
  report.elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  return report;
}

Result<StatusReport> SyncContext::status(const StatusOptions& options) {
  const Config& c = m_config;
  StatusReport r;
  r.database_url = c.database_url;
  r.token_masked = mask_secret(c.auth_token);
  for (const auto& [name, source] : c.sources) r.sources[name] = to_string(source);
  r.config_files = c.files_read;
  r.warnings = c.warnings;
  r.replica = file_info(c.replica_path);
  r.working_copy = file_info(c.working_path);
  r.state_dir = c.state_dir;
  r.initialized = r.replica.exists && r.working_copy.exists;
  if (file_exists(pending_init_marker(c)))
    r.warnings.push_back("a previous `turso-sync init` did not finish: run `turso-sync init --force`");
  if (r.initialized) {
    auto pending = local_changes();
    if (pending.ok())
      r.pending = std::move(pending).value();
    else {
      r.pending_error = pending.error().message();
      if (pending.error().kind() == ErrorKind::local_db) {
        r.pending_exit_code = exit_code_for(ErrorKind::local_db);
        r.pending_error_kind = ErrorKind::local_db;
      }
    }
  }
  r.workflow_pid = StateLock::running_workflow(c.state_dir);
  if (auto health = read_health(c.state_dir); health.ok())
    r.health = std::move(health).value();
  else
    r.health_error = health.error().message();
  // A damaged state.json: reported like damaged local files, the rest shown.
  std::optional<SyncState> state;
  if (auto loaded = load_state(c.state_dir); loaded.ok()) {
    state = std::move(loaded).value();
  } else if (r.pending_exit_code == 0) {
    r.pending_error = loaded.error().message();
    r.pending_exit_code = exit_code_for(loaded.error().kind());
    r.pending_error_kind = loaded.error().kind();
  }
  if (state) {
    r.protocol = state->protocol;
    r.last_pull_at = state->last_pull_at;
    r.last_push_at = state->last_push_at;
    r.remote_revision = state->remote_revision;
    r.pull_path_reason = state->pull_path_reason;
  }
  if (!c.database_url.empty()) {
    if (auto ep = parse_database_url(c.database_url); ep.ok()) r.remote_http_url = ep->base_url;
  }
  if (options.check_remote) {
    r.remote_checked = true;
    auto client = remote(options.progress);
    if (!client.ok()) {
      r.remote_error = client.error().message();
      r.remote_exit_code = exit_code_for(client.error().kind());
      r.remote_error_kind = client.error().kind();
    } else {
      auto rtt = (*client)->ping();
      if (rtt.ok()) {
        r.remote_reachable = true;
        r.round_trip_ms = static_cast<double>(rtt->count()) / 1000.0;
        constexpr std::chrono::milliseconds kFollowProbe{1000};
        if (auto change = remote_changed(kFollowProbe);
            change.ok() && change->state == RemoteChange::State::unchanged)
          r.remote_follow = change->held(kFollowProbe) ? "long-poll" : "poll";
      } else {
        r.remote_error = rtt.error().message();
        r.remote_error_detail = rtt.error().detail();
        r.remote_exit_code = exit_code_for(rtt.error().kind());
        r.remote_error_kind = rtt.error().kind();
      }
    }
  }
  if (options.check) r.check = evaluate_health(r, options.max_age);
  return r;
}

Result<RemoteChange> SyncContext::remote_changed(std::chrono::milliseconds wait) {
  RemoteChange out;
  auto state = TS_TRY(load_state(m_config.state_dir));
  if (!state || state->protocol != "pages" || state->remote_revision.empty()) return out;
  RemoteClient* client = TS_TRY(remote());
  auto start = std::chrono::steady_clock::now();
  RevisionCheck check =
      TS_TRY(check_revision(*client, state->remote_revision, static_cast<uint32_t>(wait.count())));
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  if (!check.server_revision.empty())
    out.state = check.changed ? RemoteChange::State::changed : RemoteChange::State::unchanged;
  return out;
}

Result<std::vector<HistoryEntry>> SyncContext::log(size_t limit) const {
  return read_history(m_config.state_dir, limit);
}

Result<sqlite3*> SyncContext::open_working_copy() {
  if (!file_exists(m_config.working_path) || !file_exists(m_config.replica_path))
    return Error(ErrorKind::refused,
                 fmt::format("working copy {} is not initialized: run `turso-sync init` first",
                             m_config.working_path));
  constexpr int kBusyTimeoutMs = 30000;
  db::Database db =
      TS_TRY(db::Database::open(m_config.working_path, db::OpenMode::read_write, kBusyTimeoutMs));
  // Switching a rollback-journal file to WAL upgrades a read lock to a write lock inside one statement, and
  // SQLite does not call the busy handler for that upgrade (it could deadlock): while a pull merges into the
  // working copy the switch fails at once with SQLITE_BUSY. Retry it for as long as the busy timeout.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  for (;;) {
    Status wal = db.exec("PRAGMA journal_mode=WAL");
    if (wal.ok()) break;
    if (wal.error().kind() != ErrorKind::busy || std::chrono::steady_clock::now() >= deadline)
      return Error(wal.error().kind(),
                   fmt::format("open working copy: set WAL mode: {}", wal.error().message()));
    sqlite3_sleep(20);
  }
  return db.release();
}

}  // namespace turso_sync
