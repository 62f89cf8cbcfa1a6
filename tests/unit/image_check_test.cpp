// check_image_structure (sync/image_check.h): SQLite files of many shapes are sound with SQLite's row counts;
// auto-vacuum and reserved bytes are unsupported; targeted damage (pages swapped or zeroed, chains, cell
// pointers, records and header counts broken) is damaged; random damage SQLite rejects is never called sound.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "db/sqlite.h"
#include "support/test_env.h"
#include "sync/image_check.h"
#include "util/fs.h"

namespace turso_sync {
namespace image_check_test {
namespace {

using testing::TempDir;
using Verdict = ImageCheck::Verdict;

constexpr size_t kPageSize = 4096;

std::string verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::sound:
      return "sound";
    case Verdict::damaged:
      return "damaged";
    case Verdict::unsupported:
      return "unsupported";
  }
  return "?";
}

// Creates the database `path` (4096-byte pages, rollback journal; `prologue` sets auto-vacuum) and runs
// `sql`. `before_write` runs on the connection before anything is written (file controls).
void build_db(const std::string& path, const std::string& sql,
              const std::string& prologue = "PRAGMA auto_vacuum=NONE;",
              const std::function<void(sqlite3*)>& before_write = {}) {
  auto db = db::Database::open(path, db::OpenMode::create);
  ASSERT_TRUE(db.ok()) << db.error().message();
  if (before_write) before_write(db->handle());
  Status st =
      db->exec("PRAGMA page_size=4096; PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF; " + prologue);
  ASSERT_TRUE(st.ok()) << st.error().message();
  st = db->exec(sql);
  ASSERT_TRUE(st.ok()) << st.error().message();
}

std::string contents(const std::string& path) {
  auto bytes = read_file(path);
  EXPECT_TRUE(bytes.ok()) << path;
  return bytes.ok() ? *bytes : std::string();
}

// The verdict on the file `path`, of file size / 4096 pages (an error fails the test and reads unsupported).
// The pages are mapped, and read again without mapping them (what a file system that cannot map them gets):
// both verdicts must be the same.
ImageCheck check_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(fd) << path;
  struct stat st {};
  EXPECT_EQ(::fstat(fd.get(), &st), 0) << path;
  EXPECT_EQ(st.st_size % kPageSize, 0u) << path;
  const auto pages = static_cast<uint64_t>(st.st_size) / kPageSize;
  auto check = check_image_structure(fd.get(), pages, path);
  EXPECT_TRUE(check.ok()) << path << ": " << (check.ok() ? "" : check.error().message());
  auto read = check_image_structure(fd.get(), pages, path, /*map_pages=*/false);
  EXPECT_TRUE(read.ok()) << path << ": " << (read.ok() ? "" : read.error().message());
  if (check.ok() && read.ok()) {
    EXPECT_EQ(check->verdict, read->verdict) << path;
    EXPECT_EQ(check->problem, read->problem) << path;
    EXPECT_EQ(check->rows_by_root, read->rows_by_root) << path;
  }
  if (check.ok()) return *check;
  ImageCheck failed;
  failed.problem = "error";
  return failed;
}

// ---- What SQLite says, through the plain C API ----

// "" when PRAGMA quick_check answers exactly "ok" (every b-tree, indexes included, walked) and every row of
// every table reads back without error; else SQLite's first complaint. Indexes are not read through their
// tables: whether they match is integrity_check's question, outside the structural check's scope.
std::string sqlite_complaint(const std::string& path) {
  sqlite3* db = nullptr;
  std::string complaint;
  auto run = [&](const std::string& sql, std::vector<std::vector<std::string>>* rows) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      rc = SQLITE_OK;
      if (!rows) continue;
      rows->emplace_back();
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* text = sqlite3_column_text(stmt, i);
        rows->back().emplace_back(text ? reinterpret_cast<const char*>(text) : "");
      }
    }
    if (rc != SQLITE_DONE) complaint = fmt::format("{}: {}", sql, sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE;
  };
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    complaint = fmt::format("open: {}", db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return complaint;
  }
  std::vector<std::vector<std::string>> lines, tables;
  if (run("PRAGMA quick_check", &lines) && !(lines.size() == 1 && lines[0][0] == "ok")) {
    complaint = "quick_check:";
    for (const auto& line : lines) complaint += " " + line[0];
  }
  auto quote = [](const std::string& name) {
    std::string out = "\"";
    for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  };
  if (complaint.empty()) run("SELECT name FROM sqlite_schema WHERE type = 'table' AND rootpage > 0", &tables);
  for (size_t i = 0; i < tables.size() && complaint.empty(); ++i)
    run("SELECT * FROM " + quote(tables[i][0]), nullptr) &&
        run("SELECT count(*) FROM " + quote(tables[i][0]), nullptr);
  sqlite3_close(db);
  return complaint;
}

