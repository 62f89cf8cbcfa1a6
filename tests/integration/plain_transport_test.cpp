// The plain HTTP/1.1 transport (make_plain_transport) against servers that answer as scripted
// (support/scripted_http_server.h, support/fake_http_server.h) and a real `tursodb --sync-server`: how an
// answer may be framed, large answers and request bodies byte for byte, keep-alive and a kept connection
// the server closed, Retry-After, and every way a request fails (refused, no connection in time, silence,
// bytes that are not HTTP, interruption). Which transport a client gets, and a broken libcurl. No test
// sleeps: each waits for an event (a connection accepted, a progress report, the request's end).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "remote/request_body.h"
#include "support/fake_http_server.h"
#include "support/scripted_http_server.h"
#include "support/test_env.h"
#include "turso_sync/cancel.h"
#include "turso_sync/remote.h"
#include "util/json_writer.h"
#include "util/large_store.h"

namespace turso_sync::testing {
namespace {

using Request = HttpTransport::Request;
using Step = ScriptedHttpServer::Step;
using PlainClock = std::chrono::steady_clock;

Request plain_request(const std::string& base, std::string body = R"({"requests":[]})") {
  Request r;
  r.url = base + "/v2/pipeline";
  r.body = std::move(body);
  r.timeout_ms = 20000;
  return r;
}

std::unique_ptr<HttpTransport> plain(TransportOptions options = {}) {
  return make_plain_transport(options);
}

// Byte i of a large answer: distinct for every offset within a 4 GiB range, so a piece lost, repeated or
// out of order shows.
char pattern_byte(uint64_t i) {
  return static_cast<char>(((i * 2654435761u) >> 24) ^ (i >> 13));
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = pattern_byte(i);
  return s;
}

TEST(PlainTransport, ContentLengthAnswerAndTheRequestItSends) {
  ScriptedHttpServer server({{ScriptedHttpServer::answer(200, R"({"ok":1})"), true}});
  auto transport = plain();
  Request request = plain_request(server.url(), "hello");
  request.bearer_token = "tok";
  auto r = transport->post(request);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"ok":1})");
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(r->retry_after_s, 0);

  request.bearer_token.clear();
  request.content_type = "application/protobuf";
  ASSERT_TRUE(transport->post(request).ok());
  auto got = server.requests();
  ASSERT_EQ(got.size(), 2u);
  const std::string& head = got[0].head;
  EXPECT_EQ(head.rfind("POST /v2/pipeline HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_TRUE(contains(head, "\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n")) << head;
  EXPECT_TRUE(contains(head, "\r\nUser-Agent: turso-sync/")) << head;
  EXPECT_TRUE(contains(head, "\r\nContent-Type: application/json\r\n")) << head;
  EXPECT_TRUE(contains(head, "\r\nContent-Length: 5\r\n")) << head;
  EXPECT_TRUE(contains(head, "\r\nAuthorization: Bearer tok\r\n")) << head;
  EXPECT_EQ(got[0].body, "hello");
  EXPECT_FALSE(contains(got[1].head, "Authorization")) << got[1].head;
  EXPECT_TRUE(contains(got[1].head, "\r\nContent-Type: application/protobuf\r\n")) << got[1].head;
}

// An interim 100 answer is skipped; chunks (with an extension and a trailer) are joined.
TEST(PlainTransport, ChunkedAnswerAfterAnInterimAnswer) {
  ScriptedHttpServer server(
      {{"HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4;ext=1\r\n{\"a\"\r\n6\r\n:[1,2]\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n",
        true}});
  auto transport = plain();
  for (int i = 0; i < 2; ++i) {
    auto r = transport->post(plain_request(server.url()));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"a":[1,2]})");
  }
  EXPECT_EQ(server.connections(), 1) << "a complete chunked answer leaves the connection usable";
}

