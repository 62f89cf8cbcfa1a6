// RemoteClient over an injected HttpTransport (STYLE §8): retries, HTTP status interpretation, the request it
// sends, and the refusal to send a token over plain http. No network.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "turso_sync/config.h"
#include "turso_sync/remote.h"

namespace turso_sync {
namespace {

using Response = HttpTransport::Response;

// A transport that answers from a script and records every request. The script's last answer repeats.
class FakeTransport : public HttpTransport {
 public:
  struct State {
    std::deque<Result<Response>> script;
    std::vector<Request> requests;
  };

  explicit FakeTransport(std::shared_ptr<State> state) : m_state(std::move(state)) {}

  Result<Response> post(const Request& request) override {
    m_state->requests.push_back(request);
    if (m_state->script.empty()) return Error(ErrorKind::internal, "fake transport: no answer scripted");
    Result<Response> answer = m_state->script.front();
    if (m_state->script.size() > 1) m_state->script.pop_front();
    return answer;
  }

 private:
  std::shared_ptr<State> m_state;
};

Response http(long status, std::string body = "") {
  return Response{status, std::move(body), "application/json"};
}

const std::string kSelectOneAnswer =
    R"({"baton":null,"base_url":null,"results":[{"type":"ok","response":{"type":"execute","result":{"cols":)"
    R"([{"name":"1","decltype":null}],"rows":[[{"type":"integer","value":"1"}]],"affected_row_count":0,)"
    R"("last_insert_rowid":null,"replication_index":null,"rows_read":1,"rows_written":0,"query_duration_ms":0.01}}}]})";

const std::string kBatchAnswer =
    R"({"baton":null,"base_url":null,"results":[{"type":"ok","response":{"type":"batch","result":{"step_results":)"
    R"([{"cols":[],"rows":[]},null],"step_errors":[null,{"message":"boom","code":"X"}]}}}]})";

Config remote_config(std::string url, std::string token = "secret-token") {
  Config config;
  config.database_url = std::move(url);
  config.auth_token = std::move(token);
  config.request_timeout_ms = 4321;
  return config;
}

constexpr RemoteOptions kFastRetries{.max_retries = 2, .initial_backoff_ms = 1};

class RemoteClientTest : public ::testing::Test {
 protected:
  // Creates a client for `config` whose transport answers with `script`.
  std::unique_ptr<RemoteClient> make_client(std::vector<Result<Response>> script,
                                            const Config& config = remote_config("libsql://app-org.turso.io"),
                                            RemoteOptions options = kFastRetries) {
    state = std::make_shared<FakeTransport::State>();
    for (auto& answer : script) state->script.push_back(std::move(answer));
    auto client = RemoteClient::create(config, std::make_unique<FakeTransport>(state), options);
    EXPECT_TRUE(client.ok()) << client.error().message();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  size_t attempts() const { return state->requests.size(); }

  std::shared_ptr<FakeTransport::State> state;
};

SqlStatement select_one() {
  return SqlStatement{"SELECT 1", {}};
}

// ---------------------------------------------------------------------------------------------------------------
// Retries

TEST_F(RemoteClientTest, SafeRetriesUnreachableUpToMaxRetries) {
  auto client =
      make_client({Error(ErrorKind::unreachable, "connect to app-org.turso.io: connection refused")});
  ASSERT_TRUE(client);
  auto r = client->execute(select_one(), Retry::safe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::unreachable);
  EXPECT_NE(r.error().message().find("connection refused"), std::string::npos) << r.error().message();
  EXPECT_EQ(attempts(), 3u);  // the first try and max_retries = 2 retries
}

// A server that has answered this client before and then lets a read time out is asked again (a momentary
// stall of a server that works).
TEST_F(RemoteClientTest, SafeRetriesTimeoutOfAServerThatAnsweredUpToMaxRetries) {
  auto client = make_client({http(200, kSelectOneAnswer), Error(ErrorKind::timeout, "timed out")});
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->execute(select_one(), Retry::safe).ok());
  auto r = client->execute(select_one(), Retry::safe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout);
  EXPECT_EQ(attempts(), 1u + 3u);
  EXPECT_FALSE(client->server_silent());
}

// Issue 21: a server that accepts connections and never answers cost three full waits per read (362 s for a
// pull). A timeout before the server ever answered is not retried, and the client remembers the server as
// silent (the page path then goes to the SQL path without a second page request).
TEST_F(RemoteClientTest, TimeoutOfAServerThatNeverAnsweredIsNotRetried) {
  auto client = make_client({Error(ErrorKind::timeout, "timed out")});
  ASSERT_TRUE(client);
  EXPECT_FALSE(client->server_silent());
  auto r = client->execute(select_one(), Retry::safe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout);
  EXPECT_EQ(attempts(), 1u);
  EXPECT_TRUE(client->server_silent());
}

// Bytes that are not HTTP (the transport's ErrorKind::server: "Received HTTP/0.9") come back the same when
// asked again.
TEST_F(RemoteClientTest, AnAnswerThatIsNotHttpIsNotRetried) {
  auto client = make_client({Error(ErrorKind::server, "not HTTP"), http(200, kSelectOneAnswer)});
  ASSERT_TRUE(client);
  auto r = client->execute(select_one(), Retry::safe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::server);
  EXPECT_EQ(attempts(), 1u);
}

TEST_F(RemoteClientTest, SafeRetriesServerErrorsUpToMaxRetries) {
  for (long status : {500L, 502L, 503L, 504L}) {
    auto client = make_client({http(status, "upstream unavailable")});
    ASSERT_TRUE(client);
    auto r = client->execute(select_one(), Retry::safe);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::server);
    EXPECT_NE(r.error().message().find("HTTP " + std::to_string(status)), std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find("https://app-org.turso.io/v2/pipeline"), std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find("upstream unavailable"), std::string::npos) << r.error().message();
    EXPECT_EQ(attempts(), 3u) << status;
  }
}

TEST_F(RemoteClientTest, SafeRetrySucceedsAfterTransientFailures) {
  auto client = make_client({Error(ErrorKind::unreachable, "reset"), http(503), http(200, kSelectOneAnswer)});
  ASSERT_TRUE(client);
  auto r = client->execute(select_one(), Retry::safe);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->rows.at(0).at(0), Value::integer(1));
  EXPECT_EQ(attempts(), 3u);
  // Every attempt sends the same request.
  for (const auto& request : state->requests) EXPECT_EQ(request.body, state->requests[0].body);
}