// The row count of each rowid table by root page, as SQLite counts them (sqlite_schema's own at 1).
std::map<uint32_t, int64_t> sqlite_row_counts(const std::string& path) {
  std::map<uint32_t, int64_t> counts;
  auto db = db::Database::open(path, db::OpenMode::read_only);
  EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.error().message());
  if (!db.ok()) return counts;
  auto stmt = db->prepare(
      "SELECT s.name, s.rootpage FROM sqlite_schema s JOIN pragma_table_list l ON l.schema = 'main' AND "
      "l.name = s.name WHERE s.type = 'table' AND s.rootpage > 0 AND l.wr = 0");
  EXPECT_TRUE(stmt.ok()) << (stmt.ok() ? "" : stmt.error().message());
  std::vector<std::pair<std::string, uint32_t>> tables;
  while (stmt.ok()) {
    auto row = stmt->step();
    EXPECT_TRUE(row.ok());
    if (!row.ok() || !*row) break;
    tables.emplace_back(stmt->column_text(0), static_cast<uint32_t>(stmt->column_int64(1)));
  }
  tables.emplace_back("sqlite_schema", 1);
  for (const auto& [name, root] : tables) {
    auto count = db::query_int(*db, fmt::format("SELECT count(*) FROM \"{}\"", name));
    EXPECT_TRUE(count.ok()) << name;
    counts[root] = count.ok() ? *count : -1;
  }
  return counts;
}

// SQLite finds `path` sound, and so does check_image_structure, with SQLite's row counts (sqlite_schema's
// own count is compared when listed). `may_be_unsupported`: an unsupported verdict is accepted too.
void expect_sound(const std::string& path, const std::string& what, bool may_be_unsupported = false) {
  ASSERT_EQ(sqlite_complaint(path), "") << what << ": SQLite itself must find the file sound";
  ImageCheck check = check_file(path);
  if (may_be_unsupported && check.verdict == Verdict::unsupported) return;
  ASSERT_EQ(verdict_name(check.verdict), "sound") << what << ": " << check.problem;
  std::map<uint32_t, int64_t> expected = sqlite_row_counts(path);
  if (check.rows_by_root.count(1) == 0) expected.erase(1);
  EXPECT_EQ(check.rows_by_root, expected) << what;
}

int64_t sqlite_int(const std::string& path, const std::string& sql) {
  auto db = db::Database::open(path, db::OpenMode::read_only);
  EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.error().message());
  if (!db.ok()) return -1;
  auto value = db::query_int(*db, sql);
  EXPECT_TRUE(value.ok()) << sql;
  return value.ok() ? *value : -1;
}

// ---- The file format, read here independently of the code under test ----

size_t page_at(uint32_t pgno) {
  return size_t{pgno - 1} * kPageSize;
}
size_t header_at(uint32_t pgno) {
  return page_at(pgno) + (pgno == 1 ? 100 : 0);
}
uint32_t get2(const std::string& img, size_t at) {
  return (uint32_t{static_cast<uint8_t>(img[at])} << 8) | static_cast<uint8_t>(img[at + 1]);
}
uint32_t get4(const std::string& img, size_t at) {
  return (get2(img, at) << 16) | get2(img, at + 2);
}
void put2(std::string* img, size_t at, uint32_t v) {
  (*img)[at] = static_cast<char>(v >> 8);
  (*img)[at + 1] = static_cast<char>(v);
}
void put4(std::string* img, size_t at, uint32_t v) {
  put2(img, at, v >> 16);
  put2(img, at + 2, v & 0xffff);
}
uint64_t get_varint(const std::string& img, size_t at, size_t* len) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) {
    auto b = static_cast<uint8_t>(img[at + i]);
    v = (v << 7) | (b & 0x7f);
    if (!(b & 0x80)) {
      *len = i + 1;
      return v;
    }
  }
  *len = 9;
  return (v << 8) | static_cast<uint8_t>(img[at + 8]);
}
uint8_t page_type(const std::string& img, uint32_t pgno) {
  return static_cast<uint8_t>(img[header_at(pgno)]);
}
bool is_leaf(uint8_t type) {
  return type == 0x0A || type == 0x0D;
}
uint32_t cell_count(const std::string& img, uint32_t pgno) {
  return get2(img, header_at(pgno) + 3);
}
size_t cell_pointer_at(const std::string& img, uint32_t pgno, uint32_t i) {
  return header_at(pgno) + (is_leaf(page_type(img, pgno)) ? 8 : 12) + 2 * i;
}

struct Cell {
  size_t at = 0;          // in the image
  uint32_t child = 0;     // interior pages: the left child
  int64_t rowid = 0;      // table pages
  uint64_t payload = 0;   // leaf and index cells
  size_t payload_at = 0;  // in the image
  size_t local = 0;       // payload bytes on the page
  uint32_t overflow = 0;  // first overflow page, 0 for none
};

