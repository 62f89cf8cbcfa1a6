#include "turso_sync/history.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sync/held.h"
#include "sync/state.h"
#include "turso_sync/sync.h"
#include "util/fs.h"
#include "util/json_writer.h"
#include "util/text.h"

namespace turso_sync {

namespace {

std::string history_path(const std::string& state_dir) {
  return state_dir + "/history.jsonl";
}

void write_counts(JsonWriter& w, const char* name, const TableCounts& c) {
  w.key(name).begin_object().key("inserts").integer(c.inserts).key("updates").integer(c.updates);
  w.key("deletes").integer(c.deletes).end_object();
}

Status write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("append to", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace

HistoryEntry begin_history_entry(const std::string& operation, const std::string& trigger,
                                 const TransferStats& traffic_before) {
  HistoryEntry e;
  e.time = utc_timestamp();
  e.operation = operation;
  e.trigger = trigger;
  e.result = "ok";
  e.started = std::chrono::steady_clock::now();
  e.traffic_before = traffic_before;
  return e;
}

void add_to_history(HistoryEntry& e, const PullReport& pull) {
  if (pull.applied) {  // a pull that conflicts stopped wrote nothing, whatever it would have taken
    e.pulled.inserts += pull.taken.inserts;
    e.pulled.updates += pull.taken.updates;
    e.pulled.deletes += pull.taken.deletes;
  }
  e.conflicts_new += static_cast<int64_t>(pull.conflicts.size());
  e.conflicts_held = pull.held;
  e.pull_path = pull.protocol.empty() ? "sql" : pull.protocol;
  if (int code = exit_code_of(pull); code != 0) {
    e.result = "conflict";
    e.exit_code = code;
  }
}

void add_to_history(HistoryEntry& e, const PushReport& push) {
  if (!push.nothing_to_push && push.conflicts.empty() && !push.dry_run_sql.size()) {
    e.pushed.inserts += push.changes.totals.inserts;
    e.pushed.updates += push.changes.totals.updates;
    e.pushed.deletes += push.changes.totals.deletes;
  }
  e.held_skipped += push.held_skipped;
  e.conflicts_held = push.held;
  e.conflicts_new += push.held_new;
  if (!push.conflicts.empty()) {
    e.result = "conflict";
    e.exit_code = exit_code_of(push);
    e.conflicts_new += static_cast<int64_t>(push.conflicts.size());
  }
  if (push.pull) {
    HistoryEntry trailing;
    add_to_history(trailing, *push.pull);
    // The trailing pull takes what others pushed meanwhile (what this push sent is not counted again).
    e.pulled.inserts += trailing.pulled.inserts;
    e.pulled.updates += trailing.pulled.updates;
    e.pulled.deletes += trailing.pulled.deletes;
    e.conflicts_new += trailing.conflicts_new;
    e.conflicts_held = push.pull->held;
    e.pull_path = trailing.pull_path;
    if (trailing.exit_code != 0) {
      e.result = trailing.result;
      e.exit_code = trailing.exit_code;
    }
  }
}

void add_error_to_history(HistoryEntry& e, const Error& error) {
  e.result = "error";
  e.exit_code = exit_code_for(error.kind());
  e.error = error.message();
}

void finish_history_entry(HistoryEntry& e, const TransferStats& after) {
  e.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - e.started)
          .count();
  if (after.requests >= e.traffic_before.requests) {
    e.requests = after.requests - e.traffic_before.requests;
    e.bytes_up = after.bytes_sent - e.traffic_before.bytes_sent;
    e.bytes_down = after.bytes_received - e.traffic_before.bytes_received;
  }
}

std::string history_line_json(const HistoryEntry& e) {
  JsonWriter w;
  w.begin_object().key("time").string(e.time).key("operation").string(e.operation);
  w.key("trigger").string(e.trigger).key("result").string(e.result).key("exit_code").integer(e.exit_code);
  if (e.cycle) {
    w.key("cycle").integer(e.cycle).key("consecutive_failures").integer(e.consecutive_failures);
    w.key("next_at").string(e.next_at);
  }
  write_counts(w, "pulled", e.pulled);
  write_counts(w, "pushed", e.pushed);
  w.key("conflicts")
      .begin_object()
      .key("held")
      .integer(e.conflicts_held)
      .key("new")
      .integer(e.conflicts_new)
      .key("resolved")
      .integer(e.conflicts_resolved)
      .key("skipped_rows")
      .integer(e.held_skipped)
      .end_object();
  w.key("bytes_up").integer(static_cast<int64_t>(e.bytes_up));
  w.key("bytes_down").integer(static_cast<int64_t>(e.bytes_down));
  w.key("requests").integer(e.requests).key("duration_ms").integer(e.duration_ms);
  w.key("pull_path").string(e.pull_path);
  w.key("error").string(is_valid_utf8(e.error) ? e.error : printable(e.error));
  w.end_object();
  return w.take();
}

Status append_history(const std::string& state_dir, const HistoryEntry& entry, uint64_t max_bytes) {
  TS_TRY_STATUS(make_dirs(state_dir));
  std::string path = history_path(state_dir);
  std::string line = history_line_json(entry) + "\n";
  // The flock serialises appenders and the trimming below; an appender that waited while another one
  // replaced the file opens the new file instead of writing into the replaced one.
  int fd = -1;
  for (int attempt = 0; attempt < 5; ++attempt) {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return io_error("open", path);
    if (::flock(fd, LOCK_EX) != 0) {
      ::close(fd);
      return io_error("lock", path);
    }
    struct stat by_fd {
    }, by_path{};
    if (::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_path) == 0 && by_fd.st_ino == by_path.st_ino)
      break;
    ::close(fd);
    fd = -1;
  }
  if (fd < 0) return Error(ErrorKind::io, "append to " + path + ": the file kept being replaced");
  // A line a crash cut short is ended first, so that it spoils only itself.
  struct stat before {};
  if (::fstat(fd, &before) == 0 && before.st_size > 0) {
    int rd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    char last = '\n';
    if (rd >= 0) {
      if (::pread(rd, &last, 1, before.st_size - 1) != 1) last = '\n';
      ::close(rd);
    }
    if (last != '\n') line.insert(line.begin(), '\n');
  }
  Status written = write_all(fd, line, path);
  if (!written.ok()) {
    ::close(fd);
    return written;
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) > max_bytes) {
    // Keep the newest lines that fit in half the limit, so trimming happens once per max_bytes / 2.
    auto text = read_file(path);
    if (text.ok()) {
      const std::string& all = *text;
      size_t keep_from = all.size() > max_bytes / 2 ? all.size() - max_bytes / 2 : 0;
      size_t nl = keep_from == 0 ? std::string::npos : all.rfind('\n', keep_from - 1);
      size_t start = keep_from == 0 ? 0 : (nl == std::string::npos ? all.size() : nl + 1);
      Status trimmed = atomic_write_file(path, std::string_view(all).substr(start), 0600);
      if (!trimmed.ok()) {
        ::close(fd);
        return trimmed;
      }
    }
  }
  ::close(fd);  // releases the flock
  return {};
}

