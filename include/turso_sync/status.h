// Errors as values. Every fallible library function returns a Result<T> (or Status = Result<void>);
// no exception escapes the library. An Error carries a kind that callers branch on (the CLI maps it to an
// exit code, README "Commands") and a message of the form "<what was being done>: <cause>".
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace turso_sync {

enum class ErrorKind {
  usage,        // bad argument or option
  config,       // missing or invalid configuration (URL, .env, toml)
  refused,      // the operation would lose data and was not forced (e.g. init over a working copy)
  conflict,     // the remote changed rows that local changes depend on
  unreachable,  // connection refused, DNS failure, TLS failure
  timeout,      // the remote did not answer in time
  auth,         // HTTP 401/403
  server,       // HTTP 5xx, another unexpected HTTP status, or an answer that is not a Turso server's
  protocol,     // the remote answered something that cannot be parsed
  sql,          // the remote or a local database rejected a statement
  local_db,     // a local SQLite file cannot be opened, read or written (corrupt, missing, read-only)
  busy,         // a local database stayed locked by another process
  io,           // a filesystem operation failed
  cancelled,    // interrupted by a signal
  internal,     // a bug in turso-sync
};

const char* to_string(ErrorKind kind);

// Exit code of the CLI for an error of this kind (README, "Commands").
int exit_code_for(ErrorKind kind);

class Error {
 public:
  Error(ErrorKind kind, std::string message, std::string detail = {})
      : m_kind(kind), m_message(std::move(message)), m_detail(std::move(detail)) {}

  ErrorKind kind() const { return m_kind; }
  const std::string& message() const { return m_message; }
  // What lies under a message written for the user (a parser's or libcurl's own words), for `-v` and the
  // JSON error; empty when the message says it all.
  const std::string& detail() const { return m_detail; }

  // Prefixes the message with what was being done: "init: " + "HTTP 503" -> "init: HTTP 503". The detail
  // stays.
  Error context(const std::string& what) const& { return Error(m_kind, what + ": " + m_message, m_detail); }

 private:
  ErrorKind m_kind;
  std::string m_message;
  std::string m_detail;
};

// A value or an Error. Small on purpose: std::expected needs C++23, which clang 14 (clang-tidy) cannot parse.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value)
      : m_data(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error)
      : m_data(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return m_data.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(m_data); }
  const T& value() const& { return std::get<0>(m_data); }
  T&& value() && { return std::get<0>(std::move(m_data)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(m_data); }
  Error&& error() && { return std::get<1>(std::move(m_data)); }

 private:
  std::variant<T, Error> m_data;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error)
      : m_error(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return m_error.index() == 0; }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { return std::get<1>(m_error); }
  Error&& error() && { return std::get<1>(std::move(m_error)); }

 private:
  std::variant<std::monostate, Error> m_error;
};

using Status = Result<void>;

inline Status ok_status() {
  return Status();
}

}  // namespace turso_sync

// TS_TRY(expr): evaluates a Result; on error returns the error from the enclosing function, else yields the
// value. TS_TRY_STATUS(expr): the same for Status (no value). GNU statement expressions, supported by g++ and
// clang.
#define TS_CONCAT_INNER_(a, b) a##b
#define TS_CONCAT_(a, b) TS_CONCAT_INNER_(a, b)

#define TS_TRY(expr) TS_TRY_IMPL_(expr, TS_CONCAT_(ts_try_result_, __COUNTER__))
#define TS_TRY_IMPL_(expr, var)                   \
  ({                                              \
    auto var = (expr);                            \
    if (!var.ok()) return std::move(var).error(); \
    std::move(var).value();                       \
  })

#define TS_TRY_STATUS(expr) TS_TRY_STATUS_IMPL_(expr, TS_CONCAT_(ts_try_status_, __COUNTER__))
#define TS_TRY_STATUS_IMPL_(expr, var)            \
  do {                                            \
    auto var = (expr);                            \
    if (!var.ok()) return std::move(var).error(); \
  } while (0)
