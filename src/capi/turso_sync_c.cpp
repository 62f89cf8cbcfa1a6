// The C API (include/turso_sync.h): a thin layer over SyncContext. Every extern "C" function catches
// everything (nothing crosses the C boundary), parses its options JSON, calls the library and renders the
// report with the same renderers as the CLI's --json (turso_sync/report_json.h).
#include "turso_sync.h"

#include <sqlite3.h>

#include <simdjson.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "turso_sync/config.h"
#include "turso_sync/diff.h"
#include "turso_sync/history.h"
#include "turso_sync/report_json.h"
#include "turso_sync/status.h"
#include "turso_sync/sync.h"
#include "turso_sync/workflow.h"
#include "util/json_writer.h"
#include "util/text.h"

namespace ts = turso_sync;

namespace {

// The in-process workflow of one handle: its own SyncContext on a thread, stopped through
// WorkflowOptions::stop (never through the process-wide flags of cancel.h).
struct Background {
  std::thread thread;
  std::atomic<bool> stop{false};
  std::mutex mutex;  // guards what follows
  std::condition_variable changed;
  int cycles = 0;
  bool running = true;
  std::string last;                  // the last cycle's report ("" before the first)
  std::optional<ts::Error> failure;  // the loop could not start (or ended with an error)
};

}  // namespace

struct turso_sync_handle {
  std::mutex call_mutex;  // one operation at a time; try_lock, never waits
  std::unique_ptr<ts::SyncContext> sync;
  std::optional<ts::Error> open_error;  // set: the handle only carries this error

  std::mutex error_mutex;  // guards the last result
  std::string errmsg;
  int errcode = 0;

  std::mutex background_mutex;  // guards `background` (start/stop/wait/close)
  std::shared_ptr<Background> background;
};

namespace {

constexpr const char* kNullHandle = "turso_sync: the handle is NULL (open one with turso_sync_open)";

thread_local std::string t_errmsg;  // what turso_sync_errmsg returns in this thread

char* copy_out(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out) std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

void set_result(turso_sync_handle* h, int code, const std::string& message) {
  std::lock_guard<std::mutex> lock(h->error_mutex);
  h->errcode = code;
  h->errmsg = message;
}

int fail(turso_sync_handle* h, const ts::Error& error, char** report_json) {
  int code = ts::exit_code_for(error.kind());
  if (h) set_result(h, code, error.message());
  if (report_json) *report_json = copy_out(ts::error_json(error));
  return code;
}

// ---- options -------------------------------------------------------------------------------------------

using OptionValue = std::variant<bool, double, std::string, std::vector<std::string>>;

// A parsed options object: name -> value (booleans, numbers, strings and arrays of strings are options).
class Options {
 public:
  // `json` NULL or "" is the empty object. `allowed` lists the option names of the call.
  static ts::Result<Options> parse(const std::string& what, const char* json,
                                   const std::set<std::string>& allowed) {
    Options options;
    options.m_what = what;
    if (!json || !*json) return options;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (auto error = parser.parse(json, std::strlen(json)).get(root); error)
      return usage(fmt::format("{}: options are not valid JSON: {}", what, simdjson::error_message(error)));
    simdjson::dom::object object;
    if (root.get(object) != simdjson::SUCCESS)
      return usage(fmt::format("{}: options must be a JSON object, like {{\"force\":true}}", what));
    for (auto field : object) {
      std::string name(field.key);
      if (!allowed.count(name)) {
        std::string known;
        for (const auto& a : allowed) known += (known.empty() ? "" : ", ") + a;
        return usage(
            fmt::format("{}: unknown option '{}' (known: {})", what, name, known.empty() ? "none" : known));
      }
      if (options.m_values.count(name)) return usage(fmt::format("{}: option '{}' given twice", what, name));
      simdjson::dom::element v = field.value;
      if (v.is_bool()) {
        options.m_values[name] = v.get_bool().value();
      } else if (v.is_number()) {
        options.m_values[name] = v.get_double().value();
      } else if (v.is_string()) {
        options.m_values[name] = std::string(v.get_string().value());
      } else if (v.is_array()) {
        std::vector<std::string> items;
        simdjson::dom::array array = v.get_array().value();
        for (simdjson::dom::element item : array) {
          if (!item.is_string())
            return usage(fmt::format("{}: option '{}' must be an array of strings", what, name));
          items.emplace_back(item.get_string().value());
        }
        options.m_values[name] = std::move(items);
      } else {
        return usage(
            fmt::format("{}: option '{}' must be a boolean, number, string or array of strings", what, name));
      }
    }
    return options;
  }