Result<std::vector<HistoryEntry>> read_history(const std::string& state_dir, size_t limit) {
  std::vector<HistoryEntry> out;
  std::string path = history_path(state_dir);
  if (!file_exists(path)) return out;
  std::string text = TS_TRY(read_file(path));
  simdjson::dom::parser parser;
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(std::string_view(text).substr(pos, nl - pos));
    pos = nl + 1;
  }
  for (auto it = lines.rbegin(); it != lines.rend() && (limit == 0 || out.size() < limit); ++it) {
    std::string line(*it);
    if (line.empty()) continue;
    simdjson::dom::element root;
    if (parser.parse(line).get(root) != simdjson::SUCCESS || !root.is_object()) continue;
    HistoryEntry e;
    auto str = [&](simdjson::dom::element obj, const char* key) -> std::string {
      std::string_view v;
      return obj[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
    };
    auto num = [&](simdjson::dom::element obj, const char* key) -> int64_t {
      int64_t v = 0;
      return obj[key].get(v) == simdjson::SUCCESS ? v : 0;
    };
    auto counts = [&](const char* key) {
      TableCounts c;
      simdjson::dom::element o;
      if (root[key].get(o) == simdjson::SUCCESS) {
        c.inserts = num(o, "inserts");
        c.updates = num(o, "updates");
        c.deletes = num(o, "deletes");
      }
      return c;
    };
    e.time = str(root, "time");
    e.operation = str(root, "operation");
    e.trigger = str(root, "trigger");
    e.result = str(root, "result");
    e.exit_code = static_cast<int>(num(root, "exit_code"));
    e.cycle = static_cast<int>(num(root, "cycle"));
    e.consecutive_failures = static_cast<int>(num(root, "consecutive_failures"));
    e.next_at = str(root, "next_at");
    e.pulled = counts("pulled");
    e.pushed = counts("pushed");
    simdjson::dom::element c;
    if (root["conflicts"].get(c) == simdjson::SUCCESS) {
      e.conflicts_held = num(c, "held");
      e.conflicts_new = num(c, "new");
      e.conflicts_resolved = num(c, "resolved");
      e.held_skipped = num(c, "skipped_rows");
    }
    e.bytes_up = static_cast<uint64_t>(num(root, "bytes_up"));
    e.bytes_down = static_cast<uint64_t>(num(root, "bytes_down"));
    e.requests = num(root, "requests");
    e.duration_ms = num(root, "duration_ms");
    e.pull_path = str(root, "pull_path");
    e.error = str(root, "error");
    if (e.time.empty() || e.operation.empty()) continue;
    out.push_back(std::move(e));
  }
  return out;
}

