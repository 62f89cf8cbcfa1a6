// The page-level fast path of the row diff. A working copy starts as a byte copy of the replica and SQLite
// rewrites only the pages it changes, so most leaf pages of a table are byte-identical in both files. A leaf
// page that is identical at the same page number in both trees of a rowid table (and has no overflow cells)
// holds the same rows in both, and no other rows of either table fall in its rowid range: only the remaining
// ("dirty") rowid ranges need a row-by-row comparison. The cost then follows the size of the change, not of
// the table.
//
// Pages are read from the database file and its committed WAL frames through the SQLite connection's own
// file handles (db/file_reader.h: never a descriptor of ours, which would drop the application's locks), and
// must match the snapshot of the caller's SQLite read transaction: see PageFile::wal_state and diff.cpp for
// how that is checked.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "db/file_reader.h"
#include "db/sqlite.h"
#include "turso_sync/status.h"

namespace turso_sync::diff {

// Identifies the committed content of a WAL: equal states mean no transaction committed in between.
struct WalState {
  bool wal_mode = false;
  uint32_t salt1 = 0, salt2 = 0;
  uint64_t commit_frames = 0;  // frames up to and including the last valid commit frame
  bool operator==(const WalState&) const = default;
};

class PageFile {
 public:
  // The pages of `schema` ("main" or an attached name) of `db`, read through the connection's file handles.
  // The connection must outlive the PageFile and must have read that schema once before (so that SQLite has
  // opened its WAL). Errors only when SQLite has no file for it; a file the fast path cannot handle yields
  // a PageFile with usable() == false (after load_wal()).
  static Result<std::unique_ptr<PageFile>> open(db::Database& db, const std::string& schema);
  PageFile(const PageFile&) = delete;
  PageFile& operator=(const PageFile&) = delete;

  bool usable() const { return m_usable; }
  uint32_t page_size() const { return m_page_size; }
  // Re-reads the database header and the WAL index (page -> latest committed frame) and returns its state.
  Result<WalState> load_wal();
  const WalState& wal_state() const { return m_wal; }
  // Whether the WAL was restarted (its salts changed) since load_wal(): pages read since may be unreliable.
  bool wal_restarted();
  // The bytes of page `pgno` (1-based), valid until the next call; nullptr when out of range or unreadable.
  // read() reads ahead (leaves of a table are mostly adjacent); read_single() reads that page alone.
  const uint8_t* read(uint32_t pgno);
  const uint8_t* read_single(uint32_t pgno);
  // Pages in the snapshot load_wal() found.
  uint32_t page_count() const;
  // Auto-vacuum (or incremental vacuum) is on: the file has pointer-map pages.
  bool auto_vacuum() const { return m_auto_vacuum; }

 private:
  explicit PageFile(db::ConnectionFile file) : m_file(file) {}
  bool read_at(void* buf, size_t n, uint64_t offset) { return m_file.read(buf, n, offset); }
  bool read_wal_at(void* buf, size_t n, uint64_t offset) {
    return m_wal_file && m_wal_file->read(buf, n, offset);
  }
  db::ConnectionFile m_file;
  std::optional<db::ConnectionFile> m_wal_file;
  bool m_usable = false;
  bool m_auto_vacuum = false;
  uint32_t m_page_size = 0;
  uint32_t m_db_pages = 0;
  WalState m_wal;
  std::vector<uint64_t> m_frame_offset;  // per page number: offset of its page data in the WAL, 0 = none
  std::vector<uint8_t> m_buf;
  // Database-file pages are read in chunks of k_chunk_pages (leaves of a table are mostly adjacent).
  static constexpr uint32_t k_chunk_pages = 64;
  std::vector<uint8_t> m_chunk;
  uint32_t m_chunk_first = 0;  // first page number in m_chunk, 0 = empty
  uint32_t m_chunk_count = 0;
};

// A rowid range (lo, hi], both inclusive here: every rowid r with lo <= r <= hi.
struct RowidRange {
  int64_t lo;
  int64_t hi;
};

// The rowid ranges where two tables may differ, sorted and disjoint, and whether a row in them may spill to
// overflow pages on either side: false only when every leaf of either tree that meets a range was read and
// none of its cells spills (then no value in the ranges comes near k_large_value_bytes).
struct DirtyRanges {
  std::vector<RowidRange> ranges;
  bool overflow = true;
};

// The dirty ranges of the table rooted at `base_root` in `base` and the one rooted at `target_root` in
// `target`; nullopt when the trees cannot be read this way (the caller then compares everything).
std::optional<DirtyRanges> dirty_rowid_ranges(PageFile& base, uint32_t base_root, PageFile& target,
                                              uint32_t target_root);

// The rows of the rowid table rooted at `root`: the cells of its leaf pages (interior pages read, then the
// leaves in file order). nullopt when the tree cannot be read this way (the caller counts with SQL). Call
// load_wal() first.
std::optional<int64_t> count_rowid_table_rows(PageFile& file, uint32_t root);

// What a page pull knows: the pages (1-based, sorted) outside of which `base` and `target` are
// byte-identical. Whether that lets unchanged leaves count as clean without reading them: every changed page
// is a b-tree page in both files (so none is an overflow page that an unchanged leaf could point to), no
// pointer-map pages.
bool change_hint_usable(PageFile& base, PageFile& target, const std::vector<uint32_t>& changed);

// dirty_rowid_ranges() from the trees' structure alone, with a usable hint: a leaf at the same page number
// in both trees and outside `changed` is clean. Reads the interior pages only.
std::optional<DirtyRanges> dirty_rowid_ranges_hinted(PageFile& base, uint32_t base_root, PageFile& target,
                                                     uint32_t target_root,
                                                     const std::vector<uint32_t>& changed);

// With a usable hint: whether the b-trees (table or index) rooted at `base_root` and `target_root` can hold
// different content: false only when they have the same root and none of their pages is in `changed`;
// nullopt when a tree cannot be read this way.
std::optional<bool> tree_may_differ(PageFile& base, uint32_t base_root, PageFile& target,
                                    uint32_t target_root, const std::vector<uint32_t>& changed);

}  // namespace turso_sync::diff