Cell cell_of(const std::string& img, uint32_t pgno, uint32_t i) {
  uint8_t type = page_type(img, pgno);
  Cell c;
  c.at = page_at(pgno) + get2(img, cell_pointer_at(img, pgno, i));
  size_t p = c.at, n = 0;
  if (!is_leaf(type)) {
    c.child = get4(img, p);
    p += 4;
  }
  if (type == 0x05) {
    c.rowid = static_cast<int64_t>(get_varint(img, p, &n));
    return c;
  }
  c.payload = get_varint(img, p, &n);
  p += n;
  if (type == 0x0D) {
    c.rowid = static_cast<int64_t>(get_varint(img, p, &n));
    p += n;
  }
  c.payload_at = p;
  const uint64_t u = kPageSize;
  const uint64_t max_local = type == 0x0D ? u - 35 : (u - 12) * 64 / 255 - 23;
  const uint64_t min_local = (u - 12) * 32 / 255 - 23;
  if (c.payload <= max_local) {
    c.local = c.payload;
    return c;
  }
  uint64_t k = min_local + (c.payload - min_local) % (u - 4);
  c.local = k <= max_local ? k : min_local;
  c.overflow = get4(img, p + c.local);
  return c;
}

struct Tree {
  std::vector<uint32_t> interior;             // in the order reached
  std::vector<uint32_t> leaves;               // left to right
  std::vector<std::vector<uint32_t>> chains;  // overflow chains
  int levels = 0;
};

void walk(const std::string& img, uint32_t pgno, int level, Tree* tree) {
  uint8_t type = page_type(img, pgno);
  tree->levels = std::max(tree->levels, level);
  (is_leaf(type) ? tree->leaves : tree->interior).push_back(pgno);
  for (uint32_t i = 0; i < cell_count(img, pgno); ++i) {
    Cell c = cell_of(img, pgno, i);
    if (c.child) walk(img, c.child, level + 1, tree);
    if (c.overflow) {
      tree->chains.emplace_back();
      for (uint32_t o = c.overflow; o != 0 && tree->chains.back().size() < 100000; o = get4(img, page_at(o)))
        tree->chains.back().push_back(o);
    }
  }
  if (!is_leaf(type)) walk(img, get4(img, header_at(pgno) + 8), level + 1, tree);
}

Tree tree_of(const std::string& img, uint32_t root) {
  Tree tree;
  walk(img, root, 1, &tree);
  return tree;
}

uint64_t value_size(uint64_t serial_type) {
  static constexpr uint64_t kFixed[] = {0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0};
  return serial_type < 12 ? kFixed[serial_type] : (serial_type - 12) / 2;
}

// The record of a cell whose header lies on its page: each value's serial type, where that serial type is
// written, and where the value starts.
struct Record {
  std::vector<uint64_t> types;
  std::vector<size_t> type_at;
  std::vector<size_t> value_at;
};

Record record_of(const std::string& img, const Cell& c) {
  Record r;
  size_t n = 0;
  size_t header_end = c.payload_at + get_varint(img, c.payload_at, &n);
  size_t value = header_end;
  for (size_t p = c.payload_at + n; p < header_end; p += n) {
    r.type_at.push_back(p);
    r.types.push_back(get_varint(img, p, &n));
    r.value_at.push_back(value);
    value += value_size(r.types.back());
  }
  return r;
}

// Byte ranges [begin, end) of the text values (type, name, tbl_name, sql) of sqlite_schema's rows, which
// only SQLite's parser reads. The schema must lie on page 1, without overflow.
std::vector<std::pair<size_t, size_t>> schema_text_ranges(const std::string& img) {
  std::vector<std::pair<size_t, size_t>> ranges;
  Tree schema = tree_of(img, 1);
  EXPECT_EQ(schema.leaves, std::vector<uint32_t>{1});
  EXPECT_TRUE(schema.chains.empty());
  for (uint32_t i = 0; i < cell_count(img, 1); ++i) {
    Record r = record_of(img, cell_of(img, 1, i));
    for (size_t col = 0; col < r.types.size(); ++col)
      if (col != 3 && r.types[col] >= 13 && r.types[col] % 2 == 1)
        ranges.emplace_back(r.value_at[col], r.value_at[col] + value_size(r.types[col]));
  }
  return ranges;
}

uint32_t root_of(const std::string& path, const std::string& name) {
  return static_cast<uint32_t>(
      sqlite_int(path, fmt::format("SELECT rootpage FROM sqlite_schema WHERE name = '{}'", name)));
}

// Rows 1..n of `table` from the column expressions of `i`.
std::string insert_rows(const std::string& table, int n, const std::string& values) {
  return fmt::format(
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {}) "
      "INSERT OR IGNORE INTO {} SELECT {} FROM n;\n",
      n, table, values);
}

