// The staged push's SQL run on SQLite itself (Turso Cloud's engine; the integration tests run it on the local
// Turso server): the parts and the final batch, executed step by step with the batch's conditions against a
// copy of the base database standing in for the remote, give exactly the working copy; a guard, an insert
// clash or a missing parent makes the final batch roll back with the remote's tables unchanged; a part sent
// twice is recognised by its receipt; parts stay within their size.
#include "sync/push_stage.h"

#include <gtest/gtest.h>

#include <functional>

#include "diff_test_support.h"
#include "support/test_env.h"
#include "turso_sync/diff.h"

namespace turso_sync {
namespace {

using difftest::exec;
using difftest::snapshot;
using testing::TempDir;

// Runs `batch` on `db` as a Hrana server runs a batch: each step when its condition holds.
std::vector<BatchStepOutcome> run_batch(db::Database& db, const PushBatch& batch) {
  std::vector<BatchStepOutcome> out(batch.steps.size());
  std::function<bool(const BatchCondition&)> holds = [&](const BatchCondition& c) -> bool {
    switch (c.kind) {
      case BatchCondition::Kind::ok:
        return out[static_cast<size_t>(c.step)].result.has_value();
      case BatchCondition::Kind::error:
        return out[static_cast<size_t>(c.step)].error.has_value();
      case BatchCondition::Kind::not_:
        return !holds(c.children.at(0));
      case BatchCondition::Kind::and_:
        for (const auto& child : c.children)
          if (!holds(child)) return false;
        return true;
      case BatchCondition::Kind::or_:
        for (const auto& child : c.children)
          if (holds(child)) return true;
        return false;
    }
    return false;
  };
  for (size_t i = 0; i < batch.steps.size(); ++i) {
    const BatchStep& step = batch.steps[i];
    if (step.condition && !holds(*step.condition)) continue;
    auto stmt = db.prepare(step.stmt.sql);
    if (!stmt.ok()) {
      out[i].error = stmt.error().message();
      continue;
    }
    if (auto bound = stmt->bind_all(step.stmt.args); !bound.ok()) {
      out[i].error = bound.error().message();
      continue;
    }
    StatementResult result;
    while (true) {
      auto row = stmt->step();
      if (!row.ok()) {
        out[i].error = row.error().message();
        break;
      }
      if (!*row) {
        out[i].result = std::move(result);
        break;
      }
      std::vector<Value> values;
      for (int c = 0; c < stmt->column_count(); ++c) values.push_back(stmt->column(c));
      result.rows.push_back(std::move(values));
    }
  }
  return out;
}

// The first failed step, or -1.
int failed_step(const std::vector<BatchStepOutcome>& outcomes) {
  for (size_t i = 0; i < outcomes.size(); ++i)
    if (outcomes[i].error) return static_cast<int>(i);
  return -1;
}

constexpr const char* kBase =
    "CREATE TABLE items (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, body TEXT, score REAL, data BLOB);"
    "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 300) "
    "INSERT INTO items SELECT i, 'seed', 'body ' || i, i / 3.0, zeroblob(i % 5) FROM k;"
    "CREATE TABLE log (msg TEXT, level INTEGER);"
    "INSERT INTO log VALUES ('a', 1), ('b', NULL), ('c', 3);"
    "CREATE TABLE tags (name TEXT COLLATE NOCASE, n INTEGER, note, PRIMARY KEY (name, n)) WITHOUT ROWID;"
    "INSERT INTO tags VALUES ('x', 1, 'one'), ('y', 2, 2.5), ('z', 3, NULL);"
    "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);"
    "INSERT INTO parent VALUES (1, 'one'), (2, 'two');"
    "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id), note TEXT);"
    "INSERT INTO child VALUES (1, 1, 'c1');";

constexpr const char* kEdits =
    "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 400) "
    "INSERT INTO items SELECT 1000 + i, 'A', printf('%.100c', 'x') || i, i * 0.1, x'00ff' FROM k;"
    "UPDATE items SET body = 'edited ' || id WHERE id <= 40;"
    "UPDATE items SET score = -score, data = NULL WHERE id BETWEEN 41 AND 60;"
    "DELETE FROM items WHERE id BETWEEN 200 AND 220;"
    "UPDATE log SET level = 10 WHERE msg = 'b'; DELETE FROM log WHERE msg = 'c'; INSERT INTO log VALUES "
    "('d', 4);"
    "UPDATE tags SET note = 'ONE' WHERE name = 'x'; DELETE FROM tags WHERE name = 'z';"
    "INSERT INTO tags VALUES ('w', 9, x'01');"
    "INSERT INTO child SELECT 100 + id, 3, 'new child' FROM items WHERE id <= 50;"
    "INSERT INTO parent VALUES (3, 'three');";

struct Staging {
  TempDir dir;
  std::string base = dir.file("base.db"), working = dir.file("working.db"), remote = dir.file("remote.db");
  Changeset cs;
  PushBatchOptions options;

