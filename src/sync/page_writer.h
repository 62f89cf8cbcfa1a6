// Writing a page image of ours (a new file no SQLite connection has open) as its pages arrive.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "turso_sync/status.h"

namespace turso_sync {

// Gathers consecutive pages into runs of up to 1 MiB and writes each run with one call to every file (the
// image and its byte copies), then starts its write-back (sync_file_range), so the fsync that ends each file
// finds little left to write. A page that does not follow the run ends it. Pages arrive in order from the
// server; any order is written correctly.
class PageRunWriter {
 public:
  struct File {
    int fd;            // stays owned by the caller
    std::string path;  // names it in errors
  };
  explicit PageRunWriter(std::vector<File> files) : m_files(std::move(files)) {}
  // Page `id` (0-based) of `page.size()` bytes, every page the same size.
  Status write(uint64_t id, std::string_view page);
  // Writes the run gathered so far. Call before reading the file or syncing it.
  Status flush();

 private:
  std::vector<File> m_files;
  std::string m_run;     // the pages gathered, from m_first on
  uint64_t m_first = 0;  // page id of the run's first page
  uint64_t m_page_size = 0;
};

}  // namespace turso_sync