  ts::Result<bool> boolean(const std::string& name, bool fallback) const {
    auto it = m_values.find(name);
    if (it == m_values.end()) return fallback;
    if (const bool* b = std::get_if<bool>(&it->second)) return *b;
    return usage(fmt::format("{}: option '{}' must be true or false", m_what, name));
  }
  ts::Result<std::optional<double>> number(const std::string& name) const {
    auto it = m_values.find(name);
    if (it == m_values.end()) return std::optional<double>();
    if (const double* d = std::get_if<double>(&it->second)) return std::optional<double>(*d);
    return usage(fmt::format("{}: option '{}' must be a number", m_what, name));
  }
  ts::Result<std::optional<std::string>> text(const std::string& name) const {
    auto it = m_values.find(name);
    if (it == m_values.end()) return std::optional<std::string>();
    if (const std::string* s = std::get_if<std::string>(&it->second)) return std::optional<std::string>(*s);
    return usage(fmt::format("{}: option '{}' must be a string", m_what, name));
  }
  ts::Result<std::vector<std::string>> strings(const std::string& name) const {
    auto it = m_values.find(name);
    if (it == m_values.end()) return std::vector<std::string>();
    if (const auto* v = std::get_if<std::vector<std::string>>(&it->second)) return *v;
    return usage(fmt::format("{}: option '{}' must be an array of strings, like [\"5\"]", m_what, name));
  }
  // A string option restricted to `choices`.
  ts::Result<std::string> choice(const std::string& name, const std::string& fallback,
                                 const std::set<std::string>& choices) const {
    std::optional<std::string> value = TS_TRY(text(name));
    if (!value) return fallback;
    if (!choices.count(*value)) {
      std::string known;
      for (const auto& c : choices) known += (known.empty() ? "" : ", ") + c;
      return usage(fmt::format("{}: option '{}' must be one of {}, got '{}'", m_what, name, known, *value));
    }
    return *value;
  }

