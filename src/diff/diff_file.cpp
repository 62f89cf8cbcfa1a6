// write_diff_file(): the library side of `turso-sync diff`.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "turso_sync/diff.h"

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

Result<DiffSummary> write_diff_file(const std::string& base_path, const std::string& target_path,
                                    const std::string& diff_path) {
  TS_TRY_STATUS(check_diff_inputs(base_path, target_path));
  fs::path target(diff_path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = mkstemp(name.data());  // created with mode 0600
  if (fd < 0)
    return Error(ErrorKind::io,
                 fmt::format("diff: create a temporary file in {}: {}", dir.string(), std::strerror(errno)));
  std::string tmp_path(name.data());
  auto fail = [&](Error e) {
    ::unlink(tmp_path.c_str());
    return e;
  };
  std::FILE* out = fdopen(fd, "w");
  if (!out) {
    ::close(fd);
    return fail(Error(ErrorKind::io, fmt::format("diff: open {}: {}", tmp_path, std::strerror(errno))));
  }
  Result<DiffSummary> summary = Error(ErrorKind::internal, "diff: not run");
  {
    // The writer's worker thread is done with `out` once the writer is gone.
    SqlWriter writer(out, fmt::format("turso-sync diff: {} -> {}", base_path, target_path));
    summary = diff_databases(base_path, target_path, writer);
  }
  bool flushed = std::fflush(out) == 0 && ::fsync(fileno(out)) == 0;
  bool closed = std::fclose(out) == 0;
  if (!summary.ok())
    return fail(summary.error().kind() == ErrorKind::io
                    ? summary.error().context(fmt::format("{} (left as it was)", diff_path))
                    : summary.error());
  if (!flushed || !closed)
    return fail(Error(ErrorKind::io, fmt::format("diff: write {}: {}", tmp_path, std::strerror(errno))));
  if (std::rename(tmp_path.c_str(), diff_path.c_str()) != 0)
    return fail(Error(ErrorKind::io,
                      fmt::format("diff: rename {} to {}: {}", tmp_path, diff_path, std::strerror(errno))));
  return summary;
}

}  // namespace turso_sync
