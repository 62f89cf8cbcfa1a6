// Property: for random schemas and random edits, the SQL rendering of diff(base, target), applied to a copy
// of the base by the sqlite3 shell (and in process), gives exactly the target: schema and every value with
// its storage class. Seeds are printed on failure; TURSO_SYNC_SEED=<n> replays one case.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <set>

#include "diff_test_support.h"
#include "turso_sync/changeset.h"
#include "turso_sync/diff.h"

namespace turso_sync {
namespace {

using testing::TempDir;

enum class Kind { no_key, integer_pk, text_pk, without_rowid };

struct ColumnSpec {
  std::string name;
  std::string type;
};

struct TableSpec {
  std::string name;
  Kind kind;
  bool nocase = false;
  std::vector<ColumnSpec> columns;  // value columns (keys are separate)
};

class Gen {
 public:
  explicit Gen(uint64_t seed) : m_rng(seed) {}

  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(m_rng); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(m_rng) < p; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(uniform(0, static_cast<int>(v.size()) - 1))];
  }

  // Unique, deliberately awkward identifiers.
  std::string name() {
    static const std::vector<std::string> pool = {"plain", "with space", "quo\"te", "select", "ünï",
                                                  "a'b",   "Mixed Case", "[br]",    "order",  "rowid2"};
    return pick(pool) + " " + std::to_string(m_next_name++);
  }

  Value edge_value() {
    static const std::vector<Value> pool = {
        Value::null(),
        Value::integer(0),
        Value::integer(1),
        Value::integer(-7),
        Value::integer(std::numeric_limits<int64_t>::max()),
        Value::integer(std::numeric_limits<int64_t>::min()),
        Value::real(0.1 + 0.2),
        Value::real(-0.0),
        Value::real(0.0),
        Value::real(5e-324),
        Value::real(2.2250738585072014e-308),
        Value::real(4.4501477170144023e-308),
        Value::real(1e308),
        Value::real(std::numeric_limits<double>::infinity()),
        Value::real(-std::numeric_limits<double>::infinity()),
        Value::real(9007199254740993.0),
        Value::real(2.5),
        Value::text(""),
        Value::text("it's \"q\""),
        Value::text("héllo ✓ 𝄞"),
        Value::text(std::string("nul\0in", 6)),
        Value::text("\xff\xfe bad utf-8"),
        Value::text("a\nb\tc\r"),
        Value::text("12"),
        Value::blob(""),
        Value::blob(std::string("\0\x01\xff", 3)),
        Value::blob(std::string(300, 'z')),
    };
    if (chance(0.15)) return Value::real(std::bit_cast<double>(m_rng() | 0));
    if (chance(0.1)) return Value::integer(static_cast<int64_t>(m_rng()));
    Value v = pick(pool);
    if (v.type() == ValueType::real && std::isnan(v.as_real())) return Value::null();
    return v;
  }

  std::mt19937_64& rng() { return m_rng; }

 private:
  std::mt19937_64 m_rng;
  int m_next_name = 0;
};

std::string q(const std::string& s) {
  return quote_identifier(s);
}

std::string create_sql(const TableSpec& t) {
  std::vector<std::string> items;
  switch (t.kind) {
    case Kind::no_key:
      break;
    case Kind::integer_pk:
      items.push_back("\"id\" INTEGER PRIMARY KEY");
      break;
    case Kind::text_pk:
      items.push_back("\"k\" TEXT PRIMARY KEY");
      break;
    case Kind::without_rowid:
      items.push_back(std::string("\"k1\" TEXT NOT NULL") + (t.nocase ? " COLLATE NOCASE" : ""));
      items.push_back("\"k 2\" INTEGER NOT NULL");
      break;
  }
  for (const ColumnSpec& c : t.columns) items.push_back(q(c.name) + (c.type.empty() ? "" : " " + c.type));
  if (t.kind == Kind::without_rowid) items.push_back("PRIMARY KEY(\"k1\", \"k 2\")");
  std::string cols;
  for (const std::string& item : items) cols += (cols.empty() ? "" : ", ") + item;
  return "CREATE TABLE " + q(t.name) + "(" + cols + ")" +
         (t.kind == Kind::without_rowid ? " WITHOUT ROWID" : "");
}