 private:
  static ts::Error usage(std::string message) { return ts::Error(ts::ErrorKind::usage, std::move(message)); }
  std::string m_what;
  std::map<std::string, OptionValue> m_values;
};

const std::set<std::string> kPullOptionNames = {"on_conflict", "on_insert_collision"};

std::set<std::string> with_pull_options(std::set<std::string> names) {
  names.insert(kPullOptionNames.begin(), kPullOptionNames.end());
  return names;
}

// `default_policy`: "abort" for pull/push/sync, "hold" for the background sync (a service keeps syncing the
// other rows when one conflicts).
ts::Result<ts::PullOptions> pull_options(const Options& options, const char* default_policy = "abort") {
  ts::PullOptions o;
  std::string policy =
      TS_TRY(options.choice("on_conflict", default_policy, {"abort", "local", "remote", "hold"}));
  o.on_conflict = policy == "local"    ? ts::ConflictPolicy::local
                  : policy == "remote" ? ts::ConflictPolicy::remote
                  : policy == "hold"   ? ts::ConflictPolicy::hold
                                       : ts::ConflictPolicy::abort;
  std::string collision = TS_TRY(options.choice("on_insert_collision", "move", {"move", "conflict"}));
  o.on_insert_collision =
      collision == "conflict" ? ts::InsertCollision::conflict : ts::InsertCollision::move_local;
  return o;
}

// ---- calls ---------------------------------------------------------------------------------------------

// What an operation hands back: its result code, its report, and the message when the code is not 0.
struct Outcome {
  int code = 0;
  std::string report;
  std::string message;
};

std::string conflict_message(const std::string& what, size_t conflicts) {
  return fmt::format("{}: {} conflict{} with the remote; nothing was applied (see the report's conflicts)",
                     what, conflicts, conflicts == 1 ? "" : "s");
}

// Whether a call takes the handle's call lock: operations do; reading the immutable configuration does not.
enum class CallLock { take, none };

// Runs `body` for an operation on `h` under the handle's call lock, catching everything; stores the result
// on the handle and the report (or an error document) in *report_json.
template <typename Body>
int run_call(turso_sync_handle* h, const char* what, char** report_json, Body&& body,
             CallLock call_lock = CallLock::take) noexcept {
  try {
    if (report_json) *report_json = nullptr;
    if (!h)
      return fail(nullptr, ts::Error(ts::ErrorKind::usage, fmt::format("{}: {}", what, kNullHandle)),
                  report_json);
    std::unique_lock<std::mutex> lock(h->call_mutex, std::defer_lock);
    if (call_lock == CallLock::take && !lock.try_lock())
      return fail(h,
                  ts::Error(ts::ErrorKind::busy,
                            fmt::format("{}: handle busy: another thread is using this turso_sync handle "
                                        "(one call at a time per handle)",
                                        what)),
                  report_json);
    if (h->open_error) return fail(h, *h->open_error, report_json);
    ts::Result<Outcome> outcome = body(*h->sync);
    if (!outcome.ok()) return fail(h, outcome.error(), report_json);
    set_result(h, outcome->code, outcome->message);
    if (report_json) *report_json = copy_out(outcome->report);
    return outcome->code;
  } catch (const std::exception& e) {
    return fail(h, ts::Error(ts::ErrorKind::internal, fmt::format("{}: internal error: {}", what, e.what())),
                report_json);
  } catch (...) {
    return fail(h, ts::Error(ts::ErrorKind::internal, fmt::format("{}: internal error", what)), report_json);
  }
}

int open_handle(turso_sync_handle** out, const std::function<ts::Result<ts::Config>()>& load) noexcept {
  if (!out) return TURSO_SYNC_USAGE;
  *out = nullptr;
  try {
    auto h = std::make_unique<turso_sync_handle>();
    auto config = load();
    if (config.ok()) {
      auto sync = ts::SyncContext::open(std::move(config).value());
      if (sync.ok())
        h->sync = std::move(sync).value();
      else
        h->open_error = sync.error();
    } else {
      h->open_error = config.error();
    }
    int code = h->open_error ? ts::exit_code_for(h->open_error->kind()) : TURSO_SYNC_OK;
    if (h->open_error) set_result(h.get(), code, h->open_error->message());
    *out = h.release();
    return code;
  } catch (...) {
    return TURSO_SYNC_ERROR;  // out of memory: no handle to carry a message
  }
}

ts::Result<ts::Config> config_from_json(const char* json) {
  Options o =
      TS_TRY(Options::parse("turso_sync_open_config", json,
                            {"url", "auth_token", "replica", "working", "diff", "state_dir", "interval",
                             "dir", "ca_cert", "allow_insecure_http", "connect_timeout_ms", "read_timeout_ms",
                             "request_timeout_ms", "retry_backoff_ms", "local_tables"}));
  ts::Config c;
  auto text = [&](const char* name, std::string& field, const char* variable) -> ts::Status {
    std::optional<std::string> v = TS_TRY(o.text(name));
    if (v) {
      field = *v;
      if (variable) c.sources[variable] = ts::ConfigSource::flag;
    }
    return {};
  };
  auto positive = [&](const char* name, int& field, const char* variable) -> ts::Status {
    std::optional<double> v = TS_TRY(o.number(name));
    if (!v) return {};
    if (!(*v >= 1 && *v <= 2147483647.0) || *v != static_cast<double>(static_cast<int>(*v)))
      return ts::Error(ts::ErrorKind::usage,
                       fmt::format("turso_sync_open_config: '{}' must be a positive integer", name));
    field = static_cast<int>(*v);
    if (variable) c.sources[variable] = ts::ConfigSource::flag;
    return {};
  };
  TS_TRY_STATUS(text("url", c.database_url, "TURSO_DATABASE_URL"));
  TS_TRY_STATUS(text("auth_token", c.auth_token, "TURSO_AUTH_TOKEN"));
  TS_TRY_STATUS(text("replica", c.replica_path, "REPLICA_DB"));
  TS_TRY_STATUS(text("working", c.working_path, "WORKING_DB"));
  TS_TRY_STATUS(text("diff", c.diff_path, "DIFF_FILE"));
  TS_TRY_STATUS(text("state_dir", c.state_dir, "TURSO_SYNC_STATE_DIR"));
  TS_TRY_STATUS(text("ca_cert", c.ca_cert, "TURSO_SYNC_CA_CERT"));
  TS_TRY_STATUS(positive("interval", c.sync_interval_seconds, "TURSO_SYNC_INTERVAL"));
  TS_TRY_STATUS(positive("connect_timeout_ms", c.connect_timeout_ms, nullptr));
  TS_TRY_STATUS(positive("read_timeout_ms", c.read_timeout_ms, nullptr));
  TS_TRY_STATUS(positive("request_timeout_ms", c.request_timeout_ms, nullptr));
  TS_TRY_STATUS(positive("retry_backoff_ms", c.retry_backoff_ms, nullptr));
  c.allow_insecure_http = TS_TRY(o.boolean("allow_insecure_http", false));
  if (std::optional<std::string> local = TS_TRY(o.text("local_tables")))  // "drafts, cache_*"
    c.local_tables = ts::parse_local_tables(*local);
  std::optional<std::string> dir = TS_TRY(o.text("dir"));
  if (dir && !dir->empty()) {
    for (std::string* path : {&c.replica_path, &c.working_path, &c.diff_path, &c.state_dir, &c.ca_cert}) {
      if (!path->empty() && (*path)[0] != '/') *path = *dir + "/" + *path;
    }
  }
  return c;
}

// ---- background ----------------------------------------------------------------------------------------

std::string background_json(Background& bg, bool with_running) {
  ts::JsonWriter w;
  w.begin_object();
  if (with_running) w.key("running").boolean(bg.running);
  w.key("cycles").integer(bg.cycles).key("last");
  if (bg.last.empty())
    w.null();
  else
    w.raw(bg.last);
  w.end_object();
  return w.take();
}

void background_loop(std::shared_ptr<Background> bg, ts::Config config, ts::WorkflowOptions options) {
  std::optional<ts::Error> failure;
  try {
    auto sync = ts::SyncContext::open(std::move(config));
    if (!sync.ok()) {
      failure = sync.error();
    } else {
      options.stop = [bg] { return bg->stop.load(); };
      auto last = ts::run_workflow(**sync, options, [&bg](const ts::CycleReport& r) {
        std::string json = ts::cycle_report_json(r);
        std::lock_guard<std::mutex> lock(bg->mutex);
        bg->cycles = r.number;
        bg->last = std::move(json);
        bg->changed.notify_all();
      });
      if (!last.ok()) failure = last.error();
    }
  } catch (const std::exception& e) {
    failure =
        ts::Error(ts::ErrorKind::internal, fmt::format("background sync: internal error: {}", e.what()));
  } catch (...) {
    failure = ts::Error(ts::ErrorKind::internal, "background sync: internal error");
  }
  std::lock_guard<std::mutex> lock(bg->mutex);
  bg->running = false;
  if (failure) bg->failure = failure->context("background sync");
  bg->changed.notify_all();
}

// Stops and joins `bg` (the caller holds the handle's background_mutex).
void stop_background(Background& bg) {
  bg.stop = true;
  if (bg.thread.joinable()) bg.thread.join();
}

}  // namespace