// ---- Sound databases ----

TEST(ImageCheck, SoundDatabasesOfManyShapesPassWithTheirRowCounts) {
  TempDir dir;
  std::string thresholds;  // values on both sides of the table (4061) and index (1002) overflow thresholds
  for (int size = 4000; size <= 4100; size += 3)
    thresholds +=
        fmt::format("INSERT INTO sizes VALUES ({0}, printf('%.*c', {0}, 'x'), zeroblob({0}));\n", size);
  for (int size = 985; size <= 1015; ++size)
    thresholds += fmt::format("INSERT INTO keys VALUES (printf('%.*c', {}, 'k'), {});\n", size, size);
  std::string columns;
  std::string wide_values = "i";  // the wide table's rows: a value for each column
  for (int c = 0; c < 180; ++c) {
    columns += fmt::format(", a_column_with_a_rather_long_name_{:03} TEXT", c);
    wide_values += fmt::format(", 'v{}'", c);
  }
  struct Shape {
    std::string name;
    std::string sql;
    bool may_be_unsupported = false;
  };
  std::vector<Shape> shapes = {
      {"rowid tables, views, triggers",
       "BEGIN; CREATE TABLE ipk(id INTEGER PRIMARY KEY, a TEXT, b INTEGER);"
       "CREATE TABLE plain(a TEXT, b REAL); CREATE TABLE empty(x); CREATE TABLE seq(id INTEGER PRIMARY KEY "
       "AUTOINCREMENT, v); CREATE TABLE log(msg);" +
           insert_rows("ipk", 3000, "i * 3, 'value ' || i, i % 17") +
           insert_rows("plain", 2000, "printf('%.*c', i % 300, 'p'), i * 0.5") +
           insert_rows("seq", 50, "NULL, i") +
           "CREATE VIEW v AS SELECT a FROM ipk WHERE b > 3; CREATE VIEW v2 AS SELECT * FROM v;"
           "CREATE TRIGGER tr AFTER INSERT ON plain BEGIN INSERT INTO log VALUES (new.a); END;"
           "INSERT INTO plain VALUES ('via trigger', 1); COMMIT; ANALYZE;"},
      {"WITHOUT ROWID tables and indexes",
       "BEGIN; CREATE TABLE w(k TEXT PRIMARY KEY, v, u UNIQUE) WITHOUT ROWID;"
       "CREATE TABLE w2(a INTEGER, b TEXT, c, PRIMARY KEY (b, a)) WITHOUT ROWID;"
       "CREATE TABLE u(a UNIQUE, b UNIQUE, c, d, UNIQUE (c, d));"
       "CREATE INDEX w_v ON w(v); CREATE INDEX u_cd ON u(d DESC, c); CREATE INDEX u_expr ON u(lower(c));" +
           insert_rows("w", 2500, "'key ' || i, printf('%.*c', i % 1200, 'v'), i") +
           insert_rows("w2", 1500, "i % 7, 'b' || (i * 13), zeroblob(i % 5000)") +
           insert_rows("u", 2000, "i, 'b' || i, 'C' || (i % 10), i % 333") + "COMMIT;"},
      {"overflowing values and values at the overflow thresholds",
       "CREATE TABLE big(id INTEGER PRIMARY KEY, t TEXT, b BLOB);"
       "INSERT INTO big VALUES (1, printf('%.*c', 10240, 't'), zeroblob(10240));"
       "INSERT INTO big VALUES (2, printf('%.*c', 204800, 'u'), randomblob(204800));"
       "CREATE TABLE sizes(n INTEGER PRIMARY KEY, t TEXT, b BLOB); CREATE INDEX sizes_t ON sizes(t);"
       "CREATE TABLE keys(k TEXT PRIMARY KEY, n) WITHOUT ROWID; CREATE INDEX keys_n ON keys(n, k);"
       "BEGIN;" +
           thresholds + "COMMIT;"},
      {"a table three levels deep", "CREATE TABLE deep(id INTEGER PRIMARY KEY, t TEXT);" +
                                        insert_rows("deep", 50000, "i, printf('%040d', i)")},
      {"free pages", "CREATE TABLE keep(a); CREATE TABLE gone(a, b); BEGIN;" +
                         insert_rows("keep", 4000, "printf('%.*c', 200, 'k')") +
                         insert_rows("gone", 3000, "i, printf('%.*c', 300, 'g')") +
                         "COMMIT; DELETE FROM keep WHERE rowid % 10 != 0; DROP TABLE gone;"},
      {"extreme rowids and mixed values",
       "CREATE TABLE m(id INTEGER PRIMARY KEY, v); CREATE TABLE r(v); CREATE INDEX m_v ON m(v);"
       "INSERT INTO m VALUES (-9223372036854775808, NULL), (-9223372036854775807, 1.5), (-1, 'héllo wörld "
       "✓'),"
       "(0, x''), (1, ''), (127, 127), (128, 32767), (32768, 8388608), (2147483648, 140737488355328),"
       "(9223372036854775806, -0.0), (9223372036854775807, 9223372036854775807), (-300, 1e308),"
       "(-70000, -9223372036854775808), (5, '日本語テキスト'), (6, 0), (7, 1), (8, -1);"
       "INSERT INTO r(rowid, v) SELECT -id, v FROM m WHERE id > -9223372036854775807;"
       "INSERT INTO r(rowid, v) VALUES (9223372036854775807, 'last');"},
      {"a schema row that overflows",
       "CREATE TABLE wide(id INTEGER PRIMARY KEY" + columns + ");" + insert_rows("wide", 100, wide_values) +
           "CREATE TABLE after(a); INSERT INTO after VALUES (1), (2);",
       true},
  };

  for (size_t i = 0; i < shapes.size(); ++i) {
    SCOPED_TRACE(shapes[i].name);
    std::string path = dir.file(fmt::format("shape{}.db", i));
    ASSERT_NO_FATAL_FAILURE(build_db(path, shapes[i].sql));
    std::string img = contents(path);
    // The shapes are what they claim to be.
    if (shapes[i].name == "a table three levels deep") {
      EXPECT_EQ(tree_of(img, root_of(path, "deep")).levels, 3);
    }
    if (shapes[i].name == "free pages") {
      EXPECT_GT(sqlite_int(path, "PRAGMA freelist_count"), 1);
      uint32_t trunk = get4(img, 32);
      ASSERT_NE(trunk, 0u);
      EXPECT_GT(get4(img, page_at(trunk) + 4), 0u) << "the trunk lists leaf pages";
    }
    if (shapes[i].name == "a schema row that overflows") {
      EXPECT_FALSE(tree_of(img, 1).chains.empty());
    }
    if (shapes[i].name.rfind("overflowing", 0) == 0) {
      size_t longest = 0;
      for (const auto& chain : tree_of(img, root_of(path, "big")).chains)
        longest = std::max(longest, chain.size());
      EXPECT_GE(longest, 50u);
      EXPECT_FALSE(tree_of(img, root_of(path, "sizes_t")).chains.empty()) << "index cells overflow too";
    }
    expect_sound(path, shapes[i].name, shapes[i].may_be_unsupported);
  }
}

