// The C API's background sync: `turso-sync workflow` on a thread of the library, one per handle.
#include "capi/capi_internal.h"
#include "turso_sync/report_json.h"
#include "turso_sync/workflow.h"
#include "util/json_writer.h"

namespace turso_sync::capi {

namespace {

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

}  // namespace

// Stops and joins `bg` (the caller holds the handle's background_mutex).
void stop_background(Background& bg) {
  bg.stop = true;
  if (bg.thread.joinable()) bg.thread.join();
}

}  // namespace turso_sync::capi

using namespace turso_sync::capi;

extern "C" {

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
      options.trigger = ts::Trigger::background;
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
      set_result(handle, TURSO_SYNC_ERROR, message, failure ? failure->kind() : ts::ErrorKind::timeout);
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
