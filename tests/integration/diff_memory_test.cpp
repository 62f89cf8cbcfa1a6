// The local diff's memory as a user measures it (issue: peak RSS under 100 MB at any size): a full compare
// of two files of ~50 MB each, every row changed, reads through SQLite's bounded page cache. Memory-mapped,
// every page touched counted in the resident set (about twice the file size here).
#include <gtest/gtest.h>

#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

TEST(DiffMemory, FullCompareOfTwoLargeFilesKeepsPeakRssBounded) {
  TempDir dir;
  std::string base = dir.file("base.db"), target = dir.file("target.db");
  local_exec(base,
             "CREATE TABLE emails (id INTEGER PRIMARY KEY, a TEXT, b TEXT, r REAL, n INTEGER, pad BLOB);"
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000) "
             "INSERT INTO emails SELECT x, 'addr-' || x || '@example.com', 'subject ' || x, x / 7.0, x, "
             "randomblob(60) FROM c");
  fs::copy_file(base, target);
  local_exec(target, "UPDATE emails SET n = n + 1");
  ASSERT_GT(fs::file_size(base), 45u << 20);
  auto r = run_cli({"--replica", base, "--working", target, "--diff-file", dir.file("out.sql"), "diff"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("0 inserts, 400000 updates, 0 deletes"), std::string::npos) << r.out;
  EXPECT_LT(r.max_rss_kib, 60 * 1024)
      << "peak RSS " << r.max_rss_kib << " KB for two files of " << fs::file_size(base) / (1 << 20) << " MB";
}

}  // namespace
}  // namespace turso_sync::testing
