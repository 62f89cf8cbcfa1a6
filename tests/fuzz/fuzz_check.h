// What the fuzz targets assert. A failed check prints what broke and aborts, which libFuzzer reports as a
// crash and saves with the input that caused it. Checks are for bugs only: an input the code rejects with an
// error value is a pass.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "turso_sync/status.h"

#define FUZZ_CHECK(cond, ...)                                                                   \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      std::fprintf(stderr, "fuzz check failed at %s:%d: %s\n  %s\n", __FILE__, __LINE__, #cond, \
                   fmt::format(__VA_ARGS__).c_str());                                           \
      std::abort();                                                                             \
    }                                                                                           \
  } while (0)

namespace turso_sync::fuzz {

// An error must be one of the kinds the function documents: anything else (ErrorKind::internal above all)
// is a bug.
inline void check_error_kind(const Error& error, std::initializer_list<ErrorKind> allowed, const char* what) {
  for (ErrorKind kind : allowed)
    if (error.kind() == kind) return;
  FUZZ_CHECK(false, "{}: unexpected error kind {}: {}", what, to_string(error.kind()), error.message());
}

}  // namespace turso_sync::fuzz
