// The page-level fast path (identical leaf pages are skipped) must give exactly the changeset of the full
// comparison, whatever the journal mode, WAL content, overflow pages or page layout.
#include <gtest/gtest.h>

#include <random>

#include "db/sqlite.h"
#include "diff/page_scan.h"
#include "diff_test_support.h"
#include "turso_sync/changeset.h"
#include "turso_sync/diff.h"

namespace turso_sync {
namespace {

using difftest::exec;
using difftest::rows_of;
using testing::TempDir;

std::string describe_changeset(const Changeset& c) {
  std::string out;
  for (const TableChanges& t : c.tables) {
    out += "table " + t.table.name + "\n";
    for (const RowChange& r : rows_of(t)) {
      out += std::string(to_string(r.op)) + " key";
      for (const Value& v : r.key) out += " " + difftest::value_repr(v);
      out += " old";
      for (const Value& v : r.old_values) out += " " + difftest::value_repr(v).substr(0, 40);
      out += " new";
      for (const Value& v : r.new_values) out += " " + difftest::value_repr(v).substr(0, 40);
      out += "\n";
    }
  }
  return out;
}

Changeset collect(const std::string& base, const std::string& target, bool fast,
                  DiffSummary* summary = nullptr) {
  ChangesetCollector collector;
  DiffOptions options;
  options.page_fast_path = fast;
  auto r = diff_databases(base, target, collector, options);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  if (summary && r.ok()) *summary = *r;
  return collector.take();
}

TEST(DiffFastPath, AgreesWithFullComparisonOnRandomEdits) {
  uint64_t seed = testing::SeedSequence(2001).next();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 4; ++round) {
    TempDir dir;
    std::string base = dir.file("base.db"), target = dir.file("target.db");
    exec(base,
         "BEGIN; CREATE TABLE a(id INTEGER PRIMARY KEY, s TEXT, r REAL);"
         "CREATE TABLE nokey(x, y); CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB);"
         "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000) "
         "INSERT INTO a SELECT x, 'row ' || x, x * 0.1 FROM c;"
         "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000) "
         "INSERT INTO nokey SELECT x, printf('%050d', x) FROM c;"
         "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60) "
         "INSERT INTO big SELECT x, zeroblob(6000) FROM c; COMMIT;");
    difftest::copy_file(base, target);
    bool wal = round % 2 == 0;
    std::string edits = wal ? "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;" : "";
    edits += "BEGIN;";
    for (int e = 0; e < 30; ++e) {
      int id = static_cast<int>(rng() % 4200);
      switch (rng() % 6) {
        case 0:
          edits += "UPDATE a SET r = r + 0.5 WHERE id = " + std::to_string(id) + ";";
          break;
        case 1:
          edits += "DELETE FROM a WHERE id = " + std::to_string(id) + ";";
          break;
        case 2:
          edits += "INSERT OR REPLACE INTO a VALUES(" + std::to_string(id) + ", 'new', NULL);";
          break;
        case 3:
          edits += "UPDATE nokey SET y = 'changed' WHERE rowid = " + std::to_string(id % 2100) + ";";
          break;
        case 4:
          // Same length, new content, in overflow pages: the leaf page may stay byte-identical.
          edits += "UPDATE big SET b = randomblob(6000) WHERE id = " + std::to_string(id % 60 + 1) + ";";
          break;
        default:
          edits += "INSERT INTO nokey VALUES(" + std::to_string(id) + ", 'appended');";
          break;
      }
    }
    edits += "COMMIT;";
    if (round == 3) edits += "VACUUM;";  // a different page layout: nothing matches, still exact
    exec(target, edits);
    DiffSummary fast_summary;
    std::string fast = describe_changeset(collect(base, target, true, &fast_summary));
    std::string full = describe_changeset(collect(base, target, false));
    EXPECT_EQ(fast, full) << "round " << round;
    EXPECT_GT(fast_summary.totals.total(), 0);
    // 12,000+ rows on each side: the fast path reads only the rows of changed pages (not after VACUUM).
    if (round != 3) {
      EXPECT_LT(fast_summary.rows_read, 6000) << "round " << round;
    }
    std::string sql = difftest::diff_sql(base, target);
    std::string copy = dir.file("applied.db");
    difftest::copy_file(base, copy);
    difftest::apply_with_shell(copy, sql);
    difftest::expect_same_snapshot(difftest::snapshot(copy), difftest::snapshot(target), sql);
  }
}

TEST(DiffFastPath, SeesOverflowContentBehindAnIdenticalLeafPage) {
  TempDir dir;
  std::string base = dir.file("base.db"), target = dir.file("target.db");
  exec(base,
       "CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB);"
       "INSERT INTO big VALUES(1, CAST(printf('%020000d', 1) AS BLOB));");
  difftest::copy_file(base, target);
  // Two updates that keep the first bytes (stored in the leaf page): the second one takes the overflow pages
  // the first one freed, so the leaf page ends up byte-identical to the base while the overflow content
  // differs.
  exec(target, "UPDATE big SET b = CAST(printf('%020000d', 2) AS BLOB) WHERE id = 1;");
  exec(target, "UPDATE big SET b = CAST(printf('%020000d', 3) AS BLOB) WHERE id = 1;");
  Changeset c = collect(base, target, true);
  ASSERT_EQ(c.tables.size(), 1u);
  ASSERT_EQ(c.tables[0].rows.size(), 1u);
  EXPECT_EQ(rows_of(c.tables[0])[0].op, RowOp::update);
}

TEST(DiffFastPath, UncommittedWalFramesAreNotRead) {
  TempDir dir;
  std::string base = dir.file("base.db"), target = dir.file("target.db");
  exec(base,
       "CREATE TABLE t(id INTEGER PRIMARY KEY, v); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
       "FROM c WHERE x < 3000) INSERT INTO t SELECT x, x FROM c;");
  difftest::copy_file(base, target);
  exec(target, "PRAGMA journal_mode = WAL; UPDATE t SET v = -1 WHERE id = 5;");
  auto app = difftest::open_db(target);
  // A large uncommitted transaction spills pages to the WAL without a commit frame.
  ASSERT_TRUE(app.exec("PRAGMA cache_size = 10; BEGIN; UPDATE t SET v = v + 1000000;").ok());
  Changeset c = collect(base, target, true);
  ASSERT_EQ(c.tables.size(), 1u);
  ASSERT_EQ(c.tables[0].rows.size(), 1u);
  EXPECT_EQ(rows_of(c.tables[0])[0].new_values[1], Value::integer(-1));
  ASSERT_TRUE(app.exec("ROLLBACK").ok());
}

// The pages (1-based) where two files differ, byte for byte: what a page pull knows of its new image.
std::vector<uint32_t> differing_pages(const std::string& a, const std::string& b) {
  std::string x = testing::read_text(a), y = testing::read_text(b);
  std::vector<uint32_t> out;
  const size_t page = 4096;
  for (size_t at = 0; at < std::max(x.size(), y.size()); at += page) {
    std::string_view px = at < x.size() ? std::string_view(x).substr(at, page) : std::string_view();
    std::string_view py = at < y.size() ? std::string_view(y).substr(at, page) : std::string_view();
    if (px != py) out.push_back(static_cast<uint32_t>(at / page + 1));
  }
  return out;
}

Changeset collect_hinted(const std::string& base, const std::string& target,
                         const std::vector<uint32_t>& changed, DiffSummary* summary = nullptr) {
  ChangesetCollector collector;
  DiffOptions options;
  options.changed_pages = &changed;
  auto r = diff_databases(base, target, collector, options);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  if (summary && r.ok()) *summary = *r;
  return collector.take();
}

const char* k_hint_schema =
    "BEGIN; CREATE TABLE a(id INTEGER PRIMARY KEY, s TEXT, r REAL);"
    "CREATE TABLE nokey(x, y); CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB);"
    "CREATE TABLE byname(name TEXT PRIMARY KEY, n INTEGER);"
    "CREATE TABLE kv(k INTEGER, v TEXT, PRIMARY KEY (k)) WITHOUT ROWID;"
    "CREATE INDEX a_s ON a(s);"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000) "
    "INSERT INTO a SELECT x, 'row ' || x, x * 0.1 FROM c;"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000) "
    "INSERT INTO nokey SELECT x, printf('%050d', x) FROM c;"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60) "
    "INSERT INTO big SELECT x, zeroblob(6000) FROM c;"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) "
    "INSERT INTO byname SELECT printf('name %06d', x), x FROM c;"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) "
    "INSERT INTO kv SELECT x, printf('%040d', x) FROM c; COMMIT;";

