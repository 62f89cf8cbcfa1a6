// Internals shared by the C API's translation units (src/capi/*.cpp): the handle, the options parser, the
// call wrapper that catches everything. Not installed; include/turso_sync.h is the API.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
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

#include "turso_sync.h"
#include "turso_sync/config.h"
#include "turso_sync/status.h"
#include "turso_sync/sync.h"

namespace turso_sync::capi {

namespace ts = turso_sync;

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

}  // namespace turso_sync::capi

struct turso_sync_handle {
  std::mutex call_mutex;  // one operation at a time; try_lock, never waits
  std::unique_ptr<turso_sync::SyncContext> sync;
  std::optional<turso_sync::Error> open_error;  // set: the handle only carries this error

  std::mutex error_mutex;  // guards the last result
  std::string errmsg;
  int errcode = 0;
  int errkind = 0;  // TURSO_SYNC_KIND_*

  std::mutex background_mutex;  // guards `background` (start/stop/wait/close)
  std::shared_ptr<turso_sync::capi::Background> background;
};

namespace turso_sync::capi {

inline constexpr const char* kNullHandle = "turso_sync: the handle is NULL (open one with turso_sync_open)";

// A copy of `text` in memory of malloc (turso_sync_free frees it); NULL when memory runs out.
char* copy_out(const std::string& text);
// TURSO_SYNC_KIND_* of a library error kind (TURSO_SYNC_KIND_NONE for none).
int kind_code(std::optional<ts::ErrorKind> kind);
// Stores the result of the last call on the handle.
void set_result(turso_sync_handle* h, int code, const std::string& message,
                std::optional<ts::ErrorKind> kind = std::nullopt);
// Stores `error` on `h` (may be NULL) and its error document in *report_json (when not NULL); returns its
// code.
int fail(turso_sync_handle* h, const ts::Error& error, char** report_json);

using OptionValue = std::variant<bool, double, std::string, std::vector<std::string>>;

// A parsed options object: name -> value (booleans, numbers, strings and arrays of strings are options).
class Options {
 public:
  // `json` NULL or "" is the empty object. `allowed` lists the option names of the call.
  static ts::Result<Options> parse(const std::string& what, const char* json,
                                   const std::set<std::string>& allowed);

  ts::Result<bool> boolean(const std::string& name, bool fallback) const;
  ts::Result<std::optional<double>> number(const std::string& name) const;
  ts::Result<std::optional<std::string>> text(const std::string& name) const;
  ts::Result<std::vector<std::string>> strings(const std::string& name) const;
  const std::string& what() const { return m_what; }  // the call, for messages
  // A string option restricted to `choices`.
  ts::Result<std::string> choice(const std::string& name, const std::string& fallback,
                                 const std::set<std::string>& choices) const;

 private:
  static ts::Error usage(std::string message) { return ts::Error(ts::ErrorKind::usage, std::move(message)); }
  std::string m_what;
  std::map<std::string, OptionValue> m_values;
};

extern const std::set<std::string> kPullOptionNames;
std::set<std::string> with_pull_options(std::set<std::string> names);
// `default_policy`: "abort" for pull/push/sync, "hold" for the background sync (a service keeps syncing the
// other rows when one conflicts).
ts::Result<ts::PullOptions> pull_options(const Options& options, const char* default_policy = "abort");

// The configuration of turso_sync_open_config.
ts::Result<ts::Config> config_from_json(const char* json);

// Stops and joins `bg` (the caller holds the handle's background_mutex).
void stop_background(Background& bg);

// What an operation hands back: its result code, its report, and the message when the code is not 0.
struct Outcome {
  int code = 0;
  std::string report;
  std::string message;
  std::optional<ts::ErrorKind> kind;  // what `code` means, when not 0 (conflict, unreachable, …)
};

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
    set_result(h, outcome->code, outcome->message, outcome->kind);
    if (report_json) *report_json = copy_out(outcome->report);
    return outcome->code;
  } catch (const std::exception& e) {
    return fail(h, ts::Error(ts::ErrorKind::internal, fmt::format("{}: internal error: {}", what, e.what())),
                report_json);
  } catch (...) {
    return fail(h, ts::Error(ts::ErrorKind::internal, fmt::format("{}: internal error", what)), report_json);
  }
}

}  // namespace turso_sync::capi
