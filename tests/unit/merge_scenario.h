// The scenario of the merge tests (merge_test.cpp, merge_schema_test.cpp): a base database, the working copy
// (base + "ours" SQL) and the new replica (base + "theirs" SQL) in a temporary directory; the delta
// base -> theirs is merged into ours. With the SQL those tests start from.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

#include "diff_test_support.h"
#include "merge/merge.h"
#include "support/test_env.h"
#include "turso_sync/changeset.h"
#include "turso_sync/diff.h"

namespace turso_sync::mergetest {

// The bytes of the file `path` ("" when it cannot be read).
inline std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// `list` as strings (expected rows, as Scenario::rows renders them).
inline std::vector<std::string> names(std::initializer_list<const char*> list) {
  return {list.begin(), list.end()};
}

// A base, ours and theirs database in a temporary directory, and the delta base -> theirs to merge into ours.
struct Scenario {
  testing::TempDir dir;
  std::string base = dir.file("base.db");
  std::string ours = dir.file("ours.db");
  std::string theirs = dir.file("theirs.db");
  Changeset delta;

  Scenario(const std::string& base_sql, const std::string& ours_sql, const std::string& theirs_sql) {
    difftest::exec(base, base_sql);
    difftest::copy_file(base, ours);
    difftest::copy_file(base, theirs);
    if (!ours_sql.empty()) difftest::exec(ours, ours_sql);
    if (!theirs_sql.empty()) difftest::exec(theirs, theirs_sql);
    ChangesetCollector collector;
    auto r = diff_databases(base, theirs, collector);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    delta = collector.take();
  }

  Result<MergeReport> try_merge(ConflictPolicy policy = ConflictPolicy::abort,
                                InsertCollision collision = InsertCollision::move_local,
                                int busy_timeout_ms = 5000) {
    auto db = db::Database::open(ours, db::OpenMode::read_write, busy_timeout_ms);
    if (!db.ok()) return std::move(db).error();
    MergeOptions options;
    options.on_conflict = policy;
    options.on_insert_collision = collision;
    options.theirs_path = theirs;
    options.base_path = base;
    return merge_into_working_copy(*db, delta, options);
  }

  MergeReport merge(ConflictPolicy policy = ConflictPolicy::abort,
                    InsertCollision collision = InsertCollision::move_local) {
    auto r = try_merge(policy, collision);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : MergeReport{};
  }

  // Rows of `sql` on the working copy, each as "v|v|v" (values rendered by describe(): 1, 0.5, 'a', X'00',
  // NULL).
  std::vector<std::string> rows(const std::string& sql, const std::string& path = "") const {
    std::vector<std::string> out;
    for (const auto& row : testing::local_rows(path.empty() ? ours : path, sql)) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) line += (i ? "|" : "") + describe(row[i], 200);
      out.push_back(line);
    }
    return out;
  }
};

// Base: table t(id INTEGER PRIMARY KEY, a TEXT, b INTEGER) with rows 1..3.
inline constexpr const char* k_emails =
    "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b INTEGER);"
    "INSERT INTO t VALUES(1, 'a', 1), (2, 'b', 2), (3, 'c', 3);";

// On k_emails: both sides change row 1's `a` (an update/update conflict), each also inserts a row; theirs
// also changes row 1's `b` and creates a table.
inline constexpr const char* k_uu_ours =
    "UPDATE t SET a = 'ours' WHERE id = 1; INSERT INTO t VALUES(10, 'local', 0);";
inline constexpr const char* k_uu_theirs =
    "UPDATE t SET a = 'theirs', b = 9 WHERE id = 1; INSERT INTO t VALUES(4, 'd', 4); CREATE TABLE extra(x);"
    "INSERT INTO extra VALUES(1);";

// Base: emails and three tables referencing it (by id, by the table, by subject), with email 100.
inline constexpr const char* k_mail_schema =
    "CREATE TABLE emails(id INTEGER PRIMARY KEY, subject TEXT);"
    "CREATE TABLE attachments(id INTEGER PRIMARY KEY, email_id INTEGER REFERENCES emails(id), name TEXT);"
    "CREATE TABLE notes(id INTEGER PRIMARY KEY, about INTEGER REFERENCES emails, body TEXT);"
    "CREATE TABLE other(id INTEGER PRIMARY KEY, email_subject TEXT REFERENCES emails(subject));"
    "INSERT INTO emails VALUES(100, 'old');";

}  // namespace turso_sync::mergetest