// Inserts a row with a fresh key and random values.
void insert_row(db::Database& db, Gen& g, const TableSpec& t, int key) {
  std::vector<Value> values;
  std::string cols, params;
  auto add = [&](const std::string& col, Value v) {
    cols += (cols.empty() ? "" : ", ") + q(col);
    params += (params.empty() ? "?" : ", ?");
    values.push_back(std::move(v));
  };
  switch (t.kind) {
    case Kind::no_key:
      break;
    case Kind::integer_pk:
      add("id", Value::integer(key * 3 - 20));
      break;
    case Kind::text_pk:
      add("k", Value::text("key " + std::to_string(key)));
      break;
    case Kind::without_rowid:
      add("k1", Value::text(std::string(1, static_cast<char>('a' + key % 5)) + (key % 2 ? "x" : "X")));
      add("k 2", Value::integer(key));
      break;
  }
  for (const ColumnSpec& c : t.columns) add(c.name, g.edge_value());
  std::string sql = cols.empty() ? "INSERT INTO " + q(t.name) + " DEFAULT VALUES"
                                 : "INSERT INTO " + q(t.name) + "(" + cols + ") VALUES(" + params + ")";
  auto stmt = db.prepare(sql);
  ASSERT_TRUE(stmt.ok()) << stmt.error().message();
  ASSERT_TRUE(stmt->bind_all(values).ok());
  auto r = stmt->step();
  ASSERT_TRUE(r.ok()) << r.error().message();
}

void run(db::Database& db, const std::string& sql) {
  auto st = db.exec(sql);
  ASSERT_TRUE(st.ok()) << st.error().message() << "\n" << sql;
}

std::string rowid_of(const TableSpec& t) {
  return t.kind == Kind::integer_pk ? "\"id\"" : "rowid";
}

// Random row edits on the target.
void edit_rows(db::Database& db, Gen& g, const TableSpec& t, int& next_key) {
  int edits = g.uniform(0, 6);
  for (int e = 0; e < edits; ++e) {
    int what = g.uniform(0, 2);
    std::string where = t.kind == Kind::without_rowid
                            ? "\"k 2\" IN (SELECT \"k 2\" FROM " + q(t.name) + " ORDER BY random() LIMIT 1)"
                            : rowid_of(t) + " IN (SELECT " + rowid_of(t) + " FROM " + q(t.name) +
                                  " ORDER BY random() LIMIT 1)";
    if (what == 0) {
      insert_row(db, g, t, next_key++);
    } else if (what == 1) {
      run(db, "DELETE FROM " + q(t.name) + " WHERE " + where);
    } else if (!t.columns.empty()) {
      const ColumnSpec& c = g.pick(t.columns);
      auto stmt = db.prepare("UPDATE " + q(t.name) + " SET " + q(c.name) + " = ?1 WHERE " + where);
      ASSERT_TRUE(stmt.ok());
      ASSERT_TRUE(stmt->bind(1, g.edge_value()).ok());
      ASSERT_TRUE(stmt->step().ok());
    }
  }
  if (t.kind == Kind::without_rowid && t.nocase && g.chance(0.3))
    run(db, "UPDATE " + q(t.name) + " SET \"k1\" = upper(\"k1\") WHERE \"k 2\" % 3 = 0");
}

struct Case {
  TempDir dir;
  std::string base = dir.file("base.db");
  std::string target = dir.file("target.db");
};

