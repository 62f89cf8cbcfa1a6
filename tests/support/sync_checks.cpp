#include "support/sync_checks.h"

#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <random>
#include <sstream>
#include <thread>

namespace turso_sync::testing {

simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& text) {
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(text).get(root), simdjson::SUCCESS) << text;
  return root;
}

std::vector<std::string> json_strings(simdjson::dom::element array) {
  std::vector<std::string> out;
  for (simdjson::dom::element e : array.get_array()) {
    std::string_view v;
    out.emplace_back(e.get(v) == simdjson::SUCCESS ? std::string(v) : std::string("null"));
  }
  return out;
}

std::vector<std::string> env_for(const std::string& url) {
  return {"TURSO_DATABASE_URL=" + url};
}

int64_t local_count(const std::string& path, const std::string& sql) {
  auto rows = local_rows(path, sql);
  return rows.size() == 1 && !rows[0].empty() ? rows[0][0].as_integer() : -1;
}

int64_t remote_count(const std::string& url, const std::string& sql) {
  auto rows = remote_rows(url, sql);
  return rows.size() == 1 && !rows[0].empty() ? rows[0][0].as_integer() : -1;
}

void expect_integrity_ok(const std::string& path) {
  auto rows = local_rows(path, "PRAGMA integrity_check");
  ASSERT_EQ(rows.size(), 1u) << path << "\n" << render_rows(rows);
  EXPECT_EQ(rows[0][0], Value::text("ok")) << path;
}

void expect_same(const std::string& url, const std::string& local_path, const std::string& sql) {
  Rows remote = remote_rows(url, sql);
  Rows local = local_rows(local_path, sql);
  EXPECT_EQ(remote, local) << sql << "\nremote:\n"
                           << render_rows(remote) << "local " << local_path << ":\n"
                           << render_rows(local);
}

void expect_same_local(const std::string& path_a, const std::string& path_b, const std::string& sql) {
  Rows a = local_rows(path_a, sql);
  Rows b = local_rows(path_b, sql);
  if (a == b) return;
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  std::ostringstream first;
  first << "first difference at row " << i << ":\n"
        << path_a << ":\n"
        << (i < a.size() ? render_rows({a[i]}) : "(no more rows)\n") << path_b << ":\n"
        << (i < b.size() ? render_rows({b[i]}) : "(no more rows)\n");
  ADD_FAILURE() << sql << "\n"
                << a.size() << " rows in " << path_a << ", " << b.size() << " in " << path_b << "; "
                << first.str();
}

void expect_no_local_changes(const TempDir& dir, const std::string& url) {
  auto r = run_cli({"diff", "--exit-code"}, env_for(url), dir.path());
  EXPECT_EQ(r.exit_code, 0) << "local changes left in " << dir.path() << ":\n" << r.out << r.err;
}

void expect_no_files(const TempDir& dir) {
  EXPECT_FALSE(fs::exists(dir.file("local_replica.db")));
  EXPECT_FALSE(fs::exists(dir.file("working_copy.db")));
}

int64_t staging_left(const std::string& url) {
  int64_t tables = remote_count(url,
                                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND substr(name, 1, "
                                "17) = 'turso_sync_stage_'");
  int64_t receipts = 0;
  if (remote_count(url, "SELECT count(*) FROM sqlite_schema WHERE name = 'turso_sync_push_parts'") > 0)
    receipts = remote_count(url, "SELECT count(*) FROM turso_sync_push_parts");
  return tables + receipts;
}

uint64_t kill_seed() {
  if (const char* s = std::getenv("TURSO_SYNC_KILL_SEED"); s && *s) return std::strtoull(s, nullptr, 10);
  return (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
}

void make_big_remote(const std::string& url, int doublings) {
  remote_exec(
      url,
      {"CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient TEXT, subject TEXT, score REAL, pad BLOB)",
       "INSERT INTO emails (recipient, subject, score, pad) VALUES ('seed', 's', 0.5, randomblob(200))"});
  for (int i = 0; i < doublings; ++i)
    remote_exec(url,
                {"INSERT INTO emails (recipient, subject, score, pad) SELECT 'seed', 's' || id, id / 8.0, "
                 "randomblob(200) FROM emails"});
}

void make_items_remote(const std::string& url) {
  remote_exec(url, {"CREATE TABLE items (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, body TEXT, score REAL)",
                    "INSERT INTO items (owner, body, score) VALUES ('seed', 'seed body', 0.5)"});
  for (int i = 0; i < 10; ++i)
    remote_exec(url,
                {"INSERT INTO items (owner, body, score) SELECT 'seed', 'seed body ' || id, id / 8.0 FROM "
                 "items"});
}

void kill_after(pid_t pid, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  kill(pid, SIGKILL);
  wait_exit_code(pid);
}

int kill_at(pid_t pid, std::chrono::steady_clock::time_point when) {
  std::this_thread::sleep_until(when);
  kill(pid, SIGKILL);  // a child that already exited is a zombie until reaped: the signal is harmless
  return wait_exit_code(pid);
}

std::vector<std::string> temp_files_of_dead_processes(const fs::path& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    auto at = name.find(".tmp-");
    if (at == std::string::npos) continue;
    std::string rest = name.substr(at + 5);
    std::string digits = rest.substr(0, rest.find_first_not_of("0123456789"));
    if (digits.empty()) continue;
    pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (kill(pid, 0) != 0 && errno == ESRCH) found.push_back(e.path().string());
  }
  return found;
}

}  // namespace turso_sync::testing