  explicit Staging(const std::string& edits = kEdits, const std::string& base_sql = kBase) {
    exec(base, base_sql);
    difftest::copy_file(base, working);
    difftest::copy_file(base, remote);
    exec(working, edits);
    ChangesetCollector collector;
    auto r = diff_databases(base, working, collector);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    cs = collector.take();
    options.push_id = "0123456789abcdef0123456789abcdef";
    options.pushed_at = "2024-01-01T00:00:00Z";
    options.references.push_back({"child", "parent", {"parent_id"}, {"id"}});
  }

  // Stages every part on the remote; returns the number of parts.
  int stage(size_t part_bytes) {
    auto db = difftest::open_db(remote);
    StagePartBuilder parts(cs, options, part_bytes);
    EXPECT_TRUE(parts.check().ok());
    while (true) {
      auto part = parts.next();
      EXPECT_TRUE(part.ok()) << (part.ok() ? "" : part.error().message());
      if (!part.ok() || !*part) break;
      auto outcome = run_batch(db, **part);
      EXPECT_TRUE(outcome[static_cast<size_t>((*part)->commit_step)].result)
          << "part " << parts.parts_built() << " failed at step " << failed_step(outcome);
    }
    return parts.parts_built();
  }

  // Runs the final batch; returns the failed step's origin kind, nullopt when it committed.
  std::optional<StepOrigin> apply(int parts) {
    auto batch = build_stage_apply_batch(cs, options, parts);
    EXPECT_TRUE(batch.ok());
    auto db = difftest::open_db(remote);
    auto outcome = run_batch(db, *batch);
    int failed = failed_step(outcome);
    bool committed = outcome[static_cast<size_t>(batch->commit_step)].result.has_value();
    EXPECT_EQ(committed, failed < 0) << (failed >= 0 ? *outcome[static_cast<size_t>(failed)].error : "");
    EXPECT_EQ(db.exec("BEGIN IMMEDIATE; ROLLBACK").ok(), true) << "a transaction was left open";
    if (failed < 0) return std::nullopt;
    return batch->origins[static_cast<size_t>(failed)];
  }

