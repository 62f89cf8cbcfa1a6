// libcurl, loaded when the first request needs it (dlopen of libcurl.so.4) instead of linked: loading it and
// the thirty-odd libraries it needs (TLS, Kerberos, LDAP, HTTP/2, …) cost about 10 ms of every start, while
// only https:// requests use it (the plain transport serves http://). Its headers still give the types and
// constants.
#pragma once

#include <curl/curl.h>

#include "turso_sync/status.h"

namespace turso_sync {

// The libcurl functions the libcurl transport calls, resolved from the loaded library.
struct CurlApi {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_reset) easy_reset;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
};

// libcurl, loaded and initialised (curl_global_init) by the first call, from any thread; never unloaded.
// Errors (the same on every call): ErrorKind::config when libcurl.so.4 cannot be loaded or lacks a function,
// the loader's words in Error::detail.
Result<const CurlApi*> curl_library();

}  // namespace turso_sync
