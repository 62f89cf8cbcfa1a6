#include <gtest/gtest.h>
#include <signal.h>

#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

TEST(LocalServer, StartsOnFreshFileAndStopsByPid) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE t(x)", "INSERT INTO t VALUES (1), (2)"});
  auto rows = remote_query(server.url(), {"SELECT count(*) FROM t"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], R"([["integer", "2"]])");
  pid_t pid = server.pid();
  server.stop();
  EXPECT_NE(kill(pid, 0), 0) << "server process still alive after stop";
}

}  // namespace
}  // namespace turso_sync::testing
