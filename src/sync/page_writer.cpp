#include "sync/page_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "util/fs.h"

namespace turso_sync {

namespace {

constexpr size_t k_run_bytes = 1 << 20;

}  // namespace

Status PageRunWriter::write(uint64_t id, std::string_view page) {
  if (!m_run.empty() && (page.size() != m_page_size || id != m_first + m_run.size() / m_page_size ||
                         m_run.size() + page.size() > k_run_bytes))
    TS_TRY_STATUS(flush());
  if (m_run.empty()) {
    m_first = id;
    m_page_size = page.size();
    m_run.reserve(k_run_bytes);
  }
  m_run.append(page);
  return {};
}

Status PageRunWriter::flush() {
  if (m_run.empty()) return {};
  auto offset = static_cast<off_t>(m_first * m_page_size);
  for (const File& file : m_files) {
    for (size_t done = 0; done < m_run.size();) {
      ssize_t n =
          ::pwrite(file.fd, m_run.data() + done, m_run.size() - done, offset + static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("write", file.path);
      done += static_cast<size_t>(n);
    }
    // Best effort: only a head start for the final fsync, which stays the durability point.
    ::sync_file_range(file.fd, offset, static_cast<off_t>(m_run.size()), SYNC_FILE_RANGE_WRITE);
  }
  m_run.clear();
  return {};
}

}  // namespace turso_sync