TEST_F(RemoteClientTest, MaxRetriesZeroMeansOneAttempt) {
  auto client = make_client({http(503)}, remote_config("libsql://app-org.turso.io"),
                            RemoteOptions{.max_retries = 0, .initial_backoff_ms = 1});
  ASSERT_TRUE(client);
  EXPECT_FALSE(client->execute(select_one(), Retry::safe).ok());
  EXPECT_EQ(attempts(), 1u);
}

TEST_F(RemoteClientTest, UnsafeNeverRetries) {
  for (auto answer : {Result<Response>(Error(ErrorKind::unreachable, "reset")),
                      Result<Response>(Error(ErrorKind::timeout, "timed out")), Result<Response>(http(503)),
                      Result<Response>(http(500))}) {
    auto client = make_client({answer, http(200, kSelectOneAnswer)});
    ASSERT_TRUE(client);
    auto r = client->execute(select_one(), Retry::unsafe);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(attempts(), 1u) << r.error().message();
  }
}

TEST_F(RemoteClientTest, UnsafeBatchNeverRetries) {
  auto client = make_client({Error(ErrorKind::timeout, "timed out"), http(200, kBatchAnswer)});
  ASSERT_TRUE(client);
  std::vector<BatchStep> steps = {{{"BEGIN IMMEDIATE", {}}, std::nullopt},
                                  {{"COMMIT", {}}, BatchCondition::ok(0)}};
  auto r = client->batch(steps, Retry::unsafe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout);
  EXPECT_EQ(attempts(), 1u);
}

// Client errors will not go away by asking again (RemoteOptions: retries on unreachable/timeout/5xx only).
TEST_F(RemoteClientTest, ClientErrorsAreNotRetried) {
  for (long status : {400L, 401L, 403L, 404L, 405L, 413L}) {
    auto client = make_client({http(status), http(200, kSelectOneAnswer)});
    ASSERT_TRUE(client);
    auto r = client->execute(select_one(), Retry::safe);
    ASSERT_FALSE(r.ok()) << status;
    EXPECT_EQ(attempts(), 1u) << "HTTP " << status << " was retried";
  }
}

