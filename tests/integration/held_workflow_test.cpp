// Held conflicts in the running `workflow` (issue 11) and the sync history: a row held by
// --on-conflict=hold (the default of `workflow`) never stops the other rows, cycle after cycle, while
// `workflow --metrics-file` (the Prometheus text format, parsed strictly here) and history.jsonl record each
// cycle; a conflict under --on-conflict=abort and an unreachable remote fail cycles visibly; `log` and
// `status --check` codes follow the history. Two teammates A and B on one real local server (support/team.h).
// The held rows themselves (resolve, reset, kills between durable steps): held_conflicts_test.cpp.
#include <gtest/gtest.h>

#include <signal.h>
#include <simdjson.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "support/sync_checks.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------------------------
// workflow: a held conflict never stops the other rows, cycle after cycle; metrics and history follow.

// The Prometheus text exposition format (0.0.4) of a metrics file, parsed strictly by a small parser of its
// own. It fails the test on: a comment other than `# HELP name text` / `# TYPE name counter|gauge`; a
// family with two HELP or two TYPE lines, or one that comes after the family's samples; a sample whose
// family has no HELP or TYPE before it, or whose family's samples are not together; a bad metric or label
// name; labels that are not `name="value"` (escapes \\ \" \n only) separated by commas; a value that is
// not a number; a series given twice; a counter not named *_total.
struct Exposition {
  std::map<std::string, double> samples;  // "name" or "name{labels}" as written -> value
  std::map<std::string, std::string> types;
  std::set<std::string> families;  // every family that has samples

  // The value of a series; a series that is missing fails the test (NaN then fails any comparison too).
  double operator[](const std::string& series) const {
    auto it = samples.find(series);
    if (it != samples.end()) return it->second;
    ADD_FAILURE() << "metric " << series << " is missing";
    return std::numeric_limits<double>::quiet_NaN();
  }
};

bool is_metric_name(const std::string& name, bool colons) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char ch : name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || (colons && ch == ':'))) return false;
  return true;
}

void parse_prometheus_into(const std::string& text, Exposition& x) {
  std::set<std::string> helps, done;  // done: families whose samples are over
  std::string current;                // the family of the previous sample
  EXPECT_TRUE(!text.empty() && text.back() == '\n') << "the exposition must end with a newline:\n" << text;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream c(line.substr(1));
      std::string keyword, name, rest;
      c >> keyword >> name;
      std::getline(c, rest);
      ASSERT_TRUE(keyword == "HELP" || keyword == "TYPE") << line;
      EXPECT_EQ(line.rfind("# " + keyword + " " + name + " ", 0), 0u) << line;
      EXPECT_TRUE(is_metric_name(name, true)) << line;
      EXPECT_EQ(x.families.count(name), 0u) << keyword << " after the samples of its family: " << line;
      if (keyword == "HELP") {
        EXPECT_TRUE(helps.insert(name).second) << "a second HELP: " << line;
        EXPECT_GT(rest.size(), 1u) << "empty HELP: " << line;
      } else {
        EXPECT_TRUE(rest == " counter" || rest == " gauge") << line;
        EXPECT_TRUE(x.types.emplace(name, rest.substr(1)).second) << "a second TYPE: " << line;
      }
      continue;
    }
    // name [{label="value",...}] value
    size_t pos = 0;
    while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') ++pos;
    std::string family = line.substr(0, pos);
    EXPECT_TRUE(is_metric_name(family, true)) << line;
    std::set<std::string> label_names;
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      while (true) {
        size_t name_start = pos;
        while (pos < line.size() && line[pos] != '=') ++pos;
        std::string label = line.substr(name_start, pos - name_start);
        ASSERT_TRUE(is_metric_name(label, false) && label.rfind("__", 0) != 0) << "label name: " << line;
        EXPECT_TRUE(label_names.insert(label).second) << "label given twice: " << line;
        ASSERT_TRUE(pos + 1 < line.size() && line[pos + 1] == '"') << "label value not quoted: " << line;
        pos += 2;
        while (pos < line.size() && line[pos] != '"') {
          if (line[pos] == '\\') {
            ASSERT_TRUE(pos + 1 < line.size() &&
                        (line[pos + 1] == '\\' || line[pos + 1] == '"' || line[pos + 1] == 'n'))
                << "bad escape: " << line;
            ++pos;
          }
          ++pos;
        }
        ASSERT_LT(pos, line.size()) << "unterminated label value: " << line;
        ++pos;  // the closing quote
        ASSERT_LT(pos, line.size()) << line;
        if (line[pos] == '}') break;
        ASSERT_EQ(line[pos], ',') << "labels must be separated by commas: " << line;
        ++pos;
      }
      ++pos;  // the closing brace
    }
    ASSERT_TRUE(pos < line.size() && line[pos] == ' ') << "no value: " << line;
    std::string series = line.substr(0, pos);
    std::string value = line.substr(pos + 1);
    char* end = nullptr;
    double v = std::strtod(value.c_str(), &end);
    EXPECT_TRUE(!value.empty() && end && *end == '\0') << "not a number: " << line;
    EXPECT_TRUE(x.types.count(family)) << "no TYPE before " << line;
    EXPECT_TRUE(helps.count(family)) << "no HELP before " << line;
    if (x.types[family] == "counter") {
      EXPECT_TRUE(family.size() > 6 && family.substr(family.size() - 6) == "_total") << line;
      EXPECT_GE(v, 0) << "a negative counter: " << line;
    }
    if (family != current) {
      EXPECT_EQ(done.count(family), 0u) << "the samples of " << family << " are not together";
      if (!current.empty()) done.insert(current);
      current = family;
    }
    x.families.insert(family);
    EXPECT_TRUE(x.samples.emplace(series, v).second) << "series given twice: " << line;
  }
  for (const auto& typed : x.types)
    EXPECT_TRUE(x.families.count(typed.first)) << "TYPE without samples: " << typed.first;
}

