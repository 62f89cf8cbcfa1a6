#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <thread>

#include "remote/hrana.h"
#include "remote/remote_errors.h"
#include "turso_sync/cancel.h"
#include "turso_sync/remote.h"
#include "util/large_store.h"
#include "util/text.h"

namespace turso_sync {

namespace {

std::string body_excerpt(const std::string& body) {
  std::string s = printable(body.substr(0, 300));
  return s.empty() ? "(empty body)" : s;
}

Error http_status_error(const std::string& url, const HttpTransport::Response& r) {
  if (r.status == 401 || r.status == 403)
    return Error(ErrorKind::auth, fmt::format("{}: authentication failed (HTTP {}): check TURSO_AUTH_TOKEN "
                                              "(create a token with `turso db tokens create <database>`)",
                                              url, r.status));
  if (r.status == 404)
    return Error(ErrorKind::server,
                 fmt::format("{}: HTTP 404: no Turso database at this URL; check TURSO_DATABASE_URL", url));
  if (r.status == 429)
    return Error(
        ErrorKind::server,
        fmt::format("{}: HTTP 429: the server is rate limiting this client{}", url,
                    r.retry_after_s > 0 ? fmt::format(" (Retry-After: {} s)", r.retry_after_s) : ""));
  if (r.status == 413)
    return Error(ErrorKind::server, fmt::format("{}: HTTP 413: request larger than the server accepts", url));
  return Error(ErrorKind::server, fmt::format("{}: HTTP {}: {}", url, r.status, body_excerpt(r.body)));
}

// A 200 answer to a JSON request whose body is not a JSON object: another web server (a web site, a captive
// portal, a proxy's page) answers at this URL, not a Turso database. Said as such, not as a parser error.
std::optional<Error> not_a_turso_answer(const std::string& url, const HttpTransport::Response& r) {
  auto first = r.body.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && r.body[first] == '{') return std::nullopt;
  return not_a_turso_server(url,
                            fmt::format("HTTP 200 with {} instead of a Hrana JSON answer",
                                        r.content_type.empty() ? "no content type" : r.content_type),
                            "the answer begins with " + body_excerpt(r.body.substr(0, 80)));
}

// The longest Retry-After a command waits for; a longer one fails the request (the workflow retries later).
constexpr int64_t kMaxRetryAfterSeconds = 30;

// An answer that does not decode names where it came from, as transport and HTTP errors do. JSON of
// another shape than Hrana's is a server that is not a Turso server (exit 4), the parser's words kept for
// -v; a Hrana answer the client cannot use (a REAL that JSON cannot carry) stays a protocol error.
Error from_url(Error e, const std::string& url) {
  if (hrana::is_malformed_answer(e)) return not_a_turso_server(url, "", e.message());
  return e.kind() == ErrorKind::protocol ? e.context("POST " + url) : e;
}

template <typename T>
Result<T> from_url(Result<T> r, const std::string& url) {
  if (r.ok()) return r;
  return from_url(std::move(r).error(), url);
}

bool retryable(const Error& e) {
  return e.kind() == ErrorKind::unreachable || e.kind() == ErrorKind::timeout ||
         e.kind() == ErrorKind::server;
}

// libcurl goes through a proxy the environment names for http:// URLs; the plain transport does not.
bool http_proxy_in_environment() {
  for (const char* name : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* value = std::getenv(name);
    if (value && *value) return true;
  }
  return false;
}

}  // namespace

std::unique_ptr<HttpTransport> make_transport(const TransportOptions& options,
                                              const RemoteEndpoint& endpoint) {
  if (!endpoint.tls && !http_proxy_in_environment()) return make_plain_transport(options);
  return make_curl_transport(options);
}

RemoteClient::RemoteClient(RemoteEndpoint endpoint, std::string token,
                           std::unique_ptr<HttpTransport> transport, RemoteOptions options,
                           int request_timeout_ms)
    : m_endpoint(std::move(endpoint)),
      m_token(std::move(token)),
      m_transport(std::move(transport)),
      m_options(options),
      m_request_timeout_ms(request_timeout_ms) {}

