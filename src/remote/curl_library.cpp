#include "remote/curl_library.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <optional>
#include <string>

namespace turso_sync {

namespace {

constexpr const char* kCurlSoname = "libcurl.so.4";

struct CurlLoaded {
  CurlApi api{};
  std::optional<Error> error;
};

Error curl_missing(std::string detail) {
  return Error(
      ErrorKind::config,
      fmt::format("https:// needs libcurl ({}), which could not be loaded: install the libcurl4 package "
                  "(Debian) or use http:// for a local server",
                  kCurlSoname),
      std::move(detail));
}

template <typename Fn>
void curl_resolve(void* library, const char* name, Fn* out, std::string& missing) {
  void* symbol = ::dlsym(library, name);
  if (!symbol) missing += missing.empty() ? name : std::string(", ") + name;
  *out = reinterpret_cast<Fn>(symbol);
}

CurlLoaded curl_load() {
  CurlLoaded loaded;
  // RTLD_LOCAL: its symbols (and those of the TLS library it brings) stay out of the global namespace.
  void* library = ::dlopen(kCurlSoname, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char* why = ::dlerror();
    loaded.error = curl_missing(why ? why : "dlopen failed");
    return loaded;
  }
  CurlApi& api = loaded.api;
  std::string missing;
  curl_resolve(library, "curl_global_init", &api.global_init, missing);
  curl_resolve(library, "curl_easy_init", &api.easy_init, missing);
  curl_resolve(library, "curl_easy_cleanup", &api.easy_cleanup, missing);
  curl_resolve(library, "curl_easy_reset", &api.easy_reset, missing);
  curl_resolve(library, "curl_easy_setopt", &api.easy_setopt, missing);
  curl_resolve(library, "curl_easy_perform", &api.easy_perform, missing);
  curl_resolve(library, "curl_easy_getinfo", &api.easy_getinfo, missing);
  curl_resolve(library, "curl_easy_strerror", &api.easy_strerror, missing);
  curl_resolve(library, "curl_slist_append", &api.slist_append, missing);
  curl_resolve(library, "curl_slist_free_all", &api.slist_free_all, missing);
  if (!missing.empty()) {
    loaded.error = curl_missing(fmt::format("{} has no {}", kCurlSoname, missing));
    return loaded;
  }
  CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK)
    loaded.error =
        Error(ErrorKind::internal, fmt::format("curl_global_init failed: {}", api.easy_strerror(rc)));
  return loaded;
}

}  // namespace

Result<const CurlApi*> curl_library() {
  static const CurlLoaded loaded = curl_load();  // once, whichever thread comes first
  if (loaded.error) return *loaded.error;
  return &loaded.api;
}

}  // namespace turso_sync