void build_case(Case& c, uint64_t seed) {
  Gen g(seed);
  std::vector<TableSpec> tables;
  int ntables = g.uniform(1, 4);
  static const std::vector<std::string> types = {"", "INTEGER", "REAL", "TEXT", "BLOB", "NUMERIC", "ANY"};
  for (int i = 0; i < ntables; ++i) {
    TableSpec t;
    t.name = g.name();
    t.kind = static_cast<Kind>(g.uniform(0, 3));
    t.nocase = g.chance(0.5);
    int ncols = g.uniform(t.kind == Kind::no_key ? 1 : 0, 3);
    for (int k = 0; k < ncols; ++k) t.columns.push_back({g.name(), g.pick(types)});
    tables.push_back(t);
  }
  int next_key = 0;
  {
    auto db = difftest::open_db(c.base);
    run(db, "BEGIN");
    for (const TableSpec& t : tables) {
      run(db, create_sql(t));
      int rows = g.uniform(0, 12);
      for (int r = 0; r < rows; ++r) insert_row(db, g, t, next_key++);
      if (!t.columns.empty() && g.chance(0.5))
        run(db, "CREATE INDEX " + q("ix " + t.name) + " ON " + q(t.name) + "(" + q(t.columns[0].name) + ")");
      if (g.chance(0.4)) run(db, "CREATE VIEW " + q("v " + t.name) + " AS SELECT * FROM " + q(t.name));
    }
    if (g.chance(0.4)) {
      // A trigger with side effects: replaying rows must not fire it.
      const TableSpec& t = tables[0];
      run(db, "CREATE TABLE " + q("audit log") + "(\"what\" TEXT)");
      run(db, "CREATE TRIGGER " + q("tr " + t.name) + " AFTER INSERT ON " + q(t.name) +
                  " BEGIN INSERT INTO " + q("audit log") + " VALUES('insert'); END");
    }
    run(db, "COMMIT");
  }
  difftest::copy_file(c.base, c.target);
  auto db = difftest::open_db(c.target);
  run(db, "BEGIN");
  for (const TableSpec& t : tables) edit_rows(db, g, t, next_key);
  // Schema edits.
  if (g.chance(0.3)) {
    TableSpec t{g.name(), static_cast<Kind>(g.uniform(0, 3)), g.chance(0.5), {{g.name(), "TEXT"}}};
    run(db, create_sql(t));
    for (int r = 0; r < 3; ++r) insert_row(db, g, t, next_key++);
  }
  if (g.chance(0.3)) {
    const TableSpec& t = g.pick(tables);
    run(db, "ALTER TABLE " + q(t.name) + " ADD COLUMN " + q(g.name()) + " INTEGER NOT NULL DEFAULT 42");
    run(db, "ALTER TABLE " + q(t.name) + " ADD COLUMN " + q(g.name()) + " TEXT DEFAULT 'd'");
  }
  if (g.chance(0.2)) {
    const TableSpec& t = g.pick(tables);
    if (!t.columns.empty()) {
      run(db, "DROP INDEX IF EXISTS " + q("ix " + t.name));
      run(db, "CREATE UNIQUE INDEX " + q("ix " + t.name) + " ON " + q(t.name) + "(" + q(t.columns[0].name) +
                  ") WHERE 0");
    }
  }
  if (g.chance(0.2)) {
    const TableSpec& t = g.pick(tables);
    run(db, "DROP VIEW IF EXISTS " + q("v " + t.name));
    run(db, "CREATE VIEW " + q("v " + t.name) + " AS SELECT count(*) AS n FROM " + q(t.name));
  }
  if (g.chance(0.2)) {
    const TableSpec& t = g.pick(tables);
    run(db,
        "CREATE TRIGGER " + q("new tr " + t.name) + " AFTER DELETE ON " + q(t.name) + " BEGIN SELECT 1; END");
  }
  if (g.chance(0.25) && tables.size() > 1) {
    const TableSpec& t = tables.back();
    run(db, "DROP VIEW IF EXISTS " + q("v " + t.name));
    run(db, "DROP TABLE " + q(t.name));
    tables.pop_back();
  }
  if (g.chance(0.3)) {
    // A column type change: the application rebuilds the table (views on it dropped and recreated).
    TableSpec t = tables[0];
    if (!t.columns.empty()) {
      run(db, "DROP VIEW IF EXISTS " + q("v " + t.name));
      run(db, "DROP TRIGGER IF EXISTS " + q("tr " + t.name));
      run(db, "DROP TRIGGER IF EXISTS " + q("new tr " + t.name));
      TableSpec n = t;
      n.name = "rebuild tmp";
      n.columns[0].type = n.columns[0].type == "TEXT" ? "INTEGER" : "TEXT";
      run(db, create_sql(n));
      // Only the original columns are kept: columns added above are dropped by this rebuild.
      std::string keep = t.kind == Kind::no_key ? "rowid" : "";
      auto ninfo = db::read_table_info(db, "rebuild tmp");
      ASSERT_TRUE(ninfo.ok());
      for (int idx : ninfo->stored_columns())
        keep += (keep.empty() ? "" : ", ") + q(ninfo->columns[idx].name);
      run(db, "INSERT INTO " + q("rebuild tmp") + "(" + keep + ") SELECT " + keep + " FROM " + q(t.name));
      run(db, "DROP TABLE " + q(t.name));
      run(db, "ALTER TABLE " + q("rebuild tmp") + " RENAME TO " + q(t.name));
      if (g.chance(0.5)) run(db, "CREATE VIEW " + q("v " + t.name) + " AS SELECT * FROM " + q(t.name));
    }
  }
  run(db, "COMMIT");
}

uint64_t base_seed() {
  if (const char* s = std::getenv("TURSO_SYNC_SEED")) return std::strtoull(s, nullptr, 10);
  return testing::SeedSequence(3001).next();
}