extern "C" {

const char* turso_sync_version(void) {
  return TURSO_SYNC_VERSION;
}

int turso_sync_open(const char* dir, turso_sync_handle** out) {
  std::string base = dir ? dir : "";
  return open_handle(out, [&]() -> ts::Result<ts::Config> {
    ts::ConfigOverrides overrides;
    if (!base.empty()) {
      std::error_code ec;
      if (!std::filesystem::is_directory(base, ec))
        return ts::Error(ts::ErrorKind::usage, fmt::format("turso_sync_open: {}: no such directory", base));
      overrides.base_dir = base;
    }
    return ts::load_config(overrides, ts::process_environment());
  });
}

int turso_sync_open_config(const char* config_json, turso_sync_handle** out) {
  std::string json = config_json ? config_json : "";
  return open_handle(out, [&]() { return config_from_json(json.c_str()); });
}

void turso_sync_close(turso_sync_handle* handle) {
  if (!handle) return;
  try {
    std::shared_ptr<Background> bg;
    {
      std::lock_guard<std::mutex> lock(handle->background_mutex);
      bg = std::move(handle->background);
    }
    if (bg) stop_background(*bg);
  } catch (...) {
    // Joining cannot fail for a joinable thread of ours; nothing else can be done at close.
  }
  delete handle;
}

const char* turso_sync_errmsg(turso_sync_handle* handle) {
  try {
    if (!handle) {
      t_errmsg = kNullHandle;
    } else {
      std::lock_guard<std::mutex> lock(handle->error_mutex);
      t_errmsg = handle->errmsg;
    }
    return t_errmsg.c_str();
  } catch (...) {
    return "turso_sync: out of memory";
  }
}

int turso_sync_errcode(turso_sync_handle* handle) {
  if (!handle) return TURSO_SYNC_USAGE;
  try {
    std::lock_guard<std::mutex> lock(handle->error_mutex);
    return handle->errcode;
  } catch (...) {
    return TURSO_SYNC_ERROR;
  }
}

void turso_sync_free(char* text) {
  std::free(text);
}

int turso_sync_init(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "init", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("init", options_json, {"force", "from"}));
    ts::InitOptions options;
    options.force = TS_TRY(o.boolean("force", false));
    options.from = TS_TRY(o.text("from")).value_or("");
    ts::InitReport report = TS_TRY(sync.init(options));
    return Outcome{0, ts::init_report_json(sync.config(), report), ""};
  });
}