// A diff told which pages changed (a page pull's delta) gives exactly the full comparison's changeset,
// whatever the edits: in place, pages added and freed, overflow content, tables keyed by text and WITHOUT
// ROWID, a VACUUM that moves everything.
TEST(DiffFastPath, ChangedPagesHintAgreesWithFullComparisonOnRandomEdits) {
  uint64_t seed = testing::SeedSequence(2002).next();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 6; ++round) {
    TempDir dir;
    std::string base = dir.file("base.db"), target = dir.file("target.db");
    exec(base, k_hint_schema);
    difftest::copy_file(base, target);
    std::string edits = "BEGIN;";
    int kinds = round < 2 ? 3 : 8;  // the first rounds change values in place only
    for (int e = 0; e < 30; ++e) {
      int id = static_cast<int>(rng() % 4200);
      std::string n = std::to_string(id);
      switch (rng() % kinds) {
        case 0:
          edits += "UPDATE a SET r = r + 0.5 WHERE id = " + n + ";";
          break;
        case 1:
          edits += "UPDATE byname SET n = -n WHERE name = printf('name %06d', " + n + ");";
          break;
        case 2:
          edits += "UPDATE kv SET v = printf('%040d', -" + n + ") WHERE k = " + n + ";";
          break;
        case 3:
          edits += "DELETE FROM a WHERE id BETWEEN " + n + " AND " + n + " + 40;";
          break;
        case 4:
          edits += "INSERT OR REPLACE INTO kv VALUES(" + n + " + 5000, 'new');";
          break;
        case 5:
          edits += "UPDATE big SET b = randomblob(6000) WHERE id = " + std::to_string(id % 60 + 1) + ";";
          break;
        case 6:
          edits += "DELETE FROM byname WHERE name > printf('name %06d', " + n + ") LIMIT 20;";
          break;
        default:
          edits += "INSERT INTO a(s, r) SELECT 'more', x FROM (SELECT 1.5 AS x UNION ALL SELECT 2.5);";
          break;
      }
    }
    edits += "COMMIT;";
    if (round == 5) edits += "VACUUM;";
    exec(target, edits);
    std::vector<uint32_t> changed = differing_pages(base, target);
    std::string hinted = describe_changeset(collect_hinted(base, target, changed));
    std::string full = describe_changeset(collect(base, target, false));
    EXPECT_EQ(hinted, full) << "round " << round;
    EXPECT_FALSE(full.empty());
  }
}