TEST(PlainTransport, AnswerEndedByTheConnectionClosing) {
  ScriptedHttpServer server(
      {{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it, then the end", false}});
  auto transport = plain();
  for (int i = 0; i < 2; ++i) {
    auto r = transport->post(plain_request(server.url()));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->body, "all of it, then the end");
    EXPECT_EQ(r->content_type, "text/plain");
  }
  EXPECT_EQ(server.connections(), 2) << "an answer ended by the close cannot leave the connection open";
}

// 48 MB streamed (as a page image is) arrives whole and in order, in pieces; the same chunked; and
// collected by post() within the limit.
TEST(PlainTransport, LargeStreamedAnswerArrivesWholeAndInOrder) {
  const size_t size = 48u << 20;
  const std::string body = pattern(size);
  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t at = 0; at < size; at += 1000003) {
    size_t n = std::min<size_t>(1000003, size - at);
    chunked += fmt::format("{:x}\r\n", n);
    chunked.append(body, at, n);
    chunked += "\r\n";
  }
  chunked += "0\r\n\r\n";
  ScriptedHttpServer server({{ScriptedHttpServer::answer(200, body), true}, {chunked, true}});
  auto transport = plain();
  for (const char* framing : {"Content-Length", "chunked"}) {
    SCOPED_TRACE(framing);
    uint64_t at = 0;
    int pieces = 0;
    bool in_order = true;
    auto r = transport->post_streaming(plain_request(server.url()), [&](std::string_view piece) -> Status {
      ++pieces;
      for (char c : piece) in_order = in_order && c == pattern_byte(at++);
      return {};
    });
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->body.empty());
    EXPECT_EQ(at, size);
    EXPECT_TRUE(in_order);
    EXPECT_GT(pieces, 48) << "handed on as it arrives, not held whole";
  }
  auto whole = transport->post(plain_request(server.url()));
  ASSERT_TRUE(whole.ok()) << whole.error().message();
  EXPECT_TRUE(whole->body == body);
  EXPECT_EQ(server.connections(), 1);
}

TEST(PlainTransport, CollectedAnswerOverTheLimitIsAProtocolError) {
  ScriptedHttpServer server({{ScriptedHttpServer::answer(200, std::string(5000, 'x')), true},
                             {"HTTP/1.1 200 OK\r\n\r\n" + std::string(5000, 'x'), false}});
  auto transport = plain(TransportOptions{.max_response_bytes = 4096});
  for (int i = 0; i < 2; ++i) {
    Request request = plain_request(server.url());
    auto r = transport->post(request);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::protocol);
    EXPECT_EQ(r.error().message(), "POST " + request.url + ": response larger than 4096 bytes");
  }
}

// A BLOB of 3 MB from a large-value store, a TEXT needing escapes and a small BLOB, spliced into the JSON
// as it is sent: the server receives exactly whole_body().
TEST(PlainTransport, SplicedRequestBodyArrivesByteExact) {
  auto store = LargeStore::create("", "a test");
  ASSERT_TRUE(store.ok()) << store.error().message();
  auto big = store_large(*store, Value::blob(pattern(3u << 20)));
  ASSERT_TRUE(big.ok()) << big.error().message();
  ASSERT_TRUE(big->is_large());
  const std::string text = "quote \" backslash \\ newline \n tab \t nul \x01 é ✓";
  ScriptedHttpServer server({{ScriptedHttpServer::answer(200, "{}"), false}});
  Request request = plain_request(server.url(), R"({"a":"","b":"","c":""})");
  request.splices = {BodySplice{6, *big, 0}, BodySplice{13, Value::text(text), json_escaped_size(text)},
                     BodySplice{20, Value::blob(std::string("\x00\xff", 2)), 0}};
  auto r = plain()->post(request);
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto got = server.requests();
  ASSERT_EQ(got.size(), 1u);
  std::string expected = whole_body(request);
  EXPECT_EQ(expected.size(), body_size(request));
  EXPECT_TRUE(got[0].body == expected) << "sizes " << got[0].body.size() << " and " << expected.size();
  EXPECT_TRUE(contains(got[0].head, "Content-Length: " + std::to_string(expected.size()) + "\r\n"));
}