namespace {

// Runs `body` and appends its line to <state dir>/history.jsonl (trigger "capi"; best effort: a history that
// cannot be written never fails the call).
ts::Result<Outcome> recorded(ts::SyncContext& sync, const char* operation,
                             const std::function<ts::Result<Outcome>(ts::HistoryEntry&)>& body) {
  ts::HistoryEntry entry = ts::begin_history_entry(operation, "capi", sync.transfer_stats());
  auto outcome = body(entry);
  if (!outcome.ok()) ts::add_error_to_history(entry, outcome.error());
  ts::finish_history_entry(entry, sync.transfer_stats());
  (void)ts::append_history(sync.config().state_dir, entry);
  return outcome;
}

}  // namespace

int turso_sync_pull(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "pull", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("pull", options_json, kPullOptionNames));
    ts::PullOptions options = TS_TRY(pull_options(o));
    return recorded(sync, "pull", [&](ts::HistoryEntry& entry) -> ts::Result<Outcome> {
      ts::PullReport report = TS_TRY(sync.pull(options));
      ts::add_to_history(entry, report);
      if (!report.applied)
        return Outcome{TURSO_SYNC_CONFLICT, ts::pull_report_json(report),
                       conflict_message("pull", report.conflicts.size())};
      return Outcome{0, ts::pull_report_json(report), ""};
    });
  });
}

namespace {

// The code of a push report: 3 when the remote refused it or the pull after it met conflicts.
Outcome push_outcome(const std::string& what, const ts::PushReport& report, std::string json) {
  if (!report.conflicts.empty())
    return Outcome{TURSO_SYNC_CONFLICT, std::move(json),
                   fmt::format("{}: the remote has changes you do not have in {} row{}; nothing was applied. "
                               "Pull (merges their changes with yours), then push again; or push with "
                               "{{\"force\":true}} to overwrite theirs",
                               what, report.conflicts.size(), report.conflicts.size() == 1 ? "" : "s")};
  if (report.pull && !report.pull->applied)
    return Outcome{TURSO_SYNC_CONFLICT, std::move(json),
                   conflict_message(what + ": the pull after the push", report.pull->conflicts.size())};
  return Outcome{0, std::move(json), ""};
}

}  // namespace

