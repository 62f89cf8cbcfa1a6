#include "diff/page_scan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>

#include "db/page_format.h"

namespace turso_sync::diff {

namespace {

using db::get_be16;
using db::get_be32;
using db::get_varint;

// The WAL checksum (https://www.sqlite.org/fileformat2.html#walformat): over 32-bit words in the byte order
// the magic number says, two running sums.
void wal_checksum(bool big_endian, const uint8_t* data, size_t n, uint32_t* s0, uint32_t* s1) {
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint32_t a, b;
    if (big_endian) {
      a = get_be32(data + i);
      b = get_be32(data + i + 4);
    } else {
      std::memcpy(&a, data + i, 4);
      std::memcpy(&b, data + i + 4, 4);
    }
    *s0 += a + *s1;
    *s1 += b + *s0;
  }
}

struct Leaf {
  uint32_t pgno;
  int64_t lo;  // inclusive
  int64_t hi;  // inclusive
};

constexpr int64_t k_min = std::numeric_limits<int64_t>::min();
constexpr int64_t k_max = std::numeric_limits<int64_t>::max();

// Collects the leaves of the table b-tree rooted at `pgno` with the rowid range each covers.
bool collect_leaves(PageFile& file, uint32_t pgno, int64_t lo, int64_t hi, int depth,
                    std::vector<Leaf>* out) {
  if (depth > 40) return false;
  const uint8_t* page = file.read(pgno);
  if (!page) return false;
  size_t hdr = pgno == 1 ? 100 : 0;
  uint8_t type = page[hdr];
  if (type == 0x0D) {
    out->push_back({pgno, lo, hi});
    return true;
  }
  if (type != 0x05) return false;
  uint32_t size = file.page_size();
  std::vector<uint8_t> copy(page, page + size);  // the buffer is reused by the recursive reads
  const uint8_t* end = copy.data() + size;
  uint16_t ncell = get_be16(&copy[hdr + 3]);
  uint32_t right = get_be32(&copy[hdr + 8]);
  int64_t prev = lo;
  for (uint16_t i = 0; i < ncell; ++i) {
    size_t ptr_at = hdr + 12 + 2u * i;
    if (ptr_at + 2 > size) return false;
    uint16_t off = get_be16(&copy[ptr_at]);
    if (off + 4u > size) return false;
    uint32_t child = get_be32(&copy[off]);
    uint64_t key = 0;
    if (get_varint(&copy[off + 4], end, &key) == 0) return false;
    auto k = static_cast<int64_t>(key);
    if (!collect_leaves(file, child, prev, k, depth + 1, out)) return false;
    if (k == k_max) return right == 0 || collect_leaves(file, right, k_max, k_max, depth + 1, out);
    prev = k + 1;
  }
  return collect_leaves(file, right, prev, hi, depth + 1, out);
}

// Whether a table leaf page has a cell whose payload spills to overflow pages (whose content the page does
// not show).
bool has_overflow(const uint8_t* page, uint32_t pgno, uint32_t usable) {
  size_t hdr = pgno == 1 ? 100 : 0;
  uint16_t ncell = get_be16(page + hdr + 3);
  const uint8_t* end = page + usable;
  uint64_t max_local = db::max_local_payload(usable, /*table_leaf=*/true);
  for (uint16_t i = 0; i < ncell; ++i) {
    size_t ptr_at = hdr + 8 + 2u * i;
    if (ptr_at + 2 > usable) return true;
    uint16_t off = get_be16(page + ptr_at);
    if (off >= usable) return true;
    uint64_t payload = 0;
    if (get_varint(page + off, end, &payload) == 0) return true;
    if (payload > max_local) return true;
  }
  return false;
}

// A table leaf page's cell `i`: its rowid and record bytes; false when it cannot be read or spills to
// overflow pages (then not all of its content is on the page).
bool leaf_cell(const uint8_t* page, size_t hdr, uint16_t i, uint32_t usable, uint64_t* rowid,
               std::string_view* record) {
  size_t ptr_at = hdr + 8 + 2u * i;
  if (ptr_at + 2 > usable) return false;
  uint16_t off = get_be16(page + ptr_at);
  if (off >= usable) return false;
  const uint8_t* end = page + usable;
  uint64_t payload = 0;
  size_t n1 = get_varint(page + off, end, &payload);
  if (n1 == 0) return false;
  size_t n2 = get_varint(page + off + n1, end, rowid);
  if (n2 == 0 || payload > db::max_local_payload(usable, /*table_leaf=*/true)) return false;
  size_t start = off + n1 + n2;
  if (start + payload > usable) return false;
  *record = std::string_view(reinterpret_cast<const char*>(page + start), payload);
  return true;
}

// Whether two table leaf pages hold the same rows: the same cells (rowid and record bytes) in the same order,
// wherever each page places them. SQLite and the server lay out the cells of the same rows differently (after
// the same updates or deletes), and a page image of the server's then differs byte for byte from the working
// copy's page while holding the same rows.
bool same_rows(const uint8_t* a, const uint8_t* b, uint32_t pgno, uint32_t usable) {
  size_t hdr = pgno == 1 ? 100 : 0;
  if (a[hdr] != 0x0D || b[hdr] != 0x0D) return false;
  uint16_t n = get_be16(a + hdr + 3);
  if (n != get_be16(b + hdr + 3)) return false;
  for (uint16_t i = 0; i < n; ++i) {
    uint64_t rowid_a = 0, rowid_b = 0;
    std::string_view record_a, record_b;
    if (!leaf_cell(a, hdr, i, usable, &rowid_a, &record_a) ||
        !leaf_cell(b, hdr, i, usable, &rowid_b, &record_b))
      return false;
    if (rowid_a != rowid_b || record_a != record_b) return false;
  }
  return true;
}

bool is_btree_type(uint8_t type) {
  return type == 0x02 || type == 0x05 || type == 0x0A || type == 0x0D;
}

// The pages of the b-tree rooted at `root` (table or index) without reading its leaves: SQLite's b-trees are
// balanced (every leaf at the same depth; integrity_check reports otherwise), so the depth of the leftmost
// leaf says which level holds the leaves. Interior pages are read and checked. For table trees, each leaf
// gets the rowid range it covers; `interior` gets every interior page.
class TreeWalker {
 public:
  TreeWalker(PageFile& file, std::vector<uint32_t>* interior, std::vector<Leaf>* leaves)
      : m_file(file), m_interior(interior), m_leaves(leaves) {}