// The server answers before it has read the whole request (a refusal) and reads no more: the upload stops
// and the answer is returned, instead of waiting out the silence limit. An interim 100 during the upload
// does not stop it.
TEST(PlainTransport, AFinalAnswerDuringTheUploadEndsItAnInterimOneDoesNot) {
  const std::string big(32u << 20, 'b');
  ScriptedHttpServer refusing({{ScriptedHttpServer::answer(413, "too large", "", true), false, "", true}});
  auto start = PlainClock::now();
  auto r = plain()->post(plain_request(refusing.url(), big));
  double took = std::chrono::duration<double>(PlainClock::now() - start).count();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, "too large");
  EXPECT_LT(took, 10.0) << "waited for the silence limit (20 s)";

  ScriptedHttpServer continuing(
      {{ScriptedHttpServer::answer(200, "{}"), true, "HTTP/1.1 100 Continue\r\n\r\n"}});
  auto c = plain()->post(plain_request(continuing.url(), big));
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->status, 200);
  auto got = continuing.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].body == big) << got[0].body.size();
}

TEST(PlainTransport, KeepAliveCarriesTwoRequestsOnOneConnection) {
  ScriptedHttpServer server({{ScriptedHttpServer::answer(200, "{}"), true}});
  auto transport = plain();
  ASSERT_TRUE(transport->post(plain_request(server.url(), "one")).ok());
  ASSERT_TRUE(transport->post(plain_request(server.url(), "two")).ok());
  auto got = server.requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].connection, 1);
  EXPECT_EQ(got[1].connection, 1);
  EXPECT_EQ(server.connections(), 1);
  // A server that says it closes gets a new connection for the next request.
  ScriptedHttpServer closing({{ScriptedHttpServer::answer(200, "{}", "", true), true}});
  ASSERT_TRUE(transport->post(plain_request(closing.url())).ok());
  ASSERT_TRUE(transport->post(plain_request(closing.url())).ok());
  EXPECT_EQ(closing.connections(), 2);
}

// The server closes a kept connection just as the next request arrives on it (read, not answered): the
// request goes again, once, on a new connection, as libcurl does. A connection made for the request itself
// is not asked again, nor is the retry.
TEST(PlainTransport, AKeptConnectionTheServerClosedIsRetriedOnceOnANewOne) {
  const std::string ok = ScriptedHttpServer::answer(200, R"({"n":1})");
  ScriptedHttpServer server({{ok, true}, {"", false}, {ok, true}});
  auto transport = plain();
  ASSERT_TRUE(transport->post(plain_request(server.url(), "first")).ok());
  auto r = transport->post(plain_request(server.url(), "second"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->body, R"({"n":1})");
  auto got = server.requests();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1].connection, 1);
  EXPECT_EQ(got[2].connection, 2);
  EXPECT_EQ(got[1].body, "second");
  EXPECT_EQ(got[2].body, "second");

  ScriptedHttpServer dead({{ok, true}, {"", false}});
  ASSERT_TRUE(transport->post(plain_request(dead.url())).ok());
  Request request = plain_request(dead.url());
  auto failed = transport->post(request);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind(), ErrorKind::unreachable);
  EXPECT_EQ(failed.error().message(), "POST " + request.url + ": the server at " + dead.url() +
                                          " closed the connection without answering");
  EXPECT_EQ(dead.requests().size(), 3u) << "the first, then the second twice: no third time";

  ScriptedHttpServer fresh({{"", false}});
  auto once = plain()->post(plain_request(fresh.url()));
  ASSERT_FALSE(once.ok());
  EXPECT_EQ(once.error().kind(), ErrorKind::unreachable);
  EXPECT_EQ(fresh.requests().size(), 1u);
}