int turso_sync_push(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "push", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("push", options_json, with_pull_options({"force", "dry_run"})));
    ts::PushOptions options;
    options.force = TS_TRY(o.boolean("force", false));
    options.dry_run = TS_TRY(o.boolean("dry_run", false));
    options.pull = TS_TRY(pull_options(o));
    if (options.dry_run) {
      ts::PushReport report = TS_TRY(sync.push(options));
      return push_outcome("push", report, ts::push_report_json(report));
    }
    return recorded(sync, "push", [&](ts::HistoryEntry& entry) -> ts::Result<Outcome> {
      ts::PushReport report = TS_TRY(sync.push(options));
      ts::add_to_history(entry, report);
      return push_outcome("push", report, ts::push_report_json(report));
    });
  });
}

int turso_sync_sync(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "sync", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("sync", options_json, with_pull_options({"force"})));
    ts::PullOptions pull = TS_TRY(pull_options(o));
    bool force = TS_TRY(o.boolean("force", false));
    return recorded(sync, "sync", [&](ts::HistoryEntry& entry) -> ts::Result<Outcome> {
      ts::PullReport pulled = TS_TRY(sync.pull(pull));
      ts::add_to_history(entry, pulled);
      if (!pulled.applied)
        return Outcome{TURSO_SYNC_CONFLICT, ts::sync_report_json(pulled, std::nullopt),
                       conflict_message("sync: pull", pulled.conflicts.size())};
      ts::PushOptions options;
      options.force = force;
      options.pull = pull;
      ts::PushReport pushed = TS_TRY(sync.push(options));
      ts::add_to_history(entry, pushed);
      std::string json = ts::sync_report_json(pulled, pushed);
      return push_outcome("sync: push", pushed, std::move(json));
    });
  });
}

int turso_sync_diff(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "diff", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("diff", options_json, {"exit_code"}));
    bool exit_code = TS_TRY(o.boolean("exit_code", false));
    const ts::Config& c = sync.config();
    ts::DiffSummary summary =
        TS_TRY(ts::write_diff_file(c.replica_path, c.working_path, c.diff_path, ts::local_diff_options(c)));
    std::string json = ts::diff_report_json(c.diff_path, summary);
    if (exit_code && summary.has_changes())
      return Outcome{TURSO_SYNC_ERROR, std::move(json), "diff: the working copy has local changes"};
    return Outcome{0, std::move(json), ""};
  });
}

int turso_sync_status(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "status", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("status", options_json, {"offline"}));
    ts::StatusOptions options;
    options.check_remote = !TS_TRY(o.boolean("offline", false));
    ts::StatusReport report = TS_TRY(sync.status(options));
    std::string message = report.remote_exit_code    ? "status: remote: " + report.remote_error
                          : report.pending_exit_code ? "status: " + report.pending_error
                                                     : "";
    int code = report.remote_exit_code ? report.remote_exit_code : report.pending_exit_code;
    return Outcome{code, ts::status_report_json(report), message};
  });
}

int turso_sync_reset(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "reset", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("reset", options_json, {"yes"}));
    (void)TS_TRY(o.boolean("yes", false));  // checked for its type; the C API never asks
    ts::ResetReport report = TS_TRY(sync.reset({}));
    return Outcome{0, ts::reset_report_json("reset", report), ""};
  });
}

int turso_sync_conflicts(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "conflicts", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    (void)TS_TRY(Options::parse("conflicts", options_json, {}));
    std::vector<ts::HeldConflict> held = TS_TRY(sync.conflicts());
    return Outcome{0, ts::conflicts_report_json(held), ""};
  });
}

