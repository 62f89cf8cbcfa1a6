// Talking to a Turso / libSQL remote over HTTP (docs/protocol.md): URL resolution, an injectable HTTP
// transport, and a Hrana /v2/pipeline client with exact values. Thread-compatible: one RemoteClient per
// thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "turso_sync/config.h"
#include "turso_sync/status.h"
#include "turso_sync/value.h"

namespace turso_sync {

// A database URL resolved to the HTTP base URL the client talks to.
struct RemoteEndpoint {
  std::string original;  // as configured
  std::string base_url;  // "https://host[:port][/path]" without trailing slash
  std::string host;
  bool tls = true;
  bool loopback = false;  // localhost, 127.0.0.0/8, ::1
};

// libsql://host -> https://host; libsql://host:port?tls=0 -> http://host:port; https:// and http:// as given;
// wss:// and ws:// -> https:// and http://. Trailing slashes are dropped. ErrorKind::config on anything else
// (no scheme, no host, bad port, a token in the URL, tls=0 without a port).
Result<RemoteEndpoint> parse_database_url(const std::string& url);

// What a request is waiting for, reported about once a second while it waits (a progress line says it).
struct Waiting {
  enum class Stage {
    connecting,  // the TCP connection or the TLS handshake is not done yet
    answer,      // connected: the server has neither taken nor sent a byte for `waited_ms`
  };
  Stage stage = Stage::answer;
  std::string server;  // scheme://host[:port] of the request
  int64_t waited_ms = 0;
};
using WaitCallback = std::function<void(const Waiting&)>;

// A large value's bytes inserted at byte `at` of a request body (between the quotes of a JSON string), a
// BLOB base64-encoded, a TEXT (valid UTF-8) JSON-escaped: read from the value's store as the request is
// sent, never held whole in memory.
struct BodySplice {
  size_t at = 0;
  Value value;
  uint64_t escaped_size = 0;  // a TEXT's size once JSON-escaped (computed as it was checked)
};

// The HTTP layer behind an interface so tests can inject faults (STYLE §8).
class HttpTransport {
 public:
  struct Request {
    std::string url;
    std::string body;
    std::vector<BodySplice> splices;  // in order of `at`; the body sent is `body` with these inserted
    std::string content_type = "application/json";
    std::string bearer_token;  // sent as "Authorization: Bearer …" when not empty
    // Once connected, the longest the server may stay silent (no byte of the request taken, no byte of the
    // answer sent) before the request fails with ErrorKind::timeout: a big upload or download that keeps
    // moving is never cut, a server that never answers is given up after this long.
    int timeout_ms = 60000;
    // A limit on the whole request, connection included (0 = none): for quick checks.
    int total_timeout_ms = 0;
    // Called about once a second while the request waits for the connection or for the server, on the
    // thread that runs the request (nullptr: nobody is told).
    WaitCallback on_wait;
  };
  struct Response {
    long status = 0;
    std::string body;
    std::string content_type;
    int64_t retry_after_s = 0;  // the Retry-After header (429, 503), in seconds; 0 when absent
  };
  virtual ~HttpTransport() = default;
  // Errors: ErrorKind::unreachable (connect/DNS/TLS/connection lost), ErrorKind::config (TLS spoken to a
  // plain-http port: the URL must say http:// or ?tls=0), ErrorKind::timeout (no connection within the
  // connect timeout, the server silent for timeout_ms, the whole request past total_timeout_ms),
  // ErrorKind::server (bytes that are not an HTTP answer: "did not answer as a Turso server does", the
  // transport's own words in Error::detail). Any HTTP status is a successful Response; the caller interprets
  // it.
  virtual Result<Response> post(const Request& request) = 0;
  // Like post(), but the body of a 200 answer goes to `on_data` chunk by chunk as it arrives (memory stays
  // bounded whatever its size); the body of any other status is collected into Response::body as by post().
  // An error returned by `on_data` aborts the transfer and is returned. The default implementation calls
  // post() and hands the whole body to `on_data` at once (enough for test transports).
  using DataFn = std::function<Status(std::string_view chunk)>;
  virtual Result<Response> post_streaming(const Request& request, const DataFn& on_data);
  // A new transport of the same kind and settings, for a request sent while this one runs another (one
  // transport runs one request at a time); nullptr when there is none (the default, enough for test
  // transports): the caller then sends its requests one after the other.
  virtual std::unique_ptr<HttpTransport> another() const { return nullptr; }
  // Starts connecting to the server of `url` (its host and port) when this transport has no connection open,
  // and returns at once, so that the connection is being made while the caller prepares its request; the
  // next request to that server uses it (waiting for the connect to finish under the usual connect timeout).
  // Call it only right before a request will be sent: the local Turso server, once it accepts a connection,
  // waits for that connection's request and serves nobody else meanwhile. Never fails: a connect that did
  // not work is made again by the request, which reports what went wrong. The default does nothing (the
  // libcurl transport and test transports).
  virtual void preconnect(const std::string& url) { (void)url; }
};

// The body a request sends: `body` with its splices inserted (held whole: for test transports and small
// requests), and its size in bytes.
std::string whole_body(const HttpTransport::Request& request);
uint64_t body_size(const HttpTransport::Request& request);

struct TransportOptions {
  int connect_timeout_ms = 5000;  // TCP connection and TLS handshake
  std::string ca_cert;            // PEM bundle; empty = system store. Certificates are always verified.
  size_t max_response_bytes = 256 << 20;  // a larger answer is a protocol error, never an unbounded buffer
};

// libcurl transport: keep-alive, a connect timeout, a timeout on silence (Request::timeout_ms), TLS
// verification, HTTP/2 where offered. A TLS handshake the server does not answer is checked at once for a
// plain-http server on that port (one `GET /` over a connection of its own), so that the error names the
// mistake instead of waiting for the connect timeout.
// libcurl is loaded on the first request (dlopen of libcurl.so.4), not linked: a command that never speaks
// TLS never pays for loading it and the libraries it needs. When it cannot be loaded, every request fails
// with ErrorKind::config saying so.
std::unique_ptr<HttpTransport> make_curl_transport(const TransportOptions& options);

// Plain HTTP/1.1 over TCP, for http:// URLs only (no TLS, no proxy): keep-alive (a request whose kept
// connection turns out closed by the server before any byte of the answer is sent once more on a new one),
// the same timeouts, progress reports, cancellation, error kinds and messages as the libcurl transport, and
// preconnect().
std::unique_ptr<HttpTransport> make_plain_transport(const TransportOptions& options);

// The transport for `endpoint`: the plain one for http:// unless the environment names a proxy
// (http_proxy, HTTP_PROXY, all_proxy or ALL_PROXY not empty: libcurl honours it), libcurl for https://.
std::unique_ptr<HttpTransport> make_transport(const TransportOptions& options,
                                              const RemoteEndpoint& endpoint);

// A statement with positional arguments (?1, ?2 … or ?).
struct SqlStatement {
  std::string sql;
  std::vector<Value> args;
};

// One statement's answer.
struct StatementResult {
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> rows;
};

// A step condition of a Hrana batch (the step runs only when the condition holds).
struct BatchCondition {
  enum class Kind { ok, error, not_, and_, or_ };
  Kind kind = Kind::ok;
  int step = 0;                          // for ok/error: index of an earlier step
  std::vector<BatchCondition> children;  // for not (one), and, or
  static BatchCondition ok(int step) { return {Kind::ok, step, {}}; }
  static BatchCondition error(int step) { return {Kind::error, step, {}}; }
  static BatchCondition negate(BatchCondition c) { return {Kind::not_, 0, {std::move(c)}}; }
  static BatchCondition all(std::vector<BatchCondition> c) { return {Kind::and_, 0, std::move(c)}; }
  static BatchCondition any(std::vector<BatchCondition> c) { return {Kind::or_, 0, std::move(c)}; }
};

struct BatchStep {
  SqlStatement stmt;
  std::optional<BatchCondition> condition;
};

// Per step: a result (ran, succeeded), an error message (ran, failed), or neither (skipped by its condition).
struct BatchStepOutcome {
  std::optional<StatementResult> result;
  std::optional<std::string> error;
  bool skipped() const { return !result && !error; }
};

// Whether a request may be sent again after a failure whose outcome is unknown.
enum class Retry { safe, unsafe };

// How long a request waits for the server depends on what was asked (docs/protocol.md, "Timeouts"):
//   check  status's reachability round trip: the whole request, connection included, within
//          min(check_timeout_ms, request timeout)
//   read   a read (Retry::safe): the server silent at most min(read_timeout_ms, request timeout)
//   write  a request the server runs before it answers (Retry::unsafe: a push's batch, a staged part): the
//          server silent at most the request timeout (TURSO_SYNC_REQUEST_TIMEOUT_MS)
struct RemoteOptions {
  int max_retries = 3;                 // for Retry::safe requests, on unreachable/timeout/5xx
  int initial_backoff_ms = 200;        // doubles each retry, with jitter
  size_t max_request_bytes = 8 << 20;  // batches above this are the caller's to split
  int read_timeout_ms = 10000;         // TURSO_SYNC_READ_TIMEOUT_MS
  int check_timeout_ms = 4000;
};

// Traffic of a client since it was created (HTTP bodies; headers not counted).
struct TransferStats {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  int64_t requests = 0;
};

namespace hrana {
struct Encoded;
}

class RemoteClient {
 public:
  // Resolves the URL and refuses to send a token over plain http to a non-loopback host unless
  // config.allow_insecure_http. `transport` defaults to make_transport()'s; `options` to RemoteOptions with
  // config.retry_backoff_ms.
  static Result<std::unique_ptr<RemoteClient>> create(const Config& config,
                                                      std::unique_ptr<HttpTransport> transport = nullptr,
                                                      std::optional<RemoteOptions> options = std::nullopt);