TEST(PlainTransport, RetryAfterInSecondsAndAsAnHttpDate) {
  std::time_t later = std::time(nullptr) + 120;
  std::tm tm{};
  gmtime_r(&later, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  ScriptedHttpServer server(
      {{ScriptedHttpServer::answer(429, "{}", "Retry-After: 7\r\n"), true},
       {ScriptedHttpServer::answer(503, "{}", std::string("Retry-After: ") + date + "\r\n"), true}});
  auto transport = plain();
  auto seconds = transport->post(plain_request(server.url()));
  ASSERT_TRUE(seconds.ok()) << seconds.error().message();
  EXPECT_EQ(seconds->status, 429);
  EXPECT_EQ(seconds->retry_after_s, 7);
  auto dated = transport->post(plain_request(server.url()));
  ASSERT_TRUE(dated.ok()) << dated.error().message();
  EXPECT_EQ(dated->status, 503);
  EXPECT_GE(dated->retry_after_s, 110) << date;
  EXPECT_LE(dated->retry_after_s, 120) << date;
}

TEST(PlainTransport, ConnectionRefusedIsUnreachableSayingSo) {
  int port = free_port();
  Request request = plain_request("http://127.0.0.1:" + std::to_string(port));
  auto r = plain()->post(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::unreachable);
  EXPECT_EQ(r.error().message(),
            "POST " + request.url + ": connection refused by 127.0.0.1 port " + std::to_string(port));
  auto unknown = plain()->post(plain_request("http://turso-sync-test.invalid:8080"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind(), ErrorKind::unreachable);
  EXPECT_TRUE(contains(unknown.error().message(), "cannot resolve the host name turso-sync-test.invalid"))
      << unknown.error().message();
}

// A listener whose backlog is full takes no more connections (the SYN goes unanswered): the connect
// timeout ends the wait, with libcurl's words, and a terminal is told what is awaited meanwhile.
TEST(PlainTransport, NoConnectionWithinTheConnectTimeout) {
  int port = 0;
  int listener = listen_on_free_port(&port, 0);
  int filler = connect_loopback(port);
  ASSERT_GE(filler, 0);
  Request request = plain_request("http://127.0.0.1:" + std::to_string(port));
  std::vector<Waiting> waits;
  request.on_wait = [&](const Waiting& w) { waits.push_back(w); };
  auto start = PlainClock::now();
  auto r = plain(TransportOptions{.connect_timeout_ms = 2500})->post(request);
  double took = std::chrono::duration<double>(PlainClock::now() - start).count();
  close(filler);
  close(listener);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout);
  EXPECT_EQ(r.error().message(),
            "POST " + request.url + ": timed out: no connection to the server at http://127.0.0.1:" +
                std::to_string(port) + " within 2.5 s (is it running, and are the host and port right?)");
  EXPECT_GE(took, 2.4);
  EXPECT_LT(took, 10.0);
  ASSERT_FALSE(waits.empty());
  EXPECT_EQ(waits[0].stage, Waiting::Stage::connecting);
  EXPECT_GE(waits[0].waited_ms, 1000);
  EXPECT_EQ(waits[0].server, "http://127.0.0.1:" + std::to_string(port));
}

// Silence is timed from the connection: nothing at all (with a progress report meanwhile), then an answer
// that stops half way.
TEST(PlainTransport, SilenceTimeoutBeforeAndDuringTheAnswer) {
  const std::string raw = FakeHttpServer::response(200, std::string(1000, 'x'));
  FakeHttpServer silent(raw, {.stall_after = 0});
  Request request = plain_request(silent.url());
  request.timeout_ms = 2000;
  std::vector<Waiting> waits;
  request.on_wait = [&](const Waiting& w) { waits.push_back(w); };
  auto r = plain()->post(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout);
  EXPECT_EQ(r.error().message(), "POST " + request.url + ": timed out: the server at " + silent.url() +
                                     " accepted the connection but did not answer within 2 s");
  ASSERT_FALSE(waits.empty());
  EXPECT_EQ(waits[0].stage, Waiting::Stage::answer);
  EXPECT_GE(waits[0].waited_ms, 1000);

  FakeHttpServer stalled(raw, {.stall_after = raw.size() - 100});
  request = plain_request(stalled.url());
  request.timeout_ms = 1000;
  auto s = plain()->post(request);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::timeout);
  EXPECT_EQ(
      s.error().message(),
      fmt::format("POST {}: timed out: the server at {} stopped sending its answer: nothing arrived for 1 s "
                  "(after {} bytes)",
                  request.url, stalled.url(), raw.size() - 100));
}

