// Filesystem helpers with durability: atomic replace (temp file, fsync, rename, fsync directory).
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "turso_sync/status.h"

namespace turso_sync {

// An open file descriptor, closed when destroyed. Never one of a database file SQLite may hold open: closing
// it would drop the process's locks on that file (db/file_reader.h).
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : m_fd(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : m_fd(std::exchange(o.m_fd, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      m_fd = std::exchange(o.m_fd, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  void reset();
  int get() const { return m_fd; }
  explicit operator bool() const { return m_fd >= 0; }

 private:
  int m_fd;
};

// An ErrorKind::io error reading "<what> <path>: <strerror(err)>".
Error io_error(const std::string& what, const std::string& path, int err = errno);

// Whether a file written by atomic_write_file must survive a crash once the call returns (fsyncs of the file
// and its folder), or only be whole when it is seen (a hint that is checked before use, where losing it
// costs time and nothing else).
enum class Durability { durable, hint };
// Writes `content` to `path` atomically with permission `mode` (e.g. 0600): readers see the old or the new
// file.
Status atomic_write_file(const std::string& path, std::string_view content, unsigned mode,
                         Durability durability = Durability::durable);
// Whether durable_rename fsyncs the file itself first (it opens a descriptor of it to do so).
enum class FsyncSource { yes, no };
// Renames `from` over `to` and makes the rename durable, and the file's content first unless
// FsyncSource::no: a file that SQLite may hold open (a database, its journal) is never opened by us, as
// closing that descriptor would drop every lock the process holds on it (db/file_reader.h).
Status durable_rename(const std::string& from, const std::string& to, FsyncSource fsync = FsyncSource::yes);
Status fsync_path(const std::string& path);
// Creates the empty file `path` (it must not exist) readable by its owner only: the databases turso-sync
// makes hold the application's data (SQLite then keeps that mode for their journals).
Status create_private_file(const std::string& path);
// The mode of the files above.
inline constexpr unsigned kPrivateFileMode = 0600;
Result<std::string> read_file(const std::string& path);
// A new file of ours to copy into: its open descriptor and its path (for errors).
struct CopyTarget {
  int fd;
  std::string path;
};
// Copies bytes [0, size) into each target at the same offsets, 1 MiB at a time, each piece read once by
// `read` (`n` bytes at `offset` into `buf`). With `start_writeback`, each piece's write-back starts as it is
// written (sync_file_range), so that the fsync that ends a file finds little left to write. No fsync.
Status copy_bytes(const std::function<Status(void* buf, size_t n, uint64_t offset)>& read, uint64_t size,
                  const std::vector<CopyTarget>& targets, bool start_writeback);
// Makes the file open as `fd` (a new file of ours) `size` bytes long with its blocks allocated (fallocate),
// before it is written: the writes then skip ext4's delayed allocation (1M rows: the image's download 8 ms
// shorter, init 7% faster), and a disk too small fails at once instead of part way. Errors: ErrorKind::io
// when the disk or the process's file size limit has no room; nothing when the file system cannot
// allocate ahead (its writes allocate as they go).
Status reserve_file_space(int fd, uint64_t size, const std::string& path);
// Copies bytes [0, size) of the file open as `from` (a file of ours, never one SQLite holds) into `to` at the
// same offsets, inside the kernel (copy_file_range; copy_bytes through a buffer where the kernel cannot).
// The kernel writes the copy in small pieces, so its page cache is held in small folios: a database
// file's later 4 KiB writes and their fdatasync then cost a third less than in the large folios that 1 MiB
// writes make (100 scattered pages of an 86 MB file: 2.0 ms against 3.3 ms). `start_writeback` as above.
// No fsync.
Status copy_file_bytes(int from, uint64_t size, const CopyTarget& to, bool start_writeback);
// Removes the temp files "<path>.tmp-<pid>[…]" (named so by atomic_write_file and the commands) whose process
// no longer runs, what a killed run left behind, except the file `keep`. Best effort.
void remove_stale_temp_files(const std::string& path, const std::string& keep = "");
// The same for every "<name>.tmp-<pid>[…]" in `dir`, a directory only turso-sync writes (the state dir).
void remove_stale_temp_files_in(const std::string& dir, const std::string& keep = "");
Status make_dirs(const std::string& path, unsigned mode = 0700);
bool file_exists(const std::string& path);
std::optional<uint64_t> file_size(const std::string& path);
// Current time as RFC 3339 UTC ("2026-11-28T05:00:00Z"), and a compact form for file names.
std::string utc_timestamp();
std::string utc_timestamp_for_file();
// `when` as RFC 3339 UTC; and back (nullopt when `text` is not of that form).
std::string utc_timestamp_at(std::chrono::system_clock::time_point when);
std::optional<std::chrono::system_clock::time_point> parse_utc_timestamp(const std::string& text);

}  // namespace turso_sync