TEST(DiffProperty, SqlRenderingReproducesTargetExactly) {
  uint64_t seed0 = base_seed();
  int cases = std::getenv("TURSO_SYNC_SEED") ? 1 : 40;
  std::set<std::string> seen;  // kinds of change the cases exercised
  static const std::vector<std::string> kinds = {
      "insert",        "update",       "delete",     "create_table", "drop_table", "add_column",
      "rebuild_table", "create_index", "drop_index", "create_view",  "drop_view",  "create_trigger"};
  auto missing = [&] {
    return std::any_of(kinds.begin(), kinds.end(), [&](const std::string& k) { return !seen.count(k); });
  };
  // At least `cases` cases, and more (up to 300) until every kind of change has been exercised.
  for (int i = 0; i < cases || (cases > 1 && i < 300 && missing()); ++i) {
    uint64_t seed = seed0 + static_cast<uint64_t>(i);
    SCOPED_TRACE("seed " + std::to_string(seed) + " (replay: TURSO_SYNC_SEED=" + std::to_string(seed) + ")");
    Case c;
    build_case(c, seed);
    if (::testing::Test::HasFatalFailure()) return;
    DiffSummary summary;
    std::string sql = difftest::diff_sql(c.base, c.target, &summary);
    std::string expected = difftest::snapshot(c.target);
    for (const SchemaChange& sc : summary.schema) seen.insert(to_string(sc.op));
    if (summary.totals.inserts) seen.insert("insert");
    if (summary.totals.updates) seen.insert("update");
    if (summary.totals.deletes) seen.insert("delete");

    std::string via_shell = c.dir.file("shell.db");
    difftest::copy_file(c.base, via_shell);
    difftest::apply_with_shell(via_shell, sql);
    difftest::expect_same_snapshot(difftest::snapshot(via_shell), expected, sql);

    std::string in_process = c.dir.file("inproc.db");
    difftest::copy_file(c.base, in_process);
    difftest::apply_in_process(in_process, sql);
    difftest::expect_same_snapshot(difftest::snapshot(in_process), expected, sql);

    // Diffing the result against the target finds nothing left.
    NullSink none;
    auto again = diff_databases(via_shell, c.target, none);
    ASSERT_TRUE(again.ok()) << again.error().message();
    EXPECT_FALSE(again->has_changes()) << render_summary(*again);
    if (::testing::Test::HasFailure()) return;
  }
  if (cases > 1) {
    for (const std::string& kind : kinds)
      EXPECT_TRUE(seen.count(kind)) << "no case exercised " << kind << " (seed " << seed0 << ")";
  }
}

// Where sqldiff is exact (integer and text values, no schema change), it finds the same changed rows.
TEST(DiffProperty, SameChangedRowCountAsSqldiffOnIntegerAndTextData) {
  uint64_t seed0 = base_seed();
  for (int i = 0; i < 10; ++i) {
    uint64_t seed = seed0 + static_cast<uint64_t>(i);
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
    Case c;
    {
      auto db = difftest::open_db(c.base);
      run(db,
          "BEGIN; CREATE TABLE a(id INTEGER PRIMARY KEY, n INTEGER, s TEXT);"
          "CREATE TABLE b(k TEXT, j INTEGER, v TEXT, PRIMARY KEY(k, j)) WITHOUT ROWID");
      for (int r = 0; r < 200; ++r) {
        run(db, "INSERT INTO a VALUES(" + std::to_string(r) + ", " + std::to_string(pick(5)) + ", 's" +
                    std::to_string(pick(7)) + "')");
        run(db, "INSERT INTO b VALUES('k" + std::to_string(r % 13) + "', " + std::to_string(r) + ", 'v')");
      }
      run(db, "COMMIT");
    }
    difftest::copy_file(c.base, c.target);
    {
      auto db = difftest::open_db(c.target);
      run(db, "BEGIN");
      for (int e = 0; e < 30; ++e) {
        int r = pick(260);
        switch (pick(4)) {
          case 0:
            run(db, "DELETE FROM a WHERE id = " + std::to_string(r));
            break;
          case 1:
            run(db, "INSERT OR REPLACE INTO a VALUES(" + std::to_string(r) + ", 9, 'new ''q''')");
            break;
          case 2:
            run(db, "UPDATE b SET v = 'w" + std::to_string(pick(3)) + "' WHERE j = " + std::to_string(r));
            break;
          default:
            run(db, "DELETE FROM b WHERE j = " + std::to_string(r));
            break;
        }
      }
      run(db, "COMMIT");
    }
    DiffSummary summary;
    difftest::diff_sql(c.base, c.target, &summary);
    auto r = testing::run_command({"sqldiff", c.base, c.target});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    int64_t sqldiff_rows = 0;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("INSERT", 0) == 0 || line.rfind("UPDATE", 0) == 0 || line.rfind("DELETE", 0) == 0)
        ++sqldiff_rows;
    EXPECT_EQ(summary.totals.total(), sqldiff_rows) << r.out;
    EXPECT_GT(sqldiff_rows, 0);
  }
}

}  // namespace
}  // namespace turso_sync