  const RemoteEndpoint& endpoint() const { return m_endpoint; }
  const TransferStats& stats() const { return m_stats; }
  // Counts the traffic of another client (another()) as this one's: a request sent beside this client's
  // belongs to the same operation's report.
  void add_traffic(const TransferStats& other) {
    m_stats.bytes_sent += other.bytes_sent;
    m_stats.bytes_received += other.bytes_received;
    m_stats.requests += other.requests;
  }
  // A second client of the same remote and settings on a connection of its own (HttpTransport::another),
  // to run a request on another thread while this one runs one; nullptr when the transport has none. Its
  // statistics are its own; it has no wait callback.
  std::unique_ptr<RemoteClient> another() const;

  // Starts connecting to the remote (HttpTransport::preconnect): only right before a request is sent.
  void preconnect() { m_transport->preconnect(m_endpoint.base_url); }

  // Told what each request waits for, about once a second while it waits (a progress line), when the
  // request runs on the thread that called this; nullptr stops it.
  void set_wait_callback(WaitCallback callback);
  // True when the last request timed out and the server has never answered a request of this client: a
  // server that accepts connections and never answers. A timed-out request is then not asked again (each
  // retry would cost the whole wait once more), and the page path does not try a second page request.
  bool server_silent() const { return m_silent; }