// A random database: tables of each kind with columns of each affinity, indexes, rows of values of every
// size, then deletes, updates, a view, a trigger, maybe a dropped table and ANALYZE.
std::string random_database_sql(std::mt19937_64& rng) {
  auto pick = [&](uint64_t n) { return static_cast<int>(rng() % n); };
  auto value = [&](const std::string& i) {
    static const int kLengths[] = {40, 40, 700, 4200, 12000};
    int m = 1 + pick(97), length = kLengths[pick(5)];
    switch (pick(7)) {
      case 0:
        return fmt::format("CASE WHEN {0} % 3 = 0 THEN NULL ELSE {0} * 7919 END", i);
      case 1:
        return fmt::format("({} * {}) % 1000 - 500", i, m);
      case 2:
        return fmt::format("{} * -1234567891011", i);
      case 3:
        return fmt::format("{} * 0.25 + 0.1", i);
      case 4:
        return fmt::format("printf('%.*c', ({} * {}) % {}, 'a')", i, m, length);
      case 5:
        return fmt::format("'ü' || {} || '✓'", i);
      default:
        return fmt::format("zeroblob(({} * {}) % {})", i, m, length);
    }
  };
  static const char* kTypes[] = {"INTEGER", "TEXT", "BLOB", "REAL", "", "NUMERIC"};
  std::string sql = "BEGIN;\n";
  int tables = 1 + pick(4);
  for (int t = 0; t < tables; ++t) {
    int kind = pick(3);  // 0: INTEGER PRIMARY KEY, 1: rowid without one, 2: WITHOUT ROWID
    int columns = 1 + pick(5);
    std::string def = kind == 1                   ? "k INTEGER"
                      : pick(4) == 0 && kind == 0 ? "k INTEGER PRIMARY KEY AUTOINCREMENT"
                                                  : "k INTEGER PRIMARY KEY";
    std::string values = "i";
    for (int c = 0; c < columns; ++c) {
      def += fmt::format(", c{} {}{}", c, kTypes[pick(6)], pick(6) == 0 ? " UNIQUE" : "");
      values += ", " + value("i");
    }
    sql += fmt::format("CREATE TABLE t{}({}){};\n", t, def, kind == 2 ? " WITHOUT ROWID" : "");
    for (int x = pick(3); x > 0; --x)
      sql += fmt::format("CREATE INDEX t{0}_i{1} ON t{0}(c{2}, c{3});\n", t, x, pick(columns), pick(columns));
    int rows = pick(400);
    if (rows > 0) sql += insert_rows(fmt::format("t{}", t), rows, values);
    if (pick(2)) sql += fmt::format("DELETE FROM t{} WHERE k % {} = {};\n", t, 2 + pick(5), pick(2));
    if (pick(2))
      sql +=
          fmt::format("UPDATE OR IGNORE t{} SET c{} = {} WHERE k % 3 = 1;\n", t, pick(columns), value("k"));
  }
  sql +=
      "CREATE VIEW v AS SELECT * FROM t0; CREATE TABLE log(x);\n"
      "CREATE TRIGGER tr AFTER DELETE ON t0 BEGIN INSERT INTO log VALUES (old.k); END;\n"
      "DELETE FROM t0 WHERE k % 11 = 5;\nCOMMIT;\n";
  if (tables > 1 && pick(3) == 0) sql += fmt::format("DROP TABLE t{};\n", tables - 1);
  if (pick(4) == 0) sql += "ANALYZE;\n";
  return sql;
}