int turso_sync_resolve(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "resolve", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("resolve", options_json, {"take", "table", "keys"}));
    if (!TS_TRY(o.text("take")))
      return ts::Error(ts::ErrorKind::usage,
                       "resolve: option 'take' is required: \"ours\" (push yours) or \"theirs\" (take the "
                       "remote's; yours are saved to the state dir)");
    ts::ResolveOptions options;
    options.take = TS_TRY(o.choice("take", "ours", {"ours", "theirs"})) == "theirs" ? ts::Resolution::theirs
                                                                                    : ts::Resolution::ours;
    options.table = TS_TRY(o.text("table")).value_or("");
    options.keys = TS_TRY(o.strings("keys"));
    return recorded(sync, "resolve", [&](ts::HistoryEntry& entry) -> ts::Result<Outcome> {
      ts::ResolveReport report = TS_TRY(sync.resolve(options));
      entry.conflicts_resolved = static_cast<int64_t>(report.resolved.size());
      entry.conflicts_held = report.still_held;
      return Outcome{0, ts::resolve_report_json(report), ""};
    });
  });
}

int turso_sync_config(turso_sync_handle* handle, char** config_json) {
  return run_call(
      handle, "config", config_json,
      [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
        const ts::Config& c = sync.config();
        ts::JsonWriter w;
        w.begin_object().key("name").string(c.name).key("database_url").string(c.database_url);
        w.key("auth_token").string(ts::mask_secret(c.auth_token));
        w.key("replica").string(c.replica_path).key("working").string(c.working_path);
        w.key("diff").string(c.diff_path).key("state_dir").string(c.state_dir);
        w.key("interval").integer(c.sync_interval_seconds);
        w.key("initialized").boolean(sync.require_initialized().ok()).end_object();
        return Outcome{0, w.take(), ""};
      },
      CallLock::none);
}

int turso_sync_open_working_copy(turso_sync_handle* handle, struct sqlite3** out) {
  if (out) *out = nullptr;
  return run_call(handle, "open working copy", nullptr, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    if (!out)
      return ts::Error(ts::ErrorKind::usage, "open working copy: the out pointer (sqlite3**) is NULL");
    sqlite3* db = TS_TRY(sync.open_working_copy());
    *out = db;
    return Outcome{};
  });
}

int turso_sync_background_start(turso_sync_handle* handle, const char* options_json, char** report_json) {
  if (report_json) *report_json = nullptr;
  if (!handle)
    return fail(nullptr, ts::Error(ts::ErrorKind::usage, fmt::format("background start: {}", kNullHandle)),
                report_json);
  try {
    if (handle->open_error) return fail(handle, *handle->open_error, report_json);
    auto start = [&]() -> ts::Result<std::string> {
      Options o = TS_TRY(Options::parse("background start", options_json,
                                        with_pull_options({"interval", "push_on_change", "pull_on_change"})));
      ts::WorkflowOptions options;
      options.pull = TS_TRY(pull_options(o, "hold"));
      options.history_trigger = "capi:background";
      options.push_on_change = TS_TRY(o.boolean("push_on_change", false));
      options.pull_on_change = TS_TRY(o.boolean("pull_on_change", false));
      const ts::Config& config = handle->sync->config();
      std::optional<double> interval = TS_TRY(o.number("interval"));
      if (interval && !(*interval > 0 && *interval < 1e9))
        return ts::Error(ts::ErrorKind::usage,
                         "background start: option 'interval' must be a number of "
                         "seconds above 0");
      options.interval = interval ? std::chrono::milliseconds(static_cast<int64_t>(*interval * 1000))
                                  : std::chrono::milliseconds(int64_t{config.sync_interval_seconds} * 1000);
      if (options.interval.count() < 1) options.interval = std::chrono::milliseconds(1);
      TS_TRY_STATUS(handle->sync->require_initialized());

      std::lock_guard<std::mutex> lock(handle->background_mutex);
      if (handle->background) {
        std::lock_guard<std::mutex> bg_lock(handle->background->mutex);
        if (handle->background->running)
          return ts::Error(ts::ErrorKind::usage,
                           "background start: background sync already runs on this handle (stop it first)");
      }
      if (handle->background) stop_background(*handle->background);  // ended by itself: reap it
      auto bg = std::make_shared<Background>();
      bg->thread = std::thread(background_loop, bg, config, options);
      handle->background = bg;
      std::unique_lock<std::mutex> bg_lock(bg->mutex);
      bg->changed.wait(bg_lock, [&] { return bg->cycles > 0 || !bg->running; });
      if (bg->cycles == 0 && bg->failure) {
        ts::Error error = *bg->failure;
        bg_lock.unlock();
        stop_background(*bg);
        handle->background.reset();
        return error;
      }
      return bg->last;
    };
    auto started = start();
    if (!started.ok()) return fail(handle, started.error(), report_json);
    set_result(handle, 0, "");
    if (report_json) *report_json = copy_out(*started);
    return TURSO_SYNC_OK;
  } catch (const std::exception& e) {
    return fail(handle, ts::Error(ts::ErrorKind::internal, fmt::format("background start: {}", e.what())),
                report_json);
  } catch (...) {
    return fail(handle, ts::Error(ts::ErrorKind::internal, "background start: internal error"), report_json);
  }
}