Result<std::unique_ptr<RemoteClient>> RemoteClient::create(const Config& config,
                                                           std::unique_ptr<HttpTransport> transport,
                                                           std::optional<RemoteOptions> options) {
  TS_TRY_STATUS(require_remote(config));
  RemoteEndpoint ep = TS_TRY(parse_database_url(config.database_url));
  if (!ep.tls && !ep.loopback && !config.auth_token.empty() && !config.allow_insecure_http)
    return Error(
        ErrorKind::config,
        fmt::format("refusing to send the auth token over plain http to {} (not a loopback host): use "
                    "https:// or libsql://, or pass --allow-insecure-http if the network is trusted",
                    ep.host));
  if (!config.ca_cert.empty() && ::access(config.ca_cert.c_str(), R_OK) != 0)
    return Error(ErrorKind::config,
                 fmt::format("--ca-cert {}: {}; it must name a readable PEM file of the certificate "
                             "authorities to trust (also TURSO_SYNC_CA_CERT or ca_cert in turso-sync.toml)",
                             config.ca_cert, std::strerror(errno)));
  if (!transport) {
    TransportOptions t;
    t.connect_timeout_ms = config.connect_timeout_ms;
    t.ca_cert = config.ca_cert;
    transport = make_transport(t, ep);
  }
  if (!options) {
    options = RemoteOptions{};
    options->initial_backoff_ms = config.retry_backoff_ms;
    options->read_timeout_ms = config.read_timeout_ms;
  }
  return std::make_unique<RemoteClient>(std::move(ep), config.auth_token, std::move(transport), *options,
                                        config.request_timeout_ms);
}

std::unique_ptr<RemoteClient> RemoteClient::another() const {
  auto transport = m_transport->another();
  if (!transport) return nullptr;
  return std::make_unique<RemoteClient>(m_endpoint, m_token, std::move(transport), m_options,
                                        m_request_timeout_ms);
}

void RemoteClient::set_wait_callback(WaitCallback callback) {
  m_on_wait = std::move(callback);
  m_on_wait_thread = std::this_thread::get_id();
}

HttpTransport::Request RemoteClient::request_for(const std::string& path, std::string body,
                                                 const std::string& content_type, Asked asked) {
  HttpTransport::Request req;
  req.url = m_endpoint.base_url + path;
  req.body = std::move(body);
  req.content_type = content_type;
  req.bearer_token = m_token;
  switch (asked) {
    case Asked::check:
      req.timeout_ms = std::min(m_options.check_timeout_ms, m_request_timeout_ms);
      req.total_timeout_ms = req.timeout_ms;
      break;
    case Asked::read:
      req.timeout_ms = std::min(m_options.read_timeout_ms, m_request_timeout_ms);
      break;
    case Asked::write:
      req.timeout_ms = m_request_timeout_ms;
      break;
  }
  // Only the thread that asked is told (a pipelined upload sends from a thread of its own).
  if (m_on_wait && std::this_thread::get_id() == m_on_wait_thread) req.on_wait = m_on_wait;
  return req;
}

void RemoteClient::note_outcome(bool answered, const Error* error) {
  if (answered) m_answered = true;
  m_silent = !m_answered && error && error->kind() == ErrorKind::timeout;
}

Result<HttpTransport::Response> RemoteClient::post(const std::string& path, std::string body,
                                                   const std::string& content_type, Retry retry) {
  return send(
      request_for(path, std::move(body), content_type, retry == Retry::safe ? Asked::read : Asked::write),
      retry);
}

Result<HttpTransport::Response> RemoteClient::post_pipeline(hrana::Encoded body, Retry retry) {
  HttpTransport::Request req = request_for("/v2/pipeline", std::move(body.json), "application/json",
                                           retry == Retry::safe ? Asked::read : Asked::write);
  req.splices = std::move(body.splices);
  return send(std::move(req), retry);
}

