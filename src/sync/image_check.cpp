#include "sync/image_check.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "db/page_format.h"
#include "util/fs.h"

namespace turso_sync {

namespace {

constexpr uint32_t k_page = 4096;
constexpr uint32_t k_usable = k_page;  // no reserved bytes (else unsupported)
// Page 1 of a database of 4096-byte pages holds the lock bytes at 1 GiB: the page there is never used.
constexpr uint64_t k_lock_page = (uint64_t{1} << 30) / k_page + 1;
// Deeper than any b-tree of 2^32 pages of 4096 bytes can be: a cycle or a chain of damaged pages.
constexpr int k_max_depth = 40;
// Pages mapped at once (1 MiB, a multiple of any system page size): a tree's pages are mostly adjacent and
// in order.
constexpr uint32_t k_window_pages = 256;

using db::get_be16;
using db::get_be32;
using db::get_varint;

// Bytes of a record value of serial type `t`; -1 for the reserved types 10 and 11.
int64_t value_size(uint64_t t) {
  static constexpr int8_t k_fixed[] = {0, 1, 2, 3, 4, 6, 8, 8, 0, 0, -1, -1};
  if (t < 12) return k_fixed[t];
  return static_cast<int64_t>((t - 12) / 2);
}

enum class Family { any, table, index };

// A schema row's fields this check needs.
struct SchemaRow {
  std::string type;
  int64_t rootpage = 0;
  Family family = Family::any;  // of its tree: a table's, or an index's (indexes, WITHOUT ROWID tables)
};

class Checker {
 public:
  Checker(int fd, uint64_t pages, const std::string& path, bool map_pages)
      : m_fd(fd), m_pages(static_cast<uint32_t>(pages)), m_path(path), m_used(pages + 1, false) {
    if (!map_pages) m_read.resize(size_t{k_window_pages} * k_page);
  }

  ~Checker() { unmap(); }
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  Result<ImageCheck> run();

 private:
  // Page `pgno` (1-based, in range), valid until the next call.
  Result<const uint8_t*> page(uint32_t pgno);
  void unmap();
  // Marks `pgno` used by `what`; false (and the verdict) when out of range or used before.
  bool claim(uint32_t pgno, const char* what, uint32_t from);
  // Checks the tree page `pgno` and its subtree: keys of a table tree in (lo, hi]; returns its depth (a leaf
  // is 1), 0 once the verdict is set.
  Result<int> tree_page(uint32_t pgno, Family family, bool has_lo, int64_t lo, int64_t hi, int level,
                        int64_t* rows);
  Status overflow_chain(uint32_t first, uint64_t pages, uint32_t from);
  Status freelist();
  void record(const uint8_t* payload, uint64_t local, uint64_t size, uint32_t pgno, int cell);
  void schema_row(const uint8_t* payload, uint64_t local, uint32_t pgno);
  bool damaged(std::string problem) {
    if (m_out.verdict == ImageCheck::Verdict::sound) {
      m_out.verdict = ImageCheck::Verdict::damaged;
      m_out.problem = std::move(problem);
    }
    return false;
  }
  bool unsupported(std::string why) {
    if (m_out.verdict == ImageCheck::Verdict::sound) {
      m_out.verdict = ImageCheck::Verdict::unsupported;
      m_out.problem = std::move(why);
    }
    return false;
  }
  // The verdict set, as tree_page's and run()'s results.
  int broken(std::string problem) {
    damaged(std::move(problem));
    return 0;
  }
  ImageCheck verdict_damaged(std::string problem) {
    damaged(std::move(problem));
    return m_out;
  }
  ImageCheck verdict_unsupported(std::string why) {
    unsupported(std::move(why));
    return m_out;
  }
  bool failed() const { return m_out.verdict != ImageCheck::Verdict::sound; }

