// Errors that name what the server at a URL did, shared by the transport and the client: a user reads what
// went wrong and what to do, and `-v` shows the parser's or libcurl's own words (Error::detail).
#pragma once

#include <string>
#include <string_view>

#include "turso_sync/status.h"

namespace turso_sync {

// "scheme://host[:port]" of a URL ("http://127.0.0.1:8080" of "http://127.0.0.1:8080/v2/pipeline").
std::string server_of(std::string_view url);

// "2 s", "0.5 s", "1 min 30 s".
std::string duration_text(int64_t ms);

// ErrorKind::server, exit 4: "POST <url>: the server at <server> did not answer as a Turso server does
// (<what>); check TURSO_DATABASE_URL …", with `detail` (a parser's or libcurl's message) kept for -v.
// `what` may be empty.
Error not_a_turso_server(const std::string& url, const std::string& what, std::string detail);

}  // namespace turso_sync