TEST_F(RemoteClientTest, OtherTransportErrorsAreNotRetried) {
  auto client =
      make_client({Error(ErrorKind::protocol, "answer larger than 256 MiB"), http(200, kSelectOneAnswer)});
  ASSERT_TRUE(client);
  auto r = client->execute(select_one(), Retry::safe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::protocol);
  EXPECT_EQ(attempts(), 1u);
}

TEST_F(RemoteClientTest, BackoffIsShortWithShortInitialBackoff) {
  auto client = make_client({http(503)});
  ASSERT_TRUE(client);
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(client->execute(select_one(), Retry::safe).ok());
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(attempts(), 3u);
  EXPECT_LT(elapsed, std::chrono::milliseconds(500));
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP status interpretation

TEST_F(RemoteClientTest, UnauthorizedAndForbiddenAreAuthErrors) {
  for (long status : {401L, 403L}) {
    auto client = make_client({http(status, R"({"error":"Unauthorized"})")});
    ASSERT_TRUE(client);
    auto r = client->execute(select_one(), Retry::safe);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::auth) << status;
    EXPECT_NE(r.error().message().find("authentication failed"), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("TURSO_AUTH_TOKEN"), std::string::npos) << r.error().message();
    // The token itself is never part of a message.
    EXPECT_EQ(r.error().message().find("secret-token"), std::string::npos) << r.error().message();
  }
}

TEST_F(RemoteClientTest, NotFoundPointsAtTheDatabaseUrl) {
  auto client = make_client({http(404, "Not Found")});
  ASSERT_TRUE(client);
  auto r = client->execute(select_one(), Retry::safe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::server);
  EXPECT_NE(r.error().message().find("TURSO_DATABASE_URL"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("404"), std::string::npos) << r.error().message();
}

// Issue 21: JSON of another shape than Hrana's was exit 1 with a parser's message. It is a server that does
// not answer as a Turso server does (ErrorKind::server, exit 4), the parser's words kept in the detail.
TEST_F(RemoteClientTest, JsonOfAnotherShapeWithStatus200IsNotATursoServer) {
  for (const char* body : {"{\"results\":", "{}", " {\"baton\":null}", R"({"baton":null,"results":42})"}) {
    for (Retry retry : {Retry::safe, Retry::unsafe}) {
      auto client = make_client({http(200, body)});
      ASSERT_TRUE(client);
      auto r = client->execute(select_one(), retry);
      ASSERT_FALSE(r.ok()) << body;
      EXPECT_EQ(r.error().kind(), ErrorKind::server) << body << ": " << r.error().message();
      EXPECT_NE(r.error().message().find("the server at https://app-org.turso.io did not answer as a Turso "
                                         "server does"),
                std::string::npos)
          << r.error().message();
      EXPECT_NE(r.error().detail().find("unexpected answer from the server"), std::string::npos)
          << body << ": " << r.error().detail();
      EXPECT_EQ(attempts(), 1u);
    }
  }
}

// Another web server at the URL answers 200 with a page: exit 4 (ErrorKind::server) and a message saying
// the server is not a Turso server, not a JSON parser's complaint; the page's first bytes in the detail;
// not asked again.
TEST_F(RemoteClientTest, NonJsonAnswerWithStatus200IsNotATursoServer) {
  for (const char* body : {"", "<!DOCTYPE html><html>Welcome to nginx!</html>", "OK", "[1]"}) {
    auto client = make_client({http(200, body)});
    ASSERT_TRUE(client);
    auto r = client->execute(select_one(), Retry::safe);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().kind(), ErrorKind::server) << body << ": " << r.error().message();
    EXPECT_NE(r.error().message().find("did not answer as a Turso server does"), std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find("TURSO_DATABASE_URL"), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().detail().find("the answer begins with"), std::string::npos) << r.error().detail();
    EXPECT_EQ(attempts(), 1u);
  }
}

TEST_F(RemoteClientTest, ServerErrorBodyInMessageIsPrintable) {
  auto client = make_client({http(500, std::string("bad\0\x1b[31mred\n", 13))}, remote_config("libsql://h"),
                            RemoteOptions{.max_retries = 0, .initial_backoff_ms = 1});
  ASSERT_TRUE(client);
  auto r = client->execute(select_one(), Retry::safe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message().find('\x1b'), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find('\0'), std::string::npos);
}