  bool walk(uint32_t root) {
    int depth = 0;
    for (uint32_t pgno = root;; ++depth) {
      if (depth > 40) return false;
      const uint8_t* page = m_file.read_single(pgno);
      if (!page) return false;
      size_t hdr = pgno == 1 ? 100 : 0;
      uint8_t type = page[hdr];
      if (type == 0x0D || type == 0x0A) break;
      if (type != 0x05 && type != 0x02) return false;
      pgno = leftmost_child(page, hdr);
      if (pgno == 0) return false;
    }
    m_leaf_depth = depth;
    m_copies.resize(depth);
    return visit(root, k_min, k_max, 0);
  }

 private:
  uint32_t leftmost_child(const uint8_t* page, size_t hdr) const {
    uint16_t ncell = get_be16(page + hdr + 3);
    if (ncell == 0) return get_be32(page + hdr + 8);
    uint16_t off = get_be16(page + hdr + 12);
    if (off + 4u > m_file.page_size()) return 0;
    return get_be32(page + off);
  }

  bool visit(uint32_t pgno, int64_t lo, int64_t hi, int depth) {
    if (depth == m_leaf_depth) {
      m_leaves->push_back({pgno, lo, hi});
      return true;
    }
    const uint8_t* read = m_file.read_single(pgno);
    if (!read) return false;
    uint32_t size = m_file.page_size();
    // A copy per level (the file's buffer is reused by the recursive reads), kept from page to page.
    std::vector<uint8_t>& page = m_copies[depth];
    page.assign(read, read + size);
    size_t hdr = pgno == 1 ? 100 : 0;
    uint8_t type = page[hdr];
    if (type != 0x05 && type != 0x02) return false;
    m_interior->push_back(pgno);
    bool table = type == 0x05;
    const uint8_t* end = page.data() + size;
    uint16_t ncell = get_be16(&page[hdr + 3]);
    uint32_t right = get_be32(&page[hdr + 8]);
    int64_t prev = lo;
    for (uint16_t i = 0; i < ncell; ++i) {
      size_t ptr_at = hdr + 12 + 2u * i;
      if (ptr_at + 2 > size) return false;
      uint16_t off = get_be16(&page[ptr_at]);
      if (off + 4u > size) return false;
      uint32_t child = get_be32(&page[off]);
      if (!table) {
        if (!visit(child, k_min, k_max, depth + 1)) return false;
        continue;
      }
      uint64_t key = 0;
      if (get_varint(&page[off + 4], end, &key) == 0) return false;
      auto k = static_cast<int64_t>(key);
      if (!visit(child, prev, k, depth + 1)) return false;
      if (k == k_max) return right == 0 || visit(right, k_max, k_max, depth + 1);
      prev = k + 1;
    }
    return visit(right, table ? prev : k_min, table ? hi : k_max, depth + 1);
  }