  int64_t count(const std::string& sql) {
    auto rows = testing::local_rows(remote, sql);
    return rows.size() == 1 ? rows[0][0].as_integer() : -1;
  }
};

TEST(PushStage, PartsAndTheFinalBatchGiveExactlyTheWorkingCopy) {
  for (size_t part_bytes : {size_t{2000}, size_t{20000}, size_t{1} << 24}) {
    SCOPED_TRACE(part_bytes);
    Staging s;
    int parts = s.stage(part_bytes);
    EXPECT_GE(parts, 1);
    EXPECT_EQ(s.count("SELECT count(*) FROM turso_sync_push_parts"), parts);
    auto failed = s.apply(parts);
    EXPECT_FALSE(failed) << failed->description;
    difftest::expect_same_snapshot(snapshot(s.remote), snapshot(s.working), "");
    EXPECT_EQ(s.count("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'turso_sync_stage_%'"), 0);
    EXPECT_EQ(s.count("SELECT count(*) FROM turso_sync_push_parts"), 0);
    EXPECT_EQ(s.count("SELECT count(*) FROM turso_sync_pushes"), 1);
  }
}

TEST(PushStage, PartsStayWithinTheirSizeAndCarryEveryRowOnce) {
  Staging s;
  constexpr size_t kPartBytes = 8000;
  StagePartBuilder parts(s.cs, s.options, kPartBytes);
  int64_t rows = 0;
  while (true) {
    auto part = parts.next();
    ASSERT_TRUE(part.ok());
    if (!*part) break;
    EXPECT_LT((*part)->approx_bytes, kPartBytes + 2000) << "part " << parts.parts_built();
    rows += (*part)->row_changes;
  }
  int64_t expected = 0;
  for (const auto& tc : s.cs.tables) expected += static_cast<int64_t>(tc.rows.size());
  EXPECT_EQ(rows, expected);
  EXPECT_GT(parts.parts_built(), 10);
}

// Regression (found by the catalog test, parts of 2 kB and a table of 120 columns): a part size below a
// part's frame plus its staging table's definition made parts without a row, each followed by the same part
// again: a push sent empty parts forever. Every part carries at least one row.
TEST(PushStage, APartSizeBelowTheStagingDefinitionStillMovesARowPerPart) {
  Staging s;
  for (size_t part_bytes : {size_t{1}, size_t{300}, size_t{700}}) {
    SCOPED_TRACE(part_bytes);
    StagePartBuilder parts(s.cs, s.options, part_bytes);
    const int64_t total = parts.rows_total();
    int64_t rows = 0;
    for (int64_t i = 0; i <= total; ++i) {
      auto part = parts.next();
      ASSERT_TRUE(part.ok());
      if (!*part) break;
      ASSERT_GE((*part)->row_changes, 1) << "part " << parts.parts_built();
      rows += (*part)->row_changes;
    }
    EXPECT_EQ(rows, total);
    EXPECT_LE(parts.parts_built(), total);
  }
}

TEST(PushStage, APartSentAgainFailsOnItsReceiptAndChangesNothing) {
  Staging s;
  auto db = difftest::open_db(s.remote);
  StagePartBuilder parts(s.cs, s.options, 4000);
  auto part = parts.next();
  ASSERT_TRUE(part.ok() && *part);
  ASSERT_TRUE(run_batch(db, **part)[static_cast<size_t>((*part)->commit_step)].result);
  std::string before = snapshot(s.remote);
  auto again = run_batch(db, **part);
  int failed = failed_step(again);
  ASSERT_GE(failed, 0);
  EXPECT_EQ((*part)->origins[static_cast<size_t>(failed)].kind, StepOrigin::Kind::stage_part_receipt);
  EXPECT_NE(again[static_cast<size_t>(failed)].error->find("UNIQUE"), std::string::npos);
  EXPECT_EQ(s.count("SELECT count(*) FROM turso_sync_push_parts"), 1);
}

// Each refusal rolls the whole final batch back: the remote's tables are as before it.
TEST(PushStage, AGuardAnInsertClashOrAMissingParentRollsEverythingBack) {
  struct Case {
    const char* name;
    const char* remote_change;
    StepOrigin::Kind kind;
  };
  for (const Case& c : {Case{"a row updated since", "UPDATE items SET body = 'theirs' WHERE id = 30",
                             StepOrigin::Kind::stage_guard},
                        Case{"a deleted row changed since", "UPDATE items SET score = 0 WHERE id = 210",
                             StepOrigin::Kind::stage_guard},
                        Case{"a composite-key row changed since",
                             "UPDATE tags SET note = 'uno' WHERE name = 'X'", StepOrigin::Kind::stage_guard},
                        Case{"a deleted composite-key row changed since",
                             "UPDATE tags SET note = 'zz' WHERE name = 'z'", StepOrigin::Kind::stage_guard},
                        Case{"one of our new ids taken", "INSERT INTO items VALUES (1390, 'B', 'b', 0, NULL)",
                             StepOrigin::Kind::stage_rows},
                        Case{"a parent our new children need deleted", "DELETE FROM parent WHERE id = 1",
                             StepOrigin::Kind::stage_parent_guard},
                        Case{"a child of a row we delete added", "INSERT INTO child VALUES (7, 2, 'theirs')",
                             StepOrigin::Kind::reference_guard}}) {
    SCOPED_TRACE(c.name);
    // Children of parent 1 added locally (parent 1 deleted on the remote in one case); parent 2 deleted
    // locally (a child of it added on the remote in another).
    Staging s(std::string(kEdits) +
              "INSERT INTO child VALUES (900, 1, 'child of one'); DELETE FROM parent WHERE id = 2;");
    int parts = s.stage(3000);
    exec(s.remote, c.remote_change);
    std::string before = snapshot(s.remote);
    auto failed = s.apply(parts);
    ASSERT_TRUE(failed);
    EXPECT_EQ(static_cast<int>(failed->kind), static_cast<int>(c.kind)) << failed->description;
    difftest::expect_same_snapshot(snapshot(s.remote), before, "");
  }
}

TEST(PushStage, AChildOfAParentMissingOnTheRemoteFailsTheParentGuard) {
  Staging s;
  int parts = s.stage(3000);
  exec(s.remote, "DELETE FROM parent WHERE id = 2; UPDATE child SET parent_id = 1");
  // Our new children reference parent 3, which the push inserts itself: no conflict.
  EXPECT_FALSE(s.apply(parts));
  Staging t(std::string(kEdits) + "INSERT INTO child VALUES (901, 2, 'child of two');");
  parts = t.stage(3000);
  exec(t.remote, "DELETE FROM parent WHERE id = 2");
  auto failed = t.apply(parts);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->kind, StepOrigin::Kind::stage_parent_guard);
}

TEST(PushStage, ForceIsLocalWinsForTheStagedRows) {
  Staging s;
  s.options.force = true;
  int parts = s.stage(3000);
  exec(s.remote,
       "UPDATE items SET body = 'theirs' WHERE id = 30; INSERT INTO items VALUES (1390, 'B', 'b', 0, NULL);"
       "UPDATE items SET score = 0 WHERE id = 210");
  EXPECT_FALSE(s.apply(parts));
  difftest::expect_same_snapshot(snapshot(s.remote), snapshot(s.working), "");
}

// Tables of 2000 columns (SQLite's limit) of each shape: an INTEGER PRIMARY KEY, a TEXT key, no key.
constexpr int kWide = 2000;
const std::vector<std::string> kWideTables = {"wa", "wt", "wn"};

std::string wide_key(const std::string& table, int row) {
  return table == "wt" ? "'k" + std::to_string(row) + "'" : std::to_string(row);
}

std::string wide_row(const std::string& table, int row, int version) {
  std::string sql = "INSERT INTO " + table + " VALUES (" + wide_key(table, row);
  for (int c = 1; c < kWide; ++c)
    sql += c % 3 == 0   ? ", NULL"
           : c % 3 == 1 ? ", " + std::to_string(row * 10000 + c * 10 + version)
                        : ", 'v" + std::to_string(row * 10000 + c * 10 + version) + "'";
  return sql + ");";
}

std::string wide_base() {
  std::string sql;
  for (const std::string& t : kWideTables) {
    sql += "CREATE TABLE " + t + " (" +
           (t == "wa"   ? "id INTEGER PRIMARY KEY"
            : t == "wt" ? "k TEXT PRIMARY KEY"
                        : "c0");
    for (int c = 1; c < kWide; ++c) sql += ", c" + std::to_string(c);
    sql += ");";
    for (int row = 1; row <= 3; ++row) sql += wide_row(t, row, 0);
  }
  return sql;
}

// Inserts, an update of every column, an update of one column, a delete: in every table.
std::string wide_edits() {
  std::string sql;
  for (const std::string& t : kWideTables) {
    std::string key = std::string(t == "wa" ? "id" : t == "wt" ? "k" : "c0") + " = ";
    for (int row = 10; row < 14; ++row) sql += wide_row(t, row, 1);
    sql += "UPDATE " + t + " SET ";
    for (int c = 1; c < kWide; ++c)
      sql += (c > 1 ? ", c" : "c") + std::to_string(c) + " = " + std::to_string(c) + ".5";
    sql += " WHERE " + key + wide_key(t, 3) + "; UPDATE " + t + " SET c5 = 'five' WHERE " + key +
           wide_key(t, 1) + "; DELETE FROM " + t + " WHERE " + key + wide_key(t, 2) + ";";
  }
  return sql;
}

// Every row of the wide tables with its rowid (snapshot() would read the rowid and 2000 columns at once: one
// column too many for a result set).
std::vector<testing::Rows> wide_contents(const std::string& path) {
  std::vector<testing::Rows> out;
  for (const std::string& t : kWideTables) {
    out.push_back(testing::local_rows(path, "SELECT rowid FROM " + t + " ORDER BY rowid"));
    out.push_back(testing::local_rows(path, "SELECT * FROM " + t + " ORDER BY rowid"));
  }
  return out;
}

// Their changes stage over continuation tables, and the final batch stays within SQLite's limits (the result
// set of INSERT … SELECT, the derived table of UPDATE … FROM, the guard's expression depth), with and without
// --force. A stale guard rolls everything back.
TEST(PushStage, TablesOfTwoThousandColumnsStageWithinSQLitesLimits) {
  for (bool force : {false, true}) {
    SCOPED_TRACE(force ? "--force" : "guarded");
    Staging s(wide_edits(), wide_base());
    s.options.references.clear();
    s.options.force = force;
    int parts = s.stage(50000);
    EXPECT_GT(parts, 3);
    EXPECT_EQ(s.count("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'turso_sync_stage_%'"), 9);
    auto failed = s.apply(parts);
    EXPECT_FALSE(failed) << failed->description;
    EXPECT_TRUE(wide_contents(s.remote) == wide_contents(s.working));
    EXPECT_EQ(s.count("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'turso_sync_stage_%'"), 0);
  }
  Staging s(wide_edits(), wide_base());
  s.options.references.clear();
  int parts = s.stage(50000);
  exec(s.remote, "UPDATE wt SET c1500 = 'theirs' WHERE k = 'k3'");
  auto before = wide_contents(s.remote);
  auto failed = s.apply(parts);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->kind, StepOrigin::Kind::stage_guard);
  EXPECT_TRUE(wide_contents(s.remote) == before);
}

TEST(PushStage, TheFinalBatchRefusesWhenAPartIsMissing) {
  Staging s;
  int parts = s.stage(3000);
  ASSERT_GT(parts, 1);
  exec(s.remote, "DELETE FROM turso_sync_push_parts WHERE part = 2");
  auto failed = s.apply(parts);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->kind, StepOrigin::Kind::stage_parts_guard);
}

}  // namespace
}  // namespace turso_sync
