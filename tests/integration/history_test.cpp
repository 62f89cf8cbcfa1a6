// Every operation writes its own history line inside the library (issue 20): a C++ program that calls
// SyncContext directly gets the same lines as the CLI, the C API and the workflow loop, each with its
// trigger; `sync` leaves one line for its pull and push. Against a real local server.
#include <gtest/gtest.h>

#include <simdjson.h>

#include <string>
#include <vector>

#include "support/test_env.h"
#include "turso_sync/config.h"
#include "turso_sync/sync.h"

namespace turso_sync::testing {
namespace {

std::unique_ptr<SyncContext> open_context(const TempDir& dir, const std::string& url) {
  ConfigOverrides overrides;
  overrides.base_dir = dir.path().string();
  overrides.database_url = url;
  auto config = load_config(overrides, {});
  EXPECT_TRUE(config.ok()) << config.error().message();
  auto sync = SyncContext::open(std::move(config).value());
  EXPECT_TRUE(sync.ok());
  return std::move(sync).value();
}

// "operation trigger result" of each line, oldest first.
std::vector<std::string> lines_of(const SyncContext& sync) {
  auto entries = sync.log(0);
  EXPECT_TRUE(entries.ok()) << entries.error().message();
  std::vector<std::string> out;
  for (auto it = entries->rbegin(); it != entries->rend(); ++it)
    out.push_back(it->operation + " " + it->trigger + " " + it->result);
  return out;
}

TEST(History, EachOperationOfTheLibraryWritesItsLineWithTheContextsTrigger) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
                             "INSERT INTO notes VALUES (1, 'remote')"});
  TempDir dir;
  auto sync = open_context(dir, server.url());
  ASSERT_TRUE(sync->init({}).ok());
  ASSERT_TRUE(sync->pull({}).ok());
  local_exec(dir.file("working_copy.db"), "INSERT INTO notes VALUES (2, 'pushed')");
  PushOptions dry;
  dry.dry_run = true;
  ASSERT_TRUE(sync->push(dry).ok());  // sends nothing: no line
  ASSERT_TRUE(sync->push({}).ok());

  sync->set_trigger(Trigger::capi);
  local_exec(dir.file("working_copy.db"), "INSERT INTO notes VALUES (3, 'synced')");
  auto synced = sync->sync({});
  ASSERT_TRUE(synced.ok()) << synced.error().message();
  ASSERT_TRUE(synced->push);
  EXPECT_EQ(exit_code_of(*synced), 0);
  local_exec(dir.file("working_copy.db"), "INSERT INTO notes VALUES (4, 'discarded')");
  ASSERT_TRUE(sync->reset({}).ok());
  ASSERT_TRUE(sync->copy({}).ok());
  ASSERT_TRUE(sync->resolve({}).ok());

  sync->set_trigger(Trigger::workflow);
  SyncOptions cycle;
  cycle.why = "interval";
  cycle.complete_history = [](HistoryEntry& e, const Error* error) {
    EXPECT_EQ(error, nullptr);
    e.cycle = 7;
  };
  ASSERT_TRUE(sync->sync(cycle).ok());
  sync->set_trigger(Trigger::background);
  cycle.why = "change";
  ASSERT_TRUE(sync->sync(cycle).ok());
  // A failure has its line too.
  sync->set_trigger(Trigger::cli);
  CopyOptions copy;
  local_exec(dir.file("working_copy.db"), "INSERT INTO notes VALUES (5, 'local')");
  ASSERT_FALSE(sync->copy(copy).ok());  // refused: local changes

  EXPECT_EQ(lines_of(*sync), (std::vector<std::string>{"init cli ok", "pull cli ok", "push cli ok",
                                                       "sync capi ok", "reset capi ok", "copy capi ok",
                                                       "resolve capi ok", "sync workflow:interval ok",
                                                       "sync capi:background:change ok", "copy cli error"}));
  auto entries = sync->log(0);
  ASSERT_TRUE(entries.ok());
  // Newest first: the refused copy, the two cycles, ... the capi sync pushed row 3 in one line.
  EXPECT_EQ((*entries)[2].cycle, 7);
  EXPECT_EQ((*entries)[6].pushed.inserts, 1);
  EXPECT_EQ((*entries)[7].pushed.inserts, 1);
  EXPECT_EQ((*entries)[9].pulled.inserts, 1);  // init: the remote's row
  EXPECT_FALSE(sync->history_error());
}

// The CLI writes no line of its own: one line per command, trigger cli, read through `log --json`.
TEST(History, CommandsOfTheCliLeaveOneLineEachWithTriggerCli) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"});
  TempDir dir;
  std::vector<std::string> env = {"TURSO_DATABASE_URL=" + server.url()};
  auto run = [&](const std::vector<std::string>& args) {
    CommandResult r = run_cli(args, env, dir.path().string());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  };
  run({"init"});
  local_exec(dir.file("working_copy.db"), "INSERT INTO notes VALUES (1, 'a')");
  run({"sync"});
  local_exec(dir.file("working_copy.db"), "INSERT INTO notes VALUES (2, 'b')");
  run({"reset", "--yes"});
  run({"copy"});
  run({"pull"});
  run({"push"});
  CommandResult r = run_cli({"--json", "log", "-n", "0"}, env, dir.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
  std::vector<std::string> lines;
  for (simdjson::dom::element e : doc["entries"].get_array())
    lines.insert(lines.begin(), std::string(std::string_view(e["operation"])) + " " +
                                    std::string(std::string_view(e["trigger"])));
  EXPECT_EQ(lines, (std::vector<std::string>{"init cli", "sync cli", "reset cli", "copy cli", "pull cli",
                                             "push cli"}))
      << r.out;
  simdjson::dom::element sync_line = doc["entries"].at(4);
  EXPECT_EQ(int64_t(sync_line["pushed"]["inserts"]), 1) << r.out;
}

}  // namespace
}  // namespace turso_sync::testing
