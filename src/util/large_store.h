// LargeStore: an anonymous temporary file of ours (never a database file) that holds the bytes of large
// TEXT and BLOB values (value.h, LargeBytes), so that a 50 MB value read by the diff is never held whole in
// memory: it is copied into a store in chunks, compared, spilled, sent and written from there in chunks.
// The file is removed by the system when the last value referring to it is gone, even after a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "turso_sync/status.h"
#include "turso_sync/value.h"

namespace turso_sync {

class LargeStore {
 public:
  // An anonymous file in `dir` ("" = $TMPDIR, else /tmp). Errors: ErrorKind::io.
  static Result<std::shared_ptr<LargeStore>> create(const std::string& dir, std::string_view what);
  ~LargeStore();
  LargeStore(const LargeStore&) = delete;
  LargeStore& operator=(const LargeStore&) = delete;

  // Appends bytes at the end of the file; returns where they begin.
  Result<uint64_t> append(std::string_view bytes);
  // Reads `n` bytes at `offset` (within what was appended). Errors: ErrorKind::io.
  Status read(uint64_t offset, size_t n, char* out) const;
  uint64_t size() const { return m_size; }

 private:
  explicit LargeStore(int fd) : m_fd(fd) {}
  int m_fd;
  uint64_t m_size = 0;
};

// An anonymous temporary file in `dir` ("" = $TMPDIR, else /tmp): O_TMPFILE where the file system has it,
// else a named one removed at once. `what` names its use in the error. Errors: ErrorKind::io.
Result<int> open_anonymous_file(const std::string& dir, std::string_view what);

// Writes `value` (TEXT or BLOB, either form) into `store` in chunks: the large form of the same value.
Result<Value> store_large(const std::shared_ptr<LargeStore>& store, const Value& value);

// Exact comparisons of the bytes of two TEXT or BLOB values of which either may be large, in chunks:
// equality, and memcmp order (shorter first on a common prefix).
bool same_bytes(const Value& a, const Value& b);
int compare_bytes(const Value& a, const Value& b);

// What the writers of a TEXT value (either form) need to know before writing it in pieces, found by reading
// it once in chunks: whether it is valid UTF-8 (JSON can carry it), whether it holds a NUL byte (an SQL
// string literal cannot), and its size once JSON-escaped (json_writer.h). Errors: ErrorKind::io reading
// the store.
struct TextScan {
  bool valid_utf8 = true;
  bool has_nul = false;
  uint64_t json_escaped_size = 0;
};
Result<TextScan> scan_text(const Value& text);
// Whether a TEXT value (either form) is valid UTF-8: is_valid_utf8, read in chunks when it is large.
Result<bool> is_valid_utf8_text(const Value& text);

}  // namespace turso_sync