Result<HttpTransport::Response> RemoteClient::send(HttpTransport::Request req, Retry retry) {
  int attempts = retry == Retry::safe ? m_options.max_retries + 1 : 1;
  int backoff = m_options.initial_backoff_ms;
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 1;; ++attempt) {
    auto response = m_transport->post(req);
    ++m_stats.requests;
    m_stats.bytes_sent += body_size(req);
    if (response.ok()) m_stats.bytes_received += response->body.size();
    note_outcome(response.ok(), response.ok() ? nullptr : &response.error());
    std::optional<Error> err;
    if (!response.ok()) {
      err = response.error();
      // A server that has not answered anything yet and let this request time out is not asked again: it
      // accepts connections and answers nothing, and each retry would cost the whole wait once more. Nor
      // is one whose bytes were not HTTP at all (ErrorKind::server from the transport): it would send the
      // same bytes again.
      if (m_silent || err->kind() == ErrorKind::server) return *err;
    } else if (response->status != 200) {
      err = http_status_error(req.url, *response);
    } else if (auto not_turso = not_a_turso_answer(req.url, *response)) {
      return *not_turso;  // asking again would get the same page
    } else {
      return response;
    }
    // 429: the server refused the request without running it, so even a push may ask again, after the
    // wait it names (Retry-After, capped) or the backoff.
    if (response.ok() && response->status == 429) {
      if (attempt > m_options.max_retries) return *err;
      int64_t wait_ms = response->retry_after_s > 0
                            ? std::min<int64_t>(response->retry_after_s, kMaxRetryAfterSeconds) * 1000
                            : backoff;
      if (response->retry_after_s > kMaxRetryAfterSeconds)
        return err->context(fmt::format("the server asks to wait {} s (more than {} s)",
                                        response->retry_after_s, kMaxRetryAfterSeconds));
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      backoff *= 2;
      continue;
    }
    // A 4xx answer will not change by asking again; only transport failures and 5xx are retried.
    bool status_below_500 = response.ok() && response->status < 500;
    if (attempt >= attempts || !retryable(*err) || status_below_500) return *err;
    std::uniform_int_distribution<int> jitter(0, backoff / 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff + jitter(rng)));
    backoff *= 2;
  }
}

Result<HttpTransport::Response> HttpTransport::post_streaming(const Request& request, const DataFn& on_data) {
  auto response = TS_TRY(post(request));
  if (response.status == 200) {
    TS_TRY_STATUS(on_data(response.body));
    response.body.clear();
  }
  return response;
}

Result<HttpTransport::Response> RemoteClient::post_streaming(const std::string& path, std::string body,
                                                             const std::string& content_type,
                                                             const HttpTransport::DataFn& on_data) {
  HttpTransport::Request req = request_for(path, std::move(body), content_type, Asked::read);
  for (int attempt = 1;; ++attempt) {
    ++m_stats.requests;
    m_stats.bytes_sent += req.body.size();
    auto streamed = m_transport->post_streaming(req, [&](std::string_view chunk) -> Status {
      m_answered = true;  // a stream cut later is not a silent server
      m_stats.bytes_received += chunk.size();
      return on_data(chunk);
    });
    note_outcome(streamed.ok(), streamed.ok() ? nullptr : &streamed.error());
    auto response = TS_TRY(std::move(streamed));
    m_stats.bytes_received += response.body.size();
    // 429: nothing was streamed (only a 200's body is); ask again after the wait the server names.
    if (response.status == 429 && attempt <= m_options.max_retries &&
        response.retry_after_s <= kMaxRetryAfterSeconds) {
      std::this_thread::sleep_for(std::chrono::milliseconds(
          response.retry_after_s > 0 ? response.retry_after_s * 1000
                                     : m_options.initial_backoff_ms << (attempt - 1)));
      continue;
    }
    if (response.status != 200 && response.status != 404) return http_status_error(req.url, response);
    return response;
  }
}

Result<std::vector<StatementResult>> RemoteClient::execute(std::span<const SqlStatement> statements,
                                                           Retry retry) {
  auto response = TS_TRY(post_pipeline(TS_TRY(hrana::encode_execute_pipeline(statements)), retry));
  return from_url(hrana::decode_execute_pipeline(response.body, statements),
                  m_endpoint.base_url + "/v2/pipeline");
}

Result<StatementResult> RemoteClient::execute(const SqlStatement& statement, Retry retry) {
  auto results = TS_TRY(execute(std::span<const SqlStatement>(&statement, 1), retry));
  return std::move(results.at(0));
}