// Values changed in place: the hint lets the diff read only the rows of the changed pages, in every kind of
// table (rowid, text key, WITHOUT ROWID), and skip untouched tables entirely.
TEST(DiffFastPath, ChangedPagesHintReadsOnlyTheChange) {
  TempDir dir;
  std::string base = dir.file("base.db"), target = dir.file("target.db");
  exec(base, k_hint_schema);
  difftest::copy_file(base, target);
  exec(target, "UPDATE a SET r = -1.0 WHERE id IN (7, 2500); UPDATE kv SET v = 'x' WHERE k = 10;");
  std::vector<uint32_t> changed = differing_pages(base, target);
  DiffSummary hinted_summary, full_summary;
  std::string hinted = describe_changeset(collect_hinted(base, target, changed, &hinted_summary));
  std::string full = describe_changeset(collect(base, target, false, &full_summary));
  EXPECT_EQ(hinted, full);
  EXPECT_EQ(hinted_summary.totals.updates, 3);
  // 12,000+ rows on each side; the kv table is compared whole (its tree changed) but byname, nokey and big
  // are skipped.
  EXPECT_LT(hinted_summary.rows_read, 6000 + 1000) << full_summary.rows_read;
  EXPECT_GT(full_summary.rows_read, 20000);
}

// Pages that hold the same rows laid out differently (as the server and SQLite do after the same changes)
// are clean: a diff after a push of rows all over the table reads only what really differs.
TEST(DiffFastPath, SameRowsLaidOutDifferentlyAreNotReadAgain) {
  TempDir dir;
  std::string base = dir.file("base.db"), target = dir.file("target.db");
  exec(base, k_hint_schema);
  difftest::copy_file(base, target);
  // A fifth of a's rows deleted, then inserted again with the same values: each page holds the same rows,
  // its cells placed elsewhere.
  exec(target,
       "CREATE TEMP TABLE keep AS SELECT * FROM a WHERE id % 5 = 0; DELETE FROM a WHERE id % 5 = 0;"
       "INSERT INTO a SELECT * FROM keep; UPDATE a SET r = 0.25 WHERE id = 77;");
  ASSERT_GT(differing_pages(base, target).size(), 20u) << "the layout did not change";
  DiffSummary summary;
  std::string fast = describe_changeset(collect(base, target, true, &summary));
  EXPECT_EQ(fast, describe_changeset(collect(base, target, false)));
  EXPECT_EQ(summary.totals.total(), 1);
  // byname and kv (not keyed by rowid: 12,000 rows) are compared whole; of a's 8,000, only the changed page.
  EXPECT_LT(summary.rows_read, 12000 + 1000);
}