  PageFile& m_file;
  std::vector<uint32_t>* m_interior;
  std::vector<Leaf>* m_leaves;
  int m_leaf_depth = 0;
  std::vector<std::vector<uint8_t>> m_copies;  // per depth: the interior page being visited
};

// Sorted, disjoint, adjacent ranges joined.
std::vector<RowidRange> merge_ranges(std::vector<RowidRange> dirty) {
  std::sort(dirty.begin(), dirty.end(), [](const RowidRange& a, const RowidRange& b) { return a.lo < b.lo; });
  std::vector<RowidRange> merged;
  for (const RowidRange& r : dirty) {
    if (r.lo > r.hi) continue;
    if (!merged.empty() && (merged.back().hi == k_max || r.lo <= merged.back().hi + 1)) {
      merged.back().hi = std::max(merged.back().hi, r.hi);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

bool in(const std::vector<uint32_t>& sorted, uint32_t pgno) {
  return std::binary_search(sorted.begin(), sorted.end(), pgno);
}

// The rows of the leaves of one tree that meet the dirty ranges: each cell's rowid and record bytes, in key
// order (the leaves are in key order). `spills`: a leaf has a cell that spills to overflow pages, or could
// not be read; then nothing else is known.
struct RangeCells {
  bool spills = false;
  bool kept = false;                                        // the cells were kept (few enough leaves)
  std::vector<std::pair<int64_t, std::string_view>> cells;  // into `pages`
  std::vector<std::string> pages;                           // copies of the leaves read
};

// Reads the leaves of `leaves` that meet one of `ranges` (sorted, disjoint); keeps their cells when there are
// at most `max_pages` of them (else only whether one spills).
RangeCells cells_in_ranges(PageFile& file, const std::vector<Leaf>& leaves,
                           const std::vector<RowidRange>& ranges, size_t max_pages) {
  RangeCells out;
  uint32_t usable = file.page_size();
  std::vector<const Leaf*> meeting;
  for (const Leaf& l : leaves) {
    auto it = std::lower_bound(ranges.begin(), ranges.end(), l.lo,
                               [](const RowidRange& r, int64_t lo) { return r.hi < lo; });
    if (it != ranges.end() && it->lo <= l.hi) meeting.push_back(&l);
  }
  bool keep = meeting.size() <= max_pages;
  if (keep) out.pages.reserve(meeting.size());
  for (const Leaf* l : meeting) {
    const uint8_t* page = file.read_single(l->pgno);
    size_t hdr = l->pgno == 1 ? 100 : 0;
    if (!page || page[hdr] != 0x0D || has_overflow(page, l->pgno, usable)) {
      out.spills = true;
      return out;
    }
    if (!keep) continue;
    out.pages.emplace_back(reinterpret_cast<const char*>(page), usable);
    const auto* copy = reinterpret_cast<const uint8_t*>(out.pages.back().data());
    uint16_t ncell = get_be16(copy + hdr + 3);
    for (uint16_t i = 0; i < ncell; ++i) {
      uint64_t rowid = 0;
      std::string_view record;
      if (!leaf_cell(copy, hdr, i, usable, &rowid, &record)) {
        out.spills = true;
        return out;
      }
      out.cells.emplace_back(static_cast<int64_t>(rowid), record);
    }
  }
  out.kept = keep;
  return out;
}

// At most this many leaves of each tree are read whole to narrow the ranges to the rows that differ (16 MiB
// of 4 KiB pages); a larger change is compared range by range.
constexpr size_t k_max_narrowed_leaves = 4096;

// The ranges narrowed to the rowids whose cells differ (a rowid on one side only, or another record): a row
// whose record bytes are the same on both sides holds the same values (same table, same definition: the
// callers compare a table only against itself).
std::vector<RowidRange> differing_rows(const RangeCells& base, const RangeCells& target,
                                       const std::vector<RowidRange>& ranges) {
  std::vector<RowidRange> out;
  auto in_ranges = [&](int64_t rowid) {
    auto it = std::lower_bound(ranges.begin(), ranges.end(), rowid,
                               [](const RowidRange& r, int64_t v) { return r.hi < v; });
    return it != ranges.end() && it->lo <= rowid;
  };
  size_t i = 0, j = 0;
  while (i < base.cells.size() || j < target.cells.size()) {
    int64_t a = i < base.cells.size() ? base.cells[i].first : k_max;
    int64_t b = j < target.cells.size() ? target.cells[j].first : k_max;
    bool only_a = j >= target.cells.size() || (i < base.cells.size() && a < b);
    bool only_b = i >= base.cells.size() || (j < target.cells.size() && b < a);
    int64_t rowid = only_b ? b : a;
    bool differs = only_a || only_b || base.cells[i].second != target.cells[j].second;
    if (differs && in_ranges(rowid)) out.push_back({rowid, rowid});
    if (!only_b) ++i;
    if (!only_a) ++j;
  }
  return merge_ranges(std::move(out));
}

DirtyRanges dirty_ranges_of(PageFile& base, const std::vector<Leaf>& base_leaves, PageFile& target,
                            const std::vector<Leaf>& target_leaves, std::vector<RowidRange> dirty) {
  DirtyRanges out;
  out.ranges = merge_ranges(std::move(dirty));
  RangeCells b = cells_in_ranges(base, base_leaves, out.ranges, k_max_narrowed_leaves);
  RangeCells t;
  if (!b.spills) t = cells_in_ranges(target, target_leaves, out.ranges, k_max_narrowed_leaves);
  out.overflow = b.spills || t.spills;
  // Both sides' cells known: only the rows that differ are read by SQL.
  if (!out.overflow && b.kept && t.kept) out.ranges = differing_rows(b, t, out.ranges);
  return out;
}

}  // namespace

Result<std::unique_ptr<PageFile>> PageFile::open(db::Database& db, const std::string& schema) {
  db::ConnectionFile file = TS_TRY(db::ConnectionFile::database(db, schema));
  std::unique_ptr<PageFile> f(new PageFile(file));
  f->m_wal_file = db::ConnectionFile::wal(db, schema);
  return f;
}

Result<WalState> PageFile::load_wal() {
  m_chunk_first = 0;
  m_frame_offset.clear();
  m_usable = false;
  m_wal = WalState{};
  uint8_t header[100];
  if (!read_at(header, sizeof header, 0) || std::memcmp(header, "SQLite format 3", 16) != 0) return m_wal;
  uint32_t size = get_be16(header + 16);
  m_page_size = size == 1 ? 65536 : size;
  m_db_pages = get_be32(header + 28);
  if (get_be32(header + 24) != get_be32(header + 92)) {  // page count not trustworthy: use the file size
    auto bytes = m_file.size();
    if (!bytes) return m_wal;
    m_db_pages = static_cast<uint32_t>(*bytes / m_page_size);
  }
  m_auto_vacuum = get_be32(header + 52) != 0;
  m_buf.resize(m_page_size);
  m_usable = header[20] == 0 && m_page_size >= 512;
  WalState state;
  // A file in WAL format that the connection reads without a WAL (none open) is not the fast path's.
  state.wal_mode = header[18] == 2 && header[19] == 2;
  if (state.wal_mode && !m_wal_file) m_usable = false;
  m_frame_offset.assign(m_db_pages + 1, 0);
  if (!state.wal_mode) {
    m_wal = state;
    return state;
  }
  uint8_t hdr[32];
  if (!read_wal_at(hdr, sizeof hdr, 0)) {
    m_wal = state;
    return state;  // no WAL (or empty): the database file is the whole truth
  }
  uint32_t magic = get_be32(hdr);
  if ((magic & 0xFFFFFFFE) != 0x377f0682 || get_be32(hdr + 8) != m_page_size) {
    m_wal = state;
    return state;
  }
  bool big_endian = magic & 1;
  state.salt1 = get_be32(hdr + 16);
  state.salt2 = get_be32(hdr + 20);
  uint32_t s0 = 0, s1 = 0;
  wal_checksum(big_endian, hdr, 24, &s0, &s1);
  if (s0 != get_be32(hdr + 24) || s1 != get_be32(hdr + 28)) {
    m_wal = state;
    return state;
  }
  std::vector<uint8_t> frame(24 + m_page_size);
  std::vector<std::pair<uint32_t, uint64_t>> pending;  // frames of the transaction not yet committed
  uint64_t offset = 32;
  uint64_t index = 0;
  while (read_wal_at(frame.data(), frame.size(), offset)) {
    const uint8_t* fh = frame.data();
    if (get_be32(fh + 8) != state.salt1 || get_be32(fh + 12) != state.salt2) break;
    wal_checksum(big_endian, fh, 8, &s0, &s1);
    wal_checksum(big_endian, fh + 24, m_page_size, &s0, &s1);
    if (s0 != get_be32(fh + 16) || s1 != get_be32(fh + 20)) break;
    ++index;
    uint32_t pgno = get_be32(fh);
    pending.emplace_back(pgno, offset + 24);
    uint32_t commit_size = get_be32(fh + 4);
    if (commit_size != 0) {
      if (commit_size + 1 > m_frame_offset.size()) m_frame_offset.resize(commit_size + 1, 0);
      for (auto& [p, off] : pending)
        if (p < m_frame_offset.size()) m_frame_offset[p] = off;
      pending.clear();
      m_frame_offset.resize(commit_size + 1);  // the database has exactly commit_size pages now
      state.commit_frames = index;
    }
    offset += frame.size();
  }
  m_wal = state;
  return state;
}

bool PageFile::wal_restarted() {
  if (!m_wal.wal_mode) return false;
  uint8_t hdr[32];
  if (!read_wal_at(hdr, sizeof hdr, 0)) return m_wal.commit_frames != 0;
  return get_be32(hdr + 16) != m_wal.salt1 || get_be32(hdr + 20) != m_wal.salt2;
}

const uint8_t* PageFile::read(uint32_t pgno) {
  if (pgno == 0 || pgno >= m_frame_offset.size()) return nullptr;
  uint64_t wal_offset = m_frame_offset[pgno];
  if (wal_offset) return read_wal_at(m_buf.data(), m_page_size, wal_offset) ? m_buf.data() : nullptr;
  if (m_chunk_first == 0 || pgno < m_chunk_first || pgno >= m_chunk_first + m_chunk_count) {
    uint32_t first = pgno - (pgno - 1) % k_chunk_pages;
    uint32_t count = std::min<uint32_t>(k_chunk_pages, m_db_pages >= first ? m_db_pages - first + 1 : 0);
    if (pgno >= first + count)
      return read_at(m_buf.data(), m_page_size, uint64_t(pgno - 1) * m_page_size) ? m_buf.data() : nullptr;
    m_chunk.resize(size_t(k_chunk_pages) * m_page_size);
    m_chunk_first = 0;
    if (!read_at(m_chunk.data(), size_t(count) * m_page_size, uint64_t(first - 1) * m_page_size))
      return nullptr;
    m_chunk_first = first;
    m_chunk_count = count;
  }
  return m_chunk.data() + size_t(pgno - m_chunk_first) * m_page_size;
}

const uint8_t* PageFile::read_single(uint32_t pgno) {
  if (pgno == 0 || pgno >= m_frame_offset.size()) return nullptr;
  // A page with a committed WAL frame is that frame: the read-ahead chunk holds the database file's older
  // bytes of it.
  uint64_t wal_offset = m_frame_offset[pgno];
  if (wal_offset) return read_wal_at(m_buf.data(), m_page_size, wal_offset) ? m_buf.data() : nullptr;
  if (m_chunk_first != 0 && pgno >= m_chunk_first && pgno < m_chunk_first + m_chunk_count)
    return m_chunk.data() + size_t(pgno - m_chunk_first) * m_page_size;
  return read_at(m_buf.data(), m_page_size, uint64_t(pgno - 1) * m_page_size) ? m_buf.data() : nullptr;
}

uint32_t PageFile::page_count() const {
  return m_frame_offset.empty() ? 0 : static_cast<uint32_t>(m_frame_offset.size() - 1);
}

bool change_hint_usable(PageFile& base, PageFile& target, const std::vector<uint32_t>& changed) {
  if (!base.usable() || !target.usable() || base.page_size() != target.page_size()) return false;
  for (PageFile* f : {&base, &target}) {
    // Auto-vacuum files have pointer-map pages, which can look like b-tree pages; files of 2^24 pages and
    // more have overflow pages whose first byte is not 0.
    if (f->auto_vacuum() || f->page_count() >= (1u << 24)) return false;
    for (uint32_t pgno : changed) {
      if (pgno > f->page_count()) continue;  // not in this file
      const uint8_t* page = f->read_single(pgno);
      if (!page || !is_btree_type(page[pgno == 1 ? 100 : 0])) return false;
    }
  }
  return true;
}

std::optional<DirtyRanges> dirty_rowid_ranges_hinted(PageFile& base, uint32_t base_root, PageFile& target,
                                                     uint32_t target_root,
                                                     const std::vector<uint32_t>& changed) {
  std::vector<uint32_t> interior;
  std::vector<Leaf> base_leaves, target_leaves;
  if (!TreeWalker(base, &interior, &base_leaves).walk(base_root)) return std::nullopt;
  if (!TreeWalker(target, &interior, &target_leaves).walk(target_root)) return std::nullopt;
  // Page numbers as flags (a file's pages, not its rows: a few KB at a million rows).
  uint32_t pages = std::max(base.page_count(), target.page_count()) + 1;
  std::vector<uint8_t> flags(pages, 0);  // bit 0: changed, bit 1: a base leaf, bit 2: a clean leaf
  auto flag = [&](uint32_t pgno, uint8_t bit) {
    if (pgno < pages) flags[pgno] |= bit;
  };
  auto has = [&](uint32_t pgno, uint8_t bit) { return pgno < pages && (flags[pgno] & bit); };
  for (uint32_t pgno : changed) flag(pgno, 1);
  for (const Leaf& b : base_leaves) flag(b.pgno, 2);
  std::vector<RowidRange> dirty;
  for (const Leaf& t : target_leaves) {
    if (!has(t.pgno, 1) && has(t.pgno, 2))
      flag(t.pgno, 4);  // the same unchanged page is a leaf of both trees
    else
      dirty.push_back({t.lo, t.hi});
  }
  for (const Leaf& b : base_leaves)
    if (!has(b.pgno, 4)) dirty.push_back({b.lo, b.hi});
  return dirty_ranges_of(base, base_leaves, target, target_leaves, std::move(dirty));
}

std::optional<bool> tree_may_differ(PageFile& base, uint32_t base_root, PageFile& target,
                                    uint32_t target_root, const std::vector<uint32_t>& changed) {
  if (base_root != target_root) return true;
  std::vector<uint32_t> pages;
  std::vector<Leaf> leaves;
  if (!TreeWalker(base, &pages, &leaves).walk(base_root)) return std::nullopt;
  if (!TreeWalker(target, &pages, &leaves).walk(target_root)) return std::nullopt;
  for (const Leaf& l : leaves) pages.push_back(l.pgno);
  for (uint32_t pgno : pages)
    if (in(changed, pgno)) return true;
  return false;
}

std::optional<int64_t> count_rowid_table_rows(PageFile& file, uint32_t root) {
  std::vector<uint32_t> interior;
  std::vector<Leaf> leaves;
  if (!file.usable() || !TreeWalker(file, &interior, &leaves).walk(root)) return std::nullopt;
  std::sort(leaves.begin(), leaves.end(), [](const Leaf& a, const Leaf& b) { return a.pgno < b.pgno; });
  int64_t rows = 0;
  for (const Leaf& l : leaves) {
    const uint8_t* page = file.read(l.pgno);  // in file order: the read-ahead serves neighbours
    size_t hdr = l.pgno == 1 ? 100 : 0;
    if (!page || page[hdr] != 0x0D) return std::nullopt;
    rows += get_be16(page + hdr + 3);
  }
  return rows;
}

std::optional<DirtyRanges> dirty_rowid_ranges(PageFile& base, uint32_t base_root, PageFile& target,
                                              uint32_t target_root) {
  if (!base.usable() || !target.usable() || base.page_size() != target.page_size()) return std::nullopt;
  std::vector<Leaf> base_leaves, target_leaves;
  if (!collect_leaves(base, base_root, k_min, k_max, 0, &base_leaves)) return std::nullopt;
  if (!collect_leaves(target, target_root, k_min, k_max, 0, &target_leaves)) return std::nullopt;
  std::vector<std::pair<uint32_t, size_t>> base_index;  // (pgno, index in base_leaves), sorted
  for (size_t i = 0; i < base_leaves.size(); ++i) base_index.emplace_back(base_leaves[i].pgno, i);
  std::sort(base_index.begin(), base_index.end());
  std::vector<bool> base_clean(base_leaves.size(), false);
  std::vector<RowidRange> dirty;
  uint32_t size = target.page_size();
  for (const Leaf& t : target_leaves) {
    auto it = std::lower_bound(base_index.begin(), base_index.end(), std::make_pair(t.pgno, size_t(0)));
    bool clean = false;
    if (it != base_index.end() && it->first == t.pgno) {
      const uint8_t* tp = target.read(t.pgno);  // valid until target's next read
      const uint8_t* bp = tp ? base.read(t.pgno) : nullptr;
      clean = bp && ((std::memcmp(bp, tp, size) == 0 && !has_overflow(tp, t.pgno, size)) ||
                     same_rows(bp, tp, t.pgno, size));
      if (clean) base_clean[it->second] = true;
    }
    if (!clean) dirty.push_back({t.lo, t.hi});
    // A table rewritten nearly everywhere gains nothing from the page comparison: stop reading pages.
    if (dirty.size() >= 512 && dirty.size() * 10 > static_cast<size_t>(&t - target_leaves.data() + 1) * 9)
      return std::nullopt;
  }
  for (size_t i = 0; i < base_leaves.size(); ++i)
    if (!base_clean[i]) dirty.push_back({base_leaves[i].lo, base_leaves[i].hi});
  return dirty_ranges_of(base, base_leaves, target, target_leaves, std::move(dirty));
}

}  // namespace turso_sync::diff
