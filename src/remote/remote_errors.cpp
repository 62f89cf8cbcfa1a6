#include "remote/remote_errors.h"

#include <fmt/format.h>

namespace turso_sync {

std::string server_of(std::string_view url) {
  auto scheme = url.find("://");
  size_t host = scheme == std::string_view::npos ? 0 : scheme + 3;
  auto path = url.find_first_of("/?#", host);
  return std::string(url.substr(0, path));
}

std::string duration_text(int64_t ms) {
  if (ms < 10000 && ms % 1000 != 0) return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
  int64_t s = (ms + 500) / 1000;
  if (s < 120) return fmt::format("{} s", s);
  return s % 60 == 0 ? fmt::format("{} min", s / 60) : fmt::format("{} min {} s", s / 60, s % 60);
}

Error not_a_turso_server(const std::string& url, const std::string& what, std::string detail) {
  return Error(
      ErrorKind::server,
      fmt::format("POST {}: the server at {} did not answer as a Turso server does{}; check "
                  "TURSO_DATABASE_URL (a Turso Cloud URL looks like "
                  "libsql://<database>-<organization>.turso.io, shown by `turso db show <database>`)",
                  url, server_of(url), what.empty() ? "" : " (" + what + ")"),
      std::move(detail));
}

}  // namespace turso_sync