// The whole-request limit (status's check) holds even while bytes keep coming.
TEST(PlainTransport, TotalTimeoutEndsAnAnswerThatKeepsComing) {
  FakeHttpServer slow(FakeHttpServer::response(200, std::string(4000, 'x')), {.chunk = 10, .gap_ms = 50});
  Request request = plain_request(slow.url());
  request.timeout_ms = 1500;
  request.total_timeout_ms = 1500;
  auto r = plain()->post(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout);
  EXPECT_EQ(r.error().message(), "POST " + request.url + ": timed out: the server at " + slow.url() +
                                     " did not answer within 1.5 s");
}

TEST(PlainTransport, AnAnswerThatIsNotHttpIsNotATursoServer) {
  FakeHttpServer ssh("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
  Request request = plain_request(ssh.url());
  auto r = plain()->post(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::server);
  EXPECT_TRUE(
      contains(r.error().message(), "POST " + request.url + ": the server at " + ssh.url() +
                                        " did not answer as a Turso server does (its answer is not HTTP)"))
      << r.error().message();
  EXPECT_TRUE(contains(r.error().detail(), "no HTTP/1.x status line")) << r.error().detail();
  EXPECT_TRUE(contains(r.error().detail(), "SSH-2.0-OpenSSH_9.2p1")) << r.error().detail();
}

// Interrupted (Ctrl-C) while waiting for the answer: told at the first progress report, the request ends
// within a slice of 100 ms.
TEST(PlainTransport, CancellationEndsAWait) {
  FakeHttpServer silent(FakeHttpServer::response(200, "{}"), {.stall_after = 0});
  Request request = plain_request(silent.url());
  request.timeout_ms = 60000;
  PlainClock::time_point cancelled_at;
  request.on_wait = [&](const Waiting&) {
    cancelled_at = PlainClock::now();
    request_cancel();
  };
  auto r = plain()->post(request);
  auto ended = PlainClock::now();
  reset_cancel();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::cancelled);
  EXPECT_EQ(r.error().message(), "POST " + request.url + ": interrupted");
  EXPECT_LT(std::chrono::duration<double>(ended - cancelled_at).count(), 1.0);
}

// on_data's error ends the transfer and is returned; an answer other than 200 is collected, not streamed.
TEST(PlainTransport, StreamingHandsOnlyA200OnAndStopsOnItsError) {
  ScriptedHttpServer server({{ScriptedHttpServer::answer(404, "Not Found"), true},
                             {ScriptedHttpServer::answer(200, std::string(1 << 20, 'p')), true}});
  auto transport = plain();
  int calls = 0;
  auto not_found = transport->post_streaming(plain_request(server.url()), [&](std::string_view) -> Status {
    ++calls;
    return {};
  });
  ASSERT_TRUE(not_found.ok()) << not_found.error().message();
  EXPECT_EQ(not_found->status, 404);
  EXPECT_EQ(not_found->body, "Not Found");
  EXPECT_EQ(calls, 0);
  auto stopped = transport->post_streaming(plain_request(server.url()), [&](std::string_view) -> Status {
    ++calls;
    return Error(ErrorKind::io, "disk full");
  });
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().kind(), ErrorKind::io);
  EXPECT_EQ(stopped.error().message(), "disk full");
  EXPECT_EQ(calls, 1);
  // The connection, left in the middle of an answer, is not used again.
  ASSERT_TRUE(transport->post(plain_request(server.url())).ok());
  EXPECT_EQ(server.connections(), 2);
}