Status RemoteClient::query_rows(const SqlStatement& statement, Retry retry,
                                const std::function<Status(std::span<const Value>)>& on_row,
                                size_t* response_bytes) {
  auto response = TS_TRY(post_pipeline(
      TS_TRY(hrana::encode_execute_pipeline(std::span<const SqlStatement>(&statement, 1))), retry));
  if (response_bytes) *response_bytes = response.body.size();
  Status decoded = hrana::decode_rows(response.body, statement, on_row);
  if (!decoded.ok()) return from_url(decoded.error(), m_endpoint.base_url + "/v2/pipeline");
  return decoded;
}

Result<std::vector<BatchStepOutcome>> RemoteClient::batch(std::span<const BatchStep> steps, Retry retry) {
  auto response = TS_TRY(post_pipeline(TS_TRY(hrana::encode_batch_pipeline(steps)), retry));
  return from_url(hrana::decode_batch_pipeline(response.body, steps.size()),
                  m_endpoint.base_url + "/v2/pipeline");
}

Result<std::chrono::microseconds> RemoteClient::ping() {
  SqlStatement select_one{"SELECT 1", {}};
  auto statements = std::span<const SqlStatement>(&select_one, 1);
  std::string body = TS_TRY(hrana::encode_execute_pipeline(statements)).json;
  auto start = std::chrono::steady_clock::now();
  auto response = TS_TRY(
      send(request_for("/v2/pipeline", std::move(body), "application/json", Asked::check), Retry::unsafe));
  auto elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  auto results = TS_TRY(from_url(hrana::decode_execute_pipeline(response.body, statements),
                                 m_endpoint.base_url + "/v2/pipeline"));
  const StatementResult& result = results.at(0);
  if (result.rows.size() != 1 || result.rows[0].size() != 1 || result.rows[0][0] != Value::integer(1))
    return Error(ErrorKind::protocol,
                 fmt::format("{}: `SELECT 1` returned something else", m_endpoint.base_url));
  return elapsed;
}

namespace {

// An SQL expression that evaluates to exactly `v` on SQLite and on the Turso server: the integer mantissa
// times powers of two (multiplying or dividing by 2^k is exact in IEEE arithmetic, and so is CAST of an
// integer below 2^53 to REAL). Neither bound JSON floats nor decimal literals are read exactly by tursodb
// 0.6.0 (measured: about 1 in 6 random doubles and k/7.0 values came out one unit in the last place off).
std::string exact_real_expression(double v) {
  if (v == 0) return std::signbit(v) ? "(0.0 * -1)" : "0.0";
  int exponent = 0;
  double fraction = std::frexp(v, &exponent);  // v = fraction * 2^exponent, 0.5 <= |fraction| < 1
  auto mantissa = static_cast<int64_t>(std::ldexp(fraction, 53));
  exponent -= 53;
  std::string out = fmt::format("CAST({} AS REAL)", mantissa);
  while (exponent > 0) {
    int k = std::min(exponent, 62);
    out = fmt::format("({} * {})", out, int64_t{1} << k);
    exponent -= k;
  }
  while (exponent < 0) {
    int k = std::min(-exponent, 62);
    out = fmt::format("({} / {})", out, int64_t{1} << k);
    exponent += k;
  }
  return out;
}

}  // namespace

Result<std::string> exact_placeholder(const Value& value, std::vector<Value>& args) {
  if (value.type() == ValueType::real) {
    double r = value.as_real();
    if (std::isinf(r)) return std::string(r > 0 ? "9e999" : "-9e999");
    if (std::isnan(r)) return std::string("NULL");  // SQLite stores NaN as NULL
    return exact_real_expression(r);
  }
  if (value.type() == ValueType::text && !TS_TRY(is_valid_utf8_text(value)))
    return Error(ErrorKind::usage,
                 fmt::format("TEXT value {} is not valid UTF-8 and cannot be stored unchanged on "
                             "the remote; store such bytes as a BLOB",
                             describe(value)));
  args.push_back(value);
  return std::string("?");
}

}  // namespace turso_sync