TEST_F(RemoteClientTest, SqlErrorFromTheServer) {
  auto client = make_client({http(200, R"({"baton":null,"base_url":null,"results":[{"type":"error","error":)"
                                       R"({"message":"no such table: t","code":"SQLITE_ERROR"}}]})")});
  ASSERT_TRUE(client);
  auto r = client->execute(SqlStatement{"SELECT * FROM t", {}}, Retry::safe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::sql);
  EXPECT_NE(r.error().message().find("no such table: t"), std::string::npos) << r.error().message();
  EXPECT_EQ(attempts(), 1u);  // a statement the server rejected is not sent again
}

// ---------------------------------------------------------------------------------------------------------------
// The request

// Issue 21: the wait fits what was asked. A read may find the server silent for the read timeout, a write
// (the server runs it before answering) for the request timeout, status's check gets a few seconds for the
// whole request; a small request timeout bounds them all.
TEST_F(RemoteClientTest, TimeoutsFitWhatWasAsked) {
  Config config = remote_config("libsql://app-org.turso.io");
  config.request_timeout_ms = 120000;
  auto client =
      make_client({http(200, kSelectOneAnswer)}, config,
                  RemoteOptions{.max_retries = 0, .read_timeout_ms = 10000, .check_timeout_ms = 4000});
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->execute(select_one(), Retry::safe).ok());
  ASSERT_TRUE(client->execute(select_one(), Retry::unsafe).ok());
  ASSERT_TRUE(client->ping().ok());
  ASSERT_EQ(attempts(), 3u);
  EXPECT_EQ(state->requests[0].timeout_ms, 10000);
  EXPECT_EQ(state->requests[0].total_timeout_ms, 0);
  EXPECT_EQ(state->requests[1].timeout_ms, 120000);
  EXPECT_EQ(state->requests[1].total_timeout_ms, 0);
  EXPECT_EQ(state->requests[2].total_timeout_ms, 4000);

  config.request_timeout_ms = 500;
  client = make_client({http(200, kSelectOneAnswer)}, config,
                       RemoteOptions{.max_retries = 0, .read_timeout_ms = 10000, .check_timeout_ms = 4000});
  ASSERT_TRUE(client->execute(select_one(), Retry::safe).ok());
  ASSERT_TRUE(client->ping().ok());
  EXPECT_EQ(state->requests[0].timeout_ms, 500);
  EXPECT_EQ(state->requests[1].total_timeout_ms, 500);
}

// The configured read timeout reaches the client (TURSO_SYNC_READ_TIMEOUT_MS).
TEST_F(RemoteClientTest, ReadTimeoutComesFromTheConfig) {
  Config config = remote_config("libsql://app-org.turso.io");
  config.request_timeout_ms = 120000;
  config.read_timeout_ms = 2500;
  state = std::make_shared<FakeTransport::State>();
  state->script.push_back(http(200, kSelectOneAnswer));
  auto client = RemoteClient::create(config, std::make_unique<FakeTransport>(state));
  ASSERT_TRUE(client.ok()) << client.error().message();
  ASSERT_TRUE((*client)->execute(select_one(), Retry::safe).ok());
  EXPECT_EQ(state->requests.at(0).timeout_ms, 2500);
}

TEST_F(RemoteClientTest, RequestCarriesUrlTokenTimeoutAndPipeline) {
  auto client = make_client({http(200, kSelectOneAnswer)});
  ASSERT_TRUE(client);
  EXPECT_EQ(client->endpoint().base_url, "https://app-org.turso.io");
  auto r = client->execute(SqlStatement{"SELECT ?", {Value::integer(1)}}, Retry::safe);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(attempts(), 1u);
  const auto& request = state->requests[0];
  EXPECT_EQ(request.url, "https://app-org.turso.io/v2/pipeline");
  EXPECT_EQ(request.bearer_token, "secret-token");
  EXPECT_EQ(request.content_type, "application/json");
  EXPECT_EQ(request.timeout_ms, 4321);
  EXPECT_EQ(request.total_timeout_ms, 0);

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(request.body).get(root), simdjson::SUCCESS) << request.body;
  std::string_view type, sql, arg;
  ASSERT_EQ(root.at_pointer("/requests/0/type").get(type), simdjson::SUCCESS);
  ASSERT_EQ(root.at_pointer("/requests/0/stmt/sql").get(sql), simdjson::SUCCESS);
  ASSERT_EQ(root.at_pointer("/requests/0/stmt/args/0/value").get(arg), simdjson::SUCCESS);
  EXPECT_EQ(type, "execute");
  EXPECT_EQ(sql, "SELECT ?");
  EXPECT_EQ(arg, "1");
}