// preconnect() makes the connection at once (the server has it before any request), and the next request
// goes over it; against the real server too, which serves one connection at a time.
TEST(PlainTransport, PreconnectThenARequestOnThatConnection) {
  ScriptedHttpServer server({{ScriptedHttpServer::answer(200, "{}"), true}});
  auto transport = plain();
  transport->preconnect(server.url() + "/v2/pipeline");
  ASSERT_TRUE(server.wait_for_connections(1));
  EXPECT_TRUE(server.requests().empty());
  transport->preconnect(server.url());  // already connected: nothing more
  ASSERT_TRUE(transport->post(plain_request(server.url())).ok());
  auto got = server.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].connection, 1);
  EXPECT_EQ(server.connections(), 1);

  // A preconnect that found nobody listening: the request connects afresh and says what went wrong.
  int port = free_port();
  auto lonely = plain();
  lonely->preconnect("http://127.0.0.1:" + std::to_string(port));
  auto refused = lonely->post(plain_request("http://127.0.0.1:" + std::to_string(port)));
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(
      contains(refused.error().message(), "connection refused by 127.0.0.1 port " + std::to_string(port)))
      << refused.error().message();

  LocalServer real;
  ASSERT_TRUE(real.started());
  Config config;
  config.database_url = real.url();
  auto client = RemoteClient::create(config);
  ASSERT_TRUE(client.ok()) << client.error().message();
  for (int i = 0; i < 3; ++i) {
    (*client)->preconnect();
    auto one = (*client)->execute(SqlStatement{"SELECT 1", {}}, Retry::safe);
    ASSERT_TRUE(one.ok()) << one.error().message();
    EXPECT_EQ(one->rows.at(0).at(0), Value::integer(1));
  }
}

// make_transport: the plain transport for http:// (it preconnects, libcurl does not), libcurl when the
// environment names a proxy (the request then reaches the proxy in absolute form).
TEST(PlainTransport, MakeTransportUsesLibcurlForAProxy) {
  ScriptedHttpServer direct({{ScriptedHttpServer::answer(200, "{}"), true}});
  auto endpoint = parse_database_url(direct.url());
  ASSERT_TRUE(endpoint.ok());
  auto transport = make_transport(TransportOptions{}, *endpoint);
  transport->preconnect(direct.url());
  EXPECT_TRUE(direct.wait_for_connections(1)) << "not the plain transport";

  ScriptedHttpServer proxy({{ScriptedHttpServer::answer(200, "{}"), false}});
  ASSERT_EQ(setenv("http_proxy", proxy.url().c_str(), 1), 0);
  auto proxied = make_transport(TransportOptions{}, *endpoint);
  auto r = proxied->post(plain_request(direct.url()));
  unsetenv("http_proxy");
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto got = proxy.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].head.rfind("POST " + direct.url() + "/v2/pipeline HTTP/1.1\r\n", 0), 0u) << got[0].head;
}

// libcurl is loaded only for https://: with a broken libcurl.so.4 first on the library path, an http://
// command works (the CLI does not need libcurl to start) and an https:// one is a configuration error
// saying what to install.
TEST(PlainTransport, HttpsWithoutAUsableLibcurlIsAConfigErrorSayingWhatToInstall) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  TempDir libs;
  write_text(libs.file("libcurl.so.4"), "not a library");
  const std::string library_path = "LD_LIBRARY_PATH=" + libs.path().string();
  TempDir dir;
  auto http = run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url(), library_path}, dir.path());
  EXPECT_EQ(http.exit_code, 0) << http.err;
  TempDir other;
  std::string https = "https://127.0.0.1:" + std::to_string(server.port());
  auto r = run_cli({"-v", "init"}, {"TURSO_DATABASE_URL=" + https, library_path}, other.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "https:// needs libcurl (libcurl.so.4)")) << r.err;
  EXPECT_TRUE(contains(r.err, "install the libcurl4 package")) << r.err;
  EXPECT_TRUE(contains(r.err, "detail: " + libs.file("libcurl.so.4"))) << r.err;
}

}  // namespace
}  // namespace turso_sync::testing
