// Database URL resolution (docs/protocol.md, "URLs and authentication"): libsql:// / https:// / http:// / wss:// to the HTTP base URL, loopback
// detection, and the configuration errors a user can make.
#include <gtest/gtest.h>

#include <string>

#include "turso_sync/remote.h"

namespace turso_sync {
namespace {

RemoteEndpoint parse_url_ok(const std::string& url) {
  auto ep = parse_database_url(url);
  EXPECT_TRUE(ep.ok()) << url << ": " << (ep.ok() ? "" : ep.error().message());
  return ep.ok() ? ep.value() : RemoteEndpoint{};
}

// Returns the message of the config error that `url` must produce.
std::string parse_url_error(const std::string& url) {
  auto ep = parse_database_url(url);
  EXPECT_FALSE(ep.ok()) << "accepted `" << url << "` as " << (ep.ok() ? ep->base_url : "");
  if (ep.ok()) return "";
  EXPECT_EQ(ep.error().kind(), ErrorKind::config) << url << ": " << ep.error().message();
  return ep.error().message();
}

// ---------------------------------------------------------------------------------------------------------------
// Accepted URLs

TEST(Url, LibsqlMeansHttps) {
  RemoteEndpoint ep = parse_url_ok("libsql://app-org.turso.io");
  EXPECT_EQ(ep.base_url, "https://app-org.turso.io");
  EXPECT_EQ(ep.host, "app-org.turso.io");
  EXPECT_EQ(ep.original, "libsql://app-org.turso.io");
  EXPECT_TRUE(ep.tls);
  EXPECT_FALSE(ep.loopback);
}

TEST(Url, LibsqlWithPortKeepsPort) {
  RemoteEndpoint ep = parse_url_ok("libsql://db.example.com:8443");
  EXPECT_EQ(ep.base_url, "https://db.example.com:8443");
  EXPECT_TRUE(ep.tls);
}

TEST(Url, LibsqlTlsZeroWithPortMeansHttp) {
  RemoteEndpoint ep = parse_url_ok("libsql://host:8080?tls=0");
  EXPECT_EQ(ep.base_url, "http://host:8080");
  EXPECT_EQ(ep.host, "host");
  EXPECT_FALSE(ep.tls);
}

TEST(Url, LibsqlTlsOneMeansHttps) {
  EXPECT_EQ(parse_url_ok("libsql://host?tls=1").base_url, "https://host");
  EXPECT_EQ(parse_url_ok("libsql://host:9000?tls=1").base_url, "https://host:9000");
}

TEST(Url, LibsqlTlsZeroWithoutPortIsAnError) {
  std::string message = parse_url_error("libsql://host?tls=0");
  EXPECT_NE(message.find("libsql://host?tls=0"), std::string::npos) << message;
  EXPECT_NE(message.find("port"), std::string::npos) << message;
}

TEST(Url, HttpsAndHttpAreUsedAsGiven) {
  RemoteEndpoint https = parse_url_ok("https://app-org.turso.io");
  EXPECT_EQ(https.base_url, "https://app-org.turso.io");
  EXPECT_TRUE(https.tls);

  RemoteEndpoint http = parse_url_ok("http://db.internal:8080");
  EXPECT_EQ(http.base_url, "http://db.internal:8080");
  EXPECT_EQ(http.host, "db.internal");
  EXPECT_FALSE(http.tls);
  EXPECT_FALSE(http.loopback);

  // Plain http without a port is allowed: port 80 is implied.
  EXPECT_EQ(parse_url_ok("http://db.internal").base_url, "http://db.internal");
}

TEST(Url, SchemeIsCaseInsensitive) {
  EXPECT_EQ(parse_url_ok("LIBSQL://host").base_url, "https://host");
  EXPECT_EQ(parse_url_ok("HTTPS://host").base_url, "https://host");
  EXPECT_EQ(parse_url_ok("Http://host:1").base_url, "http://host:1");
}

TEST(Url, SurroundingWhitespaceIsIgnored) {
  // A value pasted into .env often carries a trailing newline or spaces.
  EXPECT_EQ(parse_url_ok("  libsql://host\n").base_url, "https://host");
}

TEST(Url, TrailingSlashesAreDropped) {
  EXPECT_EQ(parse_url_ok("https://host/").base_url, "https://host");
  EXPECT_EQ(parse_url_ok("https://host///").base_url, "https://host");
  EXPECT_EQ(parse_url_ok("libsql://host:8080/?tls=0").base_url, "http://host:8080");
  EXPECT_EQ(parse_url_ok("https://host/db/").base_url, "https://host/db");
}

TEST(Url, PathsAreKept) {
  EXPECT_EQ(parse_url_ok("https://proxy.example.com/turso/app").base_url,
            "https://proxy.example.com/turso/app");
  EXPECT_EQ(parse_url_ok("http://127.0.0.1:8080/v").base_url, "http://127.0.0.1:8080/v");
  EXPECT_EQ(parse_url_ok("libsql://host:1234/a/b?tls=0").base_url, "http://host:1234/a/b");
}

TEST(Url, WebSocketSchemesMapToHttp) {
  RemoteEndpoint wss = parse_url_ok("wss://app-org.turso.io");
  EXPECT_EQ(wss.base_url, "https://app-org.turso.io");
  EXPECT_TRUE(wss.tls);
  RemoteEndpoint ws = parse_url_ok("ws://127.0.0.1:8080");
  EXPECT_EQ(ws.base_url, "http://127.0.0.1:8080");
  EXPECT_FALSE(ws.tls);
}

TEST(Url, EmptyQueryParametersAreIgnored) {
  EXPECT_EQ(parse_url_ok("libsql://host?").base_url, "https://host");
  EXPECT_EQ(parse_url_ok("libsql://host:1?&tls=0&").base_url, "http://host:1");
}

// ---------------------------------------------------------------------------------------------------------------
// Loopback detection (a token may travel over plain http only to these)

TEST(Url, Ipv6LoopbackWithPort) {
  RemoteEndpoint ep = parse_url_ok("http://[::1]:8080");
  EXPECT_EQ(ep.base_url, "http://[::1]:8080");
  EXPECT_EQ(ep.host, "[::1]");
  EXPECT_TRUE(ep.loopback);
  EXPECT_FALSE(ep.tls);
}

TEST(Url, Ipv6LoopbackWithoutPort) {
  RemoteEndpoint ep = parse_url_ok("http://[::1]");
  EXPECT_EQ(ep.base_url, "http://[::1]");
  EXPECT_TRUE(ep.loopback);
}

TEST(Url, Ipv6NonLoopback) {
  RemoteEndpoint ep = parse_url_ok("http://[2001:db8::1]:8080");
  EXPECT_EQ(ep.base_url, "http://[2001:db8::1]:8080");
  EXPECT_FALSE(ep.loopback);
}

TEST(Url, WholeIpv4LoopbackRange) {
  EXPECT_TRUE(parse_url_ok("http://127.0.0.1:8080").loopback);
  EXPECT_TRUE(parse_url_ok("http://127.0.0.5:8080").loopback);
  EXPECT_TRUE(parse_url_ok("http://127.255.255.254:1").loopback);
}

TEST(Url, Localhost) {
  EXPECT_TRUE(parse_url_ok("http://localhost:8080").loopback);
  EXPECT_TRUE(parse_url_ok("http://LocalHost:8080").loopback);
  EXPECT_TRUE(parse_url_ok("libsql://localhost:8080?tls=0").loopback);
}

TEST(Url, OtherHostsAreNotLoopback) {
  EXPECT_FALSE(parse_url_ok("http://example.com:8080").loopback);
  EXPECT_FALSE(parse_url_ok("https://example.com").loopback);
  EXPECT_FALSE(parse_url_ok("http://10.0.0.1:8080").loopback);
  EXPECT_FALSE(parse_url_ok("http://0.0.0.0:8080").loopback);
  // Names that merely start like a loopback address resolve anywhere.
  EXPECT_FALSE(parse_url_ok("http://127.0.0.1.nip.io:8080").loopback);
  EXPECT_FALSE(parse_url_ok("http://127.evil.example:8080").loopback);
  EXPECT_FALSE(parse_url_ok("http://localhost.evil.example:8080").loopback);
  EXPECT_FALSE(parse_url_ok("http://mylocalhost:8080").loopback);
}

// ---------------------------------------------------------------------------------------------------------------
// Errors: ErrorKind::config, with the URL in the message

TEST(Url, Empty) {
  parse_url_error("");
  parse_url_error("   ");
}

TEST(Url, NoScheme) {
  std::string message = parse_url_error("app-org.turso.io");
  EXPECT_NE(message.find("app-org.turso.io"), std::string::npos) << message;
  EXPECT_NE(message.find("scheme"), std::string::npos) << message;
  parse_url_error("app-org.turso.io:8080");
  parse_url_error("//app-org.turso.io");
  parse_url_error("://app-org.turso.io");
}

TEST(Url, UnsupportedScheme) {
  std::string message = parse_url_error("ftp://host");
  EXPECT_NE(message.find("ftp://host"), std::string::npos) << message;
  EXPECT_NE(message.find("ftp"), std::string::npos) << message;
  parse_url_error("file:///tmp/db.sqlite");
  parse_url_error("sqlite://host");
  parse_url_error("https+libsql://host");
}

TEST(Url, NoHost) {
  for (const char* url : {"https://", "libsql://", "http:///path", "http://:8080", "libsql://?tls=1"}) {
    std::string message = parse_url_error(url);
    EXPECT_NE(message.find(url), std::string::npos) << message;
  }
}

TEST(Url, BadPort) {
  for (const char* url : {"http://host:0", "http://host:70000", "http://host:65536", "http://host:abc",
                          "http://host:80a", "http://host:-1", "http://host:", "http://host:123456",
                          "http://[::1]:0", "http://[::1]:abc", "http://[::1]:", "libsql://host:0?tls=0"}) {
    std::string message = parse_url_error(url);
    EXPECT_NE(message.find(url), std::string::npos) << message;
  }
  EXPECT_NE(parse_url_error("http://host:70000").find("70000"), std::string::npos);
  EXPECT_EQ(parse_url_ok("http://host:65535").base_url, "http://host:65535");
  EXPECT_EQ(parse_url_ok("http://host:1").base_url, "http://host:1");
}

TEST(Url, MalformedIpv6) {
  parse_url_error("http://[::1");
  parse_url_error("http://[::1]x");
  parse_url_error("http://[::1]x:80");
}

TEST(Url, CredentialsInTheUrl) {
  std::string message = parse_url_error("libsql://user:pw@host");
  EXPECT_NE(message.find("TURSO_AUTH_TOKEN"), std::string::npos) << message;
  parse_url_error("https://token@host");
  parse_url_error("http://user:pw@127.0.0.1:8080");
}

TEST(Url, TokenParameter) {
  std::string message = parse_url_error("libsql://host?authToken=eyJhbGciOi.secret.sig");
  EXPECT_NE(message.find("TURSO_AUTH_TOKEN"), std::string::npos) << message;
  parse_url_error("libsql://host?tls=1&authToken=abc");
  parse_url_error("https://host?auth_token=abc");
  parse_url_error("https://host?token=abc");
}

// Regression: the rejected URL was echoed verbatim, printing the secret it carried to a terminal or a CI log
// (turso_sync never prints a token, config.h).
TEST(Url, SecretsInARejectedUrlAreNotEchoed) {
  const std::string secret = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0.sig";
  for (const std::string& url :
       {"libsql://app-org.turso.io?authToken=" + secret,
        "libsql://app-org.turso.io?tls=1&authToken=" + secret,
        "https://app-org.turso.io?auth_token=" + secret, "https://app-org.turso.io?AuthToken=" + secret,
        "https://user:" + secret + "@app-org.turso.io", "https://" + secret + "@app-org.turso.io"}) {
    std::string message = parse_url_error(url);
    EXPECT_EQ(message.find(secret), std::string::npos) << message;
    EXPECT_NE(message.find("app-org.turso.io"), std::string::npos) << message;
  }
}

// Found by tests/fuzz/fuzz_url.cpp: with a '?' before "://" the message masked the URL from that '?', but the
// parser, which looks for the query after "://", named the bad port: the token after it. A parameter without
// a name (`?<token>`) was shown as it was.
TEST(Url, FuzzSecretAfterAQuestionMarkBeforeTheSchemeIsNotEchoed) {
  const std::string secret = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0.sig";
  for (const std::string& url :
       {"?&://&&:&authToken=" + secret, "a?b://host:" + secret, "libsql://app-org.turso.io?" + secret,
        "libsql://app-org.turso.io:8080?tls=0&" + secret}) {
    std::string message = parse_url_error(url);
    EXPECT_EQ(message.find(secret), std::string::npos) << message;
  }
  EXPECT_NE(parse_url_error("libsql://app-org.turso.io?" + secret).find("app-org.turso.io"),
            std::string::npos);
}

// Found by tests/fuzz/fuzz_url.cpp: "wss://host//<tab>?" resolved to a base URL ending in a tab, which is no
// URL (and did not resolve to itself). Spaces and control characters are refused in every part.
TEST(Url, FuzzControlCharacterInThePathIsRefused) {
  for (const char* url : {"wss://host//\t?", "https://host/a b", "https://host/\x7f", "http://host:80\n/p",
                          "libsql://host?tls=\r1", "https://ho st"})
    parse_url_error(url);
  EXPECT_EQ(parse_url_ok("  https://host/p/ \n").base_url, "https://host/p");  // surrounding space is trimmed
}

TEST(Url, UnknownParameter) {
  std::string message = parse_url_error("libsql://host?foo=bar");
  EXPECT_NE(message.find("foo"), std::string::npos) << message;
  EXPECT_NE(message.find("libsql://host"), std::string::npos) << message;
  parse_url_error("libsql://host?tls");
  parse_url_error("libsql://host?tls=yes");
}

TEST(Url, TlsParameterOnlyForLibsql) {
  parse_url_error("https://host?tls=0");
  parse_url_error("http://host:8080?tls=1");
}

TEST(Url, FragmentOrSpacesRejected) {
  parse_url_error("https://host/#frag");
  parse_url_error("https://ho st");
}

}  // namespace
}  // namespace turso_sync