TEST_F(RemoteClientTest, BaseUrlPathIsKept) {
  auto client = make_client({http(200, kSelectOneAnswer)}, remote_config("https://proxy.example.com/db/"));
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->execute(select_one(), Retry::safe).ok());
  EXPECT_EQ(state->requests.at(0).url, "https://proxy.example.com/db/v2/pipeline");
}

TEST_F(RemoteClientTest, NoTokenSendsNoBearer) {
  auto client = make_client({http(200, kSelectOneAnswer)}, remote_config("http://127.0.0.1:8080", ""));
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->execute(select_one(), Retry::safe).ok());
  EXPECT_EQ(state->requests.at(0).url, "http://127.0.0.1:8080/v2/pipeline");
  EXPECT_TRUE(state->requests.at(0).bearer_token.empty());
}

TEST_F(RemoteClientTest, SeveralStatementsInOneRequest) {
  std::string answer =
      R"({"baton":null,"base_url":null,"results":[)"
      R"({"type":"ok","response":{"type":"execute","result":{"cols":[],"rows":[[{"type":"integer","value":"1"}]]}}},)"
      R"({"type":"ok","response":{"type":"execute","result":{"cols":[],"rows":[[{"type":"text","value":"two"}]]}}}]})";
  auto client = make_client({http(200, answer)});
  ASSERT_TRUE(client);
  std::vector<SqlStatement> stmts = {{"SELECT 1", {}}, {"SELECT 'two'", {}}};
  auto r = client->execute(stmts, Retry::safe);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(r->at(1).rows.at(0).at(0), Value::text("two"));
  EXPECT_EQ(attempts(), 1u);
}

TEST_F(RemoteClientTest, QueryRowsStreamsAndReportsResponseSize) {
  auto client = make_client({http(200, kSelectOneAnswer)});
  ASSERT_TRUE(client);
  int rows = 0;
  size_t bytes = 0;
  Status st = client->query_rows(
      select_one(), Retry::safe,
      [&](std::span<const Value> row) -> Status {
        ++rows;
        EXPECT_EQ(row.size(), 1u);
        return {};
      },
      &bytes);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(rows, 1);
  EXPECT_EQ(bytes, kSelectOneAnswer.size());
}

TEST_F(RemoteClientTest, BatchSendsOneBatchRequest) {
  auto client = make_client({http(200, kBatchAnswer)});
  ASSERT_TRUE(client);
  std::vector<BatchStep> steps = {{{"BEGIN IMMEDIATE", {}}, std::nullopt},
                                  {{"COMMIT", {}}, BatchCondition::ok(0)}};
  auto r = client->batch(steps, Retry::safe);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_TRUE(r->at(0).result.has_value());
  ASSERT_TRUE(r->at(1).error.has_value());
  EXPECT_NE(r->at(1).error->find("boom"), std::string::npos);

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(state->requests.at(0).body).get(root), simdjson::SUCCESS);
  std::string_view type;
  ASSERT_EQ(root.at_pointer("/requests/0/type").get(type), simdjson::SUCCESS);
  EXPECT_EQ(type, "batch");
  EXPECT_EQ(state->requests.at(0).url, "https://app-org.turso.io/v2/pipeline");
}

TEST_F(RemoteClientTest, UnencodableStatementIsNotSent) {
  auto client = make_client({http(200, kSelectOneAnswer)});
  ASSERT_TRUE(client);
  auto r = client->execute(SqlStatement{"SELECT ?", {Value::text("\xff")}}, Retry::safe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::usage);
  EXPECT_EQ(attempts(), 0u);
}

// ---------------------------------------------------------------------------------------------------------------
// ping

TEST_F(RemoteClientTest, PingReturnsADuration) {
  auto client = make_client({http(200, kSelectOneAnswer)});
  ASSERT_TRUE(client);
  auto r = client->ping();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_GE(r->count(), 0);
  EXPECT_LT(*r, std::chrono::seconds(5));
  ASSERT_EQ(attempts(), 1u);
  EXPECT_NE(state->requests[0].body.find("SELECT 1"), std::string::npos) << state->requests[0].body;
}