// Within the leaves that changed, only the rows whose record bytes differ are read by SQL: a row updated, one
// inserted and one deleted in a table of 20,000 are read and nothing else, with the pull's hint or without.
TEST(DiffFastPath, OnlyTheRowsWhoseRecordsDifferAreRead) {
  TempDir dir;
  std::string base = dir.file("base.db"), target = dir.file("target.db");
  exec(base,
       "BEGIN; CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT, r REAL);"
       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) "
       "INSERT INTO t SELECT x * 2, 'row ' || x, x * 0.5 FROM c; COMMIT;");
  difftest::copy_file(base, target);
  exec(target,
       "UPDATE t SET r = -1.0 WHERE id = 5000; INSERT INTO t VALUES (7001, 'new', 1.5);"
       "DELETE FROM t WHERE id = 30000;");
  std::vector<uint32_t> changed = differing_pages(base, target);
  DiffSummary hinted_summary, fast_summary;
  std::string hinted = describe_changeset(collect_hinted(base, target, changed, &hinted_summary));
  std::string fast = describe_changeset(collect(base, target, true, &fast_summary));
  EXPECT_EQ(hinted, describe_changeset(collect(base, target, false)));
  EXPECT_EQ(fast, hinted);
  EXPECT_EQ(hinted_summary.totals.total(), 3);
  // The updated row on both sides, the inserted row, the deleted row: 4 rows (their leaves hold ~250).
  EXPECT_EQ(hinted_summary.rows_read, 4);
  EXPECT_EQ(fast_summary.rows_read, 4);
}

// A working copy in WAL mode whose changed pages are still in its WAL (not checkpointed): the rows narrowed
// within the dirty leaves are read from the WAL's frames, never from the database file's older bytes of
// those pages (the read-ahead of their neighbours holds them): every changed row is found.
TEST(DiffFastPath, RowsChangedInUncheckpointedWalFramesAreFound) {
  TempDir dir;
  std::string base = dir.file("base.db"), target = dir.file("target.db");
  exec(base,
       "BEGIN; CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT, r REAL);"
       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) "
       "INSERT INTO t SELECT x, 'row ' || x, x * 0.5 FROM c; COMMIT;");
  difftest::copy_file(base, target);
  auto app = difftest::open_db(target);
  ASSERT_TRUE(app.exec("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;").ok());
  ASSERT_TRUE(app.exec("UPDATE t SET r = -1.0 WHERE id IN (5000, 5001, 12000);"
                       "INSERT INTO t VALUES (20001, 'new', 2.5); DELETE FROM t WHERE id = 7;")
                  .ok());
  DiffSummary fast_summary;
  std::string fast = describe_changeset(collect(base, target, true, &fast_summary));
  EXPECT_EQ(fast, describe_changeset(collect(base, target, false)));
  EXPECT_EQ(fast_summary.totals.total(), 5);
}

// The row count init reports is read from the leaf pages' cell counts: it equals count(*) for empty,
// one-page, multi-level and overflowing tables, and for page 1's own tree (sqlite_schema).
TEST(PageScan, RowCountFromTheLeavesEqualsCountStar) {
  TempDir dir;
  std::string db = dir.file("count.db");
  exec(db,
       "CREATE TABLE empty(id INTEGER PRIMARY KEY); CREATE TABLE one(x); INSERT INTO one VALUES (1), (2);"
       "CREATE TABLE many(id INTEGER PRIMARY KEY, s TEXT); CREATE TABLE big(b BLOB);"
       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000) "
       "INSERT INTO many SELECT x, printf('%030d', x) FROM c;"
       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 40) "
       "INSERT INTO big SELECT zeroblob(9000) FROM c; DELETE FROM many WHERE id % 7 = 0;");
  auto conn = difftest::open_db(db);
  ASSERT_TRUE(db::query_int(conn, "SELECT count(*) FROM sqlite_schema").ok());
  auto pages = diff::PageFile::open(conn, "main");
  ASSERT_TRUE(pages.ok());
  ASSERT_TRUE((*pages)->load_wal().ok());
  for (const char* table : {"empty", "one", "many", "big", "sqlite_schema"}) {
    SCOPED_TRACE(table);
    auto root =
        db::query_int(conn, std::string("SELECT ifnull((SELECT rootpage FROM sqlite_schema WHERE name = '") +
                                table + "'), 1)");
    auto count = db::query_int(conn, std::string("SELECT count(*) FROM ") + table);
    ASSERT_TRUE(root.ok() && count.ok());
    auto rows = diff::count_rowid_table_rows(**pages, static_cast<uint32_t>(*root));
    ASSERT_TRUE(rows.has_value());
    EXPECT_EQ(*rows, *count);
  }
}