int turso_sync_background_stop(turso_sync_handle* handle, char** report_json) {
  if (report_json) *report_json = nullptr;
  if (!handle)
    return fail(nullptr, ts::Error(ts::ErrorKind::usage, fmt::format("background stop: {}", kNullHandle)),
                report_json);
  try {
    std::shared_ptr<Background> bg;
    {
      std::lock_guard<std::mutex> lock(handle->background_mutex);
      bg = std::move(handle->background);
      if (bg) stop_background(*bg);
    }
    if (!bg)
      return fail(handle,
                  ts::Error(ts::ErrorKind::usage, "background stop: no background sync runs on this handle"),
                  report_json);
    std::string json;
    {
      std::lock_guard<std::mutex> lock(bg->mutex);
      json = background_json(*bg, false);
    }
    if (report_json) *report_json = copy_out(json);
    set_result(handle, 0, "");
    return TURSO_SYNC_OK;
  } catch (const std::exception& e) {
    return fail(handle, ts::Error(ts::ErrorKind::internal, fmt::format("background stop: {}", e.what())),
                report_json);
  } catch (...) {
    return fail(handle, ts::Error(ts::ErrorKind::internal, "background stop: internal error"), report_json);
  }
}

int turso_sync_background_wait(turso_sync_handle* handle, int after_cycle, int timeout_ms,
                               char** report_json) {
  if (report_json) *report_json = nullptr;
  if (!handle)
    return fail(nullptr, ts::Error(ts::ErrorKind::usage, fmt::format("background wait: {}", kNullHandle)),
                report_json);
  try {
    if (timeout_ms < 0)
      return fail(handle, ts::Error(ts::ErrorKind::usage, "background wait: timeout_ms must be >= 0"),
                  report_json);
    std::shared_ptr<Background> bg;
    {
      std::lock_guard<std::mutex> lock(handle->background_mutex);
      bg = handle->background;
    }
    if (!bg)
      return fail(handle,
                  ts::Error(ts::ErrorKind::usage, "background wait: no background sync runs on this handle"),
                  report_json);
    std::unique_lock<std::mutex> lock(bg->mutex);
    bool reached = bg->changed.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                                        [&] { return bg->cycles > after_cycle || !bg->running; });
    reached = bg->cycles > after_cycle;
    std::string json = background_json(*bg, true);
    std::optional<ts::Error> failure = bg->failure;
    lock.unlock();
    if (report_json) *report_json = copy_out(json);
    if (!reached) {
      std::string message = failure ? failure->message()
                                    : fmt::format("background wait: timeout: no cycle after #{} within {} ms",
                                                  after_cycle, timeout_ms);
      set_result(handle, TURSO_SYNC_ERROR, message);
      return TURSO_SYNC_ERROR;
    }
    set_result(handle, 0, "");
    return TURSO_SYNC_OK;
  } catch (const std::exception& e) {
    return fail(handle, ts::Error(ts::ErrorKind::internal, fmt::format("background wait: {}", e.what())),
                report_json);
  } catch (...) {
    return fail(handle, ts::Error(ts::ErrorKind::internal, "background wait: internal error"), report_json);
  }
}

}  // extern "C"
