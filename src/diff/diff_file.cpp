// write_diff_file(): the library side of `turso-sync diff`.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>

#include "turso_sync/diff.h"
#include "util/fs.h"

namespace turso_sync {

namespace fs = std::filesystem;

Status check_diff_inputs(const std::string& base_path, const std::string& target_path) {
  std::error_code ec;
  if (!fs::exists(base_path, ec))
    return Error(ErrorKind::config,
                 fmt::format("diff: replica {} not found: run `turso-sync init` first", base_path));
  if (!fs::exists(target_path, ec))
    return Error(
        ErrorKind::config,
        fmt::format("diff: working copy {} not found: run `turso-sync init` first (or `turso-sync copy`)",
                    target_path));
  return {};
}

Status write_sql_script(const std::string& path, const std::string& title,
                        const std::function<Status(ChangeSink&)>& produce) {
  // Named as every temporary file of ours (util/fs.h): a crashed run's is removed by the next command.
  std::string tmp_path = fmt::format("{}.tmp-{}", path, ::getpid());
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error(ErrorKind::io, fmt::format("create {}: {}", tmp_path, std::strerror(errno)));
  auto fail = [&](Error e) {
    ::unlink(tmp_path.c_str());
    return e;
  };
  std::FILE* out = fdopen(fd, "w");
  if (!out) {
    ::close(fd);
    return fail(Error(ErrorKind::io, fmt::format("open {}: {}", tmp_path, std::strerror(errno))));
  }
  Status produced;
  {
    // The writer's worker thread is done with `out` once the writer is gone.
    SqlWriter writer(out, title);
    produced = produce(writer);
  }
  bool flushed = std::fflush(out) == 0 && ::fsync(fileno(out)) == 0;
  bool closed = std::fclose(out) == 0;
  if (!produced.ok())
    return fail(produced.error().kind() == ErrorKind::io
                    ? produced.error().context(fmt::format("{} (left as it was)", path))
                    : produced.error());
  if (!flushed || !closed)
    return fail(Error(ErrorKind::io, fmt::format("write {}: {}", tmp_path, std::strerror(errno))));
  Status renamed = durable_rename(tmp_path, path, FsyncSource::no);  // fsynced above
  if (!renamed.ok()) return fail(std::move(renamed).error());
  return {};
}

Result<DiffSummary> write_diff_file(const std::string& base_path, const std::string& target_path,
                                    const std::string& diff_path, const DiffOptions& options) {
  TS_TRY_STATUS(check_diff_inputs(base_path, target_path));
  DiffSummary summary;
  Status written =
      write_sql_script(diff_path, fmt::format("turso-sync diff: {} -> {}", base_path, target_path),
                       [&](ChangeSink& sink) -> Status {
                         summary = TS_TRY(diff_databases(base_path, target_path, sink, options));
                         return {};
                       });
  if (!written.ok()) {
    Error e = std::move(written).error();
    return e.kind() == ErrorKind::io ? e.context("diff") : e;
  }
  return summary;
}

}  // namespace turso_sync