  // Runs statements in one request, each in autocommit (the server runs every one of them; later statements
  // are not skipped when one fails). Returns all results, or the first failure (ErrorKind::sql with the
  // server's message and the statement).
  Result<std::vector<StatementResult>> execute(std::span<const SqlStatement> statements, Retry retry);
  Result<StatementResult> execute(const SqlStatement& statement, Retry retry);

  // Streams the rows of one query: `on_row` is called for each row in order, from a buffer of one response;
  // returning an error stops and returns it. Cheaper than execute() for large results (no row vectors kept).
  Status query_rows(const SqlStatement& statement, Retry retry,
                    const std::function<Status(std::span<const Value> row)>& on_row,
                    size_t* response_bytes = nullptr);

  // One Hrana batch (with step conditions) in one request.
  Result<std::vector<BatchStepOutcome>> batch(std::span<const BatchStep> steps, Retry retry);

  // Round trip of a trivial query, for status: one attempt, within the check timeout (RemoteOptions).
  Result<std::chrono::microseconds> ping();

  // Low-level: POSTs `body` to base_url + path with auth, retrying per `retry`; interprets HTTP status codes
  // (401/403 -> auth, 404 -> server "not a Turso endpoint", 5xx -> server).
  Result<HttpTransport::Response> post(const std::string& path, std::string body,
                                       const std::string& content_type, Retry retry);
  // Streaming POST, one attempt (data already handed to `on_data` cannot be taken back): the body of a 200
  // answer goes to `on_data` as it arrives. Returns the response for 200 and for 404 (the caller decides
  // what a missing endpoint means); other statuses are errors as for post().
  Result<HttpTransport::Response> post_streaming(const std::string& path, std::string body,
                                                 const std::string& content_type,
                                                 const HttpTransport::DataFn& on_data);
  // Bytes received by this client since it was created (all requests, bodies only), and requests sent.
  uint64_t bytes_received() const { return m_stats.bytes_received; }
  int64_t requests_sent() const { return m_stats.requests; }

  RemoteClient(RemoteEndpoint endpoint, std::string token, std::unique_ptr<HttpTransport> transport,
               RemoteOptions options, int request_timeout_ms);

 private:
  enum class Asked { check, read, write };  // what a request asks of the server: how long it may wait
  HttpTransport::Request request_for(const std::string& path, std::string body,
                                     const std::string& content_type, Asked asked);
  Result<HttpTransport::Response> send(HttpTransport::Request request, Retry retry);
  // POSTs a pipeline request to /v2/pipeline (its large values spliced in as it is sent), as post().
  Result<HttpTransport::Response> post_pipeline(hrana::Encoded body, Retry retry);
  // Notes that the server answered (any HTTP status), or that a request timed out before it ever did.
  void note_outcome(bool answered, const Error* error);

  RemoteEndpoint m_endpoint;
  std::string m_token;
  std::unique_ptr<HttpTransport> m_transport;
  RemoteOptions m_options;
  int m_request_timeout_ms;
  TransferStats m_stats;
  bool m_answered = false;
  bool m_silent = false;
  WaitCallback m_on_wait;
  std::thread::id m_on_wait_thread;
};

// SQL fragment and argument that carry `value` exactly through Hrana: "?" with the value appended to `args`,
// except REALs, which travel as an exact SQL expression with no argument: the Turso server does not parse
// JSON floats (nor decimal literals) exactly, and JSON cannot carry infinities ("9e999"/"-9e999"). TEXT that
// is not valid UTF-8 is refused (ErrorKind::usage): JSON cannot carry it, and the Turso server converts such
// bytes to U+FFFD even when they arrive as a BLOB cast to TEXT, so no encoding would store it unchanged.
Result<std::string> exact_placeholder(const Value& value, std::vector<Value>& args);

}  // namespace turso_sync