Exposition parse_prometheus(const std::string& text) {
  Exposition x;
  parse_prometheus_into(text, x);
  return x;
}

// Every family the workflow writes (docs/architecture.md, "Metrics"): none missing, none unknown.
const std::set<std::string> kMetricFamilies = {
    "turso_sync_cycles_total",
    "turso_sync_cycle_failures_total",
    "turso_sync_cycle_conflicts_total",
    "turso_sync_rows_pulled_total",
    "turso_sync_rows_pushed_total",
    "turso_sync_conflicts_total",
    "turso_sync_bytes_sent_total",
    "turso_sync_bytes_received_total",
    "turso_sync_requests_total",
    "turso_sync_conflicts_held",
    "turso_sync_consecutive_failures",
    "turso_sync_last_success_timestamp_seconds",
    "turso_sync_last_cycle_timestamp_seconds",
};

// Reads and parses the metrics file; checks it has every family, that it was replaced atomically (no temp
// file left beside it) and its mode.
Exposition read_metrics(const std::string& path) {
  Exposition x = parse_prometheus(read_text(path));
  EXPECT_EQ(x.families, kMetricFamilies) << read_text(path);
  fs::path file(path);
  for (const auto& e : fs::directory_iterator(file.parent_path())) {
    std::string name = e.path().filename().string();
    if (name.rfind(file.filename().string(), 0) == 0) {
      EXPECT_EQ(name, file.filename().string()) << "left beside the metrics file";
    }
  }
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  return x;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Seconds since the epoch of an RFC 3339 UTC time as the history writes it ("2026-03-01T10:05:00Z").
int64_t unix_of(const std::string& time) {
  std::tm tm{};
  const char* end = ::strptime(time.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  EXPECT_TRUE(end && *end == '\0') << time;
  return static_cast<int64_t>(::timegm(&tm));
}

int cycles_in(const std::string& log) {
  int n = 0;
  for (size_t at = log.find(" #"); at != std::string::npos; at = log.find(" #", at + 2)) ++n;
  return n;
}

// Waits (bounded) until the workflow's log shows `cycles` cycle lines.
bool wait_cycles(const std::string& log_path, int cycles) {
  return eventually([&] { return cycles_in(read_text(log_path)) >= cycles; }, 60s, 50ms);
}

TEST(HeldWorkflow, KeepsSyncingOtherRowsForManyCyclesWhileOneIsHeld) {
  NotesTeam t;
  ASSERT_NO_FATAL_FAILURE(t.start());
  ASSERT_NO_FATAL_FAILURE(t.make_conflict());
  std::string log = t.b.file("workflow.log"), metrics = t.b.file("metrics.prom");
  int64_t started_at = unix_now();
  // Default policy of workflow: hold.
  pid_t pid = spawn_cli({"workflow", "--interval", "1", "--metrics-file", metrics}, t.env(),
                        t.b.path().string(), log);
  ASSERT_TRUE(wait_cycles(log, 1)) << read_text(log);
  EXPECT_TRUE(contains(read_text(log), "(1 new conflict held)")) << read_text(log);
  // The first cycle already moved B's unrelated edits.
  EXPECT_EQ(t.remote("SELECT title FROM notes WHERE id = 20"), (Rows{{T("b-new")}}));
  for (int round = 0; round < 3; ++round) {
    int seen = cycles_in(read_text(log));
    remote_exec(t.server.url(),
                {"INSERT INTO notes VALUES (" + std::to_string(100 + round) + ", 'team', 'r')"});
    local_exec(t.wc(t.b), "INSERT INTO notes VALUES (" + std::to_string(200 + round) + ", 'app', 'z')");
    // A cycle that started after both writes has finished once two more cycle lines are there.
    ASSERT_TRUE(wait_cycles(log, seen + 2)) << read_text(log);
    EXPECT_EQ(t.rows(t.b, "SELECT count(*) FROM notes WHERE id = " + std::to_string(100 + round)),
              (Rows{{I(1)}}))
        << read_text(log);
    EXPECT_EQ(t.remote("SELECT count(*) FROM notes WHERE id = " + std::to_string(200 + round)),
              (Rows{{I(1)}}))
        << read_text(log);
    EXPECT_EQ(t.remote(kRow1), (Rows{{I(1), T("A"), T("b1")}})) << read_text(log);  // still held
    EXPECT_EQ(t.rows(t.b, kRow1), (Rows{{I(1), T("B"), T("b1")}}));
  }
  kill(pid, SIGTERM);
  ASSERT_EQ(exit_within(pid, 20s), 0) << read_text(log);
  int64_t stopped_at = unix_now();
  std::string text = read_text(log);
  int cycles = cycles_in(text);
  EXPECT_TRUE(contains(text, "1 conflict held")) << text;

  auto m = read_metrics(metrics);
  EXPECT_EQ(m["turso_sync_cycles_total"], cycles) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_cycle_failures_total"], 0);
  EXPECT_EQ(m["turso_sync_cycle_conflicts_total"], 0);  // held: no cycle stopped
  EXPECT_EQ(m["turso_sync_conflicts_total"], 1);        // found once, held ever since
  EXPECT_EQ(m["turso_sync_conflicts_held"], 1);
  EXPECT_EQ(m["turso_sync_consecutive_failures"], 0);
  // Pushed: cycle 1 sent B's update of row 2 and insert 20, then the three app rows.
  EXPECT_EQ(m["turso_sync_rows_pushed_total{kind=\"insert\"}"], 4) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_rows_pushed_total{kind=\"update\"}"], 1) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_rows_pushed_total{kind=\"delete\"}"], 0);
  // Pulled: A's insert 10 in cycle 1, then the three teammate rows.
  EXPECT_EQ(m["turso_sync_rows_pulled_total{kind=\"insert\"}"], 4) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_rows_pulled_total{kind=\"update\"}"], 0) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_rows_pulled_total{kind=\"delete\"}"], 0) << read_text(metrics);
  EXPECT_GT(m["turso_sync_bytes_sent_total"], 0);
  EXPECT_GT(m["turso_sync_bytes_received_total"], 0);
  EXPECT_GE(m["turso_sync_requests_total"], cycles);  // every cycle asks the remote at least once
  // The last cycle ended while the workflow ran and succeeded.
  EXPECT_GE(m["turso_sync_last_cycle_timestamp_seconds"], started_at);
  EXPECT_LE(m["turso_sync_last_cycle_timestamp_seconds"], stopped_at);
  EXPECT_EQ(m["turso_sync_last_success_timestamp_seconds"], m["turso_sync_last_cycle_timestamp_seconds"]);

  // One history line per cycle, newest first in `log --json` (after them, the init).
  simdjson::dom::parser parser;
  auto r = t.run(t.b, {"--json", "log", "-n", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto entries = parse(parser, r.out)["entries"].get_array();
  ASSERT_EQ(static_cast<int>(entries.size()), cycles + 1) << r.out;
  EXPECT_EQ(std::string_view(entries.at(cycles)["operation"]), "init");
  EXPECT_EQ(int64_t(entries.at(0)["cycle"]), cycles);
  EXPECT_EQ(std::string_view(entries.at(cycles - 1)["trigger"]), "workflow:start");
  EXPECT_EQ(int64_t(entries.at(cycles - 1)["conflicts"]["new"]), 1);
  for (int i = 0; i < cycles; ++i) {
    auto e = entries.at(static_cast<size_t>(i));
    EXPECT_EQ(std::string_view(e["operation"]), "sync");
    EXPECT_EQ(std::string_view(e["result"]), "ok");
    EXPECT_EQ(int64_t(e["conflicts"]["held"]), 1);
  }
}

// The newest line of the history (`log --json -n 1`), as its JSON text ("" when there is none).
std::string newest_history_line(const Team& t, const TempDir& dir) {
  auto r = t.run(dir, {"--json", "log", "-n", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r.out).get(doc) != simdjson::SUCCESS) return "";
  simdjson::dom::array entries;
  simdjson::dom::element first;
  if (doc["entries"].get(entries) != simdjson::SUCCESS || entries.at(0).get(first) != simdjson::SUCCESS)
    return "";
  return simdjson::minify(first);
}

TEST(HeldWorkflow, ACycleStoppedByAConflictFailsTheHealthCheckAndCountsTheConflictOnce) {
  NotesTeam t;
  ASSERT_NO_FATAL_FAILURE(t.start());
  ASSERT_NO_FATAL_FAILURE(t.make_conflict());
  std::string log = t.b.file("workflow.log"), metrics = t.b.file("metrics.prom");
  int64_t started_at = unix_now();
  // With abort, every cycle meets the same conflict and applies nothing: the service is stuck.
  pid_t pid = spawn_cli({"workflow", "--interval", "1", "--on-conflict=abort", "--metrics-file", metrics},
                        t.env(), t.b.path().string(), log);
  ASSERT_TRUE(wait_cycles(log, 3)) << read_text(log);
  kill(pid, SIGTERM);
  ASSERT_EQ(exit_within(pid, 20s), 0) << read_text(log);
  int cycles = cycles_in(read_text(log));
  EXPECT_TRUE(contains(read_text(log), "conflict: 1 row changed on both sides; nothing applied"))
      << read_text(log);
  EXPECT_EQ(t.remote("SELECT count(*) FROM notes WHERE id = 20"), (Rows{{I(0)}}));  // nothing went out

  auto m = read_metrics(metrics);
  EXPECT_EQ(m["turso_sync_cycles_total"], cycles) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_cycle_conflicts_total"], cycles) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_cycle_failures_total"], 0) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_conflicts_total"], 1) << read_text(metrics);  // the same row, met every cycle
  EXPECT_EQ(m["turso_sync_conflicts_held"], 0);
  EXPECT_EQ(m["turso_sync_rows_pulled_total{kind=\"insert\"}"], 0);
  EXPECT_EQ(m["turso_sync_rows_pushed_total{kind=\"insert\"}"], 0);
  // No cycle succeeded: the last success is the init's, from the history.
  EXPECT_GT(m["turso_sync_last_success_timestamp_seconds"], 0);
  EXPECT_LE(m["turso_sync_last_success_timestamp_seconds"], started_at);
  EXPECT_GE(m["turso_sync_last_cycle_timestamp_seconds"], started_at);

  simdjson::dom::parser parser;
  simdjson::dom::element last;
  ASSERT_EQ(parser.parse(newest_history_line(t, t.b)).get(last), simdjson::SUCCESS);
  EXPECT_EQ(std::string_view(last["result"]), "conflict");
  EXPECT_EQ(int64_t(last["exit_code"]), 3);
  EXPECT_EQ(int64_t(last["pulled"]["inserts"]), 0);
  EXPECT_EQ(int64_t(last["cycle"]), cycles);
  // Nothing is held, yet the check fails with 3, and says why; without --max-age too.
  auto r = t.run(t.b, {"status", "--offline", "--check"});
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_TRUE(contains(r.out, "check: the last sync (")) << r.out;
  EXPECT_TRUE(contains(r.out, "stopped on 1 conflict")) << r.out;
  r = t.run(t.b, {"--json", "status", "--offline", "--check"});
  EXPECT_EQ(r.exit_code, 3) << r.out;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
  EXPECT_TRUE(bool(doc["health"]["last_sync_conflict"])) << r.out;
  EXPECT_EQ(int64_t(doc["health"]["held_conflicts"]), 0) << r.out;

  // Settled by a policy: healthy again.
  r = t.run(t.b, {"sync", "--on-conflict=local"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = t.run(t.b, {"status", "--offline", "--check"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST(HeldWorkflow, AnUnreachableRemoteFailsCyclesVisiblyAndARestartKeepsTheLastSuccess) {
  NotesTeam t;
  ASSERT_NO_FATAL_FAILURE(t.start());
  ASSERT_NO_FATAL_FAILURE(t.make_conflict());
  std::string log = t.b.file("workflow.log"), metrics = t.b.file("metrics.prom");
  // One successful cycle (it holds the conflict), then the remote goes away.
  auto r = t.run(t.b, {"workflow", "--once", "--metrics-file", metrics});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  simdjson::dom::parser parser;
  simdjson::dom::element cycle;
  ASSERT_EQ(parser.parse(newest_history_line(t, t.b)).get(cycle), simdjson::SUCCESS);
  std::string last_success{std::string_view(cycle["time"])};
  t.server.stop();  // nothing listens on the remote's port any more

  // A workflow started now fails every cycle.
  pid_t pid = spawn_cli({"workflow", "--interval", "1", "--metrics-file", metrics}, t.env(),
                        t.b.path().string(), log);
  ASSERT_TRUE(
      eventually([&] { return contains(read_text(log), "; 2 failures in a row, retry in"); }, 60s, 50ms))
      << read_text(log);

  // `status` while it runs: the last cycle failed, when the next one is due, how many failed in a row. Read
  // between two identical reads of the history, so that no cycle ended meanwhile.
  std::string before, shown;
  ASSERT_TRUE(eventually(
      [&] {
        before = newest_history_line(t, t.b);
        shown = t.run(t.b, {"status", "--offline"}).out;
        return !before.empty() && newest_history_line(t, t.b) == before;
      },
      60s, 50ms))
      << shown;
  ASSERT_EQ(parser.parse(before).get(cycle), simdjson::SUCCESS) << before;
  int64_t failures = cycle["consecutive_failures"];
  EXPECT_GE(failures, 2) << before;
  std::string time{std::string_view(cycle["time"])}, next{std::string_view(cycle["next_at"])};
  EXPECT_TRUE(contains(shown, "  workflow       running (pid " + std::to_string(pid) + ")")) << shown;
  EXPECT_TRUE(contains(shown, "  last success   " + last_success + "\n")) << shown;
  EXPECT_TRUE(contains(shown, "  last error     " + time + " ")) << shown;
  EXPECT_TRUE(contains(shown, "  last cycle     " + time + " (error)\n")) << shown << before;
  EXPECT_FALSE(next.empty()) << before;
  EXPECT_TRUE(contains(shown, "  next cycle     " + next + "\n")) << shown << before;
  EXPECT_TRUE(contains(shown, "  failures       " + std::to_string(failures) + " cycles in a row\n"))
      << shown << before;
  EXPECT_TRUE(contains(shown, "HELD CONFLICTS 1")) << shown;
  r = t.run(t.b, {"status", "--offline", "--check"});
  EXPECT_EQ(r.exit_code, 5) << r.out;
  EXPECT_TRUE(contains(r.out, "check: the last sync failed: ")) << r.out;

  kill(pid, SIGTERM);
  ASSERT_EQ(exit_within(pid, 30s), 0) << read_text(log);
  int cycles = cycles_in(read_text(log));

  // The history: one line per cycle, each failed (unreachable: exit 4) and counted in a row; the hold stays.
  r = t.run(t.b, {"--json", "log", "-n", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
  auto entries = doc["entries"].get_array();
  ASSERT_EQ(static_cast<int>(entries.size()), cycles + 2) << r.out;  // + the successful cycle and the init
  for (int i = 0; i < cycles; ++i) {
    auto e = entries.at(static_cast<size_t>(i));
    EXPECT_EQ(int64_t(e["cycle"]), cycles - i) << r.out;
    EXPECT_EQ(std::string_view(e["result"]), "error") << r.out;
    EXPECT_EQ(int64_t(e["exit_code"]), 4) << r.out;
    EXPECT_FALSE(std::string_view(e["error"]).empty()) << r.out;
    EXPECT_EQ(int64_t(e["consecutive_failures"]), cycles - i) << r.out;
    EXPECT_EQ(int64_t(e["conflicts"]["held"]), 1) << "the hold outlives a failed cycle: " << r.out;
  }

  // Its metrics: every cycle a failure; the last success is the one before it started (from the history).
  auto m = read_metrics(metrics);
  EXPECT_EQ(m["turso_sync_cycles_total"], cycles) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_cycle_failures_total"], cycles) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_consecutive_failures"], cycles) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_cycle_conflicts_total"], 0);
  EXPECT_EQ(m["turso_sync_conflicts_total"], 0);
  EXPECT_EQ(m["turso_sync_conflicts_held"], 1) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_last_success_timestamp_seconds"], unix_of(last_success)) << read_text(metrics);
  EXPECT_GE(m["turso_sync_last_cycle_timestamp_seconds"], unix_of(last_success)) << read_text(metrics);
  EXPECT_GT(m["turso_sync_requests_total"], 0) << read_text(metrics);  // tried, refused
  EXPECT_EQ(m["turso_sync_bytes_received_total"], 0) << read_text(metrics);
  r = t.run(t.b, {"status", "--offline", "--check"});
  EXPECT_EQ(r.exit_code, 5) << r.out;

  // Restarted, the remote still down: the failures in a row go on counting.
  r = t.run(t.b, {"workflow", "--once", "--metrics-file", metrics});
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  m = read_metrics(metrics);
  EXPECT_EQ(m["turso_sync_cycles_total"], 1) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_cycle_failures_total"], 1) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_consecutive_failures"], cycles + 1) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_last_success_timestamp_seconds"], unix_of(last_success)) << read_text(metrics);
  ASSERT_EQ(parser.parse(newest_history_line(t, t.b)).get(cycle), simdjson::SUCCESS);
  EXPECT_EQ(std::string_view(cycle["result"]), "error");
  EXPECT_EQ(int64_t(cycle["consecutive_failures"]), cycles + 1);

  // The remote is back: the streak ends; the held conflict is what the check reports now.
  t.server.restart();
  r = t.run(t.b, {"workflow", "--once", "--metrics-file", metrics});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  m = read_metrics(metrics);
  EXPECT_EQ(m["turso_sync_consecutive_failures"], 0) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_last_success_timestamp_seconds"], m["turso_sync_last_cycle_timestamp_seconds"]);
  EXPECT_EQ(t.run(t.b, {"status", "--offline", "--check"}).exit_code, 3);
}

// ---------------------------------------------------------------------------------------------------------------
// history and health checks

TEST(History, OneLinePerOperationFailuresIncludedAndStatusCheckCodes) {
  NotesTeam t;
  ASSERT_NO_FATAL_FAILURE(t.start());
  ASSERT_NO_FATAL_FAILURE(t.make_conflict());
  EXPECT_EQ(t.run(t.b, {"status", "--offline", "--check", "--max-age", "1h"}).exit_code, 0);
  // A push that meets the remote's change, then a pull that stops on it (abort): nothing is held, but the
  // copy is stuck until the conflict is settled, and the health check says so (3) with either.
  EXPECT_EQ(t.run(t.b, {"push"}).exit_code, 3);
  auto stuck = t.run(t.b, {"status", "--offline", "--check", "--max-age", "1h"});
  EXPECT_EQ(stuck.exit_code, 3) << stuck.out;
  EXPECT_TRUE(contains(stuck.out, "the last push (")) << stuck.out;
  EXPECT_EQ(t.run(t.b, {"pull"}).exit_code, 3);  // abort: conflict
  stuck = t.run(t.b, {"status", "--offline", "--check"});
  EXPECT_EQ(stuck.exit_code, 3) << stuck.out;
  EXPECT_TRUE(contains(stuck.out, "stopped on 1 conflict and applied none of them")) << stuck.out;
  EXPECT_TRUE(contains(stuck.out, "held conflicts 0")) << stuck.out;
  EXPECT_EQ(t.run(t.b, {"pull", "--on-conflict=hold"}).exit_code, 0);  // held
  EXPECT_EQ(t.run(t.b, {"push"}).exit_code, 0);
  EXPECT_EQ(t.run(t.b, {"resolve", "--theirs"}).exit_code, 0);
  EXPECT_EQ(t.run(t.b, {"sync"}).exit_code, 0);
  EXPECT_EQ(t.run(t.b, {"status", "--offline", "--check", "--max-age", "1h"}).exit_code, 0);
  t.server.stop();
  auto failed = t.run(t.b, {"pull"});
  EXPECT_EQ(failed.exit_code, 4) << failed.out << failed.err;

  simdjson::dom::parser parser;
  auto r = t.run(t.b, {"--json", "log"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto entries = parse(parser, r.out)["entries"].get_array();
  std::vector<std::string> ops, results;
  for (auto e : entries) {
    ops.emplace_back(std::string_view(e["operation"]));
    results.emplace_back(std::string_view(e["result"]));
  }
  EXPECT_EQ(ops,
            (std::vector<std::string>{"pull", "sync", "resolve", "push", "pull", "pull", "push", "init"}))
      << r.out;
  EXPECT_EQ(results,
            (std::vector<std::string>{"error", "ok", "ok", "ok", "ok", "conflict", "conflict", "ok"}))
      << r.out;
  EXPECT_EQ(int64_t(entries.at(0)["exit_code"]), 4);
  EXPECT_FALSE(std::string_view(entries.at(0)["error"]).empty());
  EXPECT_EQ(int64_t(entries.at(5)["exit_code"]), 3);
  EXPECT_EQ(int64_t(entries.at(6)["exit_code"]), 3);
  EXPECT_EQ(int64_t(entries.at(5)["pulled"]["inserts"]), 0) << "the stopped pull wrote nothing: " << r.out;
  EXPECT_EQ(int64_t(entries.at(4)["pulled"]["inserts"]), 1) << "the holding pull took A's row: " << r.out;
  EXPECT_EQ(int64_t(entries.at(4)["conflicts"]["held"]), 1);
  EXPECT_EQ(int64_t(entries.at(3)["conflicts"]["skipped_rows"]), 1);
  EXPECT_EQ(int64_t(entries.at(3)["pushed"]["inserts"]), 1);
  EXPECT_EQ(int64_t(entries.at(2)["conflicts"]["resolved"]), 1);
  EXPECT_GT(int64_t(entries.at(4)["requests"]), 0);
  EXPECT_GT(int64_t(entries.at(4)["bytes_down"]), 0);
  EXPECT_GT(int64_t(entries.at(3)["bytes_up"]), 0);
  // `log -n 2`: exactly the two newest operations, newest first (a failure's message follows its line,
  // indented).
  std::string newest{std::string_view(entries.at(0)["time"])},
      second{std::string_view(entries.at(1)["time"])};
  r = t.run(t.b, {"log", "-n", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::vector<std::string> printed;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line.rfind("    ", 0) != 0) printed.push_back(line);
  ASSERT_EQ(printed.size(), 2u) << r.out;
  EXPECT_EQ(printed[0].rfind(newest + " pull    cli", 0), 0u) << r.out;
  EXPECT_TRUE(contains(printed[0], " error (exit 4) ")) << r.out;
  EXPECT_EQ(printed[1].rfind(second + " sync    cli", 0), 0u) << r.out;
  EXPECT_TRUE(contains(printed[1], " ok (exit 0) ")) << r.out;
  EXPECT_TRUE(contains(r.out, "\n    " + std::string(std::string_view(entries.at(0)["error"])) + "\n"))
      << r.out;

  // The last sync failed: 5, with the error in status.
  r = t.run(t.b, {"status", "--offline", "--check"});
  EXPECT_EQ(r.exit_code, 5) << r.out;
  EXPECT_TRUE(contains(r.out, "last error")) << r.out;
  // Unreachable remote when checked: 4.
  EXPECT_EQ(t.run(t.b, {"status", "--check"}).exit_code, 4);
  // A state dir whose last successful sync is old: 6 with --max-age, 0 without.
  TempDir old;
  fs::create_directories(old.path() / ".turso-sync");
  std::ofstream(old.file(".turso-sync/history.jsonl"))
      << R"({"time":"2001-01-01T00:00:00Z","operation":"sync","trigger":"cli","result":"ok","exit_code":0})"
      << "\n";
  EXPECT_EQ(
      run_cli({"status", "--offline", "--check", "--max-age", "1d"}, t.env(), old.path().string()).exit_code,
      6);
  EXPECT_EQ(run_cli({"status", "--offline", "--check"}, t.env(), old.path().string()).exit_code, 0);
}

}  // namespace
}  // namespace turso_sync::testing
