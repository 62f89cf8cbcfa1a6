#include "util/large_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "util/json_writer.h"
#include "util/text.h"

namespace turso_sync {

namespace {

constexpr size_t kChunk = 256 << 10;

std::string temp_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  const char* env = std::getenv("TMPDIR");
  return env && *env ? env : "/tmp";
}

}  // namespace

Result<int> open_anonymous_file(const std::string& dir_in, std::string_view what) {
  std::string dir = temp_dir(dir_in);
#ifdef O_TMPFILE
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
#endif
  std::string path = dir + "/.turso-sync-spill-XXXXXX";
  std::vector<char> name(path.begin(), path.end());
  name.push_back('\0');
  int named = ::mkostemp(name.data(), O_CLOEXEC);
  if (named < 0)
    return Error(ErrorKind::io,
                 fmt::format("create a temporary file in {} for {}: {}", dir, what, std::strerror(errno)));
  ::unlink(name.data());
  return named;
}

Result<std::shared_ptr<LargeStore>> LargeStore::create(const std::string& dir, std::string_view what) {
  auto fd = open_anonymous_file(dir, what);
  if (!fd.ok() && !dir.empty()) fd = open_anonymous_file("", what);  // e.g. no state directory yet
  if (!fd.ok()) return fd.error();
  return std::shared_ptr<LargeStore>(new LargeStore(fd.value()));
}

LargeStore::~LargeStore() {
  ::close(m_fd);
}

Result<uint64_t> LargeStore::append(std::string_view bytes) {
  uint64_t at = m_size;
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::pwrite(m_fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(at + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      return Error(ErrorKind::io,
                   fmt::format("write a large value to a temporary file: {}", std::strerror(errno)));
    done += static_cast<size_t>(w);
  }
  m_size += bytes.size();
  return at;
}

Status LargeStore::read(uint64_t offset, size_t n, char* out) const {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(m_fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      return Error(ErrorKind::io, fmt::format("read a large value from its temporary file: {}",
                                              r == 0 ? "unexpected end of file" : std::strerror(errno)));
    done += static_cast<size_t>(r);
  }
  return {};
}

Result<Value> store_large(const std::shared_ptr<LargeStore>& store, const Value& value) {
  LargeBytes bytes{store, store->size(), value.byte_size(), nullptr};
  Status failed;
  bool ok = value.for_each_chunk(kChunk, [&](std::string_view piece) {
    auto at = store->append(piece);
    if (!at) failed = at.error();
    return at.ok();
  });
  if (!failed.ok()) return failed.error();
  if (!ok) return Error(ErrorKind::io, "read a large value from its temporary file");
  return Value::large(value.type(), std::move(bytes));
}

namespace {

// Reads two values' bytes side by side in pieces: `fn(a_piece, b_piece)` over the common length.
template <typename Fn>
bool side_by_side(const Value& a, const Value& b, Fn fn) {
  uint64_t n = std::min(a.byte_size(), b.byte_size());
  if (!a.is_large() && !b.is_large())
    return fn(std::string_view(a.as_bytes()).substr(0, n), std::string_view(b.as_bytes()).substr(0, n));
  std::string ba(kChunk, '\0'), bb(kChunk, '\0');
  for (uint64_t at = 0; at < n; at += kChunk) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(kChunk, n - at));
    std::string_view pa, pb;
    for (auto [v, buffer, piece] : {std::tuple{&a, &ba, &pa}, std::tuple{&b, &bb, &pb}}) {
      if (v->is_large()) {
        const LargeBytes& lb = v->large_bytes();
        if (!lb.store->read(lb.offset + at, len, buffer->data()).ok()) return false;
        *piece = std::string_view(buffer->data(), len);
      } else {
        *piece = std::string_view(v->as_bytes()).substr(static_cast<size_t>(at), len);
      }
    }
    if (!fn(pa, pb)) return false;
  }
  return true;
}

}  // namespace

bool same_bytes(const Value& a, const Value& b) {
  if (a.byte_size() != b.byte_size()) return false;
  return side_by_side(a, b, [](std::string_view x, std::string_view y) { return x == y; });
}

int compare_bytes(const Value& a, const Value& b) {
  int c = 0;
  side_by_side(a, b, [&](std::string_view x, std::string_view y) {
    int r = x.compare(y);
    c = r < 0 ? -1 : (r > 0 ? 1 : 0);
    return c == 0;
  });
  if (c != 0) return c;
  uint64_t na = a.byte_size(), nb = b.byte_size();
  return na < nb ? -1 : (na > nb ? 1 : 0);
}

Result<TextScan> scan_text(const Value& text) {
  TextScan scan;
  Utf8Validator utf8;
  bool read = text.for_each_chunk(kChunk, [&](std::string_view piece) {
    utf8.feed(piece);
    scan.has_nul = scan.has_nul || piece.find('\0') != std::string_view::npos;
    scan.json_escaped_size += json_escaped_size(piece);
    return true;
  });
  if (!read) return Error(ErrorKind::io, "read a large value from its temporary file");
  scan.valid_utf8 = utf8.finish();
  return scan;
}

Result<bool> is_valid_utf8_text(const Value& text) {
  if (!text.is_large()) return is_valid_utf8(text.as_bytes());
  return TS_TRY(scan_text(text)).valid_utf8;
}

}  // namespace turso_sync