// The dirty ranges say whether a row in them may spill to overflow pages (a value of 1 MiB or more always
// does): the diff then reads their rows as they are, with no pass for large values. A spilling row outside
// the ranges does not count; one inside them, on either side, does. (Without a hint, a leaf with a spilling
// row is always compared: its overflow pages may differ behind identical leaf bytes.)
TEST(PageScan, DirtyRangesTellWhetherTheirRowsSpill) {
  TempDir dir;
  std::string base = dir.file("base.db"), target = dir.file("target.db");
  exec(base,
       "BEGIN; CREATE TABLE t(id INTEGER PRIMARY KEY, v);"
       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) "
       "INSERT INTO t SELECT x, printf('%030d', x) FROM c;"
       "INSERT INTO t VALUES (9000, randomblob(20000)); COMMIT;");
  struct Found {
    std::optional<bool> hinted_overflow;  // nullopt: the hint is not usable (overflow pages changed)
    bool overflow = true;
  };
  auto scan = [&](const std::string& edit) -> Found {
    difftest::copy_file(base, target);
    exec(target, edit);
    std::vector<uint32_t> changed = differing_pages(base, target);
    auto conn = difftest::open_db(target);
    EXPECT_TRUE(conn.exec("ATTACH DATABASE '" + base + "' AS base").ok());
    EXPECT_TRUE(db::query_int(conn, "SELECT count(*) FROM main.sqlite_schema").ok());
    EXPECT_TRUE(db::query_int(conn, "SELECT count(*) FROM base.sqlite_schema").ok());
    auto b = diff::PageFile::open(conn, "base");
    auto t = diff::PageFile::open(conn, "main");
    EXPECT_TRUE(b.ok() && t.ok() && (*b)->load_wal().ok() && (*t)->load_wal().ok());
    auto root = [&](const char* schema) {
      return static_cast<uint32_t>(*db::query_int(
          conn, std::string("SELECT rootpage FROM ") + schema + ".sqlite_schema WHERE name = 't'"));
    };
    Found found;
    if (diff::change_hint_usable(**b, **t, changed)) {
      auto hinted = diff::dirty_rowid_ranges_hinted(**b, root("base"), **t, root("main"), changed);
      EXPECT_TRUE(hinted && !hinted->ranges.empty());
      if (hinted) found.hinted_overflow = hinted->overflow;
    }
    auto full = diff::dirty_rowid_ranges(**b, root("base"), **t, root("main"));
    EXPECT_TRUE(full && !full->ranges.empty());
    if (full) found.overflow = full->overflow;
    return found;
  };
  Found small = scan("UPDATE t SET v = 'x' WHERE id = 10");
  EXPECT_EQ(small.hinted_overflow, std::optional<bool>(false));
  EXPECT_TRUE(small.overflow);                                         // row 9000's leaf
  EXPECT_TRUE(scan("UPDATE t SET v = 'x' WHERE id = 9000").overflow);  // the base's row spills
  EXPECT_NE(
      scan("UPDATE t SET v = randomblob(9000) WHERE id = 10").hinted_overflow,  // the target's row spills
      std::optional<bool>(false));
  // Without a spilling row anywhere, neither path sees one.
  exec(base, "DELETE FROM t WHERE id = 9000; VACUUM;");
  Found plain = scan("UPDATE t SET v = 'x' WHERE id = 10");
  EXPECT_EQ(plain.hinted_overflow, std::optional<bool>(false));
  EXPECT_FALSE(plain.overflow);
}

}  // namespace
}  // namespace turso_sync
