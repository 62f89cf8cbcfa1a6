// Fuzz target: database URL resolution (parse_database_url, src/remote/url.cpp), fed any bytes.
//
// Input: one byte M (mod 4: the mode), then text.
//   0: the text is the URL. Accepted: the base URL is http(s)://host…, agrees with `tls`, and resolves to
//      itself (parsing it again gives the same endpoint). Refused: a config error.
//   1: the URL carries a secret as user information (libsql://<text>:SECRET@<text>).
//   2: the URL carries a secret as a query parameter (<text>?authToken=SECRET).
//   3: the URL carries a secret as a parameter without a name (<text>?SECRET).
// In modes 1 to 3 the URL must be refused, and the message must not show the secret.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "turso_sync/remote.h"

namespace {

constexpr const char* k_secret = "s3cr3t-T0KEN-value";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace turso_sync;
  if (size == 0) return 0;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  int mode = data[0] % 4;
  if (text.find(k_secret) != std::string::npos) return 0;  // a message may show the text
  std::string url;
  if (mode == 0) {
    url = text;
  } else if (mode == 1) {
    // The user part before the secret holds no character that would end the authority or the user part.
    std::string user = text.substr(0, text.size() / 2), host = text.substr(text.size() / 2);
    std::erase_if(user, [](char c) { return c == '/' || c == '?' || c == '#' || c == '@'; });
    url = "libsql://" + user + ":" + k_secret + "@" + host;
  } else {
    url =
        text + (text.find('?') == std::string::npos ? "?" : "&") + (mode == 2 ? "authToken=" : "") + k_secret;
  }

  auto ep = parse_database_url(url);
  if (!ep.ok()) {
    fuzz::check_error_kind(ep.error(), {ErrorKind::config}, "parse_database_url");
    FUZZ_CHECK(mode == 0 || ep.error().message().find(k_secret) == std::string::npos,
               "the secret is shown: {}", ep.error().message());
    return 0;
  }
  FUZZ_CHECK(mode == 0, "a URL with a token accepted: base URL {}", ep->base_url);
  FUZZ_CHECK(ep->base_url.starts_with(ep->tls ? "https://" : "http://"), "base URL {} with tls={}",
             ep->base_url, ep->tls);
  FUZZ_CHECK(!ep->host.empty(), "no host in {}", ep->base_url);
  FUZZ_CHECK(ep->base_url.find(ep->host) != std::string::npos, "host {} not in {}", ep->host, ep->base_url);
  FUZZ_CHECK(ep->original == url, "original `{}` for `{}`", ep->original, url);

  auto again = parse_database_url(ep->base_url);
  FUZZ_CHECK(again.ok(), "the base URL `{}` of `{}` is refused: {}", ep->base_url, url,
             again.ok() ? "" : again.error().message());
  FUZZ_CHECK(again->base_url == ep->base_url && again->host == ep->host && again->tls == ep->tls &&
                 again->loopback == ep->loopback,
             "`{}` resolves to {} but that resolves to {}", url, ep->base_url, again->base_url);
  return 0;
}
