#include "sync/page_pull.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "db/file_reader.h"
#include "db/sqlite.h"
#include "diff/sql_text.h"
#include "remote/page_codec.h"
#include "sync/image_check.h"
#include "sync/page_writer.h"
#include "util/fs.h"

namespace turso_sync {

namespace {

using pages::k_page_size;
using Outcome = PageImageResult::Outcome;

// 2^26 pages of 4 KiB = 256 GiB: a larger db_size is a broken header, not a database.
constexpr uint64_t k_max_db_pages = uint64_t{1} << 26;

// Failures of the remote or of its answer make the page path unavailable (the caller falls back); local
// failures, interruption, a refused token and a URL found wrong (TLS to a plain-http port) are errors: the
// SQL path would fail the same way.
bool is_local_failure(ErrorKind kind) {
  return kind == ErrorKind::io || kind == ErrorKind::local_db || kind == ErrorKind::busy ||
         kind == ErrorKind::cancelled || kind == ErrorKind::internal || kind == ErrorKind::auth ||
         kind == ErrorKind::config;
}

std::optional<uint64_t> decimal(const std::string& s) {
  uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Page 1 as stored locally: the server's file is in WAL mode (header bytes 18 and 19 = 2); the replica is a
// plain rollback-journal file, so SQLite never creates a -wal beside it.
std::string_view local_form(uint64_t id, std::string_view page, std::string& buf) {
  if (id != 0) return page;
  buf.assign(page);
  if (buf.size() > 19) buf[18] = buf[19] = 1;
  return buf;
}

Status write_page(const UniqueFd& fd, uint64_t id, std::string_view page, const std::string& path) {
  std::string buf;
  std::string_view bytes = local_form(id, page, buf);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd.get(), bytes.data() + done, bytes.size() - done,
                         static_cast<off_t>(id * k_page_size + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("write", path);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

Status pread_exact(const UniqueFd& fd, void* buf, size_t n, uint64_t offset, const std::string& path) {
  for (size_t done = 0; done < n;) {
    ssize_t got =
        ::pread(fd.get(), static_cast<char*>(buf) + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return io_error("read", path);
    if (got == 0)
      return Error(ErrorKind::local_db,
                   fmt::format("read {}: page {} is past the end", path, (offset + done) / k_page_size + 1));
    done += static_cast<size_t>(got);
  }
  return {};
}

Result<std::string> read_page(const UniqueFd& fd, uint64_t id, const std::string& path) {
  std::string page(k_page_size, '\0');
  TS_TRY_STATUS(pread_exact(fd, page.data(), page.size(), id * k_page_size, path));
  return page;
}

// A page of the replica, read through SQLite's file handle (db/file_reader.h).
Result<std::string> read_page(const db::FileSnapshot& file, uint64_t id) {
  std::string page(k_page_size, '\0');
  TS_TRY_STATUS(file.read(page.data(), page.size(), id * k_page_size));
  return page;
}

// Creates the image file at `path` holding the replica's bytes: from the spare when there is one (rename it,
// then copy only the pages where it differs), else a copy of the whole replica.
Result<UniqueFd> create_image(const db::FileSnapshot& base, const std::string& path,
                              const std::optional<SpareImage>& spare) {
  uint64_t base_size = base.size();
  if (spare && ::rename(spare->path.c_str(), path.c_str()) == 0) {
    UniqueFd image(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!image) return io_error("open", path);
    uint64_t base_pages = base_size / k_page_size;
    auto copy_page = [&](uint64_t id) -> Status {
      std::string page = TS_TRY(read_page(base, id));
      size_t done = 0;
      while (done < page.size()) {
        ssize_t n = ::pwrite(image.get(), page.data() + done, page.size() - done,
                             static_cast<off_t>(id * k_page_size + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return io_error("write", path);
        done += static_cast<size_t>(n);
      }
      return {};
    };
    for (uint32_t id : spare->stale)
      if (id < base_pages) TS_TRY_STATUS(copy_page(id));
    for (uint64_t id = spare->pages; id < base_pages; ++id)
      if (!std::binary_search(spare->stale.begin(), spare->stale.end(), static_cast<uint32_t>(id)))
        TS_TRY_STATUS(copy_page(id));
    if (::ftruncate(image.get(), static_cast<off_t>(base_size)) != 0) return io_error("truncate", path);
    return image;
  }
  UniqueFd image(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, kPrivateFileMode));
  if (!image) return io_error("create", path);
  TS_TRY_STATUS(base.copy_to(image.get(), path));
  return image;
}

// Sends one /pull-updates request, feeding the answer to `decoder`. Returns "" when the whole answer was
// decoded, else why the page path cannot be used (404, HTTP or transport failure, malformed or truncated
// body, an unusable stream refused by a callback); local failures and interruption are errors.
Result<std::string> run_pull(RemoteClient& remote, const pages::PullRequest& request,
                             pages::PullDecoder& decoder) {
  auto response =
      remote.post_streaming("/pull-updates", pages::encode_pull_request(request), "application/protobuf",
                            [&](std::string_view chunk) { return decoder.feed(chunk); });
  if (!response.ok()) {
    if (is_local_failure(response.error().kind())) return std::move(response).error();
    return response.error().message();
  }
  if (response->status == 404) return std::string("the server has no /pull-updates endpoint (HTTP 404)");
  auto finished = decoder.finish();
  if (!finished.ok()) {
    if (is_local_failure(finished.error().kind())) return std::move(finished).error();
    return finished.error().message();
  }
  return std::string();
}

Error refuse(std::string reason) {
  return Error(ErrorKind::protocol, std::move(reason));
}

// Checks shared by both paths on a header.
Status check_header(const pages::PullHeader& h) {
  if (auto why = h.unusable_reason(); !why.empty()) return refuse(why);
  if (h.server_revision.empty()) return refuse("the server sent no revision");
  if (h.db_size > k_max_db_pages) return refuse(fmt::format("the server announced {} pages", h.db_size));
  return {};
}

// Page 1 of a usable image: an SQLite header with 4096-byte pages.
Result<std::string> check_first_page(const UniqueFd& fd, const std::string& path) {
  std::string page = TS_TRY(read_page(fd, 0, path));
  if (std::memcmp(page.data(), "SQLite format 3", 16) != 0)
    return std::string("page 1 is not an SQLite header");
  unsigned size = (static_cast<uint8_t>(page[16]) << 8) | static_cast<uint8_t>(page[17]);
  if (size != k_page_size) return fmt::format("the database's page size is {}, not {}", size, k_page_size);
  return std::string();
}

// What SQLite says of the finished file: "" when its schema loads (every statement parses), it holds no
// virtual table (the SQL path refuses those with a clear message) and, unless its structure was checked
// already (sync/image_check.h), it passes quick_check. quick_check reads every page and checks every tree's
// structure and records, in about half the time of integrity_check, which also matches each index with its
// table: damage in transit shows in the structure, and an index that disagrees with its table would be the
// server's own.
Result<std::string> check_database(const std::string& path, bool structure_checked) {
  db::Database db = TS_TRY(db::Database::open(path, db::OpenMode::read_only));
  if (!structure_checked) {
    auto check = db.prepare("PRAGMA quick_check");
    if (!check.ok()) return fmt::format("quick_check failed: {}", check.error().message());
    std::string verdict;
    int rows = 0;
    for (;;) {
      auto step = check->step();
      if (!step.ok()) return fmt::format("quick_check failed: {}", step.error().message());
      if (!*step) break;
      if (rows++ == 0) verdict = check->column_text(0);
    }
    if (rows != 1 || verdict != "ok") return fmt::format("quick_check: {}", verdict);
  }
  auto virtual_tables = db::query_int(
      db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'");
  if (!virtual_tables.ok()) return virtual_tables.error().message();
  if (*virtual_tables > 0) return std::string("the database has virtual tables");
  return std::string();
}

Status finish_file(const UniqueFd& fd, uint64_t pages, const std::string& path) {
  if (::ftruncate(fd.get(), static_cast<off_t>(pages * k_page_size)) != 0) return io_error("truncate", path);
  if (::fsync(fd.get()) != 0) return io_error("fsync", path);
  return {};
}

PageImageResult unavailable(std::string reason) {
  PageImageResult r;
  r.outcome = Outcome::unavailable;
  r.reason = std::move(reason);
  return r;
}

// Runs `body`; removes `path` unless it produced a written image.
Result<PageImageResult> keep_only_if_written(const std::string& path,
                                             const std::function<Result<PageImageResult>()>& body) {
  ::unlink(path.c_str());
  auto result = body();
  if (!result.ok() || result->outcome != Outcome::written) {
    ::unlink(path.c_str());
    ::unlink((path + "-journal").c_str());
  }
  return result;
}

}  // namespace

namespace {

// Gives `working`'s sqlite_schema the names SQLite itself would have written (see copy_replica_into).
Status give_sqlite_schema_names(db::Database& working) {
  // The names SQLite parsed from each object's SQL, by lower-cased stored name.
  struct Row {
    int64_t rowid;
    std::string type, name, tbl_name, fixed_name, fixed_tbl;
  };
  std::vector<Row> rows;
  std::map<std::string, std::string> tables;  // lower(name) -> name as in its SQL
  auto lower = [](std::string s) {
    for (char& c : s)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
  };
  {
    auto stmt = TS_TRY(working.prepare("SELECT rowid, type, name, tbl_name, sql FROM main.sqlite_schema"));
    while (TS_TRY(stmt.step())) {
      Row r{stmt.column_int64(0), stmt.column_text(1), stmt.column_text(2), stmt.column_text(3), {}, {}};
      r.fixed_name = r.name;
      if (stmt.column(4).type() == ValueType::text) {
        std::string sql = stmt.column_text(4);
        size_t begin = 0, end = 0;
        if (diff::find_created_name(sql, &begin, &end)) {
          auto tokens = diff::tokenize_sql(std::string_view(sql).substr(begin, end - begin));
          if (!tokens.empty()) r.fixed_name = diff::token_name(tokens.back());  // after "schema."
        }
      }
      if (r.type == "table" || r.type == "view") tables[lower(r.name)] = r.fixed_name;
      rows.push_back(std::move(r));
    }
  }
  bool changed = false;
  for (Row& r : rows) {
    auto t = tables.find(lower(r.tbl_name));
    r.fixed_tbl = t == tables.end() ? r.tbl_name : t->second;
    const std::string auto_prefix = "sqlite_autoindex_";
    if (r.type == "index" && r.name.rfind(auto_prefix, 0) == 0 &&
        lower(r.name).find(lower(r.tbl_name)) == auto_prefix.size())
      r.fixed_name = auto_prefix + r.fixed_tbl + r.name.substr(auto_prefix.size() + r.tbl_name.size());
    changed |= r.fixed_name != r.name || r.fixed_tbl != r.tbl_name;
  }
  if (!changed) return {};
  auto tx = TS_TRY(db::Transaction::begin(working, db::Transaction::Kind::immediate));
  int64_t version = TS_TRY(db::query_int(working, "PRAGMA main.schema_version"));
  TS_TRY_STATUS(working.exec("PRAGMA writable_schema = ON"));
  Status st = [&]() -> Status {
    auto update =
        TS_TRY(working.prepare("UPDATE main.sqlite_schema SET name = ?1, tbl_name = ?2 WHERE rowid = ?3"));
    for (const Row& r : rows) {
      if (r.fixed_name == r.name && r.fixed_tbl == r.tbl_name) continue;
      TS_TRY_STATUS(update.reset());
      TS_TRY_STATUS(update.bind(1, Value::text(r.fixed_name)));
      TS_TRY_STATUS(update.bind(2, Value::text(r.fixed_tbl)));
      TS_TRY_STATUS(update.bind(3, Value::integer(r.rowid)));
      TS_TRY(update.step());
    }
    return working.exec(fmt::format("PRAGMA main.schema_version = {}", version + 1));
  }();
  Status off = working.exec("PRAGMA writable_schema = OFF");
  TS_TRY_STATUS(st);
  TS_TRY_STATUS(off);
  return tx.commit();
}

}  // namespace

Status copy_replica_into(const std::string& replica, db::Database& working) {
  TS_TRY_STATUS(db::copy_database(replica, working));
  return give_sqlite_schema_names(working);
}

Status finish_working_copy_file(const std::string& path) {
  db::Database working = TS_TRY(db::Database::open(path, db::OpenMode::read_write));
  return give_sqlite_schema_names(working);
}

Status create_working_copy_file(const std::string& replica, const std::string& path) {
  uint8_t header[100];
  bool plain = false;
  std::unique_ptr<db::FileSnapshot> from;
  if (file_size(replica + "-wal").value_or(0) == 0 && !file_exists(replica + "-journal")) {
    from = TS_TRY(db::FileSnapshot::open(replica));
    plain = from->size() >= sizeof header && from->read(header, sizeof header, 0).ok() &&
            std::memcmp(header, "SQLite format 3", 16) == 0 && header[18] == 1 && header[19] == 1;
  }
  if (plain) {
    // A rollback-journal file with nothing pending: its bytes are the database (a straight copy, read through
    // SQLite's file handle, instead of SQLite's page-by-page backup).
    // `path` is a new file of ours (O_EXCL: the working copy's temp name, renamed into place later): no
    // SQLite connection holds it, so writing it directly drops nobody's locks.
    UniqueFd to(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, kPrivateFileMode));
    if (!to) return io_error("create", path);
    TS_TRY_STATUS(from->copy_to(to.get(), path));
    if (::fsync(to.get()) != 0) return io_error("fsync", path);
    to.reset();
    from.reset();
    return finish_working_copy_file(path);
  }
  from.reset();
  TS_TRY_STATUS(create_private_file(path));
  db::Database working = TS_TRY(db::Database::open(path, db::OpenMode::create));
  return copy_replica_into(replica, working);
}

Result<std::string> probe_first_page(RemoteClient& remote) {
  bool served = false;
  pages::PullDecoder decoder([](const pages::PullHeader& h) -> Status { return check_header(h); },
                             [&](uint64_t id, std::string_view) -> Status {
                               if (id == 0) served = true;
                               return {};
                             });
  pages::PullRequest request;
  request.pages = {0};
  std::string failure = TS_TRY(run_pull(remote, request, decoder));
  if (!failure.empty()) return failure;
  if (!served)
    return std::string(
        "page 1 is not in the server's WAL (checkpointed, or the database was created outside the server)");
  return std::string();
}

Result<RevisionCheck> check_revision(RemoteClient& remote, const std::string& revision, uint32_t wait_ms) {
  RevisionCheck out;
  pages::PullDecoder decoder(
      [&](const pages::PullHeader& h) -> Status {
        TS_TRY_STATUS(check_header(h));
        out.server_revision = h.server_revision;
        return {};
      },
      [](uint64_t, std::string_view) -> Status { return {}; });
  pages::PullRequest request;
  request.client_revision = revision;
  request.pages = {0};
  request.long_poll_timeout_ms = wait_ms;
  std::string failure = TS_TRY(run_pull(remote, request, decoder));
  if (!failure.empty()) return RevisionCheck{};
  out.changed = out.server_revision != revision;
  return out;
}

std::string replica_fingerprint(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return fmt::format("{}:{}:{}.{:09}", static_cast<uint64_t>(st.st_ino), static_cast<int64_t>(st.st_size),
                     static_cast<int64_t>(st.st_mtim.tv_sec), static_cast<int64_t>(st.st_mtim.tv_nsec));
}

Result<PageImageResult> bootstrap_page_image(RemoteClient& remote, const std::string& path,
                                             const std::vector<ImageCopy>& copies,
                                             const ProgressCallback& on_progress) {
  for (const ImageCopy& copy : copies) ::unlink(copy.path.c_str());
  auto result = keep_only_if_written(path, [&]() -> Result<PageImageResult> {
    // The image is written as its pages arrive, its copies once it is whole. Each is a new file of ours
    // (O_EXCL, a temp name renamed into place later): no SQLite connection holds it while we do, so these
    // descriptors drop nobody's locks (db/file_reader.h).
    std::vector<UniqueFd> fds;
    std::vector<CopyTarget> files;
    for (const std::string* name : {&path}) files.push_back({-1, *name});
    for (const ImageCopy& copy : copies) files.push_back({-1, copy.path});
    for (auto& file : files) {
      fds.emplace_back(::open(file.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, kPrivateFileMode));
      if (!fds.back()) return io_error("create", file.path);
      file.fd = fds.back().get();
    }
    PageRunWriter writer({PageRunWriter::File{files[0].fd, files[0].path}});
    PageImageResult out;
    pages::PullHeader header;
    std::vector<bool> got;
    uint64_t distinct = 0;
    uint64_t bytes_before = remote.bytes_received();
    Progress progress;
    progress.phase = "pages";
    pages::PullDecoder decoder(
        [&](const pages::PullHeader& h) -> Status {
          header = h;
          TS_TRY_STATUS(check_header(h));
          got.assign(h.db_size, false);
          for (size_t i = 0; i < fds.size(); ++i)
            TS_TRY_STATUS(reserve_file_space(fds[i].get(), h.db_size * k_page_size, files[i].path));
          progress.pages_total = static_cast<int64_t>(h.db_size);
          return {};
        },
        [&](uint64_t id, std::string_view page) -> Status {
          if (id >= got.size()) return refuse(fmt::format("page {} is beyond db_size {}", id, got.size()));
          std::string first;
          TS_TRY_STATUS(writer.write(id, local_form(id, page, first)));
          if (!got[id]) {
            got[id] = true;
            ++distinct;
          }
          ++out.pages_received;
          if (on_progress && out.pages_received % 256 == 0) {
            progress.pages_done = static_cast<int64_t>(distinct);
            progress.bytes_received = remote.bytes_received() - bytes_before;
            on_progress(progress);
          }
          return {};
        });
    std::string failure = TS_TRY(run_pull(remote, pages::PullRequest{}, decoder));
    if (!failure.empty()) return unavailable(failure);
    TS_TRY_STATUS(writer.flush());
    if (header.db_size == 0 || distinct == 0)
      return unavailable(
          "the server sent no pages (its WAL is empty: checkpointed, or the database was created outside "
          "the server)");
    if (distinct != header.db_size)
      return unavailable(fmt::format(
          "incomplete image: {} of {} pages (the server serves only the pages in its WAL; after a checkpoint "
          "the image is partial)",
          distinct, header.db_size));
    std::string bad = TS_TRY(check_first_page(fds[0], path));
    if (!bad.empty()) return unavailable(bad);
    // Each copy is written from the image by the kernel (copy_file_bytes: no slower than through a buffer,
    // and the working copy's page cache comes out in small folios, which its pulls' commits write faster),
    // and each file synced, on a thread of its own, while the image's structure is checked here from its
    // bytes (sync/image_check.h; quick_check only for a layout that check does not cover). Writing the
    // copies during the download instead took CPU time from the server and the receiving (1M rows: 30 ms
    // slower).
    for (size_t i = 0; i < fds.size(); ++i)
      if (::ftruncate(fds[i].get(), static_cast<off_t>(header.db_size * k_page_size)) != 0)
        return io_error("truncate", files[i].path);
    // A copy that need not be durable (the spare) goes to the page cache only: its write-back would share
    // the disk with the files that must be (1M rows: 40 ms).
    auto sync_file = [&](size_t i) -> Status {
      bool durable = i == 0 || copies[i - 1].fsync;
      if (i > 0)
        TS_TRY_STATUS(copy_file_bytes(fds[0].get(), header.db_size * k_page_size, files[i], durable));
      if (!durable) return {};
      if (::fsync(fds[i].get()) != 0) return io_error("fsync", files[i].path);
      return {};
    };
    std::vector<std::future<Status>> synced;
    for (size_t i = 0; i < fds.size(); ++i) synced.push_back(std::async(std::launch::async, sync_file, i));
    auto checked = check_image_structure(fds[0].get(), header.db_size, path);
    Status synced_status;
    for (auto& one : synced) {
      Status st = one.get();
      if (synced_status.ok()) synced_status = st;
    }
    fds.clear();  // closed before SQLite opens any of them
    ImageCheck check = TS_TRY(std::move(checked));
    TS_TRY_STATUS(synced_status);
    if (check.verdict == ImageCheck::Verdict::damaged)
      return unavailable("the page image is not a sound database: " + check.problem);
    bad = TS_TRY(check_database(path, check.verdict == ImageCheck::Verdict::sound));
    if (!bad.empty()) return unavailable("the page image is not a sound database: " + bad);
    out.rows_by_root = std::move(check.rows_by_root);
    out.outcome = Outcome::written;
    out.revision = header.server_revision;
    out.db_size = header.db_size;
    return out;
  });
  if (!result.ok() || result->outcome != Outcome::written)
    for (const ImageCopy& copy : copies) ::unlink(copy.path.c_str());
  return result;
}

namespace {

// Page `id` as the server sends it at revision `revision`, which is the replica's: it must equal the
// replica's own page, else the server's history changed (a new WAL generation).
Status expect_replica_page(const db::FileSnapshot& base, uint64_t old_pages, uint64_t id,
                           std::string_view page, const std::string& revision, std::string& buf) {
  if (id >= old_pages)
    return refuse(fmt::format("page {} of revision {} is past the replica's end", id, revision));
  std::string ours = TS_TRY(read_page(base, id));
  if (local_form(id, page, buf) != ours)
    return refuse(fmt::format(
        "the server's page {} at revision {} differs from the replica's: its history changed (a new WAL "
        "generation)",
        id, revision));
  return {};
}

// Frame counts: whether the server's history still holds ours at revision `revision` (R): asked pinned at R
// from R-1, the server sends the pages of its frame R, which must equal the replica's (after a checkpoint,
// a new WAL generation whose count passed R sends other pages). "" when it does, else why not. One cheap
// request (a page selector costs the server a scan of its WAL: ~20 ms at 6,600 frames, against ~1 ms for
// this).
Result<std::string> prove_history(RemoteClient& remote, const db::FileSnapshot& base,
                                  const std::string& revision, uint64_t old_pages) {
  pages::PullRequest proof;
  proof.server_revision = revision;
  proof.client_revision = std::to_string(*decimal(revision) - 1);
  uint64_t proven = 0;
  std::string buf;
  pages::PullDecoder prover(
      [&](const pages::PullHeader& h) -> Status {
        if (auto why = h.unusable_reason(); !why.empty()) return refuse(why);
        if (h.server_revision != revision)
          return refuse(
              fmt::format("asked for revision {}, the server sent {}", revision, h.server_revision));
        return {};
      },
      [&](uint64_t id, std::string_view page) -> Status {
        TS_TRY_STATUS(expect_replica_page(base, old_pages, id, page, revision, buf));
        ++proven;
        return {};
      });
  std::string failure = TS_TRY(run_pull(remote, proof, prover));
  if (failure.empty() && proven == 0)
    failure = fmt::format(
        "the server no longer has the pages of revision {} (a new WAL generation after a checkpoint)",
        revision);
  return failure;
}

}  // namespace

Result<PageImageResult> update_page_image(RemoteClient& remote, const std::string& replica,
                                          const std::string& from_revision, const std::string& path,
                                          const std::optional<SpareImage>& spare,
                                          const ProgressCallback& on_progress,
                                          const std::function<void()>& on_changes, bool sync) {
  return keep_only_if_written(path, [&]() -> Result<PageImageResult> {
    // The replica is read through an SQLite read transaction, never a descriptor of ours.
    auto snapshot = db::FileSnapshot::open(replica);
    if (!snapshot.ok()) {
      if (snapshot.error().kind() != ErrorKind::local_db) return std::move(snapshot).error();
      return unavailable("the replica cannot be read as a database: " + snapshot.error().message());
    }
    const db::FileSnapshot& base = **snapshot;
    uint64_t base_size = base.size();
    if (base_size == 0 || base_size % k_page_size != 0)
      return unavailable("the replica is not a page image of the remote");
    uint64_t old_pages = base_size / k_page_size;

    // With decimal revisions (WAL frame counts), ask from the frame before ours: the pages of our own last
    // frame come back too and must equal ours, which proves the server still has the history we are at.
    auto from = decimal(from_revision);
    bool probing = from && *from > 0;
    pages::PullRequest request;
    request.client_revision = probing ? std::to_string(*from - 1) : from_revision;

    PageImageResult out;
    pages::PullHeader header;
    bool same_revision = false;
    std::vector<bool> seen;
    std::vector<uint32_t> changed;
    UniqueFd image;
    std::string buf;
    Progress progress;
    progress.phase = "pages";
    auto on_header = [&](const pages::PullHeader& h) -> Status {
      header = h;
      TS_TRY_STATUS(check_header(h));
      if (h.mode() == pages::ApplyMode::replace_base)
        return refuse("the server asks for the base to be replaced (ReplaceBase)");
      auto now = decimal(h.server_revision);
      if (from && now && *now < *from)
        return refuse(
            fmt::format("the server's revision moved backwards ({} -> {}): its WAL was "
                        "checkpointed or reset",
                        from_revision, h.server_revision));
      if (h.db_size == 0) return refuse("the server sent db_size 0");
      same_revision = h.server_revision == from_revision;
      seen.assign(h.db_size, false);
      return {};
    };
    auto on_page = [&](uint64_t id, std::string_view page) -> Status {
      if (id >= seen.size()) return refuse(fmt::format("page {} is beyond db_size {}", id, seen.size()));
      seen[id] = true;
      ++out.pages_received;
      if (same_revision) {
        // Nothing is newer than our revision: what was sent is our own last frame, byte for byte.
        return expect_replica_page(base, old_pages, id, page, from_revision, buf);
      }
      if (!image) image = TS_TRY(create_image(base, path, spare));
      TS_TRY_STATUS(write_page(image, id, page, path));
      changed.push_back(static_cast<uint32_t>(id));
      if (on_progress && out.pages_received % 256 == 0) {
        progress.pages_done = static_cast<int64_t>(out.pages_received);
        on_progress(progress);
      }
      return {};
    };
    pages::PullDecoder decoder(on_header, on_page);
    // Frame counts: the proof of the history does not depend on the answer below, so it is asked at the same
    // time on a connection of its own (with its own read of the replica), and so is the caller's request.
    // Three requests at once: on a network, one round trip instead of two; on the local server, which
    // serves one connection after the other and naps between accepts, no nap in between. When the answer
    // shows nothing new, the proof's answer is not needed.
    std::unique_ptr<RemoteClient> prover;
    std::future<Result<std::string>> proving;
    if (probing && (prover = remote.another()))
      proving = std::async(std::launch::async, [&]() -> Result<std::string> {
        auto own = db::FileSnapshot::open(replica);
        if (!own.ok()) return std::move(own).error();
        return prove_history(*prover, **own, from_revision, old_pages);
      });
    if (probing && on_changes) on_changes();
    std::string failure = TS_TRY(run_pull(remote, request, decoder));
    uint64_t pages_answered = decoder.pages();
    if (!failure.empty() && probing && decoder.bytes_fed() == 0 && !remote.server_silent()) {
      // A server whose revisions are decimal but not frame counts may refuse the frame before ours (an HTTP
      // error, no page stream at all): ask again from our own revision, without that proof. (Not a server
      // that never answered: it would cost the whole wait again.)
      probing = false;
      request.client_revision = from_revision;
      pages::PullDecoder again(on_header, on_page);
      failure = TS_TRY(run_pull(remote, request, again));
      pages_answered = again.pages();
    }
    if (!failure.empty()) return unavailable(failure);

    if (same_revision) {
      if (probing && pages_answered == 0)
        return unavailable(fmt::format(
            "the server no longer has the pages of revision {} (a new WAL generation after a checkpoint)",
            from_revision));
      if (header.db_size != old_pages)
        return unavailable(
            fmt::format("the server's db_size {} differs from the replica's {} at the same "
                        "revision",
                        header.db_size, old_pages));
      out.outcome = Outcome::up_to_date;
      out.revision = header.server_revision;
      out.db_size = header.db_size;
      return out;
    }
    if (on_changes && !probing) on_changes();
    if (!image) {
      // A new revision without any page: the content did not change, but the revision must move on.
      image = TS_TRY(create_image(base, path, spare));
    }
    for (uint64_t id = old_pages; id < header.db_size; ++id)
      if (!seen[id])
        return unavailable(fmt::format("page {} is new (db_size {} -> {}) but did not arrive", id, old_pages,
                                       header.db_size));
    std::string bad = TS_TRY(check_first_page(image, path));
    if (!bad.empty()) return unavailable(bad);

    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    auto written = [&]() -> Result<PageImageResult> {
      if (sync)
        TS_TRY_STATUS(finish_file(image, header.db_size, path));
      else if (::ftruncate(image.get(), static_cast<off_t>(header.db_size * k_page_size)) != 0)
        return io_error("truncate", path);
      image.reset();
      out.outcome = Outcome::written;
      out.revision = header.server_revision;
      out.db_size = header.db_size;
      out.changed_pages = std::move(changed);
      return out;
    };
    if (probing) {
      // Frame counts: the proof that the server's history still holds ours (prove_history), asked meanwhile
      // on a connection of its own, or now when there is none.
      auto proof = proving.valid() ? proving.get() : prove_history(remote, base, from_revision, old_pages);
      if (prover) remote.add_traffic(prover->stats());
      failure = TS_TRY(std::move(proof));
      if (!failure.empty()) return unavailable(failure);
      return written();
    }

    // Opaque revisions: re-verify a few pages this update did not touch: read back at the new revision, they
    // must equal the image (in a new history they are missing or differ).
    uint64_t common = std::min(old_pages, header.db_size);
    // Page 1 and pages spread over the file; a changed candidate is replaced by the next unchanged page.
    std::vector<uint32_t> sample;
    for (uint64_t k = 0; k < 4 && common > 0; ++k) {
      uint64_t id = k * common / 4;
      while (id < common && std::binary_search(changed.begin(), changed.end(), static_cast<uint32_t>(id)))
        ++id;
      auto pid = static_cast<uint32_t>(id);
      if (id < common && std::find(sample.begin(), sample.end(), pid) == sample.end()) sample.push_back(pid);
    }
    if (!sample.empty()) {
      pages::PullRequest verify;
      verify.server_revision = header.server_revision;
      verify.pages = sample;
      size_t matched = 0;
      pages::PullDecoder verifier(
          [&](const pages::PullHeader& h) -> Status {
            if (auto why = h.unusable_reason(); !why.empty()) return refuse(why);
            return {};
          },
          [&](uint64_t id, std::string_view page) -> Status {
            if (std::find(sample.begin(), sample.end(), id) == sample.end()) return {};
            std::string ours = TS_TRY(read_page(image, id, path));
            if (local_form(id, page, buf) != ours)
              return refuse(
                  fmt::format("page {} read back at revision {} differs from the updated image: the "
                              "server's history changed (a new WAL generation)",
                              id, header.server_revision));
            ++matched;
            return {};
          });
      failure = TS_TRY(run_pull(remote, verify, verifier));
      if (!failure.empty()) return unavailable(failure);
      if (matched != sample.size())
        return unavailable(
            fmt::format("{} of {} unchanged pages are no longer served at revision {} (a "
                        "checkpoint since the replica's revision)",
                        sample.size() - matched, sample.size(), header.server_revision));
    }
    return written();
  });
}

}  // namespace turso_sync
