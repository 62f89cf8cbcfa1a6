// The C API's handle: open, close, the last result (code, message), configuration, the working copy.
#include <sqlite3.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "capi/capi_internal.h"
#include "turso_sync/report_json.h"
#include "util/json_writer.h"
#include "util/text.h"

namespace turso_sync::capi {

namespace {

thread_local std::string t_errmsg;  // what turso_sync_errmsg returns in this thread

int open_handle(turso_sync_handle** out, const std::function<ts::Result<ts::Config>()>& load) noexcept {
  if (!out) return TURSO_SYNC_USAGE;
  *out = nullptr;
  try {
    auto h = std::make_unique<turso_sync_handle>();
    auto config = load();
    if (config.ok()) {
      auto sync = ts::SyncContext::open(std::move(config).value());
      if (sync.ok()) {
        h->sync = std::move(sync).value();
        h->sync->set_trigger(ts::Trigger::capi);  // every operation's history line says so
      } else
        h->open_error = sync.error();
    } else {
      h->open_error = config.error();
    }
    int code = h->open_error ? ts::exit_code_for(h->open_error->kind()) : TURSO_SYNC_OK;
    if (h->open_error) set_result(h.get(), code, h->open_error->message(), h->open_error->kind());
    *out = h.release();
    return code;
  } catch (...) {
    return TURSO_SYNC_ERROR;  // out of memory: no handle to carry a message
  }
}

}  // namespace

char* copy_out(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out) std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

int kind_code(std::optional<ts::ErrorKind> kind) {
  static_assert(static_cast<int>(ts::ErrorKind::usage) + 1 == TURSO_SYNC_KIND_USAGE);
  static_assert(static_cast<int>(ts::ErrorKind::conflict) + 1 == TURSO_SYNC_KIND_CONFLICT);
  static_assert(static_cast<int>(ts::ErrorKind::auth) + 1 == TURSO_SYNC_KIND_AUTH);
  static_assert(static_cast<int>(ts::ErrorKind::busy) + 1 == TURSO_SYNC_KIND_BUSY);
  static_assert(static_cast<int>(ts::ErrorKind::internal) + 1 == TURSO_SYNC_KIND_INTERNAL);
  return kind ? static_cast<int>(*kind) + 1 : TURSO_SYNC_KIND_NONE;
}

void set_result(turso_sync_handle* h, int code, const std::string& message,
                std::optional<ts::ErrorKind> kind) {
  std::lock_guard<std::mutex> lock(h->error_mutex);
  h->errcode = code;
  h->errmsg = message;
  h->errkind = kind_code(kind);
}

int fail(turso_sync_handle* h, const ts::Error& error, char** report_json) {
  int code = ts::exit_code_for(error.kind());
  if (h) set_result(h, code, error.message(), error.kind());
  if (report_json) *report_json = copy_out(ts::error_json(error));
  return code;
}

}  // namespace turso_sync::capi

using namespace turso_sync::capi;

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

int turso_sync_errkind(turso_sync_handle* handle) {
  if (!handle) return TURSO_SYNC_KIND_USAGE;
  try {
    std::lock_guard<std::mutex> lock(handle->error_mutex);
    return handle->errkind;
  } catch (...) {
    return TURSO_SYNC_KIND_INTERNAL;
  }
}

const char* turso_sync_errkind_name(int kind) {
  if (kind == TURSO_SYNC_KIND_NONE) return "none";
  if (kind < TURSO_SYNC_KIND_USAGE || kind > TURSO_SYNC_KIND_INTERNAL) return "unknown";
  return ts::to_string(static_cast<ts::ErrorKind>(kind - 1));
}

void turso_sync_free(char* text) {
  std::free(text);
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

}  // extern "C"