TEST(ImageCheck, RandomDatabasesAreSoundWithTheirRowCounts) {
  TempDir dir;
  uint64_t seed = testing::SeedSequence(4101).next();
  std::mt19937_64 rng(seed);
  std::cout << fmt::format("random databases: seed {}\n", seed);
  for (int n = 0; n < 30; ++n) {
    std::string sql = random_database_sql(rng);
    std::string path = dir.file(fmt::format("random{}.db", n));
    SCOPED_TRACE(fmt::format("seed {} database {}:\n{}", seed, n, sql));
    ASSERT_NO_FATAL_FAILURE(build_db(path, sql));
    expect_sound(path, fmt::format("random database {}", n));
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// ---- Layouts the check does not cover ----

TEST(ImageCheck, AutoVacuumReservedBytesAndUtf16AreUnsupported) {
  TempDir dir;
  std::string rows = "CREATE TABLE t(a INTEGER PRIMARY KEY, b); CREATE INDEX t_b ON t(b);" +
                     insert_rows("t", 2000, "i, printf('%.*c', i % 900, 'r')") +
                     "DELETE FROM t WHERE a % 3 = 0;";

  std::string vacuumed = dir.file("auto-vacuum.db");
  ASSERT_NO_FATAL_FAILURE(build_db(vacuumed, rows, "PRAGMA auto_vacuum=FULL;"));
  ASSERT_NE(get4(contents(vacuumed), 52), 0u) << "the header's largest root page (auto-vacuum) is set";
  ASSERT_EQ(sqlite_complaint(vacuumed), "");
  ImageCheck check = check_file(vacuumed);
  EXPECT_EQ(verdict_name(check.verdict), "unsupported") << check.problem;
  EXPECT_FALSE(check.problem.empty());

  std::string reserved = dir.file("reserved.db");
  ASSERT_NO_FATAL_FAILURE(build_db(reserved, rows, "PRAGMA auto_vacuum=NONE;", [](sqlite3* db) {
    int n = 8;
    EXPECT_EQ(sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &n), SQLITE_OK);
  }));
  ASSERT_EQ(static_cast<uint8_t>(contents(reserved)[20]), 8) << "the header's reserved bytes per page";
  ASSERT_EQ(sqlite_complaint(reserved), "");
  check = check_file(reserved);
  EXPECT_EQ(verdict_name(check.verdict), "unsupported") << check.problem;
  EXPECT_FALSE(check.problem.empty());

  // The schema's names are UTF-16 text there: read as UTF-8 they would name no table, and every tree would
  // look unused.
  std::string utf16 = dir.file("utf16.db");
  ASSERT_NO_FATAL_FAILURE(build_db(utf16, rows, "PRAGMA encoding='UTF-16le';"));
  ASSERT_EQ(get4(contents(utf16), 56), 2u) << "the header's text encoding is UTF-16le";
  ASSERT_EQ(sqlite_complaint(utf16), "");
  check = check_file(utf16);
  EXPECT_EQ(verdict_name(check.verdict), "unsupported") << check.problem;
  EXPECT_FALSE(check.problem.empty());
}

// ---- Damage ----

// A rowid table of 5,000 rows (some overflowing), an index, free pages.
const char* const kDamageSubject =
    "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b BLOB); CREATE INDEX t_a ON t(a);"
    "CREATE TABLE junk(x); BEGIN;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) INSERT INTO t SELECT i, "
    "printf('row %d', i), CASE WHEN i % 500 = 0 THEN zeroblob(9000) ELSE zeroblob(20) END FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO junk "
    "SELECT printf('%.*c', 1000, 'j') FROM n; COMMIT; DROP TABLE junk;";

TEST(ImageCheck, EachKindOfDamageIsFound) {
  TempDir dir;
  std::string path = dir.file("pristine.db");
  ASSERT_NO_FATAL_FAILURE(build_db(path, kDamageSubject));
  ASSERT_NO_FATAL_FAILURE(expect_sound(path, "the pristine file"));
  ASSERT_GT(sqlite_int(path, "PRAGMA freelist_count"), 1);
  const std::string pristine = contents(path);
  const auto pages = static_cast<uint32_t>(pristine.size() / kPageSize);
  const Tree tree = tree_of(pristine, root_of(path, "t"));
  ASSERT_GE(tree.leaves.size(), 4u);
  ASSERT_FALSE(tree.interior.empty());
  auto chain =
      std::find_if(tree.chains.begin(), tree.chains.end(), [](const auto& c) { return c.size() >= 2; });
  ASSERT_NE(chain, tree.chains.end()) << "an overflow chain of two pages or more";
  const uint32_t leaf = tree.leaves[1];
  ASSERT_GE(cell_count(pristine, leaf), 2u);

  auto swap_pages = [](std::string* img, uint32_t a, uint32_t b) {
    std::string page = img->substr(page_at(a), kPageSize);
    img->replace(page_at(a), kPageSize, *img, page_at(b), kPageSize);
    img->replace(page_at(b), kPageSize, page);
  };
  std::vector<std::pair<std::string, std::function<void(std::string*)>>> damages = {
      {"two leaves of the table swapped",
       [&](std::string* img) { swap_pages(img, tree.leaves[1], tree.leaves[2]); }},
      {"an interior page zeroed",
       [&](std::string* img) { img->replace(page_at(tree.interior.back()), kPageSize, kPageSize, '\0'); }},
      {"an overflow page's next page changed",
       [&](std::string* img) { put4(img, page_at((*chain)[0]), leaf); }},
      {"a cell pointer beyond the page",
       [&](std::string* img) { put2(img, cell_pointer_at(*img, leaf, 0), 0xFFF0); }},
      {"two cell pointers swapped (rowids out of order)",
       [&](std::string* img) {
         uint32_t first = get2(*img, cell_pointer_at(*img, leaf, 0));
         put2(img, cell_pointer_at(*img, leaf, 0), get2(*img, cell_pointer_at(*img, leaf, 1)));
         put2(img, cell_pointer_at(*img, leaf, 1), first);
       }},
      {"the header's freelist count one too many",
       [&](std::string* img) { put4(img, 36, get4(*img, 36) + 1); }},
      {"the last page cut off", [&](std::string* img) { img->resize(img->size() - kPageSize); }},
      {"a page never used (a copy of a leaf appended, the header's size grown)",
       [&](std::string* img) {
         img->append(pristine, page_at(leaf), kPageSize);
         put4(img, 28, pages + 1);
       }},
      {"a record's text serial type grown",
       [&](std::string* img) {
         Record r = record_of(*img, cell_of(*img, leaf, 0));
         for (size_t col = 0; col < r.types.size(); ++col) {
           uint64_t t = r.types[col];
           if (t < 13 || t >= 128 || t % 2 == 0) continue;
           (*img)[r.type_at[col]] = static_cast<char>(t + 20 < 128 ? t + 20 : t - 20);
           return;
         }
         ADD_FAILURE() << "no one-byte text serial type in the leaf's first cell";
       }},
      {"page 1's magic string changed", [&](std::string* img) { (*img)[0] = 'X'; }},
  };
  std::string damaged_path = dir.file("damaged.db");
  for (const auto& [what, damage] : damages) {
    std::string img = pristine;
    damage(&img);
    ASSERT_NE(img, pristine) << what;
    testing::write_text(damaged_path, img);
    EXPECT_NE(sqlite_complaint(damaged_path), "") << what << ": SQLite must see the damage too";
    ImageCheck check = check_file(damaged_path);
    EXPECT_EQ(verdict_name(check.verdict), "damaged") << what << ": " << check.problem;
    EXPECT_FALSE(check.problem.empty()) << what;
  }
}

// Subjects of random damage: no NOT NULL or CHECK constraints (left to SQLite); WITHOUT ROWID keys are never
// empty texts or the integers 0 and 1 (whose serial types differ from NULL's in type only), since their
// implicit NOT NULL is checked by quick_check.
const char* const kPropertySubjects[] = {
    kDamageSubject,
    "CREATE TABLE w(k TEXT PRIMARY KEY, v, u UNIQUE) WITHOUT ROWID; CREATE INDEX w_v ON w(v);"
    "CREATE TABLE r(a, b REAL, c BLOB); CREATE INDEX r_c ON r(c); BEGIN;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200) INSERT INTO w SELECT "
    "'key' || i, printf('%.*c', i % 1500, 'v'), i * 1000003 FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600) INSERT INTO r SELECT "
    "CASE WHEN i % 4 = 0 THEN NULL ELSE 'ü' || i END, i * 0.5, zeroblob(3990 + i % 120) FROM n; COMMIT;"
    "DELETE FROM w WHERE length(k) % 5 = 0; DELETE FROM r WHERE rowid % 7 = 0;",
    "CREATE TABLE s(id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER, t TEXT); CREATE INDEX s_n ON s(n, t);"
    "CREATE TABLE log(x); CREATE VIEW sv AS SELECT n FROM s;"
    "CREATE TRIGGER st AFTER DELETE ON s BEGIN INSERT INTO log VALUES (old.id); END; BEGIN;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000) INSERT INTO s(n, t) "
    "SELECT i * -7, printf('%08d', i) FROM n; COMMIT; DELETE FROM s WHERE id % 9 = 0; ANALYZE;",
};

TEST(ImageCheck, RandomDamageThatSqliteRejectsIsNeverCalledSound) {
  TempDir dir;
  struct Subject {
    std::string image;
    std::vector<std::pair<size_t, size_t>> schema_text;
  };
  std::vector<Subject> subjects;
  for (const char* sql : kPropertySubjects) {
    std::string path = dir.file(fmt::format("subject{}.db", subjects.size()));
    ASSERT_NO_FATAL_FAILURE(build_db(path, sql));
    ASSERT_NO_FATAL_FAILURE(expect_sound(path, path));
    Subject subject{contents(path), {}};
    subject.schema_text = schema_text_ranges(subject.image);
    subjects.push_back(std::move(subject));
  }
  uint64_t seed = testing::SeedSequence(4102).next();
  std::mt19937_64 rng(seed);
  const int iterations = 300;
  int changed = 0, rejected = 0, damaged = 0, tolerated = 0;
  std::string path = dir.file("damaged.db");
  for (int it = 0; it < iterations; ++it) {
    size_t subject_index = rng() % subjects.size();
    const Subject& subject = subjects[subject_index];
    std::string img = subject.image;
    const auto pages = static_cast<uint32_t>(img.size() / kPageSize);
    const auto target = static_cast<uint32_t>(1 + rng() % pages);
    const int kind =
        static_cast<int>(rng() % 4);  // 0-1: bytes flipped, 2: another page copied over, 3: zeroed
    std::string what;
    bool in_schema_text = false;  // a byte of a schema statement's text changed
    if (kind <= 1) {
      what = "bytes flipped at";
      for (int n = 1 + static_cast<int>(rng() % 8); n > 0; --n) {
        size_t at = page_at(target) + rng() % kPageSize;
        img[at] = static_cast<char>(img[at] ^ static_cast<char>(1 + rng() % 255));
        what += fmt::format(" {}", at);
        in_schema_text =
            in_schema_text || std::any_of(subject.schema_text.begin(), subject.schema_text.end(),
                                          [&](const auto& r) { return at >= r.first && at < r.second; });
      }
    } else if (kind == 2) {
      auto from = static_cast<uint32_t>(1 + rng() % pages);
      img.replace(page_at(target), kPageSize, subject.image, page_at(from), kPageSize);
      what = fmt::format("page {} copied over it", from);
    } else {
      img.replace(page_at(target), kPageSize, kPageSize, '\0');
      what = "zeroed";
    }
    if (img == subject.image) continue;
    ++changed;
    testing::write_text(path, img);
    ImageCheck check = check_file(path);
    std::string complaint = sqlite_complaint(path);
    if (check.verdict == Verdict::damaged) ++damaged;
    if (complaint.empty()) continue;
    ++rejected;
    if (check.verdict != Verdict::sound) continue;
    // A schema statement's text garbled: only SQLite's parser can tell (the bootstrap has SQLite load the
    // schema after this check). A value changed within its record so that it no longer fits its column's
    // affinity ("NUMERIC value in t.c"): the data's question, not the structure's.
    if ((in_schema_text && testing::contains(complaint, "malformed database schema")) ||
        testing::contains(complaint, " value in ")) {
      ++tolerated;
      continue;
    }
    ADD_FAILURE() << fmt::format(
        "seed {} iteration {} subject {} page {} ({}): check_image_structure says sound, SQLite says: {}",
        seed, it, subject_index, target, what, complaint);
  }
  std::cout << fmt::format(
      "random damage (seed {}): {} changed images, {} rejected by SQLite, {} found damaged, {} schema texts "
      "garbled or values changed\n",
      seed, changed, rejected, damaged, tolerated);
  // The damage bites: most changed images are damaged by SQLite's word, and the check finds its share.
  EXPECT_GT(rejected, changed * 3 / 10);
  EXPECT_GT(damaged, changed * 3 / 10);
}

}  // namespace
}  // namespace image_check_test
}  // namespace turso_sync