Result<HealthReport> read_health(const std::string& state_dir, size_t recent) {
  HealthReport h;
  h.held_conflicts = static_cast<int64_t>(TS_TRY(load_held(state_dir)).size());
  std::vector<HistoryEntry> all = TS_TRY(read_history(state_dir));
  bool sync_seen = false, cycle_seen = false;
  for (const HistoryEntry& e : all) {
    if (h.recent.size() < recent) h.recent.push_back(e);
    bool syncs =
        e.operation == "pull" || e.operation == "push" || e.operation == "sync" || e.operation == "init";
    if (e.result == "error" && h.last_error.empty()) {
      h.last_error = e.error;
      h.last_error_at = e.time;
    }
    if (syncs && !sync_seen) {
      sync_seen = true;
      h.last_sync_failed = e.result == "error";
      h.last_sync_conflict = e.result == "conflict";
      h.last_sync_at = e.time;
      h.last_sync_operation = e.operation;
      h.last_sync_conflicts = e.conflicts_new;
    }
    if (syncs && e.result == "ok" && h.last_success_at.empty()) h.last_success_at = e.time;
    if (e.cycle > 0 && !cycle_seen) {
      cycle_seen = true;
      h.last_cycle_at = e.time;
      h.last_cycle_result = e.result;
      h.next_cycle_at = e.next_at;
      h.consecutive_failures = e.consecutive_failures;
    }
  }
  if (h.last_success_at.empty()) {
    auto state = load_state(state_dir);
    if (state.ok() && state->has_value()) h.last_success_at = (*state)->last_pull_at;
  }
  return h;
}

Result<std::chrono::seconds> parse_max_age(std::string_view text) {
  auto bad = [&] {
    return Error(ErrorKind::usage,
                 fmt::format("max age '{}': a number of seconds, or N with s, m, h or d (e.g. 15m)", text));
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits + 1 < text.size() || digits > 12) return bad();
  int64_t n = std::stoll(std::string(text.substr(0, digits)));
  switch (digits < text.size() ? text[digits] : 's') {
    case 's':
      return std::chrono::seconds(n);
    case 'm':
      return std::chrono::seconds(n * 60);
    case 'h':
      return std::chrono::seconds(n * 3600);
    case 'd':
      return std::chrono::seconds(n * 86400);
    default:
      return bad();
  }
}

HealthCheck evaluate_health(const StatusReport& r, std::optional<std::chrono::seconds> max_age,
                            std::chrono::system_clock::time_point now) {
  const HealthReport& h = r.health;
  if (r.remote_exit_code != 0) return {r.remote_exit_code, r.remote_error_kind, "remote: " + r.remote_error};
  if (r.pending_exit_code != 0)
    return {r.pending_exit_code, r.pending_error_kind, "local files: " + r.pending_error};
  if (h.last_sync_failed) return {5, std::nullopt, "the last sync failed: " + h.last_error};
  if (h.last_sync_conflict)
    return {3, ErrorKind::conflict,
            fmt::format("the last {} ({}) stopped on {} conflict{} and applied none of them: settle "
                        "with `turso-sync sync --on-conflict=local|remote|hold`",
                        h.last_sync_operation, h.last_sync_at, h.last_sync_conflicts,
                        h.last_sync_conflicts == 1 ? "" : "s")};
  if (h.held_conflicts > 0)
    return {3, ErrorKind::conflict,
            fmt::format("{} conflict{} held (`turso-sync conflicts`)", h.held_conflicts,
                        h.held_conflicts == 1 ? "" : "s")};
  if (max_age) {
    auto last = parse_utc_timestamp(h.last_success_at);
    if (!last) return {6, std::nullopt, "no successful sync yet"};
    auto age = std::chrono::duration_cast<std::chrono::seconds>(now - *last);
    if (age > *max_age)
      return {6, std::nullopt,
              fmt::format("the last successful sync ({}) is {} s old, more than the max age of {} s",
                          h.last_success_at, age.count(), max_age->count())};
  }
  return {0, std::nullopt, "healthy"};
}

int exit_code_of(const PullReport& report) {
  return report.applied ? 0 : exit_code_for(ErrorKind::conflict);
}

int exit_code_of(const PushReport& report) {
  if (!report.conflicts.empty()) return exit_code_for(ErrorKind::conflict);
  return report.pull ? exit_code_of(*report.pull) : 0;
}

int exit_code_of(const StatusReport& r) {
  if (r.check) return r.check->exit_code;
  return r.remote_exit_code ? r.remote_exit_code : r.pending_exit_code;
}

}  // namespace turso_sync
