#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "turso_sync/remote.h"
#include "util/text.h"

namespace turso_sync {

namespace {

// The URL as shown in a message: user information, query parameter values (other than tls) and parameters
// without a name masked, so a token pasted into the URL (`?authToken=…`, `?token`, `user:token@host`) is
// never printed.
std::string url_for_message(const std::string& url) {
  std::string out = url;
  auto scheme_end = out.find("://");
  size_t authority_begin = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  size_t authority_end = std::min(out.find_first_of("/?#", authority_begin), out.size());
  auto at = out.rfind('@', authority_end == 0 ? 0 : authority_end - 1);
  if (at != std::string::npos && at >= authority_begin)
    out.replace(authority_begin, at - authority_begin, "***");
  auto q = out.find('?');
  if (q == std::string::npos) return out;
  std::string masked = out.substr(0, q + 1);
  for (size_t pos = q + 1; pos <= out.size();) {
    size_t amp = std::min(out.find('&', pos), out.size());
    std::string param = out.substr(pos, amp - pos);
    auto eq = param.find('=');
    if (eq == std::string::npos && !param.empty() && param != "tls")
      param = "***";
    else if (eq != std::string::npos && param.substr(0, eq) != "tls")
      param = param.substr(0, eq + 1) + "***";
    masked += param;
    if (amp < out.size()) masked += '&';
    pos = amp + 1;
  }
  return masked;
}

Error bad_url(const std::string& url, const std::string& why) {
  return Error(ErrorKind::config,
               fmt::format("database URL `{}`: {} (expected libsql://HOST, https://HOST or http://HOST:PORT)",
                           url_for_message(url), why));
}

bool is_loopback_host(std::string host) {
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  return host.rfind("127.", 0) == 0 && host.find_first_not_of("0123456789.") == std::string::npos;
}

}  // namespace

Result<RemoteEndpoint> parse_database_url(const std::string& input) {
  std::string url = trim(input);
  if (url.empty()) return bad_url(input, "empty");
  // Not in any part: a URL that resolves to a base URL which would not resolve to itself (a path ending in a
  // tab), or a request line the server would not read.
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F)
      return bad_url(input, "a space or control character in the URL");
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return bad_url(input, "no scheme");
  std::string scheme = url.substr(0, scheme_end);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  // The scheme first: what comes before "://" may be anything (`host?authToken=…://`), and the masking of
  // url_for_message() only holds for the parts of a URL that begins with a scheme.
  bool libsql_scheme = scheme == "libsql" || scheme == "wss" || scheme == "ws";
  if (!libsql_scheme && scheme != "https" && scheme != "http") {
    bool plain = !scheme.empty() && scheme.size() <= 16 &&
                 scheme.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+-.") == std::string::npos;
    return bad_url(input, plain ? fmt::format("unsupported scheme `{}`", scheme) : "unsupported scheme");
  }
  std::string rest = url.substr(scheme_end + 3);

  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.find('#') != std::string::npos) return bad_url(input, "fragment not allowed");
  std::string authority = rest.substr(0, rest.find('/'));
  std::string path = rest.substr(authority.size());
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (authority.find('@') != std::string::npos)
    return bad_url(input, "credentials in the URL; put the token in TURSO_AUTH_TOKEN");
  if (authority.empty()) return bad_url(input, "no host");

  std::string host = authority, port;
  bool port_given = false;  // a ':' after the host, even with nothing after it
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return bad_url(input, "unterminated IPv6 address");
    host = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad_url(input, "bad host");
      port = authority.substr(close + 2);
      port_given = true;
    }
  } else if (auto colon = authority.find(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    port_given = true;
  }
  if (host.empty()) return bad_url(input, "no host");
  if (port_given && port.empty()) return bad_url(input, "empty port");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) == 0 || std::stoi(port) > 65535)
      return bad_url(input, fmt::format("bad port `{}`", port));
  }

  bool tls_param = true;
  bool tls_given = false;
  for (size_t pos = 0; pos < query.size();) {
    auto amp = query.find('&', pos);
    std::string param = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    pos = amp == std::string::npos ? query.size() : amp + 1;
    if (param.empty()) continue;
    auto eq = param.find('=');
    std::string name = param.substr(0, eq), value = eq == std::string::npos ? "" : param.substr(eq + 1);
    if (name == "tls") {
      if (value != "0" && value != "1") return bad_url(input, "tls must be 0 or 1");
      tls_param = value == "1";
      tls_given = true;
    } else if (name == "authToken" || name == "auth_token" || name == "token") {
      return bad_url(input, "token in the URL; put it in TURSO_AUTH_TOKEN instead");
    } else if (eq == std::string::npos) {
      return bad_url(input, "a parameter without a name (only tls=0 or tls=1)");
    } else {
      return bad_url(input, fmt::format("unknown parameter `{}`", name));
    }
  }

  RemoteEndpoint ep;
  ep.original = input;
  ep.host = host;
  ep.loopback = is_loopback_host(host);
  if (libsql_scheme) {
    ep.tls = scheme == "ws" ? false : tls_param;
    if (scheme == "ws" && tls_given && tls_param) ep.tls = true;
    if (!ep.tls && port.empty()) return bad_url(input, "tls=0 needs an explicit port");
  } else {
    if (tls_given) return bad_url(input, "tls= applies to libsql:// URLs only");
    ep.tls = scheme == "https";
  }
  ep.base_url =
      fmt::format("{}://{}{}{}", ep.tls ? "https" : "http", host, port.empty() ? "" : ":" + port, path);
  return ep;
}

}  // namespace turso_sync