  int m_fd;
  uint32_t m_pages;
  const std::string& m_path;
  std::vector<bool> m_used;           // by page number
  const uint8_t* m_window = nullptr;  // pages m_window_first.. (1-based): mapped, or read into m_read
  uint32_t m_window_first = 0, m_window_count = 0;
  bool m_mapped = false;
  std::vector<uint8_t> m_read;                 // the window, read, once a mapping failed
  std::vector<SchemaRow>* m_schema = nullptr;  // set while the schema's tree is walked
  ImageCheck m_out;
};

Result<const uint8_t*> Checker::page(uint32_t pgno) {
  if (pgno >= m_window_first && pgno < m_window_first + m_window_count)
    return m_window + size_t{pgno - m_window_first} * k_page;
  // A window of the file mapped in place of the last one: no copy of the pages, and resident memory stays
  // one window (run() made sure the file holds every page, so no access falls past its end). Where the file
  // system cannot map it, the window is read instead.
  uint32_t first = pgno - (pgno - 1) % k_window_pages;
  uint32_t count = std::min<uint32_t>(k_window_pages, m_pages - first + 1);
  const size_t bytes = size_t{count} * k_page;
  const auto offset = static_cast<off_t>(uint64_t{first - 1} * k_page);
  unmap();
  void* at = m_read.empty() ? ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, m_fd, offset) : MAP_FAILED;
  if (at != MAP_FAILED) {
    ::madvise(at, bytes, MADV_WILLNEED);
    m_mapped = true;
    m_window = static_cast<const uint8_t*>(at);
  } else {
    m_read.resize(size_t{k_window_pages} * k_page);
    for (size_t done = 0; done < bytes;) {
      ssize_t n = ::pread(m_fd, m_read.data() + done, bytes - done, offset + static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("read", m_path);
      if (n == 0) return Error(ErrorKind::io, fmt::format("{}: shorter than {} pages", m_path, m_pages));
      done += static_cast<size_t>(n);
    }
    m_window = m_read.data();
  }
  m_window_first = first;
  m_window_count = count;
  return m_window + size_t{pgno - first} * k_page;
}

void Checker::unmap() {
  if (m_window && m_mapped) ::munmap(const_cast<uint8_t*>(m_window), size_t{m_window_count} * k_page);
  m_window = nullptr;
  m_mapped = false;
  m_window_first = m_window_count = 0;
}

bool Checker::claim(uint32_t pgno, const char* what, uint32_t from) {
  if (pgno < 1 || pgno > m_pages || pgno == k_lock_page)
    return damaged(fmt::format("{} page {} (from page {}) is not in the database of {} pages", what, pgno,
                               from, m_pages));
  if (m_used[pgno])
    return damaged(fmt::format("page {} is used twice (again as {} from page {})", pgno, what, from));
  m_used[pgno] = true;
  return true;
}

// A record: its header's serial types add up to its payload (what SQLite's quick_check finds when it reads
// each row's last column). Checked when the header lies in the page (it always does but for rows of
// thousands of columns).
void Checker::record(const uint8_t* payload, uint64_t local, uint64_t size, uint32_t pgno, int cell) {
  const uint8_t* end = payload + local;
  uint64_t header = 0;
  size_t n = get_varint(payload, end, &header);
  if (n == 0 || header > size || header < n) {
    damaged(fmt::format("cell {} of page {}: record header of {} bytes in a payload of {}", cell, pgno,
                        header, size));
    return;
  }
  if (header > local) return;
  uint64_t body = 0;
  for (const uint8_t* p = payload + n; p < payload + header;) {
    uint64_t type = 0;
    size_t m = get_varint(p, payload + header, &type);
    int64_t bytes = m == 0 ? -1 : value_size(type);
    if (bytes < 0) {
      damaged(fmt::format("cell {} of page {}: bad record header", cell, pgno));
      return;
    }
    body += static_cast<uint64_t>(bytes);
    p += m;
  }
  if (header + body != size)
    damaged(fmt::format("cell {} of page {}: record of {} bytes in a payload of {}", cell, pgno,
                        header + body, size));
}

// A row of sqlite_schema: type, name, tbl_name, rootpage, sql.
void Checker::schema_row(const uint8_t* payload, uint64_t local, uint32_t pgno) {
  auto spills = [&]() { unsupported(fmt::format("a schema row of page {} spills to overflow pages", pgno)); };
  uint64_t header = 0;
  size_t n = get_varint(payload, payload + local, &header);
  const uint8_t* header_end = payload + std::min(header, local);
  uint64_t types[5] = {};
  uint64_t offsets[5] = {};
  uint64_t at = header;
  const uint8_t* p = payload + n;
  for (int i = 0; i < 5; ++i) {
    size_t m = p < header_end ? get_varint(p, header_end, &types[i]) : 0;
    if (m == 0) {
      if (header > local)
        spills();
      else
        damaged(fmt::format("page {}: a schema row has fewer than 5 columns", pgno));
      return;
    }
    offsets[i] = at;
    at += static_cast<uint64_t>(value_size(types[i]));
    p += m;
  }
  // Column `i` as text ("" when it is not text); false when it lies past the page.
  auto text = [&](int i, std::string_view* out) {
    *out = {};
    if (types[i] < 13 || types[i] % 2 == 0) return true;
    uint64_t bytes = (types[i] - 13) / 2;
    if (offsets[i] + bytes > local) return false;
    *out = std::string_view(reinterpret_cast<const char*>(payload + offsets[i]), bytes);
    return true;
  };
  SchemaRow row;
  std::string_view type, sql;
  if (!text(0, &type)) return spills();
  row.type = type;
  uint64_t t = types[3];
  if (t >= 1 && t <= 6) {
    int64_t bytes = value_size(t);
    if (offsets[3] + static_cast<uint64_t>(bytes) > local) return spills();
    uint64_t v = (payload[offsets[3]] & 0x80) ? ~uint64_t{0} : 0;
    for (int64_t i = 0; i < bytes; ++i) v = (v << 8) | payload[offsets[3] + static_cast<uint64_t>(i)];
    row.rootpage = static_cast<int64_t>(v);
  } else if (t == 9) {
    row.rootpage = 1;
  }
  if (row.type == "index") {
    row.family = Family::index;
  } else if (row.type == "table" && row.rootpage != 0) {
    // A WITHOUT ROWID table's tree is an index tree: the option follows the column list's parenthesis.
    if (!text(4, &sql)) return spills();
    std::string options;
    for (char c : sql.substr(std::min(sql.size(), sql.rfind(')') + 1)))
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
        options += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    row.family = options.find("withoutrowid") != std::string::npos ? Family::index : Family::table;
  }
  m_schema->push_back(std::move(row));
}

Result<int> Checker::tree_page(uint32_t pgno, Family family, bool has_lo, int64_t lo, int64_t hi, int level,
                               int64_t* rows) {
  if (level > k_max_depth)
    return broken(fmt::format("page {}: the tree is deeper than {} levels", pgno, k_max_depth));
  const uint8_t* data = TS_TRY(page(pgno));
  const uint32_t hdr = pgno == 1 ? 100 : 0;
  const uint8_t type = data[hdr];
  const bool leaf = type == 10 || type == 13;
  const bool intkey = type == 5 || type == 13;
  if (type != 2 && type != 5 && type != 10 && type != 13)
    return broken(fmt::format("page {} is not a b-tree page (type byte {})", pgno, type));
  if ((family == Family::table && !intkey) || (family == Family::index && intkey))
    return broken(fmt::format("page {} is a {} page in a {} tree", pgno, intkey ? "table" : "index",
                              intkey ? "index" : "table"));
  const uint32_t cells = get_be16(data + hdr + 3);
  const uint32_t header_bytes = leaf ? 8 : 12;
  const uint32_t cell_first = hdr + header_bytes + 2 * cells;
  uint32_t top = get_be16(data + hdr + 5);
  if (top == 0) top = 65536;
  if (cell_first > k_usable || top > k_usable || top < cell_first)
    return broken(fmt::format("page {}: {} cells and a content area at {} do not fit", pgno, cells, top));

  // Cells and freeblocks as byte ranges [first, last]; then they must not overlap, and the bytes between
  // them must be the page's fragment count.
  std::vector<std::pair<uint32_t, uint32_t>> spans;
  spans.reserve(cells + 4);
  struct Child {
    uint32_t page;
    int64_t key;
  };
  std::vector<Child> children;
  std::vector<std::pair<uint32_t, uint64_t>> overflows;  // first page, pages
  const uint64_t max_local = db::max_local_payload(k_usable, leaf && intkey);
  const uint64_t min_local = db::min_local_payload(k_usable);
  bool has_prev = false;
  int64_t prev = 0;
  for (uint32_t i = 0; i < cells; ++i) {
    uint32_t pc = get_be16(data + hdr + header_bytes + 2 * i);
    if (pc < top || pc > k_usable - 4)
      return broken(
          fmt::format("page {}: cell {} at offset {} is outside {}..{}", pgno, i, pc, top, k_usable - 4));
    const uint8_t* cell = data + pc;
    const uint8_t* end = data + k_usable;
    const uint8_t* p = cell;
    uint32_t child = 0;
    if (!leaf) {
      child = get_be32(p);
      p += 4;
    }
    uint64_t payload = 0;
    int64_t key = 0;
    if (type != 5) {
      size_t n = get_varint(p, end, &payload);
      if (n == 0) return broken(fmt::format("page {}: cell {} runs off the page", pgno, i));
      p += n;
    }
    if (intkey) {
      uint64_t k = 0;
      size_t n = get_varint(p, end, &k);
      if (n == 0) return broken(fmt::format("page {}: cell {} runs off the page", pgno, i));
      p += n;
      key = static_cast<int64_t>(k);
      if ((has_prev && key <= prev) || (!has_prev && has_lo && key <= lo) || key > hi)
        return broken(fmt::format("page {}: rowid {} out of order", pgno, key));
      has_prev = true;
      prev = key;
    }
    uint64_t size = static_cast<uint64_t>(p - cell);
    if (type != 5) {
      uint64_t local = payload;
      if (payload > max_local) {
        uint64_t k = min_local + (payload - min_local) % (k_usable - 4);
        local = k <= max_local ? k : min_local;
      }
      if (static_cast<uint64_t>(end - p) < local + (local < payload ? 4 : 0))
        return broken(fmt::format("page {}: cell {} extends off the page", pgno, i));
      if (m_schema && leaf) schema_row(p, local, pgno);
      record(p, local, payload, pgno, static_cast<int>(i));
      if (failed()) return 0;
      size += local;
      if (local < payload) {
        overflows.emplace_back(get_be32(p + local), (payload - local + k_usable - 5) / (k_usable - 4));
        size += 4;
      }
    }
    size = std::max<uint64_t>(size, 4);
    if (pc + size > k_usable) return broken(fmt::format("page {}: cell {} extends off the page", pgno, i));
    spans.emplace_back(pc, static_cast<uint32_t>(pc + size - 1));
    if (!leaf) children.push_back({child, key});
  }
  if (uint32_t block = get_be16(data + hdr + 1); block != 0) {
    if (block < top)
      return broken(fmt::format("page {}: a freeblock at {} before the content area", pgno, block));
    for (;;) {
      if (block > k_usable - 4)
        return broken(fmt::format("page {}: a freeblock at {} off the end of the page", pgno, block));
      uint32_t next = get_be16(data + block);
      uint32_t bytes = get_be16(data + block + 2);
      if (bytes < 4 || block + bytes > k_usable)
        return broken(fmt::format("page {}: a freeblock of {} bytes at {}", pgno, bytes, block));
      spans.emplace_back(block, block + bytes - 1);
      if (next == 0) break;
      if (next <= block + bytes + 3)
        return broken(fmt::format("page {}: freeblocks out of order at {}", pgno, block));
      block = next;
    }
  }
  // SQLite places a page's cells from its end down: the spans are then in descending order.
  if (std::is_sorted(spans.rbegin(), spans.rend()))
    std::reverse(spans.begin(), spans.end());
  else
    std::sort(spans.begin(), spans.end());
  uint32_t fragments = 0;
  uint32_t last = top - 1;
  for (const auto& [first, final_byte] : spans) {
    if (first <= last) return broken(fmt::format("page {}: byte {} is used twice", pgno, first));
    fragments += first - last - 1;
    last = final_byte;
  }
  fragments += k_usable - 1 - last;
  if (fragments != data[hdr + 7])
    return broken(
        fmt::format("page {}: {} fragmented bytes, {} in its header", pgno, fragments, data[hdr + 7]));
  uint32_t right = leaf ? 0 : get_be32(data + hdr + 8);
  // `data` is not read past here: the pages below replace the window it lies in.
  if (leaf && intkey) *rows += cells;
  for (const auto& [first, count] : overflows) {
    TS_TRY_STATUS(overflow_chain(first, count, pgno));
    if (failed()) return 0;
  }
  if (leaf) return 1;
  Family below = intkey ? Family::table : Family::index;
  int depth = 0;
  bool lower = has_lo;
  int64_t bound = lo;
  for (size_t i = 0; i <= children.size(); ++i) {
    uint32_t child = i < children.size() ? children[i].page : right;
    int64_t upper = i < children.size() && intkey ? children[i].key : hi;
    if (!claim(child, "a child", pgno)) return 0;
    int d = TS_TRY(tree_page(child, below, lower, bound, upper, level + 1, rows));
    if (d == 0) return 0;
    if (depth != 0 && d != depth) return broken(fmt::format("page {}: its children's depths differ", pgno));
    depth = d;
    lower = true;
    bound = upper;
  }
  return depth + 1;
}

Status Checker::overflow_chain(uint32_t first, uint64_t pages, uint32_t from) {
  uint32_t at = first;
  for (uint64_t i = 0; i < pages; ++i) {
    if (at == 0) {
      damaged(fmt::format("page {}: an overflow chain of {} pages ends after {}", from, pages, i));
      return {};
    }
    if (!claim(at, "an overflow", from)) return {};
    const uint8_t* data = TS_TRY(page(at));
    at = get_be32(data);
  }
  if (at != 0) damaged(fmt::format("page {}: an overflow chain is longer than its {} pages", from, pages));
  return {};
}

Status Checker::freelist() {
  const uint8_t* first = TS_TRY(page(1));
  uint32_t trunk = get_be32(first + 32);
  const uint32_t expected = get_be32(first + 36);
  uint64_t counted = 0;
  for (uint32_t from = 1; trunk != 0;) {
    if (!claim(trunk, "a freelist trunk", from)) return {};
    ++counted;
    const uint8_t* data = TS_TRY(page(trunk));
    uint32_t leaves = get_be32(data + 4);
    if (leaves > k_usable / 4 - 2) {
      damaged(fmt::format("freelist trunk page {} lists {} pages", trunk, leaves));
      return {};
    }
    for (uint32_t i = 0; i < leaves; ++i) {
      if (!claim(get_be32(data + 8 + 4 * i), "a free", trunk)) return {};
      ++counted;
    }
    from = trunk;
    trunk = get_be32(data);
  }
  if (counted != expected)
    damaged(fmt::format("the freelist holds {} pages, its header says {}", counted, expected));
  return {};
}

Result<ImageCheck> Checker::run() {
  m_out.verdict = ImageCheck::Verdict::sound;
  if (m_pages == 0) return verdict_damaged("the image has no pages");
  struct stat st {};
  if (::fstat(m_fd, &st) != 0) return io_error("stat", m_path);
  if (static_cast<uint64_t>(st.st_size) < uint64_t{m_pages} * k_page)
    return Error(ErrorKind::io, fmt::format("{}: shorter than {} pages", m_path, m_pages));
  const uint8_t* first = TS_TRY(page(1));
  if (std::memcmp(first, "SQLite format 3", 16) != 0)
    return verdict_damaged("page 1 is not an SQLite header");
  if (get_be16(first + 16) != k_page) return verdict_damaged("page 1: the page size is not 4096");
  if (first[20] != 0) return verdict_unsupported("pages have reserved bytes");
  if (first[21] != 64 || first[22] != 32 || first[23] != 32)
    return verdict_damaged("page 1: the payload fractions are not SQLite's");
  if (get_be32(first + 52) != 0) return verdict_unsupported("auto-vacuum (pointer-map pages)");
  // The schema's type names are read as UTF-8 text (0: a database that has never stored text).
  if (uint32_t encoding = get_be32(first + 56); encoding > 1)
    return verdict_unsupported(fmt::format("text encoding {} (UTF-16)", encoding));
  if (uint32_t size = get_be32(first + 28);
      size != 0 && get_be32(first + 24) == get_be32(first + 92) && size != m_pages)
    return verdict_damaged(fmt::format("page 1: the header says {} pages, the image has {}", size, m_pages));

  std::vector<SchemaRow> schema;
  m_used[1] = true;
  int64_t rows = 0;
  m_schema = &schema;
  TS_TRY(tree_page(1, Family::table, false, 0, INT64_MAX, 0, &rows));
  m_schema = nullptr;
  if (failed()) return m_out;
  for (const SchemaRow& row : schema) {
    if (row.type != "table" && row.type != "index") continue;
    if (row.rootpage == 0 && row.type == "table")
      return verdict_unsupported("the database has virtual tables");
    if (row.rootpage < 2 || row.rootpage > m_pages)
      return verdict_damaged(fmt::format("a schema row names root page {}", row.rootpage));
    auto root = static_cast<uint32_t>(row.rootpage);
    if (!claim(root, "a root", 1)) return m_out;
    int64_t count = 0;
    TS_TRY(tree_page(root, row.family, false, 0, INT64_MAX, 0, &count));
    if (failed()) return m_out;
    if (row.family == Family::table) m_out.rows_by_root[root] = count;
  }
  TS_TRY_STATUS(freelist());
  if (failed()) return m_out;
  for (uint32_t pgno = 1; pgno <= m_pages; ++pgno)
    if (!m_used[pgno] && pgno != k_lock_page)
      return verdict_damaged(fmt::format("page {} is never used", pgno));
  return m_out;
}

}  // namespace

Result<ImageCheck> check_image_structure(int fd, uint64_t pages, const std::string& path, bool map_pages) {
  if (pages > (uint64_t{1} << 31)) {
    ImageCheck out;
    out.problem = "an image of over 2^31 pages";
    return out;
  }
  Checker checker(fd, pages, path, map_pages);
  return checker.run();
}

}  // namespace turso_sync
