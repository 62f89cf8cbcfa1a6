#include "util/fs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

namespace turso_sync {

namespace fs = std::filesystem;

Error io_error(const std::string& what, const std::string& path, int err) {
  return Error(ErrorKind::io, fmt::format("{} {}: {}", what, path, std::strerror(err)));
}

namespace {

std::string parent_dir(const std::string& path) {
  fs::path p(path);
  auto parent = p.parent_path();
  return parent.empty() ? "." : parent.string();
}

// Removes the files of `dir` whose name starts with `prefix` and has ".tmp-<pid>" at `tmp_at` (npos: at its
// first ".tmp-"), when that process no longer runs, except `keep`.
void remove_dead_temp_files(const std::string& dir, const std::string& prefix, size_t tmp_at,
                            const std::string& keep) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    size_t at = tmp_at == std::string::npos ? name.find(".tmp-") : tmp_at;
    if (at == std::string::npos) continue;
    size_t digits = std::min(name.find_first_not_of("0123456789", at + 5), name.size());
    if (digits == at + 5 || digits - (at + 5) > 9) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name.substr(at + 5, digits - (at + 5))));
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // still running (or not ours to judge)
    if (!keep.empty() && fs::equivalent(entry.path(), keep, ec)) continue;
    fs::remove(entry.path(), ec);
  }
}
}  // namespace

Status fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open", path);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("fsync", path, err);
  return {};
}

Status durable_rename(const std::string& from, const std::string& to, FsyncSource fsync) {
  if (fsync == FsyncSource::yes) TS_TRY_STATUS(fsync_path(from));
  if (::rename(from.c_str(), to.c_str()) != 0) return io_error(fmt::format("rename {} to", from), to);
  return fsync_path(parent_dir(to));
}

Status create_private_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kPrivateFileMode);
  if (fd < 0) return io_error("create", path);
  ::close(fd);
  return {};
}

Status atomic_write_file(const std::string& path, std::string_view content, unsigned mode,
                         Durability durability) {
  std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return io_error("create", tmp);
  ::fchmod(fd, mode);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return io_error("write", tmp, err);
    }
    done += static_cast<size_t>(n);
  }
  if (durability == Durability::durable && ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return io_error("fsync", tmp, err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("rename to", path, err);
  }
  return durability == Durability::durable ? fsync_path(parent_dir(path)) : Status{};
}

void remove_stale_temp_files(const std::string& path, const std::string& keep) {
  std::string name = fs::path(path).filename().string();
  remove_dead_temp_files(parent_dir(path), name + ".tmp-", name.size(), keep);
}

void remove_stale_temp_files_in(const std::string& dir, const std::string& keep) {
  remove_dead_temp_files(dir, "", std::string::npos, keep);
}

Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open", path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return io_error("read", path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status make_dirs(const std::string& path, unsigned mode) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return {};
  fs::create_directories(path, ec);
  if (ec) return Error(ErrorKind::io, fmt::format("create directory {}: {}", path, ec.message()));
  ::chmod(path.c_str(), mode);
  return {};
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::optional<uint64_t> file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<uint64_t>(st.st_size);
}

namespace {
std::string format_utc(const char* pattern) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, pattern, &tm);
  return buf;
}
}  // namespace

std::string utc_timestamp() {
  return format_utc("%Y-%m-%dT%H:%M:%SZ");
}
std::string utc_timestamp_for_file() {
  return format_utc("%Y%m%dT%H%M%SZ");
}

std::string utc_timestamp_at(std::chrono::system_clock::time_point when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::chrono::system_clock::time_point> parse_utc_timestamp(const std::string& text) {
  std::tm tm{};
  const char* end = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

void UniqueFd::reset() {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = -1;
}

Status copy_bytes(const std::function<Status(void* buf, size_t n, uint64_t offset)>& read, uint64_t size,
                  const std::vector<CopyTarget>& targets, bool start_writeback) {
  std::vector<char> buf(1 << 20);
  for (uint64_t done = 0; done < size;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
    TS_TRY_STATUS(read(buf.data(), n, done));
    for (const CopyTarget& to : targets) {
      for (size_t written = 0; written < n;) {
        ssize_t w = ::pwrite(to.fd, buf.data() + written, n - written, static_cast<off_t>(done + written));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
          return Error(ErrorKind::io, fmt::format("copy into {}: {}", to.path, std::strerror(errno)));
        written += static_cast<size_t>(w);
      }
      // Best effort: only a head start for the caller's fsync, which stays the durability point.
      if (start_writeback)
        ::sync_file_range(to.fd, static_cast<off_t>(done), static_cast<off_t>(n), SYNC_FILE_RANGE_WRITE);
    }
    done += n;
  }
  return {};
}

namespace {

Status pread_all(int fd, char* buf, size_t n, uint64_t offset) {
  for (size_t got = 0; got < n;) {
    ssize_t r = ::pread(fd, buf + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      return Error(ErrorKind::io,
                   fmt::format("read: {}", r == 0 ? "file ended early" : std::strerror(errno)));
    got += static_cast<size_t>(r);
  }
  return {};
}

}  // namespace

Status reserve_file_space(int fd, uint64_t size, const std::string& path) {
  int rc = 0;
  do {
    rc = ::fallocate(fd, 0, 0, static_cast<off_t>(size));
  } while (rc != 0 && errno == EINTR);
  if (rc == 0 || (errno != ENOSPC && errno != EDQUOT && errno != EFBIG)) return {};
  return io_error(fmt::format("no room for the {} MB of", (size + (1 << 20) - 1) >> 20), path);
}

Status copy_file_bytes(int from, uint64_t size, const CopyTarget& to, bool start_writeback) {
  constexpr uint64_t k_piece = 8 << 20;
  for (uint64_t done = 0; done < size;) {
    uint64_t start = done, end = std::min(size, done + k_piece);
    while (done < end) {
      auto in = static_cast<loff_t>(done), out = static_cast<loff_t>(done);
      ssize_t n = ::copy_file_range(from, &in, to.fd, &out, end - done, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && done == 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL))
        return copy_bytes(
            [from](void* buf, size_t want, uint64_t offset) {
              return pread_all(from, static_cast<char*>(buf), want, offset);
            },
            size, {to}, start_writeback);
      if (n <= 0)
        return Error(ErrorKind::io, fmt::format("copy into {}: {}", to.path,
                                                n == 0 ? "source ended early" : std::strerror(errno)));
      done += static_cast<uint64_t>(n);
    }
    // Best effort: only a head start for the caller's fsync, which stays the durability point.
    if (start_writeback)
      ::sync_file_range(to.fd, static_cast<off_t>(start), static_cast<off_t>(end - start),
                        SYNC_FILE_RANGE_WRITE);
  }
  return {};
}

}  // namespace turso_sync