TEST_F(RemoteClientTest, PingRejectsAWrongAnswer) {
  std::string answer =
      R"({"baton":null,"base_url":null,"results":[{"type":"ok","response":{"type":"execute","result":{"cols":)"
      R"([{"name":"1"}],"rows":[[{"type":"integer","value":"2"}]]}}}]})";
  auto client = make_client({http(200, answer)});
  ASSERT_TRUE(client);
  auto r = client->ping();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::protocol);
}

TEST_F(RemoteClientTest, PingReportsAuthFailure) {
  auto client = make_client({http(401)});
  ASSERT_TRUE(client);
  auto r = client->ping();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::auth);
}

// ---------------------------------------------------------------------------------------------------------------
// create(): configuration checks

Error create_error(const Config& config) {
  auto state = std::make_shared<FakeTransport::State>();
  auto client = RemoteClient::create(config, std::make_unique<FakeTransport>(state), kFastRetries);
  EXPECT_FALSE(client.ok()) << config.database_url;
  EXPECT_TRUE(state->requests.empty());
  return client.ok() ? Error(ErrorKind::internal, "created") : client.error();
}

bool can_create(const Config& config) {
  auto client =
      RemoteClient::create(config, std::make_unique<FakeTransport>(std::make_shared<FakeTransport::State>()));
  EXPECT_TRUE(client.ok()) << config.database_url << ": " << client.error().message();
  return client.ok();
}

TEST(RemoteClientCreate, RefusesTokenOverPlainHttpToANonLoopbackHost) {
  Error e = create_error(remote_config("http://turso.invalid:8080"));
  EXPECT_EQ(e.kind(), ErrorKind::config);
  EXPECT_NE(e.message().find("turso.invalid"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("--allow-insecure-http"), std::string::npos) << e.message();
  EXPECT_EQ(e.message().find("secret-token"), std::string::npos) << e.message();

  EXPECT_EQ(create_error(remote_config("libsql://turso.invalid:8080?tls=0")).kind(), ErrorKind::config);
  EXPECT_EQ(create_error(remote_config("ws://turso.invalid:8080")).kind(), ErrorKind::config);
  EXPECT_EQ(create_error(remote_config("http://10.1.2.3:8080")).kind(), ErrorKind::config);
  EXPECT_EQ(create_error(remote_config("http://127.0.0.1.nip.io:8080")).kind(), ErrorKind::config);
}

TEST(RemoteClientCreate, AllowInsecureHttpPermitsIt) {
  Config config = remote_config("http://turso.invalid:8080");
  config.allow_insecure_http = true;
  EXPECT_TRUE(can_create(config));
}

TEST(RemoteClientCreate, PlainHttpWithoutATokenIsFine) {
  EXPECT_TRUE(can_create(remote_config("http://turso.invalid:8080", "")));
}

TEST(RemoteClientCreate, TokenOverHttpToLoopbackIsFine) {
  EXPECT_TRUE(can_create(remote_config("http://127.0.0.1:8080")));
  EXPECT_TRUE(can_create(remote_config("http://127.0.0.5:8080")));
  EXPECT_TRUE(can_create(remote_config("http://localhost:8080")));
  EXPECT_TRUE(can_create(remote_config("http://[::1]:8080")));
  EXPECT_TRUE(can_create(remote_config("libsql://127.0.0.1:8080?tls=0")));
}

TEST(RemoteClientCreate, TokenOverHttpsIsFine) {
  EXPECT_TRUE(can_create(remote_config("libsql://app-org.turso.io")));
  EXPECT_TRUE(can_create(remote_config("https://app-org.turso.io")));
}

TEST(RemoteClientCreate, MissingUrlIsAConfigError) {
  Error e = create_error(remote_config(""));
  EXPECT_EQ(e.kind(), ErrorKind::config);
  EXPECT_NE(e.message().find("TURSO_DATABASE_URL"), std::string::npos) << e.message();
}

TEST(RemoteClientCreate, BadUrlIsAConfigError) {
  for (const char* url : {"ftp://host", "app-org.turso.io", "libsql://host?tls=0", "https://host:0"}) {
    Error e = create_error(remote_config(url));
    EXPECT_EQ(e.kind(), ErrorKind::config) << url << ": " << e.message();
  }
}

}  // namespace
}  // namespace turso_sync
